//! The front of every command: find policy files, read them, parse and lower each, and keep
//! every diagnostic of every file (never stopping at the first).

use crate::diagnostic::{Diagnostic, Severity, code};
use crate::ir::Policy;
use crate::lower;
use crate::source::{FileId, SourceMap, Span};
use crate::syntax;
use std::path::{Path, PathBuf};

/// The file extension of policy sources.
pub const EXTENSION: &str = "warden";

/// One loaded policy file.
#[derive(Debug)]
pub struct Loaded {
    pub id: FileId,
    pub path: PathBuf,
    /// `None` when the file did not parse or holds no policy.
    pub policy: Option<Policy>,
    /// Whether this file has error diagnostics.
    pub has_errors: bool,
}

/// Everything one run read, and everything it found.
#[derive(Debug, Default)]
pub struct Workspace {
    pub sources: SourceMap,
    pub files: Vec<Loaded>,
    pub diagnostics: Vec<Diagnostic>,
    /// Paths that could not be read or listed, with the reason.
    pub io_errors: Vec<(PathBuf, String)>,
}

impl Workspace {
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }

    pub fn count(&self, severity: Severity) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == severity)
            .count()
    }

    /// Adds one source text (used by `load` and by tests).
    pub fn add_source(&mut self, path: &Path, text: String) -> FileId {
        let id = self.sources.add(display(path), text.clone());
        let (policy, mut diags) = match syntax::parse(id, &text) {
            Ok(ast) => {
                let lowered = lower::lower(id, &ast);
                (lowered.policy, lowered.diagnostics)
            }
            Err(d) => (None, vec![*d]),
        };
        let has_errors = diags.iter().any(|d| d.is_error());
        self.diagnostics.append(&mut diags);
        self.files.push(Loaded {
            id,
            path: path.to_path_buf(),
            policy,
            has_errors,
        });
        id
    }
}

/// Expands paths (files, or directories searched recursively for `*.warden`), sorted so that
/// output is stable.
pub fn discover(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<(PathBuf, String)>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut files, &mut errors);
        } else {
            files.push(p.clone());
        }
    }
    files.sort();
    files.dedup();
    (files, errors)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>, errors: &mut Vec<(PathBuf, String)>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            errors.push((dir.to_path_buf(), e.to_string()));
            return;
        }
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, files, errors);
        } else if p.extension().is_some_and(|e| e == EXTENSION) {
            files.push(p);
        }
    }
}

/// Reads, parses and lowers every policy file under `paths`.
pub fn load(paths: &[PathBuf]) -> Workspace {
    let (files, io_errors) = discover(paths);
    let mut ws = Workspace {
        io_errors,
        ..Workspace::default()
    };
    for path in files {
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                ws.add_source(&path, text);
            }
            Err(e) => {
                let id = ws.sources.add(display(&path), String::new());
                ws.diagnostics.push(Diagnostic::new(
                    code::UNREADABLE_FILE,
                    Span::new(id, 0, 0),
                    format!("cannot read `{}`: {e}", display(&path)),
                ));
                ws.io_errors.push((path, e.to_string()));
            }
        }
    }
    crate::diagnostic::sort(&mut ws.diagnostics);
    ws
}

/// A path as shown to users: as given, with forward slashes.
pub fn display(path: &Path) -> String {
    path.to_string_lossy().replace('\\', "/")
}
