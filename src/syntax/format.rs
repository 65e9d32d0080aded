//! The canonical formatter: AST (plus the comments the grammar skips) → text.
//!
//! Layout: two-space indentation; one item per line; a rule fits on one line when it has at
//! most one clause and no comment inside and stays within [`WIDTH`] columns, otherwise each
//! clause goes on its own line in the order `when`, `limit`…, `because`; a condition too
//! long for its line breaks before each top-level `and`/`or`; a test case too long for its line
//! breaks before `with` and `=>`. Single blank lines between items
//! are kept, runs of them collapse. Literals are printed as written. Every comment is kept:
//! a comment on the line where something ends stays there, every other comment goes on its
//! own line before the next thing printed. `format(format(x)) == format(x)`.

use super::comments::Cursor;
use crate::ast::*;

/// The line width the formatter aims for.
pub const WIDTH: usize = 100;

/// Formats a parsed file whose source text is `src`.
pub fn format(file: &File, src: &str) -> String {
    let mut f = Formatter {
        out: String::new(),
        cursor: Cursor::new(src),
    };
    for (i, p) in file.policies.iter().enumerate() {
        f.comments_before(p.span.start, 0, i > 0);
        if i > 0 {
            f.out.push('\n');
        }
        f.policy(p);
    }
    f.comments_before(usize::MAX, 0, !file.policies.is_empty());
    f.out
}

struct Formatter<'a> {
    out: String,
    cursor: Cursor<'a>,
}

impl Formatter<'_> {
    fn line(&mut self, indent: usize, text: &str) {
        for _ in 0..indent {
            self.out.push_str("  ");
        }
        self.out.push_str(text);
    }

    fn end_line(&mut self, end: usize) {
        if let Some(c) = self.cursor.trailing(end) {
            self.out.push_str("  ");
            self.out.push_str(&c);
        }
        self.out.push('\n');
    }

    /// Prints the comments that come before `pos`, each on its own line; returns whether any.
    fn comments_before(&mut self, pos: usize, indent: usize, mut after_something: bool) -> bool {
        let comments = self.cursor.leading(pos);
        let any = !comments.is_empty();
        for (text, blank_before) in comments {
            if blank_before && after_something {
                self.out.push('\n');
            }
            self.line(indent, &text);
            self.out.push('\n');
            after_something = true;
        }
        if any && pos < usize::MAX && self.cursor.blank_line_before(pos) {
            self.out.push('\n');
        }
        any
    }

    fn policy(&mut self, p: &Policy) {
        self.line(0, &format!("policy {} {{", p.name.node));
        self.end_line(p.name.span.end);
        for (i, item) in p.items.iter().enumerate() {
            let start = item.span().start;
            let blank = i > 0 && self.blank_before(start);
            if blank {
                self.out.push('\n');
            }
            self.comments_before(start, 1, i > 0 && !blank);
            self.item(item);
        }
        self.comments_before(p.span.end, 1, !p.items.is_empty());
        self.line(0, "}");
        self.end_line(p.span.end);
    }

    /// Whether a blank line precedes `pos` or the comments just before it.
    fn blank_before(&self, pos: usize) -> bool {
        self.cursor.blank_line_before(self.cursor.peek_start(pos))
    }

    fn item(&mut self, item: &Item) {
        match item {
            Item::Default(d) => {
                let mut s = format!("default {}", d.effect.node.keyword());
                if let Some(b) = &d.because {
                    s.push_str(&format!(" because {}", b.raw));
                }
                self.line(1, &s);
                self.end_line(d.span.end);
            }
            Item::Risk(r) => {
                self.list("risk", r.tools.iter().map(|p| p.raw.clone()).collect());
                self.out.push_str(&format!(" is {}", r.class.node));
                self.end_line(r.span.end);
            }
            Item::Rule(r) => self.rule(r),
            Item::Assert(a) => {
                let head = format!(
                    "assert {} {}",
                    if a.always.node { "always" } else { "never" },
                    a.effect.node.keyword(),
                );
                self.head(&head, &a.targets);
                if let Some(w) = &a.when {
                    let when = format!(" when {}", expr(w));
                    if self.column() + when.len() <= WIDTH {
                        self.out.push_str(&when);
                    } else {
                        self.out.push('\n');
                        self.line(2, when.trim_start());
                    }
                }
                self.end_line(a.span.end);
            }
            Item::Test(t) => self.test(t),
        }
    }

    fn rule(&mut self, r: &Rule) {
        let mut prefix = String::new();
        if let Some(n) = &r.name {
            prefix.push_str(&n.node);
            prefix.push_str(": ");
        }
        prefix.push_str(r.effect.node.keyword());
        let head = format!("{prefix} {}", targets(&r.targets));

        let mut clauses: Vec<&Clause> = Vec::new();
        clauses.extend(r.clauses.iter().filter(|c| matches!(c, Clause::When(..))));
        clauses.extend(r.clauses.iter().filter(|c| matches!(c, Clause::Limit(..))));
        clauses.extend(
            r.clauses
                .iter()
                .filter(|c| matches!(c, Clause::Because(..))),
        );

        let inner_comment = self.cursor.has_comment_within(r.span.start, r.span.end);
        if let [single] = clauses.as_slice()
            && !inner_comment
        {
            let one = format!("{head} {}", clause(single));
            if one.len() + 2 <= WIDTH {
                self.line(1, &one);
                self.end_line(r.span.end);
                return;
            }
        }
        self.head(&prefix, &r.targets);
        if clauses.is_empty() {
            self.end_line(r.span.end);
            return;
        }
        self.end_line(r.head_span().end);
        for c in clauses {
            self.comments_before(c.span().start, 2, true);
            let text = clause(c);
            match c {
                Clause::When(e, _) if text.len() + 4 > WIDTH => self.long_condition(e),
                _ => self.line(2, &text),
            }
            self.end_line(c.span().end);
        }
    }

    /// `PREFIX t1, t2, …` at indent 1, continuing on lines indented twice more when the
    /// targets do not fit in [`WIDTH`]. Leaves the cursor at the end of the last line.
    fn head(&mut self, prefix: &str, ts: &[Target]) {
        self.list(prefix, ts.iter().map(target).collect());
    }

    /// `PREFIX a, b, …`, wrapped as [`Self::head`] wraps targets.
    fn list(&mut self, prefix: &str, items: Vec<String>) {
        self.line(1, prefix);
        for (i, item) in items.iter().enumerate() {
            let piece = if i + 1 < items.len() {
                format!("{item},")
            } else {
                item.clone()
            };
            if i > 0 && self.column() + 1 + piece.len() > WIDTH {
                self.out.push('\n');
                self.line(3, &piece);
            } else {
                self.out.push(' ');
                self.out.push_str(&piece);
            }
        }
    }

    /// The column the output is at (characters since the last newline).
    fn column(&self) -> usize {
        self.out
            .rsplit('\n')
            .next()
            .map_or(0, |l| l.chars().count())
    }

    /// `when a` / `  and b` / `  and c`, for a condition too long for one line.
    fn long_condition(&mut self, e: &Expr) {
        let (parts, op) = match e {
            Expr::And(parts, _) => (parts, "and"),
            Expr::Or(parts, _) => (parts, "or"),
            other => {
                self.line(2, &format!("when {}", expr(other)));
                return;
            }
        };
        for (i, p) in parts.iter().enumerate() {
            if i == 0 {
                self.line(2, &format!("when {}", expr(p)));
            } else {
                self.out.push('\n');
                self.line(3, &format!("{op} {}", expr(p)));
            }
        }
    }

    fn test(&mut self, t: &TestBlock) {
        self.line(1, &format!("test {} {{", t.name.raw));
        self.end_line(t.name.span.end);
        for (i, c) in t.cases.iter().enumerate() {
            let blank = i > 0 && self.blank_before(c.span.start);
            if blank {
                self.out.push('\n');
            }
            self.comments_before(c.span.start, 2, i > 0 && !blank);
            let (head, with, expect) = case(c);
            let one = format!("{head}{with} {expect}");
            if one.len() + 4 <= WIDTH {
                self.line(2, &one);
            } else {
                self.line(2, &head);
                if !with.is_empty() {
                    self.out.push('\n');
                    self.line(3, with.trim_start());
                }
                self.out.push('\n');
                self.line(3, &expect);
            }
            self.end_line(c.span.end);
        }
        self.comments_before(t.span.end, 2, !t.cases.is_empty());
        self.line(1, "}");
        self.end_line(t.span.end);
    }
}

fn targets(ts: &[Target]) -> String {
    ts.iter().map(target).collect::<Vec<_>>().join(", ")
}

fn target(t: &Target) -> String {
    if t.risk {
        return format!("risk {}", t.tool.raw);
    }
    match &t.server {
        Some(s) => format!("{}::{}", s.raw, t.tool.raw),
        None => t.tool.raw.clone(),
    }
}

fn clause(c: &Clause) -> String {
    match c {
        Clause::When(e, _) => format!("when {}", expr(e)),
        Clause::Because(s, _) => format!("because {}", s.raw),
        Clause::Limit(l) => {
            let mut s = format!(
                "limit {} per {} per {}",
                l.max.raw, l.window.node, l.scope.node
            );
            if let Some(c) = &l.counter {
                s.push_str(&format!(" as {}", c.node));
            }
            s
        }
    }
}

/// A condition on one line, parentheses exactly where the user wrote them.
pub fn expr(e: &Expr) -> String {
    match e {
        Expr::Or(parts, _) => parts.iter().map(expr).collect::<Vec<_>>().join(" or "),
        Expr::And(parts, _) => parts.iter().map(expr).collect::<Vec<_>>().join(" and "),
        Expr::Not(inner, _) => format!("not {}", expr(inner)),
        Expr::Group(inner, _) => format!("({})", expr(inner)),
        Expr::Bool(b, _) => b.to_string(),
        Expr::Compare(c) => {
            let mut s = operand(&c.operand);
            match &c.test {
                None => {}
                Some(Test::Exists(_)) => s.push_str(" exists"),
                Some(Test::Op(op, v)) => {
                    s.push(' ');
                    s.push_str(op.node.symbol());
                    s.push(' ');
                    s.push_str(&value(v));
                }
            }
            s
        }
    }
}

fn operand(o: &Operand) -> String {
    let mut s = o.root.node.clone();
    for seg in &o.segments {
        match &seg.node {
            Segment::Field(f) => {
                s.push('.');
                s.push_str(f);
            }
            Segment::Index(i) => s.push_str(&format!("[{i}]")),
            Segment::Key(k) => s.push_str(&format!("[{}]", k.raw)),
        }
    }
    s
}

fn value(v: &Value) -> String {
    match v {
        Value::Literal(l) => literal(l),
        Value::List(items, _) => format!(
            "[{}]",
            items.iter().map(literal).collect::<Vec<_>>().join(", ")
        ),
        Value::Regex(r) => format!("/{}/", r.node),
    }
}

fn literal(l: &Literal) -> String {
    match l {
        Literal::Str(s) => s.raw.clone(),
        Literal::Num(n) => n.raw.clone(),
        Literal::Bool(b, _) => b.to_string(),
        Literal::Null(_) => "null".to_string(),
    }
}

/// A test case in three parts: `call … {args}`, ` with …` (or ""), `=> effect [by rule]`.
fn case(c: &TestCase) -> (String, String, String) {
    let mut head = format!("call {}", target(&c.target));
    if let Some(a) = &c.arguments {
        head.push(' ');
        head.push_str(&json(&a.raw));
    }
    let mut with = String::new();
    if !c.with.is_empty() {
        let items: Vec<String> = c
            .with
            .iter()
            .map(|w| format!("{} {}", w.key.node, json(&w.value.raw)))
            .collect();
        with = format!(" with {}", items.join(", "));
    }
    let mut expect = format!("=> {}", c.expect.node);
    if let Some(b) = &c.by {
        expect.push_str(" by ");
        expect.push_str(&b.node);
    }
    (head, with, expect)
}

/// Re-spaces JSON text as `{"k": v, "l": [1, 2]}`, keeping tokens (and key order) as written
/// and dropping comments (the cursor prints them separately).
fn json(raw: &str) -> String {
    let mut out = String::new();
    let mut chars = raw.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                let mut escaped = false;
                out.push('"');
                for (_, d) in chars.by_ref() {
                    out.push(d);
                    if escaped {
                        escaped = false;
                    } else if d == '\\' {
                        escaped = true;
                    } else if d == '"' {
                        break;
                    }
                }
            }
            '/' if raw[i..].starts_with("//") => {
                while chars.peek().is_some_and(|(_, d)| *d != '\n') {
                    chars.next();
                }
            }
            ':' => out.push_str(": "),
            ',' => out.push_str(", "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}
