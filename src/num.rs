//! Exact JSON numbers: the one place that knows how policy numbers compare.
//!
//! A [`Num`] is a JSON number held as its exact mathematical value, in a normalized
//! `(sign, significant digits, decimal exponent)` form, so `1`, `1.0`, `10e-1` and `0.1e1`
//! are one value, integers past 2^53 never round, and `1e999999999` costs one digit, not a
//! billion. Equality, hashing and ordering are all by value. This module knows nothing about
//! policies, paths or solvers: it parses, compares and prints numbers.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// Longest plain decimal rendering [`Num`]'s `Display` uses before switching to scientific.
const PLAIN_MAX_CHARS: i128 = 40;

/// An exact decimal number: `value = ±0.d1d2d3… × 10^exp`.
///
/// Invariants: `digits` holds ASCII decimal digits with no leading and no trailing zero;
/// zero is the empty digit string with `negative == false` and `exp == 0`; `exp` lies in
/// `i64::MIN + 1 ..= i64::MAX`, so the scientific exponent `exp - 1` also fits an `i64`.
/// The representation is unique per value, so the derived `PartialEq`/`Hash` are by value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Num {
    negative: bool,
    digits: Box<str>,
    exp: i64,
}

/// The error of [`Num::from_str`]: the text is not a JSON number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NumParseError;

impl fmt::Display for NumParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid JSON number")
    }
}

impl std::error::Error for NumParseError {}

impl Num {
    /// Parses JSON number syntax, `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, exactly.
    ///
    /// `None` on anything else (a leading `+`, `NaN`, whitespace, the empty string) and when
    /// the exponent, written or normalized, does not fit an `i64`.
    pub fn parse(text: &str) -> Option<Num> {
        let bytes = text.as_bytes();
        let (negative, rest) = match bytes.split_first() {
            Some((b'-', rest)) => (true, rest),
            _ => (false, bytes),
        };
        let (int, rest) = rest.split_at_checked(count_digits(rest))?;
        if int.is_empty() || (int.len() > 1 && int.first() == Some(&b'0')) {
            return None;
        }
        let (frac, rest) = match rest.split_first() {
            Some((b'.', after)) => after
                .split_at_checked(count_digits(after))
                .filter(|(frac, _)| !frac.is_empty())?,
            _ => (&[][..], rest),
        };
        let written_exp = match rest.split_first() {
            None => 0,
            Some((b'e' | b'E', after)) => parse_exponent(after)?,
            Some(_) => return None,
        };

        let all: String = int.iter().chain(frac).map(|&b| char::from(b)).collect();
        let trimmed = all.trim_start_matches('0');
        let leading_zeros = all.len() - trimmed.len();
        let digits = trimmed.trim_end_matches('0');
        if digits.is_empty() {
            return Some(Num::zero());
        }
        let exp = i128::try_from(int.len()).ok()? - i128::try_from(leading_zeros).ok()?
            + i128::from(written_exp);
        Some(Num {
            negative,
            digits: digits.into(),
            exp: checked_exp(exp)?,
        })
    }

    /// The exact value of a `serde_json` number: with `arbitrary_precision` its text keeps
    /// every digit (serde_json only respells `1E5` as `1e+5`). `None` only when its exponent
    /// does not fit an `i64`.
    pub fn from_json(n: &serde_json::Number) -> Option<Num> {
        Num::parse(&n.to_string())
    }

    /// The exact value of an unsigned integer.
    pub fn from_u64(n: u64) -> Num {
        Num::from_integer(false, n)
    }

    /// The exact value of a signed integer.
    pub fn from_i64(n: i64) -> Num {
        Num::from_integer(n < 0, n.unsigned_abs())
    }

    fn from_integer(negative: bool, magnitude: u64) -> Num {
        if magnitude == 0 {
            return Num::zero();
        }
        let text = magnitude.to_string();
        // At most 20 digits, so the length always fits; the fallback is unreachable.
        let exp = i64::try_from(text.len()).unwrap_or(i64::MAX);
        Num {
            negative,
            digits: text.trim_end_matches('0').into(),
            exp,
        }
    }

    /// Zero (JSON `0`, `-0`, `0.0`, `0e5` all parse to it).
    pub fn zero() -> Num {
        Num {
            negative: false,
            digits: "".into(),
            exp: 0,
        }
    }

    pub fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    /// Strictly below zero (`-0` is zero, not negative).
    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// Whether the value is a whole number (`2.0` and `1e3` are; `1.5` and `1e-3` are not).
    pub fn is_integer(&self) -> bool {
        self.is_zero() || i128::from(self.exp) >= self.len()
    }

    /// The value as a `u64`, when it is a non-negative integer that fits.
    pub fn to_u64(&self) -> Option<u64> {
        if self.negative {
            return None;
        }
        self.integer_text()?.parse().ok()
    }

    /// The value as an `i64`, when it is an integer that fits.
    pub fn to_i64(&self) -> Option<i64> {
        let sign = if self.negative { "-" } else { "" };
        format!("{sign}{}", self.integer_text()?).parse().ok()
    }

    /// The unsigned integer digits when the value is an integer of at most 20 digits.
    fn integer_text(&self) -> Option<String> {
        if self.is_zero() {
            return Some("0".to_owned());
        }
        if !self.is_integer() || self.exp > 20 {
            return None;
        }
        let zeros = usize::try_from(i128::from(self.exp) - self.len()).ok()?;
        Some(format!("{}{}", self.digits, "0".repeat(zeros)))
    }

    /// Position of the most significant digit: the value's order of magnitude. Zero -> 0.
    ///
    /// This is `exp` in `0.d1d2… × 10^exp`, so values in `[1, 10)` have magnitude 1 and
    /// values in `[0.1, 1)` magnitude 0. Used to reject absurd policy literals.
    pub fn magnitude(&self) -> i64 {
        self.exp
    }

    /// The canonical text (see `Display`) as a `serde_json` number.
    pub fn to_json(&self) -> serde_json::Number {
        let text = self.to_string();
        // The canonical text is always valid JSON number syntax, which serde_json with
        // `arbitrary_precision` accepts at any size; the fallbacks are unreachable in practice.
        serde_json::Number::from_str(&text)
            .ok()
            .or_else(|| {
                text.parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
            })
            .unwrap_or_else(|| serde_json::Number::from(0u8))
    }

    /// Numerator and denominator as decimal digit strings, for handing to an SMT solver: the
    /// denominator is a power of ten, the numerator carries an optional leading `-`, and
    /// `numerator / denominator` is exactly the value (not necessarily in lowest terms).
    ///
    /// The strings are about `|magnitude()|` characters long, so call this only after
    /// bounding the magnitude (e.g. rejecting literals past some sane limit): on
    /// `1e999999999` it would allocate a gigabyte.
    pub fn to_rational_strings(&self) -> (String, String) {
        if self.is_zero() {
            return ("0".to_owned(), "1".to_owned());
        }
        let len = self.len();
        let exp = i128::from(self.exp);
        let zeros = |n: i128| "0".repeat(usize::try_from(n.max(0)).unwrap_or(usize::MAX));
        let sign = if self.negative { "-" } else { "" };
        let numerator = format!("{sign}{}{}", self.digits, zeros(exp - len));
        let denominator = format!("1{}", zeros(len - exp));
        (numerator, denominator)
    }

    /// The number of significant digits, widened so exponent arithmetic cannot overflow.
    fn len(&self) -> i128 {
        i128::try_from(self.digits.len()).unwrap_or(i128::MAX)
    }

    /// -1, 0 or 1.
    fn signum(&self) -> i8 {
        match (self.is_zero(), self.negative) {
            (true, _) => 0,
            (false, true) => -1,
            (false, false) => 1,
        }
    }
}

fn count_digits(bytes: &[u8]) -> usize {
    bytes.iter().take_while(|b| b.is_ascii_digit()).count()
}

/// `[+-]?[0-9]+` to the end of the input, as an `i64`.
pub(crate) fn parse_exponent(bytes: &[u8]) -> Option<i64> {
    let (negative, digits) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, bytes),
    };
    if digits.is_empty() || count_digits(digits) != digits.len() {
        return None;
    }
    let limit = i128::from(i64::MAX) + 1;
    let mut value: i128 = 0;
    for &b in digits {
        value = value * 10 + i128::from(b - b'0');
        if value > limit {
            return None;
        }
    }
    i64::try_from(if negative { -value } else { value }).ok()
}

/// A normalized exponent, when it lies in the range the invariants allow.
fn checked_exp(exp: i128) -> Option<i64> {
    i64::try_from(exp).ok().filter(|&e| e != i64::MIN)
}

impl PartialOrd for Num {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Num {
    fn cmp(&self, other: &Self) -> Ordering {
        let by_sign = self.signum().cmp(&other.signum());
        if by_sign != Ordering::Equal || self.is_zero() {
            return by_sign;
        }
        // Same non-zero sign: with no leading zeros, a larger exponent is a larger magnitude,
        // and at equal exponents the digit strings compare lexicographically ("12" < "123").
        let by_magnitude = self
            .exp
            .cmp(&other.exp)
            .then_with(|| self.digits.cmp(&other.digits));
        if self.negative {
            by_magnitude.reverse()
        } else {
            by_magnitude
        }
    }
}

impl fmt::Display for Num {
    /// Canonical text: plain decimal (`-12`, `0.125`, `1000000`) when that takes at most 40
    /// characters, else scientific (`1e400`, `-1.5e-300`); zero is `0`. Parses back equal.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_zero() {
            return f.write_str("0");
        }
        let sign = if self.negative { "-" } else { "" };
        let len = self.len();
        let exp = i128::from(self.exp);
        let plain_len = i128::from(self.negative)
            + if exp <= 0 {
                2 - exp + len
            } else if exp < len {
                len + 1
            } else {
                exp
            };
        let zeros = |n: i128| "0".repeat(usize::try_from(n).unwrap_or(0));
        if plain_len <= PLAIN_MAX_CHARS {
            if exp <= 0 {
                write!(f, "{sign}0.{}{}", zeros(-exp), self.digits)
            } else if let Some((whole, frac)) = usize::try_from(exp)
                .ok()
                .and_then(|at| self.digits.split_at_checked(at))
                .filter(|(_, frac)| !frac.is_empty())
            {
                write!(f, "{sign}{whole}.{frac}")
            } else {
                write!(f, "{sign}{}{}", self.digits, zeros(exp - len))
            }
        } else {
            let (first, rest) = self.digits.split_at_checked(1).unwrap_or(("0", ""));
            let point = if rest.is_empty() { "" } else { "." };
            write!(f, "{sign}{first}{point}{rest}e{}", exp - 1)
        }
    }
}

impl FromStr for Num {
    type Err = NumParseError;

    fn from_str(s: &str) -> Result<Num, NumParseError> {
        Num::parse(s).ok_or(NumParseError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::hash_map::DefaultHasher;
    use std::hash::{Hash, Hasher};

    fn n(text: &str) -> Num {
        Num::parse(text).unwrap_or_else(|| panic!("`{text}` should parse"))
    }

    fn hash_of(num: &Num) -> u64 {
        let mut hasher = DefaultHasher::new();
        num.hash(&mut hasher);
        hasher.finish()
    }

    #[test]
    fn equal_spellings_are_equal() {
        for text in [
            "1", "1.0", "10e-1", "0.1e1", "1E0", "1e+0", "100e-2", "0.001e3",
        ] {
            assert_eq!(n(text), n("1"), "{text}");
            assert_eq!(hash_of(&n(text)), hash_of(&n("1")), "{text}");
        }
        for text in ["0", "-0", "0.000", "-0.0e7", "0e-5"] {
            assert_eq!(n(text), Num::zero(), "{text}");
            assert!(!n(text).is_negative());
        }
        assert_eq!(n("12.5e1"), n("125"));
        assert_eq!(n("-1250e-1"), Num::from_i64(-125));
    }

    #[test]
    fn big_integers_are_exact() {
        let a = n("123456789012345678901234567890");
        let b = n("123456789012345678901234567891");
        assert_ne!(a, b);
        assert!(a < b);
        assert_ne!(n("9007199254740993"), n("9007199254740992"));
        assert_eq!(n("9007199254740993"), Num::from_u64(9_007_199_254_740_993));
    }

    #[test]
    fn rejects_non_json_syntax() {
        for text in [
            "", " 1", "1 ", "+1", "NaN", "inf", "-", "01", "-01", "1.", ".5", "1e", "1e+", "1.e3",
            "0x10", "1_000", "--1", "1e5.0", "١",
        ] {
            assert_eq!(Num::parse(text), None, "{text:?}");
            assert!(text.parse::<Num>().is_err());
        }
        assert_eq!(Num::parse("1e9223372036854775808"), None);
        assert_eq!(Num::parse("1e-9223372036854775809"), None);
        assert_eq!(Num::parse("10e9223372036854775807"), None);
        assert!(Num::parse("0.1e9223372036854775807").is_some());
        assert!(Num::parse("1e0000000000000000000000000000000000000007").is_some());
    }

    #[test]
    fn orders_across_signs_and_magnitudes() {
        let ascending: Vec<&str> = "-1e400 -2 -1.5 -1 -1e-400 0 1e-400 0.5 1 \
            1.0000000000000000000001 2 10 1e400"
            .split_whitespace()
            .collect();
        for pair in ascending.windows(2) {
            assert!(n(pair[0]) < n(pair[1]), "{} < {}", pair[0], pair[1]);
            assert!(n(pair[1]) > n(pair[0]));
        }
    }

    #[test]
    fn huge_exponents_stay_small() {
        let big = n("1e999999999");
        assert_eq!(big.magnitude(), 1_000_000_000);
        assert_eq!(big.to_string(), "1e999999999");
        assert!(big > n("9".repeat(5000).as_str()));
        assert!(!big.is_zero() && big.is_integer());
        assert_eq!(big.to_u64(), None);
        let tiny = n("-1.5e-300");
        assert_eq!(tiny.to_string(), "-1.5e-300");
        assert!(!tiny.is_integer());
        assert_eq!(n("123.45e-999999999").magnitude(), -999_999_996);
    }

    #[test]
    fn integer_conversions() {
        assert_eq!(n("18446744073709551615").to_u64(), Some(u64::MAX));
        assert_eq!(n("18446744073709551616").to_u64(), None);
        assert_eq!(n("1.8446744073709551615e19").to_u64(), Some(u64::MAX));
        assert_eq!(n("1.5").to_u64(), None);
        assert_eq!(n("-0").to_u64(), Some(0));
        assert_eq!(n("-1").to_u64(), None);
        assert_eq!(n("2.0").to_u64(), Some(2));
        assert_eq!(n("1e3").to_u64(), Some(1000));
        assert_eq!(n("-9223372036854775808").to_i64(), Some(i64::MIN));
        assert_eq!(n("9223372036854775807").to_i64(), Some(i64::MAX));
        assert_eq!(n("9223372036854775808").to_i64(), None);
        assert_eq!(n("-9223372036854775809").to_i64(), None);
        assert_eq!(Num::from_u64(u64::MAX), n("18446744073709551615"));
        assert_eq!(Num::from_i64(i64::MIN).to_i64(), Some(i64::MIN));
        assert_eq!(Num::from_i64(0), Num::zero());
    }

    #[test]
    fn display_is_canonical() {
        let (e39, e_38) = (
            format!("1{}", "0".repeat(39)),
            format!("0.{}1", "0".repeat(37)),
        );
        let cases = "0=0 -0.0=0 -12=-12 0.125=0.125 1e6=1000000 12.50=12.5 1e40=1e40 1e400=1e400 \
            -15e-301=-1.5e-300 0.001=0.001 1e-39=1e-39 -1e-38=-1e-38";
        let cases = cases
            .split_whitespace()
            .filter_map(|case| case.split_once('='));
        let cases = cases.chain([("1e39", e39.as_str()), ("1e-38", e_38.as_str())]);
        for (input, shown) in cases {
            assert_eq!(n(input).to_string(), shown, "{input}");
            assert_eq!(n(shown), n(input));
        }
    }

    #[test]
    fn json_round_trip() {
        for text in "0 -12 0.125 1e400 -1.5e-300 123456789012345678901234567890".split(' ') {
            let json = n(text).to_json();
            assert_eq!(Num::from_json(&json), Some(n(text)));
        }
        // serde_json keeps the digits but spells a positive exponent `e+`.
        assert_eq!(n("1E400").to_json().to_string(), "1e+400");
        assert_eq!(n("0.125").to_json().to_string(), "0.125");
        let parsed: serde_json::Value = serde_json::from_str("[1.0, 10e-1, 1E400]").unwrap();
        let nums: Vec<Num> = parsed
            .as_array()
            .unwrap()
            .iter()
            .map(|v| Num::from_json(v.as_number().unwrap()).unwrap())
            .collect();
        assert_eq!(nums, vec![n("1"), n("1"), n("1e400")]);
    }

    #[test]
    fn rational_strings() {
        for case in "0=0/1 -12.5=-125/10 1.2e3=1200/1 0.0035=35/10000 -7e-2=-7/100".split(' ') {
            let (input, fraction) = case.split_once('=').unwrap();
            let (num, den) = n(input).to_rational_strings();
            assert_eq!(format!("{num}/{den}"), fraction);
        }
    }

    /// A JSON spelling of `digits × 10^exp` with `pad_left`/`pad_right` extra zeros and the
    /// decimal point after `point` of the padded digits (clamped).
    fn spell(negative: bool, digits: &str, exp: i64, pads: (usize, usize), point: usize) -> String {
        let padded = format!("{}{digits}{}", "0".repeat(pads.0), "0".repeat(pads.1));
        let point = point.min(padded.len());
        let (int, frac) = padded.split_at(point);
        let int = int.trim_start_matches('0');
        let int = if int.is_empty() { "0" } else { int };
        let written_exp = exp - pads.1 as i64 + frac.len() as i64;
        let sign = if negative { "-" } else { "" };
        let dot = if frac.is_empty() { "" } else { "." };
        format!("{sign}{int}{dot}{frac}e{written_exp}")
    }

    proptest! {
        #[test]
        fn i64_order_agrees(a: i64, b: i64) {
            prop_assert_eq!(Num::from_i64(a).cmp(&Num::from_i64(b)), a.cmp(&b));
            prop_assert_eq!(Num::from_i64(a).to_i64(), Some(a));
            prop_assert_eq!(n(&a.to_string()), Num::from_i64(a));
        }

        #[test]
        fn u64_round_trips(a: u64) {
            prop_assert_eq!(Num::from_u64(a).to_u64(), Some(a));
            prop_assert_eq!(n(&a.to_string()), Num::from_u64(a));
        }

        #[test]
        fn f64_order_agrees(a in any::<f64>(), b in any::<f64>()) {
            prop_assume!(a.is_finite() && b.is_finite());
            let (x, y) = (n(&format!("{a:e}")), n(&format!("{b:e}")));
            prop_assert_eq!(Some(x.cmp(&y)), a.partial_cmp(&b));
            prop_assert_eq!(x.to_string().parse::<f64>().unwrap(), a);
        }

        #[test]
        fn display_round_trips(
            negative: bool, digits in "[0-9]{1,60}", exp in -100i64..100, point in 0usize..70,
        ) {
            let x = n(&spell(negative, &digits, exp, (0, 0), point));
            prop_assert_eq!(n(&x.to_string()), x.clone());
            prop_assert_eq!(Num::from_json(&x.to_json()), Some(x));
        }

        #[test]
        fn equal_spellings_compare_and_hash_equal(
            negative: bool, digits in "[0-9]{1,30}", exp in -60i64..60,
            pads_a in (0usize..5, 0usize..5), point_a in 0usize..45,
            pads_b in (0usize..5, 0usize..5), point_b in 0usize..45,
        ) {
            let x = n(&spell(negative, &digits, exp, pads_a, point_a));
            let y = n(&spell(negative, &digits, exp, pads_b, point_b));
            prop_assert_eq!(x.cmp(&y), Ordering::Equal);
            prop_assert_eq!(&x, &y);
            prop_assert_eq!(hash_of(&x), hash_of(&y));
        }

        #[test]
        fn order_agrees_with_scaled_integers(
            a in -999_999_999_999_999i64..1_000_000_000_000_000, ea in -10i64..10,
            b in -999_999_999_999_999i64..1_000_000_000_000_000, eb in -10i64..10,
        ) {
            let (x, y) = (n(&format!("{a}e{ea}")), n(&format!("{b}e{eb}")));
            let low = ea.min(eb);
            let scale = |m: i64, e: i64| i128::from(m) * 10i128.pow((e - low) as u32);
            prop_assert_eq!(x.cmp(&y), scale(a, ea).cmp(&scale(b, eb)));
        }
    }
}
