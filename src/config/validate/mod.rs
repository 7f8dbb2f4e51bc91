//! Validation: every value of a [`RawConfig`] checked and turned into a [`Config`], every
//! problem found kept with its file, line, column and dotted key. Here, where each problem
//! is placed; the checks of each section are `sections.rs`'s, those of `[[views]]`
//! `views.rs`'s, those of `[[rules]]` and `[[notify]]` `rules.rs`'s.

use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use toml::de::{DeTable, DeValue};

use crate::schedule::CronSchedule;

use super::raw::*;
use super::*;

mod http;
mod listing;
mod rules;
mod sections;
mod suggest;
mod views;

/// How many values of the wrong type one check reports before it stops.
const MAX_RETRIES: usize = 20;

/// `[poll]`'s limits where no config file is written yet: the defaults.
pub(super) fn default_limits() -> Limits {
    let mut v = Validator {
        path: Path::new(""),
        text: "",
        lines: vec![0],
        doc: None,
        problems: Vec::new(),
        warnings: Vec::new(),
    };
    v.limits(&RawPoll::default())
        .expect("the default [poll] limits are valid")
}

/// Validates config text as if it had been read from `path`.
pub(super) fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let mut v = Validator {
        path,
        text,
        lines: std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect(),
        doc: None,
        problems: Vec::new(),
        warnings: Vec::new(),
    };
    let config = v.validate();
    v.problems.sort_by_key(|p| (p.line, p.column));
    match config {
        Some(config) if v.problems.is_empty() => Ok(config),
        _ => Err(ConfigError::Invalid(v.problems)),
    }
}

/// One segment of a key path: a table key or an array index.
#[derive(Debug, Clone)]
enum Seg {
    Key(String),
    Index(usize),
}

fn display_path(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

fn key(path: &str) -> Vec<Seg> {
    path.split('.').map(|k| Seg::Key(k.to_owned())).collect()
}

fn source_key(index: usize, field: &str) -> Vec<Seg> {
    vec![
        Seg::Key("sources".into()),
        Seg::Index(index),
        Seg::Key(field.into()),
    ]
}

pub(super) struct Validator<'a> {
    path: &'a Path,
    text: &'a str,
    /// Where each line of `text` starts: a problem's line is found by a binary search, not a
    /// count from the top (a file of 20,000 duplicates once took 11 s to check).
    lines: Vec<usize>,
    doc: Option<toml::Spanned<DeTable<'a>>>,
    problems: Vec<Problem>,
    warnings: Vec<Problem>,
}

impl<'a> Validator<'a> {
    /// The line and column (from 1, in characters) of byte `offset` of the text.
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.lines.partition_point(|&start| start <= offset);
        let start = self.lines[line - 1];
        let column = self
            .text
            .get(start..offset)
            .map_or(0, |t| t.chars().count())
            + 1;
        (line, column)
    }

    fn problem_at(&mut self, span: Range<usize>, key: String, message: String) {
        let (line, column) = self.line_col(span.start);
        self.problems.push(Problem {
            file: self.path.to_owned(),
            line,
            column,
            key,
            message,
        });
    }

    /// Records a warning about the value at `path`: valid, but unwise.
    fn warn(&mut self, path: &[Seg], message: String) {
        let span = self.span_of(path, false);
        let (line, column) = self.line_col(span.start);
        self.warnings.push(Problem {
            file: self.path.to_owned(),
            line,
            column,
            key: display_path(path),
            message,
        });
    }

    /// Records a problem with the value at `path` (or, when it is not in the file, with the
    /// table that would hold it, or the file's start).
    fn problem(&mut self, path: &[Seg], message: String) {
        let span = self.span_of(path, false);
        self.problem_at(span, display_path(path), message);
    }

    /// The span of the value (or with `want_key`, the key) at `path`, falling back to the
    /// nearest enclosing item present in the file.
    fn span_of(&self, path: &[Seg], want_key: bool) -> Range<usize> {
        let Some(doc) = &self.doc else { return 0..0 };
        let mut best = 0..0;
        let mut table: Option<&DeTable> = Some(doc.get_ref());
        let mut array: Option<&toml::de::DeArray> = None;
        for seg in path {
            let found = match (seg, table, array) {
                (Seg::Key(k), Some(t), _) => t
                    .iter()
                    .find(|(name, _)| name.get_ref().as_ref() == k.as_str())
                    .map(|(name, value)| (name.span(), value)),
                (Seg::Index(i), _, Some(a)) => a.get(*i).map(|v| (v.span(), v)),
                _ => None,
            };
            let Some((key_span, value)) = found else {
                break;
            };
            best = if want_key { key_span } else { value.span() };
            table = None;
            array = None;
            match value.get_ref() {
                DeValue::Table(t) => table = Some(t),
                DeValue::Array(a) => array = Some(a),
                _ => {}
            }
        }
        best
    }

    /// The key path of the innermost value whose span holds `span`. Every node is searched,
    /// since a table opened by a `[header]` has a span that does not cover its keys.
    fn path_at(&self, span: &Range<usize>) -> Vec<Seg> {
        fn walk(value: &DeValue, span: &Range<usize>, path: &mut Vec<Seg>, best: &mut Vec<Seg>) {
            let mut visit = |seg: Seg, v: &toml::Spanned<DeValue>, path: &mut Vec<Seg>| {
                path.push(seg);
                let vs = v.span();
                if vs.start <= span.start && span.end <= vs.end && path.len() > best.len() {
                    *best = path.clone();
                }
                walk(v.get_ref(), span, path, best);
                path.pop();
            };
            match value {
                DeValue::Table(t) => {
                    for (k, v) in t.iter() {
                        visit(Seg::Key(k.get_ref().to_string()), v, path);
                    }
                }
                DeValue::Array(a) => {
                    for (i, v) in a.iter().enumerate() {
                        visit(Seg::Index(i), v, path);
                    }
                }
                _ => {}
            }
        }
        let mut best = Vec::new();
        if let Some(doc) = &self.doc {
            walk(
                &DeValue::Table(doc.get_ref().clone()),
                span,
                &mut Vec::new(),
                &mut best,
            );
        }
        best
    }

    pub(super) fn validate(&mut self) -> Option<Config> {
        let (doc, syntax) = DeTable::parse_recoverable(self.text);
        if !syntax.is_empty() {
            for e in syntax {
                let span = e.span().unwrap_or(0..0);
                self.problem_at(
                    span,
                    String::new(),
                    format!("invalid TOML: {}", e.message()),
                );
            }
            return None;
        }
        self.doc = Some(doc);

        let mut unknown: Vec<Vec<Seg>> = Vec::new();
        let raw = self.deserialize(&mut unknown);
        for path in unknown {
            let span = self.span_of(&path, true);
            let name = display_path(&path);
            let message = match suggest::suggestion(&path) {
                Some(hint) => format!("unknown key; {hint}"),
                None => "unknown key (check its spelling and the table it is in)".into(),
            };
            self.problem_at(span, name, message);
        }
        self.check(raw?)
    }

    /// The file as a [`RawConfig`], the keys it does not know in `unknown`. A value of the
    /// wrong type is a problem, and the file is read again without its line (commented out
    /// in place, so that every other place stays where it is), so that one such mistake does
    /// not hide the others, the rest of the file checked as usual; `None` when the file
    /// cannot be read past its mistakes.
    fn deserialize(&mut self, unknown: &mut Vec<Vec<Seg>>) -> Option<RawConfig> {
        let mut text = self.text.as_bytes().to_vec();
        let mut wrong = false;
        for _ in 0..MAX_RETRIES {
            unknown.clear();
            let utf8 = std::str::from_utf8(&text).ok()?;
            let raw: Result<RawConfig, _> = toml::Deserializer::parse(utf8)
                .and_then(|de| serde_ignored::deserialize(de, |p| unknown.push(segments(&p))));
            let e = match raw {
                Ok(raw) => return Some(raw),
                Err(e) => e,
            };
            let span = e.span().unwrap_or(0..0);
            let path = self.path_at(&span);
            // A required key commented out below is missing now: said once already.
            if wrong && e.message().starts_with("missing field") {
                return None;
            }
            self.problem_at(span.clone(), display_path(&path), e.message().to_owned());
            wrong = true;
            // Only a value on one `key = value` line is taken out and the file read again.
            let start = self.lines[self.line_col(span.start).0 - 1];
            let end = text[start..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(text.len(), |i| start + i);
            if span.end > end || !text[start..span.start].contains(&b'=') || !text[start].is_ascii()
            {
                return None;
            }
            text[start] = b'#';
        }
        None
    }

    fn duration(&mut self, path: &[Seg], text: &str, example: &str) -> Option<Duration> {
        match humantime::parse_duration(text) {
            Ok(d) if !d.is_zero() => Some(d),
            Ok(_) => {
                self.problem(path, "must be longer than zero".into());
                None
            }
            Err(e) => {
                self.problem(path, format!("not a duration like {example:?}: {e}"));
                None
            }
        }
    }

    fn cron(&mut self, path: &[Seg], expr: &str) -> Option<CronSchedule> {
        match CronSchedule::parse(expr) {
            Ok(s) => Some(s),
            Err(e) => {
                self.problem(path, e.to_string());
                None
            }
        }
    }
}

fn segments(path: &serde_ignored::Path) -> Vec<Seg> {
    use serde_ignored::Path as P;
    match path {
        P::Root => Vec::new(),
        P::Seq { parent, index } => {
            let mut v = segments(parent);
            v.push(Seg::Index(*index));
            v
        }
        P::Map { parent, key } => {
            let mut v = segments(parent);
            v.push(Seg::Key(key.clone()));
            v
        }
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
            segments(parent)
        }
    }
}
