//! Time as the core sees it: a value handed in with every input, never read from a clock.

use std::ops::Add;
use std::time::Duration;

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
    fn seconds_conversion_edges() {
        assert_eq!(seconds_to_duration(-1.0), Duration::ZERO);
        assert_eq!(seconds_to_duration(f64::NAN), Duration::ZERO);
        assert_eq!(seconds_to_duration(1.5), Duration::from_millis(1500));
        assert_eq!(seconds_to_duration(f64::INFINITY), Duration::MAX);
        assert_eq!(seconds_to_duration(1e300), Duration::MAX);
    }
}
