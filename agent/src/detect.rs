//! The resources an agent offers: what `--resources` says, plus what it leaves out of
//! cpus, mem, disk and ports, detected as Mesos's agent does.

use std::path::Path;

use ratufa_proto::resources::Resources;
use ratufa_proto::v1::Attribute;

use crate::AgentError;

const MIB: u64 = 1024 * 1024;
/// Memory kept back for the system: min(1 GiB, half).
const MEM_RESERVED: u64 = 1024 * MIB;
/// Disk kept back: min(5 GiB, half).
const DISK_RESERVED: u64 = 5 * 1024 * MIB;
/// Mesos's default port range.
const DEFAULT_PORTS: &str = "[31000-32000]";

/// The agent's total resources: `flag` (Mesos's text or JSON form) with the missing
/// standard ones detected, each in `default_role`.
pub fn resources(
    flag: Option<&str>,
    default_role: &str,
    work_dir: &Path,
) -> Result<Resources, AgentError> {
    let bad = |reason: String| AgentError::BadFlag {
        flag: "--resources",
        given: flag.unwrap_or_default().to_string(),
        reason,
    };
    let mut total = match flag {
        Some(text) if !text.trim().is_empty() => {
            Resources::parse(text, default_role).map_err(|e| bad(e.to_string()))?
        }
        _ => Resources::new(),
    };
    let has = |total: &Resources, name: &str| total.iter().any(|r| r.name == name);

    let mut detected = Vec::new();
    if !has(&total, "cpus") {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        detected.push(format!("cpus:{cpus}"));
    }
    if !has(&total, "mem") {
        let total_bytes = total_memory().unwrap_or(0);
        detected.push(format!(
            "mem:{}",
            kept_back(total_bytes, MEM_RESERVED) / MIB
        ));
    }
    if !has(&total, "disk") {
        let total_bytes = filesystem_size(work_dir).unwrap_or(0);
        detected.push(format!(
            "disk:{}",
            kept_back(total_bytes, DISK_RESERVED) / MIB
        ));
    }
    if !has(&total, "ports") {
        detected.push(format!("ports:{DEFAULT_PORTS}"));
    }
    if !detected.is_empty() {
        let text = detected.join(";");
        total += &Resources::parse(&text, default_role)
            .map_err(|e| bad(format!("detected resources '{text}': {e}")))?;
    }
    Ok(total)
}

/// `--attributes`, parsed.
pub fn attributes(flag: Option<&str>) -> Result<Vec<Attribute>, AgentError> {
    match flag {
        Some(text) if !text.trim().is_empty() => ratufa_proto::resources::parse_attributes(text)
            .map_err(|e| AgentError::BadFlag {
                flag: "--attributes",
                given: text.to_string(),
                reason: e.to_string(),
            }),
        _ => Ok(Vec::new()),
    }
}

/// `total` less what the system keeps: min(`reserve`, half of it).
fn kept_back(total: u64, reserve: u64) -> u64 {
    total - reserve.min(total / 2)
}

/// MemTotal from /proc/meminfo, in bytes.
fn total_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The size of the filesystem holding `path`, in bytes.
fn filesystem_size(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs writes only into the zeroed struct we pass; c_path is a valid C
    // string that outlives the call.
    let stat = unsafe {
        let mut stat: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c_path.as_ptr(), &mut stat) != 0 {
            return None;
        }
        stat
    };
    // fsblkcnt_t and c_ulong are u64 here but narrower on other targets.
    #[allow(clippy::useless_conversion)]
    let size = u64::from(stat.f_blocks).saturating_mul(u64::from(stat.f_frsize));
    Some(size)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn system_share_is_the_smaller_of_the_cap_and_half() {
        assert_eq!(kept_back(8 * 1024 * MIB, MEM_RESERVED), 7 * 1024 * MIB);
        assert_eq!(kept_back(1024 * MIB, MEM_RESERVED), 512 * MIB);
        assert_eq!(kept_back(0, MEM_RESERVED), 0);
    }

    #[test]
    fn given_resources_win_and_the_rest_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let total = resources(Some("cpus:4;mem:1024"), "*", dir.path()).unwrap();
        assert_eq!(total.cpus(), 4.0);
        assert_eq!(total.mem(), 1024.0);
        assert!(total.disk() > 0.0, "{total}");
        assert_eq!(total.ranges("ports"), vec![(31000, 32000)]);

        let detected = resources(None, "*", dir.path()).unwrap();
        assert!(detected.cpus() >= 1.0);
        assert!(detected.mem() > 0.0);
    }

    #[test]
    fn detected_resources_take_the_default_role() {
        let dir = tempfile::tempdir().unwrap();
        let total = resources(Some("cpus(prod):2"), "dev", dir.path()).unwrap();
        assert_eq!(total.reserved_to("prod").cpus(), 2.0);
        assert_eq!(total.reserved_to("dev").cpus(), 0.0);
        assert!(total.reserved_to("dev").mem() > 0.0);
    }

    #[test]
    fn bad_flags_say_which() {
        let dir = tempfile::tempdir().unwrap();
        let error = resources(Some("cpus:lots"), "*", dir.path()).unwrap_err();
        assert!(error.to_string().contains("--resources"), "{error}");
        let error = attributes(Some("rack")).unwrap_err();
        assert!(error.to_string().contains("--attributes"), "{error}");
    }
}
