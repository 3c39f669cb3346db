//! The shape of the library, checked on its `use` lines: data flows one way
//! between the top-level modules (no two of them import each other, however
//! indirectly), no two files inside a module import each other in a loop,
//! and no production file grows past the size one person reads in a sitting.
//!
//! `cargo test --test integration workspace::imports -- --nocapture` prints
//! the module graph these tests check.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

/// A production file longer than this wants splitting.
const MAX_LINES: usize = 600;

/// Library files as module paths (`sink::influxdb::client`), with their
/// text up to the first `#[cfg(test)]` (unit tests may import anything).
fn modules() -> BTreeMap<Vec<String>, String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(Path::new(SRC), &mut files);
    let mut out = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(SRC).unwrap();
        let mut parts: Vec<String> = rel
            .with_extension("")
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        // The binary's files and unit-test files are not the library.
        if parts[0] == "main" || parts[0] == "cmd" || parts.iter().any(|p| p == "tests") {
            continue;
        }
        if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
            parts.pop();
        }
        let text = std::fs::read_to_string(&file).unwrap();
        // Comments may name any path (doc links); only code imports.
        let prod = text
            .split("#[cfg(test)]")
            .next()
            .unwrap_or("")
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        out.insert(parts, prod);
    }
    assert!(out.len() > 20, "library sources not found under {SRC}");
    out
}

/// The paths a file names: `crate::a::b::C`, `super::x`, with `use`
/// groups (`crate::{a, b::c}`) expanded one level.
fn paths(module: &[String], text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for start in ["crate::", "super::"] {
        for (i, _) in text.match_indices(start) {
            let before = text[..i].chars().last();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let base: Vec<String> = if start == "crate::" {
                Vec::new()
            } else {
                module[..module.len().saturating_sub(1)].to_vec()
            };
            let rest = &text[i + start.len()..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(rest.len());
            let head: Vec<String> = rest[..end]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            let mut path = base.clone();
            path.extend(head.iter().cloned());
            if rest[end..].starts_with('{') {
                let close = rest[end..].find('}').map_or(rest.len(), |c| end + c);
                for item in rest[end + 1..close].split(',') {
                    let item = item.trim().split("::").map(str::trim);
                    let mut p = path.clone();
                    p.extend(item.filter(|s| !s.is_empty()).map(str::to_string));
                    out.push(p);
                }
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// The module a path lands in: its longest prefix that is a file.
fn target(mods: &BTreeMap<Vec<String>, String>, path: &[String]) -> Option<Vec<String>> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| mods.contains_key(p))
}

/// Every import edge between two library files.
fn edges() -> BTreeSet<(Vec<String>, Vec<String>)> {
    let mods = modules();
    let mut out = BTreeSet::new();
    for (module, text) in &mods {
        for path in paths(module, text) {
            if let Some(t) = target(&mods, &path) {
                if &t != module {
                    out.insert((module.clone(), t));
                }
            }
        }
    }
    out
}

/// The loops of a directed graph (its strongly connected components with
/// more than one node), by Tarjan's algorithm.
fn loops(edges: &BTreeSet<(String, String)>) -> Vec<Vec<String>> {
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (a, b) in edges {
        next.entry(a).or_default().push(b);
        next.entry(b).or_default();
    }
    struct State<'a> {
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(v: &'a str, next: &BTreeMap<&'a str, Vec<&'a str>>, s: &mut State<'a>) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        for &w in &next[v] {
            if !s.index.contains_key(w) {
                visit(w, next, s);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut s = State {
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for &v in next.keys() {
        if !s.index.contains_key(v) {
            visit(v, &next, &mut s);
        }
    }
    s.found
}

#[test]
fn the_top_level_modules_import_each_other_one_way_only() {
    let top: BTreeSet<(String, String)> = edges()
        .into_iter()
        .filter(|(a, b)| !a.is_empty() && !b.is_empty() && a[0] != b[0])
        .map(|(a, b)| (a[0].clone(), b[0].clone()))
        .collect();
    for (a, b) in &top {
        println!("{a} -> {b}");
    }
    assert!(top.len() > 10, "too few edges found: {top:?}");
    let found = loops(&top);
    assert!(found.is_empty(), "modules importing each other: {found:?}");
}

#[test]
fn no_two_files_import_each_other_in_a_loop() {
    // A module's own file (`mod.rs`) names its children to declare and
    // re-export them; an edge to or from it says nothing of the shape.
    let files: BTreeSet<(String, String)> = edges()
        .into_iter()
        .filter(|(a, b)| !a.starts_with(b) && !b.starts_with(a))
        .map(|(a, b)| (a.join("::"), b.join("::")))
        .collect();
    assert!(
        files.contains(&(
            "sink::influxdb::client".into(),
            "sink::influxdb::retry".into()
        )),
        "the edge reader missed client -> retry: {files:?}"
    );
    let found = loops(&files);
    assert!(
        found.is_empty(),
        "files importing each other in a loop: {found:?}"
    );
}

#[test]
fn no_production_file_is_over_600_lines() {
    let long: Vec<String> = modules()
        .iter()
        .map(|(m, text)| (m.join("::"), text.lines().count()))
        .filter(|(_, n)| *n > MAX_LINES)
        .map(|(m, n)| format!("{m}: {n} lines"))
        .collect();
    assert!(long.is_empty(), "split these: {long:?}");
}
