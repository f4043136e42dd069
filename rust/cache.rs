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

/// Entries kept before the least recently used is evicted.
pub const CAPACITY: usize = 4096;

/// The identity of one file state, as seen through `fstat` of an open descriptor.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DigestKey {
    /// Resolved path of the file.
    pub path: PathBuf,
    /// Length of the hashed binary region.
    pub source_start: u64,
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
    /// `st_size`.
    pub size: u64,
    /// `st_mtime` in nanoseconds.
    pub mtime_ns: i128,
    /// `st_ctime` in nanoseconds.
    pub ctime_ns: i128,
    /// The digest the trailer claims: a rewritten trailer misses even when
    /// coarse timestamps leave the `fstat` fields unchanged.
    pub expected: [u8; 32],
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
pub fn get(key: &DigestKey) -> Option<[u8; 32]> {
    cache().get(key).copied()
}

/// Record the digest of the binary region for `key`.
pub fn put(key: DigestKey, digest: [u8; 32]) {
    cache().put(key, digest);
}

/// The cache's lock, held across `fork()` so that a child never inherits it
/// locked by a thread that does not exist there (see `pool.rs`).
pub struct ForkGuard {
    _held: MutexGuard<'static, Lru>,
}

/// Take the cache's lock for the duration of a `fork()`.
pub fn lock_for_fork() -> ForkGuard {
    ForkGuard { _held: cache() }
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

    fn key(ctime_ns: i128) -> DigestKey {
        DigestKey {
            path: "/unit-test/cache".into(),
            source_start: 1,
            dev: 1,
            ino: 2,
            size: 3,
            mtime_ns: 4,
            ctime_ns,
            expected: [0; 32],
        }
    }

    #[test]
    fn a_changed_ctime_misses() {
        put(key(5), [1; 32]);
        assert_eq!(get(&key(5)), Some([1; 32]));
        assert_eq!(get(&key(6)), None);
    }
}
