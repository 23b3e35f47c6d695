//! The simulated cluster around one real `MasterCore`: the clock, the streams, the
//! parties on them, and the driver's part (draining outputs, ticking, allocating).
//!
//! Events to frameworks are handled as soon as the core emits them; commands to agents
//! wait in a per-stream inbox until the agent reads them, so they can be lost with the
//! stream (a RUN_TASK that never arrives, an ACK that must be resent).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;
use std::time::Duration;

use ratufa_master::allocator::{AllocatorConfig, HierarchicalDrf};
use ratufa_master::core::{ConnectionId, CoreConfig, MasterCore, Output, Time};
use ratufa_proto::ratufa::agentlink::Command;
use ratufa_proto::ratufa::registry::Registry;
use ratufa_proto::v1::MasterInfo;

use super::agent::{SimAgent, TaskKey};
use super::framework::SimFramework;
use super::ledger::Ledger;
use super::rng::Rng;

pub const MASTER_ID: &str = "5e1f0c4a-0000-4000-8000-00000000a11c";

/// The step log, shared with the runner so that it survives a panic.
pub type Log = Rc<RefCell<Vec<String>>>;

/// What a seed decided about the cluster before the first step.
#[derive(Debug, Clone)]
pub struct Params {
    pub initial_agents: usize,
    pub max_agents: usize,
    pub max_frameworks: usize,
    pub weights: Vec<(String, f64)>,
    pub offer_timeout: Option<Duration>,
    pub max_offers_per_event: usize,
}

impl Params {
    pub fn draw(rng: &mut Rng) -> Params {
        let offer_timeout = rng
            .chance(0.4)
            .then(|| Duration::from_secs(rng.range(5, 120)));
        let weights = vec![
            ("a".to_string(), rng.range(1, 4) as f64),
            ("b".to_string(), rng.range(1, 4) as f64),
        ];
        let initial_agents = rng.range(2, 6) as usize;
        Params {
            initial_agents,
            max_agents: initial_agents + 2,
            max_frameworks: rng.range(2, 4) as usize,
            weights,
            offer_timeout,
            max_offers_per_event: rng.range(1, 4) as usize,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Agent(usize),
    Framework(usize),
}

#[derive(Debug, Clone)]
pub enum Inbound {
    Command(Box<Command>),
    /// The master ended the stream after what came before.
    Close,
}

pub struct World {
    pub rng: Rng,
    pub core: MasterCore,
    pub now: Time,
    pub step: usize,
    pub params: Params,
    next_conn: u64,
    pub agents: Vec<SimAgent>,
    /// Which simulated agent each agent id was given to (before it reads SUBSCRIBED).
    pub agent_of: BTreeMap<String, usize>,
    pub frameworks: Vec<SimFramework>,
    pub owners: BTreeMap<ConnectionId, Owner>,
    /// Commands written to agent streams and not read yet.
    pub inbox: BTreeMap<ConnectionId, VecDeque<Inbound>>,
    pub ledger: Ledger,
    /// Every task that was sent to an agent, with the agent: a task runs once.
    pub launched: BTreeMap<TaskKey, String>,
    /// Every offer id ever received: an id is never reused.
    pub offer_ids: BTreeSet<String>,
    pub last_allocation: Time,
    pub log: Log,
    pub stats: Stats,
}

/// What a run did, for the summary line.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub offers: u64,
    pub launched: u64,
    pub updates: u64,
    pub acks: u64,
    pub crashes: u64,
    pub unreachable: u64,
    /// Agents an operator marked gone.
    pub gone: u64,
    /// Runs whose drain ended with frameworks connected, so the leak check had work.
    pub leak_checked: u64,
}

impl World {
    pub fn new(seed: u64, log: Log) -> World {
        let mut rng = Rng::new(seed);
        let params = Params::draw(&mut rng);
        let config = CoreConfig {
            master_info: MasterInfo {
                id: MASTER_ID.to_string(),
                ip: 16_777_343,
                port: 5050,
                hostname: Some("sim-master".to_string()),
                ..MasterInfo::default()
            },
            offer_timeout: params.offer_timeout,
            max_offers_per_event: params.max_offers_per_event,
            ..CoreConfig::default()
        };
        let allocator = HierarchicalDrf::new(AllocatorConfig {
            weights: params.weights.clone(),
            ..AllocatorConfig::default()
        });
        // A leader's core: every registry change goes out as an operation and takes
        // effect when `pump` reports it written (at once, as a store would later).
        let mut core = MasterCore::new(config, Box::new(allocator));
        core.recover_registry(Time::ZERO, &Registry::default());
        let world = World {
            rng,
            core,
            now: Time::ZERO,
            step: 0,
            params,
            next_conn: 1,
            agents: Vec::new(),
            agent_of: BTreeMap::new(),
            frameworks: Vec::new(),
            owners: BTreeMap::new(),
            inbox: BTreeMap::new(),
            ledger: Ledger::default(),
            launched: BTreeMap::new(),
            offer_ids: BTreeSet::new(),
            last_allocation: Time::ZERO,
            log,
            stats: Stats::default(),
        };
        world.note(format!("seed {seed}: {:?}", world.params));
        world
    }

    pub fn note(&self, line: impl AsRef<str>) {
        let t = self.now.since_origin().as_secs_f64();
        self.log
            .borrow_mut()
            .push(format!("[{:>4} t={t:>8.1}s] {}", self.step, line.as_ref()));
    }

    pub fn new_conn(&mut self, owner: Owner) -> ConnectionId {
        let conn = ConnectionId(self.next_conn);
        self.next_conn += 1;
        self.owners.insert(conn, owner);
        conn
    }

    /// Carries out everything the core queued: events reach frameworks at once,
    /// commands wait in their stream's inbox.
    pub fn pump(&mut self) -> Result<(), String> {
        while let Some(output) = self.core.poll_output() {
            match output {
                Output::Event { conn, event } => match self.owners.get(&conn) {
                    Some(Owner::Framework(i)) => {
                        let i = *i;
                        self.on_event(i, conn, event)?;
                    }
                    Some(Owner::Agent(_)) => {
                        return Err(format!("scheduler event written to agent stream {conn}"));
                    }
                    None => {
                        return Err(format!("event written to closed stream {conn}: {event:?}"));
                    }
                },
                Output::AgentCommand { conn, command } => {
                    match (self.owners.get(&conn), self.inbox.get_mut(&conn)) {
                        (Some(Owner::Agent(_)), Some(queue)) => {
                            queue.push_back(Inbound::Command(Box::new(command)));
                        }
                        (Some(Owner::Framework(_)), _) => {
                            return Err(format!(
                                "agent command written to framework stream {conn}"
                            ));
                        }
                        _ => {
                            return Err(format!(
                                "agent command written to closed stream {conn}: {command:?}"
                            ));
                        }
                    }
                }
                Output::Close { conn } => match self.owners.get(&conn).copied() {
                    Some(Owner::Agent(_)) => {
                        if let Some(queue) = self.inbox.get_mut(&conn) {
                            queue.push_back(Inbound::Close);
                        }
                    }
                    Some(Owner::Framework(i)) => self.framework_stream_ended(i, conn)?,
                    None => return Err(format!("close of a stream already closed: {conn}")),
                },
                // A registry that writes at once.
                Output::Registry { id, .. } => self.core.handle_registry_written(self.now, &[id]),
                // The simulated registry starts empty: no agent is ever recovered.
                Output::RecoveryRemovalLimitExceeded { missing, recovered } => {
                    return Err(format!(
                        "removal limit exceeded with {missing} of {recovered} recovered agents missing, from an empty registry"
                    ));
                }
            }
        }
        Ok(())
    }

    /// The driver's allocation: after a batch of inputs when the core wants one, and
    /// every second regardless (`--allocation_interval`).
    pub fn allocate(&mut self, force: bool) -> Result<(), String> {
        let backstop = self.now.saturating_since(self.last_allocation) >= Duration::from_secs(1);
        if force || backstop || self.core.wants_allocation() {
            self.core.allocate(self.now);
            self.last_allocation = self.now;
            self.pump()?;
        }
        Ok(())
    }

    /// Lets `by` pass, waking wherever the core, an agent's retry or an agent's
    /// reconnection wants, so that every deadline is met as a real driver meets it.
    pub fn advance(&mut self, by: Duration) -> Result<(), String> {
        let target = self.now + by;
        let mut stalled = 0;
        loop {
            let next = [self.core.poll_timeout(), self.agent_wakeup()]
                .into_iter()
                .flatten()
                .min();
            let at = match next {
                Some(t) if t <= target => t.max(self.now),
                _ => target,
            };
            if at == self.now && next.is_some_and(|t| t <= self.now) {
                stalled += 1;
                if stalled > 50 {
                    return Err(format!(
                        "time stalls: the core asks for a tick at {next:?} again and again at {:?}",
                        self.now
                    ));
                }
            } else {
                stalled = 0;
            }
            self.now = at;
            self.core.handle_tick(self.now);
            self.pump()?;
            self.read_all_inboxes()?;
            self.agents_wake()?;
            self.allocate(false)?;
            self.read_all_inboxes()?;
            self.check()?;
            if at >= target {
                return Ok(());
            }
        }
    }
}

impl Stats {
    pub fn add(&mut self, other: &Stats) {
        self.offers += other.offers;
        self.launched += other.launched;
        self.updates += other.updates;
        self.acks += other.acks;
        self.crashes += other.crashes;
        self.unreachable += other.unreachable;
        self.gone += other.gone;
        self.leak_checked += other.leak_checked;
    }
}
