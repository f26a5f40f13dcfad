//! Progress of long runs (index builds, scans), reported through a caller's closure.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// A snapshot of a run's progress.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Files finished (fingerprinted or failed).
    pub done: usize,
    /// Files in the run.
    pub total: usize,
    /// Of `done`, how many failed.
    pub failed: usize,
    /// Time since the run started.
    pub elapsed: Duration,
}

impl Progress {
    /// Files per second so far.
    pub fn rate(&self) -> f64 {
        self.done as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Counters that worker threads bump without locking; the closure sees consistent snapshots.
pub(crate) struct Counter {
    done: AtomicUsize,
    failed: AtomicUsize,
    total: usize,
    start: Instant,
}

impl Counter {
    pub(crate) fn new(total: usize) -> Self {
        Counter { done: AtomicUsize::new(0), failed: AtomicUsize::new(0), total, start: Instant::now() }
    }

    /// Counts one finished file and returns the snapshot after it.
    pub(crate) fn finish(&self, failed: bool) -> Progress {
        let failed_now = self.failed.fetch_add(usize::from(failed), Ordering::Relaxed) + usize::from(failed);
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        Progress { done, total: self.total, failed: failed_now, elapsed: self.start.elapsed() }
    }

    pub(crate) fn snapshot(&self) -> Progress {
        Progress {
            done: self.done.load(Ordering::Relaxed),
            total: self.total,
            failed: self.failed.load(Ordering::Relaxed),
            elapsed: self.start.elapsed(),
        }
    }
}
