//! How Airflow's manifest reader types a scalar: YAML 1.1 as PyYAML's
//! `SafeLoader` resolves and constructs it (`yaml.safe_load`, Airflow 3.3.2).
//!
//! A plain scalar (or one with the non-specific tag `!`) is typed by the first
//! of PyYAML's implicit resolvers whose pattern matches it: bool, float, int,
//! merge, null, timestamp, value, else str. Each matcher below is one of those
//! patterns (`yaml/resolver.py`), written out over ASCII bytes;
//! `tests/test_yaml11.py` compares every family with PyYAML itself. Construction can still fail where the pattern matched (`0b_`, the
//! date `2024-13-01`): PyYAML then raises and Airflow cannot read the manifest
//! at all, which [`Reading::Unreadable`] carries.
//!
//! Pure: no I/O, no Python.

use std::fmt;

/// What PyYAML makes of one scalar.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Reading {
    /// A `str`, with the scalar's text.
    Str,
    /// `None`.
    Null,
    /// A `bool`.
    Bool(bool),
    /// An `int`, in decimal (Python's ints are unbounded).
    Int(String),
    /// A `float`.
    Float(f64),
    /// A `datetime.date`, as written.
    Date(String),
    /// A `datetime.datetime`, as written.
    Timestamp(String),
    /// `bytes` (`!!binary`).
    Binary,
    /// The merge key `<<` (only meaningful as a mapping key).
    Merge,
    /// The value key `=` (a `str` as a mapping key, unreadable elsewhere).
    ValueKey,
    /// PyYAML raises while constructing it: why.
    Unreadable(String),
}

impl Reading {
    /// Whether Python gets a `str` (what a dag_id is compared with).
    pub(crate) fn is_str(&self) -> bool {
        matches!(self, Reading::Str)
    }

    /// In words, for the scalar `text`: "the string 'on'", "the boolean true".
    pub(crate) fn describe(&self, text: &str) -> String {
        match self {
            Reading::Str => format!("the string {}", python_str(text)),
            other => other.to_string(),
        }
    }
}

/// Python's `repr()` of a str, near enough for a message.
pub(crate) fn python_str(text: &str) -> String {
    let inner: String = text.chars().flat_map(char::escape_debug).collect();
    if text.contains('\'') && !text.contains('"') {
        format!("\"{inner}\"").replace("\\'", "'")
    } else {
        format!("'{}'", inner.replace("\\\"", "\""))
    }
}

impl fmt::Display for Reading {
    /// "the boolean true", "the integer 15", ... (the words the manifest lint uses).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reading::Str => f.write_str("a string"),
            Reading::Null => f.write_str("null"),
            Reading::Bool(b) => write!(f, "the boolean {b}"),
            Reading::Int(i) => write!(f, "the integer {i}"),
            Reading::Float(x) => write!(f, "the float {}", python_float(*x)),
            Reading::Date(d) => write!(f, "the date {d}"),
            Reading::Timestamp(t) => write!(f, "the timestamp {t}"),
            Reading::Binary => f.write_str("binary data"),
            Reading::Merge => f.write_str("the merge key <<"),
            Reading::ValueKey => f.write_str("the value key ="),
            Reading::Unreadable(why) => write!(f, "nothing it can construct ({why})"),
        }
    }
}

/// Python's `repr()` of a float, for the values a manifest can hold.
fn python_float(x: f64) -> String {
    if x.is_nan() {
        "nan".into()
    } else if x.is_infinite() {
        if x > 0.0 { "inf" } else { "-inf" }.into()
    } else if x == x.trunc() && x.abs() < 1e16 {
        format!("{x:.1}")
    } else {
        let s = format!("{x:?}");
        // Rust writes 1e300 where Python writes 1e+300.
        match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e}"),
            _ => s,
        }
    }
}

/// The tag PyYAML resolves for a plain scalar (its implicit resolvers, in order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Implicit {
    /// `tag:yaml.org,2002:bool`
    Bool,
    /// `tag:yaml.org,2002:float`
    Float,
    /// `tag:yaml.org,2002:int`
    Int,
    /// `tag:yaml.org,2002:merge`
    Merge,
    /// `tag:yaml.org,2002:null`
    Null,
    /// `tag:yaml.org,2002:timestamp`
    Timestamp,
    /// `tag:yaml.org,2002:value`
    Value,
    /// `tag:yaml.org,2002:str` (no resolver matched)
    Str,
}

/// Resolve a plain scalar's text as PyYAML's `Resolver` does.
pub(crate) fn resolve(text: &str) -> Implicit {
    // Python's `$` also matches before one final newline (reachable only
    // through the non-specific tag `! "..."`).
    let s = text.strip_suffix('\n').unwrap_or(text).as_bytes();
    if is_bool(s) {
        Implicit::Bool
    } else if is_float(s) {
        Implicit::Float
    } else if is_int(s) {
        Implicit::Int
    } else if s == b"<<" {
        Implicit::Merge
    } else if matches!(s, b"~" | b"null" | b"Null" | b"NULL" | b"") {
        Implicit::Null
    } else if is_timestamp(s) {
        Implicit::Timestamp
    } else if s == b"=" {
        Implicit::Value
    } else {
        Implicit::Str
    }
}

/// How PyYAML reads a scalar with tag `tag` (`None` or `!` for plain/implicit
/// resolution, else the full tag) and text `text`; `implicit` is whether the
/// scalar is plain (or tagged `!`), so resolution applies.
pub(crate) fn read(text: &str, tag: Option<&str>, implicit: bool) -> Reading {
    let tag = match tag {
        Some(t) if t != "!" => t.strip_prefix("tag:yaml.org,2002:").unwrap_or(t),
        _ if implicit || tag == Some("!") => match resolve(text) {
            Implicit::Bool => "bool",
            Implicit::Float => "float",
            Implicit::Int => "int",
            Implicit::Merge => "merge",
            Implicit::Null => "null",
            Implicit::Timestamp => "timestamp",
            Implicit::Value => "value",
            Implicit::Str => "str",
        },
        _ => "str",
    };
    match tag {
        "str" => Reading::Str,
        "null" => Reading::Null,
        "bool" => match text.to_lowercase().as_str() {
            "yes" | "true" | "on" => Reading::Bool(true),
            "no" | "false" | "off" => Reading::Bool(false),
            _ => Reading::Unreadable(format!("{text:?} is not a YAML 1.1 boolean")),
        },
        "int" => construct_int(text),
        "float" => construct_float(text),
        "timestamp" => construct_timestamp(text),
        "binary" => Reading::Binary,
        "merge" => Reading::Merge,
        "value" => Reading::ValueKey,
        other => Reading::Unreadable(format!("no constructor for the tag {other:?}")),
    }
}

// --- the resolver's patterns -------------------------------------------------------------------

fn is_bool(s: &[u8]) -> bool {
    matches!(
        s,
        b"yes"
            | b"Yes"
            | b"YES"
            | b"no"
            | b"No"
            | b"NO"
            | b"true"
            | b"True"
            | b"TRUE"
            | b"false"
            | b"False"
            | b"FALSE"
            | b"on"
            | b"On"
            | b"ON"
            | b"off"
            | b"Off"
            | b"OFF"
    )
}

/// The longest prefix of `s` whose bytes satisfy `f`.
fn span(s: &[u8], f: impl Fn(u8) -> bool) -> usize {
    s.iter().position(|&b| !f(b)).unwrap_or(s.len())
}

fn digit_or_underscore(b: u8) -> bool {
    b.is_ascii_digit() || b == b'_'
}

fn sign(s: &[u8]) -> &[u8] {
    match s.first() {
        Some(b'-' | b'+') => &s[1..],
        _ => s,
    }
}

/// `[0-9][0-9_]*`: the rest after it, if it matches.
fn digits_then_underscores(s: &[u8]) -> Option<&[u8]> {
    match s.first() {
        Some(b) if b.is_ascii_digit() => Some(&s[1 + span(&s[1..], digit_or_underscore)..]),
        _ => None,
    }
}

/// `(?:[eE][-+][0-9]+)?$`
fn optional_exponent_then_end(s: &[u8]) -> bool {
    match s {
        [] => true,
        [b'e' | b'E', b'-' | b'+', rest @ ..] => {
            !rest.is_empty() && rest.iter().all(u8::is_ascii_digit)
        }
        _ => false,
    }
}

/// `(?::[0-5]?[0-9])+`: the rest after the longest run of such groups (at least one).
fn sexagesimal_groups(mut s: &[u8]) -> Option<&[u8]> {
    let mut groups = 0;
    loop {
        let group = match s {
            [b':', a, b, ..] if (b'0'..=b'5').contains(a) && b.is_ascii_digit() => 3,
            [b':', a, ..] if a.is_ascii_digit() => 2,
            _ => break,
        };
        s = &s[group..];
        groups += 1;
    }
    // Backtracking cannot help: a group's optional first digit is taken only
    // when a second digit follows, and what may follow the groups (`.` or the
    // end) never starts with a digit.
    (groups > 0).then_some(s)
}

fn is_float(s: &[u8]) -> bool {
    // [-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
    let signed = sign(s);
    if let Some(rest) = digits_then_underscores(signed) {
        if let Some(frac) = rest.strip_prefix(b".") {
            let frac = &frac[span(frac, digit_or_underscore)..];
            if optional_exponent_then_end(frac) {
                return true;
            }
        }
        // [-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
        if let Some(after) = sexagesimal_groups(rest) {
            if let Some(frac) = after.strip_prefix(b".") {
                if frac.iter().all(|&b| digit_or_underscore(b)) {
                    return true;
                }
            }
        }
    }
    // \.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
    if let Some(rest) = s.strip_prefix(b".").and_then(digits_then_underscores) {
        if optional_exponent_then_end(rest) {
            return true;
        }
    }
    // [-+]?\.(?:inf|Inf|INF) | \.(?:nan|NaN|NAN)
    matches!(signed, b".inf" | b".Inf" | b".INF") || matches!(s, b".nan" | b".NaN" | b".NAN")
}

fn is_int(s: &[u8]) -> bool {
    let signed = sign(s);
    let all = |rest: &[u8], f: fn(u8) -> bool| !rest.is_empty() && rest.iter().all(|&b| f(b));
    match signed {
        // [-+]?0b[0-1_]+
        [b'0', b'b', rest @ ..] => all(rest, |b| matches!(b, b'0' | b'1' | b'_')),
        // [-+]?0x[0-9a-fA-F_]+
        [b'0', b'x', rest @ ..] => all(rest, |b| b.is_ascii_hexdigit() || b == b'_'),
        // [-+]?0 | [-+]?0[0-7_]+
        [b'0', rest @ ..] => rest.iter().all(|&b| matches!(b, b'0'..=b'7' | b'_')),
        // [-+]?[1-9][0-9_]* | [-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+
        [b'1'..=b'9', ..] => {
            let rest = digits_then_underscores(signed).unwrap_or_default();
            rest.is_empty() || sexagesimal_groups(rest).is_some_and(<[u8]>::is_empty)
        }
        _ => false,
    }
}

/// `\d{4}-\d\d-\d\d`, or `\d{4}-\d\d?-\d\d?` followed by a time.
fn is_timestamp(s: &[u8]) -> bool {
    timestamp_parts(s).is_some_and(|t| t.time.is_some() || (t.month.len() == 2 && t.day.len() == 2))
}

struct TimestampParts<'a> {
    year: &'a [u8],
    month: &'a [u8],
    day: &'a [u8],
    time: Option<TimeParts<'a>>,
}

struct TimeParts<'a> {
    hour: &'a [u8],
    minute: &'a [u8],
    second: &'a [u8],
    /// `(sign, hours, minutes)` of a numeric zone; `Z` is `None` here.
    zone: Option<(u8, &'a [u8], &'a [u8])>,
}

/// Take 1 or 2 ASCII digits (`[0-9][0-9]?`), or exactly `n` when `exact`.
fn take_digits(s: &[u8], max: usize, exact: bool) -> Option<(&[u8], &[u8])> {
    let n = span(s, |b| b.is_ascii_digit()).min(max);
    if n == 0 || (exact && n != max) {
        return None;
    }
    Some(s.split_at(n))
}

fn timestamp_parts(s: &[u8]) -> Option<TimestampParts<'_>> {
    let (year, s) = take_digits(s, 4, true)?;
    let (month, s) = take_digits(s.strip_prefix(b"-")?, 2, false)?;
    let (day, s) = take_digits(s.strip_prefix(b"-")?, 2, false)?;
    if s.is_empty() {
        return Some(TimestampParts {
            year,
            month,
            day,
            time: None,
        });
    }
    let s = match s {
        [b'T' | b't', rest @ ..] => rest,
        [b' ' | b'\t', ..] => &s[span(s, |b| b == b' ' || b == b'\t')..],
        _ => return None,
    };
    let (hour, s) = take_digits(s, 2, false)?;
    let (minute, s) = take_digits(s.strip_prefix(b":")?, 2, true)?;
    let (second, mut s) = take_digits(s.strip_prefix(b":")?, 2, true)?;
    if let Some(frac) = s.strip_prefix(b".") {
        s = &frac[span(frac, |b| b.is_ascii_digit())..];
    }
    let blanks = span(s, |b| b == b' ' || b == b'\t');
    let zone = match &s[blanks..] {
        [] if blanks == 0 => None,
        [b'Z'] => None,
        [sign @ (b'-' | b'+'), rest @ ..] => {
            let (hours, rest) = take_digits(rest, 2, false)?;
            let minutes = match rest {
                [] => &rest[..0],
                [b':', m @ ..] => take_digits(m, 2, true).filter(|(_, r)| r.is_empty())?.0,
                _ => return None,
            };
            Some((*sign, hours, minutes))
        }
        _ => return None,
    };
    Some(TimestampParts {
        year,
        month,
        day,
        time: Some(TimeParts {
            hour,
            minute,
            second,
            zone,
        }),
    })
}

// --- the constructors --------------------------------------------------------------------------

fn number(digits: &[u8]) -> u32 {
    digits.iter().fold(0u32, |n, d| {
        n.saturating_mul(10).saturating_add(u32::from(d - b'0'))
    })
}

fn construct_timestamp(text: &str) -> Reading {
    let Some(t) = timestamp_parts(text.as_bytes()) else {
        return Reading::Unreadable(format!("{text:?} is not a YAML 1.1 timestamp"));
    };
    let (year, month, day) = (number(t.year), number(t.month), number(t.day));
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    let bad = if !(1..=9999).contains(&year) {
        Some("year is out of range")
    } else if !(1..=12).contains(&month) {
        Some("month must be in 1..12")
    } else if !(1..=days).contains(&day) {
        Some("day is out of range for month")
    } else if let Some(time) = &t.time {
        if number(time.hour) > 23 {
            Some("hour must be in 0..23")
        } else if number(time.minute) > 59 {
            Some("minute must be in 0..59")
        } else if number(time.second) > 59 {
            Some("second must be in 0..59")
        } else if time
            .zone
            .is_some_and(|(_, h, m)| number(h) * 60 + number(m) >= 24 * 60)
        {
            Some("the UTC offset must be less than 24 hours")
        } else {
            None
        }
    } else {
        None
    };
    match (bad, t.time.is_some()) {
        (Some(why), _) => Reading::Unreadable(format!("{text:?}: {why}")),
        (None, false) => Reading::Date(text.to_owned()),
        (None, true) => Reading::Timestamp(text.to_owned()),
    }
}

fn construct_int(text: &str) -> Reading {
    let cleaned: String = text.chars().filter(|&c| c != '_').collect();
    let (negative, body) = match cleaned.as_bytes().first() {
        Some(b'-') => (true, &cleaned[1..]),
        Some(b'+') => (false, &cleaned[1..]),
        _ => (false, cleaned.as_str()),
    };
    let value: Option<i128> = if body == "0" {
        Some(0)
    } else if let Some(bin) = body.strip_prefix("0b") {
        i128::from_str_radix(bin, 2).ok()
    } else if let Some(hex) = body.strip_prefix("0x") {
        i128::from_str_radix(hex, 16).ok()
    } else if body.starts_with('0') {
        i128::from_str_radix(body, 8).ok()
    } else if body.contains(':') {
        body.split(':').try_fold(0i128, |acc, part| {
            acc.checked_mul(60)?.checked_add(part.parse::<i128>().ok()?)
        })
    } else {
        body.parse::<i128>().ok()
    };
    match value {
        Some(v) => Reading::Int((if negative { -v } else { v }).to_string()),
        // What the pattern matched but int() refuses: `0b_`, `0x_` (no digits).
        None if body.len() <= 2 => {
            Reading::Unreadable(format!("{text:?} has no digits (int() refuses it)"))
        }
        // Too large for 128 bits, but Python's int holds it.
        None => Reading::Int(text.to_owned()),
    }
}

fn construct_float(text: &str) -> Reading {
    let cleaned: String = text
        .chars()
        .filter(|&c| c != '_')
        .collect::<String>()
        .to_lowercase();
    let (negative, body) = match cleaned.as_bytes().first() {
        Some(b'-') => (true, &cleaned[1..]),
        Some(b'+') => (false, &cleaned[1..]),
        _ => (false, cleaned.as_str()),
    };
    let value = if body == ".inf" {
        Some(f64::INFINITY)
    } else if body == ".nan" {
        return Reading::Float(f64::NAN);
    } else if body.contains(':') {
        body.split(':').try_fold(0.0f64, |acc, part| {
            Some(acc * 60.0 + python_float_literal(part)?)
        })
    } else {
        python_float_literal(body)
    };
    match value {
        Some(v) => Reading::Float(if negative { -v } else { v }),
        None => Reading::Unreadable(format!("{text:?} is not a number float() accepts")),
    }
}

/// `float(s)` for the shapes the resolver lets through (`1.`, `.5`, `1.e+5`, `30`).
fn python_float_literal(s: &str) -> Option<f64> {
    let (mantissa, exponent) = match s.find('e') {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    };
    let mantissa = match mantissa {
        "" | "." => return None,
        m if m.ends_with('.') => format!("{m}0"),
        m if m.starts_with('.') => format!("0{m}"),
        m => m.to_owned(),
    };
    format!("{mantissa}{exponent}").parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(s: &str) -> Implicit {
        resolve(s)
    }

    #[test]
    fn booleans_are_the_eighteen_words_and_not_y_or_n() {
        for s in ["yes", "No", "TRUE", "off", "On"] {
            assert_eq!(tag(s), Implicit::Bool, "{s}");
        }
        for s in ["y", "n", "Y", "oN", "yES"] {
            assert_eq!(tag(s), Implicit::Str, "{s}");
        }
    }

    #[test]
    fn ints_follow_yaml_1_1() {
        for s in [
            "0", "-0", "+7", "0755", "0_", "0b101", "0x1F", "1_000", "1:30", "-1:30:00",
        ] {
            assert_eq!(tag(s), Implicit::Int, "{s}");
        }
        for s in [
            "0o17", "08", "0_8", "1:60", "0:30", "1:", "0b", "0x", "+", "1__:5_",
        ] {
            assert_ne!(tag(s), Implicit::Int, "{s}");
        }
        assert_eq!(read("0755", None, true), Reading::Int("493".into()));
        assert_eq!(read("1:30", None, true), Reading::Int("90".into()));
        assert_eq!(read("-0b11", None, true), Reading::Int("-3".into()));
        assert!(matches!(read("0b_", None, true), Reading::Unreadable(_)));
    }

    #[test]
    fn floats_need_a_dot_and_a_signed_exponent() {
        for s in [
            "1.", ".5", "1.0e+3", "-1_0.5", "1:30.5", ".inf", "-.Inf", ".NaN", "1.e-2",
        ] {
            assert_eq!(tag(s), Implicit::Float, "{s}");
        }
        for s in ["1e3", "1.0e3", "+.nan", "._", ".", "1E+3", "inf", "nan"] {
            assert_ne!(tag(s), Implicit::Float, "{s}");
        }
        assert_eq!(read("1:30.5", None, true), Reading::Float(90.5));
        assert_eq!(read("1.", None, true), Reading::Float(1.0));
        assert_eq!(read("1.0e+3", None, true).to_string(), "the float 1000.0");
    }

    #[test]
    fn null_merge_value_and_timestamps() {
        for (s, t) in [
            ("~", Implicit::Null),
            ("", Implicit::Null),
            ("NULL", Implicit::Null),
            ("nULL", Implicit::Str),
            ("<<", Implicit::Merge),
            ("=", Implicit::Value),
            ("2024-01-01", Implicit::Timestamp),
            ("2024-1-1", Implicit::Str),
            ("2024-1-1 1:00:00", Implicit::Timestamp),
            ("2024-01-01T00:00:00.5 +01:00", Implicit::Timestamp),
            ("2024-01-01t00:00:00Z", Implicit::Timestamp),
            ("2024-01-01 00:00", Implicit::Str),
        ] {
            assert_eq!(tag(s), t, "{s:?}");
        }
        assert_eq!(
            read("2024-02-29", None, true),
            Reading::Date("2024-02-29".into())
        );
        for s in [
            "2023-02-29",
            "2024-13-01",
            "0000-01-01",
            "2024-01-01 24:00:00",
        ] {
            assert!(matches!(read(s, None, true), Reading::Unreadable(_)), "{s}");
        }
    }

    #[test]
    fn quoted_and_str_tagged_scalars_are_strings_and_bang_resolves() {
        assert_eq!(read("yes", None, false), Reading::Str);
        assert_eq!(
            read("yes", Some("tag:yaml.org,2002:str"), false),
            Reading::Str
        );
        assert_eq!(read("12", Some("!"), false), Reading::Int("12".into()));
        assert_eq!(
            read("x", Some("tag:yaml.org,2002:binary"), false),
            Reading::Binary
        );
    }
}
