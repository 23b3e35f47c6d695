//! The agents' side of the world: subscribing, reading commands, running tasks,
//! sending updates, crashing.

use std::time::Duration;

use ratufa_master::core::{RejectionKind, Time};
use ratufa_proto::ratufa::agentlink::{Call, Command, call, command};
use ratufa_proto::v1::task_status::Source;
use ratufa_proto::v1::{TaskId, TaskState, TaskStatus};

use super::agent::{SimAgent, SimTask, TaskKey, is_terminal};
use super::ledger::{Sent, hex};
use super::world::{Inbound, Owner, World};

/// Agent shapes (`--resources`), some with static reservations for roles a and b.
const SHAPES: &[&str] = &[
    "cpus:4;mem:4096;disk:10000;ports:[31000-31009]",
    "cpus:2;mem:2048;cpus(a):2;mem(a):1024;ports:[31000-31004]",
    "cpus:8;mem:8192;cpus(b):1;mem(b):512;disk(b):100",
    "cpus:1;mem:512",
];

/// How an agent goes down.
#[derive(Debug, Clone, Copy)]
pub enum Crash {
    /// The stream broke; it comes back with its tasks.
    Link,
    /// The agent thinks the stream broke, the master does not notice (a half-open
    /// connection): commands keep going to the dead stream until the agent is back
    /// or found unreachable.
    HalfOpen,
    /// Restarted without its tasks (they died with it); same id.
    LostTasks,
    /// Machine wiped: registers afresh as a new agent.
    Wiped,
}

impl World {
    pub fn add_agent(&mut self) -> Result<(), String> {
        let n = self.agents.len();
        let shape = *self.rng.pick(SHAPES).unwrap_or(&SHAPES[0]);
        self.agents
            .push(SimAgent::new(format!("agent-{n}"), shape.to_string()));
        self.note(format!("agent-{n} starts with {shape}"));
        self.agent_subscribe(n)
    }

    /// Opens a new stream and sends SUBSCRIBE (registration or re-registration).
    pub fn agent_subscribe(&mut self, i: usize) -> Result<(), String> {
        if let Some(old) = self.agents[i].conn {
            return Err(format!(
                "{} subscribes while on {old}",
                self.agents[i].hostname
            ));
        }
        let conn = self.new_conn(Owner::Agent(i));
        self.inbox.insert(conn, Default::default());
        let subscribe = {
            let agent = &mut self.agents[i];
            agent.conn = Some(conn);
            agent.subscribed = false;
            agent.reconnect_at = None;
            agent.subscribe_call()
        };
        let tasks = subscribe.tasks.len();
        match self.core.handle_agent_subscribe(self.now, conn, subscribe) {
            Ok(id) => {
                let agent = &self.agents[i];
                if agent.id.as_ref().is_some_and(|known| *known != id) {
                    return Err(format!(
                        "{} re-registered as {} but was given {}",
                        agent.hostname,
                        agent.id_str(),
                        id.value
                    ));
                }
                self.note(format!(
                    "{} subscribes on {conn} as {} with {tasks} tasks",
                    agent.hostname, id.value
                ));
                self.agent_of.insert(id.value, i);
            }
            Err(rejection) => {
                return Err(format!("{} refused: {rejection}", self.agents[i].hostname));
            }
        }
        self.pump()
    }

    fn drop_agent_stream(&mut self, conn: ratufa_master::core::ConnectionId) {
        self.inbox.remove(&conn);
        self.owners.remove(&conn);
    }

    /// The agent's end of the stream breaks.
    pub fn crash_agent(&mut self, i: usize, how: Crash) -> Result<(), String> {
        self.stats.crashes += 1;
        let back_in = Duration::from_secs(self.rng.range(1, 90));
        let name = self.agents[i].hostname.clone();
        self.note(format!("{name} crashes ({how:?}), back in {back_in:?}"));
        if let Some(conn) = self.agents[i].conn.take()
            && !matches!(how, Crash::HalfOpen)
        {
            self.drop_agent_stream(conn);
            self.core.handle_agent_stream_closed(self.now, conn);
            self.pump()?;
        }
        let agent = &mut self.agents[i];
        agent.subscribed = false;
        agent.reconnect_at = Some(self.now + back_in);
        let dropped = match how {
            Crash::Link | Crash::HalfOpen => Vec::new(),
            Crash::LostTasks => agent.lose_state(),
            Crash::Wiped => {
                agent.id = None;
                agent.lose_state()
            }
        };
        for uuid in dropped {
            self.ledger.settle(&uuid, "its agent lost its tasks");
        }
        Ok(())
    }

    /// An operator marks the agent gone (MARK_AGENT_GONE) and wipes its machine, which
    /// comes back later as a new agent. The ERROR the master writes on its stream is
    /// never read: the stream goes with the machine.
    pub fn mark_agent_gone(&mut self, i: usize) -> Result<(), String> {
        let Some(id) = self.agents[i].id.clone() else {
            return Ok(());
        };
        self.stats.gone += 1;
        let back_in = Duration::from_secs(self.rng.range(1, 90));
        let name = self.agents[i].hostname.clone();
        self.note(format!(
            "operator marks {name} ({}) gone; back as a new agent in {back_in:?}",
            id.value
        ));
        if let Err(rejection) = self.core.mark_agent_gone(self.now, &id.value) {
            return Err(format!("MARK_AGENT_GONE of {name} refused: {rejection}"));
        }
        self.pump()?;
        if let Some(conn) = self.agents[i].conn.take() {
            self.drop_agent_stream(conn);
            self.core.handle_agent_stream_closed(self.now, conn);
            self.pump()?;
        }
        let agent = &mut self.agents[i];
        agent.subscribed = false;
        agent.id = None;
        agent.reconnect_at = Some(self.now + back_in);
        for uuid in agent.lose_state() {
            self.ledger.settle(&uuid, "its agent was marked gone");
        }
        Ok(())
    }

    /// When an agent next needs the clock: a retry or a reconnection.
    pub fn agent_wakeup(&self) -> Option<Time> {
        self.agents
            .iter()
            .filter_map(|a| {
                if a.is_connected() {
                    a.next_retry()
                } else if a.conn.is_none() {
                    a.reconnect_at
                } else {
                    None
                }
            })
            .min()
    }

    /// Reconnections and retries that are due.
    pub fn agents_wake(&mut self) -> Result<(), String> {
        for i in 0..self.agents.len() {
            let agent = &self.agents[i];
            if agent.conn.is_none() && agent.reconnect_at.is_some_and(|t| t <= self.now) {
                self.agent_subscribe(i)?;
            } else if agent.is_connected() {
                self.flush_updates(i)?;
            }
        }
        Ok(())
    }

    pub fn read_all_inboxes(&mut self) -> Result<(), String> {
        // Reading may write more (an ACK answered by the next update's delivery…), so
        // go round until every inbox is empty.
        for _ in 0..100 {
            let mut any = false;
            for i in 0..self.agents.len() {
                any |= self.read_inbox(i, usize::MAX)?;
            }
            if !any {
                return Ok(());
            }
        }
        Err("agent inboxes never empty".to_string())
    }

    /// The agent reads up to `limit` items from its stream. Returns whether it read any.
    pub fn read_inbox(&mut self, i: usize, limit: usize) -> Result<bool, String> {
        let Some(conn) = self.agents[i].conn else {
            return Ok(false);
        };
        let mut read = false;
        for _ in 0..limit {
            let Some(item) = self.inbox.get_mut(&conn).and_then(|q| q.pop_front()) else {
                break;
            };
            read = true;
            match item {
                Inbound::Command(command) => self.on_command(i, *command)?,
                Inbound::Close => {
                    let back_in = Duration::from_secs(self.rng.range(1, 30));
                    self.note(format!(
                        "{}: master closed the stream, back in {back_in:?}",
                        self.agents[i].hostname
                    ));
                    if self
                        .core
                        .unreachable_agents()
                        .contains_key(self.agents[i].id_str())
                    {
                        self.stats.unreachable += 1;
                    }
                    self.drop_agent_stream(conn);
                    let agent = &mut self.agents[i];
                    agent.conn = None;
                    agent.subscribed = false;
                    agent.reconnect_at = Some(self.now + back_in);
                    break;
                }
            }
        }
        Ok(read)
    }

    fn on_command(&mut self, i: usize, command: Command) -> Result<(), String> {
        use command::Type;
        let kind = command.r#type.and_then(|t| Type::try_from(t).ok());
        let name = self.agents[i].hostname.clone();
        match kind {
            Some(Type::Subscribed) => {
                let Some(subscribed) = command.subscribed else {
                    return Err(format!("{name}: SUBSCRIBED without its body"));
                };
                let agent = &mut self.agents[i];
                agent.id = Some(subscribed.agent_id);
                agent.subscribed = true;
                agent.resend_all();
                self.flush_updates(i)?;
            }
            Some(Type::Ping) => {
                if self.now >= self.agents[i].deaf_until {
                    let call = Call {
                        r#type: Some(call::Type::Pong as i32),
                        agent_id: self.agents[i].id.clone(),
                        ..Call::default()
                    };
                    self.agent_call(i, call)?;
                }
            }
            Some(Type::RunTask) => {
                let Some(run) = command.run_task else {
                    return Err(format!("{name}: RUN_TASK without its body"));
                };
                let framework_id = run.framework.id.clone().unwrap_or_default().value;
                let key: TaskKey = (framework_id.clone(), run.task.task_id.value.clone());
                if let Some(earlier) = self.launched.insert(key.clone(), name.clone()) {
                    return Err(format!(
                        "task {} of {} sent to {name}, but it was already sent to {earlier}",
                        key.1, key.0
                    ));
                }
                if let Some(view) = self
                    .frameworks
                    .iter()
                    .find(|f| f.id_str() == framework_id)
                    .and_then(|f| f.tasks.get(&key.1))
                    && view.origin != super::framework::Origin::Launched
                {
                    return Err(format!(
                        "task {} that must not run was sent to {name}",
                        key.1
                    ));
                }
                self.stats.launched += 1;
                self.note(format!("{name}: runs {} of {}", key.1, key.0));
                let agent = &mut self.agents[i];
                agent.frameworks.insert(framework_id, run.framework);
                agent.tasks.insert(
                    key,
                    SimTask {
                        info: run.task,
                        state: TaskState::TaskStaging,
                    },
                );
            }
            Some(Type::KillTask) => {
                let Some(kill) = command.kill_task else {
                    return Err(format!("{name}: KILL_TASK without its body"));
                };
                let key: TaskKey = (kill.framework_id.value, kill.task_id.value);
                self.note(format!("{name}: told to kill {}", key.1));
                let state = self.agents[i].tasks.get(&key).map(|t| t.state);
                match state {
                    Some(state) if !is_terminal(state) => {
                        self.task_update(i, &key, TaskState::TaskKilled)?;
                    }
                    Some(_) => {}
                    None => {
                        // Told to kill what it does not run: say so, as the real agent
                        // does, so the master's books do not keep it.
                        let aware = self.agents[i].frameworks.get(&key.0).map(|info| {
                            info.capabilities.iter().any(|c| {
                                c.r#type
                                    == Some(ratufa_proto::v1::framework_info::capability::Type::PartitionAware as i32)
                            })
                        });
                        if let Some(aware) = aware {
                            let state = if aware {
                                TaskState::TaskDropped
                            } else {
                                TaskState::TaskLost
                            };
                            self.queue_update(i, &key, state)?;
                        }
                    }
                }
            }
            Some(Type::ShutdownFramework) => {
                let Some(shutdown) = command.shutdown_framework else {
                    return Err(format!("{name}: SHUTDOWN_FRAMEWORK without its body"));
                };
                let framework_id = shutdown.framework_id.value;
                let removed = self.core.completed_frameworks().contains(&framework_id);
                let aware = self
                    .frameworks
                    .iter()
                    .find(|f| f.id_str() == framework_id)
                    .is_some_and(|f| f.is_partition_aware());
                if !removed && aware {
                    return Err(format!(
                        "{name} told to shut down partition-aware framework {framework_id}, which is not removed"
                    ));
                }
                self.note(format!("{name}: shuts down framework {framework_id}"));
                for uuid in self.agents[i].shutdown_framework(&framework_id) {
                    self.ledger
                        .settle(&uuid, "its framework was shut down on the agent");
                }
            }
            Some(Type::Acknowledge) => {
                let Some(ack) = command.acknowledge else {
                    return Err(format!("{name}: ACKNOWLEDGE without its body"));
                };
                let key: TaskKey = (ack.framework_id.value, ack.task_id.value);
                if self.agents[i].acknowledge(&key, &ack.uuid).is_some() {
                    self.stats.acks += 1;
                    self.note(format!(
                        "{name}: update {} of {} acknowledged",
                        hex(&ack.uuid),
                        key.1
                    ));
                    let Some(sent) = self.ledger.settle(&ack.uuid, "acknowledged") else {
                        return Err(format!(
                            "{name}: acked update {} is not in the ledger",
                            hex(&ack.uuid)
                        ));
                    };
                    if !sent.delivered {
                        self.check_settled_by_master(&sent)?;
                    }
                    self.flush_updates(i)?;
                }
            }
            Some(Type::UpdateFramework) => {
                if let Some(update) = command.update_framework
                    && let Some(id) = update.framework.id.clone()
                {
                    self.agents[i].frameworks.insert(id.value, update.framework);
                }
            }
            Some(Type::Error) => {
                return Err(format!("{name}: master sent ERROR {:?}", command.error));
            }
            other => return Err(format!("{name}: unexpected command {other:?}")),
        }
        Ok(())
    }

    /// An acknowledgement the framework never saw the update for: only the master may
    /// do that, for a framework that is gone or a task it already reported over.
    fn check_settled_by_master(&self, sent: &Sent) -> Result<(), String> {
        let removed = self
            .core
            .completed_frameworks()
            .contains(&sent.framework_id);
        let ended = self.core.task(&sent.framework_id, &sent.task_id).is_none()
            && self
                .core
                .framework_tasks(&sent.framework_id)
                .is_some_and(|t| t.completed().any(|task| task.task_id() == sent.task_id));
        if removed || ended {
            Ok(())
        } else {
            Err(format!(
                "{}: update {:?} of task {} ({}) acknowledged but never delivered",
                sent.agent, sent.state, sent.task_id, sent.framework_id
            ))
        }
    }

    pub fn agent_call(&mut self, i: usize, call: Call) -> Result<(), String> {
        let Some(conn) = self.agents[i].conn else {
            return Err(format!(
                "{}: call without a stream",
                self.agents[i].hostname
            ));
        };
        let kind = call.r#type;
        if let Err(rejection) = self.core.handle_agent_call(self.now, conn, call) {
            // The master may have ended the stream while the agent still reads what
            // came before the end: a 403 then is expected, and what the call carried
            // goes again on the next stream.
            let closing = self
                .inbox
                .get(&conn)
                .is_some_and(|q| q.iter().any(|item| matches!(item, Inbound::Close)));
            if rejection.kind == RejectionKind::Forbidden && closing {
                self.note(format!(
                    "{}: call {kind:?} refused on a stream being closed",
                    self.agents[i].hostname
                ));
                return Ok(());
            }
            return Err(format!(
                "{}: call {kind:?} refused: {rejection}",
                self.agents[i].hostname
            ));
        }
        self.pump()
    }

    pub fn flush_updates(&mut self, i: usize) -> Result<(), String> {
        if !self.agents[i].is_connected() {
            return Ok(());
        }
        let calls = self.agents[i].due_updates(self.now);
        for call in calls {
            self.stats.updates += 1;
            self.agent_call(i, call)?;
        }
        Ok(())
    }

    /// The task moves to `state` on the agent, which reports it.
    pub fn task_update(&mut self, i: usize, key: &TaskKey, state: TaskState) -> Result<(), String> {
        if let Some(task) = self.agents[i].tasks.get_mut(key) {
            task.state = state;
        }
        self.queue_update(i, key, state)
    }

    fn queue_update(&mut self, i: usize, key: &TaskKey, state: TaskState) -> Result<(), String> {
        let uuid = self.rng.uuid();
        let agent = &mut self.agents[i];
        let status = TaskStatus {
            task_id: TaskId {
                value: key.1.clone(),
            },
            state: state as i32,
            source: Some(Source::Executor as i32),
            agent_id: agent.id.clone(),
            uuid: Some(uuid.clone()),
            ..TaskStatus::default()
        };
        agent.push_update(key.clone(), status);
        let sent = Sent {
            framework_id: key.0.clone(),
            task_id: key.1.clone(),
            agent: agent.hostname.clone(),
            state,
            delivered: false,
        };
        let line = format!(
            "{}: task {} is {state:?} ({})",
            agent.hostname,
            key.1,
            hex(&uuid)
        );
        self.note(line);
        self.ledger.sent(uuid, sent)?;
        self.flush_updates(i)
    }

    /// One of the agent's tasks moves on: STAGING → STARTING → RUNNING → FINISHED or
    /// FAILED (sometimes skipping a step).
    pub fn progress_task(&mut self, i: usize) -> Result<(), String> {
        let live: Vec<(TaskKey, TaskState)> = self.agents[i]
            .tasks
            .iter()
            .filter(|(_, t)| !is_terminal(t.state))
            .map(|(k, t)| (k.clone(), t.state))
            .collect();
        let Some((key, state)) = self.rng.pick(&live).cloned() else {
            return Ok(());
        };
        let next = match state {
            TaskState::TaskStaging if self.rng.chance(0.8) => TaskState::TaskStarting,
            TaskState::TaskStaging | TaskState::TaskStarting => TaskState::TaskRunning,
            _ if self.rng.chance(0.75) => TaskState::TaskFinished,
            _ => TaskState::TaskFailed,
        };
        self.task_update(i, &key, next)
    }
}
