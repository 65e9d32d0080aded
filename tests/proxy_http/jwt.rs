//! Bearer JSON Web Tokens from an identity provider (the grants file's `jwt` section), made by
//! PyJWT (tests/e2e/jwt_tool.py) with keys made by openssl: the grant is the token's `azp`
//! claim, `per grant` limits count per such grant, a static token still works beside them,
//! expired tokens and tokens of a key outside the JWKS get 401, and a rotated JWKS is
//! picked up without a restart, from a file or from a JWKS URL (Python's `http.server`).

use crate::certs::openssl;
use crate::e2e::{python, script};
use crate::support::{
    Proc, Reply, Warden, call_modern, eventually, get, grants_check, listening, refused_start,
    upstream,
};
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Stdio};

/// A new key of `kind` (`rsa` or `ec`) in `dir/name`.
fn new_key(dir: &Path, name: &str, kind: &str) {
    let args: &[&str] = match kind {
        "rsa" => &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ],
        _ => &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ],
    };
    openssl(dir, &[args, &["-out", name]].concat());
}

/// A new directory with the issuer's key `name` (of `kind`) and `jwks.json` naming it `k1`.
fn issuer_keys(name: &str, kind: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    new_key(dir.path(), name, kind);
    jwks(dir.path(), name, "k1");
    dir
}

fn jwks(dir: &Path, key: &str, kid: &str) {
    let key = dir.join(key).display().to_string();
    let out = script("jwt_tool", &["jwks", &key, kid]);
    std::fs::write(dir.join("jwks.json"), out["jwks"].to_string()).unwrap();
}

fn token(dir: &Path, key: &str, kid: &str, claims: &Value) -> String {
    let key = dir.join(key).display().to_string();
    let out = script("jwt_tool", &["token", &key, kid, &claims.to_string()]);
    format!("Bearer {}", out["token"].as_str().unwrap())
}

fn call(warden: &Warden, bearer: &str, id: u64, tool: &str, arguments: Value) -> Reply {
    call_modern(&warden.url, Some(bearer), id, tool, &arguments, &json!({}))
}

/// The files in `dir` served over HTTP (Python's `http.server`, as an identity provider's
/// documents are); the server, and a URL whose path is to be replaced.
fn files_served(dir: &Path) -> (Proc, String) {
    listening("files", "http", |port| {
        let mut c = Command::new(python());
        let port = port.to_string();
        c.args(["-m", "http.server", &port, "--bind", "127.0.0.1"])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    })
}

/// The fixture server, and warden in front of it with `grants` written to `dir/grants.json`
/// (looked at for changes every 50 ms); that file's path.
fn in_front_of_fixture(dir: &Path, grants: &Value) -> (Proc, Warden, String) {
    let file = dir.join("grants.json");
    std::fs::write(&file, grants.to_string()).unwrap();
    let (server, url) = upstream("fixture");
    let file = file.display().to_string();
    let warden = Warden::reloading_grants(&url, &file);
    (server, warden, file)
}

/// The decision code warden put on a tools/call answer (`forwarded` when none).
fn code(r: &Reply) -> String {
    let d = &r.json()["result"]["_meta"]["warden/decision"]["code"];
    d.as_str().unwrap_or("forwarded").to_string()
}

#[test]
fn tokens_of_the_issuer_name_their_grant_and_rotated_keys_apply_without_a_restart() {
    let dir = issuer_keys("old.pem", "rsa");
    let d = dir.path();
    let hash = warden::proxy::http::grants::hash_token("static-secret");
    let grants = json!({
        "grants": {"static": {"token_sha256": hash}},
        "jwt": {"issuer": "https://idp.test", "audience": "warden",
                "jwks_file": "jwks.json", "grant_claim": "azp"}
    });
    let (_server, warden, file) = in_front_of_fixture(d, &grants);
    // Without a token: 401, naming the protected-resource metadata (RFC 9728) that tells an
    // OAuth client where to get one.
    let anonymous = call_modern(&warden.url, None, 0, "echo", &json!({}), &json!({}));
    assert_eq!(anonymous.status, 401);
    let base = warden.url.trim_end_matches("/mcp");
    let metadata_url = format!("{base}/.well-known/oauth-protected-resource/mcp");
    assert_eq!(
        anonymous.header("www-authenticate"),
        Some(format!("Bearer resource_metadata=\"{metadata_url}\"").as_str())
    );
    let metadata = get(&metadata_url);
    assert_eq!(metadata.status, 200, "{metadata:?}");
    assert_eq!(metadata.json()["resource"], warden.url);
    assert_eq!(
        metadata.json()["authorization_servers"],
        json!(["https://idp.test"])
    );

    let claims =
        |azp: &str| json!({"iss": "https://idp.test", "aud": "warden", "sub": "x", "azp": azp});
    let a = token(d, "old.pem", "k1", &claims("agent-a"));
    let b = token(d, "old.pem", "k1", &claims("agent-b"));

    let echo = call(&warden, &a, 1, "echo", json!({"message": "hi"}));
    assert_eq!(echo.status, 200, "{echo:?}");
    assert_eq!(echo.json()["result"]["content"][0]["text"], "Echo: hi");
    // `slow` is limited to 1 a day per grant: agent-a's second is refused, agent-b has its own.
    let slow = json!({"seconds": 0});
    assert_eq!(
        code(&call(&warden, &a, 2, "slow", slow.clone())),
        "forwarded"
    );
    assert_eq!(
        code(&call(&warden, &a, 3, "slow", slow.clone())),
        "rate_limited"
    );
    assert_eq!(
        code(&call(&warden, &b, 4, "slow", slow.clone())),
        "forwarded"
    );
    assert_eq!(
        call(
            &warden,
            "Bearer static-secret",
            5,
            "echo",
            json!({"message": "s"})
        )
        .status,
        200
    );

    let mut expired = claims("agent-a");
    expired["exp"] = json!(1_700_000_000);
    let expired = token(d, "old.pem", "k1", &expired);

    // `warden grants check` reads the file as the proxy does, and tells what a token grants.
    let (code, out) = grants_check(&file, None);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 grant(s) by token"), "{out}");
    assert!(
        out.contains("JWTs from https://idp.test for warden, grant from `azp`, 1 key(s) [k1]"),
        "{out}"
    );
    let (code, out) = grants_check(&file, Some(&a));
    assert_eq!((code, out.contains("grant `agent-a`")), (0, true), "{out}");
    let (code, out) = grants_check(&file, Some(&expired));
    assert_eq!(
        (code, out.contains("JWT refused: expired")),
        (1, true),
        "{out}"
    );
    let (code, out) = grants_check(&file, Some("Bearer nope"));
    assert_eq!(
        (code, out.contains("no grant has this token")),
        (1, true),
        "{out}"
    );
    assert_eq!(
        call(&warden, &expired, 6, "echo", json!({"message": "x"})).status,
        401
    );
    let mut foreign = claims("agent-a");
    foreign["iss"] = json!("https://elsewhere.test");
    let foreign = token(d, "old.pem", "k1", &foreign);
    assert_eq!(
        call(&warden, &foreign, 7, "echo", json!({"message": "x"})).status,
        401
    );

    // The issuer rotates to an EC key: its tokens count once the JWKS is rewritten, the old
    // key's no longer do.
    new_key(d, "new.pem", "ec");
    let fresh = token(d, "new.pem", "k2", &claims("agent-c"));
    assert_eq!(
        call(&warden, &fresh, 8, "echo", json!({"message": "x"})).status,
        401
    );
    jwks(d, "new.pem", "k2");
    warden.await_metric(r#"warden_grants_reloads_total{result="ok"}"#, 1.0);
    assert_eq!(
        call(&warden, &fresh, 9, "echo", json!({"message": "x"})).status,
        200
    );
    assert_eq!(
        call(&warden, &a, 10, "echo", json!({"message": "x"})).status,
        401
    );
}

#[test]
fn a_token_short_of_a_required_scope_gets_403_and_a_step_up_challenge() {
    let dir = issuer_keys("idp.pem", "ec");
    let d = dir.path();
    let grants = json!({
        "jwt": {"issuer": "https://idp.test", "audience": "warden", "jwks_file": "jwks.json",
                "grant_claim": "azp", "required_scopes": ["mcp", "tools:call"],
                "scopes_supported": ["mcp", "tools:call", "admin"]}
    });
    let (_server, warden, file) = in_front_of_fixture(d, &grants);
    let base = warden.url.trim_end_matches("/mcp");
    let metadata = format!("{base}/.well-known/oauth-protected-resource/mcp");
    let claims = |scope: Value| {
        let mut c = json!({"iss": "https://idp.test", "aud": "warden", "azp": "ci"});
        if !scope.is_null() {
            c["scope"] = scope;
        }
        c
    };
    let echo = |bearer: Option<&str>| {
        let arguments = json!({"message": "x"});
        call_modern(&warden.url, bearer, 1, "echo", &arguments, &json!({}))
    };

    // Valid, but one scope short: 403, naming the scopes to ask for (the spec's step-up).
    let short = token(d, "idp.pem", "k1", &claims(json!("mcp")));
    let r = echo(Some(&short));
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(
        r.header("www-authenticate"),
        Some(format!(r#"Bearer error="insufficient_scope", scope="mcp tools:call", resource_metadata="{metadata}""#).as_str())
    );
    // With both scopes (and more), the call goes through.
    let full = token(d, "idp.pem", "k1", &claims(json!("openid mcp tools:call")));
    let r = echo(Some(&full));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["result"]["content"][0]["text"], "Echo: x");
    // A token that is not valid: 401 `invalid_token`; no token: 401 without an error code.
    let r = echo(Some("Bearer a.b.c"));
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some(format!(r#"Bearer error="invalid_token", scope="mcp tools:call", resource_metadata="{metadata}""#).as_str())
    );
    let r = echo(None);
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some(format!(r#"Bearer scope="mcp tools:call", resource_metadata="{metadata}""#).as_str())
    );
    // The metadata lists what the section supports; `grants check` tells why a token is short.
    let doc = get(&metadata).json();
    assert_eq!(
        doc["scopes_supported"],
        json!(["mcp", "tools:call", "admin"])
    );
    warden.await_metric(
        r#"warden_http_errors_total{kind="insufficient_scope"}"#,
        1.0,
    );
    warden.await_metric(r#"warden_http_errors_total{kind="unauthorized"}"#, 2.0);
    let (code, out) = grants_check(&file, Some(&short));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("lacks scope(s) tools:call"), "{out}");
    assert!(out.contains("scope(s) required: mcp tools:call"), "{out}");
}

#[test]
fn keys_at_a_jwks_url_are_fetched_at_start_and_again_at_their_interval() {
    let dir = issuer_keys("one.pem", "ec");
    let d = dir.path();
    let (_keys, keys_url) = files_served(d);
    let jwks_url = keys_url.replace("/mcp", "/jwks.json");
    let grants = |url: &str| {
        json!({"jwt": {"issuer": "https://idp.test", "audience": "warden", "jwks_url": url,
                       "jwks_refresh_seconds": 1, "grant_claim": "azp"}})
        .to_string()
    };
    let file = d.join("grants.json");
    std::fs::write(&file, grants(&jwks_url)).unwrap();
    let (_server, url) = upstream("fixture");
    let file = file.display().to_string();
    let warden_proc = Warden::start(&["--upstream", &url, "--grants", &file]);
    let claims = json!({"iss": "https://idp.test", "aud": "warden", "azp": "agent-a"});
    let first = token(d, "one.pem", "k1", &claims);
    assert_eq!(
        call(&warden_proc, &first, 1, "echo", json!({"message": "x"})).status,
        200
    );

    // The issuer rotates its keys at the URL: the new key's tokens count within a refresh.
    new_key(d, "two.pem", "rsa");
    jwks(d, "two.pem", "k2");
    let second = token(d, "two.pem", "k2", &claims);
    eventually(
        || call(&warden_proc, &second, 2, "echo", json!({"message": "x"})).status == 200,
        || warden_proc.stderr(),
    );
    assert_eq!(
        call(&warden_proc, &first, 3, "echo", json!({"message": "x"})).status,
        401
    );

    // Keys that cannot be fetched at start stop warden (exit 2), naming the URL.
    let unreachable = keys_url.replace("/mcp", "/missing.json");
    std::fs::write(&file, grants(&unreachable)).unwrap();
    let out = refused_start(&[
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &url,
        "--grants",
        &file,
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("missing.json") && stderr.contains("404"),
        "{stderr}"
    );
}

#[test]
fn keys_are_discovered_from_the_issuer_metadata() {
    let dir = issuer_keys("idp.pem", "ec");
    let d = dir.path();
    let (_idp, idp_url) = files_served(d);
    let issuer = idp_url.trim_end_matches("/mcp").to_string();
    let well_known = d.join(".well-known");
    std::fs::create_dir(&well_known).unwrap();
    let metadata =
        |named: &str| json!({"issuer": named, "jwks_uri": format!("{issuer}/jwks.json")});
    let grants = json!({"jwt": {"issuer": issuer, "audience": "warden", "grant_claim": "azp"}});
    let (_server, url) = upstream("fixture");
    let file = d.join("grants.json");
    std::fs::write(&file, grants.to_string()).unwrap();
    let file = file.display().to_string();
    let flags = ["--upstream", &url, "--grants", &file];
    let claims = json!({"iss": issuer, "aud": "warden", "azp": "agent-a"});
    let bearer = token(d, "idp.pem", "k1", &claims);

    // OpenID Connect discovery: ISSUER/.well-known/openid-configuration names the keys.
    let oidc = well_known.join("openid-configuration");
    std::fs::write(&oidc, metadata(&issuer).to_string()).unwrap();
    let warden = Warden::start(&flags);
    let echo = json!({"message": "x"});
    assert_eq!(call(&warden, &bearer, 1, "echo", echo.clone()).status, 200);
    let (code, out) = grants_check(&file, Some(&bearer));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("from the metadata of {issuer}")),
        "{out}"
    );
    drop(warden);

    // Without it, the OAuth authorization server metadata (RFC 8414).
    std::fs::remove_file(&oidc).unwrap();
    let oauth = well_known.join("oauth-authorization-server");
    std::fs::write(&oauth, metadata(&issuer).to_string()).unwrap();
    let warden = Warden::start(&flags);
    assert_eq!(call(&warden, &bearer, 2, "echo", echo).status, 200);
    drop(warden);

    // Metadata that names another issuer is not this issuer's: warden does not start.
    std::fs::write(&oauth, metadata("https://elsewhere.test").to_string()).unwrap();
    let out = refused_start(&[&["--listen", "127.0.0.1:0"][..], &flags].concat());
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("elsewhere.test"), "{said}");
}
