//! Grants: the bearer tokens HTTP callers present, mapped to grant names, and the credentials
//! warden itself sends upstream. Read from the `--grants` file.
//!
//! The file holds SHA-256 hashes of the tokens, never the tokens (`warden grants hash` prints
//! the hash of a token read from stdin):
//!
//! ```json
//! {
//!   "grants": {
//!     "ci":    {"token_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
//!     "alice": {"token_sha256": ["<current>", "<next, during a rotation>"]}
//!   },
//!   "upstream": {"headers": {"Authorization": "Bearer <the upstream server's own token>"}}
//! }
//! ```
//!
//! A presented token is hashed and looked up; one with a JWT's form is checked against the
//! `jwt` section instead (`jwt`: issuer, audience, JWKS file, the claim naming the grant), when
//! the file has one. The client's `Authorization` header is never forwarded.
//!
//! Over HTTPS with `--client-ca`, a grant may instead (or as well) be given by a client
//! certificate: `"ci": {"client_certificate": "spiffe://example.org/ci"}` (or a list) names a
//! DNS or URI subject alternative name of a certificate the CA issued. A request with a token
//! is the token's grant, and refused if its certificate is another grant's; one without is
//! its certificate's. A request without a grant is refused for a reason ([`Refusal`]) that
//! says how it is answered: 401, or 403 for a token short of a required scope.
//!
//! Without a grants file (loopback listeners only) every caller is grant `default`.
//! The file is watched while warden runs (`--reload-interval-ms`): a changed file's grants and
//! upstream credentials replace the old ones together; a file with errors is refused, and the
//! old ones stay (`server`).

use super::jwt::{self, Validator};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

/// The grant every caller is when warden runs without a grants file.
pub const DEFAULT_GRANT: &str = "default";

#[derive(Debug)]
pub struct Grants {
    /// Token hash (lowercase hex) → grant name. `None`: no grants file, everyone is `default`.
    by_hash: Option<HashMap<String, Arc<str>>>,
    /// A client certificate's subject alternative name (DNS names lowercase) → grant name.
    by_certificate: HashMap<String, Arc<str>>,
    /// The name everyone has without a grants file.
    everyone: Arc<str>,
    /// Headers warden adds to every upstream request (the upstream's own credentials).
    pub upstream_headers: Vec<(String, String)>,
    /// JSON Web Tokens from an identity provider, if the file configures one.
    pub jwt: Option<Validator>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    grants: BTreeMap<String, GrantEntry>,
    #[serde(default)]
    upstream: Option<Upstream>,
    #[serde(default)]
    jwt: Option<jwt::Config>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantEntry {
    #[serde(default)]
    token_sha256: Option<Value>,
    #[serde(default)]
    client_certificate: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Upstream {
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

/// SHA-256 of a token, lowercase hex: what the grants file stores.
pub fn hash_token(token: &str) -> String {
    super::super::engine::hex(&Sha256::digest(token.as_bytes()))
}

impl Grants {
    /// Everyone is grant `default` (loopback listeners without `--grants`).
    pub fn open() -> Grants {
        Grants {
            by_hash: None,
            by_certificate: HashMap::new(),
            everyone: DEFAULT_GRANT.into(),
            upstream_headers: Vec::new(),
            jwt: None,
        }
    }

    pub fn is_open(&self) -> bool {
        self.by_hash.is_none()
    }

    /// How many grants the file gives by token.
    pub fn grant_count(&self) -> usize {
        let names = self.by_hash.iter().flat_map(HashMap::values);
        names.collect::<std::collections::HashSet<_>>().len()
    }

    /// The grants given by client certificate, each once.
    pub fn certificate_grant_names(&self) -> impl Iterator<Item = &str> {
        let names: std::collections::BTreeSet<&str> =
            self.by_certificate.values().map(|n| &**n).collect();
        names.into_iter()
    }

    /// How the file's grants are given, e.g. `2 grant(s) by token, 1 by client certificate`.
    pub fn summary(&self) -> String {
        let by_certificate = self.certificate_grant_names().count();
        let mut text = format!("{} grant(s) by token", self.grant_count());
        if by_certificate > 0 {
            text.push_str(&format!(", {by_certificate} by client certificate"));
        }
        text
    }

    pub fn load(path: &Path) -> Result<Grants, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        Grants::parse_in(&text, dir).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// A grants file's text; a JWKS file it names is read from the working directory.
    pub fn parse(text: &str) -> Result<Grants, String> {
        Grants::parse_in(text, Path::new("."))
    }

    /// A grants file's text; a JWKS file it names is read relative to `dir`.
    pub fn parse_in(text: &str, dir: &Path) -> Result<Grants, String> {
        let file: File = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut by_hash = HashMap::new();
        let mut by_certificate = HashMap::new();
        for (name, entry) in file.grants {
            if entry.token_sha256.is_none() && entry.client_certificate.is_none() {
                return Err(format!(
                    "grant `{name}`: give `token_sha256`, `client_certificate`, or both"
                ));
            }
            let names = strings(
                &name,
                "client_certificate",
                "a name",
                entry.client_certificate,
            )?;
            for subject in names {
                let subject = if subject.contains(':') {
                    subject // a URI, compared as written
                } else {
                    subject.to_ascii_lowercase()
                };
                if subject.is_empty() {
                    return Err(format!("grant `{name}`: an empty client certificate name"));
                }
                if let Some(other) = by_certificate.insert(subject.clone(), name.as_str().into()) {
                    return Err(format!(
                        "grants `{other}` and `{name}` have the same client certificate name `{subject}`"
                    ));
                }
            }
            for hash in strings(&name, "token_sha256", "a hash", entry.token_sha256)? {
                let hash = hash.to_ascii_lowercase();
                if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(format!(
                        "grant `{name}`: `{hash}` is not a SHA-256 hash (64 hex digits; `warden grants hash` prints one)"
                    ));
                }
                if let Some(other) = by_hash.insert(hash, name.as_str().into()) {
                    return Err(format!("grants `{other}` and `{name}` have the same token"));
                }
            }
        }
        let upstream_headers: Vec<(String, String)> = file
            .upstream
            .map(|u| u.headers.into_iter().collect())
            .unwrap_or_default();
        for (name, value) in &upstream_headers {
            if hyper::header::HeaderName::from_bytes(name.as_bytes()).is_err()
                || hyper::header::HeaderValue::from_str(value).is_err()
            {
                return Err(format!(
                    "upstream header `{name}` is not a valid HTTP header"
                ));
            }
        }
        if by_hash.is_empty() && by_certificate.is_empty() && file.jwt.is_none() {
            return Err(
                "no grant: give `grants` (by token hash or client certificate), `jwt` (an issuer's tokens), or both"
                    .into(),
            );
        }
        let jwt = file.jwt.map(|c| Validator::new(c, dir)).transpose()?;
        Ok(Grants {
            by_hash: Some(by_hash),
            by_certificate,
            upstream_headers,
            jwt,
            ..Grants::open()
        })
    }

    /// The grant of a request with this `Authorization` header and client certificate (the
    /// names in it), or why it has none.
    pub fn check(
        &self,
        authorization: Option<&[u8]>,
        certificate: Option<&[String]>,
    ) -> Result<Arc<str>, Refusal> {
        let Some(by_hash) = &self.by_hash else {
            return Ok(self.everyone.clone());
        };
        let by_certificate = self
            .certificate_grant(certificate.unwrap_or_default())
            .map_err(Refusal::Missing)?;
        let Some(authorization) = authorization else {
            return by_certificate.ok_or_else(|| {
                Refusal::Missing(match certificate {
                    Some(_) => {
                        "no `Authorization` header, and no grant has the client certificate's names"
                            .into()
                    }
                    None => "no `Authorization` header".into(),
                })
            });
        };
        let by_token = self.token_grant(by_hash, authorization)?;
        match by_certificate {
            Some(other) if other != by_token => Err(Refusal::Invalid(format!(
                "the token is grant `{by_token}`'s but the client certificate is grant `{other}`'s"
            ))),
            _ => Ok(by_token),
        }
    }

    /// The grant a client certificate's names give, if any; names of two grants are refused.
    fn certificate_grant(&self, names: &[String]) -> Result<Option<Arc<str>>, String> {
        let mut found: Option<&Arc<str>> = None;
        for grant in names.iter().filter_map(|n| self.by_certificate.get(n)) {
            match found {
                Some(other) if other != grant => {
                    return Err(format!(
                        "the client certificate names grants `{other}` and `{grant}`"
                    ));
                }
                _ => found = Some(grant),
            }
        }
        Ok(found.cloned())
    }

    /// The grant of a bearer token in this `Authorization` header, or why it has none.
    fn token_grant(
        &self,
        by_hash: &HashMap<String, Arc<str>>,
        value: &[u8],
    ) -> Result<Arc<str>, Refusal> {
        let missing = |why: &str| Refusal::Missing(why.into());
        let value =
            std::str::from_utf8(value).map_err(|_| missing("`Authorization` is not UTF-8"))?;
        let (_, token) = value
            .trim()
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .ok_or_else(|| missing("not a bearer credential"))?;
        let token = token.trim();
        if let Some(jwt) = &self.jwt
            && jwt::looks_like_jwt(token)
        {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            return jwt.grant(token, now).map_err(|refused| match refused {
                jwt::Refused::Invalid(why) => Refusal::Invalid(format!("JWT refused: {why}")),
                jwt::Refused::Scope(why) => Refusal::Scope(why),
            });
        }
        by_hash
            .get(&hash_token(token))
            .cloned()
            .ok_or_else(|| Refusal::Invalid("no grant has this token".into()))
    }
}

/// Why a request has no grant, which says how it is answered (RFC 6750 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No bearer token (nor a certificate a grant has): 401 with a plain challenge.
    Missing(String),
    /// A token that is not valid here, or one of another grant than the certificate's: 401,
    /// `error="invalid_token"`.
    Invalid(String),
    /// A valid token without a scope the `jwt` section requires: 403,
    /// `error="insufficient_scope"`.
    Scope(String),
}

impl Refusal {
    pub fn why(&self) -> &str {
        match self {
            Refusal::Missing(why) | Refusal::Invalid(why) | Refusal::Scope(why) => why,
        }
    }
}

/// A grant entry's member that holds a string or a list of strings (none: empty).
fn strings(
    grant: &str,
    member: &str,
    what: &str,
    value: Option<Value>,
) -> Result<Vec<String>, String> {
    let wrong =
        || format!("grant `{grant}`: `{member}` must be {what} or a list of them (strings)");
    match value {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s]),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                _ => Err(wrong()),
            })
            .collect(),
        Some(_) => Err(wrong()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_tokens_to_grants_by_hash() {
        let text = format!(
            r#"{{"grants":{{"ci":{{"token_sha256":"{}"}},"alice":{{"token_sha256":["{}","{}"]}}}},
               "upstream":{{"headers":{{"Authorization":"Bearer up"}}}}}}"#,
            hash_token("t-ci"),
            hash_token("t-a1"),
            hash_token("t-a2").to_uppercase()
        );
        let g = Grants::parse(&text).unwrap();
        assert_eq!(
            g.check(Some(b"Bearer t-ci"), None).ok().as_deref(),
            Some("ci")
        );
        assert_eq!(
            g.check(Some(b"bearer t-a2"), None).ok().as_deref(),
            Some("alice")
        );
        assert_eq!(g.check(Some(b"Bearer nope"), None).ok(), None);
        assert_eq!(g.check(Some(b"Basic t-ci"), None).ok(), None);
        assert_eq!(g.check(None, None).ok(), None);
        assert_eq!(
            g.upstream_headers,
            vec![("Authorization".into(), "Bearer up".into())]
        );
        assert_eq!(
            Grants::open().check(None, None).ok().as_deref(),
            Some("default")
        );
    }

    #[test]
    fn maps_client_certificate_names_to_grants() {
        let text = format!(
            r#"{{"grants":{{"ci":{{"token_sha256":"{}","client_certificate":"spiffe://example.org/ci"}},
                            "ops":{{"client_certificate":["Ops.Example.org","spiffe://example.org/ops"]}}}}}}"#,
            hash_token("t-ci"),
        );
        let g = Grants::parse(&text).unwrap();
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let ci = names(&["ci.example.org", "spiffe://example.org/ci"]);
        let ops = names(&["ops.example.org"]);
        let nobody = names(&["other.example.org"]);
        // A certificate alone gives its grant; DNS names compare in lowercase.
        assert_eq!(g.check(None, Some(&ci)).as_deref(), Ok("ci"));
        assert_eq!(g.check(None, Some(&ops)).as_deref(), Ok("ops"));
        let refused = g.check(None, Some(&nobody)).unwrap_err();
        assert!(
            refused
                .why()
                .contains("no grant has the client certificate's names"),
            "{refused:?}"
        );
        // A token is its grant's; a certificate of another grant beside it is refused, a
        // certificate no grant names is only transport.
        assert_eq!(
            g.check(Some(b"Bearer t-ci"), Some(&ci)).as_deref(),
            Ok("ci")
        );
        assert_eq!(
            g.check(Some(b"Bearer t-ci"), Some(&nobody)).as_deref(),
            Ok("ci")
        );
        let clash = g.check(Some(b"Bearer t-ci"), Some(&ops)).unwrap_err();
        assert!(
            matches!(&clash, Refusal::Invalid(why) if why.contains("grant `ops`")),
            "{clash:?}"
        );
        // A wrong token is refused even with a certificate that has a grant.
        assert!(g.check(Some(b"Bearer nope"), Some(&ops)).is_err());
        // One certificate naming two grants is refused.
        let both = names(&["spiffe://example.org/ci", "ops.example.org"]);
        assert!(
            g.check(None, Some(&both))
                .unwrap_err()
                .why()
                .contains("names grants")
        );
        assert_eq!(
            g.certificate_grant_names().collect::<Vec<_>>(),
            ["ci", "ops"]
        );
        assert_eq!(g.summary(), "1 grant(s) by token, 2 by client certificate");
    }

    #[test]
    fn refuses_bad_files() {
        assert!(Grants::parse(r#"{"grants":{"ci":{"token_sha256":"abc"}}}"#).is_err());
        assert!(Grants::parse(r#"{"grants":{"ci":{"token":"plain"}}}"#).is_err());
        let h = hash_token("x");
        let dup = format!(
            r#"{{"grants":{{"a":{{"token_sha256":"{h}"}},"b":{{"token_sha256":"{h}"}}}}}}"#
        );
        assert!(Grants::parse(&dup).unwrap_err().contains("same token"));
        assert!(
            Grants::parse(r#"{"grants":{"ci":{}}}"#)
                .unwrap_err()
                .contains("give")
        );
        let same = r#"{"grants":{"a":{"client_certificate":"A.example"},"b":{"client_certificate":["a.example"]}}}"#;
        assert!(
            Grants::parse(same)
                .unwrap_err()
                .contains("same client certificate name")
        );
        let empty = r#"{"grants":{"a":{"client_certificate":[""]}}}"#;
        assert!(
            Grants::parse(empty)
                .unwrap_err()
                .contains("empty client certificate name")
        );
        let number = r#"{"grants":{"a":{"client_certificate":7}}}"#;
        assert!(
            Grants::parse(number)
                .unwrap_err()
                .contains("`client_certificate` must be")
        );
    }
}
