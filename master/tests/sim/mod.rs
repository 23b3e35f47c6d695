//! A seeded, deterministic simulation of a cluster around the real master core and
//! the real allocator. See `tests/simulation.rs` for how to run it.

mod actions;
mod agent;
mod agents;
mod checks;
mod framework;
mod frameworks;
mod ledger;
mod rng;
mod world;

use std::time::Duration;

use agent::is_terminal;
use agents::Crash;
use framework::Phase;
use world::World;
pub use world::{Log, Stats};

/// One simulated run: `steps` random steps, then the drain. `Err` names the first
/// thing that went wrong.
pub fn run(seed: u64, steps: usize, log: Log) -> Result<Stats, String> {
    let mut world = World::new(seed, log);
    for _ in 0..world.params.initial_agents {
        world.add_agent()?;
    }
    let frameworks = world.rng.range(1, world.params.max_frameworks as u64);
    for _ in 0..frameworks {
        world.add_framework()?;
    }
    world.read_all_inboxes()?;
    world.allocate(true)?;
    world.check()?;
    for step in 1..=steps {
        world.step = step;
        world.random_step()?;
        if world.rng.chance(0.3) {
            world.read_all_inboxes()?;
        }
        if world.rng.chance(0.7) {
            world.allocate(false)?;
        }
        world.check()?;
    }
    world.step = steps + 1;
    world.drain()?;
    Ok(world.stats.clone())
}

/// The things that can happen, with their relative weights.
#[derive(Debug, Clone, Copy)]
enum Action {
    ReadInbox,
    ProgressTask,
    ShortWait,
    LongWait,
    Allocate,
    Accept,
    Decline,
    AckOne,
    AckAll,
    Kill,
    Reconcile,
    Suppress,
    Revive,
    UpdateRoles,
    Disconnect,
    Resubscribe,
    Teardown,
    NewFramework,
    CrashAgent,
    ReconnectAgent,
    DeafAgent,
    NewAgent,
    MarkAgentGone,
    UpdateWeights,
}

const ACTIONS: &[(Action, u32)] = &[
    (Action::ReadInbox, 200),
    (Action::ProgressTask, 200),
    (Action::ShortWait, 80),
    (Action::LongWait, 15),
    (Action::Allocate, 60),
    (Action::Accept, 160),
    (Action::Decline, 40),
    (Action::AckOne, 60),
    (Action::AckAll, 50),
    (Action::Kill, 30),
    (Action::Reconcile, 15),
    (Action::Suppress, 8),
    (Action::Revive, 15),
    (Action::UpdateRoles, 5),
    (Action::Disconnect, 12),
    (Action::Resubscribe, 25),
    (Action::Teardown, 3),
    (Action::NewFramework, 8),
    (Action::CrashAgent, 12),
    (Action::ReconnectAgent, 20),
    (Action::DeafAgent, 6),
    (Action::NewAgent, 4),
    (Action::MarkAgentGone, 2),
    (Action::UpdateWeights, 3),
];

impl World {
    fn random_step(&mut self) -> Result<(), String> {
        let weights: Vec<u32> = ACTIONS.iter().map(|(_, w)| *w).collect();
        let action = ACTIONS[self.rng.weighted(&weights)].0;
        let agent = self.rng.index(self.agents.len().max(1));
        let live: Vec<usize> = (0..self.frameworks.len())
            .filter(|i| self.frameworks[*i].phase != Phase::Dead)
            .collect();
        let framework = self.rng.pick(&live).copied();
        match action {
            Action::ReadInbox => {
                let limit = self.rng.range(1, 4) as usize;
                if agent < self.agents.len() {
                    self.read_inbox(agent, limit)?;
                }
            }
            Action::ProgressTask => {
                if agent < self.agents.len() {
                    self.progress_task(agent)?;
                }
            }
            Action::ShortWait => {
                let by = Duration::from_millis(self.rng.range(100, 5_000));
                self.note(format!("wait {by:?}"));
                self.advance(by)?;
            }
            Action::LongWait => {
                let by = Duration::from_secs(self.rng.range(10, 600));
                self.note(format!("wait {by:?}"));
                self.advance(by)?;
            }
            Action::Allocate => self.allocate(true)?,
            Action::NewFramework => {
                if live.len() < self.params.max_frameworks {
                    self.add_framework()?;
                }
            }
            Action::NewAgent => {
                if self.agents.len() < self.params.max_agents {
                    self.add_agent()?;
                }
            }
            Action::CrashAgent => {
                if agent < self.agents.len() && self.agents[agent].conn.is_some() {
                    let how = match self.rng.below(20) {
                        0..=10 => Crash::Link,
                        11..=13 => Crash::HalfOpen,
                        14..=17 => Crash::LostTasks,
                        _ => Crash::Wiped,
                    };
                    self.crash_agent(agent, how)?;
                }
            }
            Action::ReconnectAgent => {
                if agent < self.agents.len() && self.agents[agent].conn.is_none() {
                    self.agent_subscribe(agent)?;
                }
            }
            Action::MarkAgentGone => {
                if agent < self.agents.len() {
                    self.mark_agent_gone(agent)?;
                }
            }
            Action::UpdateWeights => {
                let role = *self.rng.pick(&["*", "a", "b"]).unwrap_or(&"a");
                let weight = self.rng.range(1, 8) as f64 / 2.0;
                self.note(format!(
                    "operator sets the weight of role {role} to {weight}"
                ));
                let weights = vec![ratufa_proto::v1::WeightInfo {
                    weight,
                    role: Some(role.to_string()),
                }];
                if let Err(rejection) = self.core.update_weights(self.now, weights) {
                    return Err(format!("UPDATE_WEIGHTS refused: {rejection}"));
                }
                self.pump()?;
            }
            Action::DeafAgent => {
                if agent < self.agents.len() {
                    let for_ = Duration::from_secs(self.rng.range(20, 150));
                    self.agents[agent].deaf_until = self.now + for_;
                    self.note(format!(
                        "{} stops answering pings for {for_:?}",
                        self.agents[agent].hostname
                    ));
                }
            }
            _ => {
                let Some(i) = framework else {
                    return Ok(());
                };
                match action {
                    Action::Accept => self.framework_accept(i)?,
                    Action::Decline => self.framework_decline(i)?,
                    Action::AckOne => self.framework_ack(i, false)?,
                    Action::AckAll => self.framework_ack(i, true)?,
                    Action::Kill => self.framework_kill(i)?,
                    Action::Reconcile => self.framework_reconcile(i)?,
                    Action::Suppress => self.framework_suppress_or_revive(i, false)?,
                    Action::Revive => self.framework_suppress_or_revive(i, true)?,
                    Action::UpdateRoles => self.framework_update_roles(i)?,
                    Action::Disconnect if self.frameworks[i].phase == Phase::Connected => {
                        self.framework_disconnect(i)?;
                    }
                    Action::Resubscribe => self.framework_subscribe(i)?,
                    Action::Teardown if self.rng.chance(0.5) => self.framework_teardown(i)?,
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// The end of a run: chaos stops, everyone comes back, time passes and every
    /// update is acknowledged. Then no update may be left unsettled, and each agent's
    /// tasks must be the master's books for it.
    fn drain(&mut self) -> Result<(), String> {
        self.note("drain: everyone reconnects, every update is acknowledged");
        for agent in &mut self.agents {
            agent.deaf_until = self.now;
        }
        for _ in 0..400 {
            for i in 0..self.agents.len() {
                if self.agents[i].conn.is_none() {
                    self.agent_subscribe(i)?;
                }
            }
            for i in 0..self.frameworks.len() {
                if self.frameworks[i].phase == Phase::Disconnected {
                    self.framework_subscribe(i)?;
                }
            }
            self.read_all_inboxes()?;
            for i in 0..self.frameworks.len() {
                self.framework_ack(i, true)?;
            }
            self.read_all_inboxes()?;
            self.check()?;
            if self.ledger.open.is_empty() {
                break;
            }
            self.advance(Duration::from_secs(30))?;
        }
        if !self.ledger.open.is_empty() {
            let stuck: Vec<String> = self
                .ledger
                .open
                .iter()
                .take(10)
                .map(|(uuid, sent)| {
                    format!(
                        "{} task {} ({}) {:?} {} delivered={}",
                        sent.agent,
                        sent.task_id,
                        sent.framework_id,
                        sent.state,
                        ledger::hex(uuid),
                        sent.delivered
                    )
                })
                .collect();
            return Err(format!(
                "{} updates never settled after the drain: {stuck:#?}",
                self.ledger.open.len()
            ));
        }
        self.check_books_agree()?;
        self.check_nothing_leaked()
    }

    /// With every framework revived, whatever an agent has free and unreserved is
    /// offered to someone: resources the master lost track of would never be.
    fn check_nothing_leaked(&mut self) -> Result<(), String> {
        let connected: Vec<usize> = (0..self.frameworks.len())
            .filter(|i| self.frameworks[*i].phase == Phase::Connected)
            .collect();
        if connected.is_empty() {
            return Ok(());
        }
        self.stats.leak_checked += 1;
        for i in connected {
            self.framework_revive_all(i)?;
        }
        self.allocate(true)?;
        self.read_all_inboxes()?;
        self.check()?;
        for agent in self.agents.iter().filter(|a| a.is_connected()) {
            let Some(booked) = self.core.agent(agent.id_str()) else {
                continue;
            };
            let mut held = booked.used().unallocated();
            for offer in self
                .core
                .offers()
                .filter(|o| o.agent_id() == agent.id_str())
            {
                held += &offer.resources().unallocated();
            }
            let free = (booked.total().clone() - &held).unreserved();
            // Mesos's --min_allocatable_resources default: less than this is not offered.
            if free.cpus() >= 0.01 || free.mem() >= 32.0 {
                return Err(format!(
                    "{} ({}) has {free} free and unreserved that nobody was offered",
                    agent.hostname,
                    agent.id_str()
                ));
            }
        }
        Ok(())
    }

    /// After the drain, what each connected agent runs is what the master books on it.
    fn check_books_agree(&self) -> Result<(), String> {
        for agent in self.agents.iter().filter(|a| a.is_connected()) {
            let Some(booked) = self.core.agent(agent.id_str()) else {
                return Err(format!(
                    "{} ({}) is connected but not registered",
                    agent.hostname,
                    agent.id_str()
                ));
            };
            let runs: Vec<&(String, String)> = agent.tasks.keys().collect();
            let books: Vec<(String, String)> = booked
                .tasks()
                .iter()
                .map(|(f, t)| (f.to_string(), t.to_string()))
                .collect();
            let runs: Vec<(String, String)> = runs.into_iter().cloned().collect();
            if runs != books {
                return Err(format!(
                    "{} ({}) runs {runs:?} but the master books {books:?}",
                    agent.hostname,
                    agent.id_str()
                ));
            }
            if let Some((key, _)) = agent.tasks.iter().find(|(_, t)| is_terminal(t.state)) {
                return Err(format!(
                    "{} keeps ended task {key:?} after the drain",
                    agent.hostname
                ));
            }
        }
        Ok(())
    }
}
