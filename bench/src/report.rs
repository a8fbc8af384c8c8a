//! Measuring a run (wall clock and process CPU from `getrusage`) and printing the Markdown table.
//! Owns numbers and formatting; knows nothing about the clients.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// Process CPU time (user + system, all threads) so far, from `getrusage(RUSAGE_SELF)`.
pub fn process_cpu() -> Duration {
    // SAFETY: rusage is plain old data (all-zero is valid) and getrusage only writes into the
    // exclusively borrowed struct; it cannot fail for RUSAGE_SELF with a valid pointer.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// A running stopwatch over wall time and process CPU.
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch {
    wall: Instant,
    cpu: Duration,
}

impl Stopwatch {
    /// Starts measuring now.
    pub fn start() -> Self {
        Stopwatch {
            wall: Instant::now(),
            cpu: process_cpu(),
        }
    }

    /// Wall time and CPU time since the start.
    pub fn stop(&self) -> (Duration, Duration) {
        (self.wall.elapsed(), process_cpu().saturating_sub(self.cpu))
    }
}

/// One row of the result table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Client name (with a run number when repeated).
    pub client: String,
    /// Records handled.
    pub messages: u64,
    /// Value bytes handled.
    pub bytes: u64,
    /// Wall time of the run.
    pub wall: Duration,
    /// Process CPU time of the run.
    pub cpu: Duration,
    /// `ok`, or what went wrong (`FAILED: ...`), or why there is no number.
    pub result: String,
}

impl Row {
    /// A row without measurements (a skipped or unimplemented client).
    pub fn skipped(client: &str, why: &str) -> Row {
        Row {
            client: client.to_string(),
            messages: 0,
            bytes: 0,
            wall: Duration::ZERO,
            cpu: Duration::ZERO,
            result: why.to_string(),
        }
    }

    fn measured(&self) -> bool {
        !self.wall.is_zero()
    }

    /// Records per second.
    pub fn messages_per_sec(&self) -> f64 {
        self.messages as f64 / self.wall.as_secs_f64()
    }

    /// Value megabytes (10^6 bytes) per second.
    pub fn mb_per_sec(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.wall.as_secs_f64()
    }

    /// CPU seconds per million records.
    pub fn cpu_per_million(&self) -> f64 {
        if self.messages == 0 {
            return f64::NAN;
        }
        self.cpu.as_secs_f64() * 1e6 / self.messages as f64
    }
}

/// The Markdown table of `rows`.
pub fn markdown_table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| client | messages/s | MB/s | CPU s / 1M records | wall s | result |\n\
         |---|---:|---:|---:|---:|---|\n",
    );
    for row in rows {
        if row.measured() {
            let _ = writeln!(
                out,
                "| {} | {} | {:.1} | {:.2} | {:.2} | {} |",
                row.client,
                thousands(row.messages_per_sec().round() as u64),
                row.mb_per_sec(),
                row.cpu_per_million(),
                row.wall.as_secs_f64(),
                row.result
            );
        } else {
            let _ = writeln!(out, "| {} | - | - | - | - | {} |", row.client, row.result);
        }
    }
    out
}

/// `n` with `,` thousands separators.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `nproc`, the CPU model and the 1-minute load average, e.g.
/// `2 x AMD EPYC 7B13, load average 0.12 at start`.
pub fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| cpu_model(&s).map(str::to_string))
        .unwrap_or_else(|| "unknown CPU".to_string());
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".to_string());
    format!("{cpus} x {model}, load average {load} at start")
}

/// The first `model name` of a /proc/cpuinfo text.
pub fn cpu_model(cpuinfo: &str) -> Option<&str> {
    cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_rows() {
        let rows = [
            Row {
                client: "kafkit".into(),
                messages: 1_000_000,
                bytes: 100_000_000,
                wall: Duration::from_secs(2),
                cpu: Duration::from_millis(3_000),
                result: "ok".into(),
            },
            Row::skipped("kafkit", "consumer not implemented yet"),
        ];
        let t = markdown_table(&rows);
        let lines: Vec<_> = t.lines().collect();
        assert_eq!(
            lines[0],
            "| client | messages/s | MB/s | CPU s / 1M records | wall s | result |"
        );
        assert_eq!(lines[2], "| kafkit | 500,000 | 50.0 | 3.00 | 2.00 | ok |");
        assert_eq!(
            lines[3],
            "| kafkit | - | - | - | - | consumer not implemented yet |"
        );
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn cpu_model_line() {
        let info = "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t: x\nmodel name\t: other\n";
        assert_eq!(cpu_model(info), Some("AMD EPYC 7B13"));
        assert_eq!(cpu_model("processor: 0"), None);
    }
}
