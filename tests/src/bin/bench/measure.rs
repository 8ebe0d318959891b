//! Measuring one phase of the benchmark: wall time, peak resident memory
//! (Linux `VmHWM`, reset per phase through `/proc/self/clear_refs`) and the
//! API calls the counting proxy saw, by service and operation.

use rekey_e2e::fault_proxy::{FaultProxy, Record};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Resets this process's peak RSS to its current RSS (Linux 4.0+), so the
/// next [`peak_rss_kib`] is the peak of what ran since.
pub fn reset_peak_rss() {
    // Best effort: without it the figure is the process's peak so far.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident set size in KiB of `pid` (this process when `None`).
pub fn peak_rss_kib(pid: Option<u32>) -> Option<u64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".to_string(),
    };
    let status = std::fs::read_to_string(path).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// What one phase did and cost.
#[derive(Clone, Debug)]
pub struct Phase {
    /// `audit`, `enforce`, `audit (sequential)`, `lambda handlers: enforce`, ...
    pub name: String,
    /// Accounts processed.
    pub accounts: usize,
    /// Access keys evaluated.
    pub keys: usize,
    /// Keys rotated (enforce).
    pub rotations: u64,
    /// Wall time in seconds.
    pub wall_seconds: f64,
    /// Peak RSS of the bench process during the phase, MiB.
    pub peak_rss_mib: Option<f64>,
    /// API calls by `service:Operation`, in total.
    pub calls: BTreeMap<String, u64>,
}

impl Phase {
    /// Accounts per second.
    pub fn accounts_per_second(&self) -> f64 {
        self.accounts as f64 / self.wall_seconds.max(1e-9)
    }

    /// Keys evaluated per second.
    pub fn keys_per_second(&self) -> f64 {
        self.keys as f64 / self.wall_seconds.max(1e-9)
    }

    /// Every call, in total.
    pub fn total_calls(&self) -> u64 {
        self.calls.values().sum()
    }

    /// Calls per account, all operations.
    pub fn calls_per_account(&self) -> f64 {
        self.total_calls() as f64 / self.accounts.max(1) as f64
    }

    /// The phase as JSON (the `--json` report).
    pub fn to_json(&self) -> serde_json::Value {
        let per_account: BTreeMap<&String, f64> =
            self.calls.iter().map(|(op, n)| (op, *n as f64 / self.accounts.max(1) as f64)).collect();
        serde_json::json!({
            "name": self.name,
            "accounts": self.accounts,
            "keys": self.keys,
            "rotations": self.rotations,
            "wall_seconds": self.wall_seconds,
            "accounts_per_second": self.accounts_per_second(),
            "keys_per_second": self.keys_per_second(),
            "peak_rss_mib": self.peak_rss_mib,
            "calls_total": self.total_calls(),
            "calls_per_account": self.calls_per_account(),
            "calls_per_account_by_operation": per_account,
        })
    }
}

/// A phase being measured: started by [`Meter::start`], closed by [`Meter::finish`].
#[derive(Debug)]
pub struct Meter {
    name: String,
    started: Instant,
    first_record: usize,
}

impl Meter {
    /// Starts the clock, resets the peak RSS and marks the proxy's log.
    pub fn start(name: impl Into<String>, proxy: &FaultProxy) -> Meter {
        reset_peak_rss();
        Meter { name: name.into(), started: Instant::now(), first_record: proxy.records().len() }
    }

    /// Stops the clock and tallies the calls made since [`Meter::start`].
    pub fn finish(self, proxy: &FaultProxy, accounts: usize, keys: usize, rotations: u64) -> Phase {
        let wall = self.started.elapsed();
        let peak = peak_rss_kib(None).map(|kib| kib as f64 / 1024.0);
        let records = proxy.records();
        Phase {
            name: self.name,
            accounts,
            keys,
            rotations,
            wall_seconds: wall.as_secs_f64(),
            peak_rss_mib: peak,
            calls: tally(&records[self.first_record.min(records.len())..]),
        }
    }
}

/// Calls by `service:Operation`.
pub fn tally(records: &[Record]) -> BTreeMap<String, u64> {
    let mut calls = BTreeMap::new();
    for record in records {
        *calls.entry(record.op.clone()).or_insert(0) += 1;
    }
    calls
}

/// The median of `samples` (sorted in place); zero when empty.
pub fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_peak_rss() {
        reset_peak_rss();
        assert!(peak_rss_kib(None).is_some_and(|kib| kib > 0));
    }

    #[test]
    fn median_of_odd_and_even_lists() {
        let ms = Duration::from_millis;
        assert_eq!(median(&mut [ms(3), ms(1), ms(2)]), ms(2));
        assert_eq!(median(&mut []), Duration::ZERO);
    }
}
