//! `cgroups/cpu,cgroups/mem`: a cgroup per container under `--cgroups_root`, through a
//! [`CgroupManager`] for cgroup v1 (a hierarchy per controller) or v2 (one unified
//! hierarchy), as youki's libcgroups splits them.
//!
//! Mesos's figures: cpu shares 1024 × cpus (at least 2); with `--cgroups_enable_cfs` a
//! quota of cpus × the 100 ms period (at least 1 ms); a hard memory limit of the mem
//! resource (at least 32 MB). An OOM kill in the container is a memory limitation.
//! With `--cgroups_limit_swap` the memory limit bounds memory and swap together.
//!
//! A limit lowered while the container runs ([`Isolator::update`]) takes effect only
//! where it cannot kill: a hard memory limit below what the container uses now stays
//! where it was (the soft limit moves). Mesos never lowers a hard limit, for fear of an
//! OOM kill; we do when the kernel can reclaim down to it (docs/COMPATIBILITY.md).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{
    Isolator, IsolatorError, Limitation, LimitedResource, Limits, Prepared, Usage, format_bytes,
};

mod v1;
mod v2;

pub use v1::V1Manager;
pub use v2::V2Manager;

pub const CPU_SHARES_PER_CPU: f64 = 1024.0;
pub const MIN_CPU_SHARES: u64 = 2;
pub const CFS_PERIOD_US: u64 = 100_000;
pub const MIN_CFS_QUOTA_US: u64 = 1_000;
pub const MIN_MEMORY_BYTES: u64 = 32 << 20;
/// How long the processes left in a cgroup get to die after SIGKILL.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Which controllers `--isolation` asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Controllers {
    pub cpu: bool,
    pub mem: bool,
}

/// What a container's cgroup is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CgroupLimits {
    pub cpu_shares: Option<u64>,
    /// Microseconds per [`CFS_PERIOD_US`].
    pub cfs_quota_us: Option<u64>,
    pub memory_bytes: Option<u64>,
    /// `--cgroups_limit_swap`: `memory_bytes` also bounds swap (none is used).
    pub limit_swap: bool,
}

impl CgroupLimits {
    pub fn new(limits: &Limits, controllers: Controllers, enable_cfs: bool) -> CgroupLimits {
        let cpu = controllers.cpu && limits.cpus > 0.0;
        let mem = controllers.mem && limits.mem_mb > 0.0;
        CgroupLimits {
            cpu_shares: cpu
                .then(|| ((CPU_SHARES_PER_CPU * limits.cpus) as u64).max(MIN_CPU_SHARES)),
            cfs_quota_us: (cpu && enable_cfs)
                .then(|| ((CFS_PERIOD_US as f64 * limits.cpus) as u64).max(MIN_CFS_QUOTA_US)),
            memory_bytes: mem
                .then(|| ((limits.mem_mb * 1024.0 * 1024.0) as u64).max(MIN_MEMORY_BYTES)),
            limit_swap: false,
        }
    }
}

/// What a cgroup reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupStats {
    pub memory_bytes: Option<u64>,
    pub memory_peak_bytes: Option<u64>,
    pub memory_limit_bytes: Option<u64>,
    pub oom_kills: Option<u64>,
    pub cpu_time_ns: Option<u64>,
    /// From `cpu.stat`: CFS periods elapsed, periods throttled, time throttled.
    pub cpu_nr_periods: Option<u64>,
    pub cpu_nr_throttled: Option<u64>,
    pub cpu_throttled_ns: Option<u64>,
}

/// One container's cgroup, in whatever hierarchies hold its controllers.
pub trait CgroupManager: Send + Sync + std::fmt::Debug {
    /// Creates the cgroup (and `--cgroups_root` above it) in every hierarchy.
    fn create(&self) -> Result<(), IsolatorError>;
    fn apply(&self, limits: &CgroupLimits) -> Result<(), IsolatorError>;
    /// The `cgroup.procs` files a process writes itself into to join.
    fn procs_files(&self) -> Vec<PathBuf>;
    fn add_process(&self, pid: i32) -> Result<(), IsolatorError>;
    fn pids(&self) -> Result<Vec<i32>, IsolatorError>;
    fn stats(&self) -> Result<CgroupStats, IsolatorError>;
    /// How many times the OOM killer acted in the cgroup (`None`: no memory
    /// controller, or a kernel that does not count): one file, where [`stats`] reads
    /// some ten. A container's limitation is checked at its start, every 100 ms while
    /// it runs and at its end.
    ///
    /// [`stats`]: CgroupManager::stats
    fn oom_kills(&self) -> Result<Option<u64>, IsolatorError>;
    /// Removes the cgroup, which must hold no process; gone already is fine.
    fn remove(&self) -> Result<(), IsolatorError>;
    fn exists(&self) -> bool;
}

/// Where this machine's cgroup controllers are mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hierarchy {
    V1 {
        /// The `cpu` and `cpuacct` hierarchies (cgroups/cpu).
        cpu: Option<PathBuf>,
        cpuacct: Option<PathBuf>,
        /// The `memory` hierarchy (cgroups/mem).
        memory: Option<PathBuf>,
    },
    V2 {
        mount: PathBuf,
    },
}

impl Hierarchy {
    /// Reads /proc/self/mounts: v1 when it mounts what was asked for, else v2 when its
    /// root offers those controllers. The error says what the machine has.
    pub fn detect(cpu: bool, mem: bool) -> Result<Hierarchy, String> {
        let mounts = std::fs::read_to_string("/proc/self/mounts")
            .map_err(|e| format!("cannot read /proc/self/mounts: {e}"))?;
        Hierarchy::from_mounts(&mounts, cpu, mem, |path| {
            std::fs::read_to_string(path.join("cgroup.controllers")).unwrap_or_default()
        })
    }

    pub fn from_mounts(
        mounts: &str,
        cpu: bool,
        mem: bool,
        v2_controllers: impl Fn(&Path) -> String,
    ) -> Result<Hierarchy, String> {
        let mut v1_cpu = None;
        let mut v1_cpuacct = None;
        let mut v1_memory = None;
        let mut v2 = None;
        for line in mounts.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [_, path, kind, options, ..] = fields[..] else {
                continue;
            };
            let path = PathBuf::from(unescape_mount_path(path));
            match kind {
                "cgroup" => {
                    for option in options.split(',') {
                        match option {
                            "cpu" => v1_cpu = Some(path.clone()),
                            "cpuacct" => v1_cpuacct = Some(path.clone()),
                            "memory" => v1_memory = Some(path.clone()),
                            _ => {}
                        }
                    }
                }
                "cgroup2" => v2 = v2.or(Some(path)),
                _ => {}
            }
        }
        if (!cpu || v1_cpu.is_some()) && (!mem || v1_memory.is_some()) {
            return Ok(Hierarchy::V1 {
                cpu: v1_cpu.filter(|_| cpu),
                cpuacct: v1_cpuacct.filter(|_| cpu),
                memory: v1_memory.filter(|_| mem),
            });
        }
        let mut missing = Vec::new();
        if let Some(mount) = &v2 {
            let controllers = v2_controllers(mount);
            let has = |name: &str| controllers.split_whitespace().any(|c| c == name);
            if cpu && !has("cpu") {
                missing.push("cpu");
            }
            if mem && !has("memory") {
                missing.push("memory");
            }
            if missing.is_empty() {
                return Ok(Hierarchy::V2 {
                    mount: mount.clone(),
                });
            }
        }
        let wanted: Vec<&str> = [(cpu, "cpu"), (mem, "memory")]
            .iter()
            .filter(|(w, _)| *w)
            .map(|(_, n)| *n)
            .collect();
        Err(format!(
            "this machine has no usable cgroup {} controller: cgroup v1 mounts cpu at {}, \
             memory at {}; cgroup v2 {}",
            wanted.join(" and "),
            shown(&v1_cpu),
            shown(&v1_memory),
            match &v2 {
                Some(mount) => format!(
                    "at {} lacks {} in cgroup.controllers",
                    mount.display(),
                    missing.join(" and ")
                ),
                None => "is not mounted".to_string(),
            }
        ))
    }

    /// The manager of `<root>/<container>` in this hierarchy.
    pub fn manager(&self, root: &str, container: &str) -> Box<dyn CgroupManager> {
        let relative = Path::new(root).join(container);
        match self {
            Hierarchy::V1 {
                cpu,
                cpuacct,
                memory,
            } => Box::new(V1Manager::new(
                cpu.as_deref(),
                cpuacct.as_deref(),
                memory.as_deref(),
                &relative,
            )),
            Hierarchy::V2 { mount } => Box::new(V2Manager::new(mount, root, container)),
        }
    }
}

fn shown(path: &Option<PathBuf>) -> String {
    path.as_ref()
        .map_or("nothing".to_string(), |p| p.display().to_string())
}

/// /proc/mounts writes spaces and the like as octal escapes (`\040`).
fn unescape_mount_path(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && let Ok(code) = u8::from_str_radix(&path[i + 1..i + 4], 8)
        {
            out.push(code);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `--cgroups_root`: relative, no `..`, not empty.
pub fn valid_root(root: &str) -> bool {
    let path = Path::new(root);
    !root.is_empty()
        && path.is_relative()
        && path
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
}

/// The cgroups isolator: one [`CgroupManager`] per container, named by its id.
#[derive(Debug)]
pub struct CgroupsIsolator {
    hierarchy: Hierarchy,
    root: String,
    controllers: Controllers,
    enable_cfs: bool,
    limit_swap: bool,
}

impl CgroupsIsolator {
    pub fn new(
        hierarchy: Hierarchy,
        root: &str,
        controllers: Controllers,
        enable_cfs: bool,
    ) -> CgroupsIsolator {
        CgroupsIsolator {
            hierarchy,
            root: root.to_string(),
            controllers,
            enable_cfs,
            limit_swap: false,
        }
    }

    /// `--cgroups_limit_swap`: the memory limit bounds swap too.
    pub fn with_limit_swap(mut self, limit_swap: bool) -> CgroupsIsolator {
        self.limit_swap = limit_swap;
        self
    }

    /// The hierarchies used (cgroup v1: one per controller; v2: the one).
    fn mounts(&self) -> Vec<&PathBuf> {
        match &self.hierarchy {
            Hierarchy::V1 {
                cpu,
                cpuacct,
                memory,
            } => [cpu, cpuacct, memory].into_iter().flatten().collect(),
            Hierarchy::V2 { mount } => vec![mount],
        }
    }

    /// Creates `--cgroups_root` in every hierarchy used.
    pub fn create_root(&self) -> Result<(), IsolatorError> {
        for mount in self.mounts() {
            let root = mount.join(&self.root);
            std::fs::create_dir_all(&root).map_err(IsolatorError::io(root))?;
        }
        Ok(())
    }

    /// With `--cgroups_limit_swap` on cgroup v1 the kernel must account swap (the
    /// memory.memsw.* files, absent when booted with swapaccount=0); a limit that
    /// cannot be had stops the agent at start rather than every task at launch.
    pub fn check_limit_swap(&self) -> Result<(), IsolatorError> {
        if let (
            true,
            Hierarchy::V1 {
                memory: Some(memory),
                ..
            },
        ) = (self.limit_swap, &self.hierarchy)
        {
            let memsw = memory.join(v1::MEMSW_LIMIT);
            if !memsw.exists() {
                return Err(IsolatorError::BadFlag {
                    given: "--cgroups_limit_swap".to_string(),
                    reason: format!(
                        "{} is missing: the kernel does not account swap (boot it with \
                         swapaccount=1)",
                        memsw.display()
                    ),
                });
            }
        }
        Ok(())
    }

    /// The names of the container cgroups under `--cgroups_root`, in any hierarchy.
    pub fn containers(&self) -> Result<Vec<String>, IsolatorError> {
        let mut names = std::collections::BTreeSet::new();
        for mount in self.mounts() {
            let root = mount.join(&self.root);
            let entries = match std::fs::read_dir(&root) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => return Err(IsolatorError::Io { path: root, source }),
            };
            for entry in entries {
                let entry = entry.map_err(IsolatorError::io(&root))?;
                if entry
                    .file_type()
                    .map_err(IsolatorError::io(&root))?
                    .is_dir()
                {
                    names.insert(entry.file_name().to_string_lossy().into_owned());
                }
            }
        }
        Ok(names.into_iter().collect())
    }

    fn cgroup_limits(&self, limits: &Limits) -> CgroupLimits {
        let mut limits = CgroupLimits::new(limits, self.controllers, self.enable_cfs);
        limits.limit_swap = self.limit_swap;
        limits
    }

    pub fn hierarchy(&self) -> &Hierarchy {
        &self.hierarchy
    }

    pub fn manager(&self, container: &str) -> Box<dyn CgroupManager> {
        self.hierarchy.manager(&self.root, container)
    }
}

impl Isolator for CgroupsIsolator {
    fn name(&self) -> String {
        let mut names = Vec::new();
        if self.controllers.cpu {
            names.push("cgroups/cpu");
        }
        if self.controllers.mem {
            names.push("cgroups/mem");
        }
        names.join(",")
    }

    fn prepare(&self, container: &str, limits: &Limits) -> Result<Prepared, IsolatorError> {
        let manager = self.manager(container);
        manager.create()?;
        let applied = manager.apply(&self.cgroup_limits(limits));
        if let Err(e) = applied {
            let _ = manager.remove();
            return Err(e);
        }
        Ok(Prepared {
            join: manager.procs_files(),
        })
    }

    fn isolate(&self, container: &str, pid: i32) -> Result<(), IsolatorError> {
        match self.manager(container).add_process(pid) {
            // Already gone (a quick command): it ran inside, having joined before exec.
            Err(IsolatorError::Io { source, .. }) if source.raw_os_error() == Some(libc::ESRCH) => {
                Ok(())
            }
            other => other,
        }
    }

    fn update(&self, container: &str, limits: &Limits) -> Result<(), IsolatorError> {
        self.manager(container).apply(&self.cgroup_limits(limits))
    }

    fn usage(&self, container: &str) -> Result<Usage, IsolatorError> {
        let stats = self.manager(container).stats()?;
        Ok(Usage {
            mem_bytes: stats.memory_bytes,
            mem_peak_bytes: stats.memory_peak_bytes,
            mem_limit_bytes: stats.memory_limit_bytes,
            cpu_time_ns: stats.cpu_time_ns,
            oom_kills: stats.oom_kills,
            // cpu.stat counts periods only under a quota; Mesos reports them with CFS on.
            cpu_nr_periods: stats.cpu_nr_periods.filter(|_| self.enable_cfs),
            cpu_nr_throttled: stats.cpu_nr_throttled.filter(|_| self.enable_cfs),
            cpu_throttled_ns: stats.cpu_throttled_ns.filter(|_| self.enable_cfs),
        })
    }

    fn limitation(&self, container: &str) -> Option<Limitation> {
        if !self.controllers.mem {
            return None;
        }
        let manager = self.manager(container);
        if manager.oom_kills().ok()?.unwrap_or(0) == 0 {
            return None;
        }
        // The message names the limit and the peak: those only once a kill happened.
        memory_limitation(&manager.stats().ok()?)
    }

    fn recover(&self, known: &[String]) -> Result<Vec<String>, IsolatorError> {
        let mut cleaned = Vec::new();
        for container in self.containers()? {
            if known.contains(&container) {
                continue;
            }
            tracing::info!(
                container,
                root = self.root,
                "destroying a container cgroup that no recovered executor owns"
            );
            self.cleanup(&container)?;
            cleaned.push(container);
        }
        Ok(cleaned)
    }

    fn cleanup(&self, container: &str) -> Result<(), IsolatorError> {
        let manager = self.manager(container);
        if !manager.exists() {
            return Ok(());
        }
        let deadline = Instant::now() + CLEANUP_TIMEOUT;
        loop {
            let pids = manager.pids()?;
            if pids.is_empty() {
                break;
            }
            for pid in &pids {
                // SAFETY: kill takes plain integers and touches no memory of ours.
                unsafe { libc::kill(*pid, libc::SIGKILL) };
            }
            if Instant::now() >= deadline {
                return Err(IsolatorError::Busy {
                    path: manager.procs_files().into_iter().next().unwrap_or_default(),
                    pids,
                });
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        // A process just killed can keep the cgroup busy for a moment after it leaves
        // cgroup.procs (the kernel is still tearing it down).
        loop {
            match manager.remove() {
                Ok(()) => return Ok(()),
                Err(IsolatorError::Io { source, .. })
                    if source.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Whatever the command forked was born in its cgroups (it joined them before
    /// exec) and stays there: [`CgroupsIsolator::cleanup`] kills it from cgroup.procs.
    fn kills_leftovers(&self) -> bool {
        true
    }
}

/// An OOM kill in the cgroup, worded as Mesos words it.
pub fn memory_limitation(stats: &CgroupStats) -> Option<Limitation> {
    if stats.oom_kills.unwrap_or(0) == 0 {
        return None;
    }
    let mut message = "Memory limit exceeded: ".to_string();
    if let Some(limit) = stats.memory_limit_bytes {
        message.push_str(&format!("Requested: {} ", format_bytes(limit)));
    }
    if let Some(peak) = stats.memory_peak_bytes.or(stats.memory_bytes) {
        message.push_str(&format!("Maximum Used: {}", format_bytes(peak)));
    }
    Some(Limitation {
        resource: LimitedResource::Memory,
        message: message.trim_end().to_string(),
    })
}

/// As [`read_number`], `None` too when the file does not exist.
pub(crate) fn read_optional_number(path: &Path) -> Result<Option<u64>, IsolatorError> {
    if path.exists() {
        read_number(path)
    } else {
        Ok(None)
    }
}

/// Reads a cgroup file whose content is one number (`max` is `None`).
pub(crate) fn read_number(path: &Path) -> Result<Option<u64>, IsolatorError> {
    let text = std::fs::read_to_string(path).map_err(IsolatorError::io(path))?;
    let value = text.trim();
    if value == "max" {
        return Ok(None);
    }
    value.parse().map(Some).map_err(|_| IsolatorError::Parse {
        path: path.to_path_buf(),
        value: value.to_string(),
    })
}

/// The value of `key` in a flat-keyed file (`memory.events`, `memory.oom_control`,
/// `cpu.stat`): lines of `key value`.
pub(crate) fn read_keyed(path: &Path, key: &str) -> Result<Option<u64>, IsolatorError> {
    let text = std::fs::read_to_string(path).map_err(IsolatorError::io(path))?;
    Ok(text.lines().find_map(|line| {
        let mut parts = line.split_whitespace();
        (parts.next() == Some(key))
            .then(|| parts.next().and_then(|v| v.parse().ok()))
            .flatten()
    }))
}

pub(crate) fn write(path: &Path, value: &str) -> Result<(), IsolatorError> {
    std::fs::write(path, value).map_err(IsolatorError::io(path))
}

pub(crate) fn read_pids(path: &Path) -> Result<Vec<i32>, IsolatorError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text.lines().filter_map(|l| l.trim().parse().ok()).collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(IsolatorError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

pub(crate) fn remove_dir(path: &Path) -> Result<(), IsolatorError> {
    match std::fs::remove_dir(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(IsolatorError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests;
