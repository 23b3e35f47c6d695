//! Mesos's duration syntax for flags: a number followed by a unit, e.g. `15secs`,
//! `500ms`, `1mins`, `2weeks`, `0.5hrs`.

use std::time::Duration;

/// Parses a Mesos duration. Units: ns, us, ms, secs, mins, hrs, days, weeks.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("'{text}' has no unit; expected e.g. 15secs, 500ms, 1mins"))?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("'{number}' in '{text}' is not a number"))?;
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
            return Err(format!(
                "unknown unit '{other}' in '{text}'; expected one of ns, us, ms, secs, mins, hrs, days, weeks"
            ));
        }
    };
    Duration::try_from_secs_f64(value * seconds_per_unit)
        .map_err(|e| format!("'{text}' is not a valid duration: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mesos_units() {
        assert_eq!(parse("15secs"), Ok(Duration::from_secs(15)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("1mins"), Ok(Duration::from_secs(60)));
        assert_eq!(parse("2weeks"), Ok(Duration::from_secs(2 * 604_800)));
        assert_eq!(parse("0.5hrs"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse("3days"), Ok(Duration::from_secs(3 * 86_400)));
        assert_eq!(parse("10us"), Ok(Duration::from_micros(10)));
        assert_eq!(parse("7ns"), Ok(Duration::from_nanos(7)));
    }

    #[test]
    fn bad_durations_say_what_is_wrong() {
        assert!(parse("15").unwrap_err().contains("no unit"));
        assert!(parse("15seconds").unwrap_err().contains("unknown unit"));
        assert!(parse("secs").unwrap_err().contains("not a number"));
        assert!(parse("1.2.3secs").unwrap_err().contains("not a number"));
    }
}
