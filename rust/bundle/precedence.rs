//! Which bundle runs a dag_id: the one rule, decided in one place.
//!
//! Candidates come in precedence order (roots in the order given, then
//! byte-wise relative path; see `walk/mod.rs`). The winner is the first candidate
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
//!
//! Also here, because they decide what counts: a file met again (same device
//! and inode: a hard link, a symlink to it, a nested root) counts once, at its
//! first position ([`Sightings`]); and which bundles are a dag_id's candidates
//! ([`decide_each`]: every dag_id in order of first declaration).
//!
//! Architecture Invariant: no other code chooses a winner, groups candidates
//! by dag_id or de-duplicates files; scan, find, `check` and the bindings all
//! read these results.

use std::collections::{HashMap, HashSet};

use crate::bundle::Bundle;
use crate::error::Error;

/// The reason given when a candidate has no usable schema version (upstream's wording).
pub(crate) const MISSING_SCHEMA_VERSION: &str = "missing or invalid sdk.supervisor_schema_version";

crate::error::names! {
    /// The kinds of a loss decided here rather than by a failed verification
    /// (whose kind is its [`crate::error::Kind`]): `_core.DECISION_KINDS`.
    pub(crate) enum LossKind {
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
    /// Map every candidate index through `index`.
    fn renumber(&mut self, index: impl Fn(usize) -> usize) {
        if let Some((i, _)) = &mut self.winner {
            *i = index(*i);
        }
        for (i, _) in &mut self.losers {
            *i = index(*i);
        }
    }

    /// Candidates that lost to the winner (declared the dag_id after it).
    #[cfg(test)]
    pub(crate) fn shadowed(&self) -> impl Iterator<Item = usize> + '_ {
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
pub(crate) fn decide<R, V>(candidates: &[&Bundle], mut resolve: R, mut verify: V) -> Decision
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

/// The files met so far, by identity (`(st_dev, st_ino)`): a file met again
/// is the same file, and counts once, at its first position in precedence
/// order.
#[derive(Debug, Default)]
pub(crate) struct Sightings(HashSet<(u64, u64)>);

impl Sightings {
    /// Whether the file with this identity is met for the first time.
    pub(crate) fn first(&mut self, identity: (u64, u64)) -> bool {
        self.0.insert(identity)
    }
}

/// Every dag_id declared among `bundles` (in order of first declaration),
/// with its decision; indices are into `bundles`. Verification is already
/// settled: a scan verified every bundle (or, with `verify=False`,
/// deliberately none), so it always passes here.
pub fn decide_each<R>(bundles: &[&Bundle], mut resolve: R) -> Vec<(String, Decision)>
where
    R: FnMut(&str) -> Result<String, String>,
{
    let mut order: Vec<&str> = Vec::new();
    let mut declaring: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, bundle) in bundles.iter().enumerate() {
        for dag_id in &bundle.manifest.dag_ids {
            declaring
                .entry(dag_id.as_str())
                .or_insert_with(|| {
                    order.push(dag_id.as_str());
                    Vec::new()
                })
                .push(i);
        }
    }
    order
        .into_iter()
        .map(|dag_id| {
            let indices = &declaring[dag_id];
            let candidates: Vec<&Bundle> = indices.iter().map(|&i| bundles[i]).collect();
            let mut decision = decide(&candidates, &mut resolve, |_| Ok(()));
            // Back from positions among the candidates to indices into `bundles`.
            decision.renumber(|i| indices[i]);
            (dag_id.to_owned(), decision)
        })
        .collect()
}

/// Decide every dag_id among `bundles` read (and verified) by separate
/// scans, taken in the order given: the bundles of several single-root
/// scans concatenated in a search path's root order, so each root is walked
/// once however many search paths share it. As within one scan, a file met
/// again counts once, at its first position ([`Sightings`]).
///
/// Returns the indices of the bundles that count, and [`decide_each`] over
/// them (its indices are into those kept bundles).
pub fn decide_found<R>(bundles: &[&Bundle], resolve: R) -> (Vec<usize>, Vec<(String, Decision)>)
where
    R: FnMut(&str) -> Result<String, String>,
{
    let mut sightings = Sightings::default();
    let kept: Vec<usize> = (0..bundles.len())
        .filter(|&i| sightings.first(bundles[i].state.identity()))
        .collect();
    let candidates: Vec<&Bundle> = kept.iter().map(|&i| bundles[i]).collect();
    let decisions = decide_each(&candidates, resolve);
    (kept, decisions)
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

    /// A candidate declaring `dags` (YAML flow-mapping entries), inode `ino`.
    fn declaring(name: &str, ino: u64, dags: &str) -> Bundle {
        let meta = format!("sdk: {{supervisor_schema_version: '2026-06-16'}}\ndags: {{{dags}}}\n");
        let mut bundle = candidate(name);
        bundle.manifest = manifest::parse(meta.as_bytes()).unwrap();
        bundle.state.ino = ino;
        bundle
    }

    fn winner(decision: &Decision) -> Option<usize> {
        decision.winner.as_ref().map(|(i, _)| *i)
    }

    #[test]
    fn each_dag_id_is_decided_in_order_of_first_declaration() {
        let a = declaring("a", 1, "y: {}, x: {}");
        let b = declaring("b", 2, "x: {}, z: {}");
        let decided = decide_each(&[&a, &b], |v| Ok(v.to_owned()));
        let summary: Vec<_> = decided
            .iter()
            .map(|(dag_id, d)| (dag_id.as_str(), winner(d), d.shadowed().collect::<Vec<_>>()))
            .collect();
        assert_eq!(
            summary,
            [
                ("y", Some(0), vec![]),
                ("x", Some(0), vec![1]),
                ("z", Some(1), vec![])
            ]
        );
    }

    #[test]
    fn a_file_met_again_counts_once_at_its_first_position() {
        let a = declaring("a", 1, "x: {}");
        let b = declaring("b", 2, "x: {}");
        let again = declaring("a-again", 1, "x: {}");
        let (kept, decided) = decide_found(&[&b, &again, &a], |v| Ok(v.to_owned()));
        assert_eq!(kept, [0, 1]);
        let [(dag_id, decision)] = &decided[..] else {
            panic!("one dag_id: {decided:?}")
        };
        assert_eq!((dag_id.as_str(), winner(decision)), ("x", Some(0)));
        assert_eq!(decision.shadowed().collect::<Vec<_>>(), [1]);
        let mut sightings = Sightings::default();
        assert!(sightings.first((1, 1)) && !sightings.first((1, 1)) && sightings.first((2, 1)));
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
