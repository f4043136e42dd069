//! Remembered digests: "this file, in this exact state, hashes to X".
//!
//! Architecture Invariant: a cache only stores and returns digests under a
//! key; whether a digest may be trusted or remembered is decided by the one
//! verification function (`verify`). Depends on `error`, `format` and `fs`.

pub mod disk;
pub mod memory;
