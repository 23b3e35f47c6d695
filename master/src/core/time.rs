//! Time as the core sees it: a value handed in with every input, never read from a clock.

use std::ops::Add;
use std::time::{Duration, SystemTime};

use ratufa_proto::v1::TimeInfo;

/// A point in time, measured from an origin the IO layer picks (its start, usually).
///
/// The core only compares and adds times, so the origin does not matter as long as one
/// driver uses the same one throughout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Time(Duration);

impl Time {
    pub const ZERO: Time = Time(Duration::ZERO);

    /// The time `elapsed` after the origin.
    pub const fn from_origin(elapsed: Duration) -> Time {
        Time(elapsed)
    }

    /// How long after the origin this time is.
    pub const fn since_origin(self) -> Duration {
        self.0
    }

    /// `self - earlier`, or zero when `earlier` is later.
    pub fn saturating_since(self, earlier: Time) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

impl Add<Duration> for Time {
    type Output = Time;

    /// Saturates rather than overflowing: a framework may ask for a failover timeout of
    /// years, and "never" is the honest reading of a sum past the end of `Duration`.
    fn add(self, rhs: Duration) -> Time {
        Time(self.0.saturating_add(rhs))
    }
}

/// Where a core's [`Time`] origin falls on the wall clock: what turns a `Time` into
/// the wall-clock [`TimeInfo`] Mesos reports and writes to the registry (nanoseconds
/// since the Unix epoch), which means something to another master and to frameworks,
/// while the core keeps its monotonic `Time` for its timers.
///
/// The default puts the origin at the epoch, so a `TimeInfo` is then the time since
/// the origin: the core's own tests use that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WallClock {
    /// How long after the Unix epoch the origin is.
    origin: Duration,
}

impl WallClock {
    /// A clock whose origin is `origin` on the wall clock (a clock set before the
    /// epoch counts from the epoch).
    pub fn with_origin_at(origin: SystemTime) -> WallClock {
        WallClock {
            origin: origin
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default(),
        }
    }

    /// `time` on the wall clock.
    pub fn at(self, time: Time) -> SystemTime {
        SystemTime::UNIX_EPOCH + self.origin.saturating_add(time.since_origin())
    }

    /// `time` as seconds since the epoch, as `TaskStatus.timestamp` carries it.
    pub fn seconds(self, time: Time) -> f64 {
        self.origin
            .saturating_add(time.since_origin())
            .as_secs_f64()
    }

    /// `time` as nanoseconds since the epoch.
    pub fn time_info(self, time: Time) -> TimeInfo {
        let since_epoch = self.origin.saturating_add(time.since_origin());
        TimeInfo {
            nanoseconds: i64::try_from(since_epoch.as_nanos()).unwrap_or(i64::MAX),
        }
    }
}

/// Converts seconds given as a protobuf double (failover_timeout, refuse_seconds) to a
/// `Duration`: negative, zero and NaN mean "no time at all", huge means "forever".
pub fn seconds_to_duration(seconds: f64) -> Duration {
    if seconds.is_nan() || seconds <= 0.0 {
        Duration::ZERO
    } else {
        Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adding_saturates() {
        let t = Time::from_origin(Duration::from_secs(5));
        assert_eq!(t + Duration::MAX, Time::from_origin(Duration::MAX));
    }

    #[test]
    fn wall_clock_times_count_from_the_epoch_not_the_origin() {
        let origin = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let clock = WallClock::with_origin_at(origin);
        let later = Time::from_origin(Duration::from_millis(2500));
        assert_eq!(
            clock.time_info(later).nanoseconds,
            1_700_000_002_500_000_000
        );
        assert_eq!(clock.at(later), origin + Duration::from_millis(2500));
        assert_eq!(clock.seconds(later), 1_700_000_002.5);
        // The default clock's origin is the epoch: times since the origin.
        assert_eq!(
            WallClock::default().time_info(later).nanoseconds,
            2_500_000_000
        );
        // A clock set before the epoch does not wrap.
        let before = SystemTime::UNIX_EPOCH - Duration::from_secs(5);
        assert_eq!(WallClock::with_origin_at(before), WallClock::default());
    }

    #[test]
    fn seconds_conversion_edges() {
        assert_eq!(seconds_to_duration(-1.0), Duration::ZERO);
        assert_eq!(seconds_to_duration(f64::NAN), Duration::ZERO);
        assert_eq!(seconds_to_duration(1.5), Duration::from_millis(1500));
        assert_eq!(seconds_to_duration(f64::INFINITY), Duration::MAX);
        assert_eq!(seconds_to_duration(1e300), Duration::MAX);
    }
}
