//! Test certificates made with the openssl command (Debian's `openssl`, installed by
//! scripts/install-deps.sh): a CA of the test's own and a server certificate it signed for
//! `localhost` and `127.0.0.1`, in a directory: `ca.crt`, `srv.crt`, `srv.key`.

use std::path::Path;
use std::process::Command;

pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl ({e}): run scripts/install-deps.sh"));
    assert!(out.status.success(), "openssl {args:?}: {out:?}");
}

/// Options of `openssl req` for a new P-256 key, unencrypted.
const EC: [&str; 5] = [
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
];

/// A CA and a server certificate for localhost and 127.0.0.1 signed by it.
pub fn certificates(dir: &Path) {
    let mut ca = vec!["req", "-x509"];
    ca.extend(EC);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=warden-test-ca",
    ]);
    ca.extend(["-addext", "basicConstraints=critical,CA:TRUE"]);
    ca.extend(["-addext", "keyUsage=critical,keyCertSign"]);
    openssl(dir, &ca);
    server_certificate(dir);
}

/// A new key and server certificate (`srv.key`, `srv.crt`) signed by the CA in `dir`, each
/// with its own serial number: what a renewal writes.
pub fn server_certificate(dir: &Path) {
    signed(dir, "srv", "serverAuth", LOCAL);
}

/// A new key and client certificate (`cli.key`, `cli.crt`) signed by the CA in `dir`.
#[allow(dead_code, reason = "used by tests/proxy_http/tls.rs only")]
pub fn client_certificate(dir: &Path) {
    signed(dir, "cli", "clientAuth", LOCAL);
}

/// A new key and client certificate (`NAME.key`, `NAME.crt`) signed by the CA in `dir`, for
/// the subject alternative names `names` (openssl's syntax: `URI:spiffe://x/y,DNS:a.b`).
#[allow(dead_code, reason = "used by tests/proxy_http/tls.rs only")]
pub fn client_certificate_for(dir: &Path, name: &str, names: &str) {
    signed(dir, name, "clientAuth", names);
}

/// The subject alternative names of the server certificate.
const LOCAL: &str = "DNS:localhost,IP:127.0.0.1";

/// `NAME.key` and `NAME.crt` for the subject alternative names `names`, for `usage` (an
/// extended key usage).
fn signed(dir: &Path, name: &str, usage: &str, names: &str) {
    let (key, csr, crt) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.crt"),
    );
    let mut request = vec!["req"];
    request.extend(EC);
    request.extend(["-keyout", &key, "-out", &csr, "-subj", "/CN=localhost"]);
    openssl(dir, &request);
    std::fs::write(
        dir.join("ext"),
        format!("subjectAltName={names}\nbasicConstraints=CA:FALSE\nextendedKeyUsage={usage}\n"),
    )
    .unwrap();
    let sign = [
        "x509", "-req", "-in", &csr, "-CA", "ca.crt", "-CAkey", "ca.key",
    ];
    let out = [
        "-CAcreateserial",
        "-out",
        &crt,
        "-days",
        "2",
        "-extfile",
        "ext",
    ];
    openssl(dir, &[&sign[..], &out[..]].concat());
}
