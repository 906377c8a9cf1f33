//! Progress of long work (`confab generate`, the benchmark's import): on a terminal a bar with
//! the rate and the time left; elsewhere (CI logs, pipes) a plain line at every tenth.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

pub struct Progress {
    what: String,
    total: u64,
    done: u64,
    started: Instant,
    bar: Option<ProgressBar>,
    /// The next tenth a plain line is printed at.
    next_tenth: u64,
}

impl Progress {
    /// Work on `total` units (`unit`: "conversations", "messages") called `what`.
    pub fn new(what: &str, total: u64, unit: &str) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let template = format!(
                "{{prefix}} [{{bar:30}}] {{human_pos}}/{{human_len}} {unit} ({{per_sec}}, ETA {{eta}})"
            );
            let bar = ProgressBar::new(total).with_prefix(what.to_owned());
            let style = ProgressStyle::with_template(&template).expect("a valid template");
            bar.set_style(style.progress_chars("=> "));
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress {
            what: what.to_owned(),
            total,
            done: 0,
            started: Instant::now(),
            bar,
            next_tenth: 1,
        }
    }

    pub fn inc(&mut self, n: u64) {
        self.done += n;
        if let Some(bar) = &self.bar {
            bar.inc(n);
            return;
        }
        if self.total == 0 || self.next_tenth > 9 {
            return;
        }
        let tenths = self.done * 10 / self.total;
        if tenths >= self.next_tenth {
            self.next_tenth = tenths + 1;
            eprintln!("{}", self.line());
        }
    }

    /// `what: 30% (300000 of 1000000, 41234/s, 17 s left)`.
    fn line(&self) -> String {
        let secs = self.started.elapsed().as_secs_f64();
        let rate = self.done as f64 / secs.max(1e-3);
        let left = (self.total.saturating_sub(self.done)) as f64 / rate.max(1e-9);
        format!(
            "{}: {}% ({} of {}, {rate:.0}/s, {left:.0} s left)",
            self.what,
            self.done * 100 / self.total.max(1),
            self.done,
            self.total
        )
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_name_the_share_done_and_the_rate() {
        let mut p = Progress { bar: None, ..Progress::new("import", 1000, "messages") };
        p.inc(250);
        assert_eq!(p.next_tenth, 3);
        let line = p.line();
        assert!(line.starts_with("import: 25% (250 of 1000, "), "{line}");
        assert!(line.ends_with(" s left)"), "{line}");
        p.inc(750);
        assert_eq!(p.next_tenth, 11);
    }
}
