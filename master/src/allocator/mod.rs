//! The allocator: decides which framework is offered which agent's free resources.
//!
//! Pure, like the core: no IO, no clock (time is passed in). The core tells it about
//! frameworks, agents and resources coming back; [`Allocator::allocate`] answers with
//! what to offer. Anything it hands out counts as allocated to that framework until
//! the core gives it back with [`Allocator::recover_resources`] (declined, rescinded,
//! unused in an ACCEPT, or freed by a terminal task), which is Mesos's model.
//!
//! [`HierarchicalDrf`] is the implementation: weighted DRF over roles, then DRF over
//! the frameworks in a role, done incrementally (see its documentation).

mod bitset;
mod config;
mod hierarchical;
mod state;

#[cfg(test)]
mod tests;

use std::time::Duration;

use ratufa_proto::resources::Resources;
use ratufa_proto::v1::{AgentId, AgentInfo, FrameworkId, FrameworkInfo};

use crate::core::Time;

pub use config::{
    AllocatorConfig, DEFAULT_REFUSE_SECONDS, MAX_REFUSE_SECONDS, default_min_allocatable_resources,
    parse_min_allocatable_resources, parse_weights, refuse_duration,
};
pub use hierarchical::{AllocatorStats, HierarchicalDrf};

/// Resources on one agent handed to one framework for one of its roles.
#[derive(Debug, Clone, PartialEq)]
pub struct Allocation {
    pub framework_id: FrameworkId,
    pub agent_id: AgentId,
    pub role: String,
    /// With `allocation_info.role` set to `role` on every entry.
    pub resources: Resources,
}

/// What the master core needs from an allocator. Every method is a fact the core has
/// already decided; none can fail. Unknown ids are ignored (and logged), since the core
/// is the source of truth and an allocator must never take it down.
pub trait Allocator: Send {
    /// A framework subscribed (or the master learned of it on failover). `used` is what
    /// its tasks and executors already hold, per agent, in allocated form.
    fn add_framework(
        &mut self,
        id: &FrameworkId,
        info: &FrameworkInfo,
        suppressed_roles: &[String],
        active: bool,
        used: &[(AgentId, Resources)],
    );
    /// New roles, capabilities or suppressed roles (UPDATE_FRAMEWORK, re-subscription).
    fn update_framework(
        &mut self,
        id: &FrameworkId,
        info: &FrameworkInfo,
        suppressed_roles: &[String],
    );
    /// Whatever is still allocated to it goes back to the agents.
    fn remove_framework(&mut self, id: &FrameworkId);
    fn activate_framework(&mut self, id: &FrameworkId);
    /// Disconnected or failing over: offered nothing until activated again.
    fn deactivate_framework(&mut self, id: &FrameworkId);
    /// An agent registered; `used` is what frameworks' tasks on it already hold.
    fn add_agent(
        &mut self,
        id: &AgentId,
        info: &AgentInfo,
        total: Resources,
        used: &[(FrameworkId, Resources)],
    );
    fn remove_agent(&mut self, id: &AgentId);
    /// Reachable again: its free resources may be offered.
    fn activate_agent(&mut self, id: &AgentId);
    /// Unreachable or disconnected: nothing is offered from it.
    fn deactivate_agent(&mut self, id: &AgentId);
    /// Resources allocated to `framework` on `agent` come back (declined, rescinded,
    /// unused, or freed by a terminal task). `refuse` adds a decline filter: these
    /// resources (or less) from this agent are not offered to the framework in this role
    /// again until `now + refuse`, unless it revives.
    fn recover_resources(
        &mut self,
        framework: &FrameworkId,
        agent: &AgentId,
        resources: &Resources,
        refuse: Option<Duration>,
        now: Time,
    );
    /// Stops offers to these roles of the framework (all of its roles when empty).
    fn suppress(&mut self, framework: &FrameworkId, roles: &[String]);
    /// Clears the framework's filters for these roles and unsuppresses them (all roles
    /// when empty).
    fn revive(&mut self, framework: &FrameworkId, roles: &[String]);
    /// Sets role weights; a role not named keeps its weight.
    fn update_weights(&mut self, weights: &[(String, f64)]);
    /// Allocates what can be allocated now; what it returns is from then on allocated
    /// to the framework. Incremental: only agents and frameworks that changed since the
    /// last call are looked at.
    fn allocate(&mut self, now: Time) -> Vec<Allocation>;
    /// The earliest moment a filter expires, so the driver can wake up for it.
    fn next_wakeup(&self) -> Option<Time>;
}
