//! The file system as afbundle touches it: one file's state and descriptor,
//! the trusted-path rule, and what a root lives on.
//!
//! Architecture Invariant: nothing here knows what a bundle is. Depends
//! only on `error`.

pub mod file;
pub mod storage;
pub mod trusted_path;
