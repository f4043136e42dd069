//! Whether a file is what it claims: the binary region's SHA-256, and
//! signatures by trusted signers.
//!
//! Depends on `error`, `format`, `fs` and `cache`.

pub mod allowed_signers;
pub mod hash;
pub mod signature;
