//! Timestamps with one precision everywhere: microseconds, UTC, written as RFC 3339 with six
//! fractional digits and `Z` (`2026-12-01T09:10:01.123456Z`) in responses and in stored
//! items alike, so a value reads back exactly as it was written and strings sort in time
//! order.

use std::fmt;
use std::ops::Add;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, SubsecRound, TimeDelta, Utc};

/// A point in time, to the microsecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

/// A string that is not an RFC 3339 timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be an RFC 3339 timestamp such as `2026-12-01T09:10:01.123456Z`")]
pub struct TimestampError;

impl Timestamp {
    /// Now.
    pub fn now() -> Self {
        Self::from(Utc::now())
    }

    /// The time as chrono's type.
    pub fn as_datetime(&self) -> DateTime<Utc> {
        self.0
    }
}

impl From<DateTime<Utc>> for Timestamp {
    /// Truncates to the microsecond.
    fn from(at: DateTime<Utc>) -> Self {
        Self(at.trunc_subsecs(6))
    }
}

impl Add<TimeDelta> for Timestamp {
    type Output = Timestamp;

    fn add(self, delta: TimeDelta) -> Timestamp {
        Timestamp::from(self.0 + delta)
    }
}

/// The length of the one spelling: `2026-12-01T09:10:01.123456Z`.
pub(crate) const LEN: usize = 27;

impl Timestamp {
    /// The RFC 3339 spelling written into `buffer`, without chrono's formatting machinery
    /// (every response and stored item carries timestamps); `None` for what chrono spells
    /// otherwise (years outside 0 to 9999, a leap second), which takes chrono's path.
    fn spell(self, buffer: &mut [u8; LEN]) -> Option<&str> {
        self.spell_ascii(buffer)
            .then(|| std::str::from_utf8(buffer).ok())
            .flatten()
    }

    /// [`Timestamp::spell`]'s ASCII bytes, for a writer that needs no `str` (`false`: the
    /// spelling is chrono's).
    pub(crate) fn spell_ascii(self, buffer: &mut [u8; LEN]) -> bool {
        use chrono::{Datelike, Timelike};
        let (date, time) = (self.0.date_naive(), self.0.time());
        let micros = time.nanosecond() / 1_000;
        if !(0..=9999).contains(&date.year()) || micros >= 1_000_000 {
            return false;
        }
        *buffer = *b"0000-00-00T00:00:00.000000Z";
        // Fixed widths, so each digit is one division by a constant.
        let mut digits = |at: usize, value: u32, width: u32| {
            for i in 0..width {
                buffer[at + i as usize] = b'0' + (value / 10u32.pow(width - 1 - i) % 10) as u8;
            }
        };
        digits(0, date.year() as u32, 4);
        digits(5, date.month(), 2);
        digits(8, date.day(), 2);
        digits(11, time.hour(), 2);
        digits(14, time.minute(), 2);
        digits(17, time.second(), 2);
        digits(20, micros, 6);
        true
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.spell(&mut [0; LEN]) {
            Some(spelt) => f.write_str(spelt),
            None => f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::Micros, true)),
        }
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;

    /// Any RFC 3339 timestamp, converted to UTC and truncated to the microsecond.
    fn from_str(s: &str) -> Result<Self, TimestampError> {
        if let Some(t) = Self::unspell(s) {
            return Ok(t);
        }
        DateTime::parse_from_rfc3339(s)
            .map(|t| Self::from(t.with_timezone(&Utc)))
            .map_err(|_| TimestampError)
    }
}

impl Timestamp {
    /// The one spelling read back without chrono's general parser (every stored item's
    /// timestamps are read on every request); `None` for anything else, which takes
    /// chrono's path and its verdict.
    fn unspell(s: &str) -> Option<Self> {
        use chrono::{NaiveDate, NaiveTime};
        let b = s.as_bytes();
        let punctuation = [
            (4, b'-'),
            (7, b'-'),
            (10, b'T'),
            (13, b':'),
            (16, b':'),
            (19, b'.'),
        ];
        if b.len() != LEN || b[LEN - 1] != b'Z' || punctuation.iter().any(|&(i, c)| b[i] != c) {
            return None;
        }
        let number = |from: usize, to: usize| {
            b[from..to].iter().try_fold(0u32, |n, &d| {
                d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
            })
        };
        let date = NaiveDate::from_ymd_opt(number(0, 4)? as i32, number(5, 7)?, number(8, 10)?)?;
        let (hour, minute, second) = (number(11, 13)?, number(14, 16)?, number(17, 19)?);
        // A leap second (`:60`) is left to chrono.
        let time = NaiveTime::from_hms_micro_opt(hour, minute, second, number(20, 26)?)?;
        Some(Self(date.and_time(time).and_utc()))
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.spell(&mut [0; LEN]) {
            Some(spelt) => s.serialize_str(spelt),
            None => s.collect_str(self),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::DateTime,
            )))
            .examples(["2026-12-01T09:10:01.123456Z"])
            .into()
    }
}

impl utoipa::ToSchema for Timestamp {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn microseconds_everywhere() {
        let at: DateTime<Utc> = "2026-12-01T09:10:01.123456789Z".parse().unwrap();
        let t = Timestamp::from(at);
        assert_eq!(t.to_string(), "2026-12-01T09:10:01.123456Z");
        assert_eq!(t.to_string().parse::<Timestamp>().unwrap(), t);
        let whole = Timestamp::from("2026-12-01T09:10:01Z".parse::<DateTime<Utc>>().unwrap());
        assert_eq!(whole.to_string(), "2026-12-01T09:10:01.000000Z");
        assert_eq!(
            serde_json::to_value(t).unwrap(),
            "2026-12-01T09:10:01.123456Z"
        );
        let later = t + TimeDelta::nanoseconds(1_500);
        assert_eq!(later.to_string(), "2026-12-01T09:10:01.123457Z");
    }

    #[test]
    fn the_spelling_is_chronos() {
        let chrono = |t: Timestamp| t.0.to_rfc3339_opts(SecondsFormat::Micros, true);
        for text in [
            "0000-01-01T00:00:00Z",
            "0999-03-04T05:06:07.000008Z",
            "1970-01-01T00:00:00Z",
            "2026-12-31T23:59:59.999999Z",
            "9999-12-31T23:59:59.999999Z",
        ] {
            let t: Timestamp = text.parse().unwrap();
            assert_eq!(t.to_string(), chrono(t), "{text}");
            assert_eq!(Timestamp::unspell(&chrono(t)), Some(t), "{text}");
            assert_eq!(serde_json::to_value(t).unwrap(), chrono(t), "{text}");
        }
        // Outside what the short path spells: chrono's spelling, still exact.
        let far = Timestamp::from(DateTime::<Utc>::MAX_UTC);
        assert!(far.spell(&mut [0; LEN]).is_none());
        assert_eq!(far.to_string(), chrono(far));
        let mut t = Timestamp::now();
        for _ in 0..1_000 {
            assert_eq!(t.to_string(), chrono(t));
            let parsed = DateTime::parse_from_rfc3339(&t.to_string()).unwrap();
            assert_eq!(t.to_string().parse(), Ok(Timestamp::from(parsed.to_utc())));
            t = t + TimeDelta::microseconds(987_654_321_123);
        }
    }

    proptest::proptest! {
        /// Every instant of years 0 to 9999 (and some either side, chrono's to spell).
        #[test]
        fn every_instant_is_spelt_as_chrono_spells_it(
            micros in -63_000_000_000_000_000i64..254_000_000_000_000_000,
        ) {
            let t = Timestamp::from(DateTime::from_timestamp_micros(micros).unwrap());
            let chrono = t.0.to_rfc3339_opts(SecondsFormat::Micros, true);
            proptest::prop_assert_eq!(t.to_string(), chrono);
        }
    }

    #[test]
    fn other_zones_become_utc() {
        let t: Timestamp = "2026-12-01T10:10:01.5+01:00".parse().unwrap();
        assert_eq!(t.to_string(), "2026-12-01T09:10:01.500000Z");
        // A leap second is chrono's to read; what the short path refuses, chrono judges.
        let leap: Timestamp = "2016-12-31T23:59:60.500000Z".parse().unwrap();
        assert_eq!(leap.to_string(), "2016-12-31T23:59:60.500000Z");
        for bad in [
            "",
            "yesterday",
            "2026-12-01",
            "2026-12-01T09:10:01",
            "2026-13-01T09:10:01.000000Z",
            "2026-02-30T09:10:01.000000Z",
            "2026-12-01T24:10:01.000000Z",
            "2026-12-01T09:10:01.00000aZ",
        ] {
            assert_eq!(bad.parse::<Timestamp>(), Err(TimestampError), "{bad}");
        }
    }
}
