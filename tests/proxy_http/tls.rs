//! TLS on both sides, with the test's own CA. An `https://` upstream: warden reaches the SDK
//! fixture server (served by uvicorn over TLS) trusting the CA through `SSL_CERT_FILE`, for
//! `warden proxy --upstream` and `warden catalog --url`; trusting another CA, it fails closed
//! (the call is answered with a JSON-RPC error naming the certificate, the catalog with exit
//! 2). An HTTPS listener (`--tls-cert`, `--tls-key`): the SDK's client through it, and
//! plaintext on its port answered with nothing.

use crate::certs::{certificates, client_certificate, server_certificate};
use crate::e2e::{python, repo, script_with_env, warden};
use crate::ports::sockets;
use crate::support::{Proc, Reply, Warden, call_modern, eventually, https_fixture, upstream};
use serde_json::json;
use std::io::{Read, Write};
use std::process::Command;

#[test]
fn an_https_upstream_is_reached_over_tls_with_its_certificate_checked() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    let (_server, url) = https_fixture(dir.path(), false);
    let policy = repo("tests/proxy_http/http.warden");
    let ca = dir.path().join("ca.crt");
    let proxy = Warden::with_env(&policy, &["--upstream", &url], &[("SSL_CERT_FILE", &ca)]);
    // Three calls: the first opens the TLS connection, the others reuse it.
    for id in 1..=3 {
        let message = format!("over tls {id}");
        let r = echo(&proxy.url, id, &message);
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(
            r.json()["result"]["content"][0]["text"],
            format!("Echo: {message}")
        );
    }
    // One connection served them all: no other is open or was closed toward the server.
    let port: u16 = url
        .rsplit(':')
        .next()
        .and_then(|p| p.split('/').next()?.parse().ok())
        .unwrap();
    let toward: Vec<u8> = sockets()
        .into_iter()
        .filter(|s| s.remote_port == port)
        .map(|s| s.state)
        .collect();
    assert_eq!(
        toward,
        [0x01],
        "warden's sockets toward the server (0x01 established)"
    );
    // A denied call is answered by warden and never reaches the server (`die` would end it).
    let denied = call_modern(&proxy.url, None, 4, "die", &json!({"code": 3}), &json!({}));
    let decision = &denied.json()["result"]["_meta"]["warden/decision"];
    assert_eq!(decision["code"], "policy_denied", "{denied:?}");
    let after = echo(&proxy.url, 5, "alive");
    assert_eq!(
        after.json()["result"]["content"][0]["text"],
        "Echo: alive",
        "{after:?}"
    );

    // The server's own certificate is no CA: the handshake fails and the call with it.
    let not_a_ca = dir.path().join("srv.crt");
    let untrusting = Warden::with_env(
        &policy,
        &["--upstream", &url],
        &[("SSL_CERT_FILE", &not_a_ca)],
    );
    let r = echo(&untrusting.url, 1, "x");
    assert_eq!(r.status, 502, "{r:?}");
    let why = r.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(why.contains("TLS") && why.contains("certificate"), "{why}");
    assert!(r.json().get("result").is_none(), "{r:?}");

    // `warden catalog --url https://…` lists the fixture's tools the same way.
    let catalog = |ca: &std::path::Path| {
        Command::new(warden())
            .args(["catalog", "--url", &url])
            .env("SSL_CERT_FILE", ca)
            .output()
            .unwrap()
    };
    let listed = catalog(&ca);
    assert!(listed.status.success(), "{listed:?}");
    assert!(
        String::from_utf8_lossy(&listed.stdout).contains("\"echo\""),
        "{listed:?}"
    );
    let refused = catalog(&not_a_ca);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("certificate"),
        "{refused:?}"
    );
}

#[test]
fn an_upstream_that_asks_for_a_client_certificate_gets_the_one_configured() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    client_certificate(dir.path());
    let (_server, url) = https_fixture(dir.path(), true);
    let file = |name: &str| dir.path().join(name).display().to_string();
    let policy = repo("tests/proxy_http/http.warden");
    let ca = dir.path().join("ca.crt");
    let env = [("SSL_CERT_FILE", ca.as_path())];
    let (cert, key) = (file("cli.crt"), file("cli.key"));
    let flags = [
        "--upstream",
        &url,
        "--upstream-cert",
        &cert,
        "--upstream-key",
        &key,
    ];
    let with = Warden::with_env(&policy, &flags, &env);
    let r = echo(&with.url, 1, "mutual");
    assert_eq!(
        r.json()["result"]["content"][0]["text"],
        "Echo: mutual",
        "{r:?}"
    );
    // Without it the server ends the handshake: the call fails closed.
    let without = Warden::with_env(&policy, &["--upstream", &url], &env);
    let r = echo(&without.url, 1, "x");
    assert_eq!(r.status, 502, "{r:?}");
    assert!(r.json().get("result").is_none(), "{r:?}");
}

#[test]
fn an_https_listener_serves_clients_that_trust_it_and_drops_plaintext() {
    let (dir, _server, warden, address) = https_warden("everything", &[]);
    assert!(
        warden.url.starts_with("https://127.0.0.1:"),
        "{}",
        warden.url
    );
    let steps = json!([["call", "echo", {"message": "over https"}]]).to_string();
    let ca = dir.path().join("ca.crt");
    let out = script_with_env(
        "http_client",
        &[&warden.url, "legacy", "-", &steps],
        &[("SSL_CERT_FILE", &ca)],
    );
    assert_eq!(out["results"][0]["text"], "Echo: over https", "{out}");

    // Plain HTTP on the TLS port: the handshake fails, no HTTP answer comes back.
    let mut plain = std::net::TcpStream::connect(&address).unwrap();
    plain
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    plain
        .write_all(b"POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        .unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(
        !answer.starts_with(b"HTTP/"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    warden.await_metric(r#"warden_http_errors_total{kind="tls_handshake"}"#, 1.0);
}

#[test]
fn a_renewed_listener_certificate_is_served_without_a_restart() {
    let (dir, _server, warden, address) = https_warden("fixture", &["--reload-interval-ms", "50"]);
    let file = |name: &str| dir.path().join(name).display().to_string();
    let (cert, key) = (file("srv.crt"), file("srv.key"));
    let first = served_serial(&address, &file("ca.crt"));
    server_certificate(dir.path());
    let renewed = std::fs::read_to_string(&cert).unwrap();
    eventually(
        || served_serial(&address, &file("ca.crt")) != first,
        || format!("still serving serial {first}: {}", warden.stderr()),
    );
    assert!(
        warden.stderr().contains("reloaded the certificate"),
        "{}",
        warden.stderr()
    );
    // A key that does not match the certificate is refused; the renewed pair stays served.
    let serial = served_serial(&address, &file("ca.crt"));
    let refusals = || warden.stderr().matches("keeping the previous one").count();
    let before = refusals();
    std::fs::copy(file("ca.key"), &key).unwrap();
    eventually(|| refusals() > before, || warden.stderr());
    assert_eq!(served_serial(&address, &file("ca.crt")), serial);
    assert_eq!(std::fs::read_to_string(&cert).unwrap(), renewed);
}

/// warden serving HTTPS, with a certificate of a new test CA, in front of `server` (with `more`
/// flags): the certificates' directory, the server, warden, and warden's `host:port`.
fn https_warden(server: &str, more: &[&str]) -> (tempfile::TempDir, Proc, Warden, String) {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    let file = |name: &str| dir.path().join(name).display().to_string();
    let (proc, url) = upstream(server);
    let (cert, key) = (file("srv.crt"), file("srv.key"));
    let flags = ["--upstream", &url, "--tls-cert", &cert, "--tls-key", &key];
    let warden = Warden::start(&[&flags[..], more].concat());
    let address = warden.url.trim_start_matches("https://");
    let address = address.split('/').next().unwrap().to_string();
    (dir, proc, warden, address)
}

/// The serial number of the certificate served at `address`, verified against `ca` by
/// Python's ssl module (for `localhost`).
fn served_serial(address: &str, ca: &str) -> String {
    let (host, port) = address.rsplit_once(':').unwrap();
    let code = format!(
        "import socket, ssl\n\
         ctx = ssl.create_default_context(cafile={ca:?})\n\
         with socket.create_connection(({host:?}, {port})) as raw:\n\
         \x20   with ctx.wrap_socket(raw, server_hostname='localhost') as tls:\n\
         \x20       print(tls.getpeercert()['serialNumber'])\n"
    );
    let out = Command::new(python()).args(["-c", &code]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A 2026-07-28 `echo` call through warden at `url`.
fn echo(url: &str, id: u64, message: &str) -> Reply {
    call_modern(
        url,
        None,
        id,
        "echo",
        &json!({ "message": message }),
        &json!({}),
    )
}
