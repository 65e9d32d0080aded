//! The real binary: help on every command, exit codes, output formats; `compile --json` and
//! `import` as a user runs them (files, stdout, exit codes).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails loudly on a bad fixture"
)]

use assert_cmd::Command;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn warden() -> Command {
    let mut c = Command::cargo_bin("warden").unwrap();
    c.env("NO_COLOR", "1");
    c
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

const GOOD: &str = "policy p {\n  default deny\n\n  allow list_flows\n  no-prod: deny execute_flow when args.ns == \"prod\" because \"prod is off-limits\"\n  allow execute_flow limit 10 per minute per grant\n\n  test \"t\" {\n    call list_flows => allow\n    call execute_flow {\"ns\": \"prod\"} => deny by no-prod\n  }\n}\n";

#[test]
fn every_command_has_help_with_an_example() {
    for cmd in [
        "check", "fmt", "eval", "test", "compile", "import", "proxy", "limits", "catalog", "init",
    ] {
        let out = warden().args([cmd, "--help"]).output().unwrap();
        assert!(out.status.success(), "{cmd} --help failed");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.contains("Examples:"),
            "{cmd} --help has no example:\n{text}"
        );
        assert!(
            text.contains("warden "),
            "{cmd} --help example does not show the command"
        );
    }
    let out = warden().arg("--help").output().unwrap();
    assert!(String::from_utf8(out.stdout).unwrap().contains("check"));
}

#[test]
fn check_exit_codes_follow_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.warden", GOOD);
    let bad = write(
        dir.path(),
        "bad.warden",
        "policy p {\n  allow x when grnt == \"a\"\n}\n",
    );
    let warn = write(
        dir.path(),
        "warn.warden",
        "policy p {\n  allow x because \"why\"\n}\n",
    );
    warden().arg("check").arg(&good).assert().code(0);
    warden().arg("check").arg(&bad).assert().code(1);
    warden().arg("check").arg(&warn).assert().code(0);
    warden()
        .arg("check")
        .arg("--deny-warnings")
        .arg(&warn)
        .assert()
        .code(1);
    warden()
        .arg("check")
        .arg(dir.path().join("missing.warden"))
        .assert()
        .code(2);
    warden().args(["check", "--no-such-flag"]).assert().code(2);
}

#[test]
fn check_reports_every_error_of_every_file_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "a.warden",
        "policy a {\n  allow x when grnt == \"a\"\n  deny y limit 5 per minute per grant\n}\n",
    );
    write(
        dir.path(),
        "b.warden",
        "policy b {\n  allow x when args.n < \"5\"\n}\n",
    );
    let out = warden().arg("check").arg(dir.path()).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    for code in ["WD1001", "WD2010", "WD2001"] {
        assert!(text.contains(code), "missing {code} in:\n{text}");
    }
    assert!(text.contains("3 errors"), "{text}");
    assert!(!text.contains("\u{1b}["), "colour with NO_COLOR set");
}

#[test]
fn check_json_has_one_object_per_diagnostic_with_positions() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        dir.path(),
        "bad.warden",
        "policy p {\n  allow x when grnt == \"a\" or args.n < \"5\"\n}\n",
    );
    let out = warden()
        .args(["check", "--format", "json"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    let first = &lines[0];
    for key in [
        "code",
        "severity",
        "message",
        "file",
        "line",
        "column",
        "end_line",
        "end_column",
        "help",
    ] {
        assert!(first.get(key).is_some(), "missing {key}: {first}");
    }
    assert_eq!(first["code"], "WD1001");
    assert_eq!(first["line"], 2);
    assert_eq!(first["column"], 16);
}

#[test]
fn check_sarif_is_a_sarif_log() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        dir.path(),
        "bad.warden",
        "policy p {\n  allow x when grnt == \"a\"\n}\n",
    );
    let out = warden()
        .args(["check", "--format", "sarif"])
        .arg(&bad)
        .output()
        .unwrap();
    let log: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(log["version"], "2.1.0");
    assert_eq!(log["runs"][0]["results"][0]["ruleId"], "WD1001");
}

#[test]
fn fmt_check_and_rewrite() {
    let dir = tempfile::tempdir().unwrap();
    let messy = write(
        dir.path(),
        "m.warden",
        "policy p {\nallow   a,b // reads\n}\n",
    );
    warden()
        .args(["fmt", "--check"])
        .arg(&messy)
        .assert()
        .code(1);
    warden().arg("fmt").arg(&messy).assert().code(0);
    assert_eq!(
        std::fs::read_to_string(&messy).unwrap(),
        "policy p {\n  allow a, b  // reads\n}\n"
    );
    warden()
        .args(["fmt", "--check"])
        .arg(&messy)
        .assert()
        .code(0);
    let broken = write(dir.path(), "b.warden", "policy p {\n");
    warden()
        .args(["fmt", "--check"])
        .arg(&broken)
        .assert()
        .code(1);
}

#[test]
fn eval_prints_the_decision_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "p.warden", GOOD);
    let out = warden()
        .arg("eval")
        .arg(&p)
        .args([
            "--call",
            r#"{"name":"execute_flow","arguments":{"ns":"prod"}}"#,
            "--grant",
            "ci",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(d["decision"], "deny");
    assert_eq!(d["rule"], "no-prod");
    assert_eq!(d["reason"], "prod is off-limits");
    let out = warden()
        .arg("eval")
        .arg(&p)
        .args([
            "--call",
            r#"{"name":"execute_flow","arguments":{"ns":"dev"}}"#,
        ])
        .output()
        .unwrap();
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(d["decision"], "allow");
    assert_eq!(d["limits"][0]["counter"], "execute_flow_rate");
    assert_eq!(d["limits"][0]["max"], 10);
    warden()
        .arg("eval")
        .arg(&p)
        .args(["--call", "{not json"])
        .assert()
        .code(2);
    warden()
        .arg("eval")
        .arg(&p)
        .args(["--call", r#"{"name":"x","argument":{}}"#])
        .assert()
        .code(2);
}

#[test]
fn test_reports_passes_and_failures() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "p.warden", GOOD);
    let out = warden().arg("test").arg(&p).output().unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("2 passed, 0 failed")
    );
    let failing = GOOD.replace("=> deny by no-prod", "=> allow");
    let p = write(dir.path(), "f.warden", &failing);
    let out = warden().arg("test").arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("FAIL"), "{text}");
    assert!(
        text.contains("got:      deny by no-prod (prod is off-limits)"),
        "{text}"
    );
    assert!(text.contains("1 passed, 1 failed"), "{text}");
}

#[test]
fn diff_gates_new_access_and_reports_json() {
    let dir = tempfile::tempdir().unwrap();
    let old = write(
        dir.path(),
        "old.warden",
        "policy p {\n  allow list_flows\n  deny execute_flow\n}\n",
    );
    let tighter = write(
        dir.path(),
        "tighter.warden",
        "policy p {\n  deny execute_flow\n}\n",
    );
    let looser = write(
        dir.path(),
        "looser.warden",
        "policy p {\n  allow list_flows\n  allow execute_flow when args.ns == \"dev\"\n}\n",
    );
    // Less access passes the gate, more access fails it; without the gate both exit 0.
    warden()
        .arg("diff")
        .arg(&old)
        .arg(&tighter)
        .args(["--fail-on", "new-access"])
        .assert()
        .code(0);
    warden()
        .arg("diff")
        .arg(&old)
        .arg(&looser)
        .args(["--fail-on", "new-access"])
        .assert()
        .code(1);
    warden().arg("diff").arg(&old).arg(&looser).assert().code(0);
    warden()
        .arg("diff")
        .arg(&old)
        .arg(&old)
        .args(["--fail-on", "new-access"])
        .assert()
        .code(0);
    let out = warden()
        .arg("diff")
        .arg(&old)
        .arg(&looser)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = report.to_string();
    assert!(text.contains("execute_flow"), "{text}");
    assert!(text.contains("more"), "{text}");
    warden()
        .arg("diff")
        .arg(&old)
        .arg(dir.path().join("missing.warden"))
        .assert()
        .code(2);
}

#[test]
fn check_fails_on_inconclusive_only_when_asked() {
    // examples/shell.warden has a finding whose regex the verifier cannot build a call for: it
    // is reported inconclusive (WD3008), never as a pass.
    let shell = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shell.warden");
    let out = warden().arg("check").arg(&shell).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("WD3008"), "{text}");
    assert_eq!(out.status.code(), Some(0));
    warden()
        .arg("check")
        .arg("--fail-on-inconclusive")
        .arg(&shell)
        .assert()
        .code(1);
}

#[test]
fn cli_compile_and_import() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("kestra.warden");
    std::fs::write(
        &policy,
        "policy kestra { default deny  allow execute_flow limit 10 per minute per grant }",
    )
    .unwrap();
    let out = dir.path().join("out.json");
    warden()
        .arg("compile")
        .arg(&policy)
        .arg("--json")
        .arg(&out)
        .assert()
        .code(0);
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(
        written["tools"]["execute_flow"]["limits"][0]["counter"],
        "execute_flow_rate"
    );
    // Stdout, and back.
    let printed = warden()
        .arg("compile")
        .arg(&policy)
        .args(["--json", "-"])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    assert_eq!(serde_json::from_slice::<Value>(&printed).unwrap(), written);
    let back = dir.path().join("back.warden");
    warden()
        .arg("import")
        .arg(&out)
        .arg("-o")
        .arg(&back)
        .assert()
        .code(0);
    let source = std::fs::read_to_string(&back).unwrap();
    assert!(source.starts_with("policy out {"), "{source}");
    warden()
        .args(["fmt", "--check"])
        .arg(&back)
        .assert()
        .code(0);
    warden()
        .arg("import")
        .arg(&out)
        .args(["--name", "kestra"])
        .assert()
        .code(0)
        .stdout(predicates::str::contains(
            "allow execute_flow limit 10 per minute per grant",
        ));
}

#[test]
fn cli_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let glob = dir.path().join("glob.warden");
    std::fs::write(&glob, "policy p { default deny  allow list_* }").unwrap();
    let out = dir.path().join("out.json");
    warden()
        .arg("compile")
        .arg(&glob)
        .arg("--json")
        .arg(&out)
        .arg("--color=never")
        .assert()
        .code(1)
        .stderr(predicates::str::contains("WD4001"));
    assert!(!out.exists(), "nothing is written on errors");
    let catalog = root().join("tests/policy_json/catalogs/kestra-tools.json");
    warden()
        .arg("compile")
        .arg(&glob)
        .arg("--json")
        .arg(&out)
        .arg("--catalog")
        .arg(&catalog)
        .assert()
        .code(0);
    warden()
        .arg("compile")
        .arg(&glob)
        .arg("--json")
        .arg(&out)
        .arg("--catalog")
        .arg(dir.path().join("none.json"))
        .assert()
        .code(2);
    warden()
        .arg("compile")
        .arg(dir.path().join("missing.warden"))
        .arg("--json")
        .arg(&out)
        .assert()
        .code(2);
    warden().arg("compile").arg(&glob).assert().code(2); // no output requested
    let broken = dir.path().join("broken.warden");
    std::fs::write(&broken, "policy p { allow }").unwrap();
    warden()
        .arg("compile")
        .arg(&broken)
        .arg("--json")
        .arg(&out)
        .assert()
        .code(1);
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"version":"1","default":"deny","tools":{"x":{"deny_if":[{"conditions":[],"foo":1}]}}}"#,
    )
    .unwrap();
    warden()
        .arg("import")
        .arg(&bad)
        .assert()
        .code(1)
        .stderr(predicates::str::contains("/tools/x/deny_if/0/foo"));
    warden()
        .arg("import")
        .arg(dir.path().join("missing.json"))
        .assert()
        .code(2);
}

#[test]
fn cli_help() {
    for cmd in ["compile", "import"] {
        warden()
            .args([cmd, "--help"])
            .assert()
            .code(0)
            .stdout(predicates::str::contains("Exit status"));
    }
    warden()
        .arg("--help")
        .assert()
        .code(0)
        .stdout(predicates::str::contains("compile"));
}

#[test]
fn cli_imports_intercept_yaml_by_extension_or_flag() {
    let yaml = root().join("tests/intercept/github.yaml");
    let out = warden().arg("import").arg(&yaml).assert().success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(
        text.starts_with("// GitHub MCP server policies\npolicy github {"),
        "{text}"
    );
    // Each limit message Intercept would show is reported as left out.
    let stderr = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert_eq!(stderr.matches("warning:").count(), 2, "{stderr}");
    // From stdin the format is named; a YAML error names the problem and exits 1.
    warden()
        .args(["import", "-", "--from", "intercept", "--name", "gh"])
        .write_stdin(std::fs::read_to_string(&yaml).unwrap())
        .assert()
        .success()
        .stdout(predicates::str::contains("policy gh {"));
    warden()
        .args(["import", "-", "--from", "intercept"])
        .write_stdin("version: \"1\"\ntools: {c: {rules: [{name: r, rate_limit: 5/week}]}}\n")
        .assert()
        .code(1)
        .stderr(predicates::str::contains("/tools/c/rules/0/rate_limit"));
}
