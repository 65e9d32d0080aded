//! Exact decimal numbers read from raw JSON number text without allocating, compared by value
//! the way [`crate::num::Num`] compares: the policy's number literals ([`ExactNum`]) against
//! the digits of a call's arguments ([`Decimal`]). Short integers, the common case on both
//! sides (`args.count < 100`), compare as machine integers ([`small_int`]).

use crate::num::Num;
use std::cmp::Ordering;

/// An exact decimal, normalized like [`Num`]: `±0.d1d2… × 10^exp` with the digits `a ++ b`
/// free of leading and trailing zeros (both empty for zero).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Decimal<'a> {
    negative: bool,
    a: &'a [u8],
    b: &'a [u8],
    exp: i64,
}

/// An owned [`Decimal`]: a policy literal, precompiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ExactNum {
    negative: bool,
    digits: Box<[u8]>,
    exp: i64,
    /// The value, when it is an integer written with at most [`SMALL_DIGITS`] digits.
    small: Option<i64>,
}

/// Integers of up to this many digits fit an `i64` with room to spare.
const SMALL_DIGITS: usize = 17;

/// The value of JSON number text that is a plain integer of at most [`SMALL_DIGITS`] digits
/// (`-?(0|[1-9][0-9]*)`, no fraction or exponent); `None` for any other text.
#[inline]
pub(crate) fn small_int(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let (negative, digits) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, bytes),
    };
    let leading_zero = digits.len() > 1 && digits.first() == Some(&b'0');
    if digits.is_empty() || digits.len() > SMALL_DIGITS || leading_zero {
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(d - b'0');
    }
    Some(if negative { -v } else { v })
}

impl ExactNum {
    /// The same value as `n`.
    pub(crate) fn new(n: &Num) -> Option<ExactNum> {
        let text = n.to_string();
        let d = Decimal::parse(&text)?;
        Some(ExactNum {
            negative: d.negative,
            digits: d.a.iter().chain(d.b).copied().collect(),
            exp: d.exp,
            small: small_int(&text),
        })
    }

    /// Compares the number written as `text` with this one; `None` when `text` is not a JSON
    /// number. Both short integers: one machine comparison.
    #[inline(always)]
    pub(crate) fn cmp_text(&self, text: &str) -> Option<Ordering> {
        if let (Some(k), Some(x)) = (self.small, small_int(text)) {
            return Some(x.cmp(&k));
        }
        Decimal::parse(text).map(|x| x.cmp(&self.view()))
    }

    pub(crate) fn view(&self) -> Decimal<'_> {
        Decimal {
            negative: self.negative,
            a: &self.digits,
            b: &[],
            exp: self.exp,
        }
    }
}

impl<'a> Decimal<'a> {
    /// Parses JSON number text exactly as [`Num::parse`] does (same `None` cases), borrowing.
    pub(crate) fn parse(text: &'a str) -> Option<Decimal<'a>> {
        let bytes = text.as_bytes();
        let (negative, rest) = match bytes.split_first() {
            Some((b'-', rest)) => (true, rest),
            _ => (false, bytes),
        };
        let int_len = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let (int, rest) = rest.split_at_checked(int_len)?;
        if int.is_empty() || (int.len() > 1 && int.first() == Some(&b'0')) {
            return None;
        }
        let (frac, rest) = match rest.split_first() {
            Some((b'.', after)) => {
                let n = after.iter().take_while(|b| b.is_ascii_digit()).count();
                after.split_at_checked(n).filter(|(f, _)| !f.is_empty())?
            }
            _ => (&[][..], rest),
        };
        let written = match rest.split_first() {
            None => 0,
            Some((b'e' | b'E', after)) => crate::num::parse_exponent(after)?,
            Some(_) => return None,
        };
        let lz_int = int.iter().take_while(|&&b| b == b'0').count();
        let (a, b, lz) = if lz_int < int.len() {
            (int.get(lz_int..)?, frac, lz_int)
        } else {
            let lz_frac = frac.iter().take_while(|&&b| b == b'0').count();
            (&[][..], frac.get(lz_frac..)?, int.len() + lz_frac)
        };
        let (a, b) = match trim_zeros(b) {
            [] => (trim_zeros(a), &[][..]),
            b => (a, b),
        };
        if a.is_empty() && b.is_empty() {
            return Some(Decimal {
                negative: false,
                a,
                b,
                exp: 0,
            });
        }
        let exp = i128::try_from(int.len()).ok()? - i128::try_from(lz).ok()? + i128::from(written);
        let exp = i64::try_from(exp).ok().filter(|&e| e != i64::MIN)?;
        Some(Decimal {
            negative,
            a,
            b,
            exp,
        })
    }

    fn is_zero(&self) -> bool {
        self.a.is_empty() && self.b.is_empty()
    }

    fn signum(&self) -> i8 {
        match (self.is_zero(), self.negative) {
            (true, _) => 0,
            (false, true) => -1,
            (false, false) => 1,
        }
    }

    /// Compares by value, as `Num`'s `Ord` does.
    pub(crate) fn cmp(&self, other: &Decimal<'_>) -> Ordering {
        let by_sign = self.signum().cmp(&other.signum());
        if by_sign != Ordering::Equal || self.is_zero() {
            return by_sign;
        }
        let mine = self.a.iter().chain(self.b);
        let theirs = other.a.iter().chain(other.b);
        let by_magnitude = self.exp.cmp(&other.exp).then_with(|| mine.cmp(theirs));
        if self.negative {
            by_magnitude.reverse()
        } else {
            by_magnitude
        }
    }
}

fn trim_zeros(digits: &[u8]) -> &[u8] {
    let keep = digits.len() - digits.iter().rev().take_while(|&&b| b == b'0').count();
    digits.get(..keep).unwrap_or(digits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn n(text: &str) -> Num {
        Num::parse(text).unwrap()
    }

    #[test]
    fn decimals_compare_like_num() {
        let texts = [
            "0",
            "-0",
            "0.000",
            "1",
            "1.0",
            "10e-1",
            "0.1e1",
            "-1",
            "123456789012345678901234567890",
            "123456789012345678901234567891",
            "1e400",
            "-1e400",
            "1e-400",
            "2.5",
            "0.25e1",
            "100",
            "1E2",
            "1e+2",
            "0.001e5",
        ];
        for x in texts {
            for y in texts {
                let (dx, dy) = (Decimal::parse(x).unwrap(), Decimal::parse(y).unwrap());
                assert_eq!(dx.cmp(&dy), n(x).cmp(&n(y)), "{x} vs {y}");
                let ex = ExactNum::new(&n(x)).unwrap();
                assert_eq!(ex.view().cmp(&dy), n(x).cmp(&n(y)), "{x} vs {y}");
            }
        }
        for bad in [
            "1e9223372036854775808",
            "10e9223372036854775807",
            "+1",
            "01",
            "1.",
        ] {
            assert!(Decimal::parse(bad).is_none(), "{bad}");
            assert!(Num::parse(bad).is_none(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn decimal_agrees_with_num(
            x in r"-?(0|[1-9][0-9]{0,3})(\.[0-9]{1,3})?([eE][+-]?[0-9]{1,3})?",
            y in r"-?(0|[1-9][0-9]{0,3})(\.[0-9]{1,3})?([eE][+-]?[0-9]{1,3})?",
        ) {
            let (dx, dy) = (Decimal::parse(&x).unwrap(), Decimal::parse(&y).unwrap());
            prop_assert_eq!(dx.cmp(&dy), n(&x).cmp(&n(&y)));
        }

        /// The short-integer path and the digit path agree, on both sides of the 17-digit
        /// boundary and with fractions and exponents that fall back.
        #[test]
        fn comparing_text_agrees_with_num(
            x in r"-?(0|[1-9][0-9]{0,18})(\.[0-9]{1,2})?([eE][+-]?[0-9])?",
            y in r"-?(0|[1-9][0-9]{0,18})(\.[0-9]{1,2})?([eE][+-]?[0-9])?",
        ) {
            let lit = ExactNum::new(&n(&y)).unwrap();
            prop_assert_eq!(lit.cmp_text(&x), Some(n(&x).cmp(&n(&y))));
        }
    }

    #[test]
    fn small_integers_are_read_as_json_spells_them() {
        assert_eq!(small_int("0"), Some(0));
        assert_eq!(small_int("-0"), Some(0));
        assert_eq!(small_int("-42"), Some(-42));
        assert_eq!(small_int("99999999999999999"), Some(99_999_999_999_999_999));
        for not_small in [
            "",
            "-",
            "007",
            "1.0",
            "1e2",
            "999999999999999999",
            "12a",
            " 1",
        ] {
            assert_eq!(small_int(not_small), None, "{not_small:?}");
        }
        let lit = ExactNum::new(&n("100")).unwrap();
        assert_eq!(lit.cmp_text("99"), Some(Ordering::Less));
        assert_eq!(lit.cmp_text("1e2"), Some(Ordering::Equal));
        assert_eq!(lit.cmp_text("not a number"), None);
    }
}
