//! The progress bar of a long replay: on standard error, only when it is a terminal.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::source::Extent;

pub(super) struct Progress {
    bar: ProgressBar,
    extent: Extent,
}

impl Progress {
    pub fn new(extent: Extent) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self {
                bar: ProgressBar::hidden(),
                extent,
            };
        }
        let (bar, template) = match extent {
            Extent::Alerts(n) => (
                ProgressBar::new(n),
                "{spinner} replaying [{bar:30}] {human_pos}/{human_len} alerts, {per_sec}, eta {eta}",
            ),
            Extent::Bytes(n) => (
                ProgressBar::new(n),
                "{spinner} replaying [{bar:30}] {bytes}/{total_bytes}, {msg}, eta {eta}",
            ),
            Extent::Unknown => (
                ProgressBar::new_spinner(),
                "{spinner} replaying {human_pos} alerts, {per_sec}",
            ),
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.enable_steady_tick(Duration::from_millis(120));
        Self { bar, extent }
    }

    /// One more alert read; `bytes` read so far.
    pub fn tick(&self, alerts: u64, bytes: u64) {
        match self.extent {
            Extent::Bytes(_) => {
                self.bar.set_position(bytes);
                if alerts.is_multiple_of(256) {
                    self.bar.set_message(format!("{alerts} alerts"));
                }
            }
            _ => self.bar.set_position(alerts),
        }
    }

    pub fn done(&self) {
        self.bar.finish_and_clear();
    }
}
