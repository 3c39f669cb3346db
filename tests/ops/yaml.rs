//! A deliberately small YAML reader for the provisioning files: block
//! mappings and sequences indented with spaces, plain and quoted scalars,
//! comments. Anything else (tabs, flow `{}`/`[]`, anchors, multi-line
//! scalars, several documents) is refused, which keeps those files simple
//! enough that this reader and Grafana's cannot disagree.
use serde_json::{Map, Value};

#[derive(Debug)]
struct Line {
    no: usize,
    indent: usize,
    text: String,
}

pub fn parse(src: &str) -> Result<Value, String> {
    let mut lines = Vec::new();
    for (i, raw) in src.lines().enumerate() {
        let no = i + 1;
        if raw.contains('\t') {
            return Err(format!("line {no}: tab character"));
        }
        let text = strip_comment(raw).trim_end().to_string();
        if text.trim().is_empty() {
            continue;
        }
        let indent = text.len() - text.trim_start().len();
        let text = text.trim_start().to_string();
        if text == "---" || text.starts_with("%") {
            return Err(format!(
                "line {no}: documents and directives are not used here"
            ));
        }
        lines.push(Line { no, indent, text });
    }
    let mut pos = 0;
    if lines.is_empty() {
        return Ok(Value::Null);
    }
    let v = block(&mut lines, &mut pos, 0)?;
    if let Some(l) = lines.get(pos) {
        return Err(format!("line {}: unexpected indentation", l.no));
    }
    Ok(v)
}

/// Drops a `#` comment that starts the line or follows a space, outside quotes.
fn strip_comment(line: &str) -> &str {
    let (mut single, mut double, mut prev_space) = (false, false, true);
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && prev_space => return &line[..i],
            _ => {}
        }
        prev_space = c == ' ';
    }
    line
}

fn block(lines: &mut [Line], pos: &mut usize, indent: usize) -> Result<Value, String> {
    if lines[*pos].text == "-" || lines[*pos].text.starts_with("- ") {
        sequence(lines, pos, indent)
    } else {
        mapping(lines, pos, indent)
    }
}

fn mapping(lines: &mut [Line], pos: &mut usize, indent: usize) -> Result<Value, String> {
    let mut map = Map::new();
    while let Some(l) = lines.get(*pos) {
        if l.indent < indent {
            break;
        }
        if l.indent > indent {
            return Err(format!("line {}: unexpected indentation", l.no));
        }
        if l.text.starts_with("- ") || l.text == "-" {
            break;
        }
        let no = l.no;
        let (key, rest) =
            split_key(&l.text).ok_or_else(|| format!("line {no}: expected `key: value`"))?;
        if map.contains_key(&key) {
            return Err(format!("line {no}: duplicate key {key:?}"));
        }
        *pos += 1;
        let value = if rest.is_empty() {
            match lines.get(*pos) {
                Some(next) if next.indent > indent => {
                    let child = next.indent;
                    block(lines, pos, child)?
                }
                // `key:` followed by a sequence at the same indentation.
                Some(next) if next.indent == indent && next.text.starts_with("- ") => {
                    sequence(lines, pos, indent)?
                }
                _ => Value::Null,
            }
        } else {
            scalar(&rest, no)?
        };
        map.insert(key, value);
    }
    Ok(Value::Object(map))
}

fn sequence(lines: &mut [Line], pos: &mut usize, indent: usize) -> Result<Value, String> {
    let mut items = Vec::new();
    while let Some(l) = lines.get(*pos) {
        if l.indent != indent || !(l.text.starts_with("- ") || l.text == "-") {
            if l.indent > indent {
                return Err(format!("line {}: unexpected indentation", l.no));
            }
            break;
        }
        let no = l.no;
        let rest = l.text[1..].trim_start().to_string();
        if rest.is_empty() {
            *pos += 1;
            match lines.get(*pos) {
                Some(next) if next.indent > indent => {
                    let child = next.indent;
                    items.push(block(lines, pos, child)?);
                }
                _ => items.push(Value::Null),
            }
        } else if split_key(&rest).is_some() {
            // `- key: value` opens a mapping indented to where `key` starts.
            let child = indent + (l.text.len() - rest.len());
            lines[*pos].indent = child;
            lines[*pos].text = rest;
            items.push(mapping(lines, pos, child)?);
        } else {
            *pos += 1;
            items.push(scalar(&rest, no)?);
        }
    }
    Ok(Value::Array(items))
}

/// `key: rest` or `key:`; quoted keys are not used here.
fn split_key(text: &str) -> Option<(String, String)> {
    if text.starts_with(['"', '\'']) {
        return None;
    }
    let (k, rest) = match text.find(": ") {
        Some(i) => (&text[..i], text[i + 2..].trim()),
        None => (text.strip_suffix(':')?, ""),
    };
    let ok = !k.is_empty() && k.chars().all(|c| c.is_alphanumeric() || "_-.".contains(c));
    ok.then(|| (k.to_string(), rest.to_string()))
}

fn scalar(s: &str, no: usize) -> Result<Value, String> {
    if s.starts_with(['{', '[', '&', '*', '|', '>', '!', '@', '`']) {
        return Err(format!(
            "line {no}: {s:?}: only plain or quoted scalars are used here"
        ));
    }
    if let Some(inner) = s.strip_prefix('\'') {
        let inner = inner
            .strip_suffix('\'')
            .ok_or_else(|| format!("line {no}: unclosed '"))?;
        return Ok(Value::String(inner.replace("''", "'")));
    }
    if let Some(inner) = s.strip_prefix('"') {
        let inner = inner
            .strip_suffix('"')
            .ok_or_else(|| format!("line {no}: unclosed \""))?;
        if inner.contains('\\') {
            return Err(format!("line {no}: escapes are not used here"));
        }
        return Ok(Value::String(inner.to_string()));
    }
    Ok(match s {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        "null" | "~" => Value::Null,
        _ => match s.parse::<i64>() {
            Ok(n) => Value::from(n),
            Err(_) => Value::String(s.to_string()),
        },
    })
}

#[test]
fn reads_the_subset_and_refuses_the_rest() {
    let v = parse(
        "# c\napiVersion: 1\nlist:\n  - name: a # trailing\n    n: 2\n    sub:\n      k: 'it''s'\n  - plain\nsame:\n- x\nurl: http://h:1/#frag\n",
    )
    .unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "apiVersion": 1,
            "list": [{ "name": "a", "n": 2, "sub": { "k": "it's" } }, "plain"],
            "same": ["x"],
            "url": "http://h:1/#frag",
        })
    );
    for bad in [
        "a: {b: 1}\n",
        "a:\n\tb: 1\n",
        "a: 1\n  b: 2\n",
        "a: 1\na: 2\n",
        "a: &x 1\n",
        "a: |\n  t\n",
    ] {
        assert!(parse(bad).is_err(), "{bad:?} accepted");
    }
}
