//! Role names: what a valid role looks like, and which roles a framework is in.

use std::collections::BTreeSet;

use ratufa_proto::v1::FrameworkInfo;
pub use ratufa_proto::v1::framework_info::capability::Type as Capability;

/// The role a non-MULTI_ROLE framework gets when it names none.
pub const DEFAULT_ROLE: &str = "*";

/// Checks one role name as Mesos does (`roles::validate`). One implementation serves
/// both framework roles and the roles reservations carry in resources.
pub use ratufa_proto::resources::roles::validate_role_name as validate_role;

pub fn has_capability(info: &FrameworkInfo, capability: Capability) -> bool {
    info.capabilities
        .iter()
        .any(|c| c.r#type == Some(capability as i32))
}

pub fn is_multi_role(info: &FrameworkInfo) -> bool {
    has_capability(info, Capability::MultiRole)
}

pub fn is_partition_aware(info: &FrameworkInfo) -> bool {
    has_capability(info, Capability::PartitionAware)
}

/// The deprecated single `role` field, with its proto default.
#[allow(deprecated)] // `role` is deprecated in the schema but still what non-MULTI_ROLE frameworks use
pub fn legacy_role(info: &FrameworkInfo) -> &str {
    info.role.as_deref().unwrap_or(DEFAULT_ROLE)
}

#[allow(deprecated)]
pub fn has_legacy_role(info: &FrameworkInfo) -> bool {
    info.role.is_some()
}

/// The roles a framework subscribes to: `roles` for MULTI_ROLE frameworks, otherwise
/// the single `role` (default `*`).
pub fn framework_roles(info: &FrameworkInfo) -> BTreeSet<String> {
    if is_multi_role(info) {
        info.roles.iter().cloned().collect()
    } else {
        BTreeSet::from([legacy_role(info).to_string()])
    }
}

/// Formats a set the way Mesos's messages do: `{ a, b }`.
pub fn format_set<'a>(items: impl IntoIterator<Item = &'a String>) -> String {
    let joined: Vec<&str> = items.into_iter().map(String::as_str).collect();
    format!("{{ {} }}", joined.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_roles() {
        for role in [
            "*", "a", "ads", "a/b", "a/b/c", "a-b", "a.b", "a*", "éclair",
        ] {
            assert_eq!(validate_role(role), Ok(()), "{role}");
        }
    }

    #[test]
    fn invalid_roles() {
        let cases = [
            ("", "cannot be the empty string"),
            (".", "cannot include '.'"),
            ("..", "cannot include '..'"),
            ("a/./b", "cannot include '.'"),
            ("a/../b", "cannot include '..'"),
            ("-a", "starts with a dash"),
            ("a/-b", "starts with a dash"),
            ("/a", "cannot start with a slash"),
            ("a/", "cannot end with a slash"),
            ("/", "cannot start with a slash"),
            ("a//b", "two adjacent slashes"),
            ("a b", "backspace or whitespace"),
            ("a\tb", "backspace or whitespace"),
            ("a\nb", "backspace or whitespace"),
            ("a\x7fb", "backspace or whitespace"),
            ("a/*", "cannot include '*'"),
        ];
        for (role, expected) in cases {
            let err = validate_role(role).expect_err(role);
            assert!(err.contains(expected), "{role:?}: {err}");
        }
    }

    #[test]
    fn set_formatting() {
        let set: BTreeSet<String> = ["b".to_string(), "a".to_string()].into();
        assert_eq!(format_set(&set), "{ a, b }");
    }
}
