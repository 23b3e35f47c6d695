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
