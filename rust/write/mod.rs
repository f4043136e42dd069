//! Writing: bundles (pack, strip, extracted regions), atomic files, sealed copies.
//!
//! Architecture Invariant: nothing is ever half-written where a walk could
//! see it ([`atomic::PendingOutput`] for every output file), and a sealed
//! copy is verified by the one verification function on its own sealed
//! bytes, never through a cache. Depends on every layer below `python`.

pub mod atomic;
pub mod pack;
pub mod sealed;
