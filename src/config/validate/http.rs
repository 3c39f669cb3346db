//! `[http]`: the `/metrics` and `/healthz` listener.
use std::net::SocketAddr;

use super::Issues;
use crate::config::raw::HttpConfig;

/// `None` both when the listener is disabled (`listen = ""`) and when the
/// address is bad; only the latter adds an issue.
pub(super) fn validate(c: &HttpConfig, issues: &mut Issues) -> Option<SocketAddr> {
    if c.listen.is_empty() {
        return None;
    }
    match c.listen.parse() {
        Ok(a) => Some(a),
        Err(_) => {
            issues.add("http.listen", format!("{:?} is not ip:port", c.listen));
            None
        }
    }
}
