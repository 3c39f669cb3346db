//! A small RFC 4180 CSV reader and writer, enough for spreadsheet I/O lists:
//! quoted fields, doubled quotes inside them, line breaks inside quotes,
//! CRLF or LF record ends, a UTF-8 byte-order mark, and `,` or `;` as the
//! separator (spreadsheets set to Spanish or other comma-decimal locales
//! export `;`).
//!
//! Each record keeps the line number it starts on, so errors can point at
//! the row a person sees in a text editor.

/// One record and the 1-based line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub line: usize,
    pub fields: Vec<String>,
}

/// Malformed CSV: the line and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct CsvError {
    pub line: usize,
    pub reason: String,
}

/// The separator of the header line: `;` when it has more semicolons than
/// commas outside quotes, else `,`.
pub fn detect_delimiter(text: &str) -> char {
    let (mut commas, mut semis, mut quoted) = (0usize, 0usize, false);
    for c in strip_bom(text).chars() {
        match c {
            '"' => quoted = !quoted,
            '\n' | '\r' if !quoted => break,
            ',' if !quoted => commas += 1,
            ';' if !quoted => semis += 1,
            _ => {}
        }
    }
    if semis > commas {
        ';'
    } else {
        ','
    }
}

fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// Parses every record. Blank lines (no characters at all) are skipped, as
/// spreadsheets often leave them at the end; a line of only separators is a
/// record of empty fields and is kept.
pub fn parse(text: &str, delimiter: char) -> Result<Vec<Record>, CsvError> {
    let mut records = Vec::new();
    let mut chars = strip_bom(text).chars().peekable();
    let mut line = 1usize;
    loop {
        // Skip blank lines between records.
        while let Some(&c) = chars.peek() {
            match c {
                '\n' => {
                    chars.next();
                    line += 1;
                }
                '\r' => {
                    chars.next();
                    if chars.peek() == Some(&'\n') {
                        chars.next();
                    }
                    line += 1;
                }
                _ => break,
            }
        }
        if chars.peek().is_none() {
            return Ok(records);
        }
        let start = line;
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut quoted = false; // inside a quoted field
        let mut was_quoted = false; // the current field started with a quote
        loop {
            let Some(c) = chars.next() else {
                if quoted {
                    return Err(CsvError {
                        line: start,
                        reason: "a quoted field is never closed (missing \")".into(),
                    });
                }
                fields.push(std::mem::take(&mut field));
                break;
            };
            if quoted {
                match c {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    '"' => {
                        quoted = false;
                        // After the closing quote only a separator or the
                        // record end may follow.
                        match chars.peek() {
                            None | Some('\n') | Some('\r') => {}
                            Some(&d) if d == delimiter => {}
                            Some(&other) => {
                                return Err(CsvError {
                                    line,
                                    reason: format!(
                                        "unexpected {other:?} after a closing quote (a quote inside a quoted field is written \"\")"
                                    ),
                                })
                            }
                        }
                    }
                    '\n' => {
                        line += 1;
                        field.push('\n');
                    }
                    '\r' => {
                        // CRLF inside quotes is one line break, kept as LF.
                        if chars.peek() == Some(&'\n') {
                            chars.next();
                        }
                        line += 1;
                        field.push('\n');
                    }
                    c => field.push(c),
                }
                continue;
            }
            match c {
                '"' if field.is_empty() && !was_quoted => {
                    quoted = true;
                    was_quoted = true;
                }
                '"' => {
                    return Err(CsvError {
                        line,
                        reason: "a quote inside an unquoted field (quote the whole field and write \"\" for a quote)".into(),
                    })
                }
                '\n' | '\r' => {
                    if c == '\r' && chars.peek() == Some(&'\n') {
                        chars.next();
                    }
                    line += 1;
                    fields.push(std::mem::take(&mut field));
                    break;
                }
                c if c == delimiter => {
                    fields.push(std::mem::take(&mut field));
                    was_quoted = false;
                }
                c => field.push(c),
            }
        }
        records.push(Record {
            line: start,
            fields,
        });
    }
}

/// Appends one record, quoting only fields that need it, ended by CRLF as
/// RFC 4180 asks (spreadsheets and text tools read it either way).
pub fn write_record<S: AsRef<str>>(out: &mut String, fields: &[S]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let f = f.as_ref();
        // `;` too, so a reader that guesses the separator cannot split it.
        if f.contains([',', ';', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&f.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(f);
        }
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(text: &str) -> Vec<Vec<String>> {
        parse(text, ',')
            .unwrap()
            .into_iter()
            .map(|r| r.fields)
            .collect()
    }

    #[test]
    fn quoted_fields_doubled_quotes_and_line_breaks() {
        let text = "a,b,c\r\n\"x, y\",\"say \"\"hi\"\"\",\"two\r\nlines\"\r\nplain,,\"\"\r\n";
        let recs = parse(text, ',').unwrap();
        assert_eq!(recs.len(), 3);
        assert_eq!(recs[1].fields, ["x, y", "say \"hi\"", "two\nlines"]);
        assert_eq!(recs[1].line, 2);
        // The quoted line break moved the next record to line 4.
        assert_eq!(recs[2].line, 4);
        assert_eq!(recs[2].fields, ["plain", "", ""]);
    }

    #[test]
    fn lf_bom_blank_lines_and_no_final_newline() {
        let text = "\u{feff}a,b\n\n1,2\n\n\n3,4";
        let recs = parse(text, ',').unwrap();
        assert_eq!(
            recs.iter().map(|r| r.line).collect::<Vec<_>>(),
            vec![1, 3, 6]
        );
        assert_eq!(fields(text)[2], ["3", "4"]);
        assert_eq!(fields("a\n")[0], ["a"]);
        assert_eq!(fields(",\n")[0], ["", ""]);
    }

    #[test]
    fn semicolons_are_detected_from_the_header() {
        assert_eq!(detect_delimiter("plc;name;\"a,b\"\n1,2,3,4"), ';');
        assert_eq!(detect_delimiter("plc,name;x\n"), ',');
        assert_eq!(detect_delimiter("\u{feff}\"a;b\";c;d"), ';');
        let recs = parse("a;b\n\"0,5\";x", ';').unwrap();
        assert_eq!(recs[1].fields, ["0,5", "x"]);
    }

    #[test]
    fn malformed_quotes_are_errors_with_their_line() {
        let e = parse("a,b\n\"open,2\n3,4\n", ',').unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.reason.contains("never closed"), "{e}");
        let e = parse("a,b\nx\"y,2\n", ',').unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.reason.contains("unquoted"), "{e}");
        let e = parse("a,b\n\"x\"y,2\n", ',').unwrap_err();
        assert!(e.reason.contains("after a closing quote"), "{e}");
    }

    #[test]
    fn writer_quotes_only_what_needs_it_and_reads_back() {
        let row = ["plain", "a,b", "say \"hi\"", "two\nlines", "", "°C", "x;y"];
        let mut out = String::new();
        write_record(&mut out, &row);
        assert_eq!(
            out,
            "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",,°C,\"x;y\"\r\n"
        );
        assert_eq!(fields(&out)[0], row);
    }
}
