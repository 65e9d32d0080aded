//! The audit log: one JSON object per line for every decision, written to a file (re-opened
//! on SIGHUP so that the operator's log rotation works) or to stderr (`-`).
//!
//! Argument *values* are never written, only the sorted top-level keys: values carry secrets.

use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// One decision, as logged.
#[derive(Debug, Serialize)]
pub struct Entry<'a> {
    pub time: String,
    pub event: &'a str,
    pub request_id: Option<&'a str>,
    pub server: Option<&'a str>,
    pub tool: &'a str,
    pub grant: &'a str,
    pub agent: Option<&'a str>,
    pub session: &'a str,
    /// `allow`, `deny`, `approve`, `hide`.
    pub decision: &'a str,
    /// The machine-readable code sent to the client (`policy_denied`, `rate_limited`, …), or
    /// `forwarded`.
    pub code: &'a str,
    pub rule: &'a str,
    pub reason: Option<&'a str>,
    pub counters: &'a [super::limits::CounterState],
    pub latency_ns: u64,
    pub argument_keys: Vec<&'a str>,
    /// The tool's risk class as the policy sees it (its override, else what `tools/list` said,
    /// else its name's).
    pub risk: &'a str,
    pub dry_run: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_hash: Option<&'a str>,
}

impl Entry<'_> {
    /// The entry as one JSON line, written out by hand: the same text as its `Serialize`
    /// (a test holds them equal), for a fraction of the cost, since an entry is written for
    /// every call and most of its strings need no escaping.
    pub fn line(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        // The string members in order; `None` is written as `null`.
        let strings: [(&[u8], Option<&str>); 12] = [
            (b"{\"time\":", Some(&self.time)),
            (b",\"event\":", Some(self.event)),
            (b",\"request_id\":", self.request_id),
            (b",\"server\":", self.server),
            (b",\"tool\":", Some(self.tool)),
            (b",\"grant\":", Some(self.grant)),
            (b",\"agent\":", self.agent),
            (b",\"session\":", Some(self.session)),
            (b",\"decision\":", Some(self.decision)),
            (b",\"code\":", Some(self.code)),
            (b",\"rule\":", Some(self.rule)),
            (b",\"reason\":", self.reason),
        ];
        for (key, value) in strings {
            out.extend_from_slice(key);
            push_opt(&mut out, value);
        }
        out.extend_from_slice(b",\"counters\":[");
        for (i, c) in self.counters.iter().enumerate() {
            out.extend_from_slice(if i == 0 {
                b"{\"counter\":"
            } else {
                b",{\"counter\":"
            });
            push_str(&mut out, &c.counter);
            out.extend_from_slice(b",\"count\":");
            push_u64(&mut out, c.count);
            out.extend_from_slice(b",\"max\":");
            push_u64(&mut out, c.max);
            out.extend_from_slice(b",\"window\":");
            push_str(&mut out, c.window);
            out.push(b'}');
        }
        out.extend_from_slice(b"],\"latency_ns\":");
        push_u64(&mut out, self.latency_ns);
        out.extend_from_slice(b",\"argument_keys\":[");
        for (i, key) in self.argument_keys.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_str(&mut out, key);
        }
        out.extend_from_slice(b"],\"risk\":");
        push_str(&mut out, self.risk);
        out.extend_from_slice(if self.dry_run {
            b",\"dry_run\":true"
        } else {
            b",\"dry_run\":false"
        });
        if let Some(hash) = self.call_hash {
            out.extend_from_slice(b",\"call_hash\":");
            push_str(&mut out, hash);
        }
        out.extend_from_slice(b"}\n");
        out
    }
}

/// A JSON string: copied between quotes when nothing in it needs escaping, else escaped by
/// serde_json exactly as `Serialize` would.
fn push_str(out: &mut Vec<u8>, s: &str) {
    if !crate::table::json::needs_escape(s.as_bytes()) {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else if serde_json::to_writer(&mut *out, s).is_err() {
        out.extend_from_slice(b"null");
    }
}

fn push_u64(out: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

fn push_opt(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => push_str(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// Where entries go.
pub enum Sink {
    Stderr,
    File(PathBuf, Mutex<Option<std::fs::File>>),
    Off,
}

impl Sink {
    pub fn open(target: Option<&str>) -> std::io::Result<Sink> {
        match target {
            None => Ok(Sink::Off),
            Some("-") => Ok(Sink::Stderr),
            Some(path) => {
                let path = PathBuf::from(path);
                let file = open_append(&path)?;
                Ok(Sink::File(path, Mutex::new(Some(file))))
            }
        }
    }

    pub fn is_off(&self) -> bool {
        matches!(self, Sink::Off)
    }

    /// Writes any serializable event as a line.
    pub fn write<T: Serialize>(&self, event: &T) {
        if self.is_off() {
            return;
        }
        if let Ok(mut line) = serde_json::to_vec(event) {
            line.push(b'\n');
            self.write_line(&line);
        }
    }

    /// Writes a decision as a line.
    pub fn write_entry(&self, entry: &Entry) {
        if !self.is_off() {
            self.write_line(&entry.line());
        }
    }

    /// Errors are reported once on stderr; the proxy never stops deciding because its log is
    /// unwritable.
    fn write_line(&self, line: &[u8]) {
        match self {
            Sink::Off => {}
            Sink::Stderr => {
                let _ = std::io::stderr().write_all(line);
            }
            Sink::File(path, file) => {
                let mut guard = file.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(f) = guard.as_mut()
                    && let Err(e) = f.write_all(line)
                {
                    eprintln!("warden: cannot write the audit log {}: {e}", path.display());
                    *guard = None;
                }
            }
        }
    }

    /// Re-opens the file (after the operator moved it away), on SIGHUP.
    pub fn reopen(&self) {
        if let Sink::File(path, file) = self {
            let mut guard = file.lock().unwrap_or_else(|p| p.into_inner());
            match open_append(path) {
                Ok(f) => *guard = Some(f),
                Err(e) => eprintln!(
                    "warden: cannot re-open the audit log {}: {e}",
                    path.display()
                ),
            }
        }
    }
}

fn open_append(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The current time as RFC 3339 UTC with milliseconds: `2026-11-24T15:31:47.123Z`.
pub fn now_rfc3339() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    thread_local! {
        /// The last second formatted, and its text up to the milliseconds: a busy proxy logs
        /// many entries per second, and calendar arithmetic and formatting cost more than the
        /// rest of an entry.
        static LAST: std::cell::RefCell<(u64, String)> = const { std::cell::RefCell::new((u64::MAX, String::new())) };
    }
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if last.0 != d.as_secs() {
            let mut text = rfc3339(d.as_secs(), 0);
            text.truncate(text.len() - "000Z".len());
            *last = (d.as_secs(), text);
        }
        let millis = d.subsec_millis();
        let mut text = String::with_capacity(last.1.len() + 4);
        text.push_str(&last.1);
        text.push(char::from(b'0' + (millis / 100) as u8));
        text.push(char::from(b'0' + (millis / 10 % 10) as u8));
        text.push(char::from(b'0' + (millis % 10) as u8));
        text.push('Z');
        text
    })
}

pub fn rfc3339(secs: u64, millis: u32) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Howard Hinnant's days → (year, month, day) for the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_times() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(rfc3339(1_795_534_307, 999), "2026-11-24T15:31:47.999Z");
    }

    #[test]
    fn an_entry_line_is_its_serialization() {
        use crate::proxy::limits::CounterState;
        let counters = [
            CounterState {
                counter: "calls \"a\"".into(),
                count: 3,
                max: 10,
                window: "minute",
            },
            CounterState {
                counter: "b".into(),
                count: 0,
                max: u64::MAX,
                window: "day",
            },
        ];
        let mut entry = Entry {
            time: now_rfc3339(),
            event: "decision",
            request_id: Some("\"id\\n\u{1}\""),
            server: None,
            tool: "tool \u{7f} é",
            grant: "default",
            agent: Some("agent\ttab"),
            session: "s",
            decision: "deny",
            code: "rate_limited",
            rule: "r1",
            reason: Some("line\nbreak"),
            counters: &counters,
            latency_ns: 12_345,
            argument_keys: vec!["a", "b\\c"],
            risk: "read",
            dry_run: true,
            call_hash: Some("abc"),
        };
        for _ in 0..2 {
            let mut expected = serde_json::to_vec(&entry).unwrap();
            expected.push(b'\n');
            assert_eq!(
                String::from_utf8(entry.line()).unwrap(),
                String::from_utf8(expected).unwrap()
            );
            entry = Entry {
                request_id: None,
                server: Some("srv"),
                reason: None,
                counters: &[],
                argument_keys: vec![],
                dry_run: false,
                call_hash: None,
                ..entry
            };
        }
    }

    #[test]
    fn the_current_time_matches_the_calendar() {
        for _ in 0..3 {
            let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
            let now = now_rfc3339();
            let after = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
            let texts = [before, after].map(|d| rfc3339(d.as_secs(), d.subsec_millis()));
            assert!(texts[0] <= now && now <= texts[1], "{texts:?} {now}");
            assert_eq!(now.len(), "2026-11-24T15:31:47.123Z".len());
        }
    }
}
