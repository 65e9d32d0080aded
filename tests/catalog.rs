//! `warden catalog`, `warden init` and tool pinning, against real MCP servers (never mocks):
//! `@modelcontextprotocol/server-everything` (stdio and Streamable HTTP),
//! `@modelcontextprotocol/server-filesystem` on a temporary directory, `mcp-server-time`, the
//! Kestra server, and tests/catalog/pinned_server.py (an SDK server of our own whose `changed`
//! variant alters a tool, and which pages its `tools/list`). Plus snapshots of the risk
//! classifier over the catalogs in tests/catalogs/ and over tricky names.
//!
//! The peers are installed by `scripts/install-deps.sh` (see tests/proxy_e2e.rs).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails loudly on a bad fixture"
)]

#[path = "proxy_e2e/support.rs"]
#[allow(
    dead_code,
    reason = "shared with tests/proxy_e2e.rs, which uses all of it"
)]
mod support;

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use support::{peers, python, repo, warden};
use warden::catalog::Catalog;
use warden::risk::{ToolFacts, classify};

const CATALOGS: [&str; 6] = [
    "everything",
    "filesystem",
    "github",
    "kestra",
    "shell",
    "stripe",
];

fn run(args: &[&str]) -> Output {
    Command::new(warden())
        .args(args)
        .current_dir(repo(""))
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `name: class (why)`, one line per tool of a catalog, sorted by name.
fn classes(catalog: &Catalog) -> String {
    let mut tools: Vec<_> = catalog.tools.iter().collect();
    tools.sort_by(|a, b| a.name.cmp(&b.name));
    tools
        .iter()
        .map(|t| {
            let c = t.classify();
            format!("{:<34} {:<12} {}\n", t.name, c.risk.name(), c.why)
        })
        .collect()
}

fn read_catalog(path: &Path) -> Catalog {
    Catalog::parse(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `warden init --catalog`, then `warden check --catalog` on the result: no findings at all.
fn init_checks_clean(catalog: &Path, policy: &Path) -> String {
    let (c, p) = (catalog.to_str().unwrap(), policy.to_str().unwrap());
    let init = run(&["init", "--catalog", c, "-o", p]);
    assert!(init.status.success(), "{}", text(&init));
    let check = run(&["check", "--catalog", c, "--color", "never", p]);
    let out = text(&check);
    assert!(check.status.success(), "{out}");
    assert!(
        String::from_utf8_lossy(&check.stdout).starts_with("no problems in 1 file"),
        "{out}"
    );
    for finding in ["error[", "warning[", "info[", "note["] {
        assert!(!out.contains(finding), "{out}");
    }
    std::fs::read_to_string(policy).unwrap()
}

/// Takes a live server's catalog with `warden catalog -o`.
fn take(server: &[String], out: &Path) -> Catalog {
    let mut args = vec![
        "catalog",
        "--timeout",
        "60",
        "-o",
        out.to_str().unwrap(),
        "--",
    ];
    args.extend(server.iter().map(String::as_str));
    let o = run(&args);
    assert!(o.status.success(), "{}", text(&o));
    read_catalog(out)
}

fn pinned_server(variant: &str) -> Vec<String> {
    vec![
        python(),
        repo("tests/catalog/pinned_server.py"),
        variant.to_string(),
    ]
}

/// Runs tests/catalog/through_warden.py with a config; returns its report.
fn through_warden(config: &Value) -> Value {
    support::script("../catalog/through_warden", &[&config.to_string()])
}

fn code(outcome: &Value) -> &Value {
    &outcome["meta"]["warden/decision"]["code"]
}

#[test]
fn classifier_over_the_catalogs() {
    for name in CATALOGS {
        let catalog = read_catalog(Path::new(&repo(&format!("tests/catalogs/{name}.json"))));
        insta::assert_snapshot!(format!("classes_{name}"), classes(&catalog));
    }
}

#[test]
fn classifier_over_tricky_names() {
    let names = [
        "get_or_create_user",
        "drop_table",
        "refund_payment",
        "run_query",
        "list_refunds",
        "create_refund",
        "get_balance",
        "update_subscription",
        "cancel_order",
        "search_orders",
        "delete_branch",
        "reset_password",
        "rerun_workflow",
        "execute_sql",
        "query_database",
        "sql",
        "send_email",
        "get_build_logs",
        "build_project",
        "start_vm",
        "read_file",
        "write_file",
        "move_file",
        "revoke_token",
        "kill_execution",
        "shell_execute",
        "evaluate_expression",
        "check_status",
        "createCheckoutSession",
        "listPaymentIntents",
        "archive_repo",
        "merge_pull_request",
        "transfer_funds",
        "getUserProfile",
        "git_push",
        "frobnicate",
    ];
    let table: String = names
        .iter()
        .map(|n| {
            let c = classify(&ToolFacts::named(n));
            format!("{n:<24} {:<12} {}\n", c.risk.name(), c.why)
        })
        .collect();
    insta::assert_snapshot!(table);
}

#[test]
fn init_policies_for_the_catalogs_check_clean() {
    let dir = tempfile::tempdir().unwrap();
    for name in CATALOGS {
        let catalog = repo(&format!("tests/catalogs/{name}.json"));
        let policy = dir.path().join(format!("{name}.warden"));
        let source = init_checks_clean(Path::new(&catalog), &policy);
        insta::assert_snapshot!(format!("init_{name}"), source);
        // The formatter leaves it as it is.
        let fmt = run(&["fmt", "--check", policy.to_str().unwrap()]);
        assert!(fmt.status.success(), "{}", text(&fmt));
    }
}

#[test]
fn real_servers_are_catalogued_initialised_checked_and_enforced() {
    let peers = peers();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("notes.txt"), "hello").unwrap();
    let root = root.canonicalize().unwrap().display().to_string();
    let bin = |b: &str| peers.join(b).display().to_string();
    let servers: [(&str, Vec<String>, Value, Value); 3] = [
        (
            "everything",
            vec![
                bin("npm/node_modules/.bin/mcp-server-everything"),
                "stdio".into(),
            ],
            json!(["echo", {"message": "pinned"}]),
            json!(["trigger-long-running-operation", {"duration": 0, "steps": 1}]),
        ),
        (
            "filesystem",
            vec![
                bin("npm/node_modules/.bin/mcp-server-filesystem"),
                root.clone(),
            ],
            json!(["read_text_file", {"path": format!("{root}/notes.txt")}]),
            json!(["write_file", {"path": format!("{root}/x.txt"), "content": "x"}]),
        ),
        (
            "time",
            vec![bin("time-venv/bin/mcp-server-time")],
            json!(["get_current_time", {"timezone": "UTC"}]),
            json!(["get_current_time", {"timezone": "Europe/Paris"}]),
        ),
    ];
    for (name, server, read_call, other_call) in servers {
        let catalog_path = dir.path().join(format!("{name}.json"));
        let catalog = take(&server, &catalog_path);
        insta::assert_snapshot!(format!("live_classes_{name}"), classes(&catalog));
        // Taking it again gives the same bytes, and --check finds no drift.
        let again = dir.path().join(format!("{name}-again.json"));
        take(&server, &again);
        assert_eq!(
            std::fs::read(&catalog_path).unwrap(),
            std::fs::read(&again).unwrap(),
            "{name}: the catalog is stable"
        );
        let mut check = vec!["catalog", "--check", catalog_path.to_str().unwrap(), "--"];
        check.extend(server.iter().map(String::as_str));
        let o = run(&check);
        assert!(o.status.success(), "{}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stdout).starts_with("no drift"),
            "{}",
            text(&o)
        );
        // The bare tools/list snapshots in tests/catalogs/ pin the live servers too.
        if name != "time" {
            let snapshot = repo(&format!("tests/catalogs/{name}.json"));
            check[2] = &snapshot;
            let o = run(&check);
            assert!(o.status.success(), "{name}: {}", text(&o));
        }

        let policy = dir.path().join(format!("{name}.warden"));
        let from_file = init_checks_clean(&catalog_path, &policy);
        let mut live = vec!["init", "--timeout", "60", "--"];
        live.extend(server.iter().map(String::as_str));
        let o = run(&live);
        assert!(o.status.success(), "{}", text(&o));
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            from_file,
            "{name}: init from the server"
        );
        let report = through_warden(&json!({
            "mode": "auto",
            "policy": policy,
            "catalog": catalog_path,
            "audit": dir.path().join(format!("{name}.audit.jsonl")),
            "server": server,
            "before_list": null,
            "calls": [read_call, other_call],
        }));
        let listed: Vec<&str> = report["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        let mut all: Vec<&str> = catalog.tools.iter().map(|t| t.name.as_str()).collect();
        all.sort();
        assert_eq!(
            listed, all,
            "{name}: every tool has a rule, and none changed: {report}"
        );
        let calls = report["calls"].as_array().unwrap();
        assert_eq!(calls[0]["is_error"], false, "{name}: {report}");
        match name {
            // A destructive tool, behind `approve`; this client cannot be asked.
            "filesystem" => assert_eq!(code(&calls[1]), "approval_required", "{report}"),
            _ => assert_eq!(calls[1]["is_error"], false, "{name}: {report}"),
        }
    }
}

#[test]
fn a_changed_tool_is_caught_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let catalog_path = dir.path().join("pinned.json");
    let catalog = take(&pinned_server("reviewed"), &catalog_path);
    assert_eq!(catalog.tools.len(), 4, "every page of tools/list");
    let pinned_hash = catalog.tool("get_note").unwrap().hash.clone();
    insta::assert_snapshot!(
        "catalog_file_pinned",
        std::fs::read_to_string(&catalog_path).unwrap()
    );

    // The CI gate: drift is reported, in both forms, with exit 1.
    let c = catalog_path.to_str().unwrap();
    let mut args = vec!["catalog", "--check", c, "--"];
    let changed = pinned_server("changed");
    args.extend(changed.iter().map(String::as_str));
    let o = run(&args);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let human = String::from_utf8_lossy(&o.stdout).replace(c, "pinned.json");
    insta::assert_snapshot!("drift_pinned", human);
    assert!(human.contains("0 added, 0 removed, 1 changed"), "{human}");
    assert!(
        human.contains("changed  get_note  (description, inputSchema)"),
        "{human}"
    );
    assert!(human.contains(&pinned_hash), "{human}");
    let mut args = vec!["catalog", "--check", c, "--json", "--"];
    args.extend(changed.iter().map(String::as_str));
    let o = run(&args);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["drift"], true);
    assert_eq!(report["changed"][0]["old"], json!(pinned_hash));
    let live_hash = report["changed"][0]["new"].as_str().unwrap().to_string();

    let policy = dir.path().join("pinned.warden");
    init_checks_clean(&catalog_path, &policy);
    let calls = json!([
        ["get_note", {"id": "n1"}],
        ["save_note", {"id": "n1", "text": "hello"}],
        ["purge_notes", {}],
        ["run_report", {"query": "weekly"}],
    ]);
    for mode in ["auto", "legacy"] {
        // The reviewed server: every tool listed; calls decided by the policy.
        let audit = dir.path().join(format!("reviewed-{mode}.jsonl"));
        let r = through_warden(&json!({
            "mode": mode, "policy": policy, "catalog": catalog_path, "audit": audit,
            "server": pinned_server("reviewed"), "before_list": ["get_note", {"id": "n0"}],
            "calls": calls,
        }));
        assert_eq!(code(&r["before_list"]), "tool_unverified", "{r}");
        assert_eq!(
            r["tools"],
            json!(["get_note", "purge_notes", "run_report", "save_note"])
        );
        assert_eq!(r["calls"][0]["text"], "note n1", "{r}");
        assert_eq!(r["calls"][1]["text"], "saved n1", "{r}");
        assert_eq!(code(&r["calls"][2]), "approval_required", "{r}");
        assert_eq!(r["calls"][3]["text"], "report weekly", "{r}");

        // The changed server: get_note is hidden and refused; the rest is as before.
        let audit = dir.path().join(format!("changed-{mode}.jsonl"));
        let r = through_warden(&json!({
            "mode": mode, "policy": policy, "catalog": catalog_path, "audit": audit,
            "server": changed, "before_list": null, "calls": calls,
        }));
        assert_eq!(
            r["tools"],
            json!(["purge_notes", "run_report", "save_note"]),
            "{r}"
        );
        let refused = &r["calls"][0];
        assert_eq!(code(refused), "tool_changed", "{r}");
        assert_eq!(refused["is_error"], true);
        let why = refused["text"].as_str().unwrap();
        assert!(
            why.contains(&pinned_hash) && why.contains(&live_hash),
            "{why}"
        );
        assert_eq!(r["calls"][1]["text"], "saved n1", "{r}");
        assert_eq!(r["calls"][3]["text"], "report weekly", "{r}");
        let log = std::fs::read_to_string(&audit).unwrap();
        let events: Vec<Value> = log
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let change = events
            .iter()
            .find(|e| e["event"] == "tool_changed")
            .unwrap_or_else(|| panic!("no tool_changed event in {log}"));
        assert_eq!(change["tool"], "get_note");
        assert_eq!(change["pinned_hash"], json!(pinned_hash));
        assert_eq!(change["live_hash"], json!(live_hash));
        assert!(
            events
                .iter()
                .any(|e| e["code"] == "tool_changed" && e["decision"] == "deny"),
            "{log}"
        );
    }
}

/// A server on Streamable HTTP, killed when dropped (so a failing test leaves no process).
struct HttpServer {
    child: std::process::Child,
    url: String,
}

impl HttpServer {
    /// Starts `command` (built for a free port) and waits, within [`support::ANSWER`], for
    /// the line on its stderr that says it listens.
    fn start(command: impl FnOnce(u16) -> Command, ready: &'static str) -> HttpServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = command(port)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains(ready) {
                    let _ = tx.send(());
                }
            }
        });
        let server = HttpServer {
            child,
            url: format!("http://127.0.0.1:{port}/mcp"),
        };
        assert!(
            rx.recv_timeout(support::ANSWER).is_ok(),
            "the server did not say {ready:?} on stderr"
        );
        server
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn streamable_http_gives_the_same_catalog_as_stdio() {
    let dir = tempfile::tempdir().unwrap();
    // server-everything speaks the handshake era only: warden's `server/discover` is refused
    // (HTTP 400) and it falls back to `initialize` with a session.
    let everything = peers()
        .join("npm/node_modules/.bin/mcp-server-everything")
        .display()
        .to_string();
    let server = HttpServer::start(
        |port| {
            let mut c = Command::new(&everything);
            c.arg("streamableHttp").env("PORT", port.to_string());
            c
        },
        "listening on port",
    );
    let over_http = dir.path().join("http.json");
    let o = run(&[
        "catalog",
        "--timeout",
        "60",
        "--url",
        &server.url,
        "-o",
        over_http.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let pinned = dir.path().join("stdio.json");
    take(&[everything.clone(), "stdio".into()], &pinned);
    assert_eq!(
        std::fs::read_to_string(&pinned).unwrap(),
        std::fs::read_to_string(&over_http).unwrap(),
        "the catalog over HTTP differs from the one over stdio"
    );
    let drift = run(&[
        "catalog",
        "--check",
        pinned.to_str().unwrap(),
        "--url",
        &server.url,
    ]);
    assert!(drift.status.success(), "{}", text(&drift));
    let init_http = run(&["init", "--url", &server.url]);
    let init_file = run(&["init", "--catalog", pinned.to_str().unwrap()]);
    assert!(init_http.status.success(), "{}", text(&init_http));
    assert_eq!(init_http.stdout, init_file.stdout, "init --url");
    drop(server);

    // The SDK server speaks 2026-07-28: `server/discover`, then every page of `tools/list`
    // with the envelope, no session. The changed variant drifts from the reviewed catalog.
    let reviewed = dir.path().join("reviewed.json");
    take(&pinned_server("reviewed"), &reviewed);
    for (variant, drifts) in [("reviewed", false), ("changed", true)] {
        let server = HttpServer::start(
            |port| {
                let mut command = pinned_server(variant);
                let mut c = Command::new(command.remove(0));
                c.args(command).arg(port.to_string());
                c
            },
            "Uvicorn running on",
        );
        let o = run(&[
            "catalog",
            "--check",
            reviewed.to_str().unwrap(),
            "--url",
            &server.url,
        ]);
        assert_eq!(
            o.status.code(),
            Some(i32::from(drifts)),
            "{variant}: {}",
            text(&o)
        );
    }
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(&["catalog"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("give the server command"));
    let o = run(&["init", "--catalog", "/nonexistent/catalog.json"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = run(&["catalog", "--", "/nonexistent/server"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("cannot start"),
        "{}",
        text(&o)
    );
    let o = run(&["catalog", "--url", "ftp://example.com/mcp"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not an http:// or https:// URL"));
    // A hand-edited catalog is refused by every command that reads it.
    let catalog = dir.path().join("c.json");
    let list = json!({"tools": [{"name": "get_note", "description": "Gets a note"}]});
    let parsed = Catalog::parse(&list.to_string()).unwrap();
    std::fs::write(
        &catalog,
        warden::catalog::file::write(&parsed).replace("Gets", "Sends"),
    )
    .unwrap();
    let c = catalog.to_str().unwrap();
    for args in [
        vec!["init", "--catalog", c],
        vec!["check", "--catalog", c, "examples/everything.warden"],
        vec![
            "proxy",
            "--policy",
            "examples/everything.warden",
            "--catalog",
            c,
            "--",
            "true",
        ],
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("edited by hand"),
            "{}",
            text(&o)
        );
    }
}

/// Kestra's server (FastMCP, no annotations, dangerous operations selected by an `action`
/// enum): the live catalog matches tests/catalogs/kestra.json, and the policy `init` writes
/// approves `manage_flow {action: "delete"}` while allowing its other actions.
#[test]
fn kestra_actions_are_split_by_init() {
    let peers = peers();
    let src = peers.join("kestra-venv/lib/python3.11/site-packages/src");
    let server = vec![
        peers.join("kestra-venv/bin/python").display().to_string(),
        "-c".to_string(),
        format!(
            "import sys; sys.path.insert(0, {:?}); import server; server.main()",
            src.display().to_string()
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let catalog_path = dir.path().join("kestra.json");
    take(&server, &catalog_path);
    let mut check = vec!["catalog", "--check", "tests/catalogs/kestra.json", "--"];
    check.extend(server.iter().map(String::as_str));
    let o = run(&check);
    assert!(o.status.success(), "{}", text(&o));

    let policy = dir.path().join("kestra.warden");
    let source = init_checks_clean(&catalog_path, &policy);
    assert!(source.contains("approve manage_flow"), "{source}");
    let flow = |action: Option<&str>| {
        let mut args = json!({"namespace": "company.team", "flow_id": "hello"});
        if let Some(a) = action {
            args["action"] = json!(a);
        }
        json!(["manage_flow", args])
    };
    let r = through_warden(&json!({
        "mode": "auto", "policy": policy, "catalog": catalog_path,
        "audit": dir.path().join("audit.jsonl"), "server": server, "before_list": null,
        "calls": [flow(Some("delete")), flow(Some("get_yaml")), flow(None)],
    }));
    assert_eq!(r["tools"].as_array().unwrap().len(), 29, "{r}");
    assert_eq!(code(&r["calls"][0]), "approval_required", "{r}");
    // Forwarded: the server answers (with no Kestra behind it, an error of its own).
    assert!(
        r["calls"][1]["meta"].get("warden/decision").is_none(),
        "{r}"
    );
    assert_eq!(code(&r["calls"][2]), "policy_denied", "{r}");
}
