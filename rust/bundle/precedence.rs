//! Which bundle runs a dag_id: the one rule, decided in one place.
//!
//! Candidates come in precedence order (roots in the order given, then
//! byte-wise relative path; see `walk.rs`). The winner is the first candidate
//! that
//!
//! 1. declares an `sdk.supervisor_schema_version`,
//! 2. whose version the caller's resolver accepts (Airflow's schema migrator
//!    in a worker; no resolver accepts every version), and
//! 3. that verifies (SHA-256 of the binary region, same file state).
//!
//! Every candidate before the winner lost for one of those reasons; every
//! candidate after it is shadowed. `find` verifies lazily (a candidate is
//! hashed only when all before it lost), `scan` has verified everything
//! already; both call [`decide`], so what `scan` names the winner is what
//! `find` returns.
//!
//! A verification that fails because the process ran out of descriptors or
//! memory ([`crate::error::ErrorKind::is_exhaustion`]) says nothing about the
//! candidate: the decision stops there, incomplete, and no later candidate
//! wins in its place.

use crate::error::Error;
use crate::fs::file::Bundle;

/// The reason given when a candidate has no usable schema version (upstream's wording).
pub const MISSING_SCHEMA_VERSION: &str = "missing or invalid sdk.supervisor_schema_version";

crate::error::names! {
    /// The kinds of a loss decided here rather than by a failed verification
    /// (whose kind is its [`crate::error::Kind`]): `_core.DECISION_KINDS`.
    pub enum LossKind {
        /// No usable `sdk.supervisor_schema_version`, or the resolver refused it.
        Schema => "schema",
        /// An earlier candidate won.
        Shadowed => "shadowed",
    }
}

/// Why a candidate did not win.
#[derive(Debug)]
pub enum Loss {
    /// It declares no `sdk.supervisor_schema_version` (or not a string).
    MissingSchemaVersion,
    /// The resolver refused its schema version; the resolver's message.
    SchemaRejected(String),
    /// It failed verification (digest mismatch, changed, unreadable, ...).
    Failed(Error),
    /// An earlier candidate won.
    Shadowed,
}

impl Loss {
    /// Short stable name (the `kind` of a rejection).
    pub fn kind(&self) -> &'static str {
        match self {
            Loss::MissingSchemaVersion | Loss::SchemaRejected(_) => LossKind::Schema.name(),
            Loss::Failed(err) => err.kind.name(),
            Loss::Shadowed => LossKind::Shadowed.name(),
        }
    }

    /// Why, in a sentence without the path.
    pub fn reason(&self) -> String {
        match self {
            Loss::MissingSchemaVersion => MISSING_SCHEMA_VERSION.to_owned(),
            Loss::SchemaRejected(why) => why.clone(),
            Loss::Failed(err) => err.kind.to_string(),
            Loss::Shadowed => "an earlier bundle in precedence order declares the dag_id".into(),
        }
    }
}

/// The outcome for one dag_id.
#[derive(Debug)]
pub struct Decision {
    /// Index of the winning candidate, and its resolved schema version.
    pub winner: Option<(usize, String)>,
    /// Every other candidate, in precedence order, with why it lost.
    pub losers: Vec<(usize, Loss)>,
    /// Set when a verification ran out of descriptors or memory: nothing
    /// was decided from that candidate on (no winner, no further losers).
    pub incomplete: Option<Error>,
}

impl Decision {
    /// Candidates that lost to the winner (declared the dag_id after it).
    pub fn shadowed(&self) -> impl Iterator<Item = usize> + '_ {
        self.losers
            .iter()
            .filter(|(_, loss)| matches!(loss, Loss::Shadowed))
            .map(|(i, _)| *i)
    }
}

/// Decide the winner among `candidates` (in precedence order, all declaring
/// the dag_id).
///
/// `resolve` maps a declared schema version to the canonical one or refuses
/// it; `verify` checks candidate `i` (called only for candidates that
/// survived the schema checks, in order, until one passes).
pub fn decide<R, V>(candidates: &[&Bundle], mut resolve: R, mut verify: V) -> Decision
where
    R: FnMut(&str) -> Result<String, String>,
    V: FnMut(usize) -> Result<(), Error>,
{
    let mut decision = Decision {
        winner: None,
        losers: Vec::new(),
        incomplete: None,
    };
    for (i, bundle) in candidates.iter().enumerate() {
        if decision.winner.is_some() {
            decision.losers.push((i, Loss::Shadowed));
            continue;
        }
        let Some(declared) = bundle.manifest.supervisor_schema_version.as_deref() else {
            decision.losers.push((i, Loss::MissingSchemaVersion));
            continue;
        };
        let resolved = match resolve(declared) {
            Ok(resolved) => resolved,
            Err(why) => {
                decision.losers.push((i, Loss::SchemaRejected(why)));
                continue;
            }
        };
        match verify(i) {
            Ok(()) => decision.winner = Some((i, resolved)),
            Err(err) if err.kind.is_exhaustion() => {
                decision.incomplete = Some(err);
                break;
            }
            Err(err) => decision.losers.push((i, Loss::Failed(err))),
        }
    }
    decision
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ErrorKind, Op};
    use crate::format::manifest;
    use crate::format::trailer::Trailer;
    use crate::fs::file::FileState;
    use std::path::PathBuf;

    fn candidate(name: &str) -> Bundle {
        let meta = b"sdk: {supervisor_schema_version: '2026-06-16'}\ndags: {d: {}}\n";
        let trailer = Trailer::new(0, meta.len() as u32, [0; 32]);
        Bundle {
            path: PathBuf::from(name),
            state: FileState {
                dev: 0,
                ino: 0,
                size: 64,
                mtime_ns: 0,
                ctime_ns: 0,
                mode: 0o100_755,
            },
            layout: trailer.layout(1 + meta.len() as u64 + 64).unwrap(),
            trailer,
            manifest: manifest::parse(meta).unwrap(),
            verified: false,
            signed_by: None,
        }
    }

    fn io(errno: i32) -> ErrorKind {
        ErrorKind::io(Op::Open, std::io::Error::from_raw_os_error(errno))
    }

    #[test]
    fn running_out_of_descriptors_decides_nothing_and_no_later_candidate_wins() {
        let (a, b) = (candidate("a"), candidate("b"));
        let decision = decide(
            &[&a, &b],
            |v| Ok(v.to_owned()),
            |i| match i {
                0 => Err(io(libc::EMFILE).at("a")),
                _ => Ok(()),
            },
        );
        assert!(decision.winner.is_none());
        assert!(decision.losers.is_empty());
        assert_eq!(decision.incomplete.unwrap().path, PathBuf::from("a"));
    }

    #[test]
    fn any_other_failure_loses_and_the_next_candidate_wins() {
        let (a, b) = (candidate("a"), candidate("b"));
        let decision = decide(
            &[&a, &b],
            |v| Ok(v.to_owned()),
            |i| match i {
                0 => Err(io(libc::EACCES).at("a")),
                _ => Ok(()),
            },
        );
        assert_eq!(decision.winner.map(|(i, _)| i), Some(1));
        assert!(matches!(decision.losers[..], [(0, Loss::Failed(_))]));
        assert!(decision.incomplete.is_none());
    }
}
