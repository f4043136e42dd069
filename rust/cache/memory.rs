//! The in-process digest cache: "this file, in this exact state, hashes to X".
//!
//! The key is stronger than upstream's `(path, inode, mtime, size)`: it adds
//! the device and the inode change time. `touch -d` can set mtime back after
//! an in-place edit, but nothing but the kernel sets ctime, so an edited file
//! always misses. Bounded; least recently used entries go first.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, OnceLock};

use lru::LruCache;

use crate::fs::file::FileState;

/// Entries kept before the least recently used is evicted.
pub(crate) const CAPACITY: usize = 4096;

/// What a digest is remembered under: one region of one file in one state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct DigestKey {
    /// Resolved path of the file.
    pub(crate) path: PathBuf,
    /// Length of the hashed region (`[0, region_len)`: the binary region,
    /// or the whole file for a whole-file digest).
    pub(crate) region_len: u64,
    /// The file's state, as `fstat` of the descriptor hashed saw it.
    pub(crate) state: FileState,
    /// The digest the trailer claims: a rewritten trailer misses even when
    /// coarse timestamps leave the `fstat` fields unchanged.
    pub(crate) expected: [u8; 32],
}

type Lru = LruCache<DigestKey, [u8; 32]>;

fn cache() -> MutexGuard<'static, Lru> {
    static CACHE: OnceLock<Mutex<Lru>> = OnceLock::new();
    CACHE
        .get_or_init(|| {
            Mutex::new(LruCache::new(
                NonZeroUsize::new(CAPACITY).expect("non-zero"),
            ))
        })
        .lock()
        // A panic while holding the lock cannot leave an entry half-written
        // (LruCache operations are not interrupted part-way), so keep going.
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The digest recorded for `key`, if any (and mark it recently used).
pub(crate) fn get(key: &DigestKey) -> Option<[u8; 32]> {
    cache().get(key).copied()
}

/// Record the digest of the binary region for `key`.
pub(crate) fn put(key: DigestKey, digest: [u8; 32]) {
    cache().put(key, digest);
}

/// The cache's lock, held across `fork()` so that a child never inherits it
/// locked by a thread that does not exist there (see `pool.rs`).
pub(crate) struct ForkGuard {
    _held: MutexGuard<'static, Lru>,
}

/// Take the cache's lock for the duration of a `fork()`.
pub(crate) fn lock_for_fork() -> ForkGuard {
    ForkGuard { _held: cache() }
}

/// Whether a digest of the file state in `key` may be remembered now.
///
/// The racy-timestamp rule (git's "racily clean" entries): a file modified
/// again within the same timestamp tick as the state that was hashed keeps
/// the same `mtime`/`ctime`, so a key taken in that tick could vouch for
/// later bytes. Only once the clock has moved past that tick can every later
/// modification show in the key; until then nothing is remembered (the file
/// is simply hashed again next time).
pub(crate) fn may_remember(key: &DigestKey) -> bool {
    let (mtime_ns, ctime_ns) = (key.state.mtime_ns, key.state.ctime_ns);
    let granularity = timestamp_granularity_ns(mtime_ns, ctime_ns);
    settled(mtime_ns, ctime_ns, realtime_ns(), granularity)
}

/// Whether `now_ns` is at least `granularity_ns` past both timestamps.
pub(crate) fn settled(mtime_ns: i128, ctime_ns: i128, now_ns: i128, granularity_ns: i128) -> bool {
    now_ns - mtime_ns.max(ctime_ns) >= granularity_ns
}

/// How far apart two modifications must be to get different timestamps:
/// two seconds where both timestamps are whole seconds (file systems with
/// 1-2 s timestamps, and FAT's 2 s), else twice the resolution of the
/// coarse clock the kernel stamps files with (a fine-grained stamp may run
/// ahead of the coarse clock by up to one tick).
pub(crate) fn timestamp_granularity_ns(mtime_ns: i128, ctime_ns: i128) -> i128 {
    const SECOND: i128 = 1_000_000_000;
    if mtime_ns % SECOND == 0 && ctime_ns % SECOND == 0 {
        return 2 * SECOND;
    }
    let mut res = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `res` is a valid, writable timespec.
    let ok = unsafe { libc::clock_getres(libc::CLOCK_REALTIME_COARSE, &mut res) } == 0;
    let tick = if ok {
        i128::from(res.tv_sec) * SECOND + i128::from(res.tv_nsec)
    } else {
        SECOND / 100
    };
    2 * tick.clamp(1_000_000, SECOND)
}

fn realtime_ns() -> i128 {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    }
}

/// Forget everything.
pub fn clear() {
    cache().clear();
}

/// Number of entries held.
pub fn len() -> usize {
    cache().len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(mtime_ns: i128, ctime_ns: i128) -> DigestKey {
        DigestKey {
            path: "/unit-test/cache".into(),
            region_len: 1,
            state: FileState {
                dev: 1,
                ino: 2,
                size: 3,
                mtime_ns,
                ctime_ns,
                mode: 0o100_755,
            },
            expected: [0; 32],
        }
    }

    #[test]
    fn a_state_is_remembered_only_once_its_tick_has_passed() {
        let g = timestamp_granularity_ns(1_000_000_001, 1_000_000_002);
        assert!((2_000_000..=2_000_000_000).contains(&g), "{g}");
        assert!(!settled(100, 100, 100, g));
        assert!(!settled(100, 100 + g, 100 + g, g));
        assert!(settled(100, 100, 100 + g, g));
        assert_eq!(
            timestamp_granularity_ns(5_000_000_000, 7_000_000_000),
            2_000_000_000
        );
        let now = realtime_ns();
        assert!(!may_remember(&key(now, now - 10)));
        assert!(may_remember(&key(now - 3_000_000_000, now - 3_000_000_001)));
    }

    #[test]
    fn a_changed_ctime_misses() {
        put(key(4, 5), [1; 32]);
        assert_eq!(get(&key(4, 5)), Some([1; 32]));
        assert_eq!(get(&key(4, 6)), None);
    }
}
