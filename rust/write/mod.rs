//! Writing: bundles (pack, strip, extracted regions), atomic files, sealed copies.

pub mod atomic;
pub mod pack;
pub mod sealed;
