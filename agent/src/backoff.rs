//! Mesos's registration backoff: after a new leader is detected the agent waits a
//! random time in [0, factor] before registering, and each failed attempt doubles that
//! bound, capped at one minute (`--registration_backoff_factor`). The randomness
//! spreads out the agents of a cluster that all saw the same leader change.

use std::time::Duration;

use crate::config::MAX_REGISTRATION_BACKOFF;

#[derive(Debug, Clone)]
pub(crate) struct RegistrationBackoff {
    factor: Duration,
    /// Attempts since the last reset: the bound is `factor × 2^attempts`.
    attempts: u32,
}

impl RegistrationBackoff {
    pub(crate) fn new(factor: Duration) -> RegistrationBackoff {
        RegistrationBackoff {
            factor,
            attempts: 0,
        }
    }

    /// Back to the first bound (registered, or a new leader detected).
    pub(crate) fn reset(&mut self) {
        self.attempts = 0;
    }

    /// The bound of the next delay.
    pub(crate) fn bound(&self) -> Duration {
        // 2^6 minutes is past any cap already; stop doubling before overflow.
        let doubling = 1u32 << self.attempts.min(16);
        self.factor
            .saturating_mul(doubling)
            .min(MAX_REGISTRATION_BACKOFF)
    }

    /// The next delay, `fraction` (in [0, 1), a random draw) of the bound; the bound
    /// then doubles.
    pub(crate) fn next(&mut self, fraction: f64) -> Duration {
        let delay = self.bound().mul_f64(fraction.clamp(0.0, 1.0));
        self.attempts = self.attempts.saturating_add(1);
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_doubles_from_the_factor_up_to_a_minute() {
        let mut backoff = RegistrationBackoff::new(Duration::from_secs(1));
        let bounds: Vec<u64> = (0..9)
            .map(|_| {
                let bound = backoff.bound();
                backoff.next(0.5);
                bound.as_secs()
            })
            .collect();
        assert_eq!(bounds, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        // Many more failures: still capped, no overflow.
        for _ in 0..100 {
            backoff.next(0.9);
        }
        assert_eq!(backoff.bound(), MAX_REGISTRATION_BACKOFF);
        backoff.reset();
        assert_eq!(backoff.bound(), Duration::from_secs(1));
    }

    #[test]
    fn each_delay_lies_between_zero_and_its_bound() {
        let mut backoff = RegistrationBackoff::new(Duration::from_millis(300));
        assert_eq!(backoff.next(0.0), Duration::ZERO);
        assert_eq!(backoff.bound(), Duration::from_millis(600));
        assert_eq!(backoff.next(0.5), Duration::from_millis(300));
        // A draw outside [0, 1] is held to the bound, never past it.
        assert_eq!(backoff.next(7.0), Duration::from_millis(1200));
        assert_eq!(backoff.next(-1.0), Duration::ZERO);
        for step in 0..50 {
            let fraction = f64::from(step) / 50.0;
            let bound = backoff.bound();
            let delay = backoff.next(fraction);
            assert!(delay <= bound, "{delay:?} > {bound:?}");
        }
    }

    #[test]
    fn a_zero_factor_registers_at_once() {
        let mut backoff = RegistrationBackoff::new(Duration::ZERO);
        for _ in 0..5 {
            assert_eq!(backoff.next(0.99), Duration::ZERO);
        }
    }
}
