//! A directory entry as `/files/browse` lists it, in Mesos's shape: `path`, `nlink`,
//! `size`, `mtime` (seconds), `mode` as `ls -l` writes it, `uid` and `gid` as names
//! (numbers when the name is unknown).

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;

use ratufa_proto::v1::{FileInfo, TimeInfo};
use serde_json::{Value, json};

/// The same entry as a `mesos.v1.FileInfo` (the operator API's LIST_FILES): `mode` is
/// the raw `st_mode` there, `mtime` a TimeInfo.
pub fn file_info_proto(path: &str, metadata: &Metadata) -> FileInfo {
    FileInfo {
        path: path.to_string(),
        nlink: i32::try_from(metadata.nlink()).ok(),
        size: Some(metadata.size()),
        mtime: Some(TimeInfo {
            nanoseconds: metadata
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(metadata.mtime_nsec()),
        }),
        mode: Some(metadata.mode()),
        uid: Some(user_name(metadata.uid())),
        gid: Some(group_name(metadata.gid())),
    }
}

pub fn file_info(path: &str, metadata: &Metadata) -> Value {
    json!({
        "path": path,
        "nlink": metadata.nlink(),
        "size": metadata.size(),
        "mtime": metadata.mtime(),
        "mode": mode_string(metadata.mode()),
        "uid": user_name(metadata.uid()),
        "gid": group_name(metadata.gid()),
    })
}

/// `drwxr-xr-x`: the file type letter and the nine permission bits (setuid, setgid
/// and sticky do not show, as in Mesos).
pub fn mode_string(mode: u32) -> String {
    let kind = match mode & libc::S_IFMT {
        libc::S_IFDIR => 'd',
        libc::S_IFCHR => 'c',
        libc::S_IFBLK => 'b',
        libc::S_IFIFO => 'p',
        libc::S_IFLNK => 'l',
        libc::S_IFSOCK => 's',
        _ => '-',
    };
    let mut out = String::with_capacity(10);
    out.push(kind);
    for shift in [6u32, 3, 0] {
        let bits = (mode >> shift) & 0o7;
        out.push(if bits & 0o4 != 0 { 'r' } else { '-' });
        out.push(if bits & 0o2 != 0 { 'w' } else { '-' });
        out.push(if bits & 0o1 != 0 { 'x' } else { '-' });
    }
    out
}

fn user_name(uid: u32) -> String {
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: an all-zero passwd is a valid value for getpwuid_r to fill.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; buf outlives the use of pwd's strings.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc == 0 && !result.is_null() && !pwd.pw_name.is_null() {
        // SAFETY: getpwuid_r succeeded, so pw_name points at a NUL-terminated name in buf.
        let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
        return name.to_string_lossy().into_owned();
    }
    uid.to_string()
}

fn group_name(gid: u32) -> String {
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: an all-zero group is a valid value for getgrgid_r to fill.
    let mut grp: libc::group = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::group = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; buf outlives the use of grp's strings.
    let rc = unsafe { libc::getgrgid_r(gid, &mut grp, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc == 0 && !result.is_null() && !grp.gr_name.is_null() {
        // SAFETY: getgrgid_r succeeded, so gr_name points at a NUL-terminated name in buf.
        let name = unsafe { std::ffi::CStr::from_ptr(grp.gr_name) };
        return name.to_string_lossy().into_owned();
    }
    gid.to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn modes_read_as_ls_writes_them() {
        assert_eq!(mode_string(libc::S_IFREG | 0o644), "-rw-r--r--");
        assert_eq!(mode_string(libc::S_IFDIR | 0o755), "drwxr-xr-x");
        assert_eq!(mode_string(libc::S_IFLNK | 0o777), "lrwxrwxrwx");
        assert_eq!(mode_string(libc::S_IFREG | 0o4711), "-rwx--x--x");
        assert_eq!(mode_string(libc::S_IFIFO | 0o600), "prw-------");
    }

    #[test]
    fn entries_have_mesos_fields() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("stdout");
        std::fs::write(&file, "hello\n").unwrap();
        let info = file_info("/x/stdout", &std::fs::metadata(&file).unwrap());
        assert_eq!(info["path"], "/x/stdout");
        assert_eq!(info["size"], 6);
        assert_eq!(info["nlink"], 1);
        assert!(info["mode"].as_str().unwrap().starts_with("-rw"));
        assert!(info["mtime"].as_i64().unwrap() > 0);
        // SAFETY: getuid cannot fail.
        let uid = unsafe { libc::getuid() };
        if uid == 0 {
            assert_eq!(info["uid"], "root");
        } else {
            assert!(info["uid"].as_str().is_some_and(|s| !s.is_empty()));
        }
        assert!(info["gid"].as_str().is_some_and(|s| !s.is_empty()));
    }
}
