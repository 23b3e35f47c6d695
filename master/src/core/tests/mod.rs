//! Deterministic tests of the core: every input is a method call with an explicit
//! time, every effect an output or a return value.

mod agents;
mod calls;
mod fake_allocator;
mod launch;
mod lifecycle;
mod offers;
mod operator;
mod reconcile;
mod registry;
mod removal;
mod same_address;
mod subscribe;
mod task_record;
mod update_order;
mod updates;
mod with_drf;

pub use fake_allocator::FakeAllocator;

use std::collections::BTreeSet;
use std::time::Duration;

use ratufa_proto::v1::scheduler::{Event, call, event};
use ratufa_proto::v1::{FrameworkId, FrameworkInfo, MasterInfo, framework_info};

use super::*;

pub const MASTER_ID: &str = "9b4d0f6e-1a2b-4c3d-8e9f-0a1b2c3d4e5f";

pub fn config() -> CoreConfig {
    CoreConfig {
        master_info: MasterInfo {
            id: MASTER_ID.into(),
            ip: 16_777_343,
            port: 5050,
            hostname: Some("localhost".into()),
            ..MasterInfo::default()
        },
        ..CoreConfig::default()
    }
}

pub fn info(name: &str) -> FrameworkInfo {
    FrameworkInfo {
        user: "alice".into(),
        name: name.into(),
        ..FrameworkInfo::default()
    }
}

pub fn with_id(mut info: FrameworkInfo, id: &FrameworkId) -> FrameworkInfo {
    info.id = Some(id.clone());
    info
}

pub fn multi_role(mut info: FrameworkInfo, roles: &[&str]) -> FrameworkInfo {
    info.roles = roles.iter().map(|r| r.to_string()).collect();
    info.capabilities.push(framework_info::Capability {
        r#type: Some(framework_info::capability::Type::MultiRole as i32),
    });
    info
}

/// An agent subscribing on a fresh connection with `info` and `tasks`.
pub fn subscribe_agent(
    h: &mut Harness,
    info: AgentInfo,
    tasks: Vec<ratufa_proto::v1::Task>,
) -> (ConnectionId, Result<AgentId, Rejection>) {
    let conn = h.next_conn();
    let result = h.core.handle_agent_subscribe(
        h.now,
        conn,
        agentlink::call::Subscribe {
            agent_info: info,
            tasks,
            ..Default::default()
        },
    );
    (conn, result)
}

pub fn subscribe_call(info: FrameworkInfo) -> call::Subscribe {
    call::Subscribe {
        framework_info: info,
        ..call::Subscribe::default()
    }
}

/// A core, a clock, and the bookkeeping a driver would do.
pub struct Harness {
    pub core: MasterCore,
    pub now: Time,
    pub allocator: FakeAllocator,
    next_conn: u64,
    /// The registry, for a core recovered from one ([`Harness::recovered`]): the
    /// core's operations are applied to it when written.
    pub registry: Option<ratufa_proto::ratufa::registry::Registry>,
    /// Whether [`Harness::outputs`] leaves registry writes in flight (until
    /// [`Harness::write_held`]) rather than completing them at once.
    pub hold_writes: bool,
    held: Vec<(RegistryOpId, RegistryOp)>,
}

/// One SUBSCRIBE as seen by a test: the stream it arrived on and what happened.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub conn: ConnectionId,
    pub stream_id: String,
    pub outcome: SubscribeOutcome,
}

impl Subscription {
    pub fn framework_id(&self) -> FrameworkId {
        match &self.outcome {
            SubscribeOutcome::Subscribed { framework_id } => framework_id.clone(),
            SubscribeOutcome::Refused { message } => panic!("refused: {message}"),
        }
    }
}

impl Harness {
    pub fn new() -> Harness {
        Harness::with_config(config())
    }

    /// A core on the real allocator; `allocator` is then a detached fake nobody calls.
    pub fn with_allocator(config: CoreConfig, real: Box<dyn Allocator>) -> Harness {
        Harness {
            core: MasterCore::new(config, real),
            now: Time::ZERO,
            allocator: FakeAllocator::default(),
            next_conn: 0,
            registry: None,
            hold_writes: false,
            held: Vec::new(),
        }
    }

    pub fn with_config(config: CoreConfig) -> Harness {
        let allocator = FakeAllocator::default();
        Harness {
            core: MasterCore::new(config, Box::new(allocator.clone())),
            now: Time::ZERO,
            allocator,
            next_conn: 0,
            registry: None,
            hold_writes: false,
            held: Vec::new(),
        }
    }

    /// A core that starts its term from `registry`, as a newly elected leader's.
    pub fn recovered(registry: ratufa_proto::ratufa::registry::Registry) -> Harness {
        let mut h = Harness::new();
        h.core.recover_registry(h.now, &registry);
        h.registry = Some(registry);
        h
    }

    /// Completes the registry writes held back, and returns what follows.
    pub fn write_held(&mut self) -> Vec<Output> {
        let held = std::mem::take(&mut self.held);
        self.write(held);
        self.outputs()
    }

    fn write(&mut self, ops: Vec<(RegistryOpId, RegistryOp)>) {
        let registry = self.registry.as_mut().expect("a recovered harness");
        for (_, op) in &ops {
            crate::registry::apply_op(registry, op);
        }
        let ids: Vec<RegistryOpId> = ops.into_iter().map(|(id, _)| id).collect();
        self.core.handle_registry_written(self.now, &ids);
    }

    pub fn advance(&mut self, by: Duration) {
        self.now = self.now + by;
    }

    /// Advances the clock and ticks, as the driver does when the timeout fires.
    pub fn advance_and_tick(&mut self, by: Duration) {
        self.advance(by);
        self.core.handle_tick(self.now);
    }

    pub fn next_conn(&mut self) -> ConnectionId {
        let conn = ConnectionId(self.next_conn);
        self.next_conn += 1;
        conn
    }

    pub fn subscribe_as(
        &mut self,
        principal: Option<&str>,
        subscribe: call::Subscribe,
    ) -> Subscription {
        let conn = self.next_conn();
        let stream_id = format!("stream-{}", conn.0);
        let outcome =
            self.core
                .handle_subscribe(self.now, conn, stream_id.clone(), principal, subscribe);
        Subscription {
            conn,
            stream_id,
            outcome,
        }
    }

    pub fn subscribe(&mut self, info: FrameworkInfo) -> Subscription {
        self.subscribe_as(None, subscribe_call(info))
    }

    /// Subscribes a new framework and drains its SUBSCRIBED.
    pub fn subscribed(&mut self, info: FrameworkInfo) -> Subscription {
        let sub = self.subscribe(info);
        let outputs = self.outputs();
        assert_eq!(outputs.len(), 1, "{outputs:?}");
        assert!(is_subscribed(&outputs[0], sub.conn));
        sub
    }

    pub fn call_on(&mut self, sub: &Subscription, call: FrameworkCall) -> Result<Reply, Rejection> {
        let id = sub.framework_id();
        self.core
            .handle_call(self.now, &id, call, None, Some(&sub.stream_id))
    }

    pub fn call(
        &mut self,
        framework_id: &FrameworkId,
        call: FrameworkCall,
        principal: Option<&str>,
        stream_id: Option<&str>,
    ) -> Result<Reply, Rejection> {
        self.core
            .handle_call(self.now, framework_id, call, principal, stream_id)
    }

    pub fn close(&mut self, conn: ConnectionId) {
        self.core.handle_stream_closed(self.now, conn);
    }

    /// What the core queued; registry operations among it are written at once (and
    /// what they release follows), unless `hold_writes`.
    pub fn outputs(&mut self) -> Vec<Output> {
        let mut all = Vec::new();
        loop {
            let batch: Vec<Output> = std::iter::from_fn(|| self.core.poll_output()).collect();
            let ops: Vec<(RegistryOpId, RegistryOp)> = batch
                .iter()
                .filter_map(|o| match o {
                    Output::Registry { id, op } => Some((*id, op.clone())),
                    _ => None,
                })
                .collect();
            all.extend(batch);
            if ops.is_empty() {
                return all;
            }
            if self.hold_writes {
                self.held.extend(ops);
                return all;
            }
            self.write(ops);
        }
    }

    pub fn framework(&self, id: &FrameworkId) -> &Framework {
        self.core
            .framework(&id.value)
            .unwrap_or_else(|| panic!("no framework {}", id.value))
    }
}

pub fn event_type(event: &Event) -> Option<event::Type> {
    event.r#type.and_then(|t| event::Type::try_from(t).ok())
}

pub fn is_subscribed(output: &Output, on: ConnectionId) -> bool {
    matches!(output, Output::Event { conn, event } if *conn == on && event_type(event) == Some(event::Type::Subscribed))
}

/// Asserts `outputs` are exactly one ERROR with `message` on `conn` and its close.
pub fn assert_error_then_close(outputs: &[Output], on: ConnectionId, message: &str) {
    assert_eq!(outputs.len(), 2, "{outputs:?}");
    match &outputs[0] {
        Output::Event { conn, event } => {
            assert_eq!(*conn, on);
            assert_eq!(event_type(event), Some(event::Type::Error));
            assert_eq!(
                event.error.as_ref().map(|e| e.message.as_str()),
                Some(message)
            );
        }
        other => panic!("expected an ERROR event, got {other:?}"),
    }
    assert_eq!(outputs[1], Output::Close { conn: on });
}

pub fn roles(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|r| r.to_string()).collect()
}

// ---- agents, offers and tasks ----

use ratufa_proto::ratufa::agentlink::{self, Command, command};
use ratufa_proto::resources::Resources;
use ratufa_proto::v1::{
    AgentId, AgentInfo, CommandInfo, Offer, TaskId, TaskInfo, TaskState, TaskStatus,
};

pub fn agent_info(hostname: &str, resources: &str) -> AgentInfo {
    AgentInfo {
        hostname: hostname.into(),
        port: Some(5051),
        resources: Resources::parse(resources, "*")
            .expect("test resources parse")
            .into_vec(),
        ..AgentInfo::default()
    }
}

pub fn partition_aware(mut info: FrameworkInfo) -> FrameworkInfo {
    info.capabilities.push(framework_info::Capability {
        r#type: Some(framework_info::capability::Type::PartitionAware as i32),
    });
    info
}

/// A registered agent as a test sees it.
#[derive(Debug, Clone)]
pub struct TestAgent {
    pub conn: ConnectionId,
    pub id: AgentId,
}

pub fn command_type(command: &Command) -> Option<command::Type> {
    command.r#type.and_then(|t| command::Type::try_from(t).ok())
}

/// The commands sent on `conn`, in order.
pub fn commands_on(outputs: &[Output], on: ConnectionId) -> Vec<Command> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::AgentCommand { conn, command } if *conn == on => Some(command.clone()),
            _ => None,
        })
        .collect()
}

/// The events sent on `conn`, in order.
pub fn events_on(outputs: &[Output], on: ConnectionId) -> Vec<Event> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Event { conn, event } if *conn == on => Some(event.clone()),
            _ => None,
        })
        .collect()
}

pub fn offers_on(outputs: &[Output], on: ConnectionId) -> Vec<Offer> {
    events_on(outputs, on)
        .into_iter()
        .filter_map(|e| e.offers.map(|o| o.offers))
        .flatten()
        .collect()
}

pub fn updates_on(outputs: &[Output], on: ConnectionId) -> Vec<TaskStatus> {
    events_on(outputs, on)
        .into_iter()
        .filter_map(|e| e.update.map(|u| u.status))
        .collect()
}

pub fn state_of(status: &TaskStatus) -> TaskState {
    status::task_state(status.state)
}

pub fn reason_of(status: &TaskStatus) -> Option<ratufa_proto::v1::task_status::Reason> {
    status
        .reason
        .and_then(|r| ratufa_proto::v1::task_status::Reason::try_from(r).ok())
}

pub fn command_task(id: &str, agent: &AgentId, resources: &str) -> TaskInfo {
    TaskInfo {
        name: id.into(),
        task_id: TaskId { value: id.into() },
        agent_id: agent.clone(),
        resources: Resources::parse(resources, "*")
            .expect("test resources parse")
            .into_vec(),
        command: Some(CommandInfo {
            value: Some("true".into()),
            ..CommandInfo::default()
        }),
        ..TaskInfo::default()
    }
}

pub fn launch(tasks: Vec<TaskInfo>) -> ratufa_proto::v1::offer::Operation {
    use ratufa_proto::v1::offer::{Operation, operation};
    Operation {
        r#type: Some(operation::Type::Launch as i32),
        launch: Some(operation::Launch { task_infos: tasks }),
        ..Operation::default()
    }
}

pub fn accept(
    offers: &[&Offer],
    operations: Vec<ratufa_proto::v1::offer::Operation>,
) -> FrameworkCall {
    FrameworkCall::Accept(call::Accept {
        offer_ids: offers.iter().map(|o| o.id.clone()).collect(),
        operations,
        filters: None,
    })
}

pub fn uuid(n: u8) -> Vec<u8> {
    // Version 4 in the version nibble, as validate_call wants.
    let mut bytes = vec![n; 16];
    bytes[6] = 0x40 | (n & 0x0f);
    bytes
}

impl Harness {
    /// Registers an agent; its SUBSCRIBED is checked and drained.
    pub fn agent(&mut self, hostname: &str, resources: &str) -> TestAgent {
        let conn = self.next_conn();
        let id = self
            .core
            .handle_agent_subscribe(
                self.now,
                conn,
                agentlink::call::Subscribe {
                    agent_info: agent_info(hostname, resources),
                    ..Default::default()
                },
            )
            .expect("agent registers");
        let outputs = self.outputs();
        let commands = commands_on(&outputs, conn);
        assert_eq!(command_type(&commands[0]), Some(command::Type::Subscribed));
        TestAgent { conn, id }
    }

    pub fn agent_call(
        &mut self,
        agent: &TestAgent,
        mut call: agentlink::Call,
    ) -> Result<Reply, Rejection> {
        call.agent_id.get_or_insert_with(|| agent.id.clone());
        self.core.handle_agent_call(self.now, agent.conn, call)
    }

    /// Sends a status update from `agent` with a fresh uuid; returns the uuid.
    pub fn agent_update(
        &mut self,
        agent: &TestAgent,
        framework: &FrameworkId,
        task: &str,
        state: TaskState,
        n: u8,
    ) -> Vec<u8> {
        let uuid = uuid(n);
        let call = agentlink::Call {
            r#type: Some(agentlink::call::Type::StatusUpdate as i32),
            status_update: Some(agentlink::call::StatusUpdate {
                framework_id: framework.clone(),
                status: TaskStatus {
                    task_id: TaskId { value: task.into() },
                    state: state as i32,
                    source: Some(ratufa_proto::v1::task_status::Source::Executor as i32),
                    uuid: Some(uuid.clone()),
                    ..TaskStatus::default()
                },
                latest_state: None,
            }),
            ..Default::default()
        };
        assert_eq!(self.agent_call(agent, call), Ok(Reply::Accepted));
        uuid
    }

    /// Runs an allocation and returns what came out.
    pub fn allocate(&mut self) -> Vec<Output> {
        self.core.allocate(self.now);
        self.check();
        self.outputs()
    }

    /// The invariants must hold after every step a test takes.
    pub fn check(&self) {
        if let Err(e) = self.core.debug_check_invariants() {
            panic!("invariant broken: {e}");
        }
    }

    /// A framework subscribed, an agent registered, and the one offer it got.
    pub fn offered(
        &mut self,
        info: FrameworkInfo,
        resources: &str,
    ) -> (Subscription, TestAgent, Offer) {
        let sub = self.subscribed(info);
        let agent = self.agent("host1", resources);
        let outputs = self.allocate();
        let offers = offers_on(&outputs, sub.conn);
        assert_eq!(offers.len(), 1, "{outputs:?}");
        (sub, agent, offers[0].clone())
    }

    /// "plain" and a partition-aware "aware" each run one task ("p", "a") on one
    /// agent ("host1", cpus:2;mem:256).
    pub fn plain_and_aware_on_one_agent(&mut self) -> (Subscription, Subscription, TestAgent) {
        let (plain, agent, offer) = self.offered(info("plain"), "cpus:2;mem:256");
        self.launched(&plain, &offer, "p", "cpus:1");
        let aware = self.subscribed(partition_aware(info("aware")));
        // What "plain" left is filtered for it for 5 s, so "aware" gets it.
        let offer = offers_on(&self.allocate(), aware.conn)
            .pop()
            .expect("aware framework offered the rest");
        self.launched(&aware, &offer, "a", "cpus:1");
        (plain, aware, agent)
    }

    /// Launches one command task from `offer` and drains the outputs.
    pub fn launched(
        &mut self,
        sub: &Subscription,
        offer: &Offer,
        task: &str,
        resources: &str,
    ) -> Vec<Output> {
        let t = command_task(task, &offer.agent_id, resources);
        assert_eq!(
            self.call_on(sub, accept(&[offer], vec![launch(vec![t])])),
            Ok(Reply::Accepted)
        );
        self.check();
        self.outputs()
    }
}
