//! cgroup v1: the container's cgroup is `<root>/<container>` in each controller's own
//! hierarchy (cpu, cpuacct, memory).

use std::path::{Path, PathBuf};

use super::{
    CFS_PERIOD_US, CgroupLimits, CgroupManager, CgroupStats, read_keyed, read_number,
    read_optional_number, read_pids, remove_dir, write,
};
use crate::isolator::IsolatorError;

/// Memory and swap together; never below `memory.limit_in_bytes` (the kernel refuses).
pub const MEMSW_LIMIT: &str = "memory.memsw.limit_in_bytes";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Manager {
    cpu: Option<PathBuf>,
    cpuacct: Option<PathBuf>,
    memory: Option<PathBuf>,
}

impl V1Manager {
    /// `relative` (`<root>/<container>`) under each hierarchy mount given.
    pub fn new(
        cpu: Option<&Path>,
        cpuacct: Option<&Path>,
        memory: Option<&Path>,
        relative: &Path,
    ) -> V1Manager {
        V1Manager {
            cpu: cpu.map(|m| m.join(relative)),
            cpuacct: cpuacct.map(|m| m.join(relative)),
            memory: memory.map(|m| m.join(relative)),
        }
    }

    fn dirs(&self) -> Vec<&PathBuf> {
        let mut dirs: Vec<&PathBuf> = Vec::new();
        for dir in [&self.cpu, &self.cpuacct, &self.memory]
            .into_iter()
            .flatten()
        {
            // cpu and cpuacct may share one mount (`cpu,cpuacct`).
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
        dirs
    }
}

/// Sets the hard memory limit (and the memory+swap one to the same, with
/// `limit_swap`), keeping memsw >= limit at every step: raised, memsw goes first;
/// lowered, it goes last. Lowering below what the cgroup holds makes the kernel
/// reclaim, and when it cannot, refuse with EBUSY: the old limit then stays.
fn set_memory_limit(memory: &Path, bytes: u64, limit_swap: bool) -> Result<(), IsolatorError> {
    let limit = memory.join("memory.limit_in_bytes");
    let memsw = memory.join(MEMSW_LIMIT);
    let value = bytes.to_string();
    let old = read_optional_number(&limit)?.unwrap_or(u64::MAX);
    if bytes >= old {
        if limit_swap {
            write(&memsw, &value)?;
        }
        return write(&limit, &value);
    }
    match write(&limit, &value) {
        Ok(()) => {}
        Err(IsolatorError::Io { source, .. }) if source.raw_os_error() == Some(libc::EBUSY) => {
            tracing::warn!(
                cgroup = %memory.display(),
                limit = bytes,
                kept = old,
                "the container uses more memory than its new limit; the hard limit stays"
            );
            return Ok(());
        }
        Err(e) => return Err(e),
    }
    if limit_swap {
        write(&memsw, &value)?;
    }
    Ok(())
}

impl CgroupManager for V1Manager {
    fn create(&self) -> Result<(), IsolatorError> {
        for dir in self.dirs() {
            std::fs::create_dir_all(dir).map_err(IsolatorError::io(dir))?;
        }
        Ok(())
    }

    fn apply(&self, limits: &CgroupLimits) -> Result<(), IsolatorError> {
        if let Some(cpu) = &self.cpu {
            if let Some(shares) = limits.cpu_shares {
                write(&cpu.join("cpu.shares"), &shares.to_string())?;
            }
            match limits.cfs_quota_us {
                Some(quota) => {
                    write(&cpu.join("cpu.cfs_period_us"), &CFS_PERIOD_US.to_string())?;
                    write(&cpu.join("cpu.cfs_quota_us"), &quota.to_string())?;
                }
                None if limits.cpu_shares.is_some() => {
                    write(&cpu.join("cpu.cfs_quota_us"), "-1")?;
                }
                None => {}
            }
        }
        if let (Some(memory), Some(bytes)) = (&self.memory, limits.memory_bytes) {
            write(
                &memory.join("memory.soft_limit_in_bytes"),
                &bytes.to_string(),
            )?;
            set_memory_limit(memory, bytes, limits.limit_swap)?;
        }
        Ok(())
    }

    fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs()
            .into_iter()
            .map(|dir| dir.join("cgroup.procs"))
            .collect()
    }

    fn add_process(&self, pid: i32) -> Result<(), IsolatorError> {
        for procs in self.procs_files() {
            write(&procs, &pid.to_string())?;
        }
        Ok(())
    }

    fn pids(&self) -> Result<Vec<i32>, IsolatorError> {
        let mut pids = Vec::new();
        for procs in self.procs_files() {
            for pid in read_pids(&procs)? {
                if !pids.contains(&pid) {
                    pids.push(pid);
                }
            }
        }
        Ok(pids)
    }

    fn stats(&self) -> Result<CgroupStats, IsolatorError> {
        let mut stats = CgroupStats::default();
        if let Some(memory) = &self.memory {
            stats.memory_bytes = read_number(&memory.join("memory.usage_in_bytes"))?;
            stats.memory_peak_bytes = read_number(&memory.join("memory.max_usage_in_bytes"))?;
            stats.memory_limit_bytes = read_number(&memory.join("memory.limit_in_bytes"))?;
            // `oom_kill` is in memory.oom_control since Linux 4.13.
            stats.oom_kills = read_keyed(&memory.join("memory.oom_control"), "oom_kill")?;
        }
        if let Some(cpuacct) = &self.cpuacct {
            stats.cpu_time_ns = read_number(&cpuacct.join("cpuacct.usage"))?;
        }
        if let Some(cpu) = &self.cpu {
            let cpu_stat = cpu.join("cpu.stat");
            if cpu_stat.exists() {
                stats.cpu_nr_periods = read_keyed(&cpu_stat, "nr_periods")?;
                stats.cpu_nr_throttled = read_keyed(&cpu_stat, "nr_throttled")?;
                stats.cpu_throttled_ns = read_keyed(&cpu_stat, "throttled_time")?;
            }
        }
        Ok(stats)
    }

    fn oom_kills(&self) -> Result<Option<u64>, IsolatorError> {
        match &self.memory {
            Some(memory) => read_keyed(&memory.join("memory.oom_control"), "oom_kill"),
            None => Ok(None),
        }
    }

    fn remove(&self) -> Result<(), IsolatorError> {
        for dir in self.dirs() {
            remove_dir(dir)?;
        }
        Ok(())
    }

    fn exists(&self) -> bool {
        self.dirs().iter().any(|dir| dir.exists())
    }
}
