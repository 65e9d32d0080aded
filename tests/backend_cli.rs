//! `warden compile --json` and `warden import` as a user runs them: files, stdout, exit
//! codes, help.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails loudly on a bad fixture"
)]

use assert_cmd::Command;
use serde_json::Value;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn warden() -> Command {
    Command::cargo_bin("warden").unwrap()
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
