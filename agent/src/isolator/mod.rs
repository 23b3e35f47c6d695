//! Isolators: what a container's processes are held to. `--isolation` picks one:
//! `posix/cpu,posix/mem` (the default: nothing is enforced, the process group is the
//! container) or `cgroups/cpu,cgroups/mem` (cpu shares, an optional CFS quota and a
//! hard memory limit in a cgroup per container; an OOM kill is a limitation).
//!
//! The runner calls, per container: [`Isolator::prepare`] before the spawn (its
//! [`Prepared::join`] files are written by the child between fork and exec, so the
//! command starts inside its cgroups), [`Isolator::isolate`] with the pid after it,
//! [`Isolator::limitation`] while it runs, and [`Isolator::cleanup`] when it ends.

use std::path::PathBuf;
use std::sync::Arc;

use ratufa_proto::resources::scalar_sum;
use ratufa_proto::v1::Resource;
use thiserror::Error;

use crate::AgentConfig;

pub mod cgroups;
mod posix;

pub use posix::PosixIsolator;

/// Mesos's `--isolation` default.
pub const DEFAULT_ISOLATION: &str = "posix/cpu,posix/mem";
/// Where ratufa's cgroups go under each hierarchy (Mesos's `--cgroups_root` is `mesos`).
pub const DEFAULT_CGROUPS_ROOT: &str = "ratufa";

/// What went wrong, with the cgroup file it concerns.
#[derive(Debug, Error)]
pub enum IsolatorError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: cannot parse {value:?}")]
    Parse { path: PathBuf, value: String },
    /// `--isolation` names something unknown, or the machine cannot do it.
    #[error("--isolation={given}: {reason}")]
    BadFlag { given: String, reason: String },
    /// Processes stayed in a cgroup that was to be removed.
    #[error("{path}: processes {pids:?} are still in it")]
    Busy { path: PathBuf, pids: Vec<i32> },
}

impl IsolatorError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> IsolatorError {
        let path = path.into();
        move |source| IsolatorError::Io { path, source }
    }
}

/// What a container may use, from its tasks' resources.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub cpus: f64,
    /// Megabytes, as the `mem` resource counts them.
    pub mem_mb: f64,
}

impl Limits {
    /// The cpus and mem of `resources` summed, as their `Resources` would count them.
    /// Summed in place: a default executor's container is resized on each of its
    /// tasks' updates, and building a `Resources` of every live task's entries each
    /// time was a tenth of the agent's CPU with 128 tasks in one container
    /// (BENCHMARKS.md agent_launch).
    pub fn of<'a>(resources: impl IntoIterator<Item = &'a Resource> + Clone) -> Limits {
        Limits {
            cpus: scalar_sum(resources.clone(), "cpus"),
            mem_mb: scalar_sum(resources, "mem"),
        }
    }
}

/// What the child does before exec to enter its container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prepared {
    /// `cgroup.procs` files to write "0" (itself) into.
    pub join: Vec<PathBuf>,
}

/// What a container has used so far; `None` where the isolator cannot tell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    pub mem_bytes: Option<u64>,
    pub mem_peak_bytes: Option<u64>,
    pub mem_limit_bytes: Option<u64>,
    pub cpu_time_ns: Option<u64>,
    pub oom_kills: Option<u64>,
    /// CFS bandwidth figures, where a CFS quota is set (`--cgroups_enable_cfs`).
    pub cpu_nr_periods: Option<u64>,
    pub cpu_nr_throttled: Option<u64>,
    pub cpu_throttled_ns: Option<u64>,
}

/// A limit the container hit: the container is destroyed and its task fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limitation {
    pub resource: LimitedResource,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitedResource {
    Memory,
}

pub trait Isolator: Send + Sync + std::fmt::Debug {
    /// The `--isolation` value it implements.
    fn name(&self) -> String;
    /// Makes the container's confinement ready (cgroups created and limited).
    fn prepare(&self, container: &str, limits: &Limits) -> Result<Prepared, IsolatorError>;
    /// Puts `pid` in the container (already there when the child joined itself).
    fn isolate(&self, container: &str, pid: i32) -> Result<(), IsolatorError>;
    /// The container's tasks changed: new limits.
    fn update(&self, container: &str, limits: &Limits) -> Result<(), IsolatorError>;
    fn usage(&self, container: &str) -> Result<Usage, IsolatorError>;
    /// A limit the container has hit, if any.
    fn limitation(&self, container: &str) -> Option<Limitation>;
    /// After an agent restart: keeps the confinement of the `known` containers (those
    /// of recovered executors) and destroys every other one under this isolator's
    /// root (a crashed agent's leftovers), killing what runs in them. Returns the
    /// containers destroyed.
    fn recover(&self, known: &[String]) -> Result<Vec<String>, IsolatorError>;
    /// Kills what is left in the container and removes its confinement.
    fn cleanup(&self, container: &str) -> Result<(), IsolatorError>;
    /// Whether [`Isolator::cleanup`] finds and kills every process the container
    /// started (its cgroups hold them all), so that the end of its command need not
    /// look for them in /proc.
    fn kills_leftovers(&self) -> bool {
        false
    }
}

/// The isolator that `--isolation` names, with the `--cgroups_*` settings.
pub fn from_config(config: &AgentConfig) -> Result<Arc<dyn Isolator>, IsolatorError> {
    let isolation = config.isolation.as_str();
    let cgroups_root = config.cgroups_root.as_str();
    let bad = |reason: String| IsolatorError::BadFlag {
        given: isolation.to_string(),
        reason,
    };
    let mut cpu = false;
    let mut mem = false;
    let mut posix = false;
    for name in isolation
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        match name {
            "posix/cpu" | "posix/mem" => posix = true,
            "cgroups/cpu" => cpu = true,
            "cgroups/mem" => mem = true,
            other => {
                return Err(bad(format!(
                    "unknown isolator '{other}' (known: posix/cpu, posix/mem, cgroups/cpu, \
                     cgroups/mem)"
                )));
            }
        }
    }
    if posix && (cpu || mem) {
        return Err(bad(
            "posix and cgroups isolators cannot be combined".to_string()
        ));
    }
    if !(cpu || mem) {
        return Ok(Arc::new(PosixIsolator));
    }
    if !cgroups::valid_root(cgroups_root) {
        return Err(IsolatorError::BadFlag {
            given: cgroups_root.to_string(),
            reason: "--cgroups_root must be a relative path without '..'".to_string(),
        });
    }
    let hierarchy = cgroups::Hierarchy::detect(cpu, mem).map_err(bad)?;
    let isolator = cgroups::CgroupsIsolator::new(
        hierarchy,
        cgroups_root,
        cgroups::Controllers { cpu, mem },
        config.cgroups_enable_cfs,
    )
    .with_limit_swap(config.cgroups_limit_swap);
    isolator.check_limit_swap()?;
    // At start, not at the first task: a root we cannot create (not root, a read-only
    // mount) stops the agent with the path and the reason.
    isolator.create_root()?;
    Ok(Arc::new(isolator))
}

/// Bytes the way Mesos prints them: "64MB", "1536KB", "100B".
pub fn format_bytes(bytes: u64) -> String {
    const KB: u64 = 1024;
    const MB: u64 = 1024 * KB;
    const GB: u64 = 1024 * MB;
    if bytes >= GB && bytes.is_multiple_of(GB) {
        format!("{}GB", bytes / GB)
    } else if bytes >= MB && bytes.is_multiple_of(MB) {
        format!("{}MB", bytes / MB)
    } else if bytes >= MB {
        format!("{:.2}MB", bytes as f64 / MB as f64)
    } else if bytes >= KB && bytes.is_multiple_of(KB) {
        format!("{}KB", bytes / KB)
    } else {
        format!("{bytes}B")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn from_flags(isolation: &str, root: &str) -> Result<Arc<dyn Isolator>, IsolatorError> {
        let mut config = AgentConfig::new("localhost:5050", "/nonexistent");
        config.isolation = isolation.to_string();
        config.cgroups_root = root.to_string();
        from_config(&config)
    }

    #[test]
    fn flags_pick_the_isolator() {
        assert_eq!(
            from_flags(DEFAULT_ISOLATION, "ratufa").unwrap().name(),
            "posix/cpu,posix/mem"
        );
        let e = from_flags("cgroups/disk", "ratufa").unwrap_err();
        assert!(
            e.to_string().contains("unknown isolator 'cgroups/disk'"),
            "{e}"
        );
        let e = from_flags("posix/cpu,cgroups/mem", "ratufa").unwrap_err();
        assert!(e.to_string().contains("cannot be combined"), "{e}");
        let e = from_flags("cgroups/mem", "../x").unwrap_err();
        assert!(e.to_string().contains("--cgroups_root"), "{e}");
    }

    #[test]
    fn bytes_as_mesos_prints_them() {
        assert_eq!(format_bytes(64 << 20), "64MB");
        assert_eq!(format_bytes(2 << 30), "2GB");
        assert_eq!(format_bytes(1536 << 10), "1.50MB");
        assert_eq!(format_bytes(3 << 10), "3KB");
        assert_eq!(format_bytes(100), "100B");
    }

    #[test]
    fn limits_sum_the_scalars() {
        let resources: Vec<Resource> =
            ratufa_proto::resources::Resources::parse("cpus:0.5;mem:64;cpus(prod):1", "*")
                .unwrap()
                .into_vec();
        assert_eq!(
            Limits::of(&resources),
            Limits {
                cpus: 1.5,
                mem_mb: 64.0
            }
        );
    }
}
