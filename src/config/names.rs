//! InfluxDB naming rules, owned here once. Configuration validation applies
//! them so a bad name is reported at start-up, and the line-protocol encoder
//! applies the same functions at write time (it depends on config, never
//! the other way round).
//!
//! Why each rule exists, since InfluxDB would otherwise reject a whole batch
//! or silently lose a line:
//! - a measurement may not start with `#` (the line would be read as a
//!   comment and vanish without an error);
//! - names may not contain a line break (a batch is split on newlines);
//! - names may not end with a backslash (InfluxDB cannot parse that);
//! - `time`, `_measurement` and `_field` are not usable as tag or field keys;
//! - configured names are also refused when empty, starting with `_`
//!   (reserved by InfluxDB) or carrying control characters.

/// Why a name cannot be written to InfluxDB.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("measurement name is empty")]
    EmptyMeasurement,
    #[error("measurement {0:?} starts with '#', which InfluxDB reads as a comment line")]
    CommentMeasurement(String),
    #[error("{kind} {name:?} contains a line break")]
    LineBreak { kind: &'static str, name: String },
    #[error("{kind} {name:?} ends with a backslash, which line protocol cannot represent")]
    TrailingBackslash { kind: &'static str, name: String },
    #[error("measurement {measurement:?}: a {kind} key is empty")]
    EmptyKey {
        measurement: String,
        kind: &'static str,
    },
    #[error("measurement {measurement:?}: {kind} key {key:?} is reserved by InfluxDB")]
    ReservedKey {
        measurement: String,
        kind: &'static str,
        key: String,
    },
    // The three below come from `check_configured` and are reported under
    // the config key they concern, so they name the value but not the kind.
    #[error("must not be empty")]
    Blank,
    #[error("{0:?}: names starting with '_' are reserved by InfluxDB")]
    Underscore(String),
    #[error("{0:?} contains control characters")]
    ControlCharacters(String),
}

/// Keys InfluxDB refuses as tag or field keys (1.x rejects `time`, 2.x the
/// underscore names it uses for its own columns).
const RESERVED_KEYS: [&str; 3] = ["time", "_measurement", "_field"];

/// Checks a measurement name.
pub fn check_measurement(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::EmptyMeasurement);
    }
    if name.starts_with('#') {
        return Err(NameError::CommentMeasurement(name.to_string()));
    }
    check_token("measurement", name)
}

/// Checks a tag or field key (`kind` is "tag" or "field").
pub fn check_key(measurement: &str, kind: &'static str, key: &str) -> Result<(), NameError> {
    if key.is_empty() {
        return Err(NameError::EmptyKey {
            measurement: measurement.to_string(),
            kind,
        });
    }
    if RESERVED_KEYS.contains(&key) {
        return Err(NameError::ReservedKey {
            measurement: measurement.to_string(),
            kind,
            key: key.to_string(),
        });
    }
    check_token(
        if kind == "tag" {
            "tag key"
        } else {
            "field key"
        },
        key,
    )
}

/// Checks a tag value (empty ones are allowed: they are omitted).
pub fn check_tag_value(value: &str) -> Result<(), NameError> {
    check_token("tag value", value)
}

/// The stricter rule for names a user configures (site, PLC, area,
/// equipment, tag): they become measurements, fields and tag values, and a
/// blank, `_`-prefixed or control-character name is a mistake even where
/// line protocol could carry it.
pub fn check_configured(v: &str) -> Result<(), NameError> {
    if v.trim().is_empty() {
        Err(NameError::Blank)
    } else if v.starts_with('_') {
        Err(NameError::Underscore(v.to_string()))
    } else if v.chars().any(|c| c.is_control()) {
        Err(NameError::ControlCharacters(v.to_string()))
    } else {
        Ok(())
    }
}

/// Line breaks would split the line; a trailing backslash would escape the
/// separator after it (InfluxDB's parsers refuse it even when escaped).
fn check_token(kind: &'static str, s: &str) -> Result<(), NameError> {
    if s.bytes().any(|b| b == b'\n' || b == b'\r') {
        return Err(NameError::LineBreak {
            kind,
            name: s.to_string(),
        });
    }
    if s.ends_with('\\') {
        return Err(NameError::TrailingBackslash {
            kind,
            name: s.to_string(),
        });
    }
    Ok(())
}
