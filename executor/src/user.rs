//! Running a task as its user: the account is looked up before the process starts, so
//! that the child only makes the three system calls that change its identity (see
//! `Spawn::switch_user`).

use std::ffi::CString;

/// The most a password entry's strings may take (its buffer grows to this on ERANGE).
const MAX_ENTRY_BYTES: usize = 1024 * 1024;

/// Who a task runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: libc::uid_t,
    pub gid: libc::gid_t,
    /// Supplementary groups, as initgroups would set them.
    pub groups: Vec<libc::gid_t>,
}

/// The account to switch a task to, or `None` to keep ours: only root can switch,
/// and running as root needs no switch. An unknown user is an error naming it.
pub fn account_to_switch_to(user: &str) -> Result<Option<Account>, String> {
    // SAFETY: geteuid cannot fail and touches no memory.
    if user.is_empty() || unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let name = c_name(user)?;
    let (uid, gid) = password_entry(user, &name)?;
    if uid == 0 {
        // No switch, so no group list: that look-up goes through every group source
        // (loading NSS modules such as systemd's), dear on every task's path.
        return Ok(None);
    }
    Ok(Some(Account {
        name: user.to_string(),
        uid,
        gid,
        groups: group_list(&name, gid),
    }))
}

/// [`account_to_switch_to`], each user looked up once: an executor running task
/// after task as one user read the password database (and stat'd nsswitch.conf) for
/// every one of them. Only found users are kept; a user missing now is looked up
/// again next time. A change to an account while the executor runs is not seen, as
/// a process started earlier would not see it either.
#[derive(Debug, Default)]
pub struct Accounts {
    known: std::cell::RefCell<std::collections::HashMap<String, Option<Account>>>,
}

impl Accounts {
    pub fn to_switch_to(&self, user: &str) -> Result<Option<Account>, String> {
        if let Some(known) = self.known.borrow().get(user) {
            return Ok(known.clone());
        }
        let account = account_to_switch_to(user)?;
        self.known
            .borrow_mut()
            .insert(user.to_string(), account.clone());
        Ok(account)
    }
}

/// Looks `user` up in the password database, with its groups.
pub fn lookup(user: &str) -> Result<Account, String> {
    let name = c_name(user)?;
    let (uid, gid) = password_entry(user, &name)?;
    Ok(Account {
        name: user.to_string(),
        uid,
        gid,
        groups: group_list(&name, gid),
    })
}

fn c_name(user: &str) -> Result<CString, String> {
    CString::new(user).map_err(|_| format!("user '{user}' has a NUL in its name"))
}

/// The uid and primary gid of `user` (`name` is the same as a C string).
fn password_entry(user: &str, name: &CString) -> Result<(libc::uid_t, libc::gid_t), String> {
    // Most entries are a line of well under a kilobyte; ERANGE asks for more.
    let mut buf = vec![0 as libc::c_char; 1024];
    // SAFETY: zeroed passwd is a valid value for an out-parameter of plain fields.
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    let rc = loop {
        // SAFETY: every pointer is to memory we own, `buf.len()` is its true size.
        let rc = unsafe {
            libc::getpwnam_r(
                name.as_ptr(),
                &mut entry,
                buf.as_mut_ptr(),
                buf.len(),
                &mut found,
            )
        };
        if rc != libc::ERANGE || buf.len() >= MAX_ENTRY_BYTES {
            break rc;
        }
        buf.resize(buf.len() * 4, 0);
    };
    if rc != 0 {
        return Err(format!(
            "cannot look up user '{user}': {}",
            std::io::Error::from_raw_os_error(rc)
        ));
    }
    if found.is_null() {
        return Err(format!("user '{user}' does not exist on this agent"));
    }
    Ok((entry.pw_uid, entry.pw_gid))
}

/// The supplementary groups of `name`, as initgroups would set them.
fn group_list(name: &CString, gid: libc::gid_t) -> Vec<libc::gid_t> {
    let mut groups: Vec<libc::gid_t> = vec![0; 64];
    loop {
        let mut count = libc::c_int::try_from(groups.len()).unwrap_or(libc::c_int::MAX);
        // SAFETY: `groups` holds `count` entries; getgrouplist writes at most that many
        // and reports the number it needs.
        let rc = unsafe { libc::getgrouplist(name.as_ptr(), gid, groups.as_mut_ptr(), &mut count) };
        let count = usize::try_from(count).unwrap_or(0);
        if rc >= 0 {
            groups.truncate(count);
            break;
        }
        if count <= groups.len() {
            // No progress possible; run with the primary group only.
            groups = vec![gid];
            break;
        }
        groups.resize(count, 0);
    }
    groups
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn root_is_found_and_needs_no_switch() {
        let root = lookup("root").unwrap();
        assert_eq!((root.uid, root.gid), (0, 0));
        assert_eq!(account_to_switch_to("root").unwrap(), None);
        assert_eq!(account_to_switch_to("").unwrap(), None);
    }

    #[test]
    fn another_user_is_switched_to_with_its_groups() {
        let nobody = account_to_switch_to("nobody").unwrap().unwrap();
        assert_eq!(nobody, lookup("nobody").unwrap());
        assert_ne!(nobody.uid, 0);
        // getgrouplist lists the primary group among the supplementary ones.
        assert!(nobody.groups.contains(&nobody.gid), "{nobody:?}");
    }

    #[test]
    fn accounts_are_kept_once_found_and_a_missing_one_is_asked_again() {
        let accounts = Accounts::default();
        let nobody = accounts.to_switch_to("nobody").unwrap();
        assert_eq!(nobody, account_to_switch_to("nobody").unwrap());
        assert!(accounts.known.borrow().contains_key("nobody"));
        assert_eq!(accounts.to_switch_to("nobody").unwrap(), nobody);
        assert_eq!(accounts.to_switch_to("root").unwrap(), None);
        let missing = accounts.to_switch_to("no-such-user-ratufa").unwrap_err();
        assert!(missing.contains("does not exist"), "{missing}");
        assert!(!accounts.known.borrow().contains_key("no-such-user-ratufa"));
    }

    #[test]
    fn an_unknown_user_is_named() {
        let message = lookup("no-such-user-ratufa").unwrap_err();
        assert!(message.contains("'no-such-user-ratufa'"), "{message}");
        assert!(message.contains("does not exist"), "{message}");
    }
}
