//! SHA-256 of a byte range of an open file, read with positioned reads.
//!
//! Streaming in fixed chunks keeps memory flat whatever the bundle size.
//! `sha2` picks the SHA-NI / ARMv8 SHA instructions at run time when the CPU
//! has them.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::mpsc;

use sha2::{Digest, Sha256, Sha512};

use crate::error::{ErrorKind, Op, Stage};

/// Bytes read per positioned read while hashing.
pub(crate) const CHUNK: usize = 1 << 20;

/// Regions at least this long are read on one thread while hashed on another.
pub(crate) const OVERLAP_FROM: u64 = 4 * CHUNK as u64;

/// SHA-256 of bytes `[0, len)` of `file`.
///
/// A file that ends before `len` (it shrank while being read) is an
/// [`ErrorKind::Changed`], never a short digest. Long regions overlap the
/// copy out of the page cache with hashing (two 1 MiB buffers in flight), so
/// hashing, not copying, sets the pace.
pub fn sha256_prefix(file: &File, len: u64) -> Result<[u8; 32], ErrorKind> {
    if len < OVERLAP_FROM {
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; CHUNK.min(usize::try_from(len).unwrap_or(CHUNK)).max(1)];
        read_chunks(file, len, &mut buf, |chunk| hasher.update(chunk))?;
        return Ok(hasher.finalize().into());
    }
    let (full_tx, full_rx) = mpsc::sync_channel::<(Vec<u8>, usize)>(1);
    let (empty_tx, empty_rx) = mpsc::sync_channel::<Vec<u8>>(2);
    for _ in 0..2 {
        empty_tx.send(vec![0u8; CHUNK]).expect("channel has room");
    }
    std::thread::scope(|scope| {
        let hasher = scope.spawn(move || {
            let mut hasher = Sha256::new();
            for (buf, n) in full_rx {
                hasher.update(&buf[..n]);
                // The reader may have stopped early; a closed channel is fine.
                let _ = empty_tx.send(buf);
            }
            hasher.finalize()
        });
        let mut offset = 0u64;
        let read = (|| {
            while offset < len {
                let Ok(mut buf) = empty_rx.recv() else { break };
                let want = usize::try_from(len - offset).map_or(CHUNK, |rest| rest.min(CHUNK));
                let n = read_some(file, &mut buf[..want], offset, len)?;
                offset += n as u64;
                if full_tx.send((buf, n)).is_err() {
                    break;
                }
            }
            Ok(())
        })();
        drop(full_tx);
        let digest = hasher.join().expect("the hashing thread does not panic");
        read.map(|()| digest.into())
    })
}

/// Feed `[0, len)` of `file` to `sink`, one buffer at a time.
fn read_chunks(
    file: &File,
    len: u64,
    buf: &mut [u8],
    mut sink: impl FnMut(&[u8]),
) -> Result<(), ErrorKind> {
    let mut offset = 0u64;
    while offset < len {
        let want = usize::try_from(len - offset).map_or(buf.len(), |rest| rest.min(buf.len()));
        let n = read_some(file, &mut buf[..want], offset, len)?;
        sink(&buf[..n]);
        offset += n as u64;
    }
    Ok(())
}

/// One positioned read of at least one byte; end of file is a change.
fn read_some(file: &File, buf: &mut [u8], offset: u64, len: u64) -> Result<usize, ErrorKind> {
    loop {
        match file.read_at(buf, offset) {
            Ok(0) => {
                return Err(ErrorKind::changed(
                    Stage::Hash,
                    format!("file ended at byte {offset} while hashing a {len}-byte binary region"),
                ))
            }
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ErrorKind::io(Op::ReadBinary, e)),
        }
    }
}

/// The hash of a whole file that a signature covers (sshsig allows two).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WholeFile {
    /// SHA-256.
    Sha256,
    /// SHA-512 (what `ssh-keygen -Y sign` uses by default).
    Sha512,
}

impl WholeFile {
    /// Its name, as in the signature's `hash_algorithm`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            WholeFile::Sha256 => "sha256",
            WholeFile::Sha512 => "sha512",
        }
    }

    /// Length of its digest in bytes.
    pub(crate) fn digest_len(self) -> usize {
        match self {
            WholeFile::Sha256 => 32,
            WholeFile::Sha512 => 64,
        }
    }
}

enum WholeHasher {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl WholeHasher {
    fn new(alg: WholeFile) -> Self {
        match alg {
            WholeFile::Sha256 => WholeHasher::Sha256(Sha256::new()),
            WholeFile::Sha512 => WholeHasher::Sha512(Sha512::new()),
        }
    }
    fn update(&mut self, bytes: &[u8]) {
        match self {
            WholeHasher::Sha256(h) => h.update(bytes),
            WholeHasher::Sha512(h) => h.update(bytes),
        }
    }
    fn finalize(self) -> Vec<u8> {
        match self {
            WholeHasher::Sha256(h) => h.finalize().to_vec(),
            WholeHasher::Sha512(h) => h.finalize().to_vec(),
        }
    }
}

/// Bytes read per positioned read when one pass feeds two hashes.
const TWO_HASH_CHUNK: usize = 4 * CHUNK;

/// In ONE read of bytes `[0, len)` of `file`: its `alg` digest and, when
/// `prefix` is given, the SHA-256 of bytes `[0, prefix)` as well.
///
/// Both hashes of a chunk run at once (the prefix's SHA-256 on a second
/// thread) so verifying a signature and the trailer digest costs about one
/// SHA-512 pass, not the sum. A file shorter than `len` is an
/// [`ErrorKind::Changed`].
pub(crate) fn digest_whole(
    file: &File,
    len: u64,
    alg: WholeFile,
    prefix: Option<u64>,
) -> Result<(Option<[u8; 32]>, Vec<u8>), ErrorKind> {
    let prefix = prefix.map(|p| p.min(len));
    if alg == WholeFile::Sha256 {
        if let Some(prefix) = prefix {
            return sha256_prefix_and_whole(file, len, prefix);
        }
    }
    let mut whole = WholeHasher::new(alg);
    let mut head = Sha256::new();
    let size = usize::try_from(len).map_or(TWO_HASH_CHUNK, |l| l.clamp(1, TWO_HASH_CHUNK));
    let mut buf = vec![0u8; size];
    let mut offset = 0u64;
    while offset < len {
        let want = usize::try_from(len - offset).map_or(buf.len(), |rest| rest.min(buf.len()));
        let n = read_some(file, &mut buf[..want], offset, len)?;
        let chunk = &buf[..n];
        let head_len = prefix.map_or(0, |p| p.saturating_sub(offset).min(n as u64) as usize);
        if head_len >= CHUNK {
            std::thread::scope(|scope| {
                let head = &mut head;
                scope.spawn(move || head.update(&chunk[..head_len]));
                whole.update(chunk);
            });
        } else {
            head.update(&chunk[..head_len]);
            whole.update(chunk);
        }
        offset += n as u64;
    }
    Ok((prefix.map(|_| head.finalize().into()), whole.finalize()))
}

/// Both digests are SHA-256: ONE hash run, finalised once at `prefix` (on a
/// copy of its state) and once at the end.
fn sha256_prefix_and_whole(
    file: &File,
    len: u64,
    prefix: u64,
) -> Result<(Option<[u8; 32]>, Vec<u8>), ErrorKind> {
    let mut hasher = Sha256::new();
    let mut head = (prefix == 0).then(|| hasher.clone().finalize().into());
    let size = usize::try_from(len).map_or(TWO_HASH_CHUNK, |l| l.clamp(1, TWO_HASH_CHUNK));
    let mut buf = vec![0u8; size];
    let mut offset = 0u64;
    while offset < len {
        // Stop each read at the prefix boundary so the state can be copied there.
        let limit = if offset < prefix { prefix } else { len };
        let want = usize::try_from(limit - offset).map_or(buf.len(), |rest| rest.min(buf.len()));
        let n = read_some(file, &mut buf[..want], offset, len)?;
        hasher.update(&buf[..n]);
        offset += n as u64;
        if offset == prefix {
            head = Some(hasher.clone().finalize().into());
        }
    }
    Ok((head, hasher.finalize().to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::digest::sha256;
    use std::io::Write;

    #[test]
    fn prefix_digest_matches_the_in_memory_digest() {
        let data: Vec<u8> = (0..(CHUNK * 2 + 17)).map(|i| (i % 251) as u8).collect();
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&data).unwrap();
        for len in [1usize, 100, CHUNK, CHUNK + 1, data.len()] {
            assert_eq!(
                sha256_prefix(&f, len as u64).unwrap(),
                sha256(&data[..len]),
                "{len}"
            );
        }
    }

    #[test]
    fn long_regions_hash_the_same_on_two_threads() {
        let data: Vec<u8> = (0..(OVERLAP_FROM as usize * 2 + 12345))
            .map(|i| (i % 253) as u8)
            .collect();
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&data).unwrap();
        for len in [OVERLAP_FROM as usize, OVERLAP_FROM as usize + 1, data.len()] {
            assert_eq!(
                sha256_prefix(&f, len as u64).unwrap(),
                sha256(&data[..len]),
                "{len}"
            );
        }
        let err = sha256_prefix(&f, data.len() as u64 + 1).unwrap_err();
        assert!(matches!(err, ErrorKind::Changed { .. }), "{err}");
    }

    #[test]
    fn one_pass_gives_the_prefix_and_the_whole_file_digest() {
        let data: Vec<u8> = (0..(TWO_HASH_CHUNK * 2 + 999))
            .map(|i| (i % 241) as u8)
            .collect();
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&data).unwrap();
        let len = data.len() as u64;
        for prefix in [0usize, 5, CHUNK, TWO_HASH_CHUNK + 3, data.len()] {
            let (head, whole) =
                digest_whole(&f, len, WholeFile::Sha512, Some(prefix as u64)).unwrap();
            assert_eq!(head.unwrap(), sha256(&data[..prefix]), "{prefix}");
            assert_eq!(whole, Sha512::digest(&data).to_vec());
            let (head, whole) =
                digest_whole(&f, len, WholeFile::Sha256, Some(prefix as u64)).unwrap();
            assert_eq!(head.unwrap(), sha256(&data[..prefix]), "{prefix}");
            assert_eq!(whole, sha256(&data).to_vec());
        }
        let (head, whole) = digest_whole(&f, len, WholeFile::Sha256, None).unwrap();
        assert!(head.is_none());
        assert_eq!(whole, sha256(&data).to_vec());
        assert!(matches!(
            digest_whole(&f, len + 1, WholeFile::Sha512, None),
            Err(ErrorKind::Changed { .. })
        ));
    }

    #[test]
    fn a_file_shorter_than_the_region_is_a_change_not_a_digest() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(b"short").unwrap();
        assert!(matches!(
            sha256_prefix(&f, 10),
            Err(ErrorKind::Changed { .. })
        ));
    }
}
