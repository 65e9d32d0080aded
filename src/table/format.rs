//! The decision table's bytes: writing a [`Spec`] with its [`Header`], and the validated
//! parse that reads one back.
//!
//! The layout (docs/formats.md, "Decision table", has it byte by byte): a fixed header
//! (magic, format version, flags, total length, policy hash), the writer's version, the body,
//! and a CRC-32 of everything before it. The body is a sequence of length-prefixed items read
//! front to back; it holds no offsets, so nothing in the file is trusted to point anywhere.
//! Every count is checked against the bytes left, every tag and index against its range, and
//! the reader refuses trailing bytes.

use super::cond::MAX_DEPTH;
use super::{Candidate, Header, LimitSpec, RuleSpec, ServerRef, Slot, Spec, TableError};
use crate::glob::Glob;
use crate::ir::{
    Annotation, CmpOp, Cond, Effect, Literal, NamePattern, Operand, PathSeg, Pred, Regex,
    RiskOverride, RiskOverrides, Scope, Test, Window,
};
use crate::num::Num;
use crate::risk::Risk;
use crate::source::Span;

/// The first eight bytes of every table file (PNG-style: a high byte, the name, CR LF, ^Z, LF,
/// so that text-mode transfers and `cat` are detected).
pub const MAGIC: [u8; 8] = [0x89, b'W', b'D', b'T', b'\r', b'\n', 0x1a, b'\n'];

/// The format version this warden writes and reads.
pub const FORMAT_VERSION: u16 = 2;

/// Magic, version, flags, total length, policy hash.
const FIXED_HEADER: usize = 8 + 2 + 2 + 8 + 32;
const CHECKSUM: usize = 4;
const FLAG_CHECKED: u16 = 1;

/// Whether the bytes start like a table file (used to tell tables from policy sources).
pub fn is_table(bytes: &[u8]) -> bool {
    bytes.starts_with(&MAGIC)
}

/// The file form of a table.
pub fn write(header: &Header, spec: &Spec) -> Vec<u8> {
    let mut w = Writer(Vec::new());
    w.0.extend_from_slice(&MAGIC);
    w.u16(FORMAT_VERSION);
    w.u16(if header.checked { FLAG_CHECKED } else { 0 });
    w.u64(0); // total length, patched below
    w.0.extend_from_slice(&header.policy_hash);
    w.str(&header.writer);
    w.str(&spec.policy);
    w.effect(spec.default);
    w.opt_str(spec.default_reason.as_deref());
    w.count(spec.rules.len());
    for r in &spec.rules {
        w.rule(r);
    }
    for names in [&spec.servers, &spec.server_globs] {
        w.count(names.len());
        for n in names {
            w.str(n);
        }
    }
    for slots in [&spec.tools, &spec.tool_globs] {
        w.count(slots.len());
        for s in slots {
            w.slot(s);
        }
    }
    w.count(spec.risk.list.len());
    for o in &spec.risk.list {
        match &o.tool {
            NamePattern::Exact(name) => {
                w.u8(0);
                w.str(name);
            }
            NamePattern::Glob(g) => {
                w.u8(1);
                w.str(g.as_str());
            }
        }
        w.u8(position(&Risk::ALL, &o.risk));
    }
    let total = (w.0.len() + CHECKSUM) as u64;
    if let Some(len) = w.0.get_mut(12..20) {
        len.copy_from_slice(&total.to_le_bytes());
    }
    let crc = crc32fast::hash(&w.0);
    w.0.extend_from_slice(&crc.to_le_bytes());
    w.0
}

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    /// A length or count. Nothing a policy file holds reaches 4 GiB; were it to, the
    /// saturated count makes the reader refuse the table rather than misread it.
    fn count(&mut self, n: usize) {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX));
    }
    fn str(&mut self, s: &str) {
        self.count(s.len());
        self.0.extend_from_slice(s.as_bytes());
    }
    fn opt_str(&mut self, s: Option<&str>) {
        match s {
            None => self.u8(0),
            Some(s) => {
                self.u8(1);
                self.str(s);
            }
        }
    }
    fn effect(&mut self, e: Effect) {
        self.u8(match e {
            Effect::Allow => 0,
            Effect::Deny => 1,
            Effect::Approve => 2,
            Effect::Hide => 3,
        });
    }
    fn rule(&mut self, r: &RuleSpec) {
        self.str(&r.id);
        self.effect(r.effect);
        self.opt_str(r.reason.as_deref());
        self.count(r.limits.len());
        for l in &r.limits {
            self.str(&l.counter);
            self.u64(l.max);
            self.u8(position(&Window::ALL, &l.window));
            self.u8(position(&Scope::ALL, &l.scope));
        }
        self.cond(&r.condition);
    }
    fn cond(&mut self, c: &Cond) {
        match c {
            Cond::True => self.u8(0),
            Cond::False => self.u8(1),
            Cond::And(cs) | Cond::Or(cs) => {
                self.u8(if matches!(c, Cond::And(_)) { 2 } else { 3 });
                self.count(cs.len());
                for c in cs {
                    self.cond(c);
                }
            }
            Cond::Not(c) => {
                self.u8(4);
                self.cond(c);
            }
            Cond::Test(t) => {
                self.u8(5);
                self.operand(&t.operand);
                self.pred(&t.pred);
            }
        }
    }
    fn operand(&mut self, o: &Operand) {
        match o {
            Operand::Arg(path) => {
                self.u8(0);
                self.count(path.len());
                for seg in path {
                    match seg {
                        PathSeg::Key(k) => {
                            self.u8(0);
                            self.str(k);
                        }
                        PathSeg::Index(i) => {
                            self.u8(1);
                            self.u64(*i as u64);
                        }
                    }
                }
            }
            Operand::Grant => self.u8(1),
            Operand::Agent => self.u8(2),
            Operand::Session => self.u8(3),
            Operand::Annotation(a) => {
                self.u8(4);
                self.u8(position(&Annotation::ALL, a));
            }
            Operand::Risk => self.u8(5),
        }
    }
    fn pred(&mut self, p: &Pred) {
        match p {
            Pred::Exists => self.u8(0),
            Pred::Eq(l) | Pred::Ne(l) | Pred::Contains(l) => {
                self.u8(match p {
                    Pred::Eq(_) => 1,
                    Pred::Ne(_) => 2,
                    _ => 10,
                });
                self.lit(l);
            }
            Pred::Cmp(op, n) => {
                self.u8(3);
                self.u8(match op {
                    CmpOp::Lt => 0,
                    CmpOp::Le => 1,
                    CmpOp::Gt => 2,
                    CmpOp::Ge => 3,
                });
                self.str(&n.to_string());
            }
            Pred::In(list) | Pred::NotIn(list) => {
                self.u8(if matches!(p, Pred::In(_)) { 4 } else { 5 });
                self.count(list.len());
                for l in list {
                    self.lit(l);
                }
            }
            Pred::Glob(g) => {
                self.u8(6);
                self.str(g.as_str());
            }
            Pred::Regex(r) => {
                self.u8(7);
                self.str(&r.source);
            }
            Pred::StartsWith(s) => {
                self.u8(8);
                self.str(s);
            }
            Pred::EndsWith(s) => {
                self.u8(9);
                self.str(s);
            }
        }
    }
    fn lit(&mut self, l: &Literal) {
        match l {
            Literal::Null => self.u8(0),
            Literal::Bool(false) => self.u8(1),
            Literal::Bool(true) => self.u8(2),
            Literal::Num(n) => {
                self.u8(3);
                self.str(&n.to_string());
            }
            Literal::Str(s) => {
                self.u8(4);
                self.str(s);
            }
        }
    }
    fn slot(&mut self, s: &Slot) {
        self.str(&s.name);
        self.count(s.candidates.len());
        for c in &s.candidates {
            self.u32(c.rule);
            match &c.servers {
                None => self.u8(0),
                Some(refs) => {
                    self.u8(1);
                    self.count(refs.len());
                    for r in refs {
                        let (kind, i) = match r {
                            ServerRef::Exact(i) => (0, *i),
                            ServerRef::Glob(i) => (1, *i),
                        };
                        self.u8(kind);
                        self.u32(i);
                    }
                }
            }
        }
    }
}

fn position<T: PartialEq>(all: &[T], x: &T) -> u8 {
    all.iter()
        .position(|y| y == x)
        .and_then(|p| u8::try_from(p).ok())
        .unwrap_or(u8::MAX)
}

/// Reads a table file, refusing anything that is not a whole, uncorrupted table of this
/// format version.
pub fn read(bytes: &[u8]) -> Result<(Header, Spec), TableError> {
    if bytes.len() < MAGIC.len() {
        return Err(if MAGIC.starts_with(bytes) && !bytes.is_empty() {
            TableError::Truncated {
                expected: FIXED_HEADER as u64,
                found: bytes.len() as u64,
            }
        } else {
            TableError::NotATable
        });
    }
    if !is_table(bytes) {
        return Err(TableError::NotATable);
    }
    let truncated = |expected: u64| TableError::Truncated {
        expected,
        found: bytes.len() as u64,
    };
    let mut r = Reader { bytes, at: 8 };
    let version = r.u16().map_err(|_| truncated(FIXED_HEADER as u64))?;
    if version != FORMAT_VERSION {
        return Err(TableError::Version { found: version });
    }
    let flags = r.u16().map_err(|_| truncated(FIXED_HEADER as u64))?;
    let total = r.u64().map_err(|_| truncated(FIXED_HEADER as u64))?;
    if (bytes.len() as u64) < total || bytes.len() < FIXED_HEADER + CHECKSUM {
        return Err(truncated(total.max((FIXED_HEADER + CHECKSUM) as u64)));
    }
    if bytes.len() as u64 > total {
        return Err(TableError::Malformed(format!(
            "{} bytes after the end of the table",
            bytes.len() as u64 - total
        )));
    }
    let (content, crc) = bytes.split_at(bytes.len() - CHECKSUM);
    let crc: [u8; 4] = crc.try_into().map_err(|_| TableError::Checksum)?;
    if crc32fast::hash(content) != u32::from_le_bytes(crc) {
        return Err(TableError::Checksum);
    }
    let mut r = Reader {
        bytes: content,
        at: r.at,
    };
    let parsed = (|| {
        if flags & !FLAG_CHECKED != 0 {
            return Err(format!("unknown flags {flags:#06x}"));
        }
        let policy_hash: [u8; 32] = r
            .take(32)?
            .try_into()
            .map_err(|_| "short policy hash".to_string())?;
        let header = Header {
            format_version: version,
            policy_hash,
            checked: flags & FLAG_CHECKED != 0,
            writer: r.str()?,
        };
        let spec = r.spec()?;
        if r.at != content.len() {
            return Err("the body ends before the checksum".to_string());
        }
        Ok((header, spec))
    })();
    parsed.map_err(TableError::Malformed)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

type R<T> = Result<T, String>;

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> R<&'a [u8]> {
        let end = self.at.checked_add(n).ok_or("length overflow")?;
        let out = self
            .bytes
            .get(self.at..end)
            .ok_or_else(|| format!("item at byte {} runs past the end", self.at))?;
        self.at = end;
        Ok(out)
    }
    fn array<const N: usize>(&mut self) -> R<[u8; N]> {
        self.take(N)?
            .try_into()
            .map_err(|_| "short read".to_string())
    }
    fn u8(&mut self) -> R<u8> {
        Ok(u8::from_le_bytes(self.array()?))
    }
    fn u16(&mut self) -> R<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> R<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> R<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    /// A count of items of at least one byte each: never more than the bytes left.
    fn count(&mut self) -> R<usize> {
        let n = self.u32()? as usize;
        if n > self.bytes.len().saturating_sub(self.at) {
            return Err(format!(
                "count {n} at byte {} exceeds the table",
                self.at - 4
            ));
        }
        Ok(n)
    }
    fn str(&mut self) -> R<String> {
        let n = self.count()?;
        let at = self.at;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| format!("invalid UTF-8 at byte {at}"))
    }
    fn opt_str(&mut self) -> R<Option<String>> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.str()?)),
            t => Err(format!("bad option tag {t}")),
        }
    }
    fn list<T>(&mut self, mut item: impl FnMut(&mut Self) -> R<T>) -> R<Vec<T>> {
        let n = self.count()?;
        (0..n).map(|_| item(self)).collect()
    }
    fn pick<T: Copy>(&mut self, all: &[T], what: &str) -> R<T> {
        let i = self.u8()?;
        all.get(usize::from(i))
            .copied()
            .ok_or_else(|| format!("bad {what} {i}"))
    }
    fn effect(&mut self) -> R<Effect> {
        self.pick(
            &[Effect::Allow, Effect::Deny, Effect::Approve, Effect::Hide],
            "effect",
        )
    }
    fn num(&mut self) -> R<Num> {
        let text = self.str()?;
        Num::parse(&text).ok_or_else(|| format!("bad number `{text}`"))
    }
    fn spec(&mut self) -> R<Spec> {
        Ok(Spec {
            policy: self.str()?,
            default: self.effect()?,
            default_reason: self.opt_str()?,
            rules: self.list(Self::rule)?,
            servers: self.list(Self::str)?,
            server_globs: self.list(Self::str)?,
            tools: self.list(Self::slot)?,
            tool_globs: self.list(Self::slot)?,
            risk: RiskOverrides {
                list: self.list(|r| {
                    let tool = match r.u8()? {
                        0 => NamePattern::Exact(r.str()?),
                        1 => {
                            let source = r.str()?;
                            NamePattern::Glob(
                                Glob::parse(&source)
                                    .map_err(|e| format!("glob `{source}`: {e}"))?,
                            )
                        }
                        t => return Err(format!("bad risk override tag {t}")),
                    };
                    Ok(RiskOverride {
                        tool,
                        risk: r.pick(&Risk::ALL, "risk class")?,
                        span: Span::default(),
                    })
                })?,
            },
        })
    }
    fn rule(&mut self) -> R<RuleSpec> {
        Ok(RuleSpec {
            id: self.str()?,
            effect: self.effect()?,
            reason: self.opt_str()?,
            limits: self.list(|r| {
                Ok(LimitSpec {
                    counter: r.str()?.into(),
                    max: r.u64()?,
                    window: r.pick(&Window::ALL, "window")?,
                    scope: r.pick(&Scope::ALL, "scope")?,
                })
            })?,
            condition: self.cond(0)?,
        })
    }
    fn cond(&mut self, depth: usize) -> R<Cond> {
        if depth > MAX_DEPTH {
            return Err(format!("a condition is nested more than {MAX_DEPTH} deep"));
        }
        Ok(match self.u8()? {
            0 => Cond::True,
            1 => Cond::False,
            2 => Cond::And(self.list(|r| r.cond(depth + 1))?),
            3 => Cond::Or(self.list(|r| r.cond(depth + 1))?),
            4 => Cond::Not(Box::new(self.cond(depth + 1)?)),
            5 => Cond::Test(Test {
                operand: self.operand()?,
                pred: self.pred()?,
                span: Span::default(),
            }),
            t => return Err(format!("bad condition tag {t}")),
        })
    }
    fn operand(&mut self) -> R<Operand> {
        Ok(match self.u8()? {
            0 => Operand::Arg(self.list(|r| {
                match r.u8()? {
                    0 => Ok(PathSeg::Key(r.str()?)),
                    1 => usize::try_from(r.u64()?)
                        .map(PathSeg::Index)
                        .map_err(|_| "index too large".to_string()),
                    t => Err(format!("bad path segment tag {t}")),
                }
            })?),
            1 => Operand::Grant,
            2 => Operand::Agent,
            3 => Operand::Session,
            4 => Operand::Annotation(self.pick(&Annotation::ALL, "annotation")?),
            5 => Operand::Risk,
            t => return Err(format!("bad operand tag {t}")),
        })
    }
    fn pred(&mut self) -> R<Pred> {
        Ok(match self.u8()? {
            0 => Pred::Exists,
            1 => Pred::Eq(self.lit()?),
            2 => Pred::Ne(self.lit()?),
            3 => {
                let op = self.pick(&[CmpOp::Lt, CmpOp::Le, CmpOp::Gt, CmpOp::Ge], "operator")?;
                Pred::Cmp(op, self.num()?)
            }
            4 => Pred::In(self.list(Self::lit)?),
            5 => Pred::NotIn(self.list(Self::lit)?),
            6 => {
                let source = self.str()?;
                Pred::Glob(Glob::parse(&source).map_err(|e| format!("glob `{source}`: {e}"))?)
            }
            7 => {
                let source = self.str()?;
                let compiled = regex::Regex::new(&source)
                    .map_err(|e| format!("regex `{source}` does not compile: {e}"))?;
                Pred::Regex(Regex { source, compiled })
            }
            8 => Pred::StartsWith(self.str()?),
            9 => Pred::EndsWith(self.str()?),
            10 => Pred::Contains(self.lit()?),
            t => return Err(format!("bad predicate tag {t}")),
        })
    }
    fn lit(&mut self) -> R<Literal> {
        Ok(match self.u8()? {
            0 => Literal::Null,
            1 => Literal::Bool(false),
            2 => Literal::Bool(true),
            3 => Literal::Num(self.num()?),
            4 => Literal::Str(self.str()?),
            t => return Err(format!("bad literal tag {t}")),
        })
    }
    fn slot(&mut self) -> R<Slot> {
        Ok(Slot {
            name: self.str()?,
            candidates: self.list(|r| {
                Ok(Candidate {
                    rule: r.u32()?,
                    servers: match r.u8()? {
                        0 => None,
                        1 => Some(r.list(|r| match r.u8()? {
                            0 => Ok(ServerRef::Exact(r.u32()?)),
                            1 => Ok(ServerRef::Glob(r.u32()?)),
                            t => Err(format!("bad server tag {t}")),
                        })?),
                        t => return Err(format!("bad server list tag {t}")),
                    },
                })
            })?,
        })
    }
}
