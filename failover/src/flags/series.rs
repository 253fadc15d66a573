//! One flag's published values, minute by minute, and when to publish a new one.
//!
//! The flags are standard-resolution metrics (Route 53 follows only alarms on those), which
//! CloudWatch keeps by the minute, and the alarm on a flag reads each minute's `Maximum`. A 0
//! published in a minute that already holds a 1 is therefore invisible: that minute reads 1,
//! the alarm stays in ALARM, and since it ignores missing data it stays there. A move to the
//! primary publishes exactly that (step 1 sets the flag, step 3 clears it), and so do two
//! moves within a minute. So a value is stamped where it wins:
//!
//! - a 1 now (a minute's Maximum lets it win over any 0 already there), and also at every
//!   later minute already holding a 0 (a clear stamped ahead by an earlier move);
//! - a 0 now, unless a 1 is in this minute or a later one: then at the start of the minute
//!   after the last such 1. It takes effect when that minute begins, at most two minutes away.
//!
//! "Now" is sent without a timestamp: CloudWatch stamps it when it arrives, so an alarm never
//! misses it for having evaluated its period before the call landed. Since CloudWatch's clock
//! is not ours, a value sent now may land in the next minute when now is within [`SKEW`] of
//! its end: a clear after it goes one minute later still.
//!
//! Every reader (the alarm, `failover status`, a fenced instance) then sees the latest value
//! published, at most a minute or two late. Alarm periods must be one minute for this to hold,
//! which is the template's default.

use std::collections::BTreeMap;

/// The flags' granularity: CloudWatch stores standard-resolution data by the minute.
pub const MINUTE_MS: i64 = 60_000;

/// How far CloudWatch's clock (and the call's time in flight) may be from ours.
pub const SKEW: i64 = 5_000;

/// A time, in milliseconds since the Unix epoch.
pub type Millis = i64;

/// The start of the minute holding `at`.
pub fn minute_of(at: Millis) -> Millis {
    at.div_euclid(MINUTE_MS) * MINUTE_MS
}

/// When a published value is stamped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamp {
    /// When CloudWatch receives it (no timestamp sent).
    Now,
    /// At this time: the start of a coming minute.
    At(Millis),
}

/// One flag's values: per minute (its start), whether the flag was set in it (its Maximum).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Series {
    minutes: BTreeMap<Millis, bool>,
}

impl Series {
    /// The series of a GetMetricData answer: per datapoint its time and its Maximum.
    pub fn from_points(points: impl IntoIterator<Item = (Millis, f64)>) -> Self {
        let mut series = Self::default();
        for (at, value) in points {
            series.add(at, value >= 1.0);
        }
        series
    }

    /// Adds a value published with `stamp` at `now`. A value sent now is counted in every
    /// minute CloudWatch may have put it in.
    pub fn record(&mut self, stamp: Stamp, now: Millis, out: bool) {
        match stamp {
            Stamp::Now => {
                self.add(now, out);
                self.add(now + SKEW, out);
            }
            Stamp::At(at) => self.add(at, out),
        }
    }

    fn add(&mut self, at: Millis, out: bool) {
        let minute = self.minutes.entry(minute_of(at)).or_insert(false);
        *minute |= out;
    }

    /// Whether nothing was published (in the window read).
    pub fn is_empty(&self) -> bool {
        self.minutes.is_empty()
    }

    /// The value in effect at `now`, and the minute it was published in: the latest minute at
    /// or before now. `None`: never published in the window read.
    pub fn at(&self, now: Millis) -> Option<(Millis, bool)> {
        self.minutes
            .range(..=minute_of(now))
            .next_back()
            .map(|(&m, &v)| (m, v))
    }

    /// A value already stamped for a minute after now's (the latest such), if any.
    pub fn next(&self, now: Millis) -> Option<(Millis, bool)> {
        self.minutes
            .range(minute_of(now) + 1..)
            .next_back()
            .map(|(&m, &v)| (m, v))
    }

    /// The value once every stamped minute has begun: what the flag settles to.
    pub fn settled(&self) -> Option<bool> {
        self.minutes.values().next_back().copied()
    }

    /// How to publish `out` at `now` so that it is the flag's value from then on (see the
    /// module's docs); the first stamp is when it takes effect.
    pub fn stamps(&self, out: bool, now: Millis) -> Vec<Stamp> {
        let this_minute = minute_of(now);
        if out {
            let later_clears = self
                .minutes
                .range(this_minute + 1..)
                .filter(|(_, v)| !**v)
                .map(|(&m, _)| Stamp::At(m));
            std::iter::once(Stamp::Now).chain(later_clears).collect()
        } else {
            let last_set = self
                .minutes
                .range(this_minute..)
                .filter(|(_, v)| **v)
                .map(|(&m, _)| m)
                .next_back();
            vec![last_set.map_or(Stamp::Now, |m| Stamp::At(m + MINUTE_MS))]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Millis = 1_800_000_000_000; // a minute start
    const NOW: Millis = T0 + 12_345;

    fn series(points: &[(Millis, bool)]) -> Series {
        let mut s = Series::default();
        for &(at, out) in points {
            s.record(Stamp::At(at), at, out);
        }
        s
    }

    /// Publishes `out` at `now` into `s` as stamped; answers when it takes effect.
    fn publish(s: &mut Series, out: bool, now: Millis) -> Stamp {
        let stamps = s.stamps(out, now);
        for &stamp in &stamps {
            s.record(stamp, now, out);
        }
        stamps[0]
    }

    #[test]
    fn a_minute_keeps_its_maximum() {
        let s = series(&[(T0 + 1, true), (T0 + 2, false)]);
        assert_eq!(s.at(NOW), Some((T0, true)));
        assert_eq!(
            Series::from_points([(T0, 0.0), (T0 + 5, 1.0)]).at(NOW),
            Some((T0, true))
        );
    }

    #[test]
    fn never_published_reads_as_nothing_and_values_hold_until_replaced() {
        assert_eq!(Series::default().at(NOW), None);
        let s = series(&[(T0 - 10 * MINUTE_MS, true)]);
        assert_eq!(s.at(NOW), Some((T0 - 10 * MINUTE_MS, true)));
        assert_eq!(s.next(NOW), None);
    }

    #[test]
    fn a_clear_after_a_set_in_the_same_minute_waits_for_the_next_minute() {
        // A move to the primary: step 1 sets the flag, step 3 clears it a moment later.
        let mut s = Series::default();
        assert_eq!(publish(&mut s, true, NOW), Stamp::Now);
        let cleared = publish(&mut s, false, NOW + 5);
        assert_eq!(cleared, Stamp::At(T0 + MINUTE_MS));
        assert_eq!(s.at(NOW + 5), Some((T0, true)), "set until the minute ends");
        assert_eq!(s.next(NOW + 5), Some((T0 + MINUTE_MS, false)));
        assert_eq!(s.at(T0 + MINUTE_MS), Some((T0 + MINUTE_MS, false)));
        assert_eq!(s.settled(), Some(false));
    }

    #[test]
    fn near_the_end_of_a_minute_a_clear_waits_one_minute_more() {
        // The set, sent now, may land in the next minute by CloudWatch's clock.
        let late = T0 + MINUTE_MS - 1_000;
        let mut s = Series::default();
        publish(&mut s, true, late);
        assert_eq!(
            publish(&mut s, false, late + 5),
            Stamp::At(T0 + 2 * MINUTE_MS)
        );
        assert_eq!(s.settled(), Some(false));
    }

    #[test]
    fn a_clear_in_a_minute_without_a_set_takes_effect_now() {
        let mut s = series(&[(T0 - MINUTE_MS, true)]);
        assert_eq!(publish(&mut s, false, NOW), Stamp::Now);
        assert_eq!(s.at(NOW), Some((T0, false)));
    }

    #[test]
    fn a_set_overrides_a_clear_stamped_ahead() {
        // Move to the primary (clear stamped for the next minute), then straight back.
        let mut s = Series::default();
        publish(&mut s, true, NOW);
        publish(&mut s, false, NOW + 1);
        let stamps = s.stamps(true, NOW + 2);
        assert_eq!(stamps, vec![Stamp::Now, Stamp::At(T0 + MINUTE_MS)]);
        for stamp in stamps {
            s.record(stamp, NOW + 2, true);
        }
        assert_eq!(s.settled(), Some(true), "the later move wins");
        // And back again: the clear goes after the override.
        assert_eq!(
            publish(&mut s, false, NOW + 3),
            Stamp::At(T0 + 2 * MINUTE_MS)
        );
        assert_eq!(s.settled(), Some(false));
    }

    #[test]
    fn every_sequence_of_moves_settles_to_the_last_value_published() {
        // Any sequence of up to 6 publishes, 10 s apart, from any second of a minute: the
        // flag settles to the last one.
        for start in (0..MINUTE_MS).step_by(7_000) {
            for pattern in 0u32..(1 << 6) {
                for len in 1..=6 {
                    let mut s = Series::default();
                    let mut last = false;
                    for i in 0..len {
                        last = pattern & (1 << i) != 0;
                        publish(&mut s, last, T0 + start + i64::from(i) * 10_000);
                    }
                    assert_eq!(
                        s.settled(),
                        Some(last),
                        "pattern {pattern:06b}, {len} moves"
                    );
                }
            }
        }
    }
}
