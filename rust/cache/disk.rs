//! The persistent digest cache: one small file per verified file state.
//!
//! Every Airflow task runs in a fresh process, so an in-process cache is cold
//! for every task launch. This store survives the process: entry files in
//! 256 shards under the cache directory, each written to a temporary file and
//! renamed into place (atomic for concurrent workers), and each carrying its
//! full key and a SHA-256 checksum, so a torn, truncated, foreign or
//! corrupted entry reads as a miss — never as a false "verified".
//!
//! Trust: whoever can write the cache can vouch for a tampered binary, and
//! whoever can redirect it can make eviction delete the worker's files. So
//! the directory is resolved ONCE under the trusted-path rule
//! ([`crate::fs::trusted_path`]: component by component, only root and the
//! current user choosing where a component leads), and must itself be owned
//! by the current user and not writable by group or others. Every later
//! operation (shard lookup, entry open, write, rename, eviction) is relative
//! to the descriptor opened then, with `O_NOFOLLOW`, and each shard is
//! checked the same way on its descriptor. Eviction only ever unlinks regular
//! files owned by the current user whose names are cache entry (or cache
//! temporary) names.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

use crate::cache::memory::DigestKey;
use crate::format::digest::{hex, sha256};
use crate::fs::trusted_path::{self, PathError};

const ENTRY_MAGIC: &[u8; 8] = b"AFBDC\x002\n";
/// Largest entry file read (a key holds one path).
const MAX_ENTRY: u64 = 8192;
/// Entries kept per shard before the oldest are evicted (256 shards).
pub(crate) const SHARD_CAPACITY: usize = 64;
/// Length of an entry's file name inside its shard (hex of 15 bytes).
const ENTRY_NAME_LEN: usize = 30;
/// Prefix of the temporary file an entry is written to before the rename.
const TMP_PREFIX: &[u8] = b".tmp-";

/// An open, checked cache directory: a handle to open once and pass around.
///
/// Cloning is cheap (a reference count); the directory descriptor is closed
/// when the last clone is dropped.
#[derive(Clone, Debug)]
pub struct DiskCache {
    inner: Arc<Inner>,
    shard_capacity: usize,
}

#[derive(Debug)]
struct Inner {
    /// The cache directory, opened `O_DIRECTORY` after the checks.
    dir: OwnedFd,
    /// The path it was opened by (for messages only; never re-resolved).
    path: PathBuf,
    /// The effective uid that owns the cache.
    euid: u32,
}

/// Why the persistent cache cannot be used, or an entry not stored.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The cache directory's path is empty.
    #[error("the cache directory path is empty")]
    EmptyPath,
    /// The path breaks the trusted-path rule, or cannot be walked.
    #[error(transparent)]
    Path(#[from] PathError),
    /// The path is not a directory.
    #[error("cache path {} is not a directory", .0.display())]
    NotADirectory(PathBuf),
    /// The directory belongs to someone else.
    #[error(
        "cache directory {} is owned by uid {uid}, not by the current user (uid {euid})",
        path.display()
    )]
    NotOwned {
        /// The directory.
        path: PathBuf,
        /// Its owner.
        uid: u32,
        /// The current user.
        euid: u32,
    },
    /// Others can write the directory.
    #[error(
        "cache directory {} is writable by group or others (mode {mode:o}); anyone who can \
         write it could vouch for a tampered binary",
        path.display()
    )]
    Writable {
        /// The directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The checked directory cannot be opened for reading.
    #[error("cannot open cache directory {}: {errno}", path.display())]
    Open {
        /// The directory.
        path: PathBuf,
        /// Why.
        errno: Errno,
    },
    /// A shard is missing and cannot be made, or is not a private directory of ours.
    #[error("cannot use shard {shard:?} of cache directory {}", dir.display())]
    Shard {
        /// The shard's name.
        shard: CString,
        /// The cache directory.
        dir: PathBuf,
    },
    /// An entry's temporary file cannot be created or written.
    #[error("cannot write cache entry: {0}")]
    Write(std::io::Error),
    /// An entry cannot be renamed into place.
    #[error("cannot store cache entry: {0}")]
    Store(Errno),
}

fn geteuid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

impl DiskCache {
    /// Create (mode 0700, missing parents too) or open `dir`, refusing one
    /// that anyone but root and the current user could write or redirect.
    pub fn open(dir: &Path) -> Result<Self, CacheError> {
        if dir.as_os_str().is_empty() {
            return Err(CacheError::EmptyPath);
        }
        let euid = geteuid();
        let found = trusted_path::resolve(
            dir,
            trusted_path::Target::Directory { create: true },
            "the cache directory",
        )?;
        check_private(&found.stat, euid, dir)?;
        // Reopen the directory for reading ("." of an O_PATH descriptor is
        // that same directory).
        let fd = rfs::openat(
            &found.fd,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|errno| CacheError::Open {
            path: found.path.clone(),
            errno,
        })?;
        Ok(DiskCache {
            inner: Arc::new(Inner {
                dir: fd,
                path: dir.to_path_buf(),
                euid,
            }),
            shard_capacity: SHARD_CAPACITY,
        })
    }

    /// The path the directory was opened by (for messages; the handle never
    /// resolves it again).
    pub(crate) fn dir(&self) -> &Path {
        &self.inner.path
    }

    /// The shard (name) and entry (name) of a key.
    fn entry_name(key_bytes: &[u8]) -> (CString, CString) {
        let name = hex(&sha256(key_bytes)[..16]);
        let shard = CString::new(&name[..2]).expect("hex has no NUL");
        let entry = CString::new(&name[2..]).expect("hex has no NUL");
        (shard, entry)
    }

    /// Open the shard directory `name`, creating it when `create`; `None`
    /// when it is missing or is not a private directory of ours.
    fn shard(&self, name: &CStr, create: bool) -> Option<OwnedFd> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = match rfs::openat(&self.inner.dir, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) if create => {
                match rfs::mkdirat(&self.inner.dir, name, Mode::from_raw_mode(0o700)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(_) => return None,
                }
                rfs::openat(&self.inner.dir, name, flags, Mode::empty()).ok()?
            }
            Err(_) => return None,
        };
        let st = rfs::fstat(&fd).ok()?;
        check_private(&st, self.inner.euid, self.dir()).ok()?;
        Some(fd)
    }

    /// The digest stored for `key`, if a valid entry exists.
    pub(crate) fn get(&self, key: &DigestKey) -> Option<[u8; 32]> {
        self.get_value(key, 32)?.try_into().ok()
    }

    /// The `len`-byte value stored for `key` (a SHA-256 or SHA-512 digest),
    /// if a valid entry holds one.
    pub(crate) fn get_value(&self, key: &DigestKey, len: usize) -> Option<Vec<u8>> {
        let key_bytes = encode_key(key);
        let (shard, entry) = Self::entry_name(&key_bytes);
        let shard = self.shard(&shard, false)?;
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = rfs::openat(&shard, &*entry, flags, Mode::empty()).ok()?;
        let st = rfs::fstat(&fd).ok()?;
        if !is_own_regular_file(&st, self.inner.euid) || st.st_size as u64 > MAX_ENTRY {
            return None;
        }
        let mut raw = Vec::with_capacity(st.st_size as usize);
        File::from(fd).take(MAX_ENTRY).read_to_end(&mut raw).ok()?;
        decode_entry(&raw, &key_bytes, len)
    }

    /// Store `digest` for `key` (best effort: a failure only costs a future hash).
    pub(crate) fn put(&self, key: &DigestKey, digest: &[u8; 32]) -> Result<(), CacheError> {
        self.put_value(key, digest)
    }

    /// Store `value` (a SHA-256 or SHA-512 digest) for `key` (best effort).
    pub(crate) fn put_value(&self, key: &DigestKey, value: &[u8]) -> Result<(), CacheError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let key_bytes = encode_key(key);
        let (shard_name, entry) = Self::entry_name(&key_bytes);
        let shard = self
            .shard(&shard_name, true)
            .ok_or_else(|| CacheError::Shard {
                shard: shard_name.clone(),
                dir: self.dir().to_path_buf(),
            })?;
        let mut tmp = TMP_PREFIX.to_vec();
        tmp.extend_from_slice(entry.as_bytes());
        tmp.extend_from_slice(
            format!(
                "-{}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            )
            .as_bytes(),
        );
        let tmp = CString::new(tmp).expect("no NUL");
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rfs::openat(&shard, &*tmp, flags, Mode::from_raw_mode(0o600))
            .map_err(|e| CacheError::Write(e.into()))?;
        let written = File::from(fd)
            .write_all(&encode_entry(&key_bytes, value))
            .map_err(CacheError::Write)
            .and_then(|()| {
                rfs::renameat(&shard, &*tmp, &shard, &*entry).map_err(CacheError::Store)
            });
        if written.is_err() {
            let _ = rfs::unlinkat(&shard, &*tmp, AtFlags::empty());
        }
        written?;
        evict(shard.as_fd(), self.shard_capacity, self.inner.euid);
        Ok(())
    }
}

/// Refuse a directory (`path` names it) that is not ours alone to write.
fn check_private(st: &Stat, euid: u32, path: &Path) -> Result<(), CacheError> {
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
        return Err(CacheError::NotADirectory(path.to_path_buf()));
    }
    if st.st_uid != euid {
        return Err(CacheError::NotOwned {
            path: path.to_path_buf(),
            uid: st.st_uid,
            euid,
        });
    }
    if st.st_mode & 0o022 != 0 {
        return Err(CacheError::Writable {
            path: path.to_path_buf(),
            mode: st.st_mode & 0o7777,
        });
    }
    Ok(())
}

fn is_own_regular_file(st: &Stat, euid: u32) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::RegularFile && st.st_uid == euid
}

/// Whether `name` is one this cache writes in a shard: an entry (30 lowercase
/// hex digits) or an entry's temporary file.
fn is_cache_file_name(name: &[u8]) -> bool {
    let is_hex = |b: &[u8]| b.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
    if name.len() == ENTRY_NAME_LEN {
        return is_hex(name);
    }
    match name.strip_prefix(TMP_PREFIX) {
        Some(rest) if rest.len() > ENTRY_NAME_LEN => {
            is_hex(&rest[..ENTRY_NAME_LEN])
                && rest[ENTRY_NAME_LEN] == b'-'
                && rest[ENTRY_NAME_LEN + 1..]
                    .iter()
                    .all(|c| c.is_ascii_digit() || *c == b'-')
        }
        _ => false,
    }
}

/// Keep at most `capacity` entries in a shard, dropping the oldest. Only
/// regular files of ours with cache file names are ever removed, by name
/// relative to the shard's descriptor.
fn evict(shard: BorrowedFd<'_>, capacity: usize, euid: u32) {
    let Ok(mut dir) = rfs::Dir::read_from(shard) else {
        return;
    };
    let mut files: Vec<((i128, i128), CString)> = Vec::new();
    while let Some(Ok(entry)) = dir.read() {
        let name = entry.file_name();
        if !is_cache_file_name(name.to_bytes()) {
            continue;
        }
        let Ok(st) = rfs::statat(shard, name, AtFlags::SYMLINK_NOFOLLOW) else {
            continue;
        };
        if is_own_regular_file(&st, euid) {
            files.push((
                (i128::from(st.st_mtime), i128::from(st.st_mtime_nsec)),
                name.to_owned(),
            ));
        }
    }
    if files.len() <= capacity {
        return;
    }
    files.sort();
    for (_, name) in &files[..files.len() - capacity] {
        let _ = rfs::unlinkat(shard, &**name, AtFlags::empty());
    }
}

fn encode_key(key: &DigestKey) -> Vec<u8> {
    let path = key.path.as_os_str().as_bytes();
    let mut out = Vec::with_capacity(path.len() + 80);
    out.extend_from_slice(&(path.len() as u64).to_le_bytes());
    out.extend_from_slice(path);
    // The state's identity, size and times (a change of mode changes ctime).
    let state = &key.state;
    for v in [key.region_len, state.dev, state.ino, state.size] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for v in [state.mtime_ns, state.ctime_ns] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&key.expected);
    out
}

fn encode_entry(key_bytes: &[u8], digest: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(key_bytes.len() + 52 + digest.len());
    out.extend_from_slice(ENTRY_MAGIC);
    out.extend_from_slice(&(key_bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(key_bytes);
    out.extend_from_slice(digest);
    let check = sha256(&out);
    out.extend_from_slice(&check);
    out
}

fn decode_entry(raw: &[u8], key_bytes: &[u8], len: usize) -> Option<Vec<u8>> {
    let body_len = raw.len().checked_sub(32)?;
    let (body, check) = raw.split_at(body_len);
    if sha256(body) != check || !body.starts_with(ENTRY_MAGIC) {
        return None;
    }
    let rest = &body[ENTRY_MAGIC.len()..];
    let key_len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    let stored_key = rest.get(4..4 + key_len)?;
    let digest = rest.get(4 + key_len..)?;
    if stored_key != key_bytes || digest.len() != len {
        return None;
    }
    Some(digest.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn key(path: &str, ctime_ns: i128) -> DigestKey {
        DigestKey {
            path: path.into(),
            region_len: 10,
            state: crate::fs::file::FileState {
                dev: 1,
                ino: 2,
                size: 100,
                mtime_ns: 5,
                ctime_ns,
                mode: 0o100_755,
            },
            expected: [3; 32],
        }
    }

    fn entry_path(cache: &DiskCache, key: &DigestKey) -> PathBuf {
        let (shard, entry) = DiskCache::entry_name(&encode_key(key));
        cache
            .dir()
            .join(OsStr::from_bytes(shard.as_bytes()))
            .join(OsStr::from_bytes(entry.as_bytes()))
    }

    use std::ffi::OsStr;

    #[test]
    fn a_stored_digest_is_found_again_by_a_new_handle() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(&dir.path().join("c")).unwrap();
        cache.put(&key("/b", 1), &[9; 32]).unwrap();
        let again = DiskCache::open(&dir.path().join("c")).unwrap();
        assert_eq!(again.get(&key("/b", 1)), Some([9; 32]));
        assert_eq!(again.get(&key("/b", 2)), None);
        assert_eq!(
            fs::metadata(dir.path().join("c")).unwrap().mode() & 0o777,
            0o700
        );
    }

    #[test]
    fn a_value_is_found_only_at_the_length_it_was_stored_with() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(dir.path()).unwrap();
        let k = key("/b", 1);
        cache.put_value(&k, &[7; 64]).unwrap();
        assert_eq!(cache.get_value(&k, 64), Some(vec![7; 64]));
        assert_eq!(cache.get_value(&k, 32), None);
        assert_eq!(cache.get(&k), None);
    }

    #[test]
    fn a_corrupted_or_truncated_entry_is_a_miss_and_is_repaired() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(dir.path()).unwrap();
        let k = key("/b", 1);
        cache.put(&k, &[9; 32]).unwrap();
        let path = entry_path(&cache, &k);
        let mut raw = fs::read(&path).unwrap();
        for cut in [0, 1, 8, raw.len() / 2, raw.len() - 1] {
            fs::write(&path, &raw[..cut]).unwrap();
            assert_eq!(cache.get(&k), None, "cut at {cut}");
        }
        raw[20] ^= 1;
        fs::write(&path, &raw).unwrap();
        assert_eq!(cache.get(&k), None);
        cache.put(&k, &[9; 32]).unwrap();
        assert_eq!(cache.get(&k), Some([9; 32]));
    }

    #[test]
    fn a_group_writable_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o770)).unwrap();
        let err = DiskCache::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("writable by group or others"), "{err}");
    }

    #[test]
    fn an_empty_path_is_refused() {
        assert!(DiskCache::open(Path::new("")).is_err());
    }

    #[test]
    fn a_group_writable_ancestor_that_is_not_sticky_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let shared = dir.path().join("shared");
        fs::create_dir(&shared).unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o775)).unwrap();
        let err = DiskCache::open(&shared.join("mine"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not sticky"), "{err}");
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
        DiskCache::open(&shared.join("mine")).unwrap();
    }

    #[test]
    fn symlinks_in_trusted_directories_are_followed_and_resolved_once() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        fs::create_dir(&real).unwrap();
        std::os::unix::fs::symlink("real", dir.path().join("link")).unwrap();
        let cache = DiskCache::open(&dir.path().join("link/../link/c")).unwrap();
        cache.put(&key("/b", 1), &[9; 32]).unwrap();
        assert!(real.join("c").is_dir());
        // Re-pointing the link later changes nothing for the open handle.
        let other = dir.path().join("other");
        fs::create_dir(&other).unwrap();
        fs::remove_file(dir.path().join("link")).unwrap();
        std::os::unix::fs::symlink("other", dir.path().join("link")).unwrap();
        cache.put(&key("/b", 2), &[9; 32]).unwrap();
        assert_eq!(cache.get(&key("/b", 1)), Some([9; 32]));
        assert_eq!(fs::read_dir(&other).unwrap().count(), 0);
    }

    #[test]
    fn a_shard_replaced_by_a_symlink_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(&dir.path().join("c")).unwrap();
        let k = key("/b", 1);
        let path = entry_path(&cache, &k);
        let victim = dir.path().join("victim");
        fs::create_dir(&victim).unwrap();
        std::os::unix::fs::symlink(&victim, path.parent().unwrap()).unwrap();
        assert!(cache.put(&k, &[9; 32]).is_err());
        assert_eq!(cache.get(&k), None);
        assert_eq!(fs::read_dir(&victim).unwrap().count(), 0);
    }

    #[test]
    fn eviction_removes_only_cache_entries() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = DiskCache::open(dir.path()).unwrap();
        cache.shard_capacity = 1;
        let k = key("/b", 0);
        let shard = entry_path(&cache, &k).parent().unwrap().to_path_buf();
        cache.put(&k, &[1; 32]).unwrap();
        fs::write(shard.join("precious"), b"x").unwrap();
        fs::write(shard.join("0123456789abcdef0123456789abcdef"), b"x").unwrap();
        let mut i = 1;
        while entry_path(&cache, &key("/b", i)).parent().unwrap() != shard {
            i += 1;
        }
        cache.put(&key("/b", i), &[1; 32]).unwrap();
        assert!(shard.join("precious").exists());
        assert!(shard.join("0123456789abcdef0123456789abcdef").exists());
        assert_eq!(cache.get(&key("/b", i)), Some([1; 32]));
        assert_eq!(cache.get(&k), None);
    }

    #[test]
    fn cache_file_names() {
        assert!(is_cache_file_name(b"0123456789abcdef0123456789abcd"));
        assert!(is_cache_file_name(
            b".tmp-0123456789abcdef0123456789abcd-12-3"
        ));
        assert!(!is_cache_file_name(b"0123456789ABCDEF0123456789abcd"));
        assert!(!is_cache_file_name(b"precious"));
        assert!(!is_cache_file_name(b".tmp-0123456789abcdef0123456789abcd"));
    }

    #[test]
    fn shards_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = DiskCache::open(dir.path()).unwrap();
        cache.shard_capacity = 2;
        for i in 0..2000 {
            cache.put(&key(&format!("/b{i}"), 1), &[1; 32]).unwrap();
        }
        let mut total = 0;
        for shard in fs::read_dir(dir.path()).unwrap() {
            let n = fs::read_dir(shard.unwrap().path()).unwrap().count();
            assert!(n <= 2);
            total += n;
        }
        assert!(total > 256, "{total}");
    }
}
