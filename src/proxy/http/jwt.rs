//! JSON Web Tokens as bearer credentials: the access tokens of the MCP authorization spec
//! (OAuth 2.1), issued by the team's identity provider. A token names its grant in one of its
//! claims, and counts only if it is from the configured issuer, for the configured audience,
//! signed by one of the issuer's keys (a JWKS file, the issuer's `jwks_uri` fetched on
//! warden's own client, `pool`, or that `jwks_uri` discovered in the issuer's metadata) and
//! within its validity.
//!
//! Checked in this order, any failure refusing the token: three base64url parts with a JSON
//! header and payload; the algorithm (RS256/384/512, PS256/384/512, ES256, ES384 or EdDSA:
//! never `none`, never an HMAC, whose key would be public here); the key (the header's
//! `kid`, else the only key for the algorithm; a key whose JWK names an `alg` serves only it);
//! the signature; `exp` (required) and `nbf` with [`LEEWAY`]; `iss`; `aud` (a string, or a
//! list holding the audience); then the grant claim (a string, among `allowed` if given); then
//! the scopes (`required_scopes`, each in the token's `scope` or `scp`): a token valid in
//! every other way but short of a scope is refused as such ([`Refused::Scope`]: HTTP 403 and a
//! step-up challenge, where an invalid token gets 401). A header with critical extensions
//! (`crit`) is refused. A valid token is remembered until it expires (a signature costs tens
//! of µs, more than the rest of a call), and forgotten when the keys change.

use super::pool::{Pool, collect};
use super::upstream::Endpoint;
use arc_swap::ArcSwap;
use hyper::header;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::proxy::base64::decode_url;

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const LEEWAY: u64 = 60;

/// The `jwt` section of a grants file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The issuer (`iss`) tokens must name, exactly.
    pub issuer: String,
    /// The audience (`aud`) tokens must be for: warden's own identifier at the issuer.
    pub audience: String,
    /// The issuer's public keys: a JWKS document in a file (a relative path is from the
    /// grants file's directory, and the file is watched) ...
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    /// ... or at the issuer's `jwks_uri` (`https://` or `http://`), fetched at start and then
    /// every `jwks_refresh_seconds` (a failed fetch keeps the keys in use).
    #[serde(default)]
    pub jwks_url: Option<String>,
    #[serde(default = "five_minutes")]
    pub jwks_refresh_seconds: u64,
    /// The claim whose value is the grant's name.
    #[serde(default = "subject")]
    pub grant_claim: String,
    /// The grant names a token may carry; absent: any.
    #[serde(default)]
    pub allowed: Option<Vec<String>>,
    /// warden's endpoint as the protected resource (RFC 9728 `resource`: the URL clients
    /// dial); absent: the URL of each request (its `Host`, the listener's scheme).
    #[serde(default)]
    pub resource: Option<String>,
    /// The scopes the metadata lists (`scopes_supported`); absent: none listed.
    #[serde(default)]
    pub scopes_supported: Option<Vec<String>>,
    /// Scopes every token must have (in its `scope`, space-separated, or `scp`, a list or a
    /// string); named in the `WWW-Authenticate` challenge so that a client asks for them.
    #[serde(default)]
    pub required_scopes: Vec<String>,
}

/// Why a token is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Not a valid token for warden (401, `invalid_token`).
    Invalid(String),
    /// Valid, but without every required scope (403, `insufficient_scope`).
    Scope(String),
}

impl Refused {
    pub fn why(&self) -> &str {
        match self {
            Refused::Invalid(why) | Refused::Scope(why) => why,
        }
    }
}

impl From<String> for Refused {
    fn from(why: String) -> Refused {
        Refused::Invalid(why)
    }
}

impl From<&str> for Refused {
    fn from(why: &str) -> Refused {
        Refused::Invalid(why.to_string())
    }
}

fn subject() -> String {
    "sub".into()
}

fn five_minutes() -> u64 {
    300
}

/// The largest JWKS document fetched.
const MAX_JWKS: usize = 1 << 20;

/// How long a JWKS fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the keys come from.
enum Source {
    File(PathBuf),
    Url {
        url: String,
        endpoint: Endpoint,
        pool: Arc<Pool>,
        every: Duration,
    },
    /// The `jwks_uri` of the issuer's metadata (OpenID Connect discovery, else RFC 8414),
    /// looked up again at every fetch.
    Issuer {
        every: Duration,
    },
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File(path) => write!(f, "File({})", path.display()),
            Source::Url { url, every, .. } => write!(f, "Url({url}, every {every:?})"),
            Source::Issuer { every } => write!(f, "Issuer(every {every:?})"),
        }
    }
}

/// The JWS algorithms accepted: the asymmetric ones (RFC 7518 §3, RFC 8037).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Alg {
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
    EdDsa,
}

impl Alg {
    const ALL: [Alg; 9] = [
        Alg::Rs256,
        Alg::Rs384,
        Alg::Rs512,
        Alg::Ps256,
        Alg::Ps384,
        Alg::Ps512,
        Alg::Es256,
        Alg::Es384,
        Alg::EdDsa,
    ];

    fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Rs384 => "RS384",
            Alg::Rs512 => "RS512",
            Alg::Ps256 => "PS256",
            Alg::Ps384 => "PS384",
            Alg::Ps512 => "PS512",
            Alg::Es256 => "ES256",
            Alg::Es384 => "ES384",
            Alg::EdDsa => "EdDSA",
        }
    }

    fn named(name: &str) -> Option<Alg> {
        Alg::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The kind of key the algorithm signs with.
    fn key_kind(self) -> Kind {
        match self {
            Alg::Rs256 | Alg::Rs384 | Alg::Rs512 | Alg::Ps256 | Alg::Ps384 | Alg::Ps512 => {
                Kind::Rsa
            }
            Alg::Es256 => Kind::P256,
            Alg::Es384 => Kind::P384,
            Alg::EdDsa => Kind::Ed25519,
        }
    }

    fn rsa(self) -> Option<&'static signature::RsaParameters> {
        Some(match self {
            Alg::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Alg::Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            Alg::Rs512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            Alg::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
            Alg::Ps384 => &signature::RSA_PSS_2048_8192_SHA384,
            Alg::Ps512 => &signature::RSA_PSS_2048_8192_SHA512,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Rsa,
    P256,
    P384,
    Ed25519,
}

#[derive(Debug)]
enum Public {
    /// Modulus and exponent, big-endian.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// An elliptic-curve point, uncompressed (`04 || x || y`), or an Ed25519 key.
    Point(Kind, Vec<u8>),
}

#[derive(Debug)]
struct Key {
    kid: Option<String>,
    /// The key's own `alg`, if its JWK names one: then only that algorithm uses it.
    alg: Option<Alg>,
    public: Public,
}

impl Key {
    fn kind(&self) -> Kind {
        match &self.public {
            Public::Rsa { .. } => Kind::Rsa,
            Public::Point(kind, _) => *kind,
        }
    }

    /// Whether `alg` may use this key.
    fn serves(&self, alg: Alg) -> bool {
        self.kind() == alg.key_kind() && self.alg.is_none_or(|own| own == alg)
    }

    fn verify(&self, alg: Alg, message: &[u8], sig: &[u8]) -> bool {
        match (&self.public, alg.rsa()) {
            (Public::Rsa { n, e }, Some(params)) => RsaPublicKeyComponents { n, e }
                .verify(params, message, sig)
                .is_ok(),
            (Public::Point(kind, point), None) => {
                let algorithm: &dyn signature::VerificationAlgorithm = match kind {
                    Kind::P256 => &signature::ECDSA_P256_SHA256_FIXED,
                    Kind::P384 => &signature::ECDSA_P384_SHA384_FIXED,
                    Kind::Ed25519 => &signature::ED25519,
                    Kind::Rsa => return false,
                };
                UnparsedPublicKey::new(algorithm, point)
                    .verify(message, sig)
                    .is_ok()
            }
            _ => false,
        }
    }
}

/// Validates tokens against one issuer's keys.
#[derive(Debug)]
pub struct Validator {
    issuer: String,
    audience: String,
    claim: String,
    allowed: Option<HashSet<String>>,
    resource: Option<String>,
    scopes: Option<Vec<String>>,
    required_scopes: Vec<String>,
    /// Swapped whole when the JWKS is fetched again.
    keys: ArcSwap<Vec<Key>>,
    source: Source,
    /// Tokens already checked (by SHA-256): a signature is checked once per token, not once
    /// per request. Emptied when the keys change.
    checked: Mutex<HashMap<[u8; 32], Checked>>,
}

/// A token found valid: its grant, and when it expires.
#[derive(Debug)]
struct Checked {
    grant: Arc<str>,
    exp: f64,
}

/// Whether `s` is a scope token (RFC 6749 §3.3: `%x21 / %x23-5B / %x5D-7E`, at least one),
/// so that it can be named in a challenge's quoted string.
fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

/// At most this many checked tokens are remembered.
const MAX_CHECKED: usize = 4096;

/// Whether a bearer token has a JWT's form (three dot-separated parts), so that it is checked
/// as one rather than looked up as an opaque token.
pub fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}

impl Validator {
    /// Reads a JWKS file now (`base`: the grants file's directory, for a relative path); keys
    /// at a URL come with [`Validator::refresh`], which must run before tokens are checked.
    pub fn new(config: Config, base: &Path) -> Result<Validator, String> {
        let (source, keys) = match (config.jwks_file, config.jwks_url) {
            (Some(file), None) => {
                let file = base.join(file);
                let text = std::fs::read_to_string(&file)
                    .map_err(|e| format!("cannot read the JWKS {}: {e}", file.display()))?;
                let keys = jwks(&text).map_err(|e| format!("{}: {e}", file.display()))?;
                (Source::File(file), keys)
            }
            (None, Some(url)) => {
                let endpoint = Endpoint::parse(&url).map_err(|e| format!("`jwks_url`: {e}"))?;
                let source = Source::Url {
                    pool: endpoint.pool(None)?,
                    endpoint,
                    url,
                    every: Duration::from_secs(config.jwks_refresh_seconds.max(1)),
                };
                (source, Vec::new())
            }
            (None, None) => {
                Endpoint::parse(&config.issuer).map_err(|e| {
                    format!("`jwt` without `jwks_file` or `jwks_url` discovers the keys from the issuer's metadata, but its `issuer` is not a URL: {e}")
                })?;
                let every = Duration::from_secs(config.jwks_refresh_seconds.max(1));
                (Source::Issuer { every }, Vec::new())
            }
            (Some(_), Some(_)) => {
                return Err("`jwt` takes one of `jwks_file` and `jwks_url`, not both".into());
            }
        };
        if let Some(bad) = config.required_scopes.iter().find(|s| !is_scope_token(s)) {
            return Err(format!(
                "`required_scopes`: {bad:?} is not a scope (printable ASCII without spaces, `\"` or `\\`)"
            ));
        }
        Ok(Validator {
            issuer: config.issuer,
            audience: config.audience,
            claim: config.grant_claim,
            allowed: config.allowed.map(|a| a.into_iter().collect()),
            resource: config.resource,
            scopes: config.scopes_supported,
            required_scopes: config.required_scopes,
            keys: ArcSwap::from_pointee(keys),
            source,
            checked: Mutex::default(),
        })
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The configured resource URI (RFC 9728), if any.
    pub fn resource(&self) -> Option<&str> {
        self.resource.as_deref()
    }

    /// The scopes to list in the metadata, if any.
    pub fn scopes(&self) -> Option<&[String]> {
        self.scopes.as_deref()
    }

    /// The scopes every token must have (none: any).
    pub fn required_scopes(&self) -> &[String] {
        &self.required_scopes
    }

    /// The JWKS file, if the keys come from one (watched with the grants file).
    pub fn jwks_file(&self) -> Option<&Path> {
        match &self.source {
            Source::File(f) => Some(f),
            Source::Url { .. } | Source::Issuer { .. } => None,
        }
    }

    /// What the keys are and where they come from, for people.
    pub fn describe(&self) -> String {
        let keys = self.keys.load();
        let kids: Vec<&str> = keys
            .iter()
            .map(|k| k.kid.as_deref().unwrap_or("-"))
            .collect();
        let source = match &self.source {
            Source::File(f) => f.display().to_string(),
            Source::Url { url, .. } => url.clone(),
            Source::Issuer { .. } => format!("the metadata of {}", self.issuer),
        };
        let scopes = match self.required_scopes.as_slice() {
            [] => String::new(),
            required => format!(", scope(s) required: {}", required.join(" ")),
        };
        format!(
            "JWTs from {} for {}, grant from `{}`, {} key(s) [{}] from {source}{scopes}",
            self.issuer,
            self.audience,
            self.claim,
            keys.len(),
            kids.join(", ")
        )
    }

    /// How often the keys are fetched again, if they come from a URL.
    pub fn refresh_every(&self) -> Option<Duration> {
        match &self.source {
            Source::File(_) => None,
            Source::Url { every, .. } | Source::Issuer { every } => Some(*every),
        }
    }

    /// Fetches the keys from the JWKS URL (nothing to do for a file); on an error the keys in
    /// use stay. Returns how many keys are in use.
    pub async fn refresh(&self) -> Result<usize, String> {
        let (url, text) = match &self.source {
            Source::File(_) => return Ok(self.keys.load().len()),
            Source::Url {
                url,
                endpoint,
                pool,
                ..
            } => (url.clone(), get(url, endpoint, pool).await?),
            Source::Issuer { .. } => {
                let url = self.discover().await?;
                let endpoint =
                    Endpoint::parse(&url).map_err(|e| format!("the issuer's `jwks_uri`: {e}"))?;
                let text = get(&url, &endpoint, &endpoint.pool(None)?).await?;
                (url, text)
            }
        };
        let keys = jwks(&text).map_err(|e| format!("{url}: {e}"))?;
        let count = keys.len();
        self.keys.store(Arc::new(keys));
        self.checked().clear();
        Ok(count)
    }

    /// The grant `token` names, if it is valid at `now` (seconds since the epoch); else why not.
    pub fn grant(&self, token: &str, now: u64) -> Result<Arc<str>, Refused> {
        let id: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now_f = now as f64;
        if let Some(c) = self.checked().get(&id)
            && now_f < c.exp + LEEWAY as f64
        {
            return Ok(c.grant.clone());
        }
        let (grant, exp) = self.check(token, now)?;
        let grant: Arc<str> = grant.into();
        let mut checked = self.checked();
        if checked.len() >= MAX_CHECKED {
            checked.retain(|_, c| now_f < c.exp + LEEWAY as f64);
            if checked.len() >= MAX_CHECKED {
                checked.clear();
            }
        }
        let entry = Checked {
            grant: grant.clone(),
            exp,
        };
        checked.insert(id, entry);
        Ok(grant)
    }

    /// The required scopes a token's claims lack: `scope` is a space-separated string (RFC
    /// 9068), `scp` a list or a string (some identity providers).
    fn missing_scopes(&self, claims: &Value) -> Vec<&str> {
        let mut has: HashSet<&str> = HashSet::new();
        if let Some(Value::String(scope)) = claims.get("scope") {
            has.extend(scope.split(' '));
        }
        match claims.get("scp") {
            Some(Value::String(scp)) => has.extend(scp.split(' ')),
            Some(Value::Array(list)) => has.extend(list.iter().filter_map(Value::as_str)),
            _ => {}
        }
        let required = self.required_scopes.iter().map(String::as_str);
        required.filter(|r| !has.contains(r)).collect()
    }

    /// The issuer's `jwks_uri`: from its OpenID Connect discovery document
    /// (`ISSUER/.well-known/openid-configuration`), else its OAuth authorization server
    /// metadata (RFC 8414: `ORIGIN/.well-known/oauth-authorization-server/PATH`).
    async fn discover(&self) -> Result<String, String> {
        let issuer = self.issuer.trim_end_matches('/');
        let (origin, path) = super::discovery::split_origin(issuer);
        let documents = [
            format!("{issuer}/.well-known/openid-configuration"),
            format!("{origin}/.well-known/oauth-authorization-server{path}"),
        ];
        let mut failures = Vec::new();
        for url in documents {
            let endpoint = Endpoint::parse(&url)?;
            match get(&url, &endpoint, &endpoint.pool(None)?).await {
                Ok(text) => {
                    return metadata_jwks_uri(&text, &self.issuer)
                        .map_err(|e| format!("{url}: {e}"));
                }
                Err(e) => failures.push(e),
            }
        }
        Err(format!(
            "no metadata found for issuer {}: {}",
            self.issuer,
            failures.join("; ")
        ))
    }

    fn checked(&self) -> MutexGuard<'_, HashMap<[u8; 32], Checked>> {
        self.checked.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Checks `token` whole: its grant and expiry, or why it is refused.
    fn check(&self, token: &str, now: u64) -> Result<(String, f64), Refused> {
        let mut parts = token.split('.');
        let (Some(head), Some(body), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("not a JWT (three parts)".into());
        };
        let header = json_part(head, "header")?;
        if header.get("crit").is_some() {
            return Err("the header has critical extensions (`crit`) warden does not know".into());
        }
        let named = header.get("alg").and_then(Value::as_str);
        let Some(alg) = named.and_then(Alg::named) else {
            return Err(format!(
                "algorithm {named:?} is not accepted (RS256/384/512, PS256/384/512, ES256, ES384, EdDSA)"
            ).into());
        };

        let kid = header.get("kid").and_then(Value::as_str);
        let keys = self.keys.load();
        let mut fitting = keys
            .iter()
            .filter(|k| k.serves(alg) && (kid.is_none() || k.kid.as_deref() == kid));
        let key = match (fitting.next(), fitting.next(), kid) {
            (Some(k), _, Some(_)) | (Some(k), None, None) => k,
            (None, _, _) => {
                return Err(format!("no {} key with id {kid:?} in the JWKS", alg.name()).into());
            }
            (Some(_), Some(_), None) => {
                return Err("the token names no key (`kid`) and the JWKS has several".into());
            }
        };
        let sig = decode_url(sig).ok_or("the signature is not base64url")?;
        let signed = &token[..head.len() + 1 + body.len()];
        if !key.verify(alg, signed.as_bytes(), &sig) {
            return Err("bad signature".into());
        }
        let claims = json_part(body, "payload")?;
        let time = |name: &str| claims.get(name).and_then(Value::as_f64);
        let now_f = now as f64;
        let exp = match time("exp") {
            None => return Err("no `exp`".into()),
            Some(exp) if exp + LEEWAY as f64 <= now_f => return Err("expired".into()),
            Some(exp) => exp,
        };
        if time("nbf").is_some_and(|nbf| nbf > now_f + LEEWAY as f64) {
            return Err("not valid yet (`nbf`)".into());
        }
        if claims.get("iss").and_then(Value::as_str) != Some(self.issuer.as_str()) {
            return Err("another issuer".into());
        }
        let audience = match claims.get("aud") {
            Some(Value::String(a)) => *a == self.audience,
            Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(&self.audience)),
            _ => false,
        };
        if !audience {
            return Err("not for this audience".into());
        }
        let Some(grant) = claims.get(&self.claim).and_then(Value::as_str) else {
            return Err(format!("no string claim `{}`", self.claim).into());
        };
        if self.allowed.as_ref().is_some_and(|a| !a.contains(grant)) {
            return Err(format!("grant `{grant}` is not allowed").into());
        }
        let missing = self.missing_scopes(&claims);
        if !missing.is_empty() {
            let missing = missing.join(" ");
            return Err(Refused::Scope(format!(
                "grant `{grant}`'s token lacks scope(s) {missing}"
            )));
        }
        Ok((grant.to_string(), exp))
    }
}

/// A JWKS document at `endpoint`, as text.
/// GETs `url` (its endpoint and connections) within [`FETCH_TIMEOUT`]; the body as text.
async fn get(url: &str, endpoint: &Endpoint, pool: &Arc<Pool>) -> Result<String, String> {
    tokio::time::timeout(FETCH_TIMEOUT, fetch(endpoint, pool))
        .await
        .map_err(|_| format!("{url}: no answer within {FETCH_TIMEOUT:?}"))?
        .map_err(|e| format!("{url}: {e}"))
}

/// The `jwks_uri` of an authorization server's metadata document, which must name `issuer`
/// exactly (OpenID Connect Discovery §4.3, RFC 8414 §3.3: else its keys are not the issuer's).
fn metadata_jwks_uri(text: &str, issuer: &str) -> Result<String, String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    match doc.get("issuer").and_then(Value::as_str) {
        Some(named) if named == issuer => {}
        named => {
            return Err(format!(
                "the metadata names issuer {named:?}, not {issuer:?}"
            ));
        }
    }
    doc.get("jwks_uri")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| "the metadata has no `jwks_uri`".into())
}

async fn fetch(endpoint: &Endpoint, pool: &Arc<Pool>) -> Result<String, String> {
    let accept = (&header::ACCEPT, &b"application/json"[..]);
    let request = endpoint.request("GET", std::iter::once(accept), b"");
    let answer = pool.send(&request, &[header::CONTENT_TYPE]).await?;
    if !answer.status().is_success() {
        return Err(format!("answered HTTP {}", answer.status()));
    }
    let body = collect(answer.into_body(), MAX_JWKS).await?;
    String::from_utf8(body).map_err(|_| "the answer is not UTF-8".into())
}

fn json_part(part: &str, what: &str) -> Result<Value, String> {
    let bytes = decode_url(part).ok_or_else(|| format!("the {what} is not base64url"))?;
    match serde_json::from_slice(&bytes) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(format!("the {what} is not a JSON object")),
    }
}

/// The signing keys of a JWKS document that warden can use (RSA, EC P-256 and P-384,
/// Ed25519); others (and keys for another use, or for an algorithm warden does not accept)
/// are skipped, and a document without any is an error.
fn jwks(text: &str) -> Result<Vec<Key>, String> {
    #[derive(Deserialize)]
    struct Jwks {
        keys: Vec<Jwk>,
    }
    #[derive(Deserialize)]
    struct Jwk {
        kty: String,
        kid: Option<String>,
        #[serde(rename = "use")]
        usage: Option<String>,
        alg: Option<String>,
        crv: Option<String>,
        n: Option<String>,
        e: Option<String>,
        x: Option<String>,
        y: Option<String>,
    }
    let doc: Jwks = serde_json::from_str(text).map_err(|e| format!("not a JWKS: {e}"))?;
    let field = |v: &Option<String>, name: &str, kid: &Option<String>| {
        v.as_deref()
            .and_then(decode_url)
            .ok_or_else(|| format!("key {kid:?}: `{name}` is missing or not base64url"))
    };
    let mut keys = Vec::new();
    for jwk in doc.keys {
        let alg = jwk.alg.as_deref().map(Alg::named);
        if jwk.usage.as_deref().is_some_and(|u| u != "sig") || alg == Some(None) {
            continue;
        }
        let point = |kind: Kind, size: usize| -> Result<Public, String> {
            let (x, y) = (field(&jwk.x, "x", &jwk.kid)?, field(&jwk.y, "y", &jwk.kid)?);
            if x.len() != size || y.len() != size {
                return Err(format!("key {:?}: coordinates of {size} bytes", jwk.kid));
            }
            Ok(Public::Point(kind, [&[4u8][..], &x, &y].concat()))
        };
        let public = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
            ("RSA", _) => Public::Rsa {
                n: field(&jwk.n, "n", &jwk.kid)?,
                e: field(&jwk.e, "e", &jwk.kid)?,
            },
            ("EC", Some("P-256")) => point(Kind::P256, 32)?,
            ("EC", Some("P-384")) => point(Kind::P384, 48)?,
            ("OKP", Some("Ed25519")) => {
                let x = field(&jwk.x, "x", &jwk.kid)?;
                if x.len() != 32 {
                    return Err(format!("key {:?}: an Ed25519 key is 32 bytes", jwk.kid));
                }
                Public::Point(Kind::Ed25519, x)
            }
            _ => continue,
        };
        keys.push(Key {
            kid: jwk.kid,
            alg: alg.flatten(),
            public,
        });
    }
    if keys.is_empty() {
        return Err("no signing key warden can use (RSA, EC P-256/P-384, Ed25519)".into());
    }
    Ok(keys)
}

#[cfg(test)]
mod tests;
