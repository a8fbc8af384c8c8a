//! The broker under the benchmark: either one given with `--bootstrap`, or a kafkit-testbroker
//! cluster spawned as a CHILD PROCESS (so the broker's CPU is never counted as the client's).
//! Owns the child's lifetime: it is stopped (stdin closed, then killed) when dropped.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::BoxError;
use crate::cli::parse_bootstrap_line;

/// Where the kafkit-testbroker binary is: `explicit`, else next to the current executable.
pub fn testbroker_path(explicit: Option<&str>) -> Result<PathBuf, BoxError> {
    if let Some(p) = explicit {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe()?;
    let path = exe.with_file_name("kafkit-testbroker");
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{} not found; build it with `cargo build --release -p kafkit-testbroker` \
             (or pass --testbroker PATH, or --bootstrap HOST:PORT for an existing cluster)",
            path.display()
        )
        .into())
    }
}

/// A kafkit-testbroker cluster running as a child process.
#[derive(Debug)]
pub struct ChildBroker {
    child: Child,
    bootstrap: String,
}

impl ChildBroker {
    /// Spawns `brokers` brokers and waits for the `bootstrap.servers=` line.
    pub fn spawn(path: &std::path::Path, brokers: usize) -> Result<ChildBroker, BoxError> {
        let mut child = Command::new(path)
            .arg("--brokers")
            .arg(brokers.to_string())
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", path.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let bootstrap = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(b) = parse_bootstrap_line(&line) {
                        break b.to_string();
                    }
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err("kafkit-testbroker exited before printing its bootstrap".into());
                }
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Ok(ChildBroker { child, bootstrap })
    }

    /// `host:port,...` of the cluster.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ChildBroker {
    fn drop(&mut self) {
        // End of stdin asks the broker to shut down; kill it if it takes too long.
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU seconds (user + system) a process has used so far, from /proc/PID/stat.
pub fn process_cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat_cpu_ticks(&stat).map(|ticks| ticks as f64 / clock_ticks_per_sec())
}

fn clock_ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// utime + stime (fields 14 and 15) of a /proc/PID/stat line, in clock ticks.
pub fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14 -> index 11.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_ticks() {
        let stat = "1234 (kafkit test) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 12 0";
        assert_eq!(parse_stat_cpu_ticks(stat), Some(300));
        assert_eq!(parse_stat_cpu_ticks("garbage"), None);
    }
}
