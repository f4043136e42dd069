//! The `allowed_signers` file, read line by line as OpenSSH reads it.
//!
//! The aim is one verdict: a signature is accepted here exactly when
//! `ssh-keygen -Y verify -f FILE -I IDENTITY -n afbundle` accepts it for
//! some identity (afbundle names no identity; a line's principals name the
//! signer). So this module follows OpenSSH 9.2's `sshsig.c` reader, not the
//! manual page's prose, and `tests/test_signers_differential.py` compares
//! the two over a generated corpus of lines:
//!
//! - Lines end at `\n`; a line is read up to its first NUL (C strings). A
//!   line that is blank or whose first non-blank (space, tab) byte is `#` is
//!   ignored.
//! - A line OpenSSH cannot use is **skipped, never fatal**, as
//!   `ssh-keygen -Y verify` skips it: the rest of the file still counts.
//!   Each skip is kept with its reason ([`Line::Skipped`]) so it can be
//!   reported; a skipped line only ever takes trust away.
//! - Fields: principals (whitespace-separated, `"` quotes anywhere in the
//!   token), then either a key or one options token (up to the first
//!   unquoted space or tab) and a key. Spaces and tabs separate fields
//!   alike.
//! - A key is `TYPE BASE64`: the type name as OpenSSH spells it (the key's
//!   own algorithm name; `rsa-sha2-256`/`-512` for an RSA key), the base64
//!   up to the next space or tab (other whitespace inside it is ignored, as
//!   OpenSSH's decoder does), strictly padded.
//! - Options, case-insensitive names, comma-separated: `cert-authority`,
//!   `namespaces="..."`, `valid-after="..."`, `valid-before="..."`. Values
//!   must be quoted (`\"` inside is a quote). Any other option, a repeated
//!   `namespaces`/`valid-after`/`valid-before`, a trailing comma, a time
//!   that does not parse or is the epoch itself, or `valid-before` not after
//!   `valid-after`: the line is skipped. Empty options (`,,`) are allowed.
//! - Times: `YYYYMMDD[HHMM[SS]]`, then optionally `Z` or `UTC` (any case)
//!   for UTC, else local time; each field may have leading whitespace (as
//!   glibc's `strptime` allows), seconds go up to 61, days to 31 in every
//!   month (normalised as `mktime` does).
//! - A line applies to a signature if its key equals the signing key, it is
//!   not `cert-authority` (such a line only vouches for certificates it
//!   signed, which afbundle does not verify), its principals can match some
//!   identity ([`some_identity_matches`]; `!*` cannot), its namespaces
//!   allow `afbundle`, and `valid-after <= now <= valid-before`.
//!
//! Pure: bytes in, lines out; no I/O.

use std::collections::HashSet;

use ssh_key::public::KeyData;
use ssh_key::PublicKey;

/// Longest subpattern OpenSSH's `match_pattern_list` accepts (its 1024-byte
/// buffer); a longer one makes the whole list match nothing.
const MAX_SUBPATTERN: usize = 1022;
/// Work budget (positions stepped) for deciding whether a principals list
/// can match anything: far beyond any real list, a few milliseconds at
/// most; past it the line is skipped (never trusted).
const SATISFIABILITY_BUDGET: usize = 1 << 18;

/// One usable line of an `allowed_signers` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signer {
    /// The principals field as read (comma-separated patterns; bytes that
    /// are not UTF-8 shown as U+FFFD).
    pub principals: String,
    /// The public key.
    pub key: KeyData,
    /// The `cert-authority` option: the key signs certificates, not files.
    pub cert_authority: bool,
    /// The `namespaces=` pattern list; `None` allows every namespace.
    pub namespaces: Option<Vec<u8>>,
    /// `valid-after=` as Unix seconds.
    pub valid_after: Option<i64>,
    /// `valid-before=` as Unix seconds.
    pub valid_before: Option<i64>,
    /// 1-based line number, for messages.
    pub line: usize,
}

impl Signer {
    /// Whether the `namespaces=` option allows `namespace`.
    pub(crate) fn allows_namespace(&self, namespace: &str) -> bool {
        self.namespaces
            .as_deref()
            .is_none_or(|list| match_pattern_list(namespace.as_bytes(), list) == 1)
    }
}

/// What one line of the file is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// Blank or a comment.
    Ignored,
    /// A line OpenSSH would use.
    Signer(Box<Signer>),
    /// A line OpenSSH would skip, and why.
    Skipped(String),
}

/// Read every line of an `allowed_signers` file.
pub(crate) fn parse(raw: &[u8]) -> Vec<Line> {
    let mut lines: Vec<&[u8]> = raw.split(|b| *b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop(); // the end of the last line, not a line
    }
    lines
        .into_iter()
        .enumerate()
        .map(|(i, line)| {
            let line = line.split(|b| *b == 0).next().unwrap_or_default();
            match parse_line(line, i + 1) {
                Ok(None) => Line::Ignored,
                Ok(Some(signer)) => Line::Signer(Box::new(signer)),
                Err(why) => Line::Skipped(why),
            }
        })
        .collect()
}

fn skip(s: &[u8], set: &[u8]) -> usize {
    s.iter().position(|c| !set.contains(c)).unwrap_or(s.len())
}

/// One line; `Ok(None)` when blank or a comment.
fn parse_line(line: &[u8], line_no: usize) -> Result<Option<Signer>, String> {
    let line = &line[skip(line, b" \t")..];
    if line.is_empty() || line[0] == b'#' {
        return Ok(None);
    }
    let (principals, rest) = principals_token(line).ok_or("invalid line")?;
    let (key, options) = match read_key(rest) {
        Ok(key) => (key, Options::default()),
        Err(_) => {
            // In OpenSSH's order: the options token's extent, the key after
            // it, then the options themselves.
            let end = options_end(rest).ok_or("invalid options (unterminated quote)")?;
            if end == rest.len() {
                return Err("missing key".into());
            }
            let after = &rest[end + 1..];
            let key = read_key(&after[skip(after, b" \t")..])
                .map_err(|why| format!("invalid key: {why}"))?;
            let options =
                parse_options(&rest[..end]).map_err(|why| format!("bad options: {why}"))?;
            (key, options)
        }
    };
    match some_identity_matches(&principals) {
        Some(true) => {}
        Some(false) => {
            return Err(format!(
                "principals {:?} match no identity",
                String::from_utf8_lossy(&principals)
            ))
        }
        None => {
            return Err(format!(
                "principals {:?} are too complex to tell whether they match anyone",
                String::from_utf8_lossy(&principals)
            ))
        }
    }
    Ok(Some(Signer {
        principals: String::from_utf8_lossy(&principals).into_owned(),
        key,
        cert_authority: options.cert_authority,
        namespaces: options.namespaces,
        valid_after: options.valid_after,
        valid_before: options.valid_before,
        line: line_no,
    }))
}

/// The principals token and what follows it (OpenSSH's `strdelimw`): up to
/// the first space, tab, CR or LF, except that a `"` (anywhere in the
/// token) starts a quoted part, removed with its closing quote. `None` when
/// a quote is not closed or nothing follows the token.
fn principals_token(s: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    const WHITESPACE: &[u8] = b" \t\r\n";
    let at = s
        .iter()
        .position(|c| WHITESPACE.contains(c) || *c == b'"')?;
    let (token, after) = if s[at] == b'"' {
        let quoted = &s[at + 1..];
        let close = quoted.iter().position(|c| *c == b'"')?;
        ([&s[..at], &quoted[..close]].concat(), &quoted[close + 1..])
    } else {
        (s[..at].to_vec(), &s[at + 1..])
    };
    Some((token, &after[skip(after, WHITESPACE)..]))
}

/// Where the options token ends (OpenSSH's `sshkey_advance_past_options`):
/// at the first space or tab outside double quotes (`\"` is no quote);
/// `None` if a quote is still open at the end.
fn options_end(s: &[u8]) -> Option<usize> {
    let (mut i, mut quoted) = (0, false);
    while i < s.len() && (quoted || (s[i] != b' ' && s[i] != b'\t')) {
        if s[i] == b'\\' && s.get(i + 1) == Some(&b'"') {
            i += 1;
        } else if s[i] == b'"' {
            quoted = !quoted;
        }
        i += 1;
    }
    (!(i == s.len() && quoted)).then_some(i)
}

/// OpenSSH's names for a key type beyond the key's own algorithm name.
fn canonical_type(name: &str) -> &str {
    match name {
        "rsa-sha2-256" | "rsa-sha2-512" => "ssh-rsa",
        "webauthn-sk-ecdsa-sha2-nistp256@openssh.com" => "sk-ecdsa-sha2-nistp256@openssh.com",
        other => other,
    }
}

/// A public key at the start of `s` (OpenSSH's `sshkey_read`): `TYPE`, a
/// space or tab, then base64 up to the next space or tab; the rest is a comment.
fn read_key(s: &[u8]) -> Result<KeyData, String> {
    let name_len = s
        .iter()
        .position(|c| *c == b' ' || *c == b'\t')
        .ok_or("no key type and base64")?;
    let name = std::str::from_utf8(&s[..name_len]).map_err(|_| "key type is not text")?;
    if name.ends_with("-cert-v01@openssh.com") {
        return Err(format!(
            "{name} is a certificate: afbundle verifies plain-key signatures only"
        ));
    }
    let rest = &s[name_len..];
    let rest = &rest[skip(rest, b" \t")..];
    let blob_len = rest
        .iter()
        .position(|c| *c == b' ' || *c == b'\t')
        .unwrap_or(rest.len());
    // OpenSSH's base64 decoder ignores whitespace (C isspace) inside the blob.
    let blob: String = rest[..blob_len]
        .iter()
        .filter(|c| !c.is_ascii_whitespace() && **c != 0x0b)
        .map(|c| char::from(*c))
        .collect();
    if blob.is_empty() {
        return Err("no base64 after the key type".into());
    }
    let key = PublicKey::from_openssh(&format!("{} {blob}", canonical_type(name)))
        .map_err(|e| format!("{name}: {e}"))?;
    Ok(key.key_data().clone())
}

#[derive(Default)]
struct Options {
    cert_authority: bool,
    namespaces: Option<Vec<u8>>,
    valid_after: Option<i64>,
    valid_before: Option<i64>,
}

/// `name=` at the start of `s`, case-insensitively: what follows the `=`.
fn option_value<'a>(s: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let n = name.len();
    (s.len() > n && s[..n].eq_ignore_ascii_case(name.as_bytes()) && s[n] == b'=')
        .then(|| &s[n + 1..])
}

/// A quoted value (OpenSSH's `opt_dequote`): `"`, bytes (`\"` is a quote),
/// `"`; and what follows it.
fn dequote(s: &[u8]) -> Result<(Vec<u8>, &[u8]), String> {
    if s.first() != Some(&b'"') {
        return Err("missing start quote".into());
    }
    let (mut out, mut i) = (Vec::new(), 1);
    while i < s.len() && s[i] != b'"' {
        if s[i] == b'\\' && s.get(i + 1) == Some(&b'"') {
            i += 1;
        }
        out.push(s[i]);
        i += 1;
    }
    if i == s.len() {
        return Err("missing end quote".into());
    }
    Ok((out, &s[i + 1..]))
}

/// The options token (OpenSSH's `sshsigopt_parse`).
fn parse_options(mut s: &[u8]) -> Result<Options, String> {
    let mut parsed = Options::default();
    while !s.is_empty() {
        const CA: &[u8] = b"cert-authority";
        if s.len() >= CA.len() && s[..CA.len()].eq_ignore_ascii_case(CA) {
            parsed.cert_authority = true;
            s = &s[CA.len()..];
        } else if let Some(value) = option_value(s, "namespaces") {
            if parsed.namespaces.is_some() {
                return Err("multiple \"namespaces\" clauses".into());
            }
            let (list, rest) = dequote(value)?;
            parsed.namespaces = Some(list);
            s = rest;
        } else {
            let mut time_option = None;
            for (name, slot) in [
                ("valid-after", &mut parsed.valid_after),
                ("valid-before", &mut parsed.valid_before),
            ] {
                if let Some(value) = option_value(s, name) {
                    if slot.is_some() {
                        return Err(format!("multiple \"{name}\" clauses"));
                    }
                    let (text, rest) = dequote(value)?;
                    *slot = Some(
                        parse_time(&text)
                            .ok()
                            .filter(|t| *t != 0)
                            .ok_or_else(|| format!("invalid \"{name}\" time"))?,
                    );
                    time_option = Some(rest);
                    break;
                }
            }
            if let Some(rest) = time_option {
                s = rest;
            }
        }
        match s.first() {
            None => break,
            Some(b',') => {
                s = &s[1..];
                if s.is_empty() {
                    return Err("unexpected end-of-options".into());
                }
            }
            Some(_) => {
                let option = s.split(|c| *c == b',').next().unwrap_or_default();
                return Err(format!(
                    "unknown key option {:?}",
                    String::from_utf8_lossy(option)
                ));
            }
        }
    }
    if let (Some(after), Some(before)) = (parsed.valid_after, parsed.valid_before) {
        if before <= after {
            return Err("\"valid-before\" time is before \"valid-after\"".into());
        }
    }
    Ok(parsed)
}

/// `YYYYMMDD[HHMM[SS]]` then optionally `Z` or `UTC` (any case), as Unix
/// seconds: UTC with the suffix, else local time. OpenSSH's
/// `parse_absolute_time` over glibc's `strptime` and `mktime`: each field
/// may start with whitespace, seconds go to 61, day 31 of any month is
/// normalised into the next; a time before 1970 is an error.
pub(crate) fn parse_time(s: &[u8]) -> Result<i64, String> {
    let bad = || {
        format!(
            "bad time {:?} (expected YYYYMMDD[HHMM[SS]][Z])",
            String::from_utf8_lossy(s)
        )
    };
    let (len, utc) = match s.len() {
        l if l > 1 && s[l - 1].eq_ignore_ascii_case(&b'z') => (l - 1, true),
        l if l > 3 && s[l - 3..].eq_ignore_ascii_case(b"utc") => (l - 3, true),
        l => (l, false),
    };
    if !matches!(len, 8 | 12 | 14) {
        return Err(bad());
    }
    // (width, lowest, highest) of year, month, day, hour, minute, second.
    const FIELDS: [(usize, i64, i64); 6] = [
        (4, 0, 9999),
        (2, 1, 12),
        (2, 1, 31),
        (2, 0, 23),
        (2, 0, 59),
        (2, 0, 61),
    ];
    let mut values = [0i64; 6];
    let mut at = 0;
    for (value, (width, low, high)) in values.iter_mut().zip(FIELDS) {
        if at == len {
            break;
        }
        let field = &s[at..at + width];
        let digits = &field[skip(field, b" \t\n\x0b\x0c\r")..];
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return Err(bad());
        }
        *value = digits.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0'));
        if !(low..=high).contains(value) {
            return Err(bad());
        }
        at += width;
    }
    let [year, month, day, hour, minute, second] = values;
    let t = if utc {
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
    } else {
        // SAFETY: an all-zero tm is valid (and tm_isdst = 0, as OpenSSH
        // leaves it); mktime only reads and normalises it.
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        tm.tm_year = (year - 1900) as libc::c_int;
        tm.tm_mon = (month - 1) as libc::c_int;
        tm.tm_mday = day as libc::c_int;
        tm.tm_hour = hour as libc::c_int;
        tm.tm_min = minute as libc::c_int;
        tm.tm_sec = second as libc::c_int;
        // SAFETY: tm is a valid, initialised struct owned by this frame.
        #[allow(clippy::useless_conversion)] // time_t is 32-bit on some targets
        i64::from(unsafe { libc::mktime(&mut tm) })
    };
    if t < 0 {
        return Err(bad());
    }
    Ok(t)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// algorithm); a day past the month's end counts on into the next, as
/// `timegm` normalises it.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// OpenSSH's `match_pattern`: `*` is any run of bytes, `?` any one byte.
/// Iterative, with one backtrack point: linear in practice, never
/// exponential whatever the pattern.
pub(crate) fn match_pattern(s: &[u8], p: &[u8]) -> bool {
    let (mut si, mut pi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, si));
                pi += 1;
            }
            Some(c) if *c == b'?' || *c == s[si] => {
                si += 1;
                pi += 1;
            }
            _ => match star {
                Some((sp, ss)) => {
                    pi = sp + 1;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == b'*')
}

/// The subpatterns of an OpenSSH pattern list, each with whether it is
/// negated (`!`); `None` if one is longer than OpenSSH's buffer (the list
/// then matches nothing).
fn subpatterns(list: &[u8]) -> Option<Vec<(bool, &[u8])>> {
    let mut out = Vec::new();
    let mut rest = list;
    while !rest.is_empty() {
        let negated = rest[0] == b'!';
        if negated {
            rest = &rest[1..];
        }
        let end = rest.iter().position(|c| *c == b',').unwrap_or(rest.len());
        if end > MAX_SUBPATTERN {
            return None;
        }
        out.push((negated, &rest[..end]));
        rest = rest.get(end + 1..).unwrap_or_default();
    }
    Some(out)
}

/// OpenSSH's `match_pattern_list`: `1` if some subpattern matches `s` and no
/// negated one does, `-1` if a negated one does, else `0`.
pub(crate) fn match_pattern_list(s: &[u8], list: &[u8]) -> i8 {
    let Some(subs) = subpatterns(list) else {
        return 0;
    };
    let mut matched = 0;
    for (negated, p) in subs {
        if match_pattern(s, p) {
            if negated {
                return -1;
            }
            matched = 1;
        }
    }
    matched
}

/// Whether some identity (any string without NUL, the empty one included)
/// matches the principals pattern list `list`, i.e. whether
/// `ssh-keygen -Y verify -I IDENTITY` could ever use this line.
///
/// Without negations, any subpattern matches something. With them, the
/// question is whether one subpattern's language is not covered by the
/// negated ones': a breadth-first search over the product of the patterns'
/// position sets (each glob's NFA, determinised on the fly), over the bytes
/// the patterns name plus one they do not (all other bytes behave alike).
/// `None` when [`SATISFIABILITY_BUDGET`] runs out first (the caller then
/// trusts nothing).
pub(crate) fn some_identity_matches(list: &[u8]) -> Option<bool> {
    let Some(subs) = subpatterns(list) else {
        return Some(false);
    };
    let positive: Vec<&[u8]> = subs.iter().filter(|(n, _)| !n).map(|(_, p)| *p).collect();
    let negative: Vec<&[u8]> = subs.iter().filter(|(n, _)| *n).map(|(_, p)| *p).collect();
    if negative.is_empty() || positive.is_empty() {
        return Some(!positive.is_empty());
    }
    let patterns: Vec<&[u8]> = positive.iter().chain(&negative).copied().collect();
    let mut alphabet: Vec<u8> = patterns
        .iter()
        .flat_map(|p| p.iter().copied())
        .filter(|c| *c != b'*' && *c != b'?')
        .collect::<HashSet<u8>>()
        .into_iter()
        .collect();
    if let Some(other) = (1..=255u8).find(|c| !alphabet.contains(c)) {
        alphabet.push(other);
    }
    alphabet.sort_unstable();
    // A state: for each pattern, the set of positions reachable so far.
    let closure = |p: &[u8], mut set: Vec<bool>| {
        for i in 0..p.len() {
            if set[i] && p[i] == b'*' {
                set[i + 1] = true;
            }
        }
        set
    };
    let start: Vec<Vec<bool>> = patterns
        .iter()
        .map(|p| {
            let mut set = vec![false; p.len() + 1];
            set[0] = true;
            closure(p, set)
        })
        .collect();
    let accepts = |state: &[Vec<bool>]| {
        let (pos, neg) = state.split_at(positive.len());
        pos.iter().any(|s| s[s.len() - 1]) && neg.iter().all(|s| !s[s.len() - 1])
    };
    let mut seen = HashSet::from([start.clone()]);
    let mut queue = std::collections::VecDeque::from([start]);
    let mut work = 0usize;
    while let Some(state) = queue.pop_front() {
        if accepts(&state) {
            return Some(true);
        }
        for &c in &alphabet {
            let next: Vec<Vec<bool>> = patterns
                .iter()
                .zip(&state)
                .map(|(p, set)| {
                    let mut to = vec![false; p.len() + 1];
                    for (i, _) in set
                        .iter()
                        .enumerate()
                        .filter(|(i, on)| **on && *i < p.len())
                    {
                        match p[i] {
                            b'*' => to[i] = true,
                            b'?' => to[i + 1] = true,
                            lit if lit == c => to[i + 1] = true,
                            _ => {}
                        }
                    }
                    closure(p, to)
                })
                .collect();
            work += next.iter().map(Vec::len).sum::<usize>();
            if work > SATISFIABILITY_BUDGET {
                return None;
            }
            // Dead once no positive pattern can still match.
            if next[..positive.len()].iter().all(|s| !s.contains(&true)) {
                continue;
            }
            if seen.insert(next.clone()) {
                queue.push_back(next);
            }
        }
    }
    Some(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBuwkjLquLdjJv0EsfvJYAF/gvgYRxOZdFbbfQLQiKow";

    fn one(line: &str) -> Line {
        let mut lines = parse(line.replace("{ED}", ED).as_bytes());
        assert_eq!(lines.len(), 1, "{line}");
        lines.remove(0)
    }

    fn signer(line: &str) -> Signer {
        match one(line) {
            Line::Signer(s) => *s,
            other => panic!("{line}: {other:?}"),
        }
    }

    fn skipped(line: &str) -> String {
        match one(line) {
            Line::Skipped(why) => why,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn a_plain_line_comments_and_blank_lines() {
        let lines =
            parse(format!("# ci\n\n  \t# indented\nci@example.com {ED} release key\n").as_bytes());
        assert_eq!(lines[..3], [Line::Ignored, Line::Ignored, Line::Ignored]);
        let Line::Signer(s) = &lines[3] else {
            panic!("{lines:?}")
        };
        assert_eq!((s.principals.as_str(), s.line), ("ci@example.com", 4));
        assert!(s.namespaces.is_none() && s.valid_after.is_none() && !s.cert_authority);
    }

    #[test]
    fn tabs_separate_fields_like_spaces_and_crlf_is_fine() {
        for line in [
            "ci\t{ED}",
            "\tci\t\tnamespaces=\"afbundle\"\t{ED}\tcomment",
            "ci {ED}\r",
            "ci {ED}\0junk",
        ] {
            signer(line);
        }
    }

    #[test]
    fn options_are_case_insensitive_quoted_and_may_be_empty() {
        let s = signer(
            "\"a@x,b@x\" NAMESPACES=\"afbundle,git\",,valid-after=\"20200101Z\",Valid-Before=\"20300101120000Z\" {ED}",
        );
        assert_eq!(s.principals, "a@x,b@x");
        assert_eq!(s.namespaces.as_deref(), Some(&b"afbundle,git"[..]));
        assert_eq!(s.valid_after, Some(1_577_836_800));
        assert_eq!(s.valid_before, Some(1_893_499_200));
        assert!(signer("ci cert-authority {ED}").cert_authority);
        assert_eq!(
            signer("ci namespaces=\"a\\\"b\" {ED}")
                .namespaces
                .as_deref(),
            Some(&b"a\"b"[..])
        );
    }

    #[test]
    fn what_openssh_refuses_is_skipped_with_a_reason() {
        for (line, needle) in [
            (
                "ci valid-before=\"29990101\",valid-before=\"29990101\" {ED}",
                "multiple \"valid-before\"",
            ),
            (
                "ci valid-after=\"20200101\",valid-after=\"20200101\" {ED}",
                "multiple \"valid-after\"",
            ),
            (
                "ci namespaces=\"a\",namespaces=\"afbundle\" {ED}",
                "multiple \"namespaces\"",
            ),
            ("ci namespaces=afbundle {ED}", "missing start quote"),
            ("ci valid-after=20200101 {ED}", "missing start quote"),
            (
                "ci valid-after=\"19700101Z\" {ED}",
                "invalid \"valid-after\" time",
            ),
            (
                "ci valid-before=\"20200101\",valid-after=\"20300101\" {ED}",
                "before \"valid-after\"",
            ),
            ("ci namespaces=\"afbundle\", {ED}", "end-of-options"),
            ("ci bogus {ED}", "unknown key option"),
            ("ci no-touch-required {ED}", "unknown key option"),
            ("ci cert-authorityx {ED}", "unknown key option"),
            ("ci namespaces=\"afbundle\"x {ED}", "unknown key option"),
            ("ci", "invalid line"),
            ("\"ci {ED}", "invalid line"),
            ("ci valid-after=\"20200101\"", "missing key"),
            ("ci namespaces=\"x {ED}", "unterminated quote"),
            ("ci ssh-ed25519 !!!notbase64", "invalid key"),
            (
                "ci ED25519 AAAAC3NzaC1lZDI1NTE5AAAAIBuwkjLquLdjJv0EsfvJYAF/gvgYRxOZdFbbfQLQiKow",
                "invalid key",
            ),
            (
                "ci ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIBuwkjLquLdjJv0EsfvJYAF/gvgYRxOZdFbbfQLQiKow",
                "invalid key",
            ),
            ("ci {ED}=", "invalid key"),
            ("ci {ED}\x0bcomment", "invalid key"),
            ("!ci {ED}", "match no identity"),
            ("\"\" {ED}", "match no identity"),
        ] {
            let why = skipped(line);
            assert!(why.contains(needle), "{line}: {why}");
        }
    }

    #[test]
    fn any_bytes_are_lines_never_a_panic() {
        // Token soup from the syntax's own pieces (a fixed-seed LCG: the same
        // strings every run), plus raw bytes.
        const PIECES: &[&[u8]] = &[
            b"ci",
            b" ",
            b"\t",
            b"\r",
            b"\n",
            b"\0",
            b"\"",
            b"\\\"",
            b",",
            b"!",
            b"*",
            b"?",
            b"#",
            b"=",
            b"namespaces=",
            b"valid-after=",
            b"valid-before=",
            b"cert-authority",
            b"20200101",
            b"Z",
            b"UTC",
            b"ssh-ed25519",
            b"AAAAC3NzaC1lZDI1NTE5AAAAIBuwkjLquL",
            b"djJv0EsfvJYAF/gvgYRxOZdFbbfQLQiKow",
            b"=",
            b"\xff",
        ];
        let mut seed = 20u64;
        let mut next = || {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 33) as usize
        };
        for _ in 0..20_000 {
            let raw: Vec<u8> = (0..next() % 24)
                .flat_map(|_| PIECES[next() % PIECES.len()].iter().copied())
                .collect();
            let lines = parse(&raw);
            assert!(lines.len() <= raw.iter().filter(|b| **b == b'\n').count() + 1);
        }
    }

    #[test]
    fn one_bad_line_does_not_hide_the_others() {
        let lines = parse(format!("ci bogus {ED}\nci {ED}\n").as_bytes());
        assert!(matches!(lines[0], Line::Skipped(_)));
        assert!(matches!(&lines[1], Line::Signer(s) if s.line == 2));
    }

    #[test]
    fn time_formats_follow_openssh_on_glibc() {
        let t = |s: &str| parse_time(s.as_bytes());
        assert_eq!(t("19700101Z"), Ok(0));
        assert_eq!(t("197001010001Z"), Ok(60));
        assert_eq!(t("19700101000001utc"), Ok(1));
        assert_eq!(t("20000229235959Z"), Ok(951_868_799));
        assert_eq!(t("20200231Z"), t("20200302Z"));
        assert_eq!(t("20200101235961Z"), t("20200102000001Z"));
        assert_eq!(t("2020 1 1Z"), t("20200101Z"));
        assert!(t("19700101").is_ok());
        for bad in [
            "1970010",
            "19700101Zx",
            "1970-01-01",
            "19701301Z",
            "19700101250000Z",
            "20200101235962Z",
            "19691231Z",
            "Z",
            "UTC",
            "\t2020101Z",
            "20200101 ",
            "202001 1 Z",
        ] {
            assert!(t(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn patterns_match_like_openssh() {
        let m = |s: &str, l: &str| match_pattern_list(s.as_bytes(), l.as_bytes());
        assert_eq!(m("afbundle", "git,af*"), 1);
        assert_eq!(m("afbundle", "?fbundl?"), 1);
        assert_eq!(m("afbundle", "*,!afbundle"), -1);
        assert_eq!(m("afbundle", "file"), 0);
        assert_eq!(m("", "a,"), 0); // a trailing comma adds no empty subpattern
        assert_eq!(m("", ",x"), 1); // a leading one does
        assert_eq!(m("", ","), 1);
        assert_eq!(m("afbundle", &format!("{},afbundle", "x".repeat(1023))), 0);
        assert!(match_pattern(
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab",
            b"*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b"
        ));
        assert!(!match_pattern(
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            b"*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b"
        ));
    }

    #[test]
    fn principals_that_can_match_no_identity_are_found() {
        let can = |l: &str| some_identity_matches(l.as_bytes()) == Some(true);
        for yes in [
            "ci",
            "*",
            ",",
            "*,!ci",
            "!a,*@x,!b@x",
            "a?,!ab,!ac",
            "x*,!x",
            "a*b,!a*c*b",
        ] {
            assert!(can(yes), "{yes}");
        }
        for no in [
            "",
            "!*",
            "!ci",
            "ci,!ci",
            "ci,!c?",
            "a*,!a*",
            "?,!?",
            "a*b,!a*b*",
        ] {
            assert!(!can(no), "{no}");
        }
        assert!(!can(&format!("{},ci", "x".repeat(1023))));
        // Undecided within the budget: never trusted, and said so.
        let stars = |s: &str| s.chars().map(String::from).collect::<Vec<_>>().join("*");
        let mut list = format!("*{}*", stars("abcabcabcabcabc"));
        for i in 0..40 {
            list.push_str(&format!(
                ",!{}",
                stars(&"abc?".repeat(4)[i % 4..i % 4 + 12])
            ));
        }
        assert_eq!(some_identity_matches(list.as_bytes()), None);
        let line = format!("\"{list}\" {ED}");
        assert!(skipped(&line).contains("too complex"), "{line}");
    }
}
