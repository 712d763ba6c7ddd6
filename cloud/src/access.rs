//! Viewer access control: HTTP Basic authentication on every route but the health probes.
//!
//! Browsers send Basic credentials with every request of the page (images, event streams), so
//! the viewer works unchanged behind it. Use it with TLS: Basic sends the password in clear.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::{Deserialize, Serialize};

/// HTTP Basic authentication of the viewer and API (`[http.auth]`; `/healthz` and `/readyz`
/// stay open).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// The viewer account's name; empty means no authentication.
    pub username: String,
    /// Its password (a secret: masked when printed). Prefer `password_file` or the
    /// POSE_CLOUD_VIEWER_PASSWORD environment variable.
    pub password: String,
    /// A file whose content (without the final newline) is the password.
    pub password_file: Option<PathBuf>,
    /// Serve without authentication on a non-loopback address (only behind a proxy that
    /// authenticates). Off by default: the service refuses to start instead.
    pub allow_anonymous: bool,
}

/// Why the configured credentials cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cannot read http.auth.password_file {}: {source}", path.display())]
    PasswordFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "http.auth.username is set but the password is empty (set http.auth.password_file or \
         POSE_CLOUD_VIEWER_PASSWORD)"
    )]
    NoPassword,
}

impl AuthConfig {
    /// The viewer credentials, reading the password file if one is named; None without a
    /// username.
    pub fn credentials(&self) -> Result<Option<Credentials>, AuthError> {
        if self.username.is_empty() {
            return Ok(None);
        }
        let password = match &self.password_file {
            Some(path) if self.password.is_empty() => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| AuthError::PasswordFile {
                        path: path.clone(),
                        source,
                    })?;
                text.strip_suffix('\n').unwrap_or(&text).to_owned()
            }
            _ => self.password.clone(),
        };
        if password.is_empty() {
            return Err(AuthError::NoPassword);
        }
        Ok(Some(Credentials::new(self.username.clone(), password)))
    }
}

/// The one account allowed to view.
#[derive(Clone)]
pub struct Credentials {
    username: String,
    password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({:?}, ***)", self.username)
    }
}

impl Credentials {
    /// Empty usernames or passwords are refused by the configuration, not here.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
        }
    }

    /// Whether the request's `Authorization` header carries these credentials.
    pub fn admits(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return false;
        };
        let Ok(value) = value.to_str() else {
            return false;
        };
        let Some((scheme, encoded)) = value.split_once(' ') else {
            return false;
        };
        if !scheme.eq_ignore_ascii_case("basic") {
            return false;
        }
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
            return false;
        };
        let Some(colon) = decoded.iter().position(|&b| b == b':') else {
            return false;
        };
        let (user, pass) = (&decoded[..colon], &decoded[colon + 1..]);
        // Both comparisons always run, so the timing does not tell which part was wrong.
        let user_ok = constant_time_eq(user, self.username.as_bytes());
        let pass_ok = constant_time_eq(pass, self.password.as_bytes());
        user_ok & pass_ok
    }
}

/// Equality whose time depends only on the lengths, not on where the bytes differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() != b.len()) as u8;
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= x ^ y;
    }
    diff == 0
}

/// Middleware: lets the request through with the right credentials, answers 401 otherwise.
pub async fn require(
    State(creds): State<Arc<Credentials>>,
    request: Request,
    next: Next,
) -> Response {
    if creds.admits(request.headers()) {
        next.run(request).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                "Basic realm=\"posestream\", charset=\"UTF-8\"",
            )],
            "authentication required\n",
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_auth(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, value.parse().unwrap());
        h
    }

    fn basic(user_pass: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_pass)
        )
    }

    #[test]
    fn admits_only_the_right_pair() {
        let c = Credentials::new("viewer", "pa:ss");
        assert!(c.admits(&with_auth(&basic("viewer:pa:ss"))));
        assert!(c.admits(&with_auth(&basic("viewer:pa:ss").replace("Basic", "basic"))));
        for wrong in [
            "viewer:pa:s",
            "viewer:pa:sss",
            "viewe:pa:ss",
            "viewer",
            ":",
            "",
        ] {
            assert!(!c.admits(&with_auth(&basic(wrong))), "{wrong}");
        }
        assert!(!c.admits(&HeaderMap::new()));
        assert!(!c.admits(&with_auth("Bearer abc")));
        assert!(!c.admits(&with_auth("Basic !!!not-base64")));
        assert!(!format!("{c:?}").contains("pa:ss"));
    }

    #[test]
    fn constant_time_eq_is_eq() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"ab\0", b"ab"));
    }
}
