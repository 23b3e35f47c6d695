//! What schedulers decide to do: launch into their offers, decline, kill, reconcile,
//! acknowledge, suppress and revive, change roles, go away.

use std::collections::BTreeMap;

use ratufa_proto::resources::Resources;
use ratufa_proto::v1::offer::{Operation, operation};
use ratufa_proto::v1::scheduler::{Call, call};
use ratufa_proto::v1::value::{Range, Ranges, Type as ValueType};
use ratufa_proto::v1::{
    AgentId, CommandInfo, Filters, Label, Labels, OfferId, Resource, TaskId, TaskInfo, TaskState,
};

use super::framework::{Origin, Phase};
use super::rng::Rng;
use super::world::World;

fn call_of(kind: call::Type) -> Call {
    Call {
        r#type: Some(kind as i32),
        ..Call::default()
    }
}

/// Filters as schedulers send them: none (5 s), zero, short, long.
fn draw_filters(rng: &mut Rng) -> Option<Filters> {
    let seconds = *rng.pick(&[None, Some(0.0), Some(1.0), Some(10.0), Some(60.0)])?;
    seconds.map(|s| Filters {
        refuse_seconds: Some(s),
    })
}

/// Part of `available`: some of each scalar, sometimes a port. Entries keep their
/// reservation and allocation so the task asks for exactly what it was offered.
fn carve(rng: &mut Rng, available: &Resources) -> Option<Resources> {
    let mut picked: Vec<Resource> = Vec::new();
    for resource in available.iter() {
        let kind = ValueType::try_from(resource.r#type).ok();
        match kind {
            Some(ValueType::Scalar) => {
                let milli = resource
                    .scalar
                    .as_ref()
                    .map_or(0, |s| (s.value * 1000.0).round() as u64);
                if milli == 0 || rng.chance(0.3) {
                    continue;
                }
                let take = rng.range(1, (milli / 2).max(1));
                let mut part = resource.clone();
                if let Some(scalar) = &mut part.scalar {
                    scalar.value = take as f64 / 1000.0;
                }
                picked.push(part);
            }
            Some(ValueType::Ranges) if rng.chance(0.3) => {
                let Some(range) = resource
                    .ranges
                    .as_ref()
                    .and_then(|r| rng.pick(&r.range).cloned())
                else {
                    continue;
                };
                let port = rng.range(range.begin, range.end);
                let mut part = resource.clone();
                part.ranges = Some(Ranges {
                    range: vec![Range {
                        begin: port,
                        end: port,
                    }],
                });
                picked.push(part);
            }
            _ => {}
        }
    }
    if !picked.iter().any(|r| r.r#type == ValueType::Scalar as i32) {
        return None;
    }
    let task = Resources::try_from_vec(picked).ok()?;
    available.contains(&task).then_some(task)
}

fn task_info(id: &str, agent_id: &AgentId, resources: Vec<Resource>) -> TaskInfo {
    TaskInfo {
        name: id.to_string(),
        task_id: TaskId {
            value: id.to_string(),
        },
        agent_id: agent_id.clone(),
        resources,
        command: Some(CommandInfo {
            value: Some("sleep 10".to_string()),
            ..CommandInfo::default()
        }),
        labels: Some(Labels {
            labels: vec![Label {
                key: "sim".to_string(),
                value: Some(id.to_string()),
            }],
        }),
        ..TaskInfo::default()
    }
}

fn launch(tasks: Vec<TaskInfo>) -> Operation {
    Operation {
        r#type: Some(operation::Type::Launch as i32),
        launch: Some(operation::Launch { task_infos: tasks }),
        ..Operation::default()
    }
}

impl World {
    fn connected(&self, i: usize) -> bool {
        self.frameworks[i].phase == Phase::Connected
    }

    /// ACCEPT: tasks carved out of offers of one agent and role; now and then one that
    /// is too big, or an ACCEPT of an offer that is gone.
    pub fn framework_accept(&mut self, i: usize) -> Result<(), String> {
        if !self.connected(i) {
            return Ok(());
        }
        if self.rng.chance(0.05) && !self.frameworks[i].stale_offers.is_empty() {
            return self.accept_stale_offer(i);
        }
        let mut groups: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        {
            let fw = &self.frameworks[i];
            for (id, offer) in &fw.offers {
                let key = (offer.agent_id.value.clone(), fw.offer_role(offer));
                groups.entry(key).or_default().push(id.clone());
            }
        }
        let keys: Vec<(String, String)> = groups.keys().cloned().collect();
        let Some(key) = self.rng.pick(&keys).cloned() else {
            return Ok(());
        };
        let mut offer_ids = groups.remove(&key).unwrap_or_default();
        if offer_ids.len() > 1 && self.rng.chance(0.3) {
            let keep = self.rng.range(1, offer_ids.len() as u64 - 1) as usize;
            offer_ids.truncate(keep);
        }
        let mut available = Resources::new();
        for id in &offer_ids {
            let Some(offer) = self.frameworks[i].offers.remove(id) else {
                continue;
            };
            match Resources::try_from_vec(offer.resources) {
                Ok(resources) => available += &resources,
                Err(e) => return Err(format!("offer {id} holds invalid resources: {e}")),
            }
        }
        let agent_id = AgentId {
            value: key.0.clone(),
        };
        let refinement = self.frameworks[i].refinement();
        let encode = |resources: Resources| {
            if refinement {
                resources.into_vec()
            } else {
                resources.to_pre_refinement_format()
            }
        };
        let mut tasks = Vec::new();
        let mut doomed = Vec::new();
        for _ in 0..self.rng.range(0, 3) {
            let Some(resources) = carve(&mut self.rng, &available) else {
                break;
            };
            available -= &resources;
            let id = self.new_task_id(i, Origin::Launched);
            tasks.push(task_info(&id, &agent_id, encode(resources)));
        }
        if self.rng.chance(0.05) {
            let too_much = Resources::parse(&format!("cpus:{}", available.cpus() + 1.0), "*")
                .map_err(|e| e.to_string())?;
            let id = self.new_task_id(i, Origin::Doomed);
            doomed.push(id.clone());
            tasks.push(task_info(&id, &agent_id, too_much.into_vec()));
        }
        let names: Vec<&str> = tasks.iter().map(|t| t.task_id.value.as_str()).collect();
        self.note(format!(
            "{} accepts {offer_ids:?} on {} for role {} launching {names:?}",
            self.frameworks[i].name, key.0, key.1
        ));
        let mut accept = call_of(call::Type::Accept);
        accept.accept = Some(call::Accept {
            offer_ids: offer_ids
                .into_iter()
                .map(|value| OfferId { value })
                .collect(),
            operations: vec![launch(tasks)],
            filters: draw_filters(&mut self.rng),
        });
        self.framework_call(i, accept)?;
        self.expect_ended(i, &doomed, &[TaskState::TaskError])
    }

    fn accept_stale_offer(&mut self, i: usize) -> Result<(), String> {
        let stale = self.frameworks[i].stale_offers.clone();
        let Some(offer_id) = self.rng.pick(&stale).cloned() else {
            return Ok(());
        };
        let agent_id = self
            .agents
            .iter()
            .find_map(|a| a.id.clone())
            .unwrap_or_default();
        let id = self.new_task_id(i, Origin::Doomed);
        let resources = Resources::parse("cpus:0.1;mem:16", "*").map_err(|e| e.to_string())?;
        self.note(format!(
            "{} accepts stale offer {offer_id} launching {id}",
            self.frameworks[i].name
        ));
        let mut accept = call_of(call::Type::Accept);
        accept.accept = Some(call::Accept {
            offer_ids: vec![OfferId { value: offer_id }],
            operations: vec![launch(vec![task_info(
                &id,
                &agent_id,
                resources.into_vec(),
            )])],
            filters: None,
        });
        self.framework_call(i, accept)?;
        self.expect_ended(i, &[id], &[TaskState::TaskLost, TaskState::TaskDropped])
    }

    /// Tasks that had to fail at once must have been answered with one of `states`.
    fn expect_ended(&self, i: usize, ids: &[String], states: &[TaskState]) -> Result<(), String> {
        let fw = &self.frameworks[i];
        for id in ids {
            let state = fw.tasks.get(id).and_then(|v| v.state);
            if !state.is_some_and(|s| states.contains(&s)) {
                return Err(format!(
                    "{}: task {id} should have ended as one of {states:?} at once, is {state:?}",
                    fw.name
                ));
            }
        }
        Ok(())
    }

    pub fn framework_decline(&mut self, i: usize) -> Result<(), String> {
        if !self.connected(i) || self.frameworks[i].offers.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = self.frameworks[i].offers.keys().cloned().collect();
        let chosen: Vec<String> = ids.into_iter().filter(|_| self.rng.chance(0.6)).collect();
        for id in &chosen {
            self.frameworks[i].offers.remove(id);
        }
        let filters = draw_filters(&mut self.rng);
        self.note(format!(
            "{} declines {chosen:?} with {filters:?}",
            self.frameworks[i].name
        ));
        self.frameworks[i].remember_stale(chosen.iter().cloned());
        let mut decline = call_of(call::Type::Decline);
        decline.decline = Some(call::Decline {
            offer_ids: chosen.into_iter().map(|value| OfferId { value }).collect(),
            filters,
        });
        self.framework_call(i, decline)
    }

    /// Acknowledges some pending updates (all of them, or one at random).
    pub fn framework_ack(&mut self, i: usize, all: bool) -> Result<(), String> {
        if !self.connected(i) || self.frameworks[i].pending_acks.is_empty() {
            return Ok(());
        }
        let acks = if all {
            std::mem::take(&mut self.frameworks[i].pending_acks)
        } else {
            let n = self.rng.index(self.frameworks[i].pending_acks.len());
            vec![self.frameworks[i].pending_acks.remove(n)]
        };
        for ack in acks {
            if !self.connected(i) {
                break;
            }
            let mut call = call_of(call::Type::Acknowledge);
            call.acknowledge = Some(call::Acknowledge {
                agent_id: ack.agent_id,
                task_id: ack.task_id,
                uuid: ack.uuid,
            });
            self.framework_call(i, call)?;
        }
        Ok(())
    }

    pub fn framework_kill(&mut self, i: usize) -> Result<(), String> {
        if !self.connected(i) {
            return Ok(());
        }
        let live = self.frameworks[i].live_tasks();
        let (task_id, agent_id) = match self.rng.pick(&live).cloned() {
            Some(found) if self.rng.chance(0.9) => found,
            _ => (self.new_task_id(i, Origin::Ghost), None),
        };
        let agent_id = agent_id.filter(|_| self.rng.chance(0.7));
        self.note(format!("{} kills {task_id}", self.frameworks[i].name));
        let mut call = call_of(call::Type::Kill);
        call.kill = Some(call::Kill {
            task_id: TaskId { value: task_id },
            agent_id: agent_id.map(|value| AgentId { value }),
            kill_policy: None,
        });
        self.framework_call(i, call)
    }

    pub fn framework_reconcile(&mut self, i: usize) -> Result<(), String> {
        if !self.connected(i) {
            return Ok(());
        }
        let mut tasks = Vec::new();
        if self.rng.chance(0.5) {
            let live = self.frameworks[i].live_tasks();
            for (task_id, agent_id) in live.into_iter().filter(|_| self.rng.chance(0.5)) {
                tasks.push(call::reconcile::Task {
                    task_id: TaskId { value: task_id },
                    agent_id: agent_id.map(|value| AgentId { value }),
                });
            }
            if self.rng.chance(0.3) {
                let ghost = self.new_task_id(i, Origin::Ghost);
                let agent_id = self.agents.iter().find_map(|a| a.id.clone());
                tasks.push(call::reconcile::Task {
                    task_id: TaskId { value: ghost },
                    agent_id,
                });
            }
        }
        self.note(format!(
            "{} reconciles {} tasks",
            self.frameworks[i].name,
            if tasks.is_empty() {
                "all".to_string()
            } else {
                tasks.len().to_string()
            }
        ));
        let mut call = call_of(call::Type::Reconcile);
        call.reconcile = Some(call::Reconcile { tasks });
        self.framework_call(i, call)
    }

    pub fn framework_suppress_or_revive(&mut self, i: usize, revive: bool) -> Result<(), String> {
        if !self.connected(i) {
            return Ok(());
        }
        let roles: Vec<String> = self.frameworks[i]
            .roles()
            .into_iter()
            .filter(|_| self.rng.chance(0.5))
            .collect();
        self.note(format!(
            "{} {} {roles:?}",
            self.frameworks[i].name,
            if revive { "revives" } else { "suppresses" }
        ));
        let call = if revive {
            let mut call = call_of(call::Type::Revive);
            call.revive = Some(call::Revive { roles });
            call
        } else {
            let mut call = call_of(call::Type::Suppress);
            call.suppress = Some(call::Suppress { roles });
            call
        };
        self.framework_call(i, call)
    }

    /// REVIVE of all its roles: filters cleared, nothing suppressed.
    pub fn framework_revive_all(&mut self, i: usize) -> Result<(), String> {
        let mut call = call_of(call::Type::Revive);
        call.revive = Some(call::Revive { roles: Vec::new() });
        self.framework_call(i, call)
    }

    /// UPDATE_FRAMEWORK with new roles (MULTI_ROLE frameworks only).
    pub fn framework_update_roles(&mut self, i: usize) -> Result<(), String> {
        if !self.connected(i) || !self.frameworks[i].is_multi_role() {
            return Ok(());
        }
        let roles = self.draw_roles();
        let mut info = self.frameworks[i].info.clone();
        info.roles = roles.clone();
        self.note(format!(
            "{} changes its roles to {roles:?}",
            self.frameworks[i].name
        ));
        let mut call = call_of(call::Type::UpdateFramework);
        call.update_framework = Some(call::UpdateFramework {
            framework_info: info.clone(),
            suppressed_roles: Vec::new(),
            offer_constraints: None,
        });
        self.framework_call(i, call)?;
        self.frameworks[i].info = info;
        // Offers for the roles it left were rescinded; any left must be for a role it
        // is still in.
        let fw = &self.frameworks[i];
        if let Some(offer) = fw
            .offers
            .values()
            .find(|o| !roles.contains(&fw.offer_role(o)))
        {
            return Err(format!(
                "{}: still holds offer {} for role {} it left",
                fw.name,
                offer.id.value,
                fw.offer_role(offer)
            ));
        }
        Ok(())
    }

    pub fn framework_teardown(&mut self, i: usize) -> Result<(), String> {
        if !self.connected(i) {
            return Ok(());
        }
        self.note(format!("{} tears down", self.frameworks[i].name));
        self.frameworks[i].phase = Phase::Dead;
        self.framework_call(i, call_of(call::Type::Teardown))?;
        if self.frameworks[i].conn.is_some() {
            return Err(format!(
                "{}: stream still open after TEARDOWN",
                self.frameworks[i].name
            ));
        }
        Ok(())
    }
}
