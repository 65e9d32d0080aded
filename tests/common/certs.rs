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
    let ec = EC;
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
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
    let ec = EC;
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "srv.key",
        "-out",
        "srv.csr",
        "-subj",
        "/CN=localhost",
    ]);
    openssl(dir, &csr);
    std::fs::write(
        dir.join("ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "srv.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "srv.crt",
            "-days",
            "2",
            "-extfile",
            "ext",
        ],
    );
}
