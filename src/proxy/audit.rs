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

    /// Writes one entry (or any serializable event) as a line. Errors are reported once on
    /// stderr; the proxy never stops deciding because its log is unwritable.
    pub fn write<T: Serialize>(&self, entry: &T) {
        let Ok(mut line) = serde_json::to_vec(entry) else {
            return;
        };
        line.push(b'\n');
        match self {
            Sink::Off => {}
            Sink::Stderr => {
                let _ = std::io::stderr().write_all(&line);
            }
            Sink::File(path, file) => {
                let mut guard = file.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(f) = guard.as_mut()
                    && let Err(e) = f.write_all(&line)
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
    rfc3339(d.as_secs(), d.subsec_millis())
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
}
