//! A progress bar on stderr for `warden check` runs that take longer than a second: hidden
//! at first, shown by a timer thread once the second has passed, never drawn off a terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// How long a run may take before the bar appears.
const DELAY: Duration = Duration::from_secs(1);

pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar over `total` files; drawn only when stderr is a terminal and the run is slow.
    pub fn new(total: usize) -> Progress {
        let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::hidden());
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} verifying [{bar:30}] {pos}/{len} files, {elapsed} {msg}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        if std::io::stderr().is_terminal() {
            let shown = bar.clone();
            std::thread::spawn(move || {
                std::thread::sleep(DELAY);
                if !shown.is_finished() {
                    shown.set_draw_target(ProgressDrawTarget::stderr());
                    shown.enable_steady_tick(Duration::from_millis(120));
                }
            });
        }
        Progress { bar }
    }

    /// Starts on the next file.
    pub fn file(&self, name: &str) {
        self.bar.set_message(name.to_string());
    }

    pub fn done_one(&self) {
        self.bar.inc(1);
    }

    /// Removes the bar before the report is printed.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
