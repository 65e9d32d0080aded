//! Drift: how a live server's tools differ from a pinned catalog (`warden catalog --check`).
//! A tool is *added* or *removed* by name, and *changed* when its definition hash differs; a
//! change names the parts that differ (`description`, `inputSchema`, `annotations`).

use super::{Catalog, CatalogTool, file};
use crate::risk::Risk;
use serde_json::{Value, json};

/// A tool whose definition changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub name: String,
    pub old: String,
    pub new: String,
    /// The parts that differ.
    pub what: Vec<&'static str>,
    /// The risk classes before and after, when the change moved the tool to another class.
    pub risk: Option<(Risk, Risk)>,
}

#[derive(Clone, Debug, Default)]
pub struct Drift {
    /// Tools the live server has and the pinned catalog does not: (name, hash).
    pub added: Vec<(String, String)>,
    /// Tools the pinned catalog has and the live server does not: (name, hash).
    pub removed: Vec<(String, String)>,
    pub changed: Vec<Change>,
}

impl Drift {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }

    /// One line per finding, for people.
    pub fn human(&self, pinned: &str) -> String {
        if self.is_empty() {
            return format!("no drift: the server's tools match {pinned}\n");
        }
        let mut out = format!(
            "drift against {pinned}: {} added, {} removed, {} changed\n",
            self.added.len(),
            self.removed.len(),
            self.changed.len()
        );
        for (name, hash) in &self.added {
            out.push_str(&format!("  added    {name}  {hash}\n"));
        }
        for (name, hash) in &self.removed {
            out.push_str(&format!("  removed  {name}  {hash}\n"));
        }
        for c in &self.changed {
            let risk = c
                .risk
                .map(|(a, b)| format!("; risk {a} -> {b}"))
                .unwrap_or_default();
            out.push_str(&format!(
                "  changed  {}  ({}{risk})  {} -> {}\n",
                c.name,
                c.what.join(", "),
                c.old,
                c.new
            ));
        }
        out
    }

    pub fn to_json(&self) -> Value {
        let pairs = |v: &[(String, String)]| -> Vec<Value> {
            v.iter()
                .map(|(n, h)| json!({"name": n, "hash": h}))
                .collect()
        };
        json!({
            "drift": !self.is_empty(),
            "added": pairs(&self.added),
            "removed": pairs(&self.removed),
            "changed": self.changed.iter().map(|c| {
                let mut v = json!({"name": c.name, "old": c.old, "new": c.new, "what": c.what});
                if let Some((a, b)) = c.risk {
                    v["risk"] = json!({"old": a.name(), "new": b.name()});
                }
                v
            }).collect::<Vec<_>>(),
        })
    }
}

/// Compares a pinned catalog with a live one; every list is sorted by tool name.
pub fn compare(pinned: &Catalog, live: &Catalog) -> Drift {
    let mut d = Drift::default();
    for t in &live.tools {
        match pinned.tool(&t.name) {
            None => d.added.push((t.name.clone(), t.hash.clone())),
            Some(old) if old.hash != t.hash => d.changed.push(Change {
                name: t.name.clone(),
                old: old.hash.clone(),
                new: t.hash.clone(),
                what: parts(old, t),
                risk: Some((old.classify().risk, t.classify().risk)).filter(|(a, b)| a != b),
            }),
            Some(_) => {}
        }
    }
    for t in &pinned.tools {
        if live.tool(&t.name).is_none() {
            d.removed.push((t.name.clone(), t.hash.clone()));
        }
    }
    d.added.sort();
    d.removed.sort();
    d.changed.sort_by(|a, b| a.name.cmp(&b.name));
    d
}

fn parts(old: &CatalogTool, new: &CatalogTool) -> Vec<&'static str> {
    let text = |v: &Value| {
        let mut s = String::new();
        file::canonical(v, &mut s);
        s
    };
    let mut what = Vec::new();
    if old.description != new.description {
        what.push("description");
    }
    if text(&old.schema) != text(&new.schema) {
        what.push("inputSchema");
    }
    if text(&old.annotations_json) != text(&new.annotations_json) {
        what.push("annotations");
    }
    what
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog(text: &str) -> Catalog {
        Catalog::parse(text).unwrap()
    }

    #[test]
    fn finds_added_removed_and_changed_tools() {
        let old = catalog(
            r#"{"tools":[{"name":"a","description":"x"},{"name":"b"},{"name":"c","annotations":{"readOnlyHint":true}}]}"#,
        );
        let new = catalog(
            r#"{"tools":[{"name":"a","description":"y","inputSchema":{}},{"name":"d"},{"name":"c","annotations":{"readOnlyHint":true}}]}"#,
        );
        let d = compare(&old, &new);
        assert_eq!(
            d.added.iter().map(|a| a.0.as_str()).collect::<Vec<_>>(),
            ["d"]
        );
        assert_eq!(
            d.removed.iter().map(|a| a.0.as_str()).collect::<Vec<_>>(),
            ["b"]
        );
        assert_eq!(d.changed.len(), 1);
        assert_eq!(d.changed[0].what, ["description", "inputSchema"]);
        assert_eq!(d.changed[0].risk, None);
        let destroys = catalog(
            r#"{"tools":[{"name":"a","description":"y","annotations":{"destructiveHint":true}}]}"#,
        );
        let c = &compare(&old, &destroys).changed[0];
        assert_eq!(c.risk, Some((Risk::Write, Risk::Destructive)));
        assert!(
            compare(&old, &destroys)
                .human("p")
                .contains("; risk write -> destructive)")
        );
        assert_eq!(
            compare(&old, &destroys).to_json()["changed"][0]["risk"]["new"],
            "destructive"
        );
        assert_eq!(d.changed[0].old, old.tool("a").unwrap().hash);
        let human = d.human("pinned.json");
        assert!(human.contains("1 added, 1 removed, 1 changed"), "{human}");
        assert_eq!(d.to_json()["changed"][0]["what"][1], "inputSchema");
        assert!(compare(&old, &old).is_empty());
        assert!(compare(&old, &old).human("p").starts_with("no drift"));
    }
}
