//! The persistent digest cache: one small file per verified file state.
//!
//! Every Airflow task runs in a fresh process, so an in-process cache is cold
//! for every task launch. This store survives the process: entry files in
//! 256 shards under the cache directory, each written to a temporary file and
//! renamed into place (atomic for concurrent workers), and each carrying its
//! full key and a SHA-256 checksum, so a torn, truncated, foreign or
//! corrupted entry reads as a miss — never as a false "verified".
//!
//! Trust: whoever can write the cache can vouch for a tampered binary, so the
//! directory must be owned by the current user and not writable by group or
//! others; otherwise it is refused (the caller logs a warning and hashes).

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::cache::DigestKey;
use crate::hash::sha256;
use crate::trailer::hex;

const ENTRY_MAGIC: &[u8; 8] = b"AFBDC\x002\n";
/// Largest entry file read (a key holds one path).
const MAX_ENTRY: u64 = 8192;
/// Entries kept per shard before the oldest are evicted (256 shards).
pub const SHARD_CAPACITY: usize = 64;

/// A validated cache directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskCache {
    dir: PathBuf,
    shard_capacity: usize,
}

impl DiskCache {
    /// Create (mode 0700) or open `dir`, refusing one that others could write.
    pub fn open(dir: &Path) -> Result<Self, String> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create cache directory {}: {e}", dir.display()))?;
        check_private_dir(dir)?;
        Ok(DiskCache {
            dir: dir.to_path_buf(),
            shard_capacity: SHARD_CAPACITY,
        })
    }

    /// The directory holding the entries.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn entry_path(&self, key_bytes: &[u8]) -> (PathBuf, PathBuf) {
        let name = hex(&sha256(key_bytes)[..16]);
        let shard = self.dir.join(&name[..2]);
        (shard.join(&name[2..]), shard)
    }

    /// The digest stored for `key`, if a valid entry exists.
    pub fn get(&self, key: &DigestKey) -> Option<[u8; 32]> {
        let key_bytes = encode_key(key);
        let (path, _) = self.entry_path(&key_bytes);
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&path)
            .ok()?;
        let meta = file.metadata().ok()?;
        // SAFETY: geteuid has no preconditions.
        if !meta.is_file() || meta.uid() != unsafe { libc::geteuid() } || meta.len() > MAX_ENTRY {
            return None;
        }
        let mut raw = Vec::with_capacity(meta.len() as usize);
        file.take(MAX_ENTRY).read_to_end(&mut raw).ok()?;
        decode_entry(&raw, &key_bytes)
    }

    /// Store `digest` for `key` (best effort: a failure only costs a future hash).
    pub fn put(&self, key: &DigestKey, digest: &[u8; 32]) -> Result<(), String> {
        let key_bytes = encode_key(key);
        let (path, shard) = self.entry_path(&key_bytes);
        DirBuilder::new()
            .mode(0o700)
            .create(&shard)
            .or_else(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    Ok(())
                } else {
                    Err(e)
                }
            })
            .map_err(|e| format!("cannot create {}: {e}", shard.display()))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&shard)
            .map_err(|e| format!("cannot write cache entry: {e}"))?;
        tmp.write_all(&encode_entry(&key_bytes, digest))
            .map_err(|e| format!("cannot write cache entry: {e}"))?;
        tmp.persist(&path)
            .map_err(|e| format!("cannot store cache entry: {}", e.error))?;
        evict(&shard, self.shard_capacity);
        Ok(())
    }
}

fn check_private_dir(dir: &Path) -> Result<(), String> {
    let meta = fs::metadata(dir)
        .map_err(|e| format!("cannot stat cache directory {}: {e}", dir.display()))?;
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    if !meta.is_dir() {
        return Err(format!("cache path {} is not a directory", dir.display()));
    }
    if meta.uid() != euid {
        return Err(format!(
            "cache directory {} is owned by uid {}, not by the current user (uid {euid})",
            dir.display(),
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "cache directory {} is writable by group or others (mode {:o}); anyone who can \
             write it could vouch for a tampered binary",
            dir.display(),
            meta.mode() & 0o7777
        ));
    }
    Ok(())
}

/// Keep at most `capacity` entries in a shard, dropping the oldest.
fn evict(shard: &Path, capacity: usize) {
    let Ok(entries) = fs::read_dir(shard) else {
        return;
    };
    let mut files: Vec<(i64, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.metadata().ok()?.mtime(), e.path())))
        .collect();
    if files.len() <= capacity {
        return;
    }
    files.sort();
    for (_, path) in &files[..files.len() - capacity] {
        let _ = fs::remove_file(path);
    }
}

fn encode_key(key: &DigestKey) -> Vec<u8> {
    let path = key.path.as_os_str().as_bytes();
    let mut out = Vec::with_capacity(path.len() + 80);
    out.extend_from_slice(&(path.len() as u64).to_le_bytes());
    out.extend_from_slice(path);
    for v in [key.source_start, key.dev, key.ino, key.size] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for v in [key.mtime_ns, key.ctime_ns] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&key.expected);
    out
}

fn encode_entry(key_bytes: &[u8], digest: &[u8; 32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(key_bytes.len() + 84);
    out.extend_from_slice(ENTRY_MAGIC);
    out.extend_from_slice(&(key_bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(key_bytes);
    out.extend_from_slice(digest);
    let check = sha256(&out);
    out.extend_from_slice(&check);
    out
}

fn decode_entry(raw: &[u8], key_bytes: &[u8]) -> Option<[u8; 32]> {
    let body_len = raw.len().checked_sub(32)?;
    let (body, check) = raw.split_at(body_len);
    if sha256(body) != check || !body.starts_with(ENTRY_MAGIC) {
        return None;
    }
    let rest = &body[ENTRY_MAGIC.len()..];
    let key_len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    let stored_key = rest.get(4..4 + key_len)?;
    let digest = rest.get(4 + key_len..)?;
    if stored_key != key_bytes || digest.len() != 32 {
        return None;
    }
    digest.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn key(path: &str, ctime_ns: i128) -> DigestKey {
        DigestKey {
            path: path.into(),
            source_start: 10,
            dev: 1,
            ino: 2,
            size: 100,
            mtime_ns: 5,
            ctime_ns,
            expected: [3; 32],
        }
    }

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
    fn a_corrupted_or_truncated_entry_is_a_miss_and_is_repaired() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(dir.path()).unwrap();
        let k = key("/b", 1);
        cache.put(&k, &[9; 32]).unwrap();
        let (path, _) = cache.entry_path(&encode_key(&k));
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
        let err = DiskCache::open(dir.path()).unwrap_err();
        assert!(err.contains("writable by group or others"), "{err}");
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
