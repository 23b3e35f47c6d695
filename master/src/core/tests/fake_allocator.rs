//! A small deterministic allocator for the core's tests: every free resource of an
//! active agent goes, whole, to the first active framework (by id) that is neither
//! suppressed nor filtered on that agent. The state is shared so tests can look in.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ratufa_proto::resources::Resources;
use ratufa_proto::v1::{AgentId, AgentInfo, FrameworkId, FrameworkInfo};

use crate::core::{Allocation, Allocator, Time, roles};

#[derive(Debug, Default)]
pub struct FakeFramework {
    pub role: String,
    pub active: bool,
    pub suppressed: bool,
}

#[derive(Debug, Default)]
pub struct FakeAgent {
    pub total: Resources,
    /// Unallocated form.
    pub allocated: Resources,
    pub active: bool,
}

#[derive(Debug, Default)]
pub struct FakeState {
    pub frameworks: BTreeMap<String, FakeFramework>,
    pub agents: BTreeMap<String, FakeAgent>,
    /// (framework, agent) → until when nothing is offered.
    pub filters: BTreeMap<(String, String), Time>,
    /// Every recover_resources call: (framework, agent, resources, refuse).
    pub recovered: Vec<(String, String, Resources, Option<Duration>)>,
}

#[derive(Debug, Clone, Default)]
pub struct FakeAllocator {
    pub state: Arc<Mutex<FakeState>>,
}

impl FakeAllocator {
    fn with<R>(&self, f: impl FnOnce(&mut FakeState) -> R) -> R {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut state)
    }
}

impl Allocator for FakeAllocator {
    fn add_framework(
        &mut self,
        id: &FrameworkId,
        info: &FrameworkInfo,
        suppressed: &[String],
        active: bool,
        used: &[(AgentId, Resources)],
    ) {
        self.with(|s| {
            let role = roles::framework_roles(info)
                .into_iter()
                .next()
                .unwrap_or_default();
            s.frameworks.insert(
                id.value.clone(),
                FakeFramework {
                    role,
                    active,
                    suppressed: !suppressed.is_empty(),
                },
            );
            for (agent, resources) in used {
                if let Some(a) = s.agents.get_mut(&agent.value) {
                    a.allocated += &resources.unallocated();
                }
            }
        });
    }

    fn update_framework(&mut self, id: &FrameworkId, info: &FrameworkInfo, suppressed: &[String]) {
        self.with(|s| {
            if let Some(f) = s.frameworks.get_mut(&id.value) {
                f.role = roles::framework_roles(info)
                    .into_iter()
                    .next()
                    .unwrap_or_default();
                f.suppressed = !suppressed.is_empty();
            }
        });
    }

    fn remove_framework(&mut self, id: &FrameworkId) {
        self.with(|s| {
            s.frameworks.remove(&id.value);
        });
    }

    fn activate_framework(&mut self, id: &FrameworkId) {
        self.with(|s| {
            if let Some(f) = s.frameworks.get_mut(&id.value) {
                f.active = true;
            }
        });
    }

    fn deactivate_framework(&mut self, id: &FrameworkId) {
        self.with(|s| {
            if let Some(f) = s.frameworks.get_mut(&id.value) {
                f.active = false;
            }
        });
    }

    fn add_agent(
        &mut self,
        id: &AgentId,
        _info: &AgentInfo,
        total: Resources,
        used: &[(FrameworkId, Resources)],
    ) {
        self.with(|s| {
            let mut allocated = Resources::new();
            for (_, resources) in used {
                allocated += &resources.unallocated();
            }
            s.agents.insert(
                id.value.clone(),
                FakeAgent {
                    total,
                    allocated,
                    active: true,
                },
            );
        });
    }

    fn remove_agent(&mut self, id: &AgentId) {
        self.with(|s| {
            s.agents.remove(&id.value);
        });
    }

    fn activate_agent(&mut self, id: &AgentId) {
        self.with(|s| {
            if let Some(a) = s.agents.get_mut(&id.value) {
                a.active = true;
            }
        });
    }

    fn deactivate_agent(&mut self, id: &AgentId) {
        self.with(|s| {
            if let Some(a) = s.agents.get_mut(&id.value) {
                a.active = false;
            }
        });
    }

    fn recover_resources(
        &mut self,
        framework: &FrameworkId,
        agent: &AgentId,
        resources: &Resources,
        refuse: Option<Duration>,
        now: Time,
    ) {
        self.with(|s| {
            if let Some(a) = s.agents.get_mut(&agent.value) {
                a.allocated -= &resources.unallocated();
            }
            if let Some(refuse) = refuse {
                s.filters
                    .insert((framework.value.clone(), agent.value.clone()), now + refuse);
            }
            s.recovered.push((
                framework.value.clone(),
                agent.value.clone(),
                resources.clone(),
                refuse,
            ));
        });
    }

    fn suppress(&mut self, framework: &FrameworkId, _roles: &[String]) {
        self.with(|s| {
            if let Some(f) = s.frameworks.get_mut(&framework.value) {
                f.suppressed = true;
            }
        });
    }

    fn revive(&mut self, framework: &FrameworkId, _roles: &[String]) {
        self.with(|s| {
            if let Some(f) = s.frameworks.get_mut(&framework.value) {
                f.suppressed = false;
            }
            s.filters.retain(|(f, _), _| *f != framework.value);
        });
    }

    fn update_weights(&mut self, _weights: &[(String, f64)]) {}

    fn allocate(&mut self, now: Time) -> Vec<Allocation> {
        self.with(|s| {
            s.filters.retain(|_, until| *until > now);
            let mut out = Vec::new();
            let framework_ids: Vec<String> = s.frameworks.keys().cloned().collect();
            for (agent_id, agent) in s.agents.iter_mut().filter(|(_, a)| a.active) {
                let free = &agent.total - &agent.allocated;
                for framework_id in &framework_ids {
                    let Some(f) = s.frameworks.get(framework_id) else {
                        continue;
                    };
                    if !f.active || f.suppressed {
                        continue;
                    }
                    if s.filters
                        .contains_key(&(framework_id.clone(), agent_id.clone()))
                    {
                        continue;
                    }
                    let mut give = free.allocatable_to(&f.role);
                    if give.is_empty() {
                        continue;
                    }
                    agent.allocated += &give;
                    give.allocate(&f.role);
                    out.push(Allocation {
                        framework_id: FrameworkId {
                            value: framework_id.clone(),
                        },
                        agent_id: AgentId {
                            value: agent_id.clone(),
                        },
                        role: f.role.clone(),
                        resources: give,
                    });
                    break;
                }
            }
            out
        })
    }

    fn next_wakeup(&self) -> Option<Time> {
        self.with(|s| s.filters.values().min().copied())
    }
}
