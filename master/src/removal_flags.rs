//! The two flags that hold back marking agents unreachable, as Mesos spells them:
//! `--recovery_agent_removal_limit` (a percentage) and `--agent_removal_rate_limit`
//! (`<permits>/<duration>`, e.g. `1/10mins`).

use std::fmt;
use std::time::Duration;

/// `--recovery_agent_removal_limit`: the most of the agents recovered from the
/// registry that may be marked unreachable for not re-registering; more, and the
/// master fails over instead. Kept as the text given, for `/flags`, and as a fraction.
#[derive(Debug, Clone, PartialEq)]
pub struct RecoveryRemovalLimit {
    given: String,
    fraction: f64,
}

/// Mesos's default: any number of them.
pub const DEFAULT_RECOVERY_AGENT_REMOVAL_LIMIT: &str = "100%";

impl RecoveryRemovalLimit {
    /// Parses `<number>%`, the number from 0 to 100. The error says what is wrong,
    /// for the caller to name the flag.
    pub fn parse(text: &str) -> Result<RecoveryRemovalLimit, String> {
        let Some(number) = text.trim().strip_suffix('%') else {
            return Err(format!("'{text}' is not a percentage (e.g. 50%)"));
        };
        match number.trim().parse::<f64>() {
            Ok(percent) if (0.0..=100.0).contains(&percent) => Ok(RecoveryRemovalLimit {
                given: text.trim().to_string(),
                fraction: percent / 100.0,
            }),
            _ => Err(format!("'{text}' is not a percentage from 0% to 100%")),
        }
    }

    /// The limit as a fraction of the recovered agents, 0.0 to 1.0.
    pub fn fraction(&self) -> f64 {
        self.fraction
    }
}

impl Default for RecoveryRemovalLimit {
    fn default() -> Self {
        RecoveryRemovalLimit {
            given: DEFAULT_RECOVERY_AGENT_REMOVAL_LIMIT.to_string(),
            fraction: 1.0,
        }
    }
}

impl fmt::Display for RecoveryRemovalLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.given)
    }
}

/// `--agent_removal_rate_limit`: at most `permits` agents marked unreachable per
/// `per`, spaced evenly (one every `per / permits`), as Mesos's rate limiter does.
#[derive(Debug, Clone, PartialEq)]
pub struct RemovalRate {
    given: String,
    permits: u32,
    per: Duration,
}

impl RemovalRate {
    /// Parses `<permits>/<duration>` (`1/10mins`, `2/3hrs`): permits a whole number
    /// above zero, the duration above zero.
    pub fn parse(text: &str) -> Result<RemovalRate, String> {
        let shape = || format!("'{text}' is not a rate such as 1/10mins");
        let (permits, per) = text.trim().split_once('/').ok_or_else(shape)?;
        let permits: u32 = permits.trim().parse().map_err(|_| shape())?;
        if permits == 0 {
            return Err(format!("'{text}': the number of agents must be above zero"));
        }
        let per =
            ratufa_proto::duration::parse(per.trim()).map_err(|e| format!("'{text}': {e}"))?;
        if per.is_zero() {
            return Err(format!("'{text}': the duration must be above zero"));
        }
        Ok(RemovalRate {
            given: text.trim().to_string(),
            permits,
            per,
        })
    }

    /// How long after one removal the next may start.
    pub fn interval(&self) -> Duration {
        self.per / self.permits
    }
}

impl fmt::Display for RemovalRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.given)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_parse_to_fractions_and_others_are_refused() {
        assert_eq!(RecoveryRemovalLimit::parse("100%").unwrap().fraction(), 1.0);
        assert_eq!(RecoveryRemovalLimit::parse("25%").unwrap().fraction(), 0.25);
        assert_eq!(RecoveryRemovalLimit::parse("0%").unwrap().fraction(), 0.0);
        assert_eq!(
            RecoveryRemovalLimit::parse("50%").unwrap().to_string(),
            "50%"
        );
        for bad in ["50", "101%", "-1%", "x%", "", "%"] {
            let error = RecoveryRemovalLimit::parse(bad).unwrap_err();
            assert!(error.contains("percentage"), "{bad}: {error}");
        }
        assert_eq!(RecoveryRemovalLimit::default().fraction(), 1.0);
    }

    #[test]
    fn rates_parse_to_intervals_and_others_are_refused() {
        let rate = RemovalRate::parse("1/10mins").unwrap();
        assert_eq!(rate.interval(), Duration::from_secs(600));
        assert_eq!(rate.to_string(), "1/10mins");
        assert_eq!(
            RemovalRate::parse("4/2secs").unwrap().interval(),
            Duration::from_millis(500)
        );
        for bad in [
            "10mins", "0/1mins", "x/1mins", "1/0secs", "1/soon", "/1mins", "-1/1mins",
        ] {
            assert!(RemovalRate::parse(bad).is_err(), "{bad}");
        }
    }
}
