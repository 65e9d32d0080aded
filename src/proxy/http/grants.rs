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
//! the file has one. The client's `Authorization` header is never forwarded. Without a grants file (loopback listeners only) every caller is grant `default`.
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
    token_sha256: Value,
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
            everyone: DEFAULT_GRANT.into(),
            upstream_headers: Vec::new(),
            jwt: None,
        }
    }

    pub fn is_open(&self) -> bool {
        self.by_hash.is_none()
    }

    /// How many grants the file names.
    pub fn grant_count(&self) -> usize {
        let names = self.by_hash.iter().flat_map(HashMap::values);
        names.collect::<std::collections::HashSet<_>>().len()
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
        for (name, entry) in file.grants {
            let hashes = match entry.token_sha256 {
                Value::String(s) => vec![s],
                Value::Array(items) => items
                    .into_iter()
                    .map(|v| match v {
                        Value::String(s) => Ok(s),
                        _ => Err(format!("grant `{name}`: token hashes must be strings")),
                    })
                    .collect::<Result<_, _>>()?,
                _ => {
                    return Err(format!(
                        "grant `{name}`: `token_sha256` must be a hash or a list of hashes"
                    ));
                }
            };
            for hash in hashes {
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
        if by_hash.is_empty() && file.jwt.is_none() {
            return Err(
                "no grant: give `grants` (tokens by hash), `jwt` (an issuer's tokens), or both"
                    .into(),
            );
        }
        let jwt = file.jwt.map(|c| Validator::new(c, dir)).transpose()?;
        Ok(Grants {
            by_hash: Some(by_hash),
            upstream_headers,
            jwt,
            ..Grants::open()
        })
    }

    /// The grant of a request with this `Authorization` header, or `None` (401).
    pub fn grant(&self, authorization: Option<&[u8]>) -> Option<Arc<str>> {
        self.check(authorization)
            .map_err(|why| tracing::debug!(why, "bearer credential refused"))
            .ok()
    }

    /// The grant of a request with this `Authorization` header, or why it has none.
    pub fn check(&self, authorization: Option<&[u8]>) -> Result<Arc<str>, String> {
        let Some(by_hash) = &self.by_hash else {
            return Ok(self.everyone.clone());
        };
        let value = authorization.ok_or("no `Authorization` header")?;
        let value = std::str::from_utf8(value).map_err(|_| "`Authorization` is not UTF-8")?;
        let (_, token) = value
            .trim()
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .ok_or("not a bearer credential")?;
        let token = token.trim();
        if let Some(jwt) = &self.jwt
            && jwt::looks_like_jwt(token)
        {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            return jwt
                .grant(token, now)
                .map_err(|why| format!("JWT refused: {why}"));
        }
        by_hash
            .get(&hash_token(token))
            .cloned()
            .ok_or_else(|| "no grant has this token".into())
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
        assert_eq!(g.grant(Some(b"Bearer t-ci")).as_deref(), Some("ci"));
        assert_eq!(g.grant(Some(b"bearer t-a2")).as_deref(), Some("alice"));
        assert_eq!(g.grant(Some(b"Bearer nope")), None);
        assert_eq!(g.grant(Some(b"Basic t-ci")), None);
        assert_eq!(g.grant(None), None);
        assert_eq!(
            g.upstream_headers,
            vec![("Authorization".into(), "Bearer up".into())]
        );
        assert_eq!(Grants::open().grant(None).as_deref(), Some("default"));
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
    }
}
