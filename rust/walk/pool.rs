//! Worker thread pools: bounded in number and size, reused, and valid after `fork()`.
//!
//! A scan runs inside a rayon pool. Pools are expensive to start and cheap to
//! keep, so they are cached — but a cache keyed by every `threads` value ever
//! asked for grows without bound, and a pool inherited across `fork()` has no
//! threads in the child: `install` would wait forever. Three rules follow:
//!
//! * **Bounded size**: `threads` is at most [`MAX_THREADS`]; larger values are
//!   an error, not a silent cap, so a typo never spawns thousands of threads.
//! * **Bounded number**: at most [`KEPT_POOLS`] pools are kept. Asking for a
//!   new size evicts the least recently used one (its threads exit once no
//!   scan is using it).
//! * **Fork safety**: `pthread_atfork` handlers take the registry lock (and
//!   the in-process digest cache's) around `fork()`, so the child never
//!   inherits a lock held by a thread that does not exist there, and the
//!   child forgets every pool it inherited (their threads are gone); its next
//!   scan starts fresh threads. The inherited pools are leaked, not dropped:
//!   dropping would signal threads that no longer exist.

use std::cell::RefCell;
use std::sync::{Arc, Mutex, MutexGuard, Once};

use rayon::{ThreadPool, ThreadPoolBuilder};

/// The largest `threads` a scan accepts: enough to hide the latency of a
/// network file system, small enough never to exhaust the process.
pub(crate) const MAX_THREADS: usize = 256;

/// How many pools of distinct sizes are kept alive between scans.
pub(crate) const KEPT_POOLS: usize = 2;

/// Why a pool could not be had.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// `threads` was 0 or above [`MAX_THREADS`].
    #[error("threads must be between 1 and {MAX_THREADS}, not {0}")]
    OutOfRange(usize),
    /// The operating system refused to start threads.
    #[error("cannot start {threads} worker threads: {reason}")]
    Spawn {
        /// How many were asked for.
        threads: usize,
        /// What the OS said.
        reason: String,
    },
}

struct Registry {
    /// Most recently used last.
    pools: Vec<(usize, Arc<ThreadPool>)>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry { pools: Vec::new() });

fn registry() -> MutexGuard<'static, Registry> {
    // Pool bookkeeping cannot be left half-done by a panic; keep going.
    REGISTRY.lock().unwrap_or_else(|p| p.into_inner())
}

/// The number of threads a scan uses when the caller does not say.
pub(crate) fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A pool of `threads` workers (default: one per CPU), shared between scans.
pub fn pool(threads: Option<usize>) -> Result<Arc<ThreadPool>, PoolError> {
    let n = threads.unwrap_or_else(default_threads);
    if n == 0 || n > MAX_THREADS {
        return Err(PoolError::OutOfRange(n));
    }
    install_fork_handlers();
    let mut reg = registry();
    if let Some(i) = reg.pools.iter().position(|(size, _)| *size == n) {
        let entry = reg.pools.remove(i);
        let pool = Arc::clone(&entry.1);
        reg.pools.push(entry);
        return Ok(pool);
    }
    let pool = Arc::new(
        ThreadPoolBuilder::new()
            .num_threads(n)
            .thread_name(|i| format!("afbundle-{i}"))
            .build()
            .map_err(|e| PoolError::Spawn {
                threads: n,
                reason: e.to_string(),
            })?,
    );
    if reg.pools.len() >= KEPT_POOLS {
        // Dropping our reference lets the pool's threads exit as soon as any
        // scan still running in it is done.
        reg.pools.remove(0);
    }
    reg.pools.push((n, Arc::clone(&pool)));
    Ok(pool)
}

/// Sizes of the pools currently kept, least recently used first.
#[cfg(test)]
fn kept_sizes() -> Vec<usize> {
    registry().pools.iter().map(|(n, _)| *n).collect()
}

thread_local! {
    /// The locks taken by the `prepare` handler, released after `fork()`
    /// in both processes (by the same thread: `fork` runs all three
    /// handlers on the thread that called it).
    static HELD: RefCell<Option<ForkLocks>> = const { RefCell::new(None) };
}

struct ForkLocks {
    registry: MutexGuard<'static, Registry>,
    /// Held only to be released when the guard drops.
    _digests: crate::cache::memory::ForkGuard,
}

fn install_fork_handlers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: the handlers are plain `extern "C"` functions that only
        // take and release this module's locks.
        let rc = unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
        // pthread_atfork fails only with ENOMEM; without the handlers a
        // forked child still detects lost pools below, so do not fail scans.
        debug_assert_eq!(rc, 0);
    });
}

extern "C" fn prepare() {
    let locks = ForkLocks {
        registry: registry(),
        _digests: crate::cache::memory::lock_for_fork(),
    };
    HELD.with(|h| *h.borrow_mut() = Some(locks));
}

extern "C" fn parent() {
    HELD.with(|h| drop(h.borrow_mut().take()));
}

extern "C" fn child() {
    HELD.with(|h| {
        if let Some(mut locks) = h.borrow_mut().take() {
            // The pools' threads did not survive the fork.
            for (_, pool) in locks.registry.pools.drain(..) {
                std::mem::forget(pool);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_out_of_range_are_refused() {
        assert!(matches!(pool(Some(0)), Err(PoolError::OutOfRange(0))));
        assert!(matches!(
            pool(Some(MAX_THREADS + 1)),
            Err(PoolError::OutOfRange(_))
        ));
        assert!(matches!(pool(Some(1 << 62)), Err(PoolError::OutOfRange(_))));
    }

    #[test]
    fn no_more_than_kept_pools_are_kept() {
        for n in 1..=40 {
            let p = pool(Some(n)).unwrap();
            assert_eq!(p.current_num_threads(), n);
            assert_eq!(p.install(|| 1 + 1), 2);
        }
        assert!(kept_sizes().len() <= KEPT_POOLS);
    }
}
