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

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::Micros, true))
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;

    /// Any RFC 3339 timestamp, converted to UTC and truncated to the microsecond.
    fn from_str(s: &str) -> Result<Self, TimestampError> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| Self::from(t.with_timezone(&Utc)))
            .map_err(|_| TimestampError)
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
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
    fn other_zones_become_utc() {
        let t: Timestamp = "2026-12-01T10:10:01.5+01:00".parse().unwrap();
        assert_eq!(t.to_string(), "2026-12-01T09:10:01.500000Z");
        for bad in ["", "yesterday", "2026-12-01", "2026-12-01T09:10:01"] {
            assert_eq!(bad.parse::<Timestamp>(), Err(TimestampError), "{bad}");
        }
    }
}
