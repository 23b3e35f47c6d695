//! What `/proc` says of a process group: Mesos's posix isolators take a container's
//! usage from the processes of its tree; ours is the command's process group.

use std::path::Path;

/// One process, from `/proc/<pid>/stat` (and `statm` for its resident pages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    pub pid: i32,
    pub pgrp: i32,
    /// The session: an executor leads its own, and the tasks it starts in process
    /// groups of their own stay in it.
    pub session: i32,
    /// Clock ticks in user and kernel mode.
    pub utime: u64,
    pub stime: u64,
    pub threads: u64,
    /// When it started, in clock ticks after boot: with the pid, names one process
    /// for as long as the machine runs (a pid alone may be reused).
    pub start_time: u64,
}

/// Parses `/proc/<pid>/stat`. The command name is between the first `(` and the
/// last `)` and may hold spaces and parentheses, so fields are counted after it.
pub fn parse_stat(text: &str) -> Option<ProcStat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let pid = text.get(..open)?.trim().parse().ok()?;
    let fields: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // After the name: state(3) ppid(4) pgrp(5) … utime(14) stime(15) … num_threads(20)
    // … starttime(22).
    let field = |n: usize| fields.get(n - 3).copied();
    Some(ProcStat {
        pid,
        pgrp: field(5)?.parse().ok()?,
        session: field(6)?.parse().ok()?,
        utime: field(14)?.parse().ok()?,
        stime: field(15)?.parse().ok()?,
        threads: field(20)?.parse().ok()?,
        start_time: field(22)?.parse().ok()?,
    })
}

/// Resident pages, the second figure of `/proc/<pid>/statm`.
pub fn parse_statm_resident(text: &str) -> Option<u64> {
    text.split_whitespace().nth(1)?.parse().ok()
}

/// What a process group uses, summed over its processes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct GroupUsage {
    pub processes: u64,
    pub threads: u64,
    pub user_secs: f64,
    pub system_secs: f64,
    pub rss_bytes: u64,
}

/// Sums the processes of group `pgrp` under `proc_root` (`/proc`); `None` when none is
/// left. Processes that end while being read are skipped.
pub fn group_usage(
    proc_root: &Path,
    pgrp: i32,
    ticks_per_sec: u64,
    page_size: u64,
) -> Option<GroupUsage> {
    let mut usage = GroupUsage::default();
    let mut ticks = (0u64, 0u64);
    for entry in std::fs::read_dir(proc_root).ok()?.filter_map(Result::ok) {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let dir = entry.path();
        let Some(stat) = std::fs::read_to_string(dir.join("stat"))
            .ok()
            .and_then(|text| parse_stat(&text))
        else {
            continue;
        };
        // The container's processes: the leader's group, and its session (an
        // executor's tasks run in groups of their own within it).
        if stat.pgrp != pgrp && stat.session != pgrp {
            continue;
        }
        let resident = std::fs::read_to_string(dir.join("statm"))
            .ok()
            .and_then(|text| parse_statm_resident(&text))
            .unwrap_or(0);
        usage.processes += 1;
        usage.threads += stat.threads;
        ticks.0 += stat.utime;
        ticks.1 += stat.stime;
        usage.rss_bytes += resident * page_size;
    }
    if usage.processes == 0 {
        return None;
    }
    let per_sec = ticks_per_sec.max(1) as f64;
    usage.user_secs = ticks.0 as f64 / per_sec;
    usage.system_secs = ticks.1 as f64 / per_sec;
    Some(usage)
}

/// `sysconf(_SC_CLK_TCK)` and `sysconf(_SC_PAGESIZE)`, with Linux's usual values if
/// either is refused.
pub fn clock_ticks_and_page_size() -> (u64, u64) {
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    // SAFETY: as above.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    (
        u64::try_from(ticks).ok().filter(|&t| t > 0).unwrap_or(100),
        u64::try_from(page).ok().filter(|&p| p > 0).unwrap_or(4096),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const STAT: &str = "4242 (my (odd) cmd) S 1 4240 4240 0 -1 4194560 130 0 0 0 \
                        250 75 0 0 20 0 3 0 123456 10485760 640 18446744073709551615 \
                        1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0";

    #[test]
    fn stat_fields_are_counted_after_the_name() {
        assert_eq!(
            parse_stat(STAT),
            Some(ProcStat {
                pid: 4242,
                pgrp: 4240,
                session: 4240,
                utime: 250,
                stime: 75,
                threads: 3,
                start_time: 123456,
            })
        );
        assert_eq!(parse_stat("12 (short"), None);
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) S 0"), None);
    }

    #[test]
    fn statm_resident_is_the_second_figure() {
        assert_eq!(parse_statm_resident("2560 640 300 10 0 500 0\n"), Some(640));
        assert_eq!(parse_statm_resident("2560"), None);
    }

    #[test]
    fn a_group_sums_its_processes_only() {
        let root = tempfile::tempdir().unwrap();
        let proc = |pid: i32, pgrp: i32, utime: u64, stime: u64, resident: u64| {
            let dir = root.path().join(pid.to_string());
            std::fs::create_dir_all(&dir).unwrap();
            let stat = format!(
                "{pid} (sh) S 1 {pgrp} {pgrp} 0 -1 0 0 0 0 0 {utime} {stime} 0 0 20 0 1 0 1 1 1"
            );
            std::fs::write(dir.join("stat"), stat).unwrap();
            std::fs::write(dir.join("statm"), format!("100 {resident} 0 0 0 0 0")).unwrap();
        };
        proc(100, 100, 150, 50, 10);
        proc(101, 100, 50, 50, 5);
        proc(200, 200, 999, 999, 999);
        std::fs::create_dir_all(root.path().join("self")).unwrap();

        let usage = group_usage(root.path(), 100, 100, 4096).unwrap();
        assert_eq!(usage.processes, 2);
        assert_eq!(usage.threads, 2);
        assert_eq!(usage.user_secs, 2.0);
        assert_eq!(usage.system_secs, 1.0);
        assert_eq!(usage.rss_bytes, 15 * 4096);
        assert_eq!(group_usage(root.path(), 300, 100, 4096), None);
    }

    #[test]
    fn our_own_group_is_seen_in_proc() {
        // SAFETY: getpgrp has no preconditions.
        let pgrp = unsafe { libc::getpgrp() };
        let (ticks, page) = clock_ticks_and_page_size();
        let usage = group_usage(Path::new("/proc"), pgrp, ticks, page).unwrap();
        assert!(usage.processes >= 1);
        assert!(usage.rss_bytes > 0);
    }
}
