//! `rediss://`: warden talks to a TLS-only port of a real redis-server, trusting the test's own
//! CA through `SSL_CERT_FILE`, and refuses the server without it.

use crate::certs::certificates;
use crate::ports::free_port;
use crate::server::RedisServer;
use crate::support::warden;
use std::process::Command;

#[test]
fn rediss_verifies_the_server_against_the_ca_bundle() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    let tls_port = free_port();
    let file = |name: &str| dir.path().join(name).display().to_string();
    let redis = RedisServer::start_with(vec![
        "--tls-port".into(),
        tls_port.to_string(),
        "--tls-cert-file".into(),
        file("srv.crt"),
        "--tls-key-file".into(),
        file("srv.key"),
        "--tls-ca-cert-file".into(),
        file("ca.crt"),
        "--tls-auth-clients".into(),
        "no".into(),
    ]);
    // a cell written over the plain port, read back over TLS
    redis.cli(&["SET", "tls:echo_rate:hour:493188:ci", "3", "EX", "600"]);
    let url = format!("rediss://localhost:{tls_port}/0");
    let limits = |ca: &str| {
        Command::new(warden())
            .args([
                "limits",
                "--state",
                &url,
                "--state-prefix",
                "tls:",
                "--json",
            ])
            .env("SSL_CERT_FILE", ca)
            .output()
            .unwrap()
    };
    let out = limits(&file("ca.crt"));
    assert!(out.status.success(), "{out:?}");
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed["counters"][0]["counter"], "echo_rate", "{listed}");
    assert_eq!(listed["counters"][0]["count"], 3, "{listed}");
    // another CA (the server's own certificate is no CA): refused, exit 2
    let out = limits(&file("srv.crt"));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("certificate"), "{stderr}");
}

#[test]
fn bad_state_flags_are_usage_errors_that_never_show_the_password() {
    let run = |args: &[&str]| Command::new(warden()).args(args).output().unwrap();
    let out = run(&["limits"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs --state URL"));
    let out = run(&["limits", "--state", "http://user:hunter2@cache:6379"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("redis:// or rediss://"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
    let policy = crate::support::repo("tests/e2e/replicas.warden");
    let out = run(&[
        "proxy",
        "--policy",
        &policy,
        "--state",
        "redis://:hunter2@cache:port",
        "--",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the port must be a number"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
    let out = run(&[
        "proxy",
        "--policy",
        &policy,
        "--state-fail-mode",
        "maybe",
        "--",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}
