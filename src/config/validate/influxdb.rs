//! `[influxdb]`: where points go and how they are batched. The target
//! (v1 database or v2 bucket, with its credentials) is [`super::influxdb_target`].
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{influxdb_target, resolve, Issues};
use crate::config::raw::InfluxConfig;
use crate::config::settings::Influx;

pub(super) fn validate(c: &InfluxConfig, base: &Path, issues: &mut Issues) -> Option<Influx> {
    let before = issues.len();
    let url = c.url.trim_end_matches('/').to_string();
    let plain_remote = check_url(&url, issues);
    check_limits(c, issues);
    let ca_file = ca_file(c, base, issues);
    let target = influxdb_target::validate(c, base, plain_remote, issues);
    if issues.len() > before {
        return None;
    }
    Some(Influx {
        url,
        target: target?,
        batch_size: c.batch_size,
        flush_interval: Duration::from_millis(c.flush_interval_ms),
        timeout: Duration::from_millis(c.timeout_ms),
        gzip: c.gzip,
        ca_file,
    })
}

/// Checks the URL; answers whether it is plain http to a host other than
/// this one, where credentials would cross the network in the clear.
fn check_url(url: &str, issues: &mut Issues) -> bool {
    match reqwest::Url::parse(url) {
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {
            if u.host_str().is_none() {
                issues.add(
                    "influxdb.url",
                    format!("{:?} has no host", without_userinfo(url)),
                );
            }
            if u.query().is_some() || !u.username().is_empty() || u.password().is_some() {
                issues.add(
                    "influxdb.url",
                    "put credentials in token/username/password, not in the URL",
                );
            }
            u.scheme() == "http" && !u.host_str().map(host_is_loopback).unwrap_or(true)
        }
        Ok(u) => {
            issues.add(
                "influxdb.url",
                format!("scheme {:?} is not http or https", u.scheme()),
            );
            false
        }
        Err(e) => {
            issues.add(
                "influxdb.url",
                format!("{:?} is not a URL: {e}", without_userinfo(url)),
            );
            false
        }
    }
}

fn check_limits(c: &InfluxConfig, issues: &mut Issues) {
    if c.batch_size == 0 || c.batch_size > 1_000_000 {
        issues.add("influxdb.batch_size", "must be between 1 and 1000000 lines");
    }
    if c.flush_interval_ms == 0 {
        issues.add("influxdb.flush_interval_ms", "must be > 0");
    }
    if c.timeout_ms == 0 {
        issues.add("influxdb.timeout_ms", "must be > 0");
    }
}

fn ca_file(c: &InfluxConfig, base: &Path, issues: &mut Issues) -> Option<PathBuf> {
    let ca_file = c.ca_file.as_ref().map(|p| resolve(base, p));
    if let Some(p) = &ca_file {
        if !p.is_file() {
            issues.add(
                "influxdb.ca_file",
                format!("{} does not exist", p.display()),
            );
        }
    }
    ca_file
}

fn host_is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

/// `url` with any `user:password@` replaced by `***@`, for messages.
fn without_userinfo(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let sep = if scheme.is_empty() { "" } else { "://" };
            format!("{scheme}{sep}***{}", &rest[at..])
        }
        None => url.to_string(),
    }
}
