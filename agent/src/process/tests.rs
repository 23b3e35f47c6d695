// Test scaffolding: a failure here should fail the test loudly.
#![allow(clippy::unwrap_used)]

use std::time::Instant;

use super::*;
use ratufa_proto::v1::Environment;
use ratufa_proto::v1::environment::Variable;

fn shell(value: &str, cwd: &Path) -> ProcessSpec {
    ProcessSpec::shell(value, cwd.to_path_buf())
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap()
}

#[tokio::test]
async fn exit_codes_and_output_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut ok = Process::spawn(&shell("echo out; echo err >&2; pwd", dir.path())).unwrap();
    assert_eq!(ok.wait().await, Exit::Code(0));
    let stdout = read(dir.path(), "stdout");
    assert!(stdout.starts_with("out\n"), "{stdout:?}");
    // The sandbox is the working directory.
    let cwd = std::fs::canonicalize(dir.path()).unwrap();
    assert!(stdout.contains(cwd.to_str().unwrap()), "{stdout:?}");
    assert_eq!(read(dir.path(), "stderr"), "err\n");

    let mut failing = Process::spawn(&shell("exit 3", dir.path())).unwrap();
    let exit = failing.wait().await;
    assert_eq!(exit, Exit::Code(3));
    assert_eq!(exit.describe(), "Command exited with status 3");
}

#[tokio::test]
async fn environment_and_argv_without_a_shell() {
    let dir = tempfile::tempdir().unwrap();
    let command = CommandInfo {
        shell: Some(false),
        value: Some("/bin/sh".to_string()),
        // argv[0] first, as Mesos takes `arguments`; sh -c without more arguments
        // makes $0 its own argv[0].
        arguments: vec![
            "my-name".to_string(),
            "-c".to_string(),
            "echo \"$0 $GREETING\"".to_string(),
        ],
        environment: Some(Environment {
            variables: vec![Variable {
                name: "GREETING".to_string(),
                value: Some("hello".to_string()),
                ..Variable::default()
            }],
        }),
        ..CommandInfo::default()
    };
    let spec = ProcessSpec::from_command(&command, dir.path().to_path_buf()).unwrap();
    let mut process = Process::spawn(&spec).unwrap();
    assert_eq!(process.wait().await, Exit::Code(0));
    assert_eq!(read(dir.path(), "stdout"), "my-name hello\n");
}

#[tokio::test]
async fn a_missing_program_fails_to_spawn() {
    let dir = tempfile::tempdir().unwrap();
    let command = CommandInfo {
        shell: Some(false),
        value: Some("/nonexistent/program".to_string()),
        ..CommandInfo::default()
    };
    let spec = ProcessSpec::from_command(&command, dir.path().to_path_buf()).unwrap();
    let error = Process::spawn(&spec).unwrap_err();
    assert!(
        error.to_string().contains("/nonexistent/program"),
        "{error}"
    );
}

#[test]
fn a_command_needs_a_value_and_no_secrets() {
    let dir = PathBuf::from("/tmp");
    let empty = CommandInfo::default();
    assert!(
        ProcessSpec::from_command(&empty, dir.clone())
            .unwrap_err()
            .contains("value")
    );
    let secret = CommandInfo {
        value: Some("true".to_string()),
        environment: Some(Environment {
            variables: vec![Variable {
                name: "TOKEN".to_string(),
                r#type: Some(VariableType::Secret as i32),
                ..Variable::default()
            }],
        }),
        ..CommandInfo::default()
    };
    assert!(
        ProcessSpec::from_command(&secret, dir)
            .unwrap_err()
            .contains("TOKEN")
    );
}

#[tokio::test]
async fn kill_reaches_the_whole_group_with_sigterm_first() {
    let dir = tempfile::tempdir().unwrap();
    // The shell forks a sleep (not exec'd: two commands) and records its pid.
    let mut process =
        Process::spawn(&shell("sleep 100 & echo $! > child.pid; wait", dir.path())).unwrap();
    let pid_file = dir.path().join("child.pid");
    let deadline = Instant::now() + Duration::from_secs(10);
    while read(dir.path(), "stdout").is_empty()
        && std::fs::read_to_string(&pid_file).map_or(true, |s| s.trim().is_empty())
    {
        assert!(
            Instant::now() < deadline,
            "the shell never started its child"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let grandchild: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let exit = process.kill(Duration::from_secs(5)).await;
    // SIGTERM was enough for sh: it died of it within the grace period.
    assert_eq!(exit, Exit::Signal(libc::SIGTERM));
    // And the sleep it forked is gone too (it may linger as a zombie of init briefly).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = std::fs::read_to_string(format!("/proc/{grandchild}/status"));
        let gone = status.map_or(true, |s| s.contains("State:\tZ"));
        if gone {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "pid {grandchild} survived the kill"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A leader that ends of the SIGTERM within the grace period takes with it what its
/// group still holds that ignores SIGTERM: the SIGKILL after its end, sent while the
/// leader is still a zombie (its pid, the group's id, not yet free for reuse).
#[tokio::test]
async fn kill_ends_what_ignores_sigterm_once_the_leader_has_ended() {
    let dir = tempfile::tempdir().unwrap();
    // The background sleep inherits the ignored SIGTERM across its exec.
    let mut process = Process::spawn(&shell(
        "(trap '' TERM; exec sleep 300) & echo $! > child.pid; wait",
        dir.path(),
    ))
    .unwrap();
    // Once the sleep runs, its SIGTERM is ignored.
    let sleeping = || -> Option<i32> {
        let pid = std::fs::read_to_string(dir.path().join("child.pid")).ok()?;
        let pid: i32 = pid.trim().parse().ok()?;
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
        exe.ends_with("sleep").then_some(pid)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let child = loop {
        if let Some(pid) = sleeping() {
            break pid;
        }
        assert!(
            Instant::now() < deadline,
            "the shell never started its sleep"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let exit = process.kill(Duration::from_secs(60)).await;
    assert_eq!(exit, Exit::Signal(libc::SIGTERM));
    assert_gone(child).await;
}

/// Polls until `pid` is gone (a zombie of init counts as gone), failing after 10 s.
async fn assert_gone(pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pid) {
        assert!(Instant::now() < deadline, "pid {pid} survived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The end of a container's leader also ends what it left in other process groups of
/// its session (an executor's tasks): found by their session in /proc.
#[tokio::test]
async fn wait_ends_what_the_session_left_in_other_groups() {
    let dir = tempfile::tempdir().unwrap();
    // The background child makes a process group of its own (no shell here has job
    // control without a terminal; perl is in every Debian), staying in the shell's
    // session; the shell exits once it has.
    let mut process = Process::spawn(&shell(
        "perl -e 'setpgrp(0, 0); open(my $f, \">\", \"child.pid\"); print $f \"$$\\n\"; \
         close($f); sleep 300' & \
         while [ ! -s child.pid ]; do sleep 0.01; done",
        dir.path(),
    ))
    .unwrap();
    let leader = process.pid();
    assert_eq!(process.wait().await, Exit::Code(0));
    let child: i32 = read(dir.path(), "child.pid").trim().parse().unwrap();
    // SAFETY: getpgid and getsid take a pid and touch no memory of ours.
    let (group, session) = unsafe { (libc::getpgid(child), libc::getsid(child)) };
    assert_eq!(session, leader);
    assert_ne!(group, leader);
    assert_gone(child).await;
}

/// Containers that end together share one look through /proc: each loses what its
/// own session left in other groups, and a container still running loses nothing.
#[tokio::test]
async fn sessions_ending_together_each_lose_what_they_left() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut ending: Vec<Process> = dirs
        .iter()
        .map(|dir| {
            Process::spawn(&shell(
                "perl -e 'setpgrp(0, 0); open(my $f, \">\", \"child.pid\"); \
                 print $f \"$$\\n\"; close($f); sleep 300' & \
                 while [ ! -s child.pid ]; do sleep 0.01; done",
                dir.path(),
            ))
            .unwrap()
        })
        .collect();
    let bystander_dir = tempfile::tempdir().unwrap();
    let mut bystander = Process::spawn(&shell("exec sleep 300", bystander_dir.path())).unwrap();
    let [a, b, c] = &mut ending[..] else {
        unreachable!()
    };
    let (x, y, z) = tokio::join!(a.wait(), b.wait(), c.wait());
    assert_eq!([x, y, z], [Exit::Code(0), Exit::Code(0), Exit::Code(0)]);
    for dir in &dirs {
        let child: i32 = read(dir.path(), "child.pid").trim().parse().unwrap();
        assert_gone(child).await;
    }
    assert!(alive(bystander.pid()), "a running container was hit");
    assert_eq!(
        bystander.kill(Duration::ZERO).await,
        Exit::Signal(libc::SIGKILL)
    );
}

/// Until the leftovers are killed the leader stays a zombie: its pid, the id of its
/// group and session, cannot go to a new process meanwhile.
#[tokio::test]
async fn the_leader_is_reaped_only_after_its_end_was_seen() {
    let dir = tempfile::tempdir().unwrap();
    let mut process = Process::spawn(&shell("exit 3", dir.path())).unwrap();
    let pid = process.pid();
    tokio::time::timeout(Duration::from_secs(30), process.child.exited())
        .await
        .expect("the shell exits")
        .unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let state = stat[stat.rfind(')').unwrap() + 1..]
        .trim_start()
        .chars()
        .next();
    assert_eq!(state, Some('Z'), "{stat}");
    assert_eq!(process.wait().await, Exit::Code(3));
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
}

#[tokio::test]
async fn sigkill_after_the_grace_period_when_sigterm_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let mut process = Process::spawn(&shell(
        "trap '' TERM; echo ready; while true; do sleep 0.05; done",
        dir.path(),
    ))
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while read(dir.path(), "stdout").is_empty() {
        assert!(Instant::now() < deadline, "the shell never got ready");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let exit = process.kill(Duration::from_millis(200)).await;
    assert_eq!(exit, Exit::Signal(libc::SIGKILL));
}

/// Two children forked by one thread that then ends: the kernel kills the one
/// started with [`Process::spawn_in`] (the agent's death, as the child sees it) and
/// leaves the one started with [`Process::spawn_surviving_in`].
#[tokio::test]
async fn only_a_surviving_process_outlives_the_thread_that_forked_it() {
    let dir = tempfile::tempdir().unwrap();
    let (dying, surviving) = {
        let handle = tokio::runtime::Handle::current();
        let (dying_box, surviving_box) = (dir.path().join("d"), dir.path().join("s"));
        std::fs::create_dir_all(&dying_box).unwrap();
        std::fs::create_dir_all(&surviving_box).unwrap();
        std::thread::spawn(move || {
            let _runtime = handle.enter();
            let dying = Process::spawn_in(&shell("exec sleep 300", &dying_box), &[]).unwrap();
            let surviving =
                Process::spawn_surviving_in(&shell("exec sleep 300", &surviving_box), &[]).unwrap();
            (dying, surviving)
        })
        .join()
        .unwrap()
    };
    let (mut dying, mut surviving) = (dying, surviving);
    // Both were orphaned in the same moment: once one has had its signal, the other
    // would have had it too.
    let exit = tokio::time::timeout(Duration::from_secs(30), dying.wait())
        .await
        .expect("the kernel kills the child of the ended thread");
    assert_eq!(exit, Exit::Signal(libc::SIGKILL));
    assert!(alive(surviving.pid()), "the surviving child lives on");
    assert_eq!(
        surviving.kill(Duration::from_secs(10)).await,
        Exit::Signal(libc::SIGTERM)
    );
}

/// The child starts as std's spawn leaves one: no signal blocked, SIGPIPE not ignored
/// (the Rust runtime ignores it in the agent), whatever the agent's thread had.
#[tokio::test]
async fn the_child_has_no_blocked_signals_and_sigpipe_at_its_default() {
    let dir = tempfile::tempdir().unwrap();
    let command = CommandInfo {
        shell: Some(false),
        value: Some("/bin/cat".to_string()),
        arguments: vec!["cat".to_string(), "/proc/self/status".to_string()],
        ..CommandInfo::default()
    };
    let spec = ProcessSpec::from_command(&command, dir.path().to_path_buf()).unwrap();
    let mut process = Process::spawn(&spec).unwrap();
    assert_eq!(process.wait().await, Exit::Code(0));
    let status = read(dir.path(), "stdout");
    let mask = |name: &str| {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in {status}"));
        u64::from_str_radix(line[name.len()..].trim(), 16).unwrap()
    };
    assert_eq!(mask("SigBlk:"), 0, "{status}");
    assert_eq!(mask("SigIgn:") & (1 << (libc::SIGPIPE - 1)), 0, "{status}");
}

/// A program found on PATH that has no `#!` line runs under /bin/sh, as execvp runs
/// it; the task's own PATH is the one searched.
#[tokio::test]
async fn a_script_without_an_interpreter_line_runs_under_sh_found_on_the_tasks_path() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = bin.join("hello-script");
    std::fs::write(&script, "echo \"hello $1\"\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let command = CommandInfo {
        shell: Some(false),
        value: Some("hello-script".to_string()),
        arguments: vec!["hello-script".to_string(), "world".to_string()],
        environment: Some(Environment {
            variables: vec![Variable {
                name: "PATH".to_string(),
                value: Some(format!("/nonexistent:{}", bin.display())),
                ..Variable::default()
            }],
        }),
        ..CommandInfo::default()
    };
    let spec = ProcessSpec::from_command(&command, dir.path().to_path_buf()).unwrap();
    let mut process = Process::spawn(&spec).unwrap();
    assert_eq!(process.wait().await, Exit::Code(0));
    assert_eq!(read(dir.path(), "stdout"), "hello world\n");
}

/// A runtime shutting down drops its tasks, and with them a child still running; what
/// is spawned on it then is dropped at once, inside the spawn. The child, handed to a
/// reaping task, must not be handed on again from there (that recursed until the
/// stack overflowed): it is let go, still running.
#[test]
fn a_running_child_dropped_by_a_runtime_shutting_down_is_let_go() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let pid = runtime.block_on(async {
        let mut process = Process::spawn(&shell("exec sleep 300", dir.path())).unwrap();
        let pid = process.pid();
        tokio::spawn(async move { process.wait().await });
        pid
    });
    drop(runtime);
    assert!(alive(pid), "the child was let go, not killed");
    // SAFETY: kill and waitpid on our own child, with our own integer for the status.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        let mut status = 0;
        assert_eq!(libc::waitpid(pid, &mut status, 0), pid);
    }
}

/// The child's environment: ours, less what the spec names, then the spec's, the
/// later of two entries of one name winning; each name once.
#[tokio::test]
async fn the_spec_environment_overrides_ours_and_its_later_entries_win() {
    let dir = tempfile::tempdir().unwrap();
    let variable = |name: &str, value: &str| Variable {
        name: name.to_string(),
        value: Some(value.to_string()),
        ..Variable::default()
    };
    let command = CommandInfo {
        value: Some("env > env.txt".to_string()),
        environment: Some(Environment {
            variables: vec![
                variable("HOME", "/from-the-task"),
                variable("GREETING", "first"),
                variable("GREETING", "second"),
            ],
        }),
        ..CommandInfo::default()
    };
    let spec = ProcessSpec::from_command(&command, dir.path().to_path_buf()).unwrap();
    let mut process = Process::spawn(&spec).unwrap();
    assert_eq!(process.wait().await, Exit::Code(0));
    let env = read(dir.path(), "env.txt");
    let values = |name: &str| -> Vec<&str> {
        env.lines()
            .filter_map(|line| line.strip_prefix(&format!("{name}=")))
            .collect()
    };
    assert_eq!(values("HOME"), ["/from-the-task"], "{env}");
    assert_eq!(values("GREETING"), ["second"], "{env}");
    let ours = std::env::var("PATH").unwrap();
    assert_eq!(values("PATH"), [ours.as_str()], "ours kept: {env}");
}
