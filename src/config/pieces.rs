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
//! The file is read line by line and each piece parsed as soon as it ends,
//! for the caller to use (validate) and drop before the next: for 100 000
//! tags, neither the file's text (11 MB) nor the raw form of every PLC
//! (20 MB) is ever held.
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
use std::io::{self, BufRead};

use serde::Deserialize;

use super::raw::{PlcConfig, RawConfig};

/// The file's head: every section but the PLCs.
pub(super) struct Head {
    /// Parsed, with an empty `plc` list.
    pub raw: RawConfig,
    /// Its text, which environment overrides are layered over.
    pub text: String,
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

/// Reads a file one PLC at a time: each `[[plc]]` goes to `plc` as soon as
/// its piece is read and parsed, and only the head is kept, parsed at the
/// end. `None` when a piece or the head does not parse on its own (then
/// the whole file must be parsed, for the answer or the error); the PLCs
/// given to `plc` until then are not the file's.
pub(super) fn read(r: impl BufRead, mut plc: impl FnMut(PlcConfig)) -> io::Result<Option<Head>> {
    let head = cut(r, |piece| {
        let Ok(PlcPiece { plc: one }) = toml::from_str::<PlcPiece>(piece) else {
            return false;
        };
        let Ok([p]) = <[PlcConfig; 1]>::try_from(one) else {
            return false;
        };
        plc(p);
        true
    })?;
    let Some(text) = head else {
        return Ok(None);
    };
    Ok(match toml::from_str::<RawConfig>(&text) {
        Ok(raw) if raw.plc.is_empty() => Some(Head { raw, text }),
        _ => None,
    })
}

/// Cuts the file read from `r` at its top-level table headers: each PLC
/// piece goes to `piece` as soon as it ends, until `piece` answers false
/// (then `None`); the head's text is returned.
fn cut(mut r: impl BufRead, mut piece: impl FnMut(&str) -> bool) -> io::Result<Option<String>> {
    let mut head = String::new();
    // The PLC piece being read, from its `[[plc]]` line on.
    let mut open: Option<String> = None;
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            break;
        }
        let kind = classify(&line);
        if matches!(kind, Line::NewPlc | Line::Other) {
            if let Some(done) = open.take() {
                if !piece(&done) {
                    return Ok(None);
                }
            }
        }
        if kind == Line::NewPlc {
            open = Some(String::new());
        }
        match &mut open {
            Some(p) => p.push_str(&line),
            None => head.push_str(&line),
        }
    }
    if let Some(done) = open {
        if !piece(&done) {
            return Ok(None);
        }
    }
    Ok(Some(head))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlcPiece {
    plc: Vec<PlcConfig>,
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

    /// The head and the pieces of `text`, every piece kept.
    fn split(text: &str) -> (String, Vec<String>) {
        let mut plcs = Vec::new();
        let head = cut(text.as_bytes(), |p| {
            plcs.push(p.to_string());
            true
        })
        .unwrap()
        .unwrap();
        (head, plcs)
    }

    /// `text` read piecewise, or `None` when the whole file is needed.
    fn parse(text: &str) -> Option<RawConfig> {
        let mut plcs = Vec::new();
        let mut head = read(text.as_bytes(), |p| plcs.push(p)).unwrap()?;
        head.raw.plc = plcs;
        Some(head.raw)
    }

    #[test]
    fn the_head_keeps_every_other_section_and_the_pieces_every_plc_in_order() {
        let (head, plcs) = split(FILE);
        assert!(head.contains("[site]\nname = \"caylloma\""));
        assert!(head.contains("[spool]"));
        // Nothing of the pieces, not even their empty lines.
        assert_eq!(head.lines().count(), 10);
        assert!(!head.contains("crushing"));
        // The string that looks like a header cut the grinding PLC in two:
        // the piece before it does not parse, so the whole file is needed.
        assert_eq!(plcs.len(), 3);
        assert!(plcs[1].starts_with("[[plc]]\nname = \"grinding\""));
        assert!(parse(FILE).is_none());
        let whole: RawConfig = toml::from_str(FILE).unwrap();
        assert_eq!(whole.plc.len(), 2);
    }

    #[test]
    fn a_plain_file_parses_piecewise_to_what_the_whole_parse_gives() {
        let file = FILE.replace("\n[[plc]]\nnot a header", "\nnot a header");
        assert_eq!(split(&file).1.len(), 2);
        let pieces = parse(&file).expect("parses piecewise");
        let whole: RawConfig = toml::from_str(&file).unwrap();
        assert_eq!(format!("{pieces:?}"), format!("{whole:?}"));
    }

    #[test]
    fn a_piece_that_does_not_parse_stops_the_read() {
        let mut seen = 0;
        let read = read(FILE.as_bytes(), |_| seen += 1).unwrap();
        assert!(read.is_none());
        // The crushing PLC was given before the cut grinding one failed.
        assert_eq!(seen, 1);
        // A file without a final newline ends its last piece all the same.
        let file = FILE.replace("\n[[plc]]\nnot a header", "\nnot a header");
        let file = file.split("\n[spool]").next().unwrap().trim_end();
        assert_eq!(parse(file).map(|r| r.plc.len()), Some(2));
    }
}
