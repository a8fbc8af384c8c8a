//! A progress line on standard error for long produce and consume runs, shown only when
//! standard error is a terminal.
//!
//! Owns: the ticker task and the line's format. Must not touch: the data on standard output.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A counter shown on standard error twice a second while the run lasts.
pub struct Progress {
    count: Arc<AtomicU64>,
    ticker: Option<tokio::task::JoinHandle<()>>,
    started: Instant,
    verb: &'static str,
}

impl Progress {
    /// Starts the ticker when standard error is a terminal (`verb`: "sent", "received").
    pub fn start(verb: &'static str) -> Progress {
        let count = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let ticker = std::io::stderr().is_terminal().then(|| {
            let count = count.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(500));
                tick.tick().await;
                loop {
                    tick.tick().await;
                    let n = count.load(Ordering::Relaxed);
                    let mut err = std::io::stderr().lock();
                    let _ = write!(err, "\r{}", line(n, verb, started.elapsed()));
                    let _ = err.flush();
                }
            })
        });
        Progress {
            count,
            ticker,
            started,
            verb,
        }
    }

    /// Counts `n` more records.
    pub fn add(&self, n: u64) {
        self.count.fetch_add(n, Ordering::Relaxed);
    }

    /// Stops the ticker and, when it was shown, ends the line with the final count.
    pub fn finish(mut self) {
        if let Some(t) = self.ticker.take() {
            t.abort();
            let n = self.count.load(Ordering::Relaxed);
            eprintln!("\r{}", line(n, self.verb, self.started.elapsed()));
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(t) = self.ticker.take() {
            t.abort();
        }
    }
}

fn line(n: u64, verb: &str, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 { n as f64 / secs } else { 0.0 };
    format!("{n} records {verb} in {secs:.1} s ({rate:.0} records/s)")
}

#[cfg(test)]
mod tests {
    #[test]
    fn line_shows_count_and_rate() {
        let l = super::line(1000, "sent", std::time::Duration::from_secs(2));
        assert_eq!(l, "1000 records sent in 2.0 s (500 records/s)");
    }
}
