//! Rendering diagnostics for people and for tools.
//!
//! Owns the three output forms of a [`Diagnostic`]: human-readable reports drawn by ariadne
//! ([`human`]), JSON Lines ([`json_lines`]) and a SARIF 2.1.0 log for code-scanning services
//! ([`sarif`]), plus the one-line [`summary`]. This is the only module that imports ariadne; it
//! knows nothing about how diagnostics are found, only the plain data they carry and the
//! [`SourceMap`] their spans point into.
//!
//! Rendering never panics on bad input: a span past the end of its file or inside a multi-byte
//! character is widened to the nearest character boundaries, and a span in a file the map does
//! not hold is rendered as plain text (or as null positions in JSON).

use super::{Code, Diagnostic, Label, Severity};
use crate::source::{FileId, SourceFile, SourceMap, Span};
use ariadne::{Cache, Color, Config, Fmt, IndexType, Report, ReportKind, Source};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::ops::Range;

const INFORMATION_URI: &str = "https://github.com/warden-policy/warden";
const HELP_URI: &str = "https://github.com/warden-policy/warden/blob/main/docs/diagnostics.md#";
const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";
/// ariadne's margin colour, reused for the lines this module adds to a report.
const MARGIN: Color = Color::Fixed(246);

/// Human-readable reports rendered with ariadne, one per diagnostic in the given order, separated
/// by a blank line. Offsets are bytes; colour only when `color` is true.
pub fn human(diagnostics: &[Diagnostic], sources: &SourceMap, color: bool) -> String {
    let mut files = Files {
        map: sources,
        loaded: HashMap::new(),
    };
    let reports: Vec<String> = diagnostics
        .iter()
        .map(|d| report(d, &mut files, color))
        .collect();
    reports.join("\n")
}

/// The sources ariadne reads, built from the [`SourceMap`] on first use.
struct Files<'a> {
    map: &'a SourceMap,
    loaded: HashMap<FileId, Source<&'a str>>,
}

impl<'a> Cache<FileId> for Files<'a> {
    type Storage = &'a str;

    fn fetch(&mut self, id: &FileId) -> Result<&Source<&'a str>, impl fmt::Debug> {
        let map = self.map;
        match self.loaded.entry(*id) {
            Entry::Occupied(e) => Ok(e.into_mut()),
            Entry::Vacant(v) => match map.get(*id) {
                Some(file) => Ok(v.insert(Source::from(file.text.as_str()))),
                None => Err("file not in the source map"),
            },
        }
    }

    fn display<'b>(&self, id: &'b FileId) -> Option<impl fmt::Display + 'b> {
        self.map.get(*id).map(|f| f.name.clone())
    }
}

fn report(d: &Diagnostic, files: &mut Files<'_>, color: bool) -> String {
    let paint = |c: Color| Some(c).filter(|_| color);
    let mut out = header(d, paint(severity_color(d.severity)));
    let mut trailer: Vec<(&str, String)> = Vec::new();
    let mut labels = Vec::new();
    for (i, label) in std::iter::once(&d.primary).chain(&d.secondary).enumerate() {
        let Some(file) = files.map.get(label.span.file) else {
            trailer.push((if i == 0 { "at" } else { "note" }, elsewhere(label)));
            continue;
        };
        let (tint, priority) = match i {
            0 => (severity_color(d.severity), 1),
            _ => (Color::Blue, 0),
        };
        let mut l = ariadne::Label::new((label.span.file, clamp(file, label.span)))
            .with_priority(priority)
            .with_order(i32::try_from(i).unwrap_or(i32::MAX));
        if let Some(c) = paint(tint) {
            l = l.with_color(c);
        }
        if let Some(message) = &label.message {
            l = l.with_message(message);
        }
        labels.push(l);
    }
    trailer.extend(extras(d));
    let Some(file) = files.map.get(d.primary.span.file) else {
        return plain(out, &trailer);
    };
    let config = Config::default()
        .with_index_type(IndexType::Byte)
        .with_color(color);
    let report = Report::build(
        ReportKind::Error,
        (d.primary.span.file, clamp(file, d.primary.span)),
    )
    .with_config(config)
    .with_labels(labels)
    .finish();
    let mut buf = Vec::new();
    if report.write(&mut *files, &mut buf).is_err() {
        return plain(out, &trailer);
    }
    let drawn = String::from_utf8_lossy(&buf);
    // ariadne's own header ("Error: …") is replaced by ours; its last line is the foot of the
    // margin (`───╯`), which closes the help, notes and witness we add.
    let mut lines: Vec<&str> = drawn.lines().skip(1).collect();
    let foot = lines.pop().unwrap_or_default();
    let indent = strip_ansi(foot)
        .chars()
        .filter(|c| *c == '─')
        .count()
        .max(2);
    let bar = "│".fg(paint(MARGIN)).to_string();
    for line in lines {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if !trailer.is_empty() {
        out.push_str(&format!("{:indent$}{bar}\n", ""));
    }
    for (tag, text) in &trailer {
        let mut text_lines = text.lines();
        let first = text_lines.next().unwrap_or_default();
        out.push_str(&format!("{:indent$}{bar} {tag}: {first}\n", ""));
        for more in text_lines {
            let pad = tag.len() + 2;
            out.push_str(&format!("{:indent$}{bar} {:pad$}{more}\n", "", ""));
        }
    }
    out.push_str(foot);
    out.push('\n');
    out
}

/// `error[WD2003]: message`, the kind and code in the severity's colour.
fn header(d: &Diagnostic, tint: Option<Color>) -> String {
    let kind = format!("{}[{}]", d.severity.as_str(), d.code.id);
    format!("{}: {}\n", kind.fg(tint), d.message)
}

/// The help line, the notes and the witness, in that order, as `(tag, text)` pairs.
fn extras(d: &Diagnostic) -> Vec<(&'static str, String)> {
    let help = d.help.iter().map(|h| ("help", h.clone()));
    let notes = d.notes.iter().map(|n| ("note", n.clone()));
    let witness = d.witness.iter().map(|w| ("witness", w.to_string()));
    help.chain(notes).chain(witness).collect()
}

/// A label whose file is not in the source map, described in words.
fn elsewhere(label: &Label) -> String {
    let Span { file, start, end } = label.span;
    let at = format!("file #{} (not loaded), bytes {start}..{end}", file.0);
    match &label.message {
        Some(message) => format!("{at}: {message}"),
        None => at,
    }
}

/// The report without a source snippet, for a primary span whose file is unknown.
fn plain(mut out: String, trailer: &[(&str, String)]) -> String {
    for (tag, text) in trailer {
        out.push_str(&format!("  = {tag}: {text}\n"));
    }
    out
}

fn severity_color(severity: Severity) -> Color {
    match severity {
        Severity::Error => Color::Red,
        Severity::Warning => Color::Yellow,
        Severity::Info => Color::Cyan,
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // An SGR sequence: ESC [ parameters m.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The span's byte range, cut to the file and widened to character boundaries, so that ariadne
/// (which slices the text) and [`SourceFile::line_col`] see the same, valid range.
fn clamp(file: &SourceFile, span: Span) -> Range<usize> {
    let text = file.text.as_str();
    let mut start = span.start.min(text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = span.end.clamp(start, text.len());
    while !text.is_char_boundary(end) {
        end += 1;
    }
    start..end
}

/// Where a span is, in the 1-based lines and character columns every output uses. The end is
/// exclusive: the position just after the span's last character.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
struct Region {
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
}

/// The file name and region of a span, or `None` if its file is not in the map.
fn locate(sources: &SourceMap, span: Span) -> Option<(&str, Region)> {
    let file = sources.get(span.file)?;
    let range = clamp(file, span);
    let (line, column) = file.line_col(range.start);
    let (end_line, end_column) = file.line_col(range.end);
    let region = Region {
        line,
        column,
        end_line,
        end_column,
    };
    Some((file.name.as_str(), region))
}

#[derive(Serialize)]
struct JsonPosition<'a> {
    file: Option<&'a str>,
    line: Option<usize>,
    column: Option<usize>,
    end_line: Option<usize>,
    end_column: Option<usize>,
}

impl<'a> JsonPosition<'a> {
    fn of(sources: &'a SourceMap, span: Span) -> Self {
        let found = locate(sources, span);
        let region = found.map(|(_, r)| r);
        JsonPosition {
            file: found.map(|(name, _)| name),
            line: region.map(|r| r.line),
            column: region.map(|r| r.column),
            end_line: region.map(|r| r.end_line),
            end_column: region.map(|r| r.end_column),
        }
    }
}

#[derive(Serialize)]
struct JsonLabel<'a> {
    #[serde(flatten)]
    at: JsonPosition<'a>,
    message: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonDiagnostic<'a> {
    code: &'a str,
    name: &'a str,
    severity: Severity,
    message: &'a str,
    #[serde(flatten)]
    at: JsonPosition<'a>,
    help: Option<&'a str>,
    notes: &'a [String],
    labels: Vec<JsonLabel<'a>>,
    witness: Option<&'a Value>,
}

/// One JSON object per diagnostic, one per line. Positions are 1-based, columns in characters,
/// the end exclusive; all are null when the file is not in the map. `labels` holds the primary
/// label first, then the secondary ones.
pub fn json_lines(diagnostics: &[Diagnostic], sources: &SourceMap) -> String {
    let mut out = String::new();
    for d in diagnostics {
        let labels = std::iter::once(&d.primary)
            .chain(&d.secondary)
            .map(|l| JsonLabel {
                at: JsonPosition::of(sources, l.span),
                message: l.message.as_deref(),
            })
            .collect();
        let line = JsonDiagnostic {
            code: d.code.id,
            name: d.code.name,
            severity: d.severity,
            message: &d.message,
            at: JsonPosition::of(sources, d.primary.span),
            help: d.help.as_deref(),
            notes: &d.notes,
            labels,
            witness: d.witness.as_ref(),
        };
        match serde_json::to_string(&line) {
            Ok(text) => out.push_str(&text),
            Err(e) => out.push_str(
                &json!({"code": d.code.id, "message": d.message, "error": e.to_string()})
                    .to_string(),
            ),
        }
        out.push('\n');
    }
    out
}

/// A SARIF 2.1.0 log (pretty JSON) for GitHub code scanning and other SARIF readers. Columns
/// count Unicode code points (`columnKind`), matching the other outputs.
pub fn sarif(diagnostics: &[Diagnostic], sources: &SourceMap, tool_version: &str) -> String {
    let mut codes: Vec<Code> = diagnostics.iter().map(|d| d.code).collect();
    codes.sort_by_key(|c| c.id);
    codes.dedup_by_key(|c| c.id);
    let rules: Vec<Value> = codes
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "name": c.name,
                "shortDescription": {"text": c.summary},
                "defaultConfiguration": {"level": level(c.severity)},
                "helpUri": format!("{HELP_URI}{}", c.id.to_lowercase()),
            })
        })
        .collect();
    let results: Vec<Value> = diagnostics
        .iter()
        .map(|d| sarif_result(d, sources, &codes))
        .collect();
    let log = json!({
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "warden",
                "version": tool_version,
                "informationUri": INFORMATION_URI,
                "rules": rules,
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    });
    serde_json::to_string_pretty(&log).unwrap_or_else(|_| log.to_string())
}

fn sarif_result(d: &Diagnostic, sources: &SourceMap, codes: &[Code]) -> Value {
    let mut text = d.message.clone();
    for (tag, extra) in extras(d) {
        if tag != "witness" {
            text.push_str(&format!("\n{tag}: {extra}"));
        }
    }
    let mut result = Map::new();
    result.insert("ruleId".into(), json!(d.code.id));
    let index = codes.iter().position(|c| c.id == d.code.id).unwrap_or(0);
    result.insert("ruleIndex".into(), json!(index));
    result.insert("level".into(), json!(level(d.severity)));
    result.insert("message".into(), json!({ "text": text }));
    let primary = sarif_location(sources, &d.primary, None);
    result.insert(
        "locations".into(),
        Value::Array(primary.into_iter().collect()),
    );
    let related: Vec<Value> = (d.secondary.iter().enumerate())
        .filter_map(|(i, l)| sarif_location(sources, l, Some(i)))
        .collect();
    if !related.is_empty() {
        result.insert("relatedLocations".into(), Value::Array(related));
    }
    if let Some(witness) = &d.witness {
        result.insert("properties".into(), json!({ "witness": witness }));
    }
    Value::Object(result)
}

fn sarif_location(sources: &SourceMap, label: &Label, id: Option<usize>) -> Option<Value> {
    let (name, r) = locate(sources, label.span)?;
    let mut location = Map::new();
    if let Some(id) = id {
        location.insert("id".into(), json!(id));
    }
    let region = json!({
        "startLine": r.line,
        "startColumn": r.column,
        "endLine": r.end_line,
        "endColumn": r.end_column,
    });
    location.insert(
        "physicalLocation".into(),
        json!({"artifactLocation": {"uri": uri(name)}, "region": region}),
    );
    if let Some(message) = &label.message {
        location.insert("message".into(), json!({ "text": message }));
    }
    Some(Value::Object(location))
}

/// A file name as a relative URI reference: forward slashes, no leading `./`, and every byte
/// outside the unreserved set (and `/`) percent-encoded.
fn uri(name: &str) -> String {
    let mut path = name.replace('\\', "/");
    while let Some(rest) = path.strip_prefix("./") {
        path = rest.to_string();
    }
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(char::from(b));
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// One summary line: "2 errors, 1 warning in 3 files", or "no problems in 3 files".
pub fn summary(diagnostics: &[Diagnostic], files: usize) -> String {
    let count = |s: Severity| diagnostics.iter().filter(|d| d.severity == s).count();
    let counts = [
        (count(Severity::Error), "error", "errors"),
        (count(Severity::Warning), "warning", "warnings"),
        (count(Severity::Info), "info", "info"),
    ];
    let parts: Vec<String> = counts
        .iter()
        .filter(|(n, _, _)| *n > 0)
        .map(|&(n, one, many)| plural(n, one, many))
        .collect();
    let found = match parts.is_empty() {
        true => "no problems".to_string(),
        false => parts.join(", "),
    };
    format!("{found} in {}", plural(files, "file", "files"))
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::code;

    const POLICY: &str = "policy p {\n  allow run when args.limit == \"all\"\n  deny run when args.limit > 10 because \"too many\"\n}\n";

    fn span_of(map: &SourceMap, file: FileId, needle: &str) -> Span {
        let start = map.get(file).unwrap().text.find(needle).unwrap();
        Span::new(file, start, start + needle.len())
    }

    /// A finding with a primary and a secondary label on two lines, help, a note and a witness.
    fn mixed_types() -> (SourceMap, Diagnostic) {
        let mut map = SourceMap::new();
        let file = map.add("p.warden", POLICY);
        let d = Diagnostic::new(
            code::INCONSISTENT_ARGUMENT_TYPE,
            span_of(&map, file, "args.limit > 10"),
            "`args.limit` is compared as a number here and as a string elsewhere",
        )
        .label("compared as a number")
        .secondary(
            span_of(&map, file, "args.limit == \"all\""),
            "compared as a string",
        )
        .help("compare `args.limit` as one type")
        .note("a call whose `limit` is a string skips the deny")
        .witness(serde_json::json!({"name": "run", "arguments": {"limit": "11"}}));
        (map, d)
    }

    #[test]
    fn human_report_has_header_labels_help_notes_and_witness() {
        let (map, d) = mixed_types();
        insta::assert_snapshot!(human(&[d], &map, false), @r#"
        warning[WD2005]: `args.limit` is compared as a number here and as a string elsewhere
           ╭─[ p.warden:3:17 ]
           │
         2 │   allow run when args.limit == "all"
           │                  ─────────┬─────────
           │                           ╰─────────── compared as a string
         3 │   deny run when args.limit > 10 because "too many"
           │                 ───────┬───────
           │                        ╰───────── compared as a number
           │
           │ help: compare `args.limit` as one type
           │ note: a call whose `limit` is a string skips the deny
           │ witness: {"arguments":{"limit":"11"},"name":"run"}
        ───╯
        "#);
    }

    #[test]
    fn human_uses_colour_only_when_asked() {
        let (map, d) = mixed_types();
        let d = [d];
        assert!(!human(&d, &map, false).contains('\u{1b}'));
        assert!(human(&d, &map, true).contains("\u{1b}["));
    }

    #[test]
    fn reports_follow_the_given_order_with_a_blank_line_between() {
        let (map, d) = mixed_types();
        let first = d.clone().severity(Severity::Error);
        let out = human(&[first, d], &map, false);
        let error = out.find("error[WD2005]").unwrap();
        let warning = out.find("warning[WD2005]").unwrap();
        assert!(error < warning);
        assert!(out.contains("───╯\n\nwarning[WD2005]"));
    }

    #[test]
    fn an_empty_span_at_the_end_of_a_file_renders() {
        let mut map = SourceMap::new();
        let text = "policy p {\n  allow run";
        let file = map.add("cut.warden", text);
        let end = Span::new(file, text.len(), text.len());
        let d = Diagnostic::new(
            code::SYNTAX_ERROR,
            end,
            "expected `}`, found the end of the file",
        )
        .label("the policy block ends here")
        .help("close the block with `}`");
        insta::assert_snapshot!(human(std::slice::from_ref(&d), &map, false), @r"
        error[WD0001]: expected `}`, found the end of the file
           ╭─[ cut.warden:2:12 ]
           │
         2 │   allow run
           │            │
           │            ╰─ the policy block ends here
           │
           │ help: close the block with `}`
        ───╯
        ");
        let line: serde_json::Value = serde_json::from_str(json_lines(&[d], &map).trim()).unwrap();
        assert_eq!(
            (line["line"].as_u64(), line["column"].as_u64()),
            (Some(2), Some(12))
        );
        assert_eq!(
            (line["end_line"].as_u64(), line["end_column"].as_u64()),
            (Some(2), Some(12))
        );
    }

    #[test]
    fn a_span_in_an_unknown_file_falls_back_to_plain_text() {
        let (map, d) = mixed_types();
        let lost = Span::new(FileId(7), 3, 9);
        let mut elsewhere = d.clone();
        elsewhere.primary.span = lost;
        let mut half = d;
        half.secondary[0].span = lost;
        let out = human(&[elsewhere.clone(), half.clone()], &map, false);
        assert!(out.starts_with("warning[WD2005]: `args.limit` is compared"));
        assert!(out.contains("  = at: file #7 (not loaded), bytes 3..9: compared as a number\n"));
        assert!(out.contains("  = help: compare `args.limit` as one type\n"));
        assert!(out.contains("│ note: file #7 (not loaded), bytes 3..9: compared as a string\n"));
        let lines: Vec<serde_json::Value> = json_lines(&[elsewhere.clone()], &map)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(lines[0]["file"].is_null() && lines[0]["line"].is_null());
        let log: serde_json::Value = serde_json::from_str(&sarif(&[elsewhere], &map, "0")).unwrap();
        assert_eq!(
            log["runs"][0]["results"][0]["locations"],
            serde_json::json!([])
        );
    }

    #[test]
    fn no_span_makes_rendering_panic() {
        let text = "a\tçé\r\nb 🦀\u{2028}c\n\nd";
        let mut map = SourceMap::new();
        let file = map.add("odd.warden", text);
        for start in 0..text.len() + 3 {
            for end in 0..text.len() + 3 {
                let d = Diagnostic::new(code::SYNTAX_ERROR, Span::new(file, start, end), "m")
                    .label("here")
                    .secondary(Span::new(file, end, start), "there");
                let d = [d];
                assert!(human(&d, &map, false).starts_with("error[WD0001]: m\n"));
                assert_eq!(json_lines(&d, &map).lines().count(), 1);
                assert!(sarif(&d, &map, "0").contains("\"startLine\""));
            }
        }
    }

    #[test]
    fn json_lines_parse_back_with_character_columns() {
        let mut map = SourceMap::new();
        let file = map.add(
            "café.warden",
            "policy café {\n  deny \"résumé\" when args.x == 1\n}\n",
        );
        let d = Diagnostic::new(code::UNKNOWN_IDENTIFIER, span_of(&map, file, "args.x"), "m")
            .secondary(span_of(&map, file, "\"résumé\""), "s");
        let (map2, d2) = mixed_types();
        let out = json_lines(&[d], &map) + &json_lines(&[d2], &map2);
        let lines: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        let first = &lines[0];
        assert_eq!(first["code"], "WD1001");
        assert_eq!(first["name"], "unknown-identifier");
        assert_eq!(first["severity"], "error");
        assert_eq!(first["file"], "café.warden");
        // `args.x` starts at byte 24 of line 2 but at its 22nd character.
        let at = |v: &serde_json::Value| {
            let n = |k: &str| v[k].as_u64().unwrap();
            (n("line"), n("column"), n("end_line"), n("end_column"))
        };
        assert_eq!(at(first), (2, 22, 2, 28));
        assert!(first["help"].is_null() && first["witness"].is_null());
        assert_eq!(first["notes"], serde_json::json!([]));
        assert_eq!(at(&first["labels"][1]), (2, 8, 2, 16));
        assert_eq!(first["labels"][1]["message"], "s");
        let second = &lines[1];
        assert_eq!(second["severity"], "warning");
        assert_eq!(second["help"], "compare `args.limit` as one type");
        assert_eq!(second["witness"]["arguments"]["limit"], "11");
        assert_eq!(second["labels"][0]["message"], "compared as a number");
    }

    #[test]
    fn sarif_has_the_paths_code_scanning_reads() {
        let (mut map, d) = mixed_types();
        let other = map.add("dir\\sub dir/./x.warden", "policy x {}\n");
        let syntax = Diagnostic::new(code::SYNTAX_ERROR, Span::new(other, 9, 10), "m");
        let log: serde_json::Value =
            serde_json::from_str(&sarif(&[d, syntax], &map, "1.2.3")).unwrap();
        assert_eq!(log["version"], "2.1.0");
        assert!(log["$schema"].as_str().unwrap().contains("sarif-2.1.0"));
        let run = &log["runs"][0];
        let driver = &run["tool"]["driver"];
        assert_eq!(
            (&driver["name"], &driver["version"]),
            (&"warden".into(), &"1.2.3".into())
        );
        assert!(
            driver["informationUri"]
                .as_str()
                .unwrap()
                .starts_with("https://")
        );
        let rules = driver["rules"].as_array().unwrap();
        let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["WD0001", "WD2005"]);
        let rule = &rules[1];
        assert_eq!(rule["name"], "inconsistent-argument-type");
        assert_eq!(
            rule["shortDescription"]["text"],
            code::INCONSISTENT_ARGUMENT_TYPE.summary
        );
        assert_eq!(rule["defaultConfiguration"]["level"], "warning");
        assert!(
            rule["helpUri"]
                .as_str()
                .unwrap()
                .ends_with("diagnostics.md#wd2005")
        );
        let result = &run["results"][0];
        assert_eq!(
            (&result["ruleId"], &result["ruleIndex"]),
            (&"WD2005".into(), &1.into())
        );
        assert_eq!(result["level"], "warning");
        let text = result["message"]["text"].as_str().unwrap();
        assert!(text.starts_with("`args.limit` is compared") && text.contains("help: compare"));
        let location = &result["locations"][0]["physicalLocation"];
        assert_eq!(location["artifactLocation"]["uri"], "p.warden");
        let region =
            serde_json::json!({"startLine": 3, "startColumn": 17, "endLine": 3, "endColumn": 32});
        assert_eq!(location["region"], region);
        let related = &result["relatedLocations"][0];
        assert_eq!(related["physicalLocation"]["region"]["startLine"], 2);
        assert_eq!(related["message"]["text"], "compared as a string");
        assert_eq!(result["properties"]["witness"]["name"], "run");
        let second = &run["results"][1];
        assert_eq!(
            (&second["ruleIndex"], &second["level"]),
            (&0.into(), &"error".into())
        );
        let uri = &second["locations"][0]["physicalLocation"]["artifactLocation"]["uri"];
        assert_eq!(uri, "dir/sub%20dir/./x.warden");
        assert!(second.get("relatedLocations").is_none() && second.get("properties").is_none());
    }

    #[test]
    fn summary_counts_by_severity_and_files() {
        let (_, d) = mixed_types();
        let error = d.clone().severity(Severity::Error);
        let info = d.clone().severity(Severity::Info);
        assert_eq!(summary(&[], 3), "no problems in 3 files");
        assert_eq!(summary(&[], 1), "no problems in 1 file");
        assert_eq!(
            summary(&[error.clone(), d.clone(), error], 3),
            "2 errors, 1 warning in 3 files"
        );
        assert_eq!(
            summary(&[d.clone(), d, info], 1),
            "2 warnings, 1 info in 1 file"
        );
    }
}
