//! CloudWatch's nouns as types: names parsed once at the edge (namespaces, metric and alarm
//! names, dimensions), the closed sets of words the API takes (statistics, units, comparison
//! operators, alarm states), periods, timestamps and the clock's scale.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Serialize, Serializer};

/// Why a value was refused, without the parameter's name (the caller knows where it came from).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Invalid {
    fn new(reason: impl Into<String>) -> Self {
        Self(reason.into())
    }
}

/// The longest namespace, metric name, alarm name or dimension name CloudWatch takes.
pub const MAX_NAME_LEN: usize = 255;
/// The longest dimension value.
pub const MAX_DIMENSION_VALUE_LEN: usize = 1024;
/// The most dimensions one metric may have.
pub const MAX_DIMENSIONS: usize = 30;

fn check_length(s: &str, max: usize) -> Result<(), Invalid> {
    let n = s.chars().count();
    if n == 0 || n > max {
        Err(Invalid(format!("must be 1 to {max} characters long")))
    } else {
        Ok(())
    }
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $check:path) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The name as written.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = Invalid;
            fn from_str(s: &str) -> Result<Self, Invalid> {
                $check(s).map(|()| Self(s.to_owned()))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
    };
}

name_type!(
    /// A metric namespace such as `MultiRegionApi/Failover`, or an AWS service's (`AWS/...`).
    Namespace,
    check_namespace
);

impl Namespace {
    /// Whether the namespace is an AWS service's (`AWS/...`): clients may read it, not
    /// publish into it.
    pub fn is_reserved(&self) -> bool {
        self.0.starts_with("AWS/")
    }
}
name_type!(
    /// A metric's name, such as `RegionOut`.
    MetricName,
    check_plain_name
);
name_type!(
    /// An alarm's name: unique within its Region.
    AlarmName,
    check_plain_name
);

fn check_namespace(s: &str) -> Result<(), Invalid> {
    check_length(s, MAX_NAME_LEN)?;
    let allowed = |c: char| c.is_ascii_alphanumeric() || ".-_/#: ".contains(c);
    if let Some(c) = s.chars().find(|c| !allowed(*c)) {
        return Err(Invalid(format!(
            "`{c}` is not allowed in a namespace (letters, digits and . - _ / # : and space are)"
        )));
    }
    if s.trim().is_empty() {
        return Err(Invalid::new("must contain a non-space character"));
    }
    Ok(())
}

fn check_plain_name(s: &str) -> Result<(), Invalid> {
    check_length(s, MAX_NAME_LEN)?;
    if s.chars().any(char::is_control) {
        return Err(Invalid::new("must not contain control characters"));
    }
    Ok(())
}

/// A metric's dimensions: at most [`MAX_DIMENSIONS`] name/value pairs, names unique. Kept
/// sorted by name, so that the same set written in another order is the same metric, as in
/// CloudWatch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Dimensions(BTreeMap<String, String>);

impl Dimensions {
    /// No dimensions.
    pub fn none() -> Self {
        Self::default()
    }

    /// The set of `pairs`; refuses an empty or too long name or value, a repeated name, or
    /// more than [`MAX_DIMENSIONS`] pairs.
    pub fn new<N, V>(pairs: impl IntoIterator<Item = (N, V)>) -> Result<Self, Invalid>
    where
        N: Into<String>,
        V: Into<String>,
    {
        let mut map = BTreeMap::new();
        for (name, value) in pairs {
            let (name, value) = (name.into(), value.into());
            check_length(&name, MAX_NAME_LEN)
                .map_err(|e| Invalid(format!("dimension name `{name}` {e}")))?;
            if name.starts_with(':') {
                return Err(Invalid(format!(
                    "dimension name `{name}` must not start with a colon"
                )));
            }
            check_length(&value, MAX_DIMENSION_VALUE_LEN)
                .map_err(|e| Invalid(format!("the value of dimension `{name}` {e}")))?;
            if map.insert(name.clone(), value).is_some() {
                return Err(Invalid(format!("dimension `{name}` appears twice")));
            }
        }
        if map.len() > MAX_DIMENSIONS {
            return Err(Invalid(format!(
                "a metric has at most {MAX_DIMENSIONS} dimensions, not {}",
                map.len()
            )));
        }
        Ok(Self(map))
    }

    /// The pairs, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The value of dimension `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// How many dimensions there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for Dimensions {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter())
    }
}

/// One metric: CloudWatch identifies a metric by its namespace, name and full set of
/// dimensions.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct MetricId {
    pub namespace: Namespace,
    pub name: MetricName,
    pub dimensions: Dimensions,
}

impl MetricId {
    /// The metric `name` in `namespace` with `dimensions`.
    pub fn new(namespace: Namespace, name: MetricName, dimensions: Dimensions) -> Self {
        Self {
            namespace,
            name,
            dimensions,
        }
    }
}

impl fmt::Display for MetricId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.namespace, self.name)?;
        let dims: Vec<String> = self
            .dimensions
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        if !dims.is_empty() {
            write!(f, " [{}]", dims.join(", "))?;
        }
        Ok(())
    }
}

/// A closed set of words, as the API spells them.
macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value, in the API's order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The value as the API spells it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $wire),+
                }
            }
        }

        impl FromStr for $name {
            type Err = Invalid;
            fn from_str(s: &str) -> Result<Self, Invalid> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| {
                        let all: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                        Invalid(format!("must be one of [{}]", all.join(", ")))
                    })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

wire_enum!(
    /// The standard statistics. Percentiles are [`Percentile`]s, which alarms compute
    /// (`ExtendedStatistic`); the other extended statistics (trimmed means, ...) are not
    /// emulated.
    Statistic {
        SampleCount = "SampleCount",
        Average = "Average",
        Sum = "Sum",
        Minimum = "Minimum",
        Maximum = "Maximum",
    }
);

/// A percentile as CloudWatch's extended statistics name it: `p99`, `p99.9`, `p50` (0 to
/// 100, at most two decimals).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Percentile(f64);

impl Percentile {
    /// The percentile, 0 to 100.
    pub fn value(self) -> f64 {
        self.0
    }
}

impl FromStr for Percentile {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        let invalid = || Invalid(format!("`{s}` is not a percentile such as p99 or p99.9"));
        let number = s.strip_prefix('p').ok_or_else(invalid)?;
        let decimals = number.split_once('.').map_or(0, |(_, d)| d.len());
        let digits_only = !number.is_empty()
            && number.chars().all(|c| c.is_ascii_digit() || c == '.')
            && !number.starts_with('.')
            && !number.ends_with('.');
        match number.parse::<f64>() {
            Ok(p) if digits_only && decimals <= 2 && (0.0..=100.0).contains(&p) => Ok(Self(p)),
            _ => Err(invalid()),
        }
    }
}

impl fmt::Display for Percentile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "p{}", self.0)
    }
}

impl Serialize for Percentile {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// What an alarm computes over each period: a standard statistic (`Statistic`) or a
/// percentile (`ExtendedStatistic`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AlarmStatistic {
    Standard(Statistic),
    Percentile(Percentile),
}

impl From<Statistic> for AlarmStatistic {
    fn from(s: Statistic) -> Self {
        Self::Standard(s)
    }
}

impl From<Percentile> for AlarmStatistic {
    fn from(p: Percentile) -> Self {
        Self::Percentile(p)
    }
}

impl fmt::Display for AlarmStatistic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Standard(s) => f.write_str(s.as_str()),
            Self::Percentile(p) => p.fmt(f),
        }
    }
}

impl Serialize for AlarmStatistic {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

wire_enum!(
    /// CloudWatch's standard units.
    Unit {
        Seconds = "Seconds",
        Microseconds = "Microseconds",
        Milliseconds = "Milliseconds",
        Bytes = "Bytes",
        Kilobytes = "Kilobytes",
        Megabytes = "Megabytes",
        Gigabytes = "Gigabytes",
        Terabytes = "Terabytes",
        Bits = "Bits",
        Kilobits = "Kilobits",
        Megabits = "Megabits",
        Gigabits = "Gigabits",
        Terabits = "Terabits",
        Percent = "Percent",
        Count = "Count",
        BytesPerSecond = "Bytes/Second",
        KilobytesPerSecond = "Kilobytes/Second",
        MegabytesPerSecond = "Megabytes/Second",
        GigabytesPerSecond = "Gigabytes/Second",
        TerabytesPerSecond = "Terabytes/Second",
        BitsPerSecond = "Bits/Second",
        KilobitsPerSecond = "Kilobits/Second",
        MegabitsPerSecond = "Megabits/Second",
        GigabitsPerSecond = "Gigabits/Second",
        TerabitsPerSecond = "Terabits/Second",
        CountPerSecond = "Count/Second",
        None = "None",
    }
);

wire_enum!(
    /// How an alarm compares its statistic with its threshold. The anomaly-detection
    /// operators (bands) are not emulated.
    ComparisonOperator {
        GreaterThanOrEqualToThreshold = "GreaterThanOrEqualToThreshold",
        GreaterThanThreshold = "GreaterThanThreshold",
        LessThanThreshold = "LessThanThreshold",
        LessThanOrEqualToThreshold = "LessThanOrEqualToThreshold",
    }
);

impl ComparisonOperator {
    /// Whether `value` breaches `threshold`.
    pub fn breaches(self, value: f64, threshold: f64) -> bool {
        match self {
            Self::GreaterThanOrEqualToThreshold => value >= threshold,
            Self::GreaterThanThreshold => value > threshold,
            Self::LessThanThreshold => value < threshold,
            Self::LessThanOrEqualToThreshold => value <= threshold,
        }
    }

    /// The words CloudWatch's state reasons use.
    pub fn phrase(self) -> &'static str {
        match self {
            Self::GreaterThanOrEqualToThreshold => "greater than or equal to",
            Self::GreaterThanThreshold => "greater than",
            Self::LessThanThreshold => "less than",
            Self::LessThanOrEqualToThreshold => "less than or equal to",
        }
    }
}

wire_enum!(
    /// What an alarm makes of a period with no data.
    TreatMissingData {
        /// Breaching: counts toward ALARM.
        Breaching = "breaching",
        /// Not breaching: counts toward OK.
        NotBreaching = "notBreaching",
        /// Keeps the current state when every period is missing.
        Ignore = "ignore",
        /// INSUFFICIENT_DATA when every period is missing (CloudWatch's default).
        Missing = "missing",
    }
);

wire_enum!(
    /// An alarm's state.
    AlarmState {
        Ok = "OK",
        Alarm = "ALARM",
        InsufficientData = "INSUFFICIENT_DATA",
    }
);

wire_enum!(
    /// The order of GetMetricData's datapoints.
    ScanBy {
        TimestampDescending = "TimestampDescending",
        TimestampAscending = "TimestampAscending",
    }
);

/// How finely CloudWatch stores a datapoint: high resolution (1 s) or standard (60 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StorageResolution {
    /// `StorageResolution = 1`: queries and alarms may use periods under a minute.
    High,
    /// `StorageResolution = 60` (the default): CloudWatch serves it by the minute.
    #[default]
    Standard,
}

impl StorageResolution {
    /// From the API's number: 1 or 60.
    pub fn from_seconds(seconds: i64) -> Result<Self, Invalid> {
        match seconds {
            1 => Ok(Self::High),
            60 => Ok(Self::Standard),
            _ => Err(Invalid::new("must be 1 (high resolution) or 60 (standard)")),
        }
    }
}

/// A period, in whole seconds: of a query (1, 5, 10, 30 or a multiple of 60) or of an alarm
/// (10, 20, 30 or a multiple of 60).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Period(u32);

impl Period {
    /// A period for GetMetricData or GetMetricStatistics.
    pub fn for_query(seconds: i64) -> Result<Self, Invalid> {
        Self::checked(seconds, &[1, 5, 10, 30], "1, 5, 10, 30 or a multiple of 60")
    }

    /// A period for an alarm.
    pub fn for_alarm(seconds: i64) -> Result<Self, Invalid> {
        Self::checked(seconds, &[10, 20, 30], "10, 20, 30 or a multiple of 60")
    }

    fn checked(seconds: i64, short: &[i64], allowed: &str) -> Result<Self, Invalid> {
        let ok = short.contains(&seconds) || (seconds >= 60 && seconds % 60 == 0);
        match u32::try_from(seconds) {
            Ok(s) if ok => Ok(Self(s)),
            _ => Err(Invalid(format!("must be {allowed} (seconds)"))),
        }
    }

    /// The period in seconds.
    pub fn seconds(self) -> u32 {
        self.0
    }

    /// The period in milliseconds.
    pub fn millis(self) -> i64 {
        i64::from(self.0) * 1000
    }
}

/// A point in time, to the millisecond (CloudWatch's precision), as milliseconds since the
/// Unix epoch. Serialized as RFC 3339.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp(i64);

impl Timestamp {
    /// Now, by the system clock.
    pub fn now() -> Self {
        Self::from(SystemTime::now())
    }

    /// From milliseconds since the epoch.
    pub const fn from_millis(millis: i64) -> Self {
        Self(millis)
    }

    /// From the wire's epoch seconds (fractions kept to the millisecond); `None` when not a
    /// finite number in CloudWatch's range (years 1970 to 9999).
    pub fn from_epoch_seconds(seconds: f64) -> Option<Self> {
        const MAX: f64 = 253_402_300_799.0; // 9999-12-31T23:59:59Z
        if seconds.is_finite() && (0.0..=MAX).contains(&seconds) {
            // In range, so the product fits an i64 exactly enough for milliseconds.
            #[allow(clippy::cast_possible_truncation)]
            Some(Self((seconds * 1000.0).floor() as i64))
        } else {
            None
        }
    }

    /// Milliseconds since the epoch.
    pub fn millis(self) -> i64 {
        self.0
    }

    /// Seconds since the epoch, as the wire carries them.
    #[allow(clippy::cast_precision_loss)]
    pub fn epoch_seconds(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    /// This time plus `millis` (negative: minus).
    pub fn plus_millis(self, millis: i64) -> Self {
        Self(self.0.saturating_add(millis))
    }

    /// The start of the `period_ms`-long bucket holding this time, buckets aligned on the epoch.
    pub fn floor_to(self, period_ms: i64) -> Self {
        Self(self.0.div_euclid(period_ms.max(1)) * period_ms.max(1))
    }

    fn to_chrono(self) -> Option<chrono::DateTime<chrono::Utc>> {
        chrono::DateTime::from_timestamp_millis(self.0)
    }
}

impl From<SystemTime> for Timestamp {
    fn from(t: SystemTime) -> Self {
        let millis = match t.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
        };
        Self(millis)
    }
}

impl From<Timestamp> for SystemTime {
    fn from(t: Timestamp) -> Self {
        let magnitude = Duration::from_millis(t.0.unsigned_abs());
        if t.0 >= 0 {
            UNIX_EPOCH + magnitude
        } else {
            UNIX_EPOCH - magnitude
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_chrono() {
            Some(t) => write!(
                f,
                "{}",
                t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            ),
            None => write!(f, "{} ms since the epoch", self.0),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// How much faster than AWS the local clock runs its periods: an alarm with `Period` P is
/// evaluated every `P × scale`, over periods of that length, and a health check with a
/// request interval of 10 s runs every `10 s × scale`. `1` is AWS's own pace; `0.1` makes a
/// 10-second alarm period last one second. Timestamps are never scaled: datapoints keep the
/// wall-clock times clients give them.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize)]
#[serde(transparent)]
pub struct TimeScale(f64);

impl TimeScale {
    /// AWS's pace.
    pub const AWS: Self = Self(1.0);

    /// A scale in (0, 1]: the local world runs periods faster than AWS, never slower.
    pub fn new(factor: f64) -> Result<Self, Invalid> {
        if factor.is_finite() && factor > 0.0 && factor <= 1.0 {
            Ok(Self(factor))
        } else {
            Err(Invalid(format!(
                "a time scale must be greater than 0 and at most 1, not {factor}"
            )))
        }
    }

    /// The factor.
    pub fn factor(self) -> f64 {
        self.0
    }

    /// `seconds` of AWS time in local milliseconds (at least 1).
    pub fn millis(self, seconds: u32) -> i64 {
        // At most u32::MAX × 1000, far inside f64's exact integers and i64's range.
        #[allow(clippy::cast_possible_truncation)]
        let ms = (f64::from(seconds) * 1000.0 * self.0).round() as i64;
        ms.max(1)
    }

    /// `seconds` of AWS time as a local duration.
    pub fn duration(self, seconds: u32) -> Duration {
        Duration::from_millis(self.millis(seconds).unsigned_abs())
    }
}

impl Default for TimeScale {
    fn default() -> Self {
        Self::AWS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_follow_cloudwatch_rules() {
        for ok in ["MultiRegionApi/Failover", "a", "My App:1#x_y-z.w"] {
            assert!(ok.parse::<Namespace>().is_ok(), "{ok}");
        }
        let aws: Namespace = "AWS/ApiGateway".parse().unwrap();
        assert!(aws.is_reserved());
        assert!(
            !"MultiRegionApi/Failover"
                .parse::<Namespace>()
                .unwrap()
                .is_reserved()
        );
        assert!("".parse::<Namespace>().is_err());
        assert!("   ".parse::<Namespace>().is_err());
        assert!("bad|char".parse::<Namespace>().unwrap_err().0.contains('|'));
        assert!("x".repeat(256).parse::<Namespace>().is_err());
        assert!("x".repeat(255).parse::<Namespace>().is_ok());
    }

    #[test]
    fn dimensions_are_a_set_keyed_by_name() {
        let a = Dimensions::new([("Region", "us-east-1"), ("App", "orders")]).unwrap();
        let b = Dimensions::new([("App", "orders"), ("Region", "us-east-1")]).unwrap();
        assert_eq!(a, b, "order does not make another metric");
        assert_eq!(a.iter().next(), Some(("App", "orders")));
        let twice = Dimensions::new([("App", "a"), ("App", "b")]).unwrap_err();
        assert!(twice.0.contains("twice"), "{twice}");
        assert!(Dimensions::new([("App", "")]).is_err());
        assert!(Dimensions::new([(":x", "v")]).is_err());
        let many: Vec<(String, String)> = (0..31).map(|i| (format!("d{i}"), "v".into())).collect();
        assert!(Dimensions::new(many).unwrap_err().0.contains("30"));
    }

    #[test]
    fn percentiles_parse_as_cloudwatch_names_them() {
        assert_eq!("p99".parse::<Percentile>().unwrap().value(), 99.0);
        assert_eq!("p99.9".parse::<Percentile>().unwrap().to_string(), "p99.9");
        assert_eq!("p0".parse::<Percentile>().unwrap().to_string(), "p0");
        assert_eq!("p100".parse::<Percentile>().unwrap().value(), 100.0);
        for bad in [
            "99", "p", "p100.5", "p-1", "p99.999", "p9e1", "P99", "p.5", "p5.",
        ] {
            assert!(bad.parse::<Percentile>().is_err(), "{bad}");
        }
        assert_eq!(
            AlarmStatistic::from(Statistic::Maximum).to_string(),
            "Maximum"
        );
    }

    #[test]
    fn enums_parse_their_wire_spelling_only() {
        assert_eq!("Maximum".parse::<Statistic>().unwrap(), Statistic::Maximum);
        assert!("maximum".parse::<Statistic>().is_err());
        assert!(
            "p99"
                .parse::<Statistic>()
                .unwrap_err()
                .0
                .contains("SampleCount")
        );
        assert_eq!(
            "Bytes/Second".parse::<Unit>().unwrap(),
            Unit::BytesPerSecond
        );
        assert_eq!(AlarmState::InsufficientData.as_str(), "INSUFFICIENT_DATA");
        assert_eq!(
            "notBreaching".parse::<TreatMissingData>().unwrap(),
            TreatMissingData::NotBreaching
        );
    }

    #[test]
    fn comparison_operators_compare_as_named() {
        use ComparisonOperator::*;
        assert!(GreaterThanOrEqualToThreshold.breaches(1.0, 1.0));
        assert!(!GreaterThanThreshold.breaches(1.0, 1.0));
        assert!(LessThanThreshold.breaches(0.5, 1.0));
        assert!(LessThanOrEqualToThreshold.breaches(1.0, 1.0));
        assert!(!LessThanOrEqualToThreshold.breaches(1.5, 1.0));
    }

    #[test]
    fn periods_take_cloudwatch_values() {
        for ok in [1, 5, 10, 30, 60, 120, 3600] {
            assert!(Period::for_query(ok).is_ok(), "{ok}");
        }
        for bad in [0, -60, 2, 45, 90] {
            assert!(Period::for_query(bad).is_err(), "{bad}");
        }
        for ok in [10, 20, 30, 60, 300] {
            assert!(Period::for_alarm(ok).is_ok(), "{ok}");
        }
        for bad in [1, 5, 15, 61] {
            assert!(Period::for_alarm(bad).is_err(), "{bad}");
        }
        assert_eq!(Period::for_alarm(10).unwrap().millis(), 10_000);
    }

    #[test]
    fn timestamps_round_trip_epoch_seconds_to_the_millisecond() {
        let t = Timestamp::from_epoch_seconds(1_700_000_000.123_9).unwrap();
        assert_eq!(t.millis(), 1_700_000_000_123);
        assert_eq!(t.to_string(), "2023-11-14T22:13:20.123Z");
        assert!(Timestamp::from_epoch_seconds(f64::NAN).is_none());
        assert!(Timestamp::from_epoch_seconds(-1.0).is_none());
        assert_eq!(
            Timestamp::from_millis(12_345).floor_to(10_000).millis(),
            10_000
        );
        let now = Timestamp::now();
        assert_eq!(Timestamp::from(SystemTime::from(now)), now);
    }

    #[test]
    fn time_scale_shortens_periods() {
        let tenth = TimeScale::new(0.1).unwrap();
        assert_eq!(tenth.millis(10), 1000);
        assert_eq!(TimeScale::AWS.millis(10), 10_000);
        assert_eq!(
            TimeScale::new(0.000_001).unwrap().millis(10),
            1,
            "never zero"
        );
        for bad in [0.0, -1.0, 1.5, f64::NAN] {
            assert!(TimeScale::new(bad).is_err(), "{bad}");
        }
    }
}
