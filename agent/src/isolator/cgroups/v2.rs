//! cgroup v2: the container's cgroup is `<mount>/<root>/<container>` in the unified
//! hierarchy; the controllers are enabled in `cgroup.subtree_control` on the way down.

use std::path::{Path, PathBuf};

use super::{
    CFS_PERIOD_US, CgroupLimits, CgroupManager, CgroupStats, read_keyed, read_optional_number,
    read_pids, remove_dir, write,
};
use crate::isolator::IsolatorError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V2Manager {
    mount: PathBuf,
    root: PathBuf,
    dir: PathBuf,
}

impl V2Manager {
    pub fn new(mount: &Path, root: &str, container: &str) -> V2Manager {
        let root = mount.join(root);
        V2Manager {
            mount: mount.to_path_buf(),
            dir: root.join(container),
            root,
        }
    }

    /// Enables the cpu and memory controllers for the children of every cgroup from
    /// the mount down to `--cgroups_root`.
    fn enable_controllers(&self) -> Result<(), IsolatorError> {
        let mut dir = self.mount.clone();
        let below = self.root.strip_prefix(&self.mount).unwrap_or(Path::new(""));
        let mut parents = vec![dir.clone()];
        for part in below.components() {
            dir.push(part);
            parents.push(dir.clone());
        }
        for parent in parents {
            let available =
                std::fs::read_to_string(parent.join("cgroup.controllers")).unwrap_or_default();
            let wanted: Vec<String> = ["cpu", "memory"]
                .into_iter()
                .filter(|c| available.split_whitespace().any(|a| a == *c))
                .map(|c| format!("+{c}"))
                .collect();
            if !wanted.is_empty() {
                write(&parent.join("cgroup.subtree_control"), &wanted.join(" "))?;
            }
        }
        Ok(())
    }

    /// The value of `key` in the flat-keyed file `name`; `None` when the file is not
    /// there (a controller not enabled, an older kernel).
    fn keyed(&self, name: &str, key: &str) -> Result<Option<u64>, IsolatorError> {
        let path = self.dir.join(name);
        if path.exists() {
            read_keyed(&path, key)
        } else {
            Ok(None)
        }
    }
}

/// cgroup v1 shares (2..262144) to v2 weight (1..10000), as runc and systemd map them.
pub fn shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9_999) / 262_142
}

impl CgroupManager for V2Manager {
    fn create(&self) -> Result<(), IsolatorError> {
        std::fs::create_dir_all(&self.root).map_err(IsolatorError::io(&self.root))?;
        self.enable_controllers()?;
        std::fs::create_dir_all(&self.dir).map_err(IsolatorError::io(&self.dir))
    }

    fn apply(&self, limits: &CgroupLimits) -> Result<(), IsolatorError> {
        if let Some(shares) = limits.cpu_shares {
            write(
                &self.dir.join("cpu.weight"),
                &shares_to_weight(shares).to_string(),
            )?;
            let quota = limits
                .cfs_quota_us
                .map_or("max".to_string(), |q| q.to_string());
            write(
                &self.dir.join("cpu.max"),
                &format!("{quota} {CFS_PERIOD_US}"),
            )?;
        }
        if let Some(bytes) = limits.memory_bytes {
            // Below what the cgroup holds, a v2 kernel would OOM-kill to get there:
            // the old limit stays instead (the next update may lower it).
            let current = read_optional_number(&self.dir.join("memory.current"))?;
            match current {
                Some(current) if current > bytes => tracing::warn!(
                    cgroup = %self.dir.display(),
                    limit = bytes,
                    current,
                    "the container uses more memory than its new limit; the hard limit stays"
                ),
                _ => write(&self.dir.join("memory.max"), &bytes.to_string())?,
            }
            if limits.limit_swap {
                write(&self.dir.join("memory.swap.max"), "0")?;
            }
        }
        Ok(())
    }

    fn procs_files(&self) -> Vec<PathBuf> {
        vec![self.dir.join("cgroup.procs")]
    }

    fn add_process(&self, pid: i32) -> Result<(), IsolatorError> {
        write(&self.dir.join("cgroup.procs"), &pid.to_string())
    }

    fn pids(&self) -> Result<Vec<i32>, IsolatorError> {
        read_pids(&self.dir.join("cgroup.procs"))
    }

    fn stats(&self) -> Result<CgroupStats, IsolatorError> {
        let optional = |name: &str| read_optional_number(&self.dir.join(name));
        let keyed = |name: &str, key: &str| self.keyed(name, key);
        Ok(CgroupStats {
            memory_bytes: optional("memory.current")?,
            // memory.peak came with Linux 5.19.
            memory_peak_bytes: optional("memory.peak")?,
            memory_limit_bytes: optional("memory.max")?,
            oom_kills: self.oom_kills()?,
            cpu_time_ns: keyed("cpu.stat", "usage_usec")?.map(|us| us * 1_000),
            cpu_nr_periods: keyed("cpu.stat", "nr_periods")?,
            cpu_nr_throttled: keyed("cpu.stat", "nr_throttled")?,
            cpu_throttled_ns: keyed("cpu.stat", "throttled_usec")?.map(|us| us * 1_000),
        })
    }

    fn oom_kills(&self) -> Result<Option<u64>, IsolatorError> {
        self.keyed("memory.events", "oom_kill")
    }

    fn remove(&self) -> Result<(), IsolatorError> {
        remove_dir(&self.dir)
    }

    fn exists(&self) -> bool {
        self.dir.exists()
    }
}
