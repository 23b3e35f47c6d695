//! Role names as reservations carry them.
//!
//! The master validates framework roles with this same function (re-exported as
//! `core::roles::validate_role`); it lives here because reservations in resources must
//! be checked wherever resources are read.

/// Whitespace and DEL: Mesos refuses them in role components, since roles become
/// paths and appear unquoted in flags.
const INVALID_CHARACTERS: &[char] = &['\t', '\n', '\x0b', '\x0c', '\r', ' ', '\x7f'];

/// Checks one role name as Mesos does: `*` alone is fine; otherwise a `/`-separated
/// path of components, none empty, `.`, `..` or `*`, none starting with `-`, none
/// holding whitespace or DEL.
pub fn validate_role_name(role: &str) -> Result<(), String> {
    if role == "*" {
        return Ok(());
    }
    if role.is_empty() {
        return Err("Role names cannot be the empty string".to_string());
    }
    if role.starts_with('/') {
        return Err(format!("Role '{role}' cannot start with a slash"));
    }
    if role.ends_with('/') {
        return Err(format!("Role '{role}' cannot end with a slash"));
    }
    if role.contains("//") {
        return Err(format!("Role '{role}' cannot contain two adjacent slashes"));
    }
    for component in role.split('/') {
        if matches!(component, "." | ".." | "*") {
            return Err(format!(
                "Role '{role}' cannot include '{component}' as a component"
            ));
        }
        if component.starts_with('-') {
            return Err(format!(
                "Role component '{component}' is invalid because it starts with a dash"
            ));
        }
        if component.contains(INVALID_CHARACTERS) {
            return Err(format!(
                "Role component '{component}' is invalid because it contains backspace or \
                 whitespace"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names() {
        for ok in ["*", "a", "a/b", "a.b", "a-b"] {
            assert_eq!(validate_role_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "", "/a", "a/", "a//b", ".", "a/..", "a/*", "-a", "a b", "a\x7f",
        ] {
            assert!(validate_role_name(bad).is_err(), "{bad:?}");
        }
    }
}
