//! Reading a configuration file one `[[plc]]` at a time.
//!
//! The toml crate builds a spanned tree of the whole document, and a token
//! list, before it fills the structs: for a 100 000-tag file (11 MB) that
//! is over 300 MB for a moment, far above what the gateway then keeps. So
//! the file is cut at its top-level table headers: every `[[plc]]` with the
//! `plc.*` tables under it is one piece, parsed on its own; everything else
//! is the head, parsed as the file without the pieces. The peak is one
//! PLC's tree.
//!
//! The head leaves the pieces out rather than blanking their lines: the
//! lexer makes a token of every empty line, and a 100 000-tag file's head
//! of a million newlines took 40 MB to parse, more than all the pieces.
//! Its line numbers are therefore not the file's; no error is reported
//! against it (a head that does not parse sends the caller to the whole
//! file too).
//!
//! A cut in the wrong place (a line inside a multi-line string or array that
//! looks like a header) leaves a construct open in the piece before it,
//! which then fails to parse; any piece that fails sends the caller back to
//! parsing the whole file, which gives the exact error or the right answer.
use serde::Deserialize;

use super::raw::{PlcConfig, RawConfig};

/// The file split for parsing.
pub(super) struct Pieces<'a> {
    /// The file without its PLC pieces: every other section.
    pub head: String,
    /// Each `[[plc]]` with its sub-tables, in file order.
    pub plcs: Vec<&'a str>,
}

/// What a line is, for the cut.
#[derive(Debug, PartialEq)]
enum Line {
    /// `[[plc]]`: a new PLC begins.
    NewPlc,
    /// `[plc.…]` or `[[plc.…]]`: part of the current PLC.
    UnderPlc,
    /// Any other table header.
    Other,
    /// Not a table header.
    Body,
}

fn classify(line: &str) -> Line {
    let t = line.trim_start();
    let (array, rest) = match (t.strip_prefix("[["), t.strip_prefix('[')) {
        (Some(r), _) => (true, r),
        (None, Some(r)) => (false, r),
        (None, None) => return Line::Body,
    };
    let close = if array { "]]" } else { "]" };
    let Some(end) = rest.find(close) else {
        return Line::Body;
    };
    let name: String = rest[..end].chars().filter(|c| !c.is_whitespace()).collect();
    // A header names bare keys; `[1, 2],` inside an array value does not.
    let bare = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !bare {
        return Line::Body;
    }
    match name.as_str() {
        "plc" if array => Line::NewPlc,
        n if n.starts_with("plc.") => Line::UnderPlc,
        _ => Line::Other,
    }
}

pub(super) fn split(text: &str) -> Pieces<'_> {
    let mut head = String::with_capacity(text.len().min(1 << 16));
    let mut plcs = Vec::new();
    // Byte offset where the current PLC piece began.
    let mut open: Option<usize> = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        match classify(line) {
            Line::NewPlc => {
                if let Some(start) = open {
                    plcs.push(&text[start..offset]);
                }
                open = Some(offset);
            }
            Line::Other => {
                if let Some(start) = open.take() {
                    plcs.push(&text[start..offset]);
                }
            }
            Line::UnderPlc | Line::Body => {}
        }
        if open.is_none() {
            head.push_str(line);
        }
        offset += line.len();
    }
    if let Some(start) = open {
        plcs.push(&text[start..]);
    }
    Pieces { head, plcs }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlcPiece {
    plc: Vec<PlcConfig>,
}

impl Pieces<'_> {
    /// The configuration, or `None` when a piece does not parse on its own
    /// (then the whole file must be parsed, for the answer or the error).
    pub fn parse(&self) -> Option<RawConfig> {
        let mut raw = toml::from_str::<RawConfig>(&self.head).ok()?;
        if !raw.plc.is_empty() {
            return None;
        }
        raw.plc.reserve_exact(self.plcs.len());
        for piece in &self.plcs {
            let mut p = toml::from_str::<PlcPiece>(piece).ok()?;
            if p.plc.len() != 1 {
                return None;
            }
            raw.plc.append(&mut p.plc);
        }
        Some(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"[site]
name = "caylloma"

[influxdb]
url = "http://127.0.0.1:8086"
api = "v1"
database = "plant"

[[plc]]
name = "crushing"
area = "crushing"
address = "127.0.0.1:5020"

[[ plc.tag ]]
name = "feed_tph"
equipment = "belt"
table = "holding"
address = 0
type = "f32"

[[plc]]
name = "grinding"
area = "grinding"
address = "127.0.0.1:5021"

[[plc.tag]]
name = "mill_kw"
equipment = "mill"
table = "input"
address = 4
type = "u16"
description = """
[[plc]]
not a header: inside a string
"""

[spool]
dir = "/tmp/spool"
"#;

    #[test]
    fn headers_are_told_from_look_alikes() {
        assert_eq!(classify("[[plc]]\n"), Line::NewPlc);
        assert_eq!(classify("  [[ plc ]]  # pump house\n"), Line::NewPlc);
        assert_eq!(classify("[[plc.tag]]\n"), Line::UnderPlc);
        assert_eq!(classify("[kpi.reconcile]\n"), Line::Other);
        assert_eq!(classify("[plc]\n"), Line::Other);
        assert_eq!(classify("  [1, 2],\n"), Line::Body);
        assert_eq!(classify("name = \"[[plc]]\"\n"), Line::Body);
    }

    #[test]
    fn the_head_keeps_every_other_section_and_the_pieces_every_plc_in_order() {
        let p = split(FILE);
        assert!(p.head.contains("[site]\nname = \"caylloma\""));
        assert!(p.head.contains("[spool]"));
        // Nothing of the pieces, not even their empty lines.
        assert_eq!(p.head.lines().count(), 10);
        assert!(!p.head.contains("crushing"));
        // The string that looks like a header cut the grinding PLC in two:
        // the piece before it does not parse, so the whole file is needed.
        assert_eq!(p.plcs.len(), 3);
        assert!(p.parse().is_none());
        let whole: RawConfig = toml::from_str(FILE).unwrap();
        assert_eq!(whole.plc.len(), 2);
    }

    #[test]
    fn a_plain_file_parses_piecewise_to_what_the_whole_parse_gives() {
        let file = FILE.replace("\n[[plc]]\nnot a header", "\nnot a header");
        let p = split(&file);
        assert_eq!(p.plcs.len(), 2);
        let pieces = p.parse().expect("parses piecewise");
        let whole: RawConfig = toml::from_str(&file).unwrap();
        assert_eq!(format!("{pieces:?}"), format!("{whole:?}"));
    }
}
