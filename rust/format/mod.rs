//! The bundle's formats as bytes: the trailer, the manifest and how Airflow's
//! YAML 1.1 reader types a scalar.
//!
//! Architecture Invariant: pure. Nothing here does I/O or knows a file;
//! bytes come in, values or an [`ErrorKind`](crate::error::ErrorKind) go out.
//! Depends only on `error`.

pub mod digest;
pub mod manifest;
pub mod trailer;
pub mod yaml11;
