//! The big answers built whole as `mesos.v1.master.Response` messages, as the
//! operator API answered before they were written in parts: the reference the
//! tests hold [`parts`](super::parts) to.

use ratufa_proto::v1::master::response::{
    GetAgents, GetExecutors, GetFrameworks, GetState, GetTasks, get_executors,
};
use ratufa_proto::v1::master::{Response, call, response};
use ratufa_proto::v1::{AgentId, Task};

use super::super::state::Clock;
use super::views;
use crate::core::{FrameworkSnapshot, StateSnapshot, TaskEntry};

/// The answer to a big read, built whole.
pub(super) fn built(snapshot: &StateSnapshot, kind: call::Type) -> Response {
    use call::Type as T;
    use response::Type as R;
    let mut out = Response::default();
    let r#type = match kind {
        T::GetState => {
            out.get_state = Some(state(snapshot));
            R::GetState
        }
        T::GetAgents => {
            out.get_agents = Some(agents(snapshot));
            R::GetAgents
        }
        T::GetFrameworks => {
            out.get_frameworks = Some(frameworks(snapshot));
            R::GetFrameworks
        }
        T::GetExecutors => {
            out.get_executors = Some(executors(snapshot));
            R::GetExecutors
        }
        T::GetTasks => {
            out.get_tasks = Some(tasks(snapshot));
            R::GetTasks
        }
        other => panic!("{other:?} is no big read"),
    };
    out.r#type = Some(r#type as i32);
    out
}

pub(super) fn state(snapshot: &StateSnapshot) -> GetState {
    GetState {
        get_tasks: Some(tasks(snapshot)),
        get_executors: Some(executors(snapshot)),
        get_frameworks: Some(frameworks(snapshot)),
        get_agents: Some(agents(snapshot)),
    }
}

pub(super) fn agents(snapshot: &StateSnapshot) -> GetAgents {
    let clock = Clock::of(snapshot);
    GetAgents {
        agents: snapshot
            .agents
            .iter()
            .map(|a| views::agent(&clock, a))
            .collect(),
        recovered_agents: snapshot.recovered_agents.clone(),
    }
}

pub(super) fn frameworks(snapshot: &StateSnapshot) -> GetFrameworks {
    let clock = Clock::of(snapshot);
    let framework = |f: &FrameworkSnapshot| views::framework(&clock, f);
    #[allow(deprecated)] // `recovered_frameworks` is deprecated in the schema
    GetFrameworks {
        frameworks: snapshot.frameworks.iter().map(framework).collect(),
        completed_frameworks: snapshot
            .completed_frameworks
            .iter()
            .map(framework)
            .collect(),
        recovered_frameworks: Vec::new(),
    }
}

pub(super) fn executors(snapshot: &StateSnapshot) -> GetExecutors {
    #[allow(deprecated)] // `orphan_executors` is deprecated in the schema
    GetExecutors {
        executors: snapshot
            .frameworks
            .iter()
            .flat_map(|f| &f.executors)
            .map(|(agent_id, executor)| get_executors::Executor {
                executor_info: executor.clone(),
                agent_id: AgentId {
                    value: agent_id.clone(),
                },
            })
            .collect(),
        orphan_executors: Vec::new(),
    }
}

/// Active, unreachable and completed tasks, of frameworks removed too.
pub(super) fn tasks(snapshot: &StateSnapshot) -> GetTasks {
    let all = || {
        snapshot
            .frameworks
            .iter()
            .chain(&snapshot.completed_frameworks)
    };
    let collect = |pick: fn(&FrameworkSnapshot) -> &[std::sync::Arc<TaskEntry>]| {
        all()
            .flat_map(|f| pick(f).iter().map(|t| t.task()))
            .collect::<Vec<Task>>()
    };
    #[allow(deprecated)] // `pending_tasks` and `orphan_tasks` are deprecated
    GetTasks {
        pending_tasks: Vec::new(),
        tasks: collect(|f| &f.tasks),
        unreachable_tasks: collect(|f| &f.unreachable_tasks),
        completed_tasks: collect(|f| &f.completed_tasks),
        orphan_tasks: Vec::new(),
    }
}
