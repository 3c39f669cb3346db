//! `[nats]`: the cluster, stream and credentials, for a gateway's sink
//! (`gateway_id`, `subject`) or a relay's source (`durable`, `filter_subject`).
use std::path::Path;
use std::time::Duration;

use super::influxdb_target::read_secret_file;
use super::{resolve, Issues};
use crate::config::raw_nats::NatsConfig;
use crate::config::settings_nats::{Nats, NatsAuth, NatsConn, RelayNats};

pub(super) fn validate_gateway(
    c: &NatsConfig,
    site: Option<&str>,
    base: &Path,
    issues: &mut Issues,
) -> Option<Nats> {
    let before = issues.len();
    let conn = conn(c, base, issues);
    let gateway_id = match c.gateway_id.as_deref() {
        None | Some("") => {
            issues.add(
                "nats.gateway_id",
                "required: unique per gateway, it prefixes every message id",
            );
            None
        }
        Some(id) if !is_token(id) => {
            issues.add(
                "nats.gateway_id",
                format!("{id:?}: use letters, digits, '-' and '_' only"),
            );
            None
        }
        Some(id) => Some(id.to_string()),
    };
    let subject = match (&c.subject, site, &gateway_id) {
        (Some(s), _, _) => Some(s.clone()),
        (None, Some(site), Some(id)) if is_token(site) => Some(format!("plant.{site}.{id}")),
        (None, Some(site), Some(_)) => {
            issues.add(
                "nats.subject",
                format!("required: the site name {site:?} cannot be a subject token"),
            );
            None
        }
        _ => None,
    };
    if let Some(s) = &subject {
        check_subject(issues, "nats.subject", s, false);
    }
    if issues.len() > before {
        return None;
    }
    Some(Nats {
        conn: conn?,
        subject: subject?,
        gateway_id: gateway_id?,
    })
}

pub(super) fn validate_relay(
    c: &NatsConfig,
    base: &Path,
    issues: &mut Issues,
) -> Option<RelayNats> {
    let before = issues.len();
    let conn = conn(c, base, issues);
    if !is_token(&c.durable) {
        issues.add(
            "nats.durable",
            format!("{:?}: use letters, digits, '-' and '_' only", c.durable),
        );
    }
    check_subject(issues, "nats.filter_subject", &c.filter_subject, true);
    if c.fetch_batch == 0 || c.fetch_batch > 10_000 {
        issues.add("nats.fetch_batch", "must be between 1 and 10000");
    }
    if c.ack_wait_ms < 1000 {
        issues.add("nats.ack_wait_ms", "must be at least 1000");
    }
    if c.subject.is_some() || c.gateway_id.is_some() {
        issues.add(
            "nats",
            "subject and gateway_id are a gateway's keys; a relay reads filter_subject",
        );
    }
    if issues.len() > before {
        return None;
    }
    Some(RelayNats {
        conn: conn?,
        durable: c.durable.clone(),
        filter_subject: c.filter_subject.clone(),
        fetch_batch: c.fetch_batch,
        ack_wait: Duration::from_millis(c.ack_wait_ms),
    })
}

fn conn(c: &NatsConfig, base: &Path, issues: &mut Issues) -> Option<NatsConn> {
    let before = issues.len();
    if c.servers.is_empty() {
        issues.add("nats.servers", "required: at least one nats://host:port");
    }
    for (i, s) in c.servers.iter().enumerate() {
        let ok = ["nats://", "tls://"].iter().any(|p| s.starts_with(p))
            && s.parse::<async_nats::ServerAddr>().is_ok();
        if !ok {
            issues.add(
                format!("nats.servers[{i}]"),
                format!("{s:?} is not nats://host:port or tls://host:port"),
            );
        } else if s.contains('@') {
            issues.add(
                format!("nats.servers[{i}]"),
                "put credentials in token or creds_file, not in the URL",
            );
        }
    }
    if c.stream.is_empty() || !is_token(&c.stream) {
        issues.add(
            "nats.stream",
            format!("{:?}: use letters, digits, '-' and '_' only", c.stream),
        );
    }
    if !(1..=5).contains(&c.replicas) {
        issues.add("nats.replicas", "must be between 1 and 5");
    }
    if c.timeout_ms == 0 {
        issues.add("nats.timeout_ms", "must be > 0");
    }
    let inline = c.token.as_ref().filter(|t| !t.is_empty());
    let auth = match (inline, &c.token_file, &c.creds_file) {
        (None, None, None) => NatsAuth::None,
        (Some(t), None, None) => NatsAuth::Token(t.clone()),
        (None, Some(f), None) => {
            match read_secret_file(issues, "nats.token_file", &resolve(base, f)) {
                Some(t) => NatsAuth::Token(t),
                None => NatsAuth::None,
            }
        }
        (None, None, Some(f)) => {
            let p = resolve(base, f);
            if let Err(e) = std::fs::metadata(&p) {
                issues.add("nats.creds_file", format!("{}: {e}", p.display()));
            }
            NatsAuth::Creds(p)
        }
        _ => {
            issues.add("nats.token", "give one of token, token_file or creds_file");
            NatsAuth::None
        }
    };
    let ca_file = c.ca_file.as_ref().map(|f| resolve(base, f));
    if let Some(p) = &ca_file {
        if let Err(e) = std::fs::metadata(p) {
            issues.add("nats.ca_file", format!("{}: {e}", p.display()));
        }
    }
    if issues.len() > before {
        return None;
    }
    Some(NatsConn {
        servers: c.servers.clone(),
        stream: c.stream.clone(),
        replicas: c.replicas,
        auth,
        ca_file,
        timeout: Duration::from_millis(c.timeout_ms),
    })
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Dot-separated non-empty tokens; `*` and a final `>` only where a filter
/// is meant.
fn check_subject(issues: &mut Issues, key: &str, s: &str, wildcards: bool) {
    let parts: Vec<&str> = s.split('.').collect();
    let last = parts.len() - 1;
    let ok = parts.iter().enumerate().all(|(i, t)| match *t {
        "*" => wildcards,
        ">" => wildcards && i == last,
        t => !t.is_empty() && !t.contains(|c: char| c.is_whitespace() || c == '*' || c == '>'),
    });
    if !ok {
        let what = if wildcards {
            "a subject filter"
        } else {
            "a subject without wildcards"
        };
        issues.add(
            key,
            format!("{s:?} is not {what} (tokens separated by '.')"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(extra: &str) -> NatsConfig {
        toml::from_str(&format!("servers = [\"nats://127.0.0.1:4222\"]\n{extra}")).unwrap()
    }

    #[test]
    fn gateway_defaults_and_subject() {
        let mut issues = Issues::default();
        let n = validate_gateway(
            &raw("gateway_id = \"gw1\"\ntoken = \"t0p-secret\""),
            Some("caylloma"),
            Path::new("."),
            &mut issues,
        )
        .unwrap();
        assert!(issues.0.is_empty());
        assert_eq!(n.subject, "plant.caylloma.gw1");
        assert_eq!((n.conn.stream.as_str(), n.conn.replicas), ("PLANT", 3));
        assert!(!format!("{n:?}").contains("t0p-secret"));
    }

    #[test]
    fn bad_keys_are_named() {
        let mut issues = Issues::default();
        let c = raw("stream = \"A.B\"\nreplicas = 7\nsubject = \"plant.*\"\ntoken = \"x\"\ncreds_file = \"c\"");
        assert!(validate_gateway(&c, Some("s"), Path::new("."), &mut issues).is_none());
        let keys: Vec<&str> = issues.0.iter().map(|i| i.key.as_str()).collect();
        for k in [
            "nats.gateway_id",
            "nats.stream",
            "nats.replicas",
            "nats.token",
        ] {
            assert!(keys.contains(&k), "{k} not in {keys:?}");
        }
        let mut issues = Issues::default();
        let c: NatsConfig =
            toml::from_str("servers = [\"http://x:1\"]\nfilter_subject = \"a.>.b\"").unwrap();
        assert!(validate_relay(&c, Path::new("."), &mut issues).is_none());
        let keys: Vec<&str> = issues.0.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["nats.servers[0]", "nats.filter_subject"]);
    }
}
