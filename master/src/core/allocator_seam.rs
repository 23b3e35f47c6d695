//! Temporary copy of the allocator interface (shared interface 2) until
//! `crate::allocator` lands; the core only uses these names.

use std::time::Duration;

use ratufa_proto::resources::Resources;
use ratufa_proto::v1::{AgentId, AgentInfo, FrameworkId, FrameworkInfo};

use super::Time;

pub struct Allocation {
    pub framework_id: FrameworkId,
    pub agent_id: AgentId,
    pub role: String,
    pub resources: Resources,
}

pub trait Allocator: Send {
    fn add_framework(
        &mut self,
        id: &FrameworkId,
        info: &FrameworkInfo,
        suppressed_roles: &[String],
        active: bool,
        used: &[(AgentId, Resources)],
    );
    fn update_framework(
        &mut self,
        id: &FrameworkId,
        info: &FrameworkInfo,
        suppressed_roles: &[String],
    );
    fn remove_framework(&mut self, id: &FrameworkId);
    fn activate_framework(&mut self, id: &FrameworkId);
    fn deactivate_framework(&mut self, id: &FrameworkId);
    fn add_agent(
        &mut self,
        id: &AgentId,
        info: &AgentInfo,
        total: Resources,
        used: &[(FrameworkId, Resources)],
    );
    fn remove_agent(&mut self, id: &AgentId);
    fn activate_agent(&mut self, id: &AgentId);
    fn deactivate_agent(&mut self, id: &AgentId);
    fn recover_resources(
        &mut self,
        framework: &FrameworkId,
        agent: &AgentId,
        resources: &Resources,
        refuse: Option<Duration>,
        now: Time,
    );
    fn suppress(&mut self, framework: &FrameworkId, roles: &[String]);
    fn revive(&mut self, framework: &FrameworkId, roles: &[String]);
    fn update_weights(&mut self, weights: &[(String, f64)]);
    fn allocate(&mut self, now: Time) -> Vec<Allocation>;
    fn next_wakeup(&self) -> Option<Time>;
}

/// Offers nothing: stands in until the real allocator is wired in.
#[derive(Debug, Default)]
pub struct NoAllocator;

impl Allocator for NoAllocator {
    fn add_framework(
        &mut self,
        _: &FrameworkId,
        _: &FrameworkInfo,
        _: &[String],
        _: bool,
        _: &[(AgentId, Resources)],
    ) {
    }
    fn update_framework(&mut self, _: &FrameworkId, _: &FrameworkInfo, _: &[String]) {}
    fn remove_framework(&mut self, _: &FrameworkId) {}
    fn activate_framework(&mut self, _: &FrameworkId) {}
    fn deactivate_framework(&mut self, _: &FrameworkId) {}
    fn add_agent(
        &mut self,
        _: &AgentId,
        _: &AgentInfo,
        _: Resources,
        _: &[(FrameworkId, Resources)],
    ) {
    }
    fn remove_agent(&mut self, _: &AgentId) {}
    fn activate_agent(&mut self, _: &AgentId) {}
    fn deactivate_agent(&mut self, _: &AgentId) {}
    fn recover_resources(
        &mut self,
        _: &FrameworkId,
        _: &AgentId,
        _: &Resources,
        _: Option<Duration>,
        _: Time,
    ) {
    }
    fn suppress(&mut self, _: &FrameworkId, _: &[String]) {}
    fn revive(&mut self, _: &FrameworkId, _: &[String]) {}
    fn update_weights(&mut self, _: &[(String, f64)]) {}
    fn allocate(&mut self, _: Time) -> Vec<Allocation> {
        Vec::new()
    }
    fn next_wakeup(&self) -> Option<Time> {
        None
    }
}
