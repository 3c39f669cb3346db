//! What a message on the fleet's subjects is: a plantgw batch (line
//! protocol with its `Nats-Msg-Id`), or something else that happens to be
//! published there, which is acked and counted, never written.
use std::time::Duration;

use async_nats::HeaderMap;

#[derive(Debug, PartialEq, Eq)]
pub enum Kind<'a> {
    Batch(&'a [u8]),
    Foreign(&'static str),
}

pub fn classify<'a>(headers: Option<&HeaderMap>, payload: &'a [u8]) -> Kind<'a> {
    let has_id = headers
        .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
        .is_some();
    if !has_id {
        return Kind::Foreign("no Nats-Msg-Id header");
    }
    let Ok(text) = std::str::from_utf8(payload) else {
        return Kind::Foreign("payload is not UTF-8");
    };
    // Every plantgw line is `measurement[,tags] fields timestamp`.
    let looks_like_lines = !text.trim().is_empty()
        && text.lines().filter(|l| !l.is_empty()).all(|l| {
            l.split(' ').count() >= 3
                && l.rsplit(' ')
                    .next()
                    .is_some_and(|t| t.parse::<i64>().is_ok())
        });
    if !looks_like_lines {
        return Kind::Foreign("payload is not line protocol with timestamps");
    }
    Kind::Batch(payload)
}

/// How old the newest point of a batch is (timestamps in ms), for the
/// relay's end-to-end lag gauge.
pub fn age_of_newest(body: &[u8]) -> Option<Duration> {
    let text = std::str::from_utf8(body).ok()?;
    let newest = text
        .lines()
        .filter_map(|l| l.rsplit(' ').next()?.parse::<i64>().ok())
        .max()?;
    let now = jiff::Timestamp::now().as_millisecond();
    u64::try_from(now - newest).ok().map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_id_carrying_line_protocol_is_a_batch() {
        let mut h = HeaderMap::new();
        h.insert(async_nats::header::NATS_MESSAGE_ID, "gw1-7");
        let lp = b"mill,plc=a v=1i 1700000000000\n";
        assert_eq!(classify(Some(&h), lp), Kind::Batch(lp));
        assert!(matches!(classify(None, lp), Kind::Foreign(_)));
        assert!(matches!(classify(Some(&h), b"hello"), Kind::Foreign(_)));
        assert!(matches!(
            classify(Some(&h), &[0xff, 0xfe]),
            Kind::Foreign(_)
        ));
        assert!(matches!(classify(Some(&h), b""), Kind::Foreign(_)));
    }
}
