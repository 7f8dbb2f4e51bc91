//! The house rules of `src/`, checked on its text: data flows one way (no module, and no file
//! among its siblings, imports one that imports it back), no file over 600 lines, no function
//! over 100, and the README's source map names every file. Each failure names the place.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_FILE_LINES: usize = 600;
const MAX_FN_LINES: usize = 100;

/// Every `.rs` file under `src/`, as its path relative to `src/` and its text.
fn sources() -> BTreeMap<String, String> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).expect("read src/") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, root, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let name = path.strip_prefix(root).expect("under src/");
                let text = std::fs::read_to_string(&path).expect("read a source file");
                out.insert(name.to_string_lossy().replace('\\', "/"), text);
            }
        }
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeMap::new();
    walk(&root, &root, &mut out);
    out
}

/// The code of `text` without its unit tests (which may use anything).
fn without_tests(text: &str) -> &str {
    text.split("#[cfg(test)]").next().unwrap_or(text)
}

/// A cycle in `graph`, if there is one, as the names along it.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut found = path[at..].to_vec();
            found.push(node.to_owned());
            return Some(found);
        }
        if !done.insert(node.to_owned()) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, path, done) {
                return Some(found);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

/// The top-level module a file of `src/` belongs to (`store` for `store/ingest.rs`).
fn module_of(file: &str) -> &str {
    let first = file.split('/').next().unwrap_or(file);
    first.strip_suffix(".rs").unwrap_or(first)
}

#[test]
fn modules_import_one_way() {
    let sources = sources();
    let names: BTreeSet<&str> = sources.keys().map(|f| module_of(f)).collect();
    let crate_path = regex::Regex::new(r"crate::(\w+)").unwrap();
    let grouped = regex::Regex::new(r"use crate::\{([^;]*)\}").unwrap();
    let word = regex::Regex::new(r"(?:^|[{,\s])(\w+)").unwrap();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (file, text) in &sources {
        let from = module_of(file);
        if from == "lib" || from == "main" {
            continue;
        }
        let code = without_tests(text);
        let mut used: Vec<&str> = crate_path
            .captures_iter(code)
            .map(|c| c.get(1).unwrap().as_str())
            .collect();
        for group in grouped.captures_iter(code) {
            let inside = group.get(1).unwrap().as_str();
            used.extend(
                word.captures_iter(inside)
                    .map(|c| c.get(1).unwrap().as_str()),
            );
        }
        for to in used {
            if to != from && names.contains(to) {
                graph.entry(from.into()).or_default().insert(to.into());
            }
        }
    }
    assert_eq!(
        cycle(&graph),
        None,
        "modules that import each other: {graph:#?}"
    );
}

#[test]
fn files_of_a_module_import_one_way() {
    let sources = sources();
    let mut by_dir: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for (file, text) in &sources {
        if let Some((dir, name)) = file.rsplit_once('/') {
            let name = name.trim_end_matches(".rs");
            if name != "mod" {
                by_dir
                    .entry(dir)
                    .or_default()
                    .push((name, without_tests(text)));
            }
        }
    }
    for (dir, files) in by_dir {
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, code) in &files {
            for (to, _) in &files {
                let named = regex::Regex::new(&format!(r"super::(\{{[^}}]*\b{to}\b|{to}\b)"))
                    .unwrap()
                    .is_match(code);
                if from != to && named {
                    graph
                        .entry((*from).into())
                        .or_default()
                        .insert((*to).into());
                }
            }
        }
        assert_eq!(
            cycle(&graph),
            None,
            "files of src/{dir}/ that import each other"
        );
    }
}

#[test]
fn no_file_is_over_600_lines() {
    let long: Vec<String> = sources()
        .iter()
        .map(|(file, text)| (file, text.lines().count()))
        .filter(|(_, lines)| *lines > MAX_FILE_LINES)
        .map(|(file, lines)| format!("src/{file}: {lines} lines"))
        .collect();
    assert!(long.is_empty(), "over {MAX_FILE_LINES} lines: {long:#?}");
}

#[test]
fn no_function_is_over_100_lines() {
    let start =
        regex::Regex::new(r"^(\s*)(pub(\([^)]*\))?\s+)?(async\s+)?(const\s+)?fn\s+(\w+)").unwrap();
    let mut long = Vec::new();
    for (file, text) in sources() {
        let lines: Vec<&str> = text.lines().collect();
        for (at, line) in lines.iter().enumerate() {
            let Some(c) = start.captures(line) else {
                continue;
            };
            // The function ends at the first closing brace at its own indentation.
            let close = format!("{}}}", &c[1]);
            if line.trim_end().ends_with(';') {
                continue;
            }
            if let Some(end) = lines[at + 1..].iter().position(|l| *l == close) {
                let length = end + 2;
                if length > MAX_FN_LINES {
                    long.push(format!("src/{file}:{} {}: {length} lines", at + 1, &c[6]));
                }
            }
        }
    }
    assert!(long.is_empty(), "over {MAX_FN_LINES} lines: {long:#?}");
}

/// Every file of `src/` is named in the README's source map (the `text` block under
/// "Development"), under its own module's entry.
#[test]
fn the_source_map_names_every_file() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let map = readme
        .split("```text\nsrc/\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the README's source map: a ```text block starting with src/");
    // Each top-level entry (two spaces in) with the lines below it.
    let mut entries: BTreeMap<String, String> = BTreeMap::new();
    let mut current = String::new();
    for line in map.lines() {
        if line.starts_with("  ") && !line.starts_with("   ") {
            current = line
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
        }
        let entry = entries.entry(current.clone()).or_default();
        entry.push_str(line);
        entry.push('\n');
    }
    let mut missing = Vec::new();
    for file in sources().keys() {
        let found = match file.split_once('/') {
            None => entries.contains_key(file.as_str()),
            Some((dir, rest)) => entries.get(&format!("{dir}/")).is_some_and(|text| {
                let name = rest.rsplit('/').next().unwrap_or(rest);
                name == "mod.rs" || text.contains(name)
            }),
        };
        if !found {
            missing.push(format!("src/{file}"));
        }
    }
    assert!(
        missing.is_empty(),
        "not in the README's source map: {missing:#?}"
    );
}
