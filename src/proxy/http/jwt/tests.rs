//! Tokens and keys made by another implementation (PyJWT 2.15 with `cryptography`: an RSA
//! 2048 key as `r1` (its JWK restricted to RS256) and `r2` (unrestricted), a P-256 key `e1`, a
//! P-384 key `p1`, an Ed25519 key `d1`, and an RSA key outside the JWKS), in `vectors.json`:
//! valid tokens of every accepted algorithm are accepted, and every way a token can be wrong
//! is refused.

use super::*;
use serde_json::json;

const NOW: u64 = 1_900_000_000;

fn vectors() -> Value {
    serde_json::from_str(include_str!("vectors.json")).unwrap()
}

fn validator(allowed: Option<Vec<String>>) -> Validator {
    let v = vectors();
    Validator {
        issuer: "https://idp.test".into(),
        audience: "warden".into(),
        claim: "sub".into(),
        allowed: allowed.map(|a| a.into_iter().collect()),
        resource: None,
        scopes: None,
        required_scopes: Vec::new(),
        keys: ArcSwap::from_pointee(jwks(&v["jwks"].to_string()).unwrap()),
        source: Source::File(PathBuf::new()),
        checked: Mutex::default(),
    }
}

fn token(name: &str) -> String {
    vectors()[name].as_str().unwrap().to_string()
}

#[test]
fn tokens_signed_by_the_issuers_keys_name_their_grant() {
    let v = validator(None);
    assert_eq!(&*v.grant(&token("rs_ok"), NOW).unwrap(), "ci");
    assert_eq!(
        &*v.grant(&token("es_ok"), NOW).unwrap(),
        "ops",
        "aud as a list"
    );
    assert_eq!(
        &*v.grant(&token("es_no_kid"), NOW).unwrap(),
        "ops",
        "the only P-256 key"
    );
    for (name, grant) in [
        ("ps256_ok", "ps"),
        ("rs512_ok", "rs512"),
        ("es384_ok", "es384"),
        ("eddsa_ok", "ed"),
    ] {
        assert_eq!(&*v.grant(&token(name), NOW).unwrap(), grant, "{name}");
    }
    // Within the leeway of `exp`, and not before it runs out.
    assert!(v.grant(&token("rs_ok"), 2_000_000_000 + LEEWAY - 1).is_ok());
    assert!(v.grant(&token("rs_ok"), 2_000_000_000 + LEEWAY).is_err());
}

#[test]
fn every_way_a_token_can_be_wrong_refuses_it() {
    let v = validator(None);
    for (name, why) in [
        ("rs_expired", "expired"),
        ("rs_not_yet", "nbf"),
        ("rs_wrong_iss", "issuer"),
        ("rs_wrong_aud", "audience"),
        ("rs_no_exp", "exp"),
        ("rs_other_key", "signature"),
        ("rs_tampered", "signature"),
        ("rs_unknown_kid", "no RS256 key"),
        ("rs_numeric_sub", "claim `sub`"),
        ("hs256", "not accepted"),
        ("none", "not accepted"),
        ("ps256_on_rs256_key", "no PS256 key"),
        ("rs_crit", "critical"),
    ] {
        let err = v.grant(&token(name), NOW).unwrap_err();
        assert!(
            matches!(&err, Refused::Invalid(e) if e.contains(why)),
            "{name}: {err:?}"
        );
    }
    for junk in ["", "a.b", "a.b.c.d", "!!.e30.", "e30.e30.e30"] {
        assert!(v.grant(junk, NOW).is_err(), "{junk}");
    }
}

#[test]
fn allowed_grants_narrow_what_tokens_may_name() {
    let v = validator(Some(vec!["ops".into()]));
    assert!(
        v.grant(&token("rs_ok"), NOW)
            .unwrap_err()
            .why()
            .contains("not allowed")
    );
    assert_eq!(&*v.grant(&token("es_ok"), NOW).unwrap(), "ops");
}

#[test]
fn a_checked_token_is_remembered_until_it_expires_and_forgotten_with_the_keys() {
    let v = validator(None);
    let ok = token("rs_ok");
    assert!(v.grant(&ok, NOW).is_ok());
    assert_eq!(v.checked().len(), 1);
    // Remembered: still valid without its key...
    v.keys.store(Arc::new(Vec::new()));
    assert_eq!(&*v.grant(&ok, NOW).unwrap(), "ci");
    // ...but not past its expiry, which is checked on every use.
    assert!(v.grant(&ok, 2_000_000_000 + LEEWAY).is_err());
    // New keys forget every checked token (a removed key revokes its tokens at once).
    v.checked().clear();
    assert!(
        v.grant(&ok, NOW)
            .unwrap_err()
            .why()
            .contains("no RS256 key")
    );
    // Refusals are not remembered: a tampered token is checked (and refused) each time.
    for _ in 0..2 {
        assert!(v.grant(&token("rs_tampered"), NOW).is_err());
    }
    assert_eq!(v.checked().len(), 0);
}

#[test]
fn a_jwks_keeps_only_signing_keys_it_can_use() {
    let keys = jwks(&vectors()["jwks"].to_string()).unwrap();
    // The encryption key, the HMAC key and the X25519 key are skipped.
    let kids: Vec<_> = keys
        .iter()
        .map(|k| k.kid.clone().unwrap_or_default())
        .collect();
    assert_eq!(kids, ["r1", "r2", "e1", "p1", "d1"]);
    assert!(jwks(r#"{"keys": []}"#).is_err());
    assert!(jwks(r#"{"keys": [{"kty": "RSA", "n": "!"}]}"#).is_err());
    assert!(jwks("[]").is_err());
    assert!(looks_like_jwt("a.b.c") && !looks_like_jwt("opaque-token"));
}

#[test]
fn keys_come_from_one_source() {
    let config = |file: Option<&str>, url: Option<&str>| Config {
        issuer: "i".into(),
        audience: "a".into(),
        jwks_file: file.map(PathBuf::from),
        jwks_url: url.map(str::to_string),
        jwks_refresh_seconds: 300,
        grant_claim: "sub".into(),
        allowed: None,
        resource: None,
        scopes_supported: None,
        required_scopes: Vec::new(),
    };
    let dir = Path::new(".");
    let both = Validator::new(config(Some("k.json"), Some("https://idp/k")), dir);
    assert!(both.unwrap_err().contains("one of"));
    // Neither: the keys are discovered from the issuer's metadata, so the issuer is a URL.
    let neither = Validator::new(config(None, None), dir).unwrap_err();
    assert!(neither.contains("issuer's metadata"), "{neither}");
    assert!(
        Validator::new(config(None, Some("ftp://idp/k")), dir)
            .unwrap_err()
            .contains("jwks_url")
    );
    let at_url = Validator::new(config(None, Some("http://127.0.0.1:1/k")), dir).unwrap();
    assert_eq!(at_url.refresh_every(), Some(Duration::from_secs(300)));
    assert!(at_url.jwks_file().is_none());
    let missing = Validator::new(config(Some("/nonexistent/k.json"), None), dir);
    assert!(missing.unwrap_err().contains("cannot read the JWKS"));
}

#[test]
fn a_valid_token_short_of_a_required_scope_is_refused_as_such() {
    let mut v = validator(None);
    v.required_scopes = vec!["mcp".into(), "tools:call".into()];
    // rs_ok is valid in every other way, and has no scope at all.
    let refused = v.grant(&token("rs_ok"), NOW).unwrap_err();
    assert!(
        matches!(&refused, Refused::Scope(why) if why.contains("mcp tools:call")),
        "{refused:?}"
    );
    // Refused for its scopes, a token is not remembered as valid either.
    assert!(v.grant(&token("rs_ok"), NOW).is_err());
    // `scope` (space-separated) and `scp` (a list, or a string) both count.
    let missing = |claims: Value| v.missing_scopes(&claims);
    assert!(missing(json!({"scope": "openid mcp tools:call"})).is_empty());
    assert!(missing(json!({"scp": ["tools:call", "mcp"]})).is_empty());
    assert!(missing(json!({"scope": "mcp", "scp": "tools:call"})).is_empty());
    assert_eq!(missing(json!({"scope": "mcp tools:cal"})), ["tools:call"]);
    assert_eq!(
        missing(json!({"scope": ["mcp", "tools:call"]})),
        ["mcp", "tools:call"]
    );
    assert_eq!(missing(json!({})), ["mcp", "tools:call"]);
}

#[test]
fn required_scopes_must_be_scope_tokens() {
    for bad in ["", "two words", "quo\"te", "back\\slash", "é"] {
        assert!(!is_scope_token(bad), "{bad:?}");
    }
    for good in [
        "mcp",
        "tools:call",
        "https://api.example.com/read",
        "a!#[]~",
    ] {
        assert!(is_scope_token(good), "{good:?}");
    }
}

#[test]
fn the_metadata_must_name_the_issuer_and_its_keys() {
    let issuer = "https://idp.test";
    let doc = |v: Value| v.to_string();
    let ok = doc(json!({"issuer": issuer, "jwks_uri": "https://idp.test/keys"}));
    assert_eq!(
        metadata_jwks_uri(&ok, issuer).unwrap(),
        "https://idp.test/keys"
    );
    let other = doc(json!({"issuer": "https://evil.test", "jwks_uri": "https://evil.test/k"}));
    assert!(
        metadata_jwks_uri(&other, issuer)
            .unwrap_err()
            .contains("evil.test")
    );
    let trailing = doc(json!({"issuer": "https://idp.test/", "jwks_uri": "https://idp.test/k"}));
    assert!(metadata_jwks_uri(&trailing, issuer).is_err());
    let no_keys = doc(json!({"issuer": issuer}));
    assert!(
        metadata_jwks_uri(&no_keys, issuer)
            .unwrap_err()
            .contains("jwks_uri")
    );
    assert!(
        metadata_jwks_uri("<html>", issuer)
            .unwrap_err()
            .contains("not JSON")
    );
}
