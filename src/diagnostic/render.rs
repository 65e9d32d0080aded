//! Rendering diagnostics for people and for tools.
//!
//! Owns the output forms of a [`Diagnostic`]: reports drawn by ariadne for people ([`human`]),
//! JSON Lines ([`json_lines`]), a SARIF 2.1.0 log for code scanning ([`sarif`]) and the one-line
//! [`summary`]. The only module that imports ariadne. It knows nothing about how diagnostics
//! are found: only the plain data they carry and the [`SourceMap`] their spans point into.
//!
//! Rendering never panics on bad input: a span past the end of its file or inside a multi-byte
//! character is widened to character boundaries, and a span in a file the map does not hold is
//! rendered as plain text (null positions in JSON, no location in SARIF).

use super::{Code, Diagnostic, Label, Severity};
use crate::source::{FileId, SourceFile, SourceMap, Span};
use ariadne::{Cache, Color, Config, Fmt, IndexType, Report, ReportKind, Source};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::{fmt, iter, ops::Range};

const INFORMATION_URI: &str = "https://github.com/warden-policy/warden";
const HELP_URI: &str = "https://github.com/warden-policy/warden/blob/main/docs/diagnostics.md#";
const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// Human-readable reports drawn by ariadne, one per diagnostic in the given order, separated by
/// a blank line: `error[WD2003]: message`, the labelled source, then `help:`, `note:` and
/// `witness:` lines. Byte offsets; colour only when `color` is true.
pub fn human(diagnostics: &[Diagnostic], sources: &SourceMap, color: bool) -> String {
    let texts = sources.files().map(|(_, f)| Source::from(f.text.as_str()));
    let mut files = Files(sources, texts.collect());
    let reports: Vec<String> = diagnostics
        .iter()
        .map(|d| report(d, &mut files, color))
        .collect();
    reports.join("\n")
}

/// The source map and its texts as ariadne reads them, in [`FileId`] order.
struct Files<'a>(&'a SourceMap, Vec<Source<&'a str>>);

impl<'a> Cache<FileId> for Files<'a> {
    type Storage = &'a str;

    fn fetch(&mut self, id: &FileId) -> Result<&Source<&'a str>, impl fmt::Debug> {
        self.1
            .get(id.0 as usize)
            .ok_or("file not in the source map")
    }

    fn display<'b>(&self, id: &'b FileId) -> Option<impl fmt::Display + 'b> {
        self.0.get(*id).map(|f| f.name.clone())
    }
}

fn report(d: &Diagnostic, files: &mut Files<'_>, color: bool) -> String {
    let paint = |c: Color| Some(c).filter(|_| color);
    let kind = format!("{}[{}]", d.severity.as_str(), d.code.id);
    let mut out = format!("{}: {}\n", kind.fg(paint(tint(d.severity))), d.message);
    let mut trailer = Vec::new();
    let mut labels = Vec::new();
    for (i, label) in iter::once(&d.primary).chain(&d.secondary).enumerate() {
        let Some(file) = files.0.get(label.span.file) else {
            trailer.push((if i == 0 { "at" } else { "note" }, elsewhere(label)));
            continue;
        };
        let (colour, priority) = match i {
            0 => (tint(d.severity), 1),
            _ => (Color::Blue, 0),
        };
        let mut l = ariadne::Label::new((label.span.file, clamp(file, label.span)))
            .with_priority(priority)
            .with_order(i32::try_from(i).unwrap_or(i32::MAX));
        if let Some(c) = paint(colour) {
            l = l.with_color(c);
        }
        // ariadne draws no underline for a label without a message, and the primary span must
        // always be shown: give it an empty one.
        let message = label.message.as_deref().unwrap_or("");
        l = l.with_message(message.replace('\n', " ")); // ariadne's margin is one line high
        labels.push(l);
    }
    trailer.extend(extras(d));
    let Some(file) = files.0.get(d.primary.span.file) else {
        return plain(out, &trailer);
    };
    let config = Config::default()
        .with_index_type(IndexType::Byte)
        .with_color(color);
    let span = (d.primary.span.file, clamp(file, d.primary.span));
    let report = Report::build(ReportKind::Error, span)
        .with_config(config)
        .with_labels(labels)
        .finish();
    let mut buf = Vec::new();
    if report.write(&mut *files, &mut buf).is_err() {
        return plain(out, &trailer); // a Vec never fails to take bytes, but ariadne may
    }
    let drawn = String::from_utf8_lossy(&buf);
    // Our header replaces ariadne's; ariadne's last line is the margin's foot (`───╯`), which
    // comes after the lines we add. Its dashes span the line-number column.
    let mut lines: Vec<&str> = drawn.lines().skip(1).collect();
    let foot = lines.pop().unwrap_or("───╯");
    let indent = foot.chars().filter(|c| *c == '─').count();
    let bar = "│".fg(paint(Color::Fixed(246))).to_string();
    for line in lines {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if !trailer.is_empty() {
        out.push_str(&format!("{:indent$}{bar}\n", ""));
    }
    for (tag, text) in &trailer {
        let pad = tag.len() + 2;
        for (n, line) in text.split('\n').enumerate() {
            match n {
                0 => out.push_str(&format!("{:indent$}{bar} {tag}: {line}\n", "")),
                _ => out.push_str(&format!("{:indent$}{bar} {:pad$}{line}\n", "", "")),
            }
        }
    }
    out.push_str(foot);
    out.push('\n');
    out
}

/// The header and trailer without a source snippet.
fn plain(mut out: String, trailer: &[(&str, String)]) -> String {
    for (tag, text) in trailer {
        out.push_str(&format!("  = {tag}: {text}\n"));
    }
    out
}

fn tint(severity: Severity) -> Color {
    match severity {
        Severity::Error => Color::Red,
        Severity::Warning => Color::Yellow,
        Severity::Info => Color::Cyan,
    }
}

/// The help line, the notes and the witness (compact JSON), in that order, as `(tag, text)`.
fn extras(d: &Diagnostic) -> Vec<(&'static str, String)> {
    let help = d.help.iter().map(|h| ("help", h.clone()));
    let notes = d.notes.iter().map(|n| ("note", n.clone()));
    let witness = d.witness.iter().map(|w| ("witness", w.to_string()));
    help.chain(notes).chain(witness).collect()
}

/// A label whose file is not in the source map, in words.
fn elsewhere(label: &Label) -> String {
    let Span { file, start, end } = label.span;
    let at = format!("file #{} (not loaded), bytes {start}..{end}", file.0);
    match &label.message {
        Some(message) => format!("{at}: {message}"),
        None => at,
    }
}

/// The span's byte range cut to the file and widened to character boundaries, so that ariadne
/// (which slices the text) and [`SourceFile::line_col`] see the same valid range.
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

/// The file name, and the 1-based line and character column of a span's start and of its
/// (exclusive) end, or `None` if its file is not in the map.
fn locate(sources: &SourceMap, span: Span) -> Option<(&str, [usize; 4])> {
    let file = sources.get(span.file)?;
    let range = clamp(file, span);
    let (line, column) = file.line_col(range.start);
    let (end_line, end_column) = file.line_col(range.end);
    Some((file.name.as_str(), [line, column, end_line, end_column]))
}

/// A label in JSON: where it is, then its message.
#[derive(Serialize)]
struct JsonLabel<'a> {
    file: Option<&'a str>,
    line: Option<usize>,
    column: Option<usize>,
    end_line: Option<usize>,
    end_column: Option<usize>,
    message: Option<&'a str>,
}

impl<'a> JsonLabel<'a> {
    fn new(sources: &'a SourceMap, span: Span, message: Option<&'a str>) -> Self {
        let found = locate(sources, span);
        let n = |i: usize| found.and_then(|(_, r)| r.get(i).copied());
        let (line, column, end_line, end_column) = (n(0), n(1), n(2), n(3));
        let file = found.map(|(name, _)| name);
        JsonLabel {
            file,
            line,
            column,
            end_line,
            end_column,
            message,
        }
    }
}

#[derive(Serialize)]
struct JsonDiagnostic<'a> {
    code: &'a str,
    name: &'a str,
    severity: Severity,
    #[serde(flatten)]
    at: JsonLabel<'a>,
    help: Option<&'a str>,
    notes: &'a [String],
    labels: Vec<JsonLabel<'a>>,
    witness: Option<&'a Value>,
}

/// One JSON object per diagnostic, one per line. Positions are 1-based, columns count
/// characters, the end is exclusive, and all are null when the file is not in the map.
/// `labels` holds the primary label first, then the secondary ones.
pub fn json_lines(diagnostics: &[Diagnostic], sources: &SourceMap) -> String {
    let mut out = String::new();
    for d in diagnostics {
        let labels = iter::once(&d.primary).chain(&d.secondary);
        let line = JsonDiagnostic {
            code: d.code.id,
            name: d.code.name,
            severity: d.severity,
            at: JsonLabel::new(sources, d.primary.span, Some(&d.message)),
            help: d.help.as_deref(),
            notes: &d.notes,
            labels: (labels.map(|l| JsonLabel::new(sources, l.span, l.message.as_deref())))
                .collect(),
            witness: d.witness.as_ref(),
        };
        let text = serde_json::to_string(&line).unwrap_or_else(|e| {
            json!({"code": d.code.id, "message": d.message, "error": e.to_string()}).to_string()
        });
        out.push_str(&text);
        out.push('\n');
    }
    out
}

/// A SARIF 2.1.0 log (pretty JSON) for GitHub code scanning and other SARIF readers. Columns
/// count Unicode code points (the run's `columnKind`), as in the other outputs.
pub fn sarif(diagnostics: &[Diagnostic], sources: &SourceMap, tool_version: &str) -> String {
    let mut codes: Vec<Code> = diagnostics.iter().map(|d| d.code).collect();
    codes.sort_by_key(|c| c.id);
    codes.dedup_by_key(|c| c.id);
    let rules: Vec<Value> = (codes.iter())
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
    let results: Vec<Value> = (diagnostics.iter())
        .map(|d| sarif_result(d, sources, &codes))
        .collect();
    let driver = json!({"name": "warden", "version": tool_version, "informationUri": INFORMATION_URI, "rules": rules});
    let log = json!({
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{"tool": {"driver": driver}, "columnKind": "unicodeCodePoints", "results": results}],
    });
    serde_json::to_string_pretty(&log).unwrap_or_else(|_| log.to_string())
}

fn sarif_result(d: &Diagnostic, sources: &SourceMap, codes: &[Code]) -> Value {
    let mut text = d.message.clone();
    for (tag, extra) in extras(d).into_iter().filter(|(tag, _)| *tag != "witness") {
        text.push_str(&format!("\n{tag}: {extra}"));
    }
    let index = codes.iter().position(|c| c.id == d.code.id).unwrap_or(0);
    let primary: Vec<Value> = sarif_location(sources, &d.primary, None)
        .into_iter()
        .collect();
    let mut result = Map::new();
    result.insert("ruleId".into(), json!(d.code.id));
    result.insert("ruleIndex".into(), json!(index));
    result.insert("level".into(), json!(level(d.severity)));
    result.insert("message".into(), json!({ "text": text }));
    result.insert("locations".into(), Value::Array(primary));
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
    let (name, [line, column, end_line, end_column]) = locate(sources, label.span)?;
    let region = json!({"startLine": line, "startColumn": column, "endLine": end_line, "endColumn": end_column});
    let physical = json!({"artifactLocation": {"uri": uri(name)}, "region": region});
    let mut location = Map::new();
    if let Some(id) = id {
        location.insert("id".into(), json!(id));
    }
    location.insert("physicalLocation".into(), physical);
    if let Some(message) = &label.message {
        location.insert("message".into(), json!({ "text": message }));
    }
    Some(Value::Object(location))
}

/// A file name as a relative URI reference: forward slashes, no leading `./`, and every byte
/// outside the unreserved set and `/` percent-encoded.
fn uri(name: &str) -> String {
    let path = name.replace('\\', "/");
    let mut path = path.as_str();
    while let Some(rest) = path.strip_prefix("./") {
        path = rest;
    }
    let keep = |b: u8| b.is_ascii_alphanumeric() || b"-._~/".contains(&b);
    (path.bytes())
        .map(|b| match keep(b) {
            true => char::from(b).to_string(),
            false => format!("%{b:02X}"),
        })
        .collect()
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
    let parts: Vec<String> = [
        (count(Severity::Error), "error", "errors"),
        (count(Severity::Warning), "warning", "warnings"),
        (count(Severity::Info), "info", "info"),
    ]
    .into_iter()
    .filter(|(n, _, _)| *n > 0)
    .map(|(n, one, many)| plural(n, one, many))
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
    use serde_json::from_str;

    const POLICY: &str = "policy p {\n  allow run when args.limit == \"all\"\n  deny run when args.limit > 10 because \"too many\"\n}\n";

    fn span_of(map: &SourceMap, file: FileId, needle: &str) -> Span {
        let start = map.get(file).unwrap().text.find(needle).unwrap();
        Span::new(file, start, start + needle.len())
    }

    /// A primary and a secondary label on two lines, help, a note and a witness.
    fn mixed_types() -> (SourceMap, Diagnostic) {
        let mut map = SourceMap::new();
        let file = map.add("p.warden", POLICY);
        let message = "`args.limit` is compared as a number here and as a string elsewhere";
        let number = span_of(&map, file, "args.limit > 10");
        let string = span_of(&map, file, "args.limit == \"all\"");
        let d = Diagnostic::new(code::INCONSISTENT_ARGUMENT_TYPE, number, message)
            .label("compared as a number")
            .secondary(string, "compared as a string")
            .help("compare `args.limit` as one type")
            .note("a call whose `limit` is a string skips the deny")
            .witness(json!({"name": "run", "arguments": {"limit": "11"}}));
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
    fn human_keeps_the_order_and_colours_only_when_asked() {
        let (map, d) = mixed_types();
        let both = [d.clone().severity(Severity::Error), d];
        let plain = human(&both, &map, false);
        assert!(plain.starts_with("error[WD2005]") && plain.contains("───╯\n\nwarning[WD2005]"));
        assert!(!plain.contains('\u{1b}'));
        assert!(human(&both, &map, true).contains("\u{1b}["));
    }

    #[test]
    fn an_empty_span_at_the_end_of_a_file_renders() {
        let mut map = SourceMap::new();
        let text = "policy p {\n  allow run";
        let file = map.add("cut.warden", text);
        let eof = Span::new(file, text.len(), text.len());
        let d =
            Diagnostic::new(code::SYNTAX_ERROR, eof, "expected `}`").label("the block ends here");
        insta::assert_snapshot!(human(std::slice::from_ref(&d), &map, false), @r"
        error[WD0001]: expected `}`
           ╭─[ cut.warden:2:12 ]
           │
         2 │   allow run
           │            │
           │            ╰─ the block ends here
        ───╯
        ");
        let line: Value = from_str(&json_lines(&[d], &map)).unwrap();
        expect(&line, "/line 2\n/column 12\n/end_line 2\n/end_column 12");
    }

    #[test]
    fn a_span_in_an_unknown_file_falls_back_to_plain_text() {
        let (map, d) = mixed_types();
        let (mut lost, mut half) = (d.clone(), d);
        lost.primary.span = Span::new(FileId(7), 3, 9);
        half.secondary[0].span = lost.primary.span;
        let out = human(&[lost.clone(), half], &map, false);
        assert!(out.contains("  = at: file #7 (not loaded), bytes 3..9: compared as a number\n"));
        assert!(out.contains("  = help: compare `args.limit` as one type\n"));
        assert!(out.contains("│ note: file #7 (not loaded), bytes 3..9: compared as a string\n"));
        let line: Value = from_str(&json_lines(&[lost.clone()], &map)).unwrap();
        assert!(line["file"].is_null() && line["line"].is_null());
        let log: Value = from_str(&sarif(&[lost], &map, "0")).unwrap();
        assert_eq!(log["runs"][0]["results"][0]["locations"], json!([]));
    }

    #[test]
    fn no_span_makes_rendering_panic() {
        let text = "a\tçé\r\nb 🦀\u{2028}c\n\nd";
        let mut map = SourceMap::new();
        let file = map.add("odd.warden", text);
        for (start, end) in
            (0..text.len() + 2).flat_map(|s| (0..text.len() + 2).map(move |e| (s, e)))
        {
            let d = [
                Diagnostic::new(code::SYNTAX_ERROR, Span::new(file, start, end), "m")
                    .label("here")
                    .secondary(Span::new(file, end, start), "there"),
            ];
            assert!(human(&d, &map, false).starts_with("error[WD0001]: m\n"));
            assert!(from_str::<Value>(&json_lines(&d, &map)).is_ok());
            assert!(from_str::<Value>(&sarif(&d, &map, "0")).is_ok());
        }
    }

    /// Checks lines of `JSON-pointer expected-JSON`.
    fn expect(value: &Value, table: &str) {
        for line in table.trim().lines() {
            let (pointer, want) = line.trim().split_once(' ').unwrap();
            let want: Value = from_str(want).unwrap();
            assert_eq!(
                value.pointer(pointer),
                Some(&want),
                "{pointer} in {value:#}"
            );
        }
    }

    #[test]
    fn json_lines_parse_back_with_character_columns() {
        let mut map = SourceMap::new();
        let text = "policy café {\n  deny \"résumé\" when args.x == 1\n}\n";
        let file = map.add("café.warden", text);
        let d = Diagnostic::new(code::UNKNOWN_IDENTIFIER, span_of(&map, file, "args.x"), "m")
            .secondary(span_of(&map, file, "\"résumé\""), "s");
        let (map2, d2) = mixed_types();
        let out = json_lines(&[d], &map) + &json_lines(&[d2], &map2);
        let lines: Vec<Value> = out.lines().map(|l| from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        // `args.x` starts at byte 24 of its line but at its 22nd character.
        let first = r#"
            /code "WD1001"
            /name "unknown-identifier"
            /severity "error"
            /file "café.warden"
            /line 2
            /column 22
            /end_line 2
            /end_column 28
            /help null
            /notes []
            /witness null
            /labels/0/column 22
            /labels/0/message null
            /labels/1/message "s"
            /labels/1/column 8
            /labels/1/end_column 16"#;
        expect(&lines[0], first);
        let second = r#"
            /severity "warning"
            /help "compare `args.limit` as one type"
            /notes/0 "a call whose `limit` is a string skips the deny"
            /labels/0/message "compared as a number"
            /labels/1/line 2
            /witness {"name": "run", "arguments": {"limit": "11"}}"#;
        expect(&lines[1], second);
    }

    #[test]
    fn sarif_has_the_paths_code_scanning_reads() {
        let (mut map, d) = mixed_types();
        let other = map.add(".\\sub dir\\x.warden", "policy x {}\n");
        let syntax = Diagnostic::new(code::SYNTAX_ERROR, Span::new(other, 9, 10), "m");
        let log: Value = from_str(&sarif(&[d, syntax], &map, "1.2.3")).unwrap();
        let table = r#"
            /$schema "https://json.schemastore.org/sarif-2.1.0.json"
            /version "2.1.0"
            /runs/0/tool/driver/name "warden"
            /runs/0/tool/driver/version "1.2.3"
            /runs/0/tool/driver/informationUri "https://github.com/warden-policy/warden"
            /runs/0/tool/driver/rules/0/id "WD0001"
            /runs/0/tool/driver/rules/1/id "WD2005"
            /runs/0/tool/driver/rules/1/name "inconsistent-argument-type"
            /runs/0/tool/driver/rules/1/shortDescription/text "one argument is compared as different JSON types"
            /runs/0/tool/driver/rules/1/defaultConfiguration/level "warning"
            /runs/0/tool/driver/rules/1/helpUri "https://github.com/warden-policy/warden/blob/main/docs/diagnostics.md#wd2005"
            /runs/0/results/0/ruleId "WD2005"
            /runs/0/results/0/ruleIndex 1
            /runs/0/results/0/level "warning"
            /runs/0/results/0/message/text "`args.limit` is compared as a number here and as a string elsewhere\nhelp: compare `args.limit` as one type\nnote: a call whose `limit` is a string skips the deny"
            /runs/0/results/0/locations/0/physicalLocation/artifactLocation/uri "p.warden"
            /runs/0/results/0/locations/0/physicalLocation/region {"startLine": 3, "startColumn": 17, "endLine": 3, "endColumn": 32}
            /runs/0/results/0/relatedLocations/0/physicalLocation/region/startLine 2
            /runs/0/results/0/relatedLocations/0/message/text "compared as a string"
            /runs/0/results/0/properties/witness/name "run"
            /runs/0/results/1/ruleIndex 0
            /runs/0/results/1/level "error"
            /runs/0/results/1/locations/0/physicalLocation/artifactLocation/uri "sub%20dir/x.warden""#;
        expect(&log, table);
        let second = &log["runs"][0]["results"][1];
        assert!(second.get("relatedLocations").is_none() && second.get("properties").is_none());
    }

    #[test]
    fn summary_counts_by_severity_and_files() {
        let (_, warning) = mixed_types();
        let error = warning.clone().severity(Severity::Error);
        let info = warning.clone().severity(Severity::Info);
        let two_one = [error.clone(), warning.clone(), error];
        assert_eq!(summary(&[], 1), "no problems in 1 file");
        assert_eq!(summary(&two_one, 3), "2 errors, 1 warning in 3 files");
        assert_eq!(
            summary(&[warning.clone(), warning, info], 2),
            "2 warnings, 1 info in 2 files"
        );
    }
}
