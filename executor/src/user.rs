//! Running a task as its user: the account is looked up before the fork, so that the
//! child only makes the three system calls that change its identity.

use std::ffi::CString;

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
    let account = lookup(user)?;
    Ok((account.uid != 0).then_some(account))
}

/// Looks `user` up in the password database, with its groups.
pub fn lookup(user: &str) -> Result<Account, String> {
    let name = CString::new(user).map_err(|_| format!("user '{user}' has a NUL in its name"))?;
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: zeroed passwd is a valid value for an out-parameter of plain fields.
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
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
    if rc != 0 {
        return Err(format!(
            "cannot look up user '{user}': {}",
            std::io::Error::from_raw_os_error(rc)
        ));
    }
    if found.is_null() {
        return Err(format!("user '{user}' does not exist on this agent"));
    }
    let (uid, gid) = (entry.pw_uid, entry.pw_gid);
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
    Ok(Account {
        name: user.to_string(),
        uid,
        gid,
        groups,
    })
}

/// Has the child become `account` (groups, then gid, then uid: each needs the
/// privilege the next one drops) between fork and exec.
pub fn switch_in_child(command: &mut tokio::process::Command, account: &Account) {
    let Account {
        uid, gid, groups, ..
    } = account.clone();
    // SAFETY: the closure only calls setgroups, setgid and setuid on memory it owns,
    // all async-signal-safe; it allocates nothing.
    unsafe {
        command.pre_exec(move || {
            if libc::setgroups(groups.len(), groups.as_ptr()) != 0
                || libc::setgid(gid) != 0
                || libc::setuid(uid) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
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
    fn an_unknown_user_is_named() {
        let message = lookup("no-such-user-ratufa").unwrap_err();
        assert!(message.contains("'no-such-user-ratufa'"), "{message}");
        assert!(message.contains("does not exist"), "{message}");
    }
}
