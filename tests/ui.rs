//! UI tests: one small policy per case under tests/ui/<stage>/, snapshotted together with the
//! diagnostics it produces (human, no colour; and JSON lines), so that a reviewer reads the
//! case and the answer in one place. Also checks that every registered code has a case and a
//! section in docs/diagnostics.md.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails loudly on a bad fixture"
)]

use std::collections::BTreeSet;
use std::path::Path;
use warden::diagnostic::{code, render};
use warden::pipeline::Workspace;

fn run_case(path: &Path) -> (String, Vec<String>) {
    let text = std::fs::read_to_string(path).unwrap();
    let name = format!("ui/{}", path.file_name().unwrap().to_string_lossy());
    let mut ws = Workspace::default();
    ws.add_source(Path::new(&name), text.clone());
    warden::diagnostic::sort(&mut ws.diagnostics);
    let human = render::human(&ws.diagnostics, &ws.sources, false);
    let json = render::json_lines(&ws.diagnostics, &ws.sources);
    let codes = ws
        .diagnostics
        .iter()
        .map(|d| d.code.id.to_string())
        .collect();
    (
        format!("{text}\n=== diagnostics ===\n{human}\n=== json ===\n{json}"),
        codes,
    )
}

#[test]
fn ui_cases() {
    insta::glob!("ui/**/*.warden", |path| {
        let (snapshot, codes) = run_case(path);
        // A case file named WDxxxx-….warden must produce that code.
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        if let Some(id) = stem.split('-').next().filter(|s| s.starts_with("WD")) {
            assert!(
                codes.iter().any(|c| c == id),
                "{stem}: expected {id}, got {codes:?}"
            );
        }
        insta::assert_snapshot!(snapshot);
    });
}

#[test]
fn every_front_end_code_has_a_ui_case() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui");
    let mut covered = BTreeSet::new();
    for entry in walk(&dir) {
        let stem = entry.file_stem().unwrap().to_string_lossy().to_string();
        covered.insert(stem.split('-').next().unwrap().to_string());
    }
    let missing: Vec<&str> = code::ALL
        .iter()
        .map(|c| c.id)
        .filter(|id| id.starts_with("WD0") || id.starts_with("WD1") || id.starts_with("WD2"))
        .filter(|id| *id != code::UNREADABLE_FILE.id) // needs a missing file; covered in tests/cli.rs
        .filter(|id| !covered.contains(*id))
        .collect();
    assert!(missing.is_empty(), "codes without a UI case: {missing:?}");
}

#[test]
fn every_code_is_documented() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/diagnostics.md"))
            .unwrap();
    let missing: Vec<String> = code::ALL
        .iter()
        .map(|c| format!("## {} {}", c.id, c.name))
        .filter(|heading| !doc.contains(heading.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/diagnostics.md lacks sections: {missing:#?}"
    );
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "warden") {
            out.push(p);
        }
    }
    out
}
