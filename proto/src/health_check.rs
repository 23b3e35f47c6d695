//! Which kind of health check a HealthCheck is: the master validates by it and the
//! executors run by it, so both must read a HealthCheck the same way.

use crate::v1::HealthCheck;
use crate::v1::health_check::Type;

/// The kind of `check`: its `type` when set (`None` for a number that names no
/// kind); without one, whichever of `command` and `http` alone is set, as Mesos's
/// master reads checks from frameworks written before `type` existed. `None` when
/// neither or both are set.
pub fn kind(check: &HealthCheck) -> Option<Type> {
    match check.r#type {
        Some(kind) => Type::try_from(kind).ok(),
        None => match (check.command.is_some(), check.http.is_some()) {
            (true, false) => Some(Type::Command),
            (false, true) => Some(Type::Http),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::CommandInfo;
    use crate::v1::health_check::HttpCheckInfo as Http;

    #[test]
    fn a_set_type_wins_and_a_missing_one_is_inferred_only_when_unambiguous() {
        let command = Some(CommandInfo::default());
        let http = Some(Http::default());
        let check = |r#type, command: &Option<CommandInfo>, http: &Option<Http>| HealthCheck {
            r#type,
            command: command.clone(),
            http: http.clone(),
            ..HealthCheck::default()
        };
        assert_eq!(
            kind(&check(Some(Type::Tcp as i32), &command, &None)),
            Some(Type::Tcp)
        );
        assert_eq!(kind(&check(Some(99), &command, &None)), None);
        assert_eq!(kind(&check(None, &command, &None)), Some(Type::Command));
        assert_eq!(kind(&check(None, &None, &http)), Some(Type::Http));
        assert_eq!(kind(&check(None, &command, &http)), None);
        assert_eq!(kind(&check(None, &None, &None)), None);
    }
}
