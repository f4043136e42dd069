//! A bundle's trailer and manifest, read through the one descriptor of an
//! [`OpenFile`] (spec reader algorithm, steps 1-5 and 7).
//!
//! Every function here reads through the descriptor it is given and never
//! opens the file again; none of them hashes (that is `verify`'s) or proves
//! the file unchanged (that is the [`Bundle`](super::Bundle) constructor's).

use crate::error::{ErrorKind, Op};
use crate::format::manifest::{self, Manifest};
use crate::format::trailer::{Layout, Trailer, TRAILER_SIZE};
use crate::fs::file::{OpenFile, Tail};

/// How many bytes [`tail`] reads from the end of a file: the trailer plus a
/// manifest of up to 4 KiB minus 64 bytes.
pub(crate) const TAIL_READ: u64 = 4096;

fn too_short() -> ErrorKind {
    ErrorKind::NotABundle("file is shorter than the 64-byte trailer".into())
}

/// Read and validate the trailer (spec steps 1-5) with one `pread` of its
/// 64 bytes.
pub fn trailer(open: &OpenFile) -> Result<(Trailer, Layout), ErrorKind> {
    let size = open.state().size;
    if size < TRAILER_SIZE as u64 {
        return Err(too_short());
    }
    let raw = open.read_region(
        size - TRAILER_SIZE as u64,
        TRAILER_SIZE as u64,
        Op::ReadTrailer,
    )?;
    let raw: &[u8; TRAILER_SIZE] = raw[..].try_into().expect("read exactly one trailer");
    let trailer = Trailer::parse(raw)?;
    let layout = trailer.layout(size)?;
    Ok((trailer, layout))
}

/// Read the last [`TAIL_READ`] bytes (or the whole file, if shorter) in ONE
/// `pread`, and validate the trailer in them (spec steps 1-5). On a network
/// file system every read is a round trip; the tail usually holds the
/// manifest too, for [`manifest_in`].
pub(crate) fn tail(open: &OpenFile) -> Result<(Trailer, Layout, Tail), ErrorKind> {
    let size = open.state().size;
    if size < TRAILER_SIZE as u64 {
        return Err(too_short());
    }
    let tail = open.read_tail(TAIL_READ, Op::ReadTrailer)?;
    let bytes = tail.bytes();
    let raw: &[u8; TRAILER_SIZE] = bytes[bytes.len() - TRAILER_SIZE..]
        .try_into()
        .expect("the tail is at least one trailer long");
    let trailer = Trailer::parse(raw)?;
    let layout = trailer.layout(size)?;
    Ok((trailer, layout, tail))
}

/// The manifest (spec step 7), from `tail` when it holds the whole region,
/// else read with one more `pread`.
pub(crate) fn manifest_in(
    open: &OpenFile,
    layout: &Layout,
    tail: &Tail,
) -> Result<Manifest, ErrorKind> {
    match tail.region(layout.metadata_start, layout.metadata_len) {
        Some(bytes) => manifest::parse(bytes),
        None => self::manifest(open, layout),
    }
}

/// Read and parse the manifest region (spec step 7).
pub(crate) fn manifest(open: &OpenFile, layout: &Layout) -> Result<Manifest, ErrorKind> {
    if layout.metadata_len > manifest::MAX_MANIFEST_BYTES {
        return Err(ErrorKind::Manifest(format!(
            "metadata_len={} exceeds the {}-byte manifest limit",
            layout.metadata_len,
            manifest::MAX_MANIFEST_BYTES
        )));
    }
    let bytes = open.read_region(layout.metadata_start, layout.metadata_len, Op::ReadManifest)?;
    manifest::parse(&bytes)
}
