//! `[influxdb]` target: a v2 org/bucket/token or a v1 database with
//! optional basic auth, each refusing the other API's keys so a half-edited
//! config fails instead of writing somewhere unexpected.
use std::path::{Path, PathBuf};

use super::{resolve, Issues};
use crate::config::raw::{InfluxApi, InfluxConfig};
use crate::config::secret::Secret;
use crate::config::settings::InfluxTarget;

/// `plain_remote`: the URL is plain http to another host, where a
/// credential is refused unless `allow_insecure` is set.
pub(super) fn validate(
    c: &InfluxConfig,
    base: &Path,
    plain_remote: bool,
    issues: &mut Issues,
) -> Option<InfluxTarget> {
    match c.api {
        InfluxApi::V2 => v2(c, base, plain_remote, issues),
        InfluxApi::V1 => v1(c, base, plain_remote, issues),
    }
}

fn v2(
    c: &InfluxConfig,
    base: &Path,
    plain_remote: bool,
    issues: &mut Issues,
) -> Option<InfluxTarget> {
    for (k, v) in [
        ("database", &c.database),
        ("retention_policy", &c.retention_policy),
        ("username", &c.username),
    ] {
        if v.is_some() {
            issues.add(
                format!("influxdb.{k}"),
                "is a v1 key; api = \"v2\" uses org, bucket and token",
            );
        }
    }
    let org = c.org.clone().filter(|s| !s.is_empty());
    let bucket = c.bucket.clone().filter(|s| !s.is_empty());
    if org.is_none() {
        issues.add("influxdb.org", "required for api = \"v2\"");
    }
    if bucket.is_none() {
        issues.add("influxdb.bucket", "required for api = \"v2\"");
    }
    let token = secret_from(issues, "token", &c.token, &c.token_file, base);
    if token.is_none() && c.token_file.is_none() {
        issues.add(
            "influxdb.token",
            "required for api = \"v2\" (or token_file, or env PLANTGW_INFLUXDB__TOKEN)",
        );
    }
    if plain_remote && token.is_some() && !c.allow_insecure {
        issues.add(
            "influxdb.url",
            "refusing to send the token over plain http to a non-loopback host; use https or set allow_insecure = true",
        );
    }
    match (org, bucket, token) {
        (Some(org), Some(bucket), Some(token)) => Some(InfluxTarget::V2 { org, bucket, token }),
        _ => None,
    }
}

fn v1(
    c: &InfluxConfig,
    base: &Path,
    plain_remote: bool,
    issues: &mut Issues,
) -> Option<InfluxTarget> {
    for (k, v) in [("org", &c.org), ("bucket", &c.bucket)] {
        if v.is_some() {
            issues.add(
                format!("influxdb.{k}"),
                "is a v2 key; api = \"v1\" uses database and retention_policy",
            );
        }
    }
    if c.token.is_some() || c.token_file.is_some() {
        issues.add(
            "influxdb.token",
            "is a v2 key; api = \"v1\" uses username and password",
        );
    }
    let database = c.database.clone().filter(|s| !s.is_empty());
    if database.is_none() {
        issues.add("influxdb.database", "required for api = \"v1\"");
    }
    let password = secret_from(issues, "password", &c.password, &c.password_file, base);
    if password.is_some() && c.username.is_none() {
        issues.add(
            "influxdb.username",
            "a password was given without a username",
        );
    }
    if plain_remote && password.is_some() && !c.allow_insecure {
        issues.add(
            "influxdb.url",
            "refusing to send the password over plain http to a non-loopback host; use https or set allow_insecure = true",
        );
    }
    database.map(|database| InfluxTarget::V1 {
        database,
        retention_policy: c.retention_policy.clone().filter(|s| !s.is_empty()),
        username: c.username.clone(),
        password,
    })
}

/// One secret from either an inline value (or env override) or a file.
fn secret_from(
    issues: &mut Issues,
    key: &str,
    inline: &Option<Secret>,
    file: &Option<PathBuf>,
    base: &Path,
) -> Option<Secret> {
    let inline = inline.as_ref().filter(|s| !s.is_empty());
    match (inline, file) {
        (Some(_), Some(_)) => {
            issues.add(
                format!("influxdb.{key}_file"),
                format!("give either {key} or {key}_file, not both"),
            );
            None
        }
        (Some(s), None) => Some(s.clone()),
        (None, Some(f)) => {
            read_secret_file(issues, &format!("influxdb.{key}_file"), &resolve(base, f))
        }
        (None, None) => None,
    }
}

/// The file's content is trimmed (a trailing newline is not part of the
/// secret) and never appears in a message.
pub(super) fn read_secret_file(issues: &mut Issues, key: &str, path: &Path) -> Option<Secret> {
    match std::fs::read_to_string(path) {
        Ok(s) => {
            let t = s.trim();
            if t.is_empty() {
                issues.add(key, format!("{} is empty", path.display()));
                None
            } else {
                Some(Secret::new(t))
            }
        }
        Err(e) => {
            issues.add(key, format!("cannot read {}: {e}", path.display()));
            None
        }
    }
}
