//! Mesos's duration syntax for flags: a number followed by a unit, e.g. `15secs`,
//! `500ms`, `1mins`, `2weeks`, `0.5hrs`. Public so that every crate reading a Mesos
//! duration (the binary's flags, the executor's MESOS_RECOVERY_TIMEOUT and friends) reads
//! it the same way.

use std::time::Duration;

use crate::ProtoError;

fn invalid(input: &str, message: String) -> ProtoError {
    ProtoError::InvalidDuration {
        input: input.to_owned(),
        message,
    }
}

/// Parses a Mesos duration. Units: ns, us, ms, secs, mins, hrs, days, weeks.
pub fn parse(text: &str) -> Result<Duration, ProtoError> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| {
            invalid(
                text,
                "it has no unit; expected e.g. 15secs, 500ms, 1mins".into(),
            )
        })?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| invalid(text, format!("'{number}' is not a number")))?;
    let seconds_per_unit = match unit {
        "ns" => 1e-9,
        "us" => 1e-6,
        "ms" => 1e-3,
        "secs" => 1.0,
        "mins" => 60.0,
        "hrs" => 3600.0,
        "days" => 86_400.0,
        "weeks" => 604_800.0,
        other => {
            return Err(invalid(
                text,
                format!(
                    "unknown unit '{other}'; expected one of ns, us, ms, secs, mins, hrs, days, weeks"
                ),
            ));
        }
    };
    Duration::try_from_secs_f64(value * seconds_per_unit).map_err(|e| invalid(text, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> Option<Duration> {
        parse(text).ok()
    }

    fn parse_err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn mesos_units() {
        assert_eq!(parse_ok("15secs"), Some(Duration::from_secs(15)));
        assert_eq!(parse_ok("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_ok("1mins"), Some(Duration::from_secs(60)));
        assert_eq!(parse_ok("2weeks"), Some(Duration::from_secs(2 * 604_800)));
        assert_eq!(parse_ok("0.5hrs"), Some(Duration::from_secs(1800)));
        assert_eq!(parse_ok("3days"), Some(Duration::from_secs(3 * 86_400)));
        assert_eq!(parse_ok("10us"), Some(Duration::from_micros(10)));
        assert_eq!(parse_ok("7ns"), Some(Duration::from_nanos(7)));
    }

    #[test]
    fn bad_durations_say_what_is_wrong() {
        assert!(parse_err("15").contains("no unit"));
        assert!(parse_err("15seconds").contains("unknown unit"));
        assert!(parse_err("secs").contains("not a number"));
        assert!(parse_err("1.2.3secs").contains("not a number"));
    }
}
