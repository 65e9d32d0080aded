//! OAuth 2.0 Protected Resource Metadata (RFC 9728), the MCP authorization spec's discovery
//! step, when the grants file takes JSON Web Tokens (`jwt`): warden's endpoint is the
//! protected resource and the token issuer its authorization server. A 401 names the metadata
//! document (`WWW-Authenticate: Bearer resource_metadata="…"`), served at
//! `/.well-known/oauth-protected-resource` and at that path followed by the endpoint's path,
//! so that an OAuth-capable MCP client finds where to get a token for warden by itself. The
//! challenge ([`Challenge`]) also says why a token was refused (`invalid_token`, or
//! `insufficient_scope` with a 403) and which scopes to ask for (`jwt.required_scopes`).

use super::front::Headers;
use super::jwt::Validator;
use hyper::header::HOST;
use serde_json::{Value, json};

/// Where the metadata documents live.
pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// The resource's URI: the configured one, else the URL the client dialled (`Host`, the
/// listener's scheme, the endpoint's path). `None` without either.
pub fn resource(jwt: &Validator, headers: &Headers, tls: bool, path: &str) -> Option<String> {
    if let Some(r) = jwt.resource() {
        return Some(r.to_string());
    }
    let host = headers.get(&HOST)?.to_str().ok()?;
    let scheme = if tls { "https" } else { "http" };
    Some(format!("{scheme}://{host}{path}"))
}

/// Whether a request path asks for the metadata of the endpoint at `path`.
pub fn is_metadata_path(requested: &str, path: &str) -> bool {
    requested == WELL_KNOWN || requested.strip_prefix(WELL_KNOWN) == Some(path)
}

/// The metadata document.
pub fn metadata(jwt: &Validator, resource: &str) -> Value {
    let mut doc = json!({
        "resource": resource,
        "authorization_servers": [jwt.issuer()],
        "bearer_methods_supported": ["header"],
    });
    if let Some(scopes) = jwt.scopes() {
        doc["scopes_supported"] = json!(scopes);
    }
    doc
}

/// A `WWW-Authenticate` challenge (RFC 6750 §3) of a request refused for its credentials.
pub struct Challenge<'a> {
    /// `invalid_token` or `insufficient_scope`; none when no token came.
    pub error: Option<&'a str>,
    /// The scopes a token must have (none: the parameter is left out).
    pub scope: &'a [String],
    /// The protected resource, whose metadata's URL the challenge gives (none without JWTs).
    pub resource: Option<&'a str>,
}

impl std::fmt::Display for Challenge<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Bearer")?;
        let mut params = Vec::new();
        if let Some(error) = self.error {
            params.push(format!("error=\"{error}\""));
        }
        if !self.scope.is_empty() {
            params.push(format!("scope=\"{}\"", self.scope.join(" ")));
        }
        if let Some(resource) = self.resource {
            params.push(format!("resource_metadata=\"{}\"", metadata_url(resource)));
        }
        if !params.is_empty() {
            write!(f, " {}", params.join(", "))?;
        }
        Ok(())
    }
}

/// Where the metadata of a resource at `resource` is: its origin's well-known path followed
/// by the resource's path.
fn metadata_url(resource: &str) -> String {
    let (origin, path) = split_origin(resource);
    format!("{origin}{WELL_KNOWN}{path}")
}

/// A URL's origin (`scheme://authority`) and its path without a trailing `/`: RFC 8615
/// well-known documents go between the two (RFC 8414 §3, RFC 9728 §3).
pub fn split_origin(url: &str) -> (&str, &str) {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let (origin, path) = match url[after_scheme..].find('/') {
        Some(i) => url.split_at(after_scheme + i),
        None => (url, ""),
    };
    (origin, path.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_challenge_points_at_the_path_suffixed_document() {
        let challenge = |resource, error, scope: &[String]| {
            Challenge {
                error,
                scope,
                resource,
            }
            .to_string()
        };
        assert_eq!(
            challenge(Some("https://gw.example.com/mcp"), None, &[]),
            r#"Bearer resource_metadata="https://gw.example.com/.well-known/oauth-protected-resource/mcp""#
        );
        assert_eq!(
            challenge(Some("http://127.0.0.1:8080"), None, &[]),
            r#"Bearer resource_metadata="http://127.0.0.1:8080/.well-known/oauth-protected-resource""#
        );
        let scopes = ["mcp".to_string(), "tools:call".to_string()];
        assert_eq!(
            challenge(Some("https://gw/mcp"), Some("insufficient_scope"), &scopes),
            r#"Bearer error="insufficient_scope", scope="mcp tools:call", resource_metadata="https://gw/.well-known/oauth-protected-resource/mcp""#
        );
        assert_eq!(challenge(None, None, &[]), "Bearer");
        assert_eq!(
            challenge(None, Some("invalid_token"), &[]),
            r#"Bearer error="invalid_token""#
        );
        assert!(is_metadata_path(WELL_KNOWN, "/mcp"));
        assert!(is_metadata_path(
            "/.well-known/oauth-protected-resource/mcp",
            "/mcp"
        ));
        assert!(!is_metadata_path(
            "/.well-known/oauth-protected-resource/other",
            "/mcp"
        ));
    }
}
