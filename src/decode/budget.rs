//! Memory that large decodes hold together. Each decode is bounded on its own (`Limits::max_alloc`), but a scan
//! decodes one file per thread: a folder of bombs that each fit the limit took the limit times the threads (two
//! 6900 x 6900 16-bit PNGs side by side, 1.1 GB on two threads; 32 threads would take 18 GB). A decode that needs
//! [`LARGE`] bytes or more reserves them here first, waits while the reservations of others would take the total
//! past the budget ([`set_concurrent_decode_bytes`]), and keeps them with its photo until the photo is dropped
//! (the fingerprint is taken from it meanwhile); ordinary photos never wait.

use std::sync::{Condvar, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

/// Decodes that need at least this many bytes reserve them (a 12-megapixel JPEG at full size needs about 72 MB).
pub(crate) const LARGE: u64 = 128 << 20;
/// The default budget: two decodes at the default allocation limit.
pub const DEFAULT_CONCURRENT_DECODE_BYTES: u64 = 1 << 30;
/// Longest a decode waits for the budget before going ahead anyway: a safety net, should a decode ever wait on
/// work that cannot finish until it goes on (see [`reserve`]).
const MAX_WAIT: Duration = Duration::from_secs(30);

struct State {
    reserved: u64,
    budget: u64,
    /// The threads that hold a reservation (one each): a decode on one of them goes ahead rather than wait for
    /// itself (rayon runs other work, another file's decode included, on a thread that waits inside a decoder or
    /// a fingerprint).
    holders: Vec<ThreadId>,
}

struct Budget {
    state: Mutex<State>,
    freed: Condvar,
}

static BUDGET: Budget = Budget {
    state: Mutex::new(State { reserved: 0, budget: DEFAULT_CONCURRENT_DECODE_BYTES, holders: Vec::new() }),
    freed: Condvar::new(),
};

/// Sets how many bytes the large decodes in flight may hold together, process-wide (default
/// [`DEFAULT_CONCURRENT_DECODE_BYTES`], 1 GiB). A decode that needs more than the whole budget runs alone. A
/// decode holds its bytes until its [`Photo`](crate::Photo) (and every clone of it) is dropped, so a scan's peak
/// memory is about this budget, plus the files being read, plus, per thread, a decode under 128 MiB and the
/// fingerprint's working images.
///
/// ```
/// knockoff::decode::set_concurrent_decode_bytes(2 << 30);
/// # knockoff::decode::set_concurrent_decode_bytes(knockoff::decode::DEFAULT_CONCURRENT_DECODE_BYTES);
/// ```
pub fn set_concurrent_decode_bytes(bytes: u64) {
    if let Ok(mut state) = BUDGET.state.lock() {
        state.budget = bytes;
    }
    BUDGET.freed.notify_all();
}

/// A reservation, given back when dropped.
#[derive(Debug)]
pub(crate) struct Reservation {
    bytes: u64,
    holder: Option<ThreadId>,
}

/// Reserves `bytes` for a decode when they are [`LARGE`], waiting while other reservations would take the total
/// past the budget (a decode larger than the budget waits until it is alone). Never waits for a reservation held
/// by its own thread, and at most [`MAX_WAIT`].
pub(crate) fn reserve(bytes: u64) -> Reservation {
    let none = Reservation { bytes: 0, holder: None };
    if bytes < LARGE {
        return none;
    }
    let me = std::thread::current().id();
    let Ok(mut state) = BUDGET.state.lock() else { return none };
    if state.holders.contains(&me) {
        return none;
    }
    let start = std::time::Instant::now();
    while state.reserved > 0 && state.reserved.saturating_add(bytes) > state.budget {
        let Some(left) = MAX_WAIT.checked_sub(start.elapsed()) else { break };
        state = match BUDGET.freed.wait_timeout(state, left) {
            Ok((state, _)) => state,
            Err(_) => return none,
        };
    }
    state.reserved += bytes;
    state.holders.push(me);
    Reservation { bytes, holder: Some(me) }
}

impl Reservation {
    /// The reservation to keep with a photo: `None` when nothing was reserved.
    pub(crate) fn held(self) -> Option<std::sync::Arc<Reservation>> {
        self.holder.is_some().then(|| std::sync::Arc::new(self))
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let Some(holder) = self.holder else { return };
        if let Ok(mut state) = BUDGET.state.lock() {
            state.reserved = state.reserved.saturating_sub(self.bytes);
            if let Some(at) = state.holders.iter().position(|&t| t == holder) {
                state.holders.swap_remove(at);
            }
        }
        BUDGET.freed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn large_decodes_share_the_budget_and_small_ones_never_wait() {
        // Eight threads each reserving 600 MiB under the default 1 GiB: at most one at a time. (The only test
        // that reserves, so the process-wide budget is its own.)
        let (now, most) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (now, most) = (now.clone(), most.clone());
                std::thread::spawn(move || {
                    let bytes = 600 << 20;
                    let _held = reserve(bytes);
                    let total = now.fetch_add(bytes, Ordering::SeqCst) + bytes;
                    most.fetch_max(total, Ordering::SeqCst);
                    // Small decodes go ahead meanwhile, and a nested one on this thread does not wait for itself.
                    let small = reserve(LARGE - 1);
                    let nested = reserve(bytes);
                    assert_eq!((small.bytes, nested.bytes), (0, 0));
                    std::thread::sleep(Duration::from_millis(20));
                    now.fetch_sub(bytes, Ordering::SeqCst);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 600 << 20);
        let state = BUDGET.state.lock().unwrap();
        assert_eq!((state.reserved, state.holders.len()), (0, 0), "every reservation given back");
    }
}
