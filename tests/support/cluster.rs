//! Helpers for the offers-and-tasks suite (included with `#[path]` by the suites that
//! use it, so the other suites compile without it): a scheduler that reads offers and updates
//! (acknowledging every update that asks for it), tasks and calls written as a person
//! would write them in JSON, and a separately started `ratufa agent` process.

// Each test binary uses a different subset.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::fs::{self, File};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Framework, Master, PATIENCE, Request, Response, StreamEnd, fresh_dir};

/// A subscribed framework that keeps what it read but did not want yet.
pub struct Scheduler {
    pub framework: Framework,
    backlog: VecDeque<Value>,
    /// Every UPDATE seen, in order.
    pub updates: Vec<Value>,
}

impl Scheduler {
    pub async fn subscribe(master: &Master, info: &Value) -> Scheduler {
        Scheduler {
            framework: Framework::subscribe(master, info).await,
            backlog: VecDeque::new(),
            updates: Vec::new(),
        }
    }

    pub fn id(&self) -> &str {
        &self.framework.id
    }

    /// POSTs `call` on this framework's stream and expects 202.
    pub async fn call(&self, master: &Master, call: Value) {
        let response: Response = self.framework.call(master, &call).await;
        assert_eq!(response.status, 202, "{call}: {response:?}");
    }

    /// The next event that is not a HEARTBEAT, within `within`. UPDATEs that carry a
    /// uuid are acknowledged on the way (every well-behaved scheduler does).
    pub async fn next_within(&mut self, master: &Master, within: Duration) -> Option<Value> {
        if let Some(event) = self.backlog.pop_front() {
            return Some(event);
        }
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let record = match self.framework.stream.next_record_within(left).await {
                Ok(record) => record,
                Err(StreamEnd::TimedOut) => return None,
                Err(end) => panic!("the scheduler stream ended: {end:?}\n{}", master.log()),
            };
            let event: Value = serde_json::from_slice(&record).expect("an event in JSON");
            match event["type"].as_str() {
                Some("HEARTBEAT") => continue,
                Some("UPDATE") => {
                    self.acknowledge(master, &event["update"]["status"]).await;
                    self.updates.push(event.clone());
                }
                _ => {}
            }
            return Some(event);
        }
    }

    /// The next event that is not a HEARTBEAT; fails the test after [`PATIENCE`].
    pub async fn next(&mut self, master: &Master) -> Value {
        match self.next_within(master, PATIENCE).await {
            Some(event) => event,
            None => panic!(
                "no event for framework {} in {PATIENCE:?}\n--- log ---\n{}",
                self.id(),
                master.log()
            ),
        }
    }

    /// Reads until an event of `kind`, keeping the others for later.
    pub async fn expect(&mut self, master: &Master, kind: &str) -> Value {
        let mut skipped = Vec::new();
        let found = loop {
            let event = self.next(master).await;
            if event["type"] == kind {
                break event;
            }
            skipped.push(event);
        };
        for event in skipped.into_iter().rev() {
            self.backlog.push_front(event);
        }
        found
    }

    /// The offers of the next OFFERS event.
    pub async fn offers(&mut self, master: &Master) -> Vec<Value> {
        let event = self.expect(master, "OFFERS").await;
        event["offers"]["offers"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Reads UPDATEs (acknowledging them) until the task reaches `state`; returns that
    /// update's status. Other events are kept for later.
    pub async fn await_state(&mut self, master: &Master, task_id: &str, state: &str) -> Value {
        let mut skipped = Vec::new();
        let found = loop {
            let event = self.next(master).await;
            let status = &event["update"]["status"];
            if event["type"] == "UPDATE" && status["task_id"]["value"] == task_id {
                if status["state"] == state {
                    break status.clone();
                }
                continue;
            }
            skipped.push(event);
        };
        for event in skipped.into_iter().rev() {
            self.backlog.push_front(event);
        }
        found
    }

    async fn acknowledge(&self, master: &Master, status: &Value) {
        let Some(uuid) = status.get("uuid") else {
            return;
        };
        let call = json!({
            "type": "ACKNOWLEDGE",
            "framework_id": {"value": self.id()},
            "acknowledge": {
                "agent_id": status["agent_id"],
                "task_id": status["task_id"],
                "uuid": uuid,
            }
        });
        self.call(master, call).await;
    }

    /// ACCEPT `offer_ids` launching `tasks`, with `refuse_seconds` for what is left.
    pub async fn launch(
        &self,
        master: &Master,
        offer_ids: &[&Value],
        tasks: Vec<Value>,
        refuse_seconds: f64,
    ) {
        let launch = json!({"type": "LAUNCH", "launch": {"task_infos": tasks}});
        self.accept(master, offer_ids, launch, refuse_seconds).await;
    }

    /// ACCEPT `offer_ids` with one LAUNCH_GROUP of `tasks` under `executor`, with
    /// `refuse_seconds` for what is left.
    pub async fn launch_group(
        &self,
        master: &Master,
        offer_ids: &[&Value],
        executor: Value,
        tasks: Vec<Value>,
        refuse_seconds: f64,
    ) {
        let launch = json!({
            "type": "LAUNCH_GROUP",
            "launch_group": {"executor": executor, "task_group": {"tasks": tasks}},
        });
        self.accept(master, offer_ids, launch, refuse_seconds).await;
    }

    /// ACCEPT `offer_ids` with the one `operation`.
    pub async fn accept(
        &self,
        master: &Master,
        offer_ids: &[&Value],
        operation: Value,
        refuse_seconds: f64,
    ) {
        let call = json!({
            "type": "ACCEPT",
            "framework_id": {"value": self.id()},
            "accept": {
                "offer_ids": offer_ids,
                "operations": [operation],
                "filters": {"refuse_seconds": refuse_seconds},
            }
        });
        self.call(master, call).await;
    }

    /// A DEFAULT executor `id` of this framework, with the cpus, mem and disk Mesos's
    /// master wants of one (0.1, 32 MB, 32 MB).
    pub fn default_executor(&self, id: &str) -> Value {
        let scalar = |name: &str, value: f64| json!({"name": name, "type": "SCALAR", "scalar": {"value": value}});
        json!({
            "executor_id": {"value": id},
            "framework_id": {"value": self.id()},
            "type": "DEFAULT",
            "resources": [scalar("cpus", 0.1), scalar("mem", 32.0), scalar("disk", 32.0)],
        })
    }

    pub async fn decline(&self, master: &Master, offer_id: &Value, refuse_seconds: f64) {
        let call = json!({
            "type": "DECLINE",
            "framework_id": {"value": self.id()},
            "decline": {"offer_ids": [offer_id], "filters": {"refuse_seconds": refuse_seconds}},
        });
        self.call(master, call).await;
    }

    pub async fn bare(&self, master: &Master, kind: &str) {
        self.call(
            master,
            json!({"type": kind, "framework_id": {"value": self.id()}}),
        )
        .await;
    }
}

/// A command task of `cpus` and `mem` on `agent_id`.
pub fn command_task(id: &str, agent_id: &Value, cpus: f64, mem: f64, command: &str) -> Value {
    json!({
        "name": id,
        "task_id": {"value": id},
        "agent_id": agent_id,
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}},
        ],
        "command": {"value": command},
    })
}

/// Now on the wall clock, in seconds since the epoch: what a status's `timestamp` counts.
pub fn wall_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs_f64()
}

/// Asserts that `status` carries a `timestamp` written between `since` (a
/// [`wall_seconds`] taken before the call that caused it) and now. A second of slack
/// either side: the master's wall clock is its start plus a monotonic clock, which
/// may drift a little from the system clock while a test runs.
pub fn assert_stamped_since(status: &Value, since: f64) {
    let Some(timestamp) = status["timestamp"].as_f64() else {
        panic!("no timestamp in {status}");
    };
    let now = wall_seconds();
    assert!(
        (since - 1.0..=now + 1.0).contains(&timestamp),
        "timestamp {timestamp} outside [{since}, {now}]: {status}"
    );
}

/// The scalar `name` of an offer's resources, summed.
pub fn offered(offer: &Value, name: &str) -> f64 {
    offer["resources"]
        .as_array()
        .map(|resources| {
            resources
                .iter()
                .filter(|r| r["name"] == name)
                .filter_map(|r| r["scalar"]["value"].as_f64())
                .sum()
        })
        .unwrap_or(0.0)
}

/// A `ratufa agent` child process, killed on drop.
pub struct AgentProcess {
    child: Child,
    pub work_dir: PathBuf,
    log: PathBuf,
}

impl AgentProcess {
    /// `ratufa agent --master=<master> --port=0 …` with `flags` added.
    pub fn start(master: &Master, flags: &[&str]) -> AgentProcess {
        AgentProcess::start_for(&master.addr.to_string(), flags)
    }

    /// As [`AgentProcess::start`], with `--master` as given (`host:port` or `zk://…`).
    pub fn start_for(master: &str, flags: &[&str]) -> AgentProcess {
        AgentProcess::start_with_env(master, flags, &[])
    }

    /// As [`AgentProcess::start_for`], with `env` added to its environment.
    pub fn start_with_env(master: &str, flags: &[&str], env: &[(String, String)]) -> AgentProcess {
        let work_dir = fresh_dir("agent");
        let log = work_dir.join("agent.log");
        let log_file = File::create(&log).expect("create agent.log");
        let log_err = log_file.try_clone().expect("clone agent.log handle");
        let child = Command::new(env!("CARGO_BIN_EXE_ratufa"))
            .arg("agent")
            .arg(format!("--master={master}"))
            .arg("--ip=127.0.0.1")
            .arg("--port=0")
            .arg("--hostname=localhost")
            .arg(format!("--work_dir={}", work_dir.join("work").display()))
            .args(flags)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log_file))
            .stderr(Stdio::from(log_err))
            .spawn()
            .expect("spawn ratufa agent");
        AgentProcess {
            child,
            work_dir,
            log,
        }
    }

    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: the agent gets no chance to say goodbye.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        self.kill();
        crate::support::scratch::end_processes_under(&self.work_dir);
        if std::thread::panicking() {
            eprintln!("agent log:\n{}", self.log());
        } else {
            let _ = fs::remove_dir_all(&self.work_dir);
        }
    }
}

/// GETs `path` and parses the JSON body.
pub async fn get_json(master: &Master, path: &str) -> Value {
    let response = master.send(Request::get(path)).await;
    assert_eq!(response.status, 200, "{path}: {response:?}");
    serde_json::from_slice(&response.body).unwrap_or_else(|e| panic!("{path}: {e}"))
}
