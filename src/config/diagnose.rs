//! Parser errors made safe to print. The toml crate's own message quotes the
//! offending line and serde's quote the offending value, which for
//! `pasword = "…"` or `token = 123` is a secret on stderr or in the journal.
//! Here an error becomes line, column, key and a reason that never holds the
//! value of a secret-ish or unknown key.
use std::ops::Range;

/// One parser error, located in the file and stripped of secret values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    /// 1-based line and column (characters), when the parser knows them.
    pub at: Option<(usize, usize)>,
    /// Dotted path (`plc[0].tag[2].address`), when it can be told.
    pub key: Option<String>,
    pub reason: String,
}

/// Keys whose value is a credential: never printed, even when mistyped.
pub fn is_secret_key(key: &str) -> bool {
    let last = key.rsplit('.').next().unwrap_or(key).to_ascii_lowercase();
    [
        "token",
        "password",
        "passwd",
        "secret",
        "creds",
        "credential",
    ]
    .iter()
    .any(|s| last.contains(s))
        && !last.ends_with("_file")
}

/// A toml error on the file `text`.
pub fn toml_error(text: &str, e: &toml::de::Error) -> Diagnosis {
    let span = e.span();
    let at = span.as_ref().map(|s| line_col(text, s.start));
    let key = match &span {
        Some(s) => match toml::de::DeTable::parse(text) {
            // The document parses: the error is the schema's, and the span
            // points at a key or a value of the tree.
            Ok(root) => key_at(root.get_ref(), s),
            // A syntax error: only the line's own text tells the key.
            Err(_) => at.and_then(|(line, _)| key_on_line(text, line)),
        },
        None => None,
    };
    Diagnosis {
        at,
        reason: reason(e.message(), key.as_deref()),
        key,
    }
}

/// An error of the layered loader, which only the environment overrides can
/// cause once the file alone has parsed: the variable (one of `vars`) when it
/// can be told, and the safe reason.
pub fn env_error(
    e: &config::ConfigError,
    vars: &[String],
) -> (Option<String>, Option<String>, String) {
    let (key, reason) = match e {
        config::ConfigError::Type {
            unexpected,
            expected,
            key,
            ..
        } => {
            let found = unexpected.to_string();
            let found = if key.as_deref().is_none_or(is_secret_key) {
                without_values(&found)
            } else {
                found
            };
            (
                key.clone(),
                format!("invalid type: {found}, expected {expected}"),
            )
        }
        config::ConfigError::At { error, key, .. } => {
            let (_, inner_key, inner) = env_error(error, vars);
            let key = match (key, inner_key) {
                (Some(k), Some(i)) => Some(format!("{k}.{i}")),
                (k, i) => k.clone().or(i),
            };
            (key, inner)
        }
        config::ConfigError::NotFound(key) => (Some(key.clone()), "missing".to_string()),
        // The file alone has parsed by now; the cause would quote its text.
        config::ConfigError::FileParse { .. } => (None, "the file cannot be parsed".to_string()),
        other => {
            let msg = other.to_string();
            (unknown_name(&msg).map(str::to_string), reason(&msg, None))
        }
    };
    let var = key
        .as_deref()
        .map(|k| format!("PLANTGW_{}", k.replace('.', "__").to_ascii_uppercase()))
        .filter(|v| vars.contains(v))
        .or_else(|| unknown_var(e, vars));
    (var, key, reason)
}

/// The variable that names the unknown key of an "unknown field" error.
fn unknown_var(e: &config::ConfigError, vars: &[String]) -> Option<String> {
    let msg = e.to_string();
    let name = unknown_name(&msg)?;
    vars.iter()
        .find(|v| {
            v.rsplit("__")
                .next()
                .is_some_and(|last| last.eq_ignore_ascii_case(name))
        })
        .cloned()
}

/// `x` of serde's "unknown field `x`, …".
fn unknown_name(message: &str) -> Option<&str> {
    message.split_once("unknown field `")?.1.split('`').next()
}

/// The safe reason for `message` about `key`.
pub fn reason(message: &str, key: Option<&str>) -> String {
    let message = message.trim();
    if let Some(r) = unknown_key_reason(message) {
        return r;
    }
    // An unknown key's path is that of the first unknown segment, but its
    // value may still be something nested below it.
    if key.is_none_or(is_secret_key) {
        return without_values(message);
    }
    message.to_string()
}

/// serde's "unknown field `x`, expected one of `a`, `b`" as an unknown key
/// with the nearest valid name, or None for any other message.
fn unknown_key_reason(message: &str) -> Option<String> {
    let rest = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("unknown field: `"))?;
    let (name, rest) = rest.split_once('`')?;
    let expected: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
    Some(match did_you_mean(name, &expected) {
        Some(near) => format!("unknown key (did you mean `{near}`?)"),
        None if expected.is_empty() => "unknown key (no keys are allowed here)".to_string(),
        None => format!("unknown key (valid keys here: {})", expected.join(", ")),
    })
}

/// The candidate closest to `name`, if it is close enough to be a typo.
fn did_you_mean<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let name = name.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (edit_distance(&name, c), *c))
        .filter(|(d, c)| *d <= (c.len().max(name.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Optimal string alignment distance: a swapped pair of letters, the
/// commonest typo, counts as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// `message` with every quoted or back-quoted part before ", expected"
/// removed: serde puts the value found there (`string "s3cr3t"`,
/// `integer `123``) and the type wanted after it.
fn without_values(message: &str) -> String {
    let (found, expected) = match message.find(", expected") {
        Some(i) => message.split_at(i),
        None => (message, ""),
    };
    let mut out = String::with_capacity(found.len());
    let mut quote = None;
    for c in found.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '`' || c == '\'' => quote = Some(c),
            None => out.push(c),
        }
    }
    let found = out.split_whitespace().collect::<Vec<_>>().join(" ");
    format!("{found}{expected}")
}

/// 1-based line and column (in characters) of byte `offset`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    let column = before.get(line_start..).map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The deepest key whose name or value holds `span`'s start.
fn key_at(table: &toml::de::DeTable<'_>, span: &Range<usize>) -> Option<String> {
    let mut best = None;
    for (k, v) in table.iter() {
        let name = k.get_ref().as_ref();
        let here =
            k.span().contains(&span.start) || v.span().contains(&span.start) || v.span() == *span;
        // Tables opened by a header keep their body outside the value's
        // span, so look inside every table, not only one that contains it.
        if let Some(inner) = value_key_at(v.get_ref(), span) {
            return Some(join(name, &inner));
        }
        if here {
            best = Some(quote_key(name));
        }
    }
    best
}

fn value_key_at(v: &toml::de::DeValue<'_>, span: &Range<usize>) -> Option<String> {
    match v {
        toml::de::DeValue::Table(t) => key_at(t, span),
        toml::de::DeValue::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            match value_key_at(item.get_ref(), span) {
                Some(inner) => Some(format!("[{i}].{inner}")),
                None if item.span().contains(&span.start) || item.span() == *span => {
                    Some(format!("[{i}]"))
                }
                None => None,
            }
        }),
        _ => None,
    }
}

fn join(name: &str, inner: &str) -> String {
    let name = quote_key(name);
    if inner.starts_with('[') {
        format!("{name}{inner}")
    } else {
        format!("{name}.{inner}")
    }
}

fn quote_key(name: &str) -> String {
    if is_bare_key(name) {
        name.to_string()
    } else {
        format!("{name:?}")
    }
}

fn is_bare_key(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// For a syntax error on 1-based `line`: the key written there, under the
/// table header above it; inside a multi-line string, the key that opened
/// it. Only bare keys are named, so no part of a value can pass for a key.
fn key_on_line(text: &str, line: usize) -> Option<String> {
    let mut table: Option<String> = None;
    // Key of the multi-line string the scan is in, if any.
    let mut open: Option<Option<String>> = None;
    for (i, l) in text.lines().enumerate() {
        let t = l.trim();
        let key_here = || -> Option<String> {
            let k = dotted_bare(t.split_once('=')?.0)?;
            Some(match &table {
                Some(tb) => format!("{tb}.{k}"),
                None => k,
            })
        };
        if i + 1 == line {
            return match open {
                Some(key) => key,
                None => header_name(t).or_else(key_here),
            };
        }
        if (t.matches("\"\"\"").count() + t.matches("'''").count()) % 2 == 1 {
            open = match open {
                Some(_) => None,
                None => Some(key_here()),
            };
        } else if open.is_none() {
            if let Some(header) = header_name(t) {
                table = Some(header);
            }
        }
    }
    // At the end of the text: an unterminated multi-line string.
    open.flatten()
}

/// `[a.b]` or `[[a.b]]` → `a.b`, bare keys only.
fn header_name(line: &str) -> Option<String> {
    let inner = line.strip_prefix('[')?;
    let inner = inner.strip_prefix('[').unwrap_or(inner);
    let end = inner.find(']')?;
    dotted_bare(&inner[..end])
}

fn dotted_bare(s: &str) -> Option<String> {
    let parts: Vec<&str> = s.split('.').map(str::trim).collect();
    parts
        .iter()
        .all(|p| is_bare_key(p))
        .then(|| parts.join("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_of_secret_keys_are_dropped_expected_types_kept() {
        assert_eq!(
            reason(
                "invalid type: string \"hunter2\", expected u16",
                Some("influxdb.token")
            ),
            "invalid type: string, expected u16"
        );
        assert_eq!(
            reason(
                "invalid type: integer `123`, expected a string",
                Some("influxdb.password")
            ),
            "invalid type: integer, expected a string"
        );
        assert_eq!(
            reason(
                "unknown variant `f33`, expected one of `f32`",
                Some("plc[0].tag[0].type")
            ),
            "unknown variant `f33`, expected one of `f32`",
            "a non-secret value helps and stays"
        );
        assert!(!is_secret_key("influxdb.token_file"));
    }

    #[test]
    fn unknown_keys_get_the_nearest_valid_name() {
        let m = "unknown field `pasword`, expected one of `url`, `password`, `password_file`";
        assert_eq!(
            reason(m, Some("influxdb.pasword")),
            "unknown key (did you mean `password`?)"
        );
        let m = "unknown field `zzz`, expected `url` or `api`";
        assert_eq!(reason(m, None), "unknown key (valid keys here: url, api)");
    }

    #[test]
    fn keys_are_found_by_span_and_syntax_errors_by_line() {
        let text =
            "[site]\nname = \"a\"\n[[plc]]\nname = \"p\"\n[[plc]]\n[[plc.tag]]\naddress = \"x\"\n";
        let at = text.find("\"x\"").unwrap();
        let root = toml::de::DeTable::parse(text).unwrap();
        assert_eq!(
            key_at(root.get_ref(), &(at..at + 3)).as_deref(),
            Some("plc[1].tag[0].address")
        );
        assert_eq!(line_col(text, at), (7, 11));
        let broken = "[influxdb]\ntoken = \"abc\n";
        assert_eq!(key_on_line(broken, 2).as_deref(), Some("influxdb.token"));
        let multiline = "[a]\nb = \"\"\"\nc = d\n";
        assert_eq!(key_on_line(multiline, 3).as_deref(), Some("a.b"));
        assert_eq!(key_on_line(multiline, 4).as_deref(), Some("a.b"));
    }
}
