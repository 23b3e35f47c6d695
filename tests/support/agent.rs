//! Helpers for the agent suites (executors, recovery, the executor and operator APIs),
//! included with `#[path]` beside `support` and `support/cluster.rs`:
//! - [`Agent`]: a `ratufa agent` child on a fixed port and work dir that a test can
//!   SIGKILL and start again on the same port and work dir (as an operator restarts an
//!   agent after a crash);
//! - reading the agent's `/state`, a sandbox's files through `/files/read`;
//! - looking at processes through `/proc` (alive, parent, command line);
//! - polling for a condition with a generous deadline.

// Each test binary uses a different subset.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cluster::Scheduler;
use crate::support::{Master, Request, Response, free_port, fresh_dir, send_to};

/// How long a condition that depends on the agent's own timers (registration, grace
/// periods, health checks, reconnection) may take. Generous: the machine is shared.
pub const SLOW: Duration = Duration::from_secs(60);

/// A `ratufa agent` child process with a port and work dir that outlive it: [`kill`]
/// and [`restart`] model a crash and an operator bringing the agent back.
///
/// [`kill`]: Agent::kill
/// [`restart`]: Agent::restart
pub struct Agent {
    child: Option<Child>,
    pub port: u16,
    /// The scratch dir of this agent: `work/` is its `--work_dir`, `agent.log` its
    /// output over every run.
    pub dir: PathBuf,
    /// Its `--master`: an address, or a `zk://` URL.
    pub master: String,
    /// The flags of the last start, beyond the fixed ones.
    pub flags: Vec<String>,
    log: PathBuf,
}

impl Agent {
    /// `ratufa agent --master=<master> --ip=127.0.0.1 --port=<free> --hostname=localhost
    /// --work_dir=<fresh>` plus `flags`, up and answering `/health`. A port taken
    /// between picking and binding makes the agent exit: it is tried again on another.
    pub async fn start(master: &Master, flags: &[&str]) -> Agent {
        Agent::start_for(&master.addr.to_string(), flags).await
    }

    /// As [`start`](Agent::start), with `--master=<master>` (an address, or a `zk://`
    /// URL for an agent that follows the elected leader).
    pub async fn start_for(master: &str, flags: &[&str]) -> Agent {
        let mut last = String::new();
        for _attempt in 0..4 {
            let dir = fresh_dir("agent");
            let mut agent = Agent {
                child: None,
                port: free_port(),
                log: dir.join("agent.log"),
                dir,
                master: master.to_string(),
                flags: flags.iter().map(|f| f.to_string()).collect(),
            };
            agent.spawn();
            match agent.wait_healthy().await {
                Ok(()) => return agent,
                Err(why) => last = format!("{why}\n--- agent log ---\n{}", agent.log()),
            }
        }
        panic!("ratufa agent did not come up: {last}");
    }

    pub fn work_dir(&self) -> PathBuf {
        self.dir.join("work")
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The `ratufa agent` command line of this agent with `flags`.
    fn command(&self, flags: &[String]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ratufa"));
        command
            .arg("agent")
            .arg(format!("--master={}", self.master))
            .arg("--ip=127.0.0.1")
            .arg(format!("--port={}", self.port))
            .arg("--hostname=localhost")
            .arg(format!("--work_dir={}", self.work_dir().display()))
            .args(flags)
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null());
        command
    }

    fn spawn(&mut self) {
        let log_file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open agent.log");
        let log_err = log_file.try_clone().expect("clone agent.log handle");
        let child = self
            .command(&self.flags)
            .stdout(Stdio::from(log_file))
            .stderr(Stdio::from(log_err))
            .spawn()
            .expect("spawn ratufa agent");
        self.child = Some(child);
    }

    /// The pid of the running agent process.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).expect("the agent runs")
    }

    /// Sends `signal` (`STOP`, `CONT`, …) to the agent process with kill(1): SIGSTOP
    /// makes a partitioned agent without closing its connections.
    pub fn signal(&self, signal: &str) {
        crate::support::send_signal(self.pid(), signal);
    }

    async fn wait_healthy(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + SLOW;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(format!("the agent exited early with {status}"));
            }
            let probe =
                tokio::time::timeout(Duration::from_secs(1), send_to(self.addr(), health())).await;
            if let Ok(Ok(response)) = probe
                && response.status == 200
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("/health did not answer 200 within {SLOW:?}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL, as a crash: the agent gets no chance to clean anything up.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the agent again on the same port and work dir with `flags` (replacing the
    /// previous extra flags), and waits for `/health`.
    pub async fn restart(&mut self, flags: &[&str]) {
        self.kill();
        self.flags = flags.iter().map(|f| f.to_string()).collect();
        self.spawn();
        if let Err(why) = self.wait_healthy().await {
            panic!(
                "the restarted agent: {why}\n--- agent log ---\n{}",
                self.log()
            );
        }
    }

    /// Starts the agent again with `flags` without waiting for it to serve (it may be
    /// meant to exit, as `--recover=cleanup` does once it has killed what it recovered).
    pub fn respawn(&mut self, flags: &[&str]) {
        self.kill();
        self.flags = flags.iter().map(|f| f.to_string()).collect();
        self.spawn();
    }

    /// Starts the agent again with `flags` expecting it to exit on its own; returns its
    /// exit status and what it printed in this run.
    pub fn run_to_exit(&mut self, flags: &[&str]) -> (ExitStatus, String) {
        self.kill();
        let flags: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
        let mut child = self
            .command(&flags)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ratufa agent");
        let deadline = Instant::now() + SLOW;
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let output = child.wait_with_output().expect("agent output");
                panic!(
                    "the agent did not exit within {SLOW:?}; it printed:\n{}{}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let output = child.wait_with_output().expect("agent output");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status, text)
    }

    /// The agent's process has not exited (it may be a zombie not yet waited for: it is
    /// waited for here).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends one request to the agent; fails the test when it does not answer.
    pub async fn send(&self, request: Request) -> Response {
        let what = format!("{} {}", request.method, request.path);
        match tokio::time::timeout(Duration::from_secs(30), send_to(self.addr(), request)).await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => panic!("{what}: {e}\n--- agent log ---\n{}", self.log()),
            Err(_) => panic!(
                "{what}: no answer in 30 s\n--- agent log ---\n{}",
                self.log()
            ),
        }
    }

    /// GETs `path` from the agent and parses the JSON body (200 expected).
    pub async fn get_json(&self, path: &str) -> Value {
        let response = self.send(Request::get(path)).await;
        assert_eq!(response.status, 200, "agent {path}: {response:?}");
        serde_json::from_slice(&response.body)
            .unwrap_or_else(|e| panic!("agent {path} is not JSON ({e}): {response:?}"))
    }

    /// `/health` answers 200 and nothing in the agent panicked.
    pub async fn assert_alive(&self) {
        let response = self.send(health()).await;
        assert_eq!(response.status, 200, "agent /health: {response:?}");
        let log = self.log();
        assert!(!log.contains("panicked"), "the agent panicked:\n{log}");
    }

    /// The agent's id as its `/state` says (empty until it registered).
    /// The agent's id from `/state`, once it has one: a restarted agent reads it back
    /// from its checkpoint while it recovers, which may take a moment on a busy machine.
    pub async fn id(&self) -> String {
        let deadline = Instant::now() + crate::support::PATIENCE;
        loop {
            let state = self.get_json("/state").await;
            let id = state["id"].as_str().unwrap_or_default().to_string();
            if !id.is_empty() || Instant::now() > deadline {
                return id;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The `directory` (sandbox on the host) of executor `executor_id` of
    /// `framework_id`, from the agent's `/state`, live or completed.
    pub async fn sandbox(&self, framework_id: &str, executor_id: &str) -> String {
        let state = self.get_json("/state").await;
        let executor = state_executor(&state, framework_id, executor_id)
            .unwrap_or_else(|| panic!("no executor {executor_id} in /state: {state}"));
        executor["directory"]
            .as_str()
            .unwrap_or_else(|| panic!("executor without directory: {executor}"))
            .to_string()
    }

    /// The whole content of `file` in `directory` (a sandbox), through `/files/read`.
    pub async fn read_file(&self, directory: &str, file: &str) -> String {
        let path = encode(&format!("{directory}/{file}"));
        let response = self
            .send(Request::get(&format!(
                "/files/read?path={path}&offset=0&length=1048576"
            )))
            .await;
        assert_eq!(response.status, 200, "/files/read {file}: {response:?}");
        let body: Value = serde_json::from_slice(&response.body).expect("/files/read JSON");
        body["data"].as_str().unwrap_or_default().to_string()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill();
        crate::support::scratch::end_processes_under(&self.dir);
        if std::thread::panicking() {
            eprintln!(
                "agent on port {} (dir {}) log:\n{}",
                self.port,
                self.dir.display(),
                self.log()
            );
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

fn health() -> Request {
    Request::get("/health")
}

/// Executor `id` of framework `framework_id` in an agent's `/state` (live or completed).
pub fn state_executor<'a>(state: &'a Value, framework_id: &str, id: &str) -> Option<&'a Value> {
    let frameworks = state["frameworks"]
        .as_array()
        .into_iter()
        .chain(state["completed_frameworks"].as_array())
        .flatten();
    frameworks
        .filter(|f| f["id"] == framework_id)
        .flat_map(|f| {
            f["executors"]
                .as_array()
                .into_iter()
                .chain(f["completed_executors"].as_array())
                .flatten()
        })
        .find(|e| e["id"] == id)
}

/// `path` as a query value: bytes other than unreserved ones and `/` percent-encoded.
pub fn encode(path: &str) -> String {
    path.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Polls `check` every 100 ms until it returns `Some`, or fails the test after `within`
/// saying `what` was awaited.
pub async fn wait_for<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if Instant::now() > deadline {
            panic!("timed out after {within:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------------------
// Processes, through /proc

/// `pid` is a live process (not gone, not a zombie).
pub fn alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state letter follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .map(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X']))
            .unwrap_or(false),
        Err(_) => false,
    }
}

/// The parent pid of `pid`, if it exists.
pub fn parent(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// The argv of `pid`.
pub fn cmdline(pid: u32) -> Vec<String> {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|bytes| {
            bytes
                .split(|b| *b == 0)
                .filter(|arg| !arg.is_empty())
                .map(|arg| String::from_utf8_lossy(arg).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The pid a task wrote to `file` (a line of digits), once it is there.
pub async fn pid_in(file: &Path) -> u32 {
    let shown = file.display().to_string();
    wait_for(&format!("a pid in {shown}"), SLOW, || async {
        fs::read_to_string(file)
            .ok()
            .and_then(|text| text.trim().parse().ok())
    })
    .await
}

/// Waits until `pid` is gone (or a zombie), failing the test after [`SLOW`].
pub async fn await_gone(pid: u32, what: &str) {
    wait_for(&format!("{what} (pid {pid}) to end"), SLOW, || async {
        (!alive(pid)).then_some(())
    })
    .await;
}

/// A scratch file path the tasks can write to (the tests run as root; tasks as root or
/// `nobody` write to sandboxes only).
pub fn scratch(label: &str) -> PathBuf {
    let dir = fresh_dir(label);
    // Tasks may run as another user; let them write here.
    use std::os::unix::fs::PermissionsExt;
    let _ = fs::set_permissions(&dir, fs::Permissions::from_mode(0o777));
    dir
}

/// Creates (or truncates) `path`: a gate the tasks wait on.
pub fn touch(path: &Path) {
    File::create(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
}

// ---------------------------------------------------------------------------------------
// JSON pieces, as a framework writes them

/// A DurationInfo of `seconds`.
pub fn duration(seconds: f64) -> Value {
    json!({"nanoseconds": (seconds * 1e9) as i64})
}

/// `cpus` and `mem` as a resource list.
pub fn resources(cpus: f64, mem: f64) -> Value {
    json!([
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
        {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}},
    ])
}

/// Files named `name` anywhere under `dir` (depth first).
pub fn find_files(dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            found.extend(find_files(&path, name));
        } else if entry.file_name() == name {
            found.push(path);
        }
    }
    found
}

// ---------------------------------------------------------------------------------------
// A scheduler's view (on top of `support/cluster.rs`'s `Scheduler`)

/// The task states after which nothing more happens to a task.
pub const TERMINAL: [&str; 8] = [
    "TASK_FINISHED",
    "TASK_FAILED",
    "TASK_KILLED",
    "TASK_LOST",
    "TASK_ERROR",
    "TASK_DROPPED",
    "TASK_GONE",
    "TASK_GONE_BY_OPERATOR",
];

/// Reads events until every task in `ids` has a terminal update (within [`SLOW`]);
/// returns those statuses by task id. OFFERS that arrive meanwhile go to `offers`.
pub async fn terminal_states(
    master: &Master,
    scheduler: &mut Scheduler,
    ids: &[&str],
    offers: &mut Vec<Value>,
) -> BTreeMap<String, Value> {
    // Updates an earlier wait already read (and skipped) count too.
    let mut done: BTreeMap<String, Value> = BTreeMap::new();
    for event in &scheduler.updates {
        let status = &event["update"]["status"];
        let state = status["state"].as_str().unwrap_or_default();
        let id = status["task_id"]["value"].as_str().unwrap_or_default();
        if TERMINAL.contains(&state) && ids.contains(&id) {
            done.insert(id.to_string(), status.clone());
        }
    }
    let deadline = Instant::now() + SLOW;
    while done.len() < ids.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(event) = scheduler.next_within(master, left).await else {
            panic!(
                "tasks {ids:?} not all ended within {SLOW:?}; ended: {done:#?}\n--- master log ---\n{}",
                master.log()
            );
        };
        if kept_offers(&event, offers) {
            continue;
        }
        let status = &event["update"]["status"];
        let state = status["state"].as_str().unwrap_or_default();
        let id = status["task_id"]["value"].as_str().unwrap_or_default();
        if event["type"] == "UPDATE" && TERMINAL.contains(&state) && ids.contains(&id) {
            done.insert(id.to_string(), status.clone());
        }
    }
    done
}

/// Puts the offers of an OFFERS `event` in `offers`; false for any other event.
fn kept_offers(event: &Value, offers: &mut Vec<Value>) -> bool {
    if event["type"] != "OFFERS" {
        return false;
    }
    offers.extend(
        event["offers"]["offers"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
    );
    true
}

/// The first UPDATE for `task_id` whose status satisfies `wanted`, among those already
/// read or else reading events (within [`SLOW`]); returns that status. A terminal
/// update that does not satisfy it fails the test (it would never come). Other events
/// are dropped, except OFFERS, kept in `offers`.
pub async fn await_status(
    master: &Master,
    scheduler: &mut Scheduler,
    task_id: &str,
    what: &str,
    offers: &mut Vec<Value>,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    // An update an earlier wait already read (and skipped) counts too.
    if let Some(status) = updates_of(scheduler, task_id)
        .into_iter()
        .find(|s| wanted(s))
    {
        return status;
    }
    let deadline = Instant::now() + SLOW;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(event) = scheduler.next_within(master, left).await else {
            panic!(
                "no update of {task_id} with {what} within {SLOW:?}; its updates: {:#?}",
                updates_of(scheduler, task_id)
            );
        };
        if kept_offers(&event, offers) {
            continue;
        }
        let status = &event["update"]["status"];
        if event["type"] != "UPDATE" || status["task_id"]["value"] != task_id {
            continue;
        }
        if wanted(status) {
            return status.clone();
        }
        let state = status["state"].as_str().unwrap_or_default();
        assert!(
            !TERMINAL.contains(&state),
            "{task_id} ended before {what}: {status}"
        );
    }
}

/// Every status of `task_id` the scheduler has seen, in order.
pub fn updates_of(scheduler: &Scheduler, task_id: &str) -> Vec<Value> {
    scheduler
        .updates
        .iter()
        .map(|event| event["update"]["status"].clone())
        .filter(|status| status["task_id"]["value"] == task_id)
        .collect()
}

/// The states of [`updates_of`] `task_id`.
pub fn states_of(scheduler: &Scheduler, task_id: &str) -> Vec<String> {
    updates_of(scheduler, task_id)
        .iter()
        .map(|status| status["state"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// A KILL call for `task_id` on `agent_id`.
pub async fn kill_task(master: &Master, scheduler: &Scheduler, task_id: &str, agent_id: &Value) {
    let call = json!({
        "type": "KILL",
        "framework_id": {"value": scheduler.id()},
        "kill": {"task_id": {"value": task_id}, "agent_id": agent_id},
    });
    scheduler.call(master, call).await;
}

/// Reads and keeps events for `window` (acknowledging updates): for checks that
/// something does NOT arrive again, such as a duplicate terminal update.
pub async fn drain_for(master: &Master, scheduler: &mut Scheduler, window: Duration) {
    let deadline = Instant::now() + window;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || scheduler.next_within(master, left).await.is_none() {
            return;
        }
    }
}

/// Standard base64 (bytes fields in Mesos's JSON).
pub fn b64(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Decodes a bytes field of Mesos's JSON.
pub fn unb64(text: &Value) -> Vec<u8> {
    use base64::Engine as _;
    let text = text
        .as_str()
        .unwrap_or_else(|| panic!("a base64 string, not {text}"));
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap_or_else(|e| panic!("{text:?} is not base64: {e}"))
}

/// Kills (SIGKILL) the pids it holds when dropped: processes a test leaves behind when
/// what should have ended them did not (the test then fails on its own assertion).
#[derive(Default)]
pub struct Reaper(pub Vec<u32>);

impl Reaper {
    pub fn add(&mut self, pid: u32) {
        self.0.push(pid);
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        for pid in &self.0 {
            if alive(*pid) {
                let _ = Command::new("kill")
                    .arg("-KILL")
                    .arg(pid.to_string())
                    .status();
            }
        }
    }
}

/// The master's `/state` entry for agent `agent_id`, if it lists it.
pub async fn master_agent(master: &Master, agent_id: &str) -> Option<Value> {
    let response = master.send(Request::get("/state")).await;
    if response.status != 200 {
        return None;
    }
    let state: Value = serde_json::from_slice(&response.body).ok()?;
    state["slaves"]
        .as_array()?
        .iter()
        .find(|agent| agent["id"] == agent_id)
        .cloned()
}

// ---------------------------------------------------------------------------------------
// Custom executors (tests/clients/custom_executor.py)

/// The Python custom executor of the suites.
pub const EXECUTOR_SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/clients/custom_executor.py"
);

/// An ExecutorInfo of type CUSTOM running `command`.
pub fn custom_executor(id: &str, command: &str) -> Value {
    json!({
        "executor_id": {"value": id},
        "type": "CUSTOM",
        "name": format!("{id} (end-to-end test)"),
        "command": {"value": command},
        "resources": resources(0.1, 32.0),
    })
}

/// A task for `executor` whose data is the shell command the Python executor runs.
pub fn executor_task(id: &str, agent_id: &Value, executor: &Value, command: &str) -> Value {
    json!({
        "name": id,
        "task_id": {"value": id},
        "agent_id": agent_id,
        "resources": resources(0.1, 32.0),
        "executor": executor,
        "data": b64(command.as_bytes()),
    })
}

/// A MESSAGE call from the scheduler to `executor_id` on `agent_id`.
pub async fn send_message(
    master: &Master,
    scheduler: &Scheduler,
    agent_id: &Value,
    executor_id: &str,
    data: &[u8],
) {
    let call = json!({
        "type": "MESSAGE",
        "framework_id": {"value": scheduler.id()},
        "message": {
            "agent_id": agent_id,
            "executor_id": {"value": executor_id},
            "data": b64(data),
        },
    });
    scheduler.call(master, call).await;
}
