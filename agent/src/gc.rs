//! Sandbox garbage collection, as Mesos's agent does it (`--gc_delay`,
//! `--disk_watch_interval`, `--gc_disk_headroom`).
//!
//! When a container ends, its sandbox is scheduled for removal `gc_delay` later. Every
//! `disk_watch_interval` the agent measures how full the work dir's filesystem is and
//! removes sooner what is older than `gc_delay × max(0, 1 − headroom − usage)`: a full
//! disk shortens how long sandboxes stay. A removed sandbox is detached from `/files`,
//! and its executor and framework directories go with it once they are empty.
//!
//! [`Schedule`] is the pure part (time passed in); [`spawn`] starts the task that
//! drives it, fed through a [`Collector`].

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::files::Sandboxes;

/// Mesos's `--gc_delay`: one week.
pub const DEFAULT_GC_DELAY: Duration = Duration::from_secs(7 * 24 * 3600);
/// Mesos's `--disk_watch_interval`: one minute.
pub const DEFAULT_DISK_WATCH_INTERVAL: Duration = Duration::from_secs(60);
/// Mesos's `--gc_disk_headroom`.
pub const DEFAULT_GC_DISK_HEADROOM: f64 = 0.1;

/// Paths and the instants they are to be removed at.
#[derive(Debug, Default)]
pub struct Schedule {
    by_time: BTreeMap<Instant, Vec<PathBuf>>,
    removal: HashMap<PathBuf, Instant>,
}

impl Schedule {
    /// Removes `path` at `at`; a path already scheduled is moved to `at`.
    pub fn schedule(&mut self, path: PathBuf, at: Instant) {
        self.unschedule(&path);
        self.by_time.entry(at).or_default().push(path.clone());
        self.removal.insert(path, at);
    }

    /// Forgets `path`; whether it was scheduled.
    pub fn unschedule(&mut self, path: &Path) -> bool {
        let Some(at) = self.removal.remove(path) else {
            return false;
        };
        if let Some(paths) = self.by_time.get_mut(&at) {
            paths.retain(|p| p != path);
            if paths.is_empty() {
                self.by_time.remove(&at);
            }
        }
        true
    }

    /// When the next path is due, if any is scheduled.
    pub fn next_removal(&self) -> Option<Instant> {
        self.by_time.keys().next().copied()
    }

    pub fn len(&self) -> usize {
        self.removal.len()
    }

    pub fn is_empty(&self) -> bool {
        self.removal.is_empty()
    }

    /// Takes the paths due at `now`.
    pub fn due(&mut self, now: Instant) -> Vec<PathBuf> {
        self.take_until(now)
    }

    /// Takes the paths whose removal is at most `within` away from `now` (Mesos's
    /// prune): with `within = gc_delay − max_age`, everything older than `max_age`.
    pub fn prune(&mut self, within: Duration, now: Instant) -> Vec<PathBuf> {
        match now.checked_add(within) {
            Some(until) => self.take_until(until),
            None => self.take_until_end(),
        }
    }

    fn take_until(&mut self, until: Instant) -> Vec<PathBuf> {
        let later = match until.checked_add(Duration::from_nanos(1)) {
            Some(after) => self.by_time.split_off(&after),
            None => BTreeMap::new(),
        };
        let taken = std::mem::replace(&mut self.by_time, later);
        self.forget(taken)
    }

    fn take_until_end(&mut self) -> Vec<PathBuf> {
        let taken = std::mem::take(&mut self.by_time);
        self.forget(taken)
    }

    fn forget(&mut self, taken: BTreeMap<Instant, Vec<PathBuf>>) -> Vec<PathBuf> {
        let paths: Vec<PathBuf> = taken.into_values().flatten().collect();
        for path in &paths {
            self.removal.remove(path);
        }
        paths
    }
}

/// Mesos's maximum allowed age of a sandbox at disk `usage` (a fraction of the
/// filesystem in use): `gc_delay × max(0, 1 − headroom − usage)`.
pub fn max_allowed_age(gc_delay: Duration, headroom: f64, usage: f64) -> Duration {
    let factor = (1.0 - headroom - usage).max(0.0);
    if factor.is_nan() {
        return Duration::ZERO;
    }
    gc_delay.mul_f64(factor.min(1.0))
}

/// How far ahead of its removal time a path is pruned at disk `usage`.
pub fn prune_window(gc_delay: Duration, headroom: f64, usage: f64) -> Duration {
    gc_delay.saturating_sub(max_allowed_age(gc_delay, headroom, usage))
}

/// What the collector runs with.
#[derive(Debug, Clone)]
pub struct GcConfig {
    pub work_dir: PathBuf,
    pub gc_delay: Duration,
    pub disk_watch_interval: Duration,
    pub gc_disk_headroom: f64,
}

/// Schedules sandboxes for removal; cheap to clone. The collector's task ends when
/// every handle is dropped.
#[derive(Debug, Clone)]
pub struct Collector(mpsc::UnboundedSender<PathBuf>);

impl Collector {
    /// The container whose sandbox is `directory` ended: remove it `gc_delay` from now
    /// (or sooner if the disk fills).
    pub fn schedule(&self, directory: PathBuf) {
        let _ = self.0.send(directory);
    }
}

/// Starts the collector's task (call within a tokio runtime).
pub fn spawn(config: GcConfig, sandboxes: Sandboxes) -> Collector {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(run(config, sandboxes, rx));
    Collector(tx)
}

async fn run(config: GcConfig, sandboxes: Sandboxes, mut rx: mpsc::UnboundedReceiver<PathBuf>) {
    let mut schedule = Schedule::default();
    let period = config.disk_watch_interval.max(Duration::from_millis(1));
    let mut watch = tokio::time::interval(period);
    watch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let next = schedule.next_removal().map(tokio::time::Instant::from_std);
        let remove = tokio::select! {
            received = rx.recv() => {
                let Some(directory) = received else { break };
                debug!(directory = %directory.display(), delay = ?config.gc_delay, "sandbox scheduled for removal");
                // A delay past the end of time: never.
                if let Some(at) = Instant::now().checked_add(config.gc_delay) {
                    schedule.schedule(directory, at);
                }
                Vec::new()
            }
            () = sleep_until(next) => schedule.due(Instant::now()),
            _ = watch.tick() => {
                let work_dir = config.work_dir.clone();
                match tokio::task::spawn_blocking(move || disk_usage(&work_dir)).await {
                    Ok(Ok(usage)) => {
                        let age = max_allowed_age(config.gc_delay, config.gc_disk_headroom, usage);
                        debug!(usage, max_allowed_age = ?age, "disk usage");
                        let within = prune_window(config.gc_delay, config.gc_disk_headroom, usage);
                        let pruned = schedule.prune(within, Instant::now());
                        if !pruned.is_empty() {
                            info!(usage = format!("{:.2}%", usage * 100.0), max_allowed_age = ?age, sandboxes = pruned.len(), "pruning sandboxes early: the disk is filling");
                        }
                        pruned
                    }
                    Ok(Err(e)) => {
                        warn!(work_dir = %config.work_dir.display(), error = %e, "failed to get the disk usage");
                        Vec::new()
                    }
                    Err(e) => {
                        warn!(error = %e, "the disk usage check failed");
                        Vec::new()
                    }
                }
            }
        };
        if remove.is_empty() {
            continue;
        }
        let sandboxes = sandboxes.clone();
        let removed = tokio::task::spawn_blocking(move || {
            for directory in remove {
                // Detached first: /files never serves a half-removed sandbox.
                sandboxes.detach_directory(&directory);
                remove_sandbox(&directory);
            }
        })
        .await;
        if let Err(e) = removed {
            warn!(error = %e, "sandbox removal failed");
        }
    }
}

/// Removes the sandbox `directory` (`…/executors/<ex>/runs/<container>`), the `latest`
/// link if it led there, and then the run's executor and framework directories if
/// nothing else is left in them.
pub fn remove_sandbox(directory: &Path) {
    match std::fs::remove_dir_all(directory) {
        Ok(()) => info!(directory = %directory.display(), "removed sandbox"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            warn!(directory = %directory.display(), error = %e, "failed to remove sandbox");
            return;
        }
    }
    let Some(runs) = directory.parent() else {
        return;
    };
    let latest = runs.join("latest");
    let dangling = std::fs::symlink_metadata(&latest).is_ok_and(|m| m.file_type().is_symlink())
        && std::fs::metadata(&latest).is_err();
    if dangling {
        let _ = std::fs::remove_file(&latest);
    }
    // runs/ → <ex>/ → executors/ → <fw>/; remove_dir takes only empty ones, and a
    // non-empty one stops the climb.
    let mut dir = runs;
    for _ in 0..4 {
        if std::fs::remove_dir(dir).is_err() {
            return;
        }
        match dir.parent() {
            Some(parent) => dir = parent,
            None => return,
        }
    }
}

/// The fraction of the filesystem holding `path` in use, as Mesos measures it.
fn disk_usage(path: &Path) -> std::io::Result<f64> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    // SAFETY: statvfs is plain data; all zeroes is a valid value.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: c_path is NUL-terminated and stat is ours to write.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let blocks = stat.f_blocks as f64;
    if blocks <= 0.0 {
        return Ok(0.0);
    }
    Ok((blocks - stat.f_bfree as f64) / blocks)
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
