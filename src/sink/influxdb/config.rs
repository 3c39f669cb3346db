//! Setting up the connection to InfluxDB: endpoint URLs, the HTTP client
//! (TLS, timeouts, no redirects) and credentials, shared by writes
//! ([`super::client`]) and reads ([`super::query`]).
use std::fmt;
use std::time::Duration;

use reqwest::header::{HeaderValue, AUTHORIZATION};
use reqwest::{RequestBuilder, Url};

use super::SetupError;
use crate::config::{Influx, InfluxTarget, Secret};

/// The whole body, or an error when it fails or exceeds `max` bytes.
pub(crate) async fn read_body(mut resp: reqwest::Response, max: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if out.len() + chunk.len() > max {
                    return Err(format!("response larger than {max} bytes"));
                }
                out.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(out),
            Err(e) => return Err(describe(e)),
        }
    }
}

/// A reqwest error as one line, without the URL, with its causes (the
/// useful part, e.g. "Connection refused", is usually a source).
pub(crate) fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut s = if e.is_timeout() {
        format!("timed out ({e})")
    } else {
        e.to_string()
    };
    let mut src = std::error::Error::source(&e);
    while let Some(cause) = src {
        let m = cause.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        src = cause.source();
    }
    s
}

/// `{base}{path}?k=v&…` with the values form-encoded.
pub(crate) fn endpoint(base: &str, path: &str, query: &[(&str, &str)]) -> Result<Url, SetupError> {
    let raw = format!("{}{path}", base.trim_end_matches('/'));
    let mut url = Url::parse(&raw).map_err(|e| SetupError::Url {
        url: base.to_string(),
        reason: e.to_string(),
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(SetupError::Url {
            url: base.to_string(),
            reason: format!("scheme {:?} is not http or https", url.scheme()),
        });
    }
    if !query.is_empty() {
        let mut q = url.query_pairs_mut();
        for (k, v) in query {
            q.append_pair(k, v);
        }
    }
    Ok(url)
}

/// The reqwest client shared by writes and queries: rustls with ring,
/// platform roots plus `ca_file`, no redirects (a redirected POST would
/// turn into a GET and lose the body), the configured timeout.
pub fn build_http(s: &Influx) -> Result<reqwest::Client, SetupError> {
    // Err means a provider is already installed (by us earlier, or by the
    // embedding program), which is just as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut b = reqwest::Client::builder()
        .tls_backend_rustls()
        .timeout(s.timeout)
        .connect_timeout(s.timeout.min(Duration::from_secs(10)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("plantgw/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = &s.ca_file {
        let pem = std::fs::read(path).map_err(|source| SetupError::CaFileRead {
            path: path.clone(),
            source,
        })?;
        let certs =
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| SetupError::CaFile {
                path: path.clone(),
                reason: describe(e),
            })?;
        if certs.is_empty() {
            return Err(SetupError::CaFile {
                path: path.clone(),
                reason: "no PEM certificate found".into(),
            });
        }
        b = b.tls_certs_merge(certs);
    }
    b.build().map_err(|e| SetupError::Http(describe(e)))
}

/// Shortest secret scrubbed from server messages.
const MIN_REDACTED: usize = 4;

/// Credentials, applied per request. `Debug` shows only which kind.
pub(crate) enum Auth {
    None,
    /// Prebuilt `Token …` header, marked sensitive.
    Token(HeaderValue, Secret),
    Basic {
        username: String,
        password: Option<Secret>,
    },
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Token(..) => f.write_str("Token(***)"),
            Auth::Basic { username, .. } => write!(f, "Basic({username:?}, ***)"),
        }
    }
}

impl Auth {
    pub(crate) fn from_target(t: &InfluxTarget) -> Result<Self, SetupError> {
        Ok(match t {
            InfluxTarget::V2 { token, .. } if token.is_empty() => Auth::None,
            InfluxTarget::V2 { token, .. } => {
                let mut v = HeaderValue::from_str(&format!("Token {}", token.expose()))
                    .map_err(|_| SetupError::InvalidToken)?;
                v.set_sensitive(true);
                Auth::Token(v, token.clone())
            }
            InfluxTarget::V1 {
                username: Some(u),
                password,
                ..
            } => Auth::Basic {
                username: u.clone(),
                password: password.clone(),
            },
            InfluxTarget::V1 { .. } => Auth::None,
        })
    }

    pub(crate) fn apply(&self, rb: RequestBuilder) -> RequestBuilder {
        match self {
            Auth::None => rb,
            Auth::Token(h, _) => rb.header(AUTHORIZATION, h.clone()),
            Auth::Basic { username, password } => {
                rb.basic_auth(username, password.as_ref().map(Secret::expose))
            }
        }
    }

    /// Replaces our secrets in text that came from elsewhere (a server can
    /// echo a header back in its error message).
    pub(crate) fn redact(&self, text: String) -> String {
        let secret = match self {
            Auth::Token(_, s) => Some(s),
            Auth::Basic { password, .. } => password.as_ref(),
            Auth::None => None,
        };
        match secret {
            // A secret of a few characters would turn every message into
            // asterisks, and is no secret worth the name anyway.
            Some(s) if s.expose().len() >= MIN_REDACTED && text.contains(s.expose()) => {
                text.replace(s.expose(), "***")
            }
            _ => text,
        }
    }
}
