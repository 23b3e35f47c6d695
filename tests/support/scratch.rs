//! Free ports, fresh directories and per-run cgroup roots for tests and benchmarks
//! (benches include this file on its own, without the rest of the test support).

// A bench or test binary uses a subset of it.
#![allow(dead_code)]

use std::fs;
use std::net::{Ipv4Addr, TcpListener as StdTcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    let listener = StdTcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}

/// A new empty directory under cargo's scratch dir for integration tests.
pub fn fresh_dir(label: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "{label}-{}-{n}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    ));
    fs::create_dir_all(&dir).expect("create a test dir");
    dir
}

/// A test run's own cgroup roots (one per hierarchy), removed with the cgroups left in
/// them even when the test fails.
pub struct Roots(pub Vec<PathBuf>);

impl Drop for Roots {
    fn drop(&mut self) {
        for root in &self.0 {
            for dir in fs::read_dir(root)
                .into_iter()
                .flatten()
                .filter_map(Result::ok)
            {
                let _ = fs::remove_dir(dir.path());
            }
            let _ = fs::remove_dir(root);
        }
    }
}

/// Kills every process whose working directory, or whose `MESOS_SANDBOX`, lies under
/// `dir`: what a test's agent left behind when the test killed it. A checkpointing
/// framework's executor outlives its agent by design (as in Mesos), and a bare command
/// standing for an executor never hears that the agent is gone, so without this they
/// would run on as orphans after the test. Called after the ratufa process is dead; it
/// looks again until a pass finds nothing, for what a dying process forked meanwhile.
pub fn end_processes_under(dir: &std::path::Path) {
    use std::os::unix::ffi::OsStrExt;
    let dir = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let dir = dir.as_os_str().as_bytes();
    let under = |path: &[u8]| {
        path.strip_prefix(dir)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(b"/"))
    };
    let own = std::process::id();
    // Bounded: a process that keeps forking faster than this kills is not ours to chase.
    for _ in 0..100 {
        let mut killed = 0;
        for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|name| name.parse::<u32>().ok())
            else {
                continue;
            };
            if pid == own {
                continue;
            }
            let proc_dir = entry.path();
            // A removed sandbox reads as "<path> (deleted)": still a prefix match.
            let cwd_under = fs::read_link(proc_dir.join("cwd"))
                .is_ok_and(|cwd| under(cwd.as_os_str().as_bytes()));
            let sandbox_under = || {
                fs::read(proc_dir.join("environ")).is_ok_and(|environ| {
                    environ
                        .split(|b| *b == 0)
                        .filter_map(|var| var.strip_prefix(b"MESOS_SANDBOX="))
                        .any(under)
                })
            };
            if cwd_under || sandbox_under() {
                let Ok(pid) = libc::pid_t::try_from(pid) else {
                    continue;
                };
                // SAFETY: kill(2) with a pid read from /proc and a valid signal.
                if unsafe { libc::kill(pid, libc::SIGKILL) } == 0 {
                    killed += 1;
                }
            }
        }
        if killed == 0 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
