//! Exact amounts: `u128` base units, checked arithmetic, decimal strings at the edges.
//!
//! There is no conversion to or from floating point. JSON carries amounts as strings
//! (`"12.5"`), because JSON numbers are doubles in most clients and silently lose units
//! past 2^53.

use std::fmt;
use std::str::FromStr;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why an amount could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("invalid {unit} amount {input:?}: expected a decimal number such as \"12.5\"")]
    Syntax { unit: &'static str, input: String },
    #[error("invalid {unit} amount {input:?}: at most {decimals} decimal places")]
    TooPrecise {
        unit: &'static str,
        input: String,
        decimals: u32,
    },
    #[error("{unit} amount {input:?} is too large")]
    Overflow { unit: &'static str, input: String },
}

/// Parse a non-negative decimal string into base units with `decimals` places.
fn parse_decimal(s: &str, decimals: u32, unit: &'static str) -> Result<u128, AmountError> {
    let input = || s.chars().take(64).collect::<String>();
    let syntax = || AmountError::Syntax {
        unit,
        input: input(),
    };
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || frac.is_some_and(|f| !digits(f)) {
        return Err(syntax());
    }
    let frac = frac.unwrap_or("");
    if frac.len() > decimals as usize {
        return Err(AmountError::TooPrecise {
            unit,
            input: input(),
            decimals,
        });
    }
    let overflow = || AmountError::Overflow {
        unit,
        input: input(),
    };
    let mut value: u128 = 0;
    for b in int.bytes().chain(frac.bytes()) {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u128::from(b - b'0')))
            .ok_or_else(overflow)?;
    }
    let pad = decimals - frac.len() as u32;
    value.checked_mul(10u128.pow(pad)).ok_or_else(overflow)
}

fn format_decimal(value: u128, decimals: u32, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let scale = 10u128.pow(decimals);
    let (int, frac) = (value / scale, value % scale);
    if frac == 0 {
        return write!(f, "{int}");
    }
    let frac = format!("{frac:0width$}", width = decimals as usize);
    write!(f, "{int}.{}", frac.trim_end_matches('0'))
}

macro_rules! amount_type {
    ($(#[$doc:meta])* $name:ident, $decimals:expr, $unit:literal) => {
        $(#[$doc])*
        #[derive(
            Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default,
            BorshSerialize, BorshDeserialize,
        )]
        pub struct $name(u128);

        impl $name {
            /// Decimal places shown to people.
            pub const DECIMALS: u32 = $decimals;
            /// Base units in one whole unit.
            pub const ONE: $name = $name(10u128.pow($decimals));
            pub const ZERO: $name = $name(0);
            pub const MAX: $name = $name(u128::MAX);
            const UNIT: &'static str = $unit;

            pub const fn from_base_units(units: u128) -> Self {
                $name(units)
            }

            pub const fn base_units(self) -> u128 {
                self.0
            }

            /// `n` whole units, or `None` on overflow.
            pub fn whole(n: u128) -> Option<Self> {
                n.checked_mul(Self::ONE.0).map($name)
            }

            pub fn is_zero(self) -> bool {
                self.0 == 0
            }

            pub fn checked_add(self, other: Self) -> Option<Self> {
                self.0.checked_add(other.0).map($name)
            }

            pub fn checked_sub(self, other: Self) -> Option<Self> {
                self.0.checked_sub(other.0).map($name)
            }

        }

        impl FromStr for $name {
            type Err = AmountError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_decimal(s, Self::DECIMALS, Self::UNIT).map($name)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                format_decimal(self.0, Self::DECIMALS, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                // Strings only: a JSON number may already have lost precision.
                let s = <String as Deserialize>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

amount_type!(
    /// The network's tradable token, in base units of 10^-8 token.
    Tokens,
    8,
    "token"
);

amount_type!(
    /// Credits: non-transferable, pegged at 1 credit = 0.00001 USD, minted only by burning
    /// tokens. Whole credits only: the peg is already a thousandth of a cent.
    Credits,
    0,
    "credit"
);

/// `x × y` as 256 bits `(high, low)`, schoolbook on 64-bit limbs; pairs compare
/// lexicographically, so `a × b ≥ c × d` can be decided without overflow.
pub fn widening_mul(x: u128, y: u128) -> (u128, u128) {
    let mask = u128::from(u64::MAX);
    let (x1, x0) = (x >> 64, x & mask);
    let (y1, y0) = (y >> 64, y & mask);
    let p00 = x0 * y0;
    let p01 = x0 * y1;
    let p10 = x1 * y0;
    let p11 = x1 * y1;
    let mid = (p00 >> 64) + (p01 & mask) + (p10 & mask);
    let low = (p00 & mask) | (mid << 64);
    let high = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
    (high, low)
}

/// `floor(a × b / c)` and the remainder, exact for any `a`, `b` and `c > 0` whose
/// quotient fits 128 bits (always so when `b ≤ c`, the pro-rata case).
pub fn mul_div(a: u128, b: u128, c: u128) -> (u128, u128) {
    assert!(c > 0, "division by zero");
    if let Some(p) = a.checked_mul(b) {
        return (p / c, p % c);
    }
    let (hi, lo) = widening_mul(a, b);
    // Binary long division of the 256-bit (hi, lo) by c.
    let mut rem: u128 = 0;
    let mut quot: u128 = 0;
    for i in (0..256).rev() {
        let bit = if i >= 128 {
            (hi >> (i - 128)) & 1
        } else {
            (lo >> i) & 1
        };
        let carry = rem >> 127;
        rem = (rem << 1) | bit;
        if carry == 1 || rem >= c {
            rem = rem.wrapping_sub(c);
            if i < 128 {
                quot |= 1 << i;
            }
        }
    }
    (quot, rem)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parse_table() {
        let ok = [
            ("0", 0u128),
            ("1", 100_000_000),
            ("12.5", 1_250_000_000),
            ("0.00000001", 1),
            ("007.10", 710_000_000),
        ];
        for (s, units) in ok {
            assert_eq!(s.parse::<Tokens>().unwrap().base_units(), units, "{s}");
        }
        let bad = [
            ("", "expected a decimal"),
            ("-1", "expected a decimal"),
            ("+1", "expected a decimal"),
            ("1e5", "expected a decimal"),
            (".5", "expected a decimal"),
            ("5.", "expected a decimal"),
            (" 1", "expected a decimal"),
            ("1.000000001", "at most 8 decimal places"),
            ("NaN", "expected a decimal"),
            ("340282366920938463463374607431768211456", "too large"),
            ("3402823669209384634633746074317.68211456", "too large"),
        ];
        for (s, want) in bad {
            let err = s.parse::<Tokens>().unwrap_err().to_string();
            assert!(err.contains(want), "{s:?}: {err}");
        }
        assert!(
            "1.5"
                .parse::<Credits>()
                .unwrap_err()
                .to_string()
                .contains("at most 0")
        );
        assert_eq!("250".parse::<Credits>().unwrap().base_units(), 250);
    }

    #[test]
    fn display_and_json() {
        assert_eq!(Tokens::from_base_units(1_250_000_000).to_string(), "12.5");
        assert_eq!(Tokens::from_base_units(1).to_string(), "0.00000001");
        assert_eq!(
            Tokens::MAX.to_string(),
            "3402823669209384634633746074317.68211455"
        );
        let json = serde_json::to_string(&Tokens::from_base_units(150_000_000)).unwrap();
        assert_eq!(json, "\"1.5\"");
        assert!(
            serde_json::from_str::<Tokens>("1.5").is_err(),
            "numbers are refused"
        );
    }

    #[test]
    fn checked_only() {
        assert_eq!(Tokens::MAX.checked_add(Tokens::from_base_units(1)), None);
        assert_eq!(Tokens::ZERO.checked_sub(Tokens::from_base_units(1)), None);
        assert_eq!(Tokens::whole(u128::MAX), None);
    }

    proptest! {
        #[test]
        fn string_round_trip(units: u128) {
            let t = Tokens::from_base_units(units);
            prop_assert_eq!(t.to_string().parse::<Tokens>().unwrap(), t);
            let c = Credits::from_base_units(units);
            prop_assert_eq!(c.to_string().parse::<Credits>().unwrap(), c);
        }
    }
}

/// Serde helper for plain `u128` fields (prices, parameter values, vote weights): a decimal
/// string in JSON, like amounts, because JSON numbers lose precision past 2^53.
/// Use as `#[serde(with = "cairn_core::amount::u128_string")]`.
pub mod u128_string {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(value)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        let s = <String as Deserialize>::deserialize(d)?;
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(serde::de::Error::custom(format!(
                "expected an unsigned integer as a decimal string, got {:?}",
                s.chars().take(48).collect::<String>()
            )));
        }
        s.parse()
            .map_err(|_| serde::de::Error::custom("integer does not fit in 128 bits"))
    }
}
