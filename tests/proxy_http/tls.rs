//! TLS on both sides, with the test's own CA. An `https://` upstream: warden reaches the SDK
//! fixture server (served by uvicorn over TLS) trusting the CA through `SSL_CERT_FILE`, for
//! `warden proxy --upstream` and `warden catalog --url`; trusting another CA, it fails closed
//! (the call is answered with a JSON-RPC error naming the certificate, the catalog with exit
//! 2). An HTTPS listener (`--tls-cert`, `--tls-key`): the SDK's client through it, and
//! plaintext on its port answered with nothing. Client certificates (`--client-ca`): a grant
//! given by the names in one, beside grants by token.

use crate::certs::{certificates, client_certificate, client_certificate_for, server_certificate};
use crate::e2e::{python, repo, script_with_env, warden};
use crate::ports::sockets;
use crate::sdk::code;
use crate::support::{
    Proc, Reply, Warden, call_modern, eventually, grants, grants_check, https_fixture,
    refused_start, upstream,
};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::path::Path;
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

#[test]
fn a_client_certificate_from_the_client_ca_gives_its_grant() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    certificates(d);
    client_certificate_for(
        d,
        "ci",
        "URI:spiffe://warden.test/ci,DNS:ci-runner.warden.test",
    );
    client_certificate_for(d, "ops", "DNS:Ops.Warden.Test");
    // Another CA's certificate, for the very name `ci` is given by.
    let other = tempfile::tempdir().unwrap();
    certificates(other.path());
    client_certificate_for(other.path(), "ci", "URI:spiffe://warden.test/ci");
    let file = |dir: &Path, name: &str| dir.join(name).display().to_string();
    let path = grants(d, &[("ops", "token-ops")], &[]);
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    doc["grants"]["ci"] = json!({"client_certificate": ["spiffe://warden.test/ci"]});
    doc["grants"]["ops"]["client_certificate"] = json!("ops.warden.test");
    std::fs::write(&path, doc.to_string()).unwrap();
    let (_server, url) = upstream("everything");
    let (cert, key, ca) = (file(d, "srv.crt"), file(d, "srv.key"), file(d, "ca.crt"));
    let flags = [
        "--upstream",
        &url,
        "--grants",
        &path,
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
    ];

    // Grants by certificate need a listener that asks for certificates.
    let refused = refused_start(&[&flags[..], &["--listen", "127.0.0.1:0"]].concat());
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("grant `ci` is given by client certificate"),
        "{said}"
    );

    // The client CAs in a file of their own, so that they can rotate apart from the CA that
    // signed warden's own certificate.
    let clients = file(d, "clients.crt");
    std::fs::copy(&ca, &clients).unwrap();
    let more = ["--client-ca", &clients, "--reload-interval-ms", "50"];
    let warden = Warden::start(&[&flags[..], &more].concat());
    // ci by its certificate alone: `per grant` limits count it as `ci` (three sums a day), and
    // ops by its token alone (no certificate) still has its own three.
    let sum = json!(["call", "get-sum", {"a": 1, "b": 2}]);
    let steps = json!([sum, sum, sum, sum]);
    let ci = sdk_over_tls(&warden.url, d, Some("ci"), "-", &steps);
    let ops = sdk_over_tls(&warden.url, d, None, "token-ops", &steps);
    for (grant, out) in [("ci", &ci), ("ops", &ops)] {
        let r = out["results"].as_array().unwrap();
        for allowed in &r[..3] {
            assert_eq!(allowed["is_error"], false, "{grant}: {allowed}");
        }
        assert_eq!(code(&r[3]), "rate_limited", "{grant}: {}", r[3]);
    }

    // Raw requests: the status each pair of credentials gets.
    let address = warden.url.trim_start_matches("https://");
    let address = address.split('/').next().unwrap();
    let status = |cert: Option<(&Path, &str)>, token: Option<&str>| {
        tls_initialize(
            address,
            &ca,
            cert.map(|(dir, n)| file(dir, n)).as_deref(),
            token,
        )
    };
    assert_eq!(status(Some((d, "ci")), None), "200");
    assert_eq!(status(Some((d, "ops")), Some("token-ops")), "200");
    // No session is resumed: each connection's certificate is verified anew.
    assert!(!session_resumed(address, &ca, &file(d, "ci")));
    assert_eq!(
        status(None, None),
        "401",
        "neither a token nor a certificate"
    );
    assert_eq!(
        status(Some((d, "ci")), Some("token-ops")),
        "401",
        "a token of one grant and a certificate of another"
    );
    assert_eq!(status(Some((d, "ci")), Some("wrong")), "401");
    assert_eq!(
        status(Some((other.path(), "ci")), None),
        "handshake refused",
        "a certificate the client CA did not issue"
    );
    warden.await_metric(r#"warden_http_errors_total{kind="tls_handshake"}"#, 1.0);

    // The client CAs rotate: the other CA's certificates are taken from the next handshake on,
    // the first CA's no longer; a file without a CA is refused and the CAs in use stay.
    std::fs::copy(other.path().join("ca.crt"), &clients).unwrap();
    eventually(
        || status(Some((other.path(), "ci")), None) == "200",
        || warden.stderr(),
    );
    assert_eq!(status(Some((d, "ci")), None), "handshake refused");
    assert!(
        warden.stderr().contains("reloaded the client CAs"),
        "{}",
        warden.stderr()
    );
    std::fs::write(&clients, "not a certificate\n").unwrap();
    eventually(
        || warden.stderr().contains("refused to reload the client CAs"),
        || warden.stderr(),
    );
    assert_eq!(status(Some((other.path(), "ci")), None), "200");

    // With --require-client-cert, a client without a certificate cannot connect, token or not.
    std::fs::copy(&ca, &clients).unwrap();
    let strict = ["--client-ca", &clients, "--require-client-cert"];
    let strict = Warden::start(&[&flags[..], &strict].concat());
    let address = strict.url.trim_start_matches("https://");
    let address = address.split('/').next().unwrap();
    let ci_cert = file(d, "ci");
    assert_eq!(
        tls_initialize(address, &ca, None, Some("token-ops")),
        "handshake refused"
    );
    assert_eq!(tls_initialize(address, &ca, Some(&ci_cert), None), "200");
    let banner = format!("client certificates from the CAs in {clients} (required)");
    assert!(strict.stderr().contains(&banner), "{}", strict.stderr());

    // `warden grants check --certificate` reads the names as the listener does.
    let (code, out) = grants_check_certificate(&path, &file(d, "ci.crt"));
    assert_eq!(code, 0, "{out}");
    let names = "the certificate's names: ci-runner.warden.test, spiffe://warden.test/ci";
    assert!(out.contains(names), "{out}");
    assert!(out.contains("the certificate has grant `ci`"), "{out}");
    assert!(
        out.contains("1 grant(s) by token, 2 by client certificate"),
        "{out}"
    );
    let (code, out) = grants_check(&path, None);
    assert_eq!(code, 0, "{out}");
}

/// The SDK's client through warden at `url` over HTTPS (trusting the CA in `dir`),
/// presenting the client certificate `name` (`NAME.crt`, `NAME.key` in `dir`) if given, and
/// the bearer `token` (`-`: none).
fn sdk_over_tls(url: &str, dir: &Path, name: Option<&str>, token: &str, steps: &Value) -> Value {
    let ca = dir.join("ca.crt");
    let (cert, key) = name.map_or_else(Default::default, |n| {
        (dir.join(format!("{n}.crt")), dir.join(format!("{n}.key")))
    });
    let mut env = vec![("SSL_CERT_FILE", ca.as_path())];
    if name.is_some() {
        env.extend([
            ("WARDEN_TEST_CLIENT_CERT", cert.as_path()),
            ("WARDEN_TEST_CLIENT_KEY", key.as_path()),
        ]);
    }
    script_with_env(
        "http_client",
        &[url, "legacy", token, &steps.to_string()],
        &env,
    )
}

/// The HTTP status of an `initialize` POSTed over TLS to `address` (trusting `ca`), with the
/// client certificate `CERT.crt`/`CERT.key` and bearer token if given; `handshake refused`
/// when the TLS connection fails before an answer.
fn tls_initialize(address: &str, ca: &str, cert: Option<&str>, token: Option<&str>) -> String {
    let (host, port) = address.rsplit_once(':').unwrap();
    let load = cert.map_or(String::new(), |c| {
        format!(
            "ctx.load_cert_chain({:?}, {:?})\n",
            format!("{c}.crt"),
            format!("{c}.key")
        )
    });
    let auth = token.map_or(String::new(), |t| format!("Bearer {t}"));
    let code = format!(
        "import http.client, json, ssl\n\
         ctx = ssl.create_default_context(cafile={ca:?})\n\
         {load}\
         body = json.dumps({{'jsonrpc': '2.0', 'id': 1, 'method': 'initialize', 'params': {{\
         'protocolVersion': '2025-11-25', 'capabilities': {{}}, 'clientInfo': {{'name': 't', 'version': '1'}}}}}})\n\
         headers = {{'Content-Type': 'application/json', 'Accept': 'application/json, text/event-stream'}}\n\
         if {auth:?}: headers['Authorization'] = {auth:?}\n\
         try:\n\
         \x20   conn = http.client.HTTPSConnection({host:?}, {port}, context=ctx, timeout=20)\n\
         \x20   conn.request('POST', '/mcp', body=body, headers=headers)\n\
         \x20   print(conn.getresponse().status)\n\
         except (ssl.SSLError, ConnectionError) as e:\n\
         \x20   print('handshake refused')\n"
    );
    let out = Command::new(python()).args(["-c", &code]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Whether a second TLS connection to `address` (trusting `ca`, presenting `CERT.crt`) resumes
/// the first one's session.
fn session_resumed(address: &str, ca: &str, cert: &str) -> bool {
    let (host, port) = address.rsplit_once(':').unwrap();
    let code = format!(
        "import socket, ssl\n\
         ctx = ssl.create_default_context(cafile={ca:?})\n\
         ctx.load_cert_chain({:?}, {:?})\n\
         def connect(session=None):\n\
         \x20   raw = socket.create_connection(({host:?}, {port}))\n\
         \x20   s = ctx.wrap_socket(raw, server_hostname='localhost', session=session)\n\
         \x20   s.sendall(b'GET /nowhere HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n')\n\
         \x20   while s.recv(4096):\n\
         \x20       pass\n\
         \x20   return s\n\
         print(connect(connect().session).session_reused)\n",
        format!("{cert}.crt"),
        format!("{cert}.key"),
    );
    let out = Command::new(python()).args(["-c", &code]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).trim() == "True"
}

/// `warden grants check FILE --certificate CERT`: its exit code and output.
fn grants_check_certificate(file: &str, cert: &str) -> (i32, String) {
    let out = Command::new(warden())
        .args(["grants", "check", file, "--certificate", cert])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code().unwrap_or(-1), text)
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
