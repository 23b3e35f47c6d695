//! The allocator's settings and the Mesos flags and fields they come from.

use std::time::Duration;

use ratufa_proto::ProtoError;
use ratufa_proto::resources::Resources;
use ratufa_proto::resources::roles::validate_role_name;
use ratufa_proto::v1::value::Type as ValueType;

use crate::core::seconds_to_duration;

/// `Filters.refuse_seconds` when a DECLINE carries no filters, or a negative one.
pub const DEFAULT_REFUSE_SECONDS: f64 = 5.0;
/// The longest decline filter Mesos accepts: a year. Longer ones are cut to this.
pub const MAX_REFUSE_SECONDS: f64 = 31_536_000.0;

/// How long a decline filter lasts, by Mesos's rules: absent or negative means the
/// default 5 s, zero (or NaN) means no filter, anything over a year means a year.
pub fn refuse_duration(refuse_seconds: Option<f64>) -> Option<Duration> {
    let seconds = match refuse_seconds {
        None => DEFAULT_REFUSE_SECONDS,
        Some(s) if s < 0.0 => DEFAULT_REFUSE_SECONDS,
        Some(s) if s.is_nan() || s == 0.0 => return None,
        Some(s) => s.min(MAX_REFUSE_SECONDS),
    };
    let duration = seconds_to_duration(seconds);
    (!duration.is_zero()).then_some(duration)
}

#[derive(Debug, Clone)]
pub struct AllocatorConfig {
    /// An agent's free resources are offered to a role only if they hold at least one
    /// of these quantities (any one suffices); empty means any non-empty remainder.
    /// Mesos's default is `cpus:0.01|mem:32`.
    pub min_allocatable_resources: Vec<Resources>,
    /// Role weights (`--weights`); roles not listed weigh 1.0.
    pub weights: Vec<(String, f64)>,
}

impl Default for AllocatorConfig {
    fn default() -> AllocatorConfig {
        AllocatorConfig {
            min_allocatable_resources: default_min_allocatable_resources(),
            weights: Vec::new(),
        }
    }
}

/// `cpus:0.01` or `mem:32`.
pub fn default_min_allocatable_resources() -> Vec<Resources> {
    // These literals are valid; the fallback only keeps the function total.
    parse_min_allocatable_resources("cpus:0.01|mem:32").unwrap_or_default()
}

/// `--min_allocatable_resources`: `|`-separated alternatives, each a set of scalar
/// quantities in `--resources` syntax without roles (`cpus:0.01|mem:32`).
pub fn parse_min_allocatable_resources(text: &str) -> Result<Vec<Resources>, ProtoError> {
    let mut out = Vec::new();
    for alternative in text.split('|') {
        let resources = Resources::parse(alternative, "*")?;
        let bad = resources
            .iter()
            .find(|r| r.r#type != ValueType::Scalar as i32 || !r.reservations.is_empty());
        if let Some(bad) = bad {
            return Err(ProtoError::ResourceSyntax {
                input: alternative.to_string(),
                message: format!(
                    "only unreserved scalar quantities are allowed, not '{}'",
                    bad.name
                ),
            });
        }
        if resources.is_empty() {
            return Err(ProtoError::ResourceSyntax {
                input: text.to_string(),
                message: "an alternative holds no resources".to_string(),
            });
        }
        out.push(resources);
    }
    Ok(out)
}

/// `--weights`: `role=weight` pairs separated by commas (`prod=3,dev=1`); weights must
/// be positive and roles valid.
pub fn parse_weights(text: &str) -> Result<Vec<(String, f64)>, String> {
    let mut out = Vec::new();
    for pair in text.split(',').filter(|p| !p.trim().is_empty()) {
        let Some((role, weight)) = pair.split_once('=') else {
            return Err(format!("Invalid weight '{pair}': expected role=weight"));
        };
        let role = role.trim();
        validate_role_name(role)?;
        let weight: f64 = weight
            .trim()
            .parse()
            .map_err(|_| format!("Invalid weight '{pair}': not a number"))?;
        if !weight.is_finite() || weight <= 0.0 {
            return Err(format!("Invalid weight '{pair}': weights must be positive"));
        }
        out.push((role.to_string(), weight));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuse_rules() {
        assert_eq!(refuse_duration(None), Some(Duration::from_secs(5)));
        assert_eq!(refuse_duration(Some(-3.0)), Some(Duration::from_secs(5)));
        assert_eq!(refuse_duration(Some(0.0)), None);
        assert_eq!(refuse_duration(Some(f64::NAN)), None);
        assert_eq!(
            refuse_duration(Some(1.5)),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            refuse_duration(Some(1e12)),
            Some(Duration::from_secs(31_536_000))
        );
        assert_eq!(
            refuse_duration(Some(f64::INFINITY)),
            Some(Duration::from_secs(31_536_000))
        );
    }

    #[test]
    fn min_allocatable_syntax() {
        let alts = parse_min_allocatable_resources("cpus:0.01|mem:32;disk:10").expect("valid");
        assert_eq!(alts.len(), 2);
        assert_eq!(alts[0].cpus(), 0.01);
        assert_eq!(alts[1].mem(), 32.0);
        assert_eq!(alts[1].disk(), 10.0);
        assert_eq!(default_min_allocatable_resources().len(), 2);
        assert!(parse_min_allocatable_resources("ports:[1-2]").is_err());
        assert!(parse_min_allocatable_resources("cpus(a):1").is_err());
        assert!(parse_min_allocatable_resources("cpus:1|").is_err());
    }

    #[test]
    fn weights_syntax() {
        assert_eq!(
            parse_weights("a=1, b/c=2.5"),
            Ok(vec![("a".to_string(), 1.0), ("b/c".to_string(), 2.5)])
        );
        assert!(parse_weights("a").is_err());
        assert!(parse_weights("a=0").is_err());
        assert!(parse_weights("a=-1").is_err());
        assert!(parse_weights("a=x").is_err());
        assert!(parse_weights("/a=1").is_err());
        assert_eq!(parse_weights(""), Ok(vec![]));
    }
}
