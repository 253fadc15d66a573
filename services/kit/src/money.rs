//! Money: integer minor units (cents) and ISO 4217 currency codes. Never floating point:
//! an amount is a whole number of minor units from 0 to [`Money::MAX`], the largest integer
//! a JSON number carries exactly in every client (JavaScript's `Number.MAX_SAFE_INTEGER`).
//! All arithmetic is checked.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An amount that is not one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("must be an integer from {min} to {max} (minor units, e.g. cents)", max = Money::MAX)]
    OutOfRange { min: u64 },
    #[error("the total is over {max} minor units", max = Money::MAX)]
    Overflow,
}

/// An amount of money in integer minor units, never negative, never above [`Money::MAX`].
/// Its serde form is the number of minor units; reading a larger one fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
#[serde(transparent)]
pub struct Money(u64);

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let units = u64::deserialize(d)?;
        Money::from_minor(units.into()).map_err(serde::de::Error::custom)
    }
}

impl Money {
    /// The largest amount: 2^53 − 1 minor units.
    pub const MAX: u64 = (1 << 53) - 1;

    /// Zero.
    pub const ZERO: Money = Money(0);

    /// An amount in minor units, 0 to [`Money::MAX`].
    pub fn from_minor(units: i128) -> Result<Self, MoneyError> {
        Self::at_least(0, units)
    }

    /// An amount in minor units, `min` to [`Money::MAX`] (e.g. 1 for a payment).
    pub fn at_least(min: u64, units: i128) -> Result<Self, MoneyError> {
        match u64::try_from(units) {
            Ok(n) if (min..=Self::MAX).contains(&n) => Ok(Self(n)),
            _ => Err(MoneyError::OutOfRange { min }),
        }
    }

    /// The amount in minor units.
    pub fn minor(self) -> u64 {
        self.0
    }

    /// `self + other`, or `None` past [`Money::MAX`].
    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0
            .checked_add(other.0)
            .filter(|n| *n <= Self::MAX)
            .map(Money)
    }

    /// `self × times`, or `None` past [`Money::MAX`].
    pub fn checked_times(self, times: u32) -> Option<Money> {
        self.0
            .checked_mul(u64::from(times))
            .filter(|n| *n <= Self::MAX)
            .map(Money)
    }
}

/// A code that is not a currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be an ISO 4217 code: three uppercase letters such as `EUR`")]
pub struct CurrencyError;

/// An ISO 4217 currency code: three uppercase ASCII letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency([u8; 3]);

impl Currency {
    /// The pattern of a code, for OpenAPI documents.
    pub const PATTERN: &'static str = "^[A-Z]{3}$";

    /// The code, e.g. `EUR`.
    pub fn as_str(&self) -> &str {
        // Valid by construction: three ASCII uppercase letters.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl FromStr for Currency {
    type Err = CurrencyError;

    fn from_str(s: &str) -> Result<Self, CurrencyError> {
        match <[u8; 3]>::try_from(s.as_bytes()) {
            Ok(code) if code.iter().all(u8::is_ascii_uppercase) => Ok(Self(code)),
            _ => Err(CurrencyError),
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        code.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_bounded() {
        assert_eq!(Money::from_minor(0).unwrap(), Money::ZERO);
        assert_eq!(
            Money::from_minor(Money::MAX.into()).unwrap().minor(),
            Money::MAX
        );
        for bad in [-1, i128::from(Money::MAX) + 1, i128::MAX, i128::MIN] {
            assert_eq!(
                Money::from_minor(bad),
                Err(MoneyError::OutOfRange { min: 0 }),
                "{bad}"
            );
        }
        for bad in [0, -1, i128::from(Money::MAX) + 1, i128::MAX, i128::MIN] {
            assert_eq!(
                Money::at_least(1, bad),
                Err(MoneyError::OutOfRange { min: 1 }),
                "{bad}"
            );
        }
        assert_eq!(Money::at_least(1, 1).unwrap().minor(), 1);
        assert!(
            MoneyError::OutOfRange { min: 1 }
                .to_string()
                .starts_with("must be an integer from 1 to ")
        );
    }

    #[test]
    fn arithmetic_is_checked() {
        let half = Money::from_minor(i128::from(Money::MAX / 2 + 1)).unwrap();
        assert_eq!(half.checked_add(half), None);
        assert_eq!(half.checked_times(2), None);
        assert_eq!(
            Money::from_minor(3)
                .unwrap()
                .checked_times(4)
                .unwrap()
                .minor(),
            12
        );
        let max = Money::from_minor(Money::MAX.into()).unwrap();
        let one = Money::from_minor(1).unwrap();
        assert_eq!(max.checked_add(Money::ZERO), Some(max));
        assert_eq!(max.checked_add(one), None);
        assert_eq!(one.checked_add(one).unwrap().minor(), 2);
        assert_eq!(
            Money::from_minor(7)
                .unwrap()
                .checked_times(3)
                .unwrap()
                .minor(),
            21
        );
        assert_eq!(max.checked_times(3), None);
    }

    #[test]
    fn currencies() {
        assert_eq!("JPY".parse::<Currency>().unwrap().as_str(), "JPY");
        assert_eq!(
            serde_json::to_value("EUR".parse::<Currency>().unwrap()).unwrap(),
            "EUR"
        );
        for bad in ["", "usd", "US", "USDX", "U$D", "ÉUR", "E1R", "EU", "EURO"] {
            assert_eq!(bad.parse::<Currency>(), Err(CurrencyError), "{bad}");
        }
    }

    #[test]
    fn serde_forms_are_checked_when_read() {
        let eur: Currency = serde_json::from_value(serde_json::json!("EUR")).unwrap();
        assert_eq!(eur.as_str(), "EUR");
        assert!(serde_json::from_value::<Currency>(serde_json::json!("eur")).is_err());
        let max: Money = serde_json::from_value(serde_json::json!(Money::MAX)).unwrap();
        assert_eq!(serde_json::to_value(max).unwrap(), Money::MAX);
        for bad in [
            serde_json::json!(Money::MAX + 1),
            serde_json::json!(-1),
            serde_json::json!("1"),
        ] {
            assert!(
                serde_json::from_value::<Money>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }
}
