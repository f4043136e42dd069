//! How many threads a scan uses.
//!
//! On a local disk a walk is bound by CPU: one thread per CPU is enough. On a
//! network file system (NFS, SMB, FUSE, Ceph, Lustre, ...) every lookup,
//! getattr, open and read is a round trip to a server, and the walk is bound
//! by latency: the way to go faster is to have more round trips in flight.
//! [`threads_for`] picks the size of the pool from what every root lives on
//! ([`crate::fs::storage`]): [`network_threads`] when any root is on a network
//! file system, one per CPU otherwise. An explicit `threads` always wins.

use std::path::PathBuf;

use crate::fs::storage::{storage, Storage};

/// Round trips kept in flight per CPU on a network file system.
///
/// Every round trip also costs the client some CPU (the system call, the
/// kernel's file system client, waking the thread), so past a point more
/// threads only queue for the CPUs. Measured on 2 CPUs behind 1 ms per
/// operation (benches/test_nfs.py, find on 4,040 entries, 5,460 round trips):
/// 16 threads keep 89% of their round trips' latency hidden, 32 threads 84%,
/// 48 77%, 64 72%. 16 per CPU is where the curve bends there.
pub(crate) const NETWORK_THREADS_PER_CPU: usize = 16;
/// The fewest threads a scan of a network file system uses (one CPU still
/// has to hide a millisecond per operation).
pub(crate) const NETWORK_THREADS_MIN: usize = 32;
/// The most threads a scan of a network file system uses by default.
pub(crate) const NETWORK_THREADS_MAX: usize = 64;

/// Threads a scan uses by default when a root lives on a network file system
/// and the machine has `cpus` CPUs: [`NETWORK_THREADS_PER_CPU`] each, within
/// [`NETWORK_THREADS_MIN`]..=[`NETWORK_THREADS_MAX`].
pub(crate) fn network_threads(cpus: usize) -> usize {
    cpus.saturating_mul(NETWORK_THREADS_PER_CPU)
        .clamp(NETWORK_THREADS_MIN, NETWORK_THREADS_MAX)
}

/// The pool size for a scan of `roots`: `explicit` if given, else
/// [`network_threads`] when any root is on a network file system, else one
/// per CPU.
pub fn threads_for(roots: &[PathBuf], explicit: Option<usize>) -> usize {
    match explicit {
        Some(n) => n,
        None => threads_for_storage(&roots.iter().map(|r| storage(r)).collect::<Vec<_>>(), None),
    }
}

/// [`threads_for`] when what each root lives on is already known.
pub(crate) fn threads_for_storage(storages: &[Storage], explicit: Option<usize>) -> usize {
    if let Some(n) = explicit {
        return n;
    }
    let local = crate::walk::pool::default_threads();
    if storages.iter().any(|s| matches!(s, Storage::Network(_))) {
        network_threads(local)
    } else {
        local
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_temporary_directory_is_local_and_gets_one_thread_per_cpu() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("not/yet/there");
        assert_eq!(
            crate::fs::storage::storage(dir.path()),
            crate::fs::storage::Storage::Local
        );
        assert_eq!(
            crate::fs::storage::storage(&missing),
            crate::fs::storage::Storage::Local
        );
        let roots = [dir.path().to_path_buf(), missing];
        assert_eq!(
            threads_for(&roots, None),
            crate::walk::pool::default_threads()
        );
        assert_eq!(threads_for(&roots, Some(3)), 3);
    }

    #[test]
    fn the_network_default_grows_with_the_cpus_within_its_bounds() {
        const { assert!(NETWORK_THREADS_MAX <= crate::walk::pool::MAX_THREADS) };
        assert_eq!(network_threads(1), 32);
        assert_eq!(network_threads(2), 32);
        assert_eq!(network_threads(3), 48);
        assert_eq!(network_threads(4), 64);
        assert_eq!(network_threads(256), 64);
        assert_eq!(network_threads(usize::MAX), 64);
    }
}
