//! End to end against the real binary: the command executor (issue #4 item 5), as a
//! framework and a user see it. `ratufa master` and a separate `ratufa agent`; tasks
//! with a `command` and no executor run under Mesos's command executor, which is its
//! own process (`ratufa-executor`, else `ratufa executor`) speaking the v1 executor API
//! to the agent.
//!
//! - the task's parent process is the executor (its command line says `executor`, and
//!   it is not the agent); the task sees the MESOS_* variables of the reference sheet
//!   with the right values, and CommandInfo.environment;
//! - `exit 3` → TASK_FAILED "Command exited with status 3"; the argv form
//!   (`shell: false`) runs without a shell; an argv command that does not exist →
//!   TASK_FAILED with a message naming it; `user: "nobody"` runs the task as nobody;
//! - kill policy: a task that traps SIGTERM, with a 2 s grace period, gets SIGTERM first,
//!   then TASK_KILLED no sooner than the grace period after KILL, and its process tree
//!   is gone; TASK_KILLING goes only to a framework with TASK_KILLING_STATE;
//! - max_completion_time → TASK_FAILED with REASON_MAX_COMPLETION_TIME_REACHED;
//! - health checks: COMMAND `true` → RUNNING with healthy=true; TCP to a closed port
//!   with consecutive_failures 1 → healthy=false and the task killed; HTTP to a python
//!   http.server the task starts → healthy=true.

// Test scaffolding: a failure here should fail the test loudly.
#![allow(clippy::unwrap_used)]

#[path = "support/agent.rs"]
mod agent;
#[path = "support/cluster.rs"]
mod cluster;
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use agent::{
    Agent, Reaper, await_gone, await_status, duration, kill_task, pid_in, resources, scratch,
    states_of, terminal_states,
};
use cluster::{Scheduler, command_task};
use support::{FAST_HEARTBEAT, Master, flags_with_heartbeat, free_port};

/// A master and an agent with room for several tasks at once.
async fn cluster(agent_flags: &[&str]) -> (Master, Agent) {
    let master = Master::start_with(&flags_with_heartbeat(FAST_HEARTBEAT)).await;
    let agent = Agent::start(&master, agent_flags).await;
    (master, agent)
}

/// `KEY=value` lines of a task's stdout, as a map (other lines ignored).
fn variables(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `ratufa-executor` starts once per task: it is linked position-dependent and
/// statically (build.rs), so that at its start there is no dynamic loader, no library
/// to map and none of its addresses to relocate.
#[test]
fn the_executor_binary_is_static_and_position_dependent() {
    let elf = std::fs::read(env!("CARGO_BIN_EXE_ratufa-executor")).unwrap();
    assert_eq!(&elf[..4], b"\x7fELF");
    let u16_at = |at: usize| u16::from_le_bytes([elf[at], elf[at + 1]]);
    // e_type, little-endian at offset 16: 2 is ET_EXEC, 3 ET_DYN (a PIE).
    assert_eq!(u16_at(16), 2, "not ET_EXEC");
    // The program headers (e_phoff, e_phentsize, e_phnum of ELF64): none may be
    // PT_INTERP (3, a dynamic loader to run) or PT_DYNAMIC (2, libraries to load).
    let table = usize::try_from(u64::from_le_bytes(elf[32..40].try_into().unwrap())).unwrap();
    let types: Vec<u32> = (0..usize::from(u16_at(56)))
        .map(|i| table + i * usize::from(u16_at(54)))
        .map(|at| u32::from_le_bytes(elf[at..at + 4].try_into().unwrap()))
        .collect();
    assert!(types.contains(&1), "no PT_LOAD in {types:?}");
    assert!(
        !types.contains(&3) && !types.contains(&2),
        "dynamically linked (program header types {types:?}); build.rs warns why"
    );
}

/// The executor logs at INFO unless RUST_LOG says otherwise, as a plain level or as
/// per-target directives (its two ways of setting up the filter).
#[test]
fn the_executor_logs_at_info_unless_rust_log_says_otherwise() {
    let logged = |rust_log: Option<&str>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_ratufa-executor"));
        command.env_clear();
        if let Some(value) = rust_log {
            command.env("RUST_LOG", value);
        }
        // Without the agent's environment it logs an error and exits 1.
        let output = command.output().unwrap();
        assert_eq!(output.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(stderr.contains("MESOS_FRAMEWORK_ID"), "{stderr}");
        stderr.contains("ERROR ratufa_executor: cannot start the executor")
    };
    assert!(logged(None));
    assert!(logged(Some("warn")));
    assert!(!logged(Some("off")));
    assert!(logged(Some("ratufa_executor=error")));
    assert!(!logged(Some("ratufa_agent=error")));
}

/// `ratufa-executor` takes no arguments: one given is named and the executor exits 1
/// without starting.
#[test]
fn the_executor_refuses_arguments() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ratufa-executor"))
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("unexpected argument \"--help\""),
        "{stderr}"
    );
    assert!(!stderr.contains("MESOS_FRAMEWORK_ID"), "{stderr}");
}

/// A launcher dir without `ratufa-executor` (only `ratufa`, linked): the agent runs
/// its executor as `ratufa executor` instead, and the task runs as well.
#[tokio::test]
async fn without_the_executor_binary_the_big_binary_serves_as_executor() {
    let launcher_dir = scratch("launcher-dir");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_ratufa"), launcher_dir.join("ratufa")).unwrap();
    let flag = format!("--launcher_dir={}", launcher_dir.display());
    let (master, agent) = cluster(&["--resources=cpus:1;mem:256", &flag]).await;
    let info = json!({"user": "root", "name": "big-binary-executor"});
    let mut scheduler = Scheduler::subscribe(&master, &info).await;
    let offer = scheduler.offers(&master).await.remove(0);
    let agent_id = offer["agent_id"].clone();
    let task = command_task(
        "parent",
        &agent_id,
        0.1,
        32.0,
        "echo \"PARENT_CMDLINE=$(tr '\\0' ' ' < /proc/$PPID/cmdline)\"",
    );
    scheduler
        .launch(&master, &[&offer["id"]], vec![task], 3600.0)
        .await;
    let done = terminal_states(&master, &mut scheduler, &["parent"], &mut Vec::new()).await;
    assert_eq!(
        done["parent"]["state"], "TASK_FINISHED",
        "{}",
        done["parent"]
    );
    let directory = agent.sandbox(scheduler.id(), "parent").await;
    let stdout = agent.read_file(&directory, "stdout").await;
    let vars = variables(&stdout);
    let parent_argv: Vec<&str> = vars["PARENT_CMDLINE"].split_whitespace().collect();
    assert_eq!(parent_argv, ["ratufa", "executor"], "stdout:\n{stdout}");
}

#[tokio::test]
async fn tasks_run_under_their_own_executor_with_the_mesos_environment() {
    let (master, agent) = cluster(&["--resources=cpus:4;mem:2048"]).await;
    let info = json!({"user": "root", "name": "command-executor"});
    let mut scheduler = Scheduler::subscribe(&master, &info).await;
    let offer = scheduler.offers(&master).await.remove(0);
    let agent_id = offer["agent_id"].clone();

    let mut env = command_task(
        "env",
        &agent_id,
        0.1,
        32.0,
        "echo \"PARENT_PID=$PPID\"; \
         echo \"PARENT_CMDLINE=$(tr '\\0' ' ' < /proc/$PPID/cmdline)\"; \
         echo \"PARENT_SIGIGN=$(awk '/^SigIgn/ {print $2}' /proc/$PPID/status)\"; \
         echo \"OWN_SIGIGN=$(awk '/^SigIgn/ {print $2}' /proc/$$/status)\"; \
         env | grep '^MESOS_' | sort; echo \"GREETING=$GREETING\"",
    );
    env["command"]["environment"] =
        json!({"variables": [{"name": "GREETING", "value": "hello from CommandInfo"}]});
    let exit3 = command_task("exit3", &agent_id, 0.1, 32.0, "exit 3");
    let mut argv = command_task("argv", &agent_id, 0.1, 32.0, "");
    argv["command"] = json!({
        "shell": false,
        "value": "/bin/echo",
        "arguments": ["echo", "two  spaces", "$HOME", "*"],
    });
    let mut missing = command_task("missing", &agent_id, 0.1, 32.0, "");
    missing["command"] = json!({
        "shell": false,
        "value": "/nonexistent/ratufa-no-such-command",
        "arguments": ["ratufa-no-such-command"],
    });
    let mut nobody = command_task("nobody", &agent_id, 0.1, 32.0, "id -un; id -G");
    nobody["command"]["user"] = json!("nobody");

    scheduler
        .launch(
            &master,
            &[&offer["id"]],
            vec![env, exit3, argv, missing, nobody],
            3600.0,
        )
        .await;
    let done = terminal_states(
        &master,
        &mut scheduler,
        &["env", "exit3", "argv", "missing", "nobody"],
        &mut Vec::new(),
    )
    .await;
    let framework_id = scheduler.id().to_string();
    let agent_id_text = agent_id["value"].as_str().unwrap();

    // The environment, and who the task's parent was.
    assert_eq!(done["env"]["state"], "TASK_FINISHED", "{}", done["env"]);
    let directory = agent.sandbox(&framework_id, "env").await;
    let stdout = agent.read_file(&directory, "stdout").await;
    let vars = variables(&stdout);
    let parent: u32 = vars["PARENT_PID"].parse().unwrap();
    assert_ne!(
        parent,
        agent.pid(),
        "the task is a child of the agent itself"
    );
    let parent_argv: Vec<&str> = vars["PARENT_CMDLINE"].split_whitespace().collect();
    // The executor-only binary beside `ratufa` (cargo builds both), which the agent
    // prefers to `ratufa executor`.
    assert_eq!(
        parent_argv,
        ["ratufa-executor"],
        "the task's parent is not a `ratufa-executor` process"
    );
    // The executor ignores SIGPIPE (a write to a connection the agent closed is an
    // error to handle, not its end); the task does not inherit that.
    let ignored = |name: &str| {
        let mask = u64::from_str_radix(&vars[name], 16).unwrap();
        mask & (1 << (libc::SIGPIPE - 1)) != 0
    };
    assert!(ignored("PARENT_SIGIGN"), "stdout:\n{stdout}");
    assert!(!ignored("OWN_SIGIGN"), "stdout:\n{stdout}");
    let expected = [
        ("MESOS_FRAMEWORK_ID", framework_id.clone()),
        ("MESOS_EXECUTOR_ID", "env".to_string()),
        ("MESOS_SLAVE_ID", agent_id_text.to_string()),
        ("MESOS_AGENT_ENDPOINT", format!("127.0.0.1:{}", agent.port)),
        ("MESOS_DIRECTORY", directory.clone()),
        ("MESOS_SANDBOX", directory.clone()),
        ("MESOS_CHECKPOINT", "0".to_string()),
        ("GREETING", "hello from CommandInfo".to_string()),
    ];
    for (name, value) in expected {
        assert_eq!(
            vars.get(name),
            Some(&value),
            "{name} in the task's environment; stdout:\n{stdout}"
        );
    }
    for name in [
        "MESOS_SLAVE_PID",
        "MESOS_HTTP_COMMAND_EXECUTOR",
        "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD",
        "MESOS_RECOVERY_TIMEOUT",
        "MESOS_SUBSCRIPTION_BACKOFF_MAX",
    ] {
        assert!(
            vars.get(name).is_some_and(|v| !v.is_empty()),
            "{name} missing from the task's environment; stdout:\n{stdout}"
        );
    }
    // The executor is a command executor: executor id = task id, and its source.
    assert_eq!(
        done["env"]["executor_id"]["value"], "env",
        "{}",
        done["env"]
    );

    assert_eq!(done["exit3"]["state"], "TASK_FAILED", "{}", done["exit3"]);
    assert_eq!(done["exit3"]["message"], "Command exited with status 3");

    // No shell: the arguments arrive as given, unexpanded.
    assert_eq!(done["argv"]["state"], "TASK_FINISHED", "{}", done["argv"]);
    let argv_box = agent.sandbox(&framework_id, "argv").await;
    let argv_out = agent.read_file(&argv_box, "stdout").await;
    assert!(
        argv_out.lines().any(|l| l == "two  spaces $HOME *"),
        "argv task stdout: {argv_out:?}"
    );

    assert_eq!(
        done["missing"]["state"], "TASK_FAILED",
        "{}",
        done["missing"]
    );
    let message = done["missing"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("ratufa-no-such-command"),
        "the failure should name the command: {}",
        done["missing"]
    );

    assert_eq!(
        done["nobody"]["state"], "TASK_FINISHED",
        "{}",
        done["nobody"]
    );
    let nobody_box = agent.sandbox(&framework_id, "nobody").await;
    let who = agent.read_file(&nobody_box, "stdout").await;
    assert!(
        who.lines().any(|l| l == "nobody"),
        "`id -un` printed {who:?}"
    );
    // Its groups are nobody's, as the C library's user database gives them here (the
    // executor, linked statically, looks them up through its own copy of it).
    let groups = std::process::Command::new("id")
        .args(["-G", "nobody"])
        .output()
        .unwrap();
    let groups = String::from_utf8(groups.stdout).unwrap();
    assert!(
        who.lines().any(|l| l == groups.trim()),
        "`id -G` printed {who:?}, nobody's groups are {groups:?}"
    );

    agent.assert_alive().await;
    master.assert_alive().await;
}

/// A shell task that writes its pid and a child's pid to `dir`, traps SIGTERM (writing
/// `dir/marker`) and carries on, so only SIGKILL ends it.
fn stubborn(dir: &std::path::Path) -> String {
    let d = dir.display();
    format!(
        "trap 'echo SIGTERM >> {d}/marker' TERM; \
         sleep 120 & echo $! > {d}/child.pid; \
         echo $$ > {d}/shell.pid; \
         while true; do sleep 0.2; done"
    )
}

#[tokio::test]
async fn kill_policy_grace_is_honoured_and_task_killing_goes_to_capable_frameworks() {
    let (master, _agent) = cluster(&["--resources=cpus:4;mem:2048"]).await;
    let mut reaper = Reaper::default();

    // A framework that understands TASK_KILLING.
    let capable = json!({
        "user": "root",
        "name": "killing-capable",
        "capabilities": [{"type": "TASK_KILLING_STATE"}],
    });
    let mut scheduler = Scheduler::subscribe(&master, &capable).await;
    let offer = scheduler.offers(&master).await.remove(0);
    let agent_id = offer["agent_id"].clone();
    let dir = scratch("kill-policy");
    let mut task = command_task("stubborn", &agent_id, 0.5, 64.0, &stubborn(&dir));
    task["kill_policy"] = json!({"grace_period": duration(2.0)});
    // What is left of the offer is refused for an hour: the next framework gets it.
    scheduler
        .launch(&master, &[&offer["id"]], vec![task], 3600.0)
        .await;
    scheduler
        .await_state(&master, "stubborn", "TASK_RUNNING")
        .await;
    let shell = pid_in(&dir.join("shell.pid")).await;
    let child = pid_in(&dir.join("child.pid")).await;
    reaper.add(shell);
    reaper.add(child);

    let killed_at = Instant::now();
    kill_task(&master, &scheduler, "stubborn", &agent_id).await;
    scheduler
        .await_state(&master, "stubborn", "TASK_KILLED")
        .await;
    let waited = killed_at.elapsed();
    // The task ignored SIGTERM, so only the grace period's SIGKILL could end it.
    assert!(
        waited >= Duration::from_secs(2),
        "TASK_KILLED came {waited:?} after KILL, before the 2 s grace period"
    );
    let marker = std::fs::read_to_string(dir.join("marker")).unwrap_or_default();
    assert!(
        marker.contains("SIGTERM"),
        "the task never saw SIGTERM before being killed: {marker:?}"
    );
    let states = states_of(&scheduler, "stubborn");
    let killing = states.iter().position(|s| s == "TASK_KILLING");
    let killed = states.iter().position(|s| s == "TASK_KILLED");
    assert!(
        matches!((killing, killed), (Some(a), Some(b)) if a < b),
        "a TASK_KILLING_STATE framework sees TASK_KILLING before TASK_KILLED: {states:?}"
    );
    await_gone(shell, "the task's shell").await;
    await_gone(child, "the task's child").await;
    // The freed resources may be offered back to the first framework, which would
    // hold them: it goes, so the next framework gets the agent.
    scheduler.bare(&master, "TEARDOWN").await;

    // A framework without the capability never sees TASK_KILLING.
    let plain = json!({"user": "root", "name": "killing-plain"});
    let mut other = Scheduler::subscribe(&master, &plain).await;
    let offer = other.offers(&master).await.remove(0);
    let other_dir = scratch("kill-plain");
    let d = other_dir.display();
    let task = command_task(
        "plain",
        &offer["agent_id"],
        0.5,
        64.0,
        &format!("echo $$ > {d}/shell.pid; exec sleep 120"),
    );
    other
        .launch(&master, &[&offer["id"]], vec![task], 3600.0)
        .await;
    other.await_state(&master, "plain", "TASK_RUNNING").await;
    let sleeper = pid_in(&other_dir.join("shell.pid")).await;
    reaper.add(sleeper);
    kill_task(&master, &other, "plain", &offer["agent_id"]).await;
    other.await_state(&master, "plain", "TASK_KILLED").await;
    let states = states_of(&other, "plain");
    assert!(
        !states.iter().any(|s| s == "TASK_KILLING"),
        "TASK_KILLING went to a framework without TASK_KILLING_STATE: {states:?}"
    );
    await_gone(sleeper, "the plain task").await;
    master.assert_alive().await;
}

#[tokio::test]
async fn max_completion_time_and_health_checks() {
    let http_port = free_port();
    let resources_flag = format!("--resources=cpus:4;mem:2048;ports:[{http_port}-{http_port}]");
    let (master, agent) = cluster(&[&resources_flag]).await;
    let info = json!({"user": "root", "name": "health"});
    let mut scheduler = Scheduler::subscribe(&master, &info).await;
    let offer = scheduler.offers(&master).await.remove(0);
    let agent_id = offer["agent_id"].clone();

    let mut slow = command_task("slow", &agent_id, 0.1, 32.0, "sleep 120");
    slow["max_completion_time"] = duration(1.0);

    let mut healthy = command_task("healthy", &agent_id, 0.1, 32.0, "sleep 120");
    healthy["health_check"] = json!({
        "type": "COMMAND",
        "command": {"value": "true"},
        "delay_seconds": 0.0,
        "interval_seconds": 1.0,
        "grace_period_seconds": 0.0,
    });

    let closed = free_port();
    let mut unhealthy = command_task("unhealthy", &agent_id, 0.1, 32.0, "sleep 120");
    unhealthy["health_check"] = json!({
        "type": "TCP",
        "tcp": {"port": closed},
        "delay_seconds": 0.0,
        "interval_seconds": 1.0,
        "timeout_seconds": 1.0,
        "consecutive_failures": 1,
        "grace_period_seconds": 0.0,
    });

    let mut web = command_task(
        "web",
        &agent_id,
        0.1,
        64.0,
        &format!("exec timeout 120 python3 -m http.server {http_port} --bind 127.0.0.1"),
    );
    let mut web_resources = resources(0.1, 64.0);
    web_resources.as_array_mut().unwrap().push(json!(
        {"name": "ports", "type": "RANGES",
         "ranges": {"range": [{"begin": http_port, "end": http_port}]}}));
    web["resources"] = web_resources;
    web["health_check"] = json!({
        "type": "HTTP",
        "http": {"port": http_port, "path": "/"},
        "delay_seconds": 0.0,
        "interval_seconds": 1.0,
        "grace_period_seconds": 60.0,
        "consecutive_failures": 3,
    });

    scheduler
        .launch(
            &master,
            &[&offer["id"]],
            vec![slow, healthy, unhealthy, web],
            3600.0,
        )
        .await;

    let mut offers = Vec::new();
    let seen = await_status(
        &master,
        &mut scheduler,
        "healthy",
        "TASK_RUNNING with healthy=true",
        &mut offers,
        |s| s["state"] == "TASK_RUNNING" && s["healthy"] == true,
    )
    .await;
    assert_eq!(seen["healthy"], true);
    let seen = await_status(
        &master,
        &mut scheduler,
        "web",
        "TASK_RUNNING with healthy=true",
        &mut offers,
        |s| s["state"] == "TASK_RUNNING" && s["healthy"] == true,
    )
    .await;
    assert_eq!(seen["healthy"], true);

    // Everything else (and the terminal updates) is in the scheduler's record.
    let done = terminal_states(&master, &mut scheduler, &["slow", "unhealthy"], &mut offers).await;
    assert_eq!(done["slow"]["state"], "TASK_FAILED", "{}", done["slow"]);
    assert_eq!(
        done["slow"]["reason"], "REASON_MAX_COMPLETION_TIME_REACHED",
        "{}",
        done["slow"]
    );
    let unhealthy_updates = agent::updates_of(&scheduler, "unhealthy");
    assert!(
        unhealthy_updates
            .iter()
            .any(|s| s["state"] == "TASK_RUNNING" && s["healthy"] == false),
        "no RUNNING update with healthy=false: {unhealthy_updates:#?}"
    );
    assert_eq!(
        done["unhealthy"]["state"], "TASK_KILLED",
        "a task failing its health check is killed: {}",
        done["unhealthy"]
    );

    for task in ["healthy", "web"] {
        kill_task(&master, &scheduler, task, &agent_id).await;
    }
    let done = terminal_states(&master, &mut scheduler, &["healthy", "web"], &mut offers).await;
    for task in ["healthy", "web"] {
        assert_eq!(done[task]["state"], "TASK_KILLED", "{}", done[task]);
    }
    agent.assert_alive().await;
}

/// Generic checks (TaskInfo.check): every update of the task carries the check's type
/// with no result until a result comes, each new result is a TASK_RUNNING update of
/// its own with REASON_TASK_CHECK_STATUS_UPDATED, and a failing check kills nothing.
/// A COMMAND check flips when the test creates the file it tests; a TCP check flips
/// when the test closes the port it probes.
#[tokio::test]
async fn generic_checks_report_each_new_result() {
    let (master, _agent) = cluster(&["--resources=cpus:4;mem:2048"]).await;
    let info = json!({"user": "root", "name": "checks"});
    let mut scheduler = Scheduler::subscribe(&master, &info).await;
    let offer = scheduler.offers(&master).await.remove(0);
    let agent_id = offer["agent_id"].clone();

    let flag = scratch("check-flag").join("flag");
    let mut commanded = command_task("commanded", &agent_id, 0.1, 32.0, "sleep 120");
    commanded["check"] = json!({
        "type": "COMMAND",
        "command": {"command": {"value": format!("test -f {}", flag.display())}},
        "delay_seconds": 0.0,
        "interval_seconds": 0.5,
    });
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut probed = command_task("probed", &agent_id, 0.1, 32.0, "sleep 120");
    probed["check"] = json!({
        "type": "TCP",
        "tcp": {"port": port},
        "delay_seconds": 0.0,
        "interval_seconds": 0.5,
    });
    scheduler
        .launch(&master, &[&offer["id"]], vec![commanded, probed], 3600.0)
        .await;

    let mut offers = Vec::new();
    let mut wait = async |task: &str, what: &str, wanted: &dyn Fn(&Value) -> bool| {
        await_status(&master, &mut scheduler, task, what, &mut offers, wanted).await
    };
    let running = wait("commanded", "TASK_RUNNING", &|s| {
        s["state"] == "TASK_RUNNING"
    })
    .await;
    assert_eq!(
        running["check_status"],
        json!({"type": "COMMAND", "command": {}}),
        "{running}"
    );
    let exit_code = |code: i64| move |s: &Value| s["check_status"]["command"]["exit_code"] == code;
    let failing = wait("commanded", "exit_code 1", &exit_code(1)).await;
    assert_eq!(failing["state"], "TASK_RUNNING", "{failing}");
    assert_eq!(
        failing["reason"], "REASON_TASK_CHECK_STATUS_UPDATED",
        "{failing}"
    );
    agent::touch(&flag);
    let passing = wait("commanded", "exit_code 0", &exit_code(0)).await;
    assert_eq!(passing["state"], "TASK_RUNNING", "{passing}");

    let succeeded = |ok: bool| move |s: &Value| s["check_status"]["tcp"]["succeeded"] == ok;
    let connected = wait("probed", "tcp.succeeded true", &succeeded(true)).await;
    assert_eq!(
        connected["reason"], "REASON_TASK_CHECK_STATUS_UPDATED",
        "{connected}"
    );
    drop(listener);
    wait("probed", "tcp.succeeded false", &succeeded(false)).await;

    // Failing checks killed nothing: both tasks run until killed.
    for task in ["commanded", "probed"] {
        kill_task(&master, &scheduler, task, &agent_id).await;
    }
    let done = terminal_states(
        &master,
        &mut scheduler,
        &["commanded", "probed"],
        &mut offers,
    )
    .await;
    for task in ["commanded", "probed"] {
        assert_eq!(done[task]["state"], "TASK_KILLED", "{}", done[task]);
    }
}
