#![allow(clippy::unwrap_used)]

use std::path::Path;

use super::*;
use crate::process::{Exit, Process, ProcessSpec};

fn limits(cpus: f64, mem_mb: f64) -> Limits {
    Limits { cpus, mem_mb }
}

const BOTH: Controllers = Controllers {
    cpu: true,
    mem: true,
};

fn read(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .to_string()
}

#[test]
fn mesos_figures() {
    let l = CgroupLimits::new(&limits(0.5, 64.0), BOTH, false);
    assert_eq!(l.cpu_shares, Some(512));
    assert_eq!(l.cfs_quota_us, None);
    assert_eq!(l.memory_bytes, Some(64 << 20));
    let l = CgroupLimits::new(&limits(2.0, 16.0), BOTH, true);
    assert_eq!(l.cpu_shares, Some(2048));
    assert_eq!(l.cfs_quota_us, Some(200_000));
    // Memory at least 32 MB; shares at least 2; quota at least 1 ms.
    assert_eq!(l.memory_bytes, Some(32 << 20));
    let l = CgroupLimits::new(&limits(0.001, 64.0), BOTH, true);
    assert_eq!(l.cpu_shares, Some(2));
    assert_eq!(l.cfs_quota_us, Some(1_000));
    // What a task does not ask for, or --isolation leaves out, is not limited.
    let l = CgroupLimits::new(&limits(0.0, 0.0), BOTH, true);
    assert_eq!(
        l,
        CgroupLimits::new(
            &limits(1.0, 64.0),
            Controllers {
                cpu: false,
                mem: false
            },
            true
        )
    );
    assert_eq!(l.cpu_shares, None);
    assert_eq!(l.memory_bytes, None);
}

#[test]
fn detection_prefers_v1_and_says_what_is_missing() {
    let mounts = "\
tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
cgroup /sys/fs/cgroup/cpuacct cgroup rw,relatime,cpuacct 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
";
    let none = |_: &Path| String::new();
    assert_eq!(
        Hierarchy::from_mounts(mounts, true, true, none).unwrap(),
        Hierarchy::V1 {
            cpu: Some("/sys/fs/cgroup/cpu".into()),
            cpuacct: Some("/sys/fs/cgroup/cpuacct".into()),
            memory: Some("/sys/fs/cgroup/memory".into()),
        }
    );
    assert_eq!(
        Hierarchy::from_mounts(mounts, false, true, none).unwrap(),
        Hierarchy::V1 {
            cpu: None,
            cpuacct: None,
            memory: Some("/sys/fs/cgroup/memory".into()),
        }
    );
    let v2_only = "cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n";
    assert_eq!(
        Hierarchy::from_mounts(v2_only, true, true, |_| "cpuset cpu io memory pids".into())
            .unwrap(),
        Hierarchy::V2 {
            mount: "/sys/fs/cgroup".into()
        }
    );
    let e = Hierarchy::from_mounts(v2_only, true, true, |_| "cpu pids".into()).unwrap_err();
    assert!(
        e.contains("no usable cgroup cpu and memory controller"),
        "{e}"
    );
    assert!(e.contains("lacks memory"), "{e}");
    let e = Hierarchy::from_mounts("", false, true, none).unwrap_err();
    assert!(e.contains("cgroup v2 is not mounted"), "{e}");
    // Mount points with spaces come escaped.
    let spaced = "cgroup /a\\040b cgroup rw,memory 0 0\n";
    assert_eq!(
        Hierarchy::from_mounts(spaced, false, true, none).unwrap(),
        Hierarchy::V1 {
            cpu: None,
            cpuacct: None,
            memory: Some("/a b".into()),
        }
    );
}

#[test]
fn roots_stay_inside_the_hierarchy() {
    assert!(valid_root("ratufa"));
    assert!(valid_root("a/b"));
    for bad in ["", "/ratufa", "../x", "a/../../b", "."] {
        assert!(!valid_root(bad), "{bad:?}");
    }
}

#[test]
fn v1_writes_the_limits_into_each_hierarchy() {
    let dir = tempfile::tempdir().unwrap();
    let (cpu, cpuacct, memory) = (
        dir.path().join("cpu"),
        dir.path().join("cpuacct"),
        dir.path().join("memory"),
    );
    let hierarchy = Hierarchy::V1 {
        cpu: Some(cpu.clone()),
        cpuacct: Some(cpuacct.clone()),
        memory: Some(memory.clone()),
    };
    let isolator = CgroupsIsolator::new(hierarchy, "ratufa", BOTH, true);
    let prepared = isolator.prepare("c1", &limits(1.5, 64.0)).unwrap();
    assert_eq!(
        prepared.join,
        vec![
            cpu.join("ratufa/c1/cgroup.procs"),
            cpuacct.join("ratufa/c1/cgroup.procs"),
            memory.join("ratufa/c1/cgroup.procs"),
        ]
    );
    assert_eq!(read(&cpu.join("ratufa/c1/cpu.shares")), "1536");
    assert_eq!(read(&cpu.join("ratufa/c1/cpu.cfs_period_us")), "100000");
    assert_eq!(read(&cpu.join("ratufa/c1/cpu.cfs_quota_us")), "150000");
    assert_eq!(
        read(&memory.join("ratufa/c1/memory.limit_in_bytes")),
        "67108864"
    );
    assert_eq!(
        read(&memory.join("ratufa/c1/memory.soft_limit_in_bytes")),
        "67108864"
    );

    isolator.update("c1", &limits(0.25, 128.0)).unwrap();
    assert_eq!(read(&cpu.join("ratufa/c1/cpu.shares")), "256");
    assert_eq!(read(&cpu.join("ratufa/c1/cpu.cfs_quota_us")), "25000");
    assert_eq!(
        read(&memory.join("ratufa/c1/memory.limit_in_bytes")),
        "134217728"
    );

    isolator.isolate("c1", 4242).unwrap();
    assert_eq!(read(&memory.join("ratufa/c1/cgroup.procs")), "4242");
}

#[test]
fn v1_without_cfs_lifts_the_quota() {
    let dir = tempfile::tempdir().unwrap();
    let hierarchy = Hierarchy::V1 {
        cpu: Some(dir.path().into()),
        cpuacct: None,
        memory: None,
    };
    let isolator = CgroupsIsolator::new(
        hierarchy,
        "r",
        Controllers {
            cpu: true,
            mem: false,
        },
        false,
    );
    isolator.prepare("c", &limits(1.0, 64.0)).unwrap();
    assert_eq!(read(&dir.path().join("r/c/cpu.shares")), "1024");
    assert_eq!(read(&dir.path().join("r/c/cpu.cfs_quota_us")), "-1");
    assert!(!dir.path().join("r/c/memory.limit_in_bytes").exists());
    assert_eq!(isolator.limitation("c"), None);
}

#[test]
fn v1_reads_usage_and_the_oom_kill() {
    let dir = tempfile::tempdir().unwrap();
    let memory = dir.path().join("memory");
    let cpuacct = dir.path().join("cpuacct");
    let isolator = CgroupsIsolator::new(
        Hierarchy::V1 {
            cpu: None,
            cpuacct: Some(cpuacct.clone()),
            memory: Some(memory.clone()),
        },
        "ratufa",
        BOTH,
        false,
    );
    isolator.prepare("c", &limits(1.0, 64.0)).unwrap();
    let cg = memory.join("ratufa/c");
    std::fs::write(cg.join("memory.usage_in_bytes"), "1048576\n").unwrap();
    std::fs::write(cg.join("memory.max_usage_in_bytes"), "67108864\n").unwrap();
    std::fs::write(
        cg.join("memory.oom_control"),
        "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
    )
    .unwrap();
    std::fs::write(cpuacct.join("ratufa/c/cpuacct.usage"), "123456789\n").unwrap();
    assert_eq!(
        isolator.usage("c").unwrap(),
        Usage {
            mem_bytes: Some(1 << 20),
            mem_peak_bytes: Some(64 << 20),
            mem_limit_bytes: Some(64 << 20),
            cpu_time_ns: Some(123_456_789),
            oom_kills: Some(0),
            ..Usage::default()
        }
    );
    assert_eq!(isolator.limitation("c"), None);
    assert_eq!(isolator.manager("c").oom_kills().unwrap(), Some(0));
    std::fs::write(
        cg.join("memory.oom_control"),
        "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
    )
    .unwrap();
    assert_eq!(isolator.manager("c").oom_kills().unwrap(), Some(1));
    assert_eq!(
        isolator.limitation("c"),
        Some(Limitation {
            resource: LimitedResource::Memory,
            message: "Memory limit exceeded: Requested: 64MB Maximum Used: 64MB".to_string(),
        })
    );
    // A file that is not a number says which file.
    std::fs::write(cg.join("memory.usage_in_bytes"), "lots\n").unwrap();
    let e = isolator.usage("c").unwrap_err().to_string();
    assert!(
        e.contains("memory.usage_in_bytes") && e.contains("lots"),
        "{e}"
    );
}

#[test]
fn v2_enables_controllers_and_writes_its_own_files() {
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path();
    std::fs::write(
        mount.join("cgroup.controllers"),
        "cpuset cpu io memory pids\n",
    )
    .unwrap();
    let isolator = CgroupsIsolator::new(
        Hierarchy::V2 {
            mount: mount.into(),
        },
        "ratufa",
        BOTH,
        true,
    );
    let prepared = isolator.prepare("c", &limits(0.5, 100.0)).unwrap();
    assert_eq!(prepared.join, vec![mount.join("ratufa/c/cgroup.procs")]);
    assert_eq!(read(&mount.join("cgroup.subtree_control")), "+cpu +memory");
    let cg = mount.join("ratufa/c");
    assert_eq!(
        read(&cg.join("cpu.weight")),
        v2::shares_to_weight(512).to_string()
    );
    assert_eq!(read(&cg.join("cpu.max")), "50000 100000");
    assert_eq!(read(&cg.join("memory.max")), (100u64 << 20).to_string());

    std::fs::write(cg.join("memory.current"), "4096\n").unwrap();
    std::fs::write(cg.join("memory.peak"), "104857600\n").unwrap();
    std::fs::write(
        cg.join("cpu.stat"),
        "usage_usec 1500\nuser_usec 1000\nnr_periods 20\nnr_throttled 3\nthrottled_usec 4000\n",
    )
    .unwrap();
    std::fs::write(
        cg.join("memory.events"),
        "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n",
    )
    .unwrap();
    let usage = isolator.usage("c").unwrap();
    assert_eq!(usage.mem_bytes, Some(4096));
    assert_eq!(usage.cpu_time_ns, Some(1_500_000));
    assert_eq!(usage.cpu_nr_periods, Some(20));
    assert_eq!(usage.cpu_nr_throttled, Some(3));
    assert_eq!(usage.cpu_throttled_ns, Some(4_000_000));
    assert_eq!(isolator.manager("c").oom_kills().unwrap(), Some(1));
    assert_eq!(
        isolator.limitation("c").unwrap().message,
        "Memory limit exceeded: Requested: 100MB Maximum Used: 100MB"
    );
    // No quota without --cgroups_enable_cfs; `max` reads as no limit.
    let isolator = CgroupsIsolator::new(
        Hierarchy::V2 {
            mount: mount.into(),
        },
        "ratufa",
        BOTH,
        false,
    );
    isolator.update("c", &limits(0.5, 100.0)).unwrap();
    assert_eq!(read(&cg.join("cpu.max")), "max 100000");
    // …and no CFS figures in its usage (Mesos reports them with CFS on).
    assert_eq!(isolator.usage("c").unwrap().cpu_nr_periods, None);
    std::fs::write(cg.join("memory.max"), "max\n").unwrap();
    assert_eq!(isolator.usage("c").unwrap().mem_limit_bytes, None);
}

#[test]
fn weights_from_shares() {
    assert_eq!(v2::shares_to_weight(2), 1);
    assert_eq!(v2::shares_to_weight(1024), 39);
    assert_eq!(v2::shares_to_weight(262_144), 10_000);
}

// ---------------------------------------------------------------------------------
// The machine's own hierarchy (tests run as root, here and in CI).

/// The real cgroups isolator, or a failure that says why this machine cannot have it.
fn real_isolator() -> CgroupsIsolator {
    let hierarchy = Hierarchy::detect(true, true).unwrap_or_else(|e| {
        panic!(
            "cgroups/cpu,cgroups/mem is not usable on this machine, and these tests need \
             it (run as root with the cpu and memory controllers mounted): {e}"
        )
    });
    // A root per test run, so parallel tests and leftovers never meet.
    let root = format!("ratufa-test-{}", uuid::Uuid::new_v4());
    CgroupsIsolator::new(hierarchy, &root, BOTH, true)
}

/// Removes the per-run root (the containers are gone by then).
fn remove_root(isolator: &CgroupsIsolator) {
    if let Hierarchy::V1 {
        cpu,
        cpuacct,
        memory,
    } = isolator.hierarchy()
    {
        for mount in [cpu, cpuacct, memory].into_iter().flatten() {
            let _ = std::fs::remove_dir(mount.join(&isolator.root));
        }
    } else if let Hierarchy::V2 { mount } = isolator.hierarchy() {
        let _ = std::fs::remove_dir(mount.join(&isolator.root));
    }
}

fn spec(script: &str, cwd: &Path) -> ProcessSpec {
    ProcessSpec {
        program: "sh".to_string(),
        arg0: None,
        args: vec!["-c".to_string(), script.to_string()],
        env: vec![],
        cwd: cwd.to_path_buf(),
    }
}

#[tokio::test]
async fn real_cgroup_created_limited_joined_and_removed() {
    let isolator = real_isolator();
    let sandbox = tempfile::tempdir().unwrap();
    let prepared = isolator.prepare("c1", &limits(0.5, 64.0)).unwrap();
    let manager = isolator.manager("c1");
    assert!(manager.exists());
    let usage = isolator.usage("c1").unwrap();
    assert_eq!(usage.mem_limit_bytes, Some(64 << 20));
    assert_eq!(usage.oom_kills, Some(0));
    assert_eq!(manager.oom_kills().unwrap(), Some(0));

    // The child joins before exec: what it forks is inside too.
    let mut process = Process::spawn_in(
        &spec("sleep 30 & echo $! > bg; wait", sandbox.path()),
        &prepared.join,
    )
    .unwrap();
    isolator.isolate("c1", process.pid()).unwrap();
    let bg = sandbox.path().join("bg");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(&bg).map_or(true, |s| !s.ends_with('\n')) {
        assert!(
            Instant::now() < deadline,
            "the background sleep never started"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let sleeper: i32 = read(&bg).parse().unwrap();
    let pids = manager.pids().unwrap();
    assert!(pids.contains(&process.pid()), "{pids:?}");
    assert!(pids.contains(&sleeper), "{pids:?}");
    for procs in &prepared.join {
        let text = read(procs);
        assert!(
            text.lines().any(|l| l == process.pid().to_string()),
            "{}: {text}",
            procs.display()
        );
    }
    assert!(isolator.usage("c1").unwrap().mem_bytes.unwrap() > 0);

    // Cleanup kills what is left and removes the cgroup everywhere (so the runner
    // need not look for it in /proc).
    assert!(isolator.kills_leftovers());
    tokio::task::spawn_blocking({
        let isolator =
            CgroupsIsolator::new(isolator.hierarchy().clone(), &isolator.root, BOTH, true);
        move || isolator.cleanup("c1").unwrap()
    })
    .await
    .unwrap();
    assert!(!manager.exists());
    assert!(matches!(process.wait().await, Exit::Signal(libc::SIGKILL)));
    for procs in &prepared.join {
        assert!(!procs.parent().unwrap().exists(), "{}", procs.display());
    }
    // Cleaning up what is gone is fine.
    isolator.cleanup("c1").unwrap();
    remove_root(&isolator);
}

#[tokio::test]
async fn real_oom_kill_is_a_memory_limitation() {
    let isolator = real_isolator();
    let sandbox = tempfile::tempdir().unwrap();
    let prepared = isolator.prepare("oom", &limits(1.0, 64.0)).unwrap();
    let mut process = Process::spawn_in(
        &spec(
            "exec python3 -c 'b = b\"x\" * (200 * 1024 * 1024); print(len(b))'",
            sandbox.path(),
        ),
        &prepared.join,
    )
    .unwrap();
    let exit = process.wait().await;
    assert_eq!(
        exit,
        Exit::Signal(libc::SIGKILL),
        "{}",
        read(&sandbox.path().join("stderr"))
    );
    let limitation = isolator
        .limitation("oom")
        .expect("an OOM kill is a limitation");
    assert_eq!(limitation.resource, LimitedResource::Memory);
    assert!(
        limitation
            .message
            .starts_with("Memory limit exceeded: Requested: 64MB Maximum Used: "),
        "{}",
        limitation.message
    );
    isolator.cleanup("oom").unwrap();
    assert!(!isolator.manager("oom").exists());
    remove_root(&isolator);
}

#[test]
fn limit_swap_writes_the_swap_limits() {
    let dir = tempfile::tempdir().unwrap();
    let memory = dir.path().join("memory");
    let v1 = CgroupsIsolator::new(
        Hierarchy::V1 {
            cpu: None,
            cpuacct: None,
            memory: Some(memory.clone()),
        },
        "r",
        BOTH,
        false,
    )
    .with_limit_swap(true);
    // A kernel without swap accounting has no memsw files: refused at start.
    let e = v1.check_limit_swap().unwrap_err().to_string();
    assert!(
        e.contains("--cgroups_limit_swap") && e.contains("memory.memsw.limit_in_bytes"),
        "{e}"
    );
    std::fs::create_dir_all(&memory).unwrap();
    std::fs::write(memory.join("memory.memsw.limit_in_bytes"), "0").unwrap();
    v1.check_limit_swap().unwrap();
    v1.prepare("c", &limits(1.0, 64.0)).unwrap();
    let cg = memory.join("r/c");
    assert_eq!(read(&cg.join("memory.limit_in_bytes")), "67108864");
    assert_eq!(read(&cg.join("memory.memsw.limit_in_bytes")), "67108864");
    v1.update("c", &limits(1.0, 128.0)).unwrap();
    assert_eq!(read(&cg.join("memory.memsw.limit_in_bytes")), "134217728");

    let mount = dir.path().join("unified");
    std::fs::create_dir_all(&mount).unwrap();
    std::fs::write(mount.join("cgroup.controllers"), "cpu memory\n").unwrap();
    let v2 = CgroupsIsolator::new(
        Hierarchy::V2 {
            mount: mount.clone(),
        },
        "r",
        BOTH,
        false,
    )
    .with_limit_swap(true);
    v2.prepare("c", &limits(1.0, 64.0)).unwrap();
    assert_eq!(read(&mount.join("r/c/memory.swap.max")), "0");
    // Without the flag, swap is left alone.
    let plain = CgroupsIsolator::new(
        Hierarchy::V2 {
            mount: mount.clone(),
        },
        "r",
        BOTH,
        false,
    );
    plain.prepare("d", &limits(1.0, 64.0)).unwrap();
    assert!(!mount.join("r/d/memory.swap.max").exists());
}

#[test]
fn v2_keeps_a_memory_limit_that_would_kill() {
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path();
    std::fs::write(mount.join("cgroup.controllers"), "cpu memory\n").unwrap();
    let isolator = CgroupsIsolator::new(
        Hierarchy::V2 {
            mount: mount.into(),
        },
        "r",
        BOTH,
        false,
    );
    isolator.prepare("c", &limits(1.0, 128.0)).unwrap();
    let cg = mount.join("r/c");
    std::fs::write(cg.join("memory.current"), (100u64 << 20).to_string()).unwrap();
    // 64 MB is below the 100 MB in use: memory.max stays; the cpu weight moves.
    isolator.update("c", &limits(2.0, 64.0)).unwrap();
    assert_eq!(read(&cg.join("memory.max")), (128u64 << 20).to_string());
    assert_eq!(
        read(&cg.join("cpu.weight")),
        v2::shares_to_weight(2048).to_string()
    );
    // 110 MB is above it: lowered.
    isolator.update("c", &limits(2.0, 110.0)).unwrap();
    assert_eq!(read(&cg.join("memory.max")), (110u64 << 20).to_string());
}

#[test]
fn containers_lists_every_hierarchy() {
    let dir = tempfile::tempdir().unwrap();
    let (cpu, memory) = (dir.path().join("cpu"), dir.path().join("memory"));
    let isolator = CgroupsIsolator::new(
        Hierarchy::V1 {
            cpu: Some(cpu.clone()),
            cpuacct: None,
            memory: Some(memory.clone()),
        },
        "r",
        BOTH,
        false,
    );
    assert!(isolator.containers().unwrap().is_empty());
    std::fs::create_dir_all(cpu.join("r/b")).unwrap();
    std::fs::create_dir_all(memory.join("r/a")).unwrap();
    std::fs::create_dir_all(memory.join("r/b")).unwrap();
    // Files in the root (a cgroup's own control files) are not containers.
    std::fs::write(memory.join("r/cgroup.procs"), "").unwrap();
    assert_eq!(isolator.containers().unwrap(), vec!["a", "b"]);
}

/// The hard memory limit and the cpu shares (v2: weight) of a real container.
fn real_limits(isolator: &CgroupsIsolator, container: &str) -> (u64, u64) {
    let memory = isolator
        .usage(container)
        .unwrap()
        .mem_limit_bytes
        .expect("a memory limit");
    let cpu = match isolator.hierarchy() {
        Hierarchy::V1 { cpu, .. } => read(
            &cpu.as_ref()
                .unwrap()
                .join(&isolator.root)
                .join(container)
                .join("cpu.shares"),
        ),
        Hierarchy::V2 { mount } => read(
            &mount
                .join(&isolator.root)
                .join(container)
                .join("cpu.weight"),
        ),
    };
    (memory, cpu.parse().unwrap())
}

fn shares(cpus: f64, isolator: &CgroupsIsolator) -> u64 {
    let shares = CgroupLimits::new(&limits(cpus, 0.0), BOTH, false)
        .cpu_shares
        .unwrap();
    match isolator.hierarchy() {
        Hierarchy::V1 { .. } => shares,
        Hierarchy::V2 { .. } => v2::shares_to_weight(shares),
    }
}

/// Starts `script` inside `container` and waits until it has written `ready` in the
/// sandbox.
async fn start_in(
    isolator: &CgroupsIsolator,
    prepared: &Prepared,
    container: &str,
    script: &str,
    sandbox: &Path,
) -> Process {
    let process = Process::spawn_in(&spec(script, sandbox), &prepared.join).unwrap();
    isolator.isolate(container, process.pid()).unwrap();
    let ready = sandbox.join("ready");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready.exists() {
        assert!(
            Instant::now() < deadline,
            "never ready: {}",
            std::fs::read_to_string(sandbox.join("stderr")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    process
}

#[tokio::test]
async fn real_update_raises_and_lowers_a_live_containers_limits() {
    let isolator = real_isolator();
    let sandbox = tempfile::tempdir().unwrap();
    let prepared = isolator.prepare("live", &limits(0.5, 64.0)).unwrap();
    let mut process = start_in(
        &isolator,
        &prepared,
        "live",
        "touch ready; exec sleep 300",
        sandbox.path(),
    )
    .await;
    assert_eq!(
        real_limits(&isolator, "live"),
        (64 << 20, shares(0.5, &isolator))
    );

    isolator.update("live", &limits(2.0, 256.0)).unwrap();
    assert_eq!(
        real_limits(&isolator, "live"),
        (256 << 20, shares(2.0, &isolator))
    );
    isolator.update("live", &limits(0.25, 48.0)).unwrap();
    assert_eq!(
        real_limits(&isolator, "live"),
        (48 << 20, shares(0.25, &isolator))
    );
    assert!(
        isolator
            .manager("live")
            .pids()
            .unwrap()
            .contains(&process.pid()),
        "the process lives on in its cgroup"
    );

    isolator.cleanup("live").unwrap();
    assert!(matches!(process.wait().await, Exit::Signal(libc::SIGKILL)));
    remove_root(&isolator);
}

#[tokio::test]
async fn real_update_keeps_a_memory_limit_below_what_is_used() {
    // With swap the kernel could page the memory out and lower the limit after all.
    let swaps = std::fs::read_to_string("/proc/swaps").unwrap();
    if swaps.lines().count() > 1 {
        eprintln!("skipped: this machine has swap");
        return;
    }
    let isolator = real_isolator();
    let sandbox = tempfile::tempdir().unwrap();
    let prepared = isolator.prepare("big", &limits(1.0, 256.0)).unwrap();
    let mut process = start_in(
        &isolator,
        &prepared,
        "big",
        "exec python3 -c 'import time; b = bytearray(128 << 20); b[::4096] = b\"x\" * \
         len(b[::4096]); open(\"ready\", \"w\").close(); time.sleep(300)'",
        sandbox.path(),
    )
    .await;
    isolator.update("big", &limits(1.0, 64.0)).unwrap();
    assert_eq!(real_limits(&isolator, "big").0, 256 << 20);
    assert!(
        isolator.limitation("big").is_none(),
        "lowering did not OOM-kill"
    );
    assert!(
        isolator
            .manager("big")
            .pids()
            .unwrap()
            .contains(&process.pid())
    );
    isolator.cleanup("big").unwrap();
    assert!(matches!(process.wait().await, Exit::Signal(libc::SIGKILL)));
    remove_root(&isolator);
}

#[tokio::test]
async fn real_limit_swap_bounds_swap_with_the_memory_limit() {
    let isolator = real_isolator().with_limit_swap(true);
    isolator.check_limit_swap().unwrap();
    isolator.prepare("swap", &limits(1.0, 64.0)).unwrap();
    isolator.update("swap", &limits(1.0, 128.0)).unwrap();
    isolator.update("swap", &limits(1.0, 96.0)).unwrap();
    match isolator.hierarchy() {
        Hierarchy::V1 { memory, .. } => {
            let cg = memory.as_ref().unwrap().join(&isolator.root).join("swap");
            assert_eq!(read(&cg.join("memory.limit_in_bytes")), "100663296");
            assert_eq!(read(&cg.join("memory.memsw.limit_in_bytes")), "100663296");
        }
        Hierarchy::V2 { mount } => {
            let cg = mount.join(&isolator.root).join("swap");
            assert_eq!(read(&cg.join("memory.swap.max")), "0");
        }
    }
    isolator.cleanup("swap").unwrap();
    remove_root(&isolator);
}

#[tokio::test]
async fn real_recover_destroys_orphans_and_keeps_the_known() {
    let isolator = real_isolator();
    let known_box = tempfile::tempdir().unwrap();
    let orphan_box = tempfile::tempdir().unwrap();
    let known = isolator.prepare("known", &limits(0.5, 64.0)).unwrap();
    let orphan = isolator.prepare("orphan", &limits(0.5, 64.0)).unwrap();
    let mut kept = start_in(
        &isolator,
        &known,
        "known",
        "touch ready; exec sleep 300",
        known_box.path(),
    )
    .await;
    let mut left = start_in(
        &isolator,
        &orphan,
        "orphan",
        "touch ready; exec sleep 300",
        orphan_box.path(),
    )
    .await;

    let cleaned = tokio::task::spawn_blocking({
        let isolator =
            CgroupsIsolator::new(isolator.hierarchy().clone(), &isolator.root, BOTH, true);
        move || isolator.recover(&["known".to_string()]).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(cleaned, vec!["orphan".to_string()]);
    assert!(!isolator.manager("orphan").exists());
    assert!(matches!(left.wait().await, Exit::Signal(libc::SIGKILL)));
    assert!(isolator.manager("known").exists());
    assert!(
        isolator
            .manager("known")
            .pids()
            .unwrap()
            .contains(&kept.pid())
    );
    assert_eq!(isolator.containers().unwrap(), vec!["known".to_string()]);

    isolator.cleanup("known").unwrap();
    assert!(matches!(kept.wait().await, Exit::Signal(libc::SIGKILL)));
    assert!(isolator.recover(&[]).unwrap().is_empty());
    remove_root(&isolator);
}
