//! Logging set-up and the build's identity. Logs: human format, or JSON
//! lines for log shippers, level from `RUST_LOG` (default `info`). Colour
//! only when the log stream is a terminal, so a file, a pipe or the journal
//! get no escape codes; on the journal, lines without the timestamp it
//! already records, prefixed with the level journald understands.
use std::ffi::OsString;
use std::fmt;
use std::io::IsTerminal;

use tracing::{Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// The package version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git commit the binary was built from (`unknown` outside a checkout),
/// `-dirty` when its sources differed from that commit; set by build.rs.
pub const COMMIT: &str = env!("BUILD_COMMIT");
/// What `--version` prints after the program name.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("BUILD_COMMIT"),
    ")"
);

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable text.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

pub fn init(format: LogFormat) {
    let stderr = std::io::stderr();
    let ansi = colour(stderr.is_terminal(), std::env::var_os("NO_COLOR"));
    let journal =
        std::env::var_os("JOURNAL_STREAM").is_some_and(|var| journal_is(&var, stream_id(&stderr)));
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi && !journal);
    // try_init: a second call (tests, demo) keeps the first subscriber.
    let _ = match (format, journal) {
        // A log shipper reading JSON wants the event's own timestamp.
        (LogFormat::Json, _) => builder.json().flatten_event(true).try_init(),
        (LogFormat::Text, false) => builder.try_init(),
        (LogFormat::Text, true) => builder
            .event_format(JournalLine(
                tracing_subscriber::fmt::format().without_time(),
            ))
            .try_init(),
    };
}

/// Colour on a terminal unless the user opted out (<https://no-color.org>:
/// `NO_COLOR` set to anything but the empty string).
fn colour(is_terminal: bool, no_color: Option<OsString>) -> bool {
    is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// systemd sets `JOURNAL_STREAM=DEV:INODE` for the stream it connects to the
/// journal; a child whose stderr was redirected elsewhere inherits the
/// variable, so it counts only when it names our stderr.
fn journal_is(var: &OsString, stream: Option<(u64, u64)>) -> bool {
    let Some((dev, ino)) = var.to_str().and_then(|v| v.split_once(':')) else {
        return false;
    };
    match (dev.parse::<u64>(), ino.parse::<u64>(), stream) {
        (Ok(dev), Ok(ino), Some(s)) => s == (dev, ino),
        _ => false,
    }
}

#[cfg(unix)]
fn stream_id(stream: &std::io::Stderr) -> Option<(u64, u64)> {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let fd = stream.as_fd().try_clone_to_owned().ok()?;
    let meta = std::fs::File::from(fd).metadata().ok()?;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn stream_id(_: &std::io::Stderr) -> Option<(u64, u64)> {
    None
}

/// A text line with the sd-daemon(3) `<N>` priority prefix, which journald
/// strips and records as the entry's priority (so `journalctl -p warning`
/// finds the warnings).
struct JournalLine<F>(F);

impl<S, N, F> FormatEvent<S, N> for JournalLine<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> fmt::Result {
        write!(writer, "<{}>", priority(*event.metadata().level()))?;
        self.0.format_event(ctx, writer, event)
    }
}

fn priority(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour(true, None));
        assert!(colour(true, Some(OsString::new())));
        assert!(!colour(true, Some("1".into())));
        assert!(!colour(false, None));
    }

    #[test]
    fn journal_stream_counts_only_for_our_stream() {
        let var = OsString::from("64769:123456");
        assert!(journal_is(&var, Some((64769, 123456))));
        assert!(!journal_is(&var, Some((64769, 9))));
        assert!(!journal_is(&var, None));
        assert!(!journal_is(&"garbage".into(), Some((64769, 123456))));
    }
}
