//! An allocator that offers nothing: for a master that must run without offers (and
//! what the core was wired with before the real allocator landed).

use std::time::Duration;

use ratufa_proto::resources::Resources;
use ratufa_proto::v1::{AgentId, AgentInfo, FrameworkId, FrameworkInfo};

use super::Time;
use crate::allocator::{Allocation, Allocator};

/// Offers nothing, ever.
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
