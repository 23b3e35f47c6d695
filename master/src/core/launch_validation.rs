//! Checks of LAUNCH and LAUNCH_GROUP operations against the master's state, in the
//! order and (mostly) the words of Mesos's `validation::task`, so a framework sees
//! the same TASK_ERROR message for the same mistake. Pure: the caller applies what
//! passes.

use std::collections::BTreeSet;

use ratufa_proto::resources::Resources;
use ratufa_proto::v1::container_info::Type as ContainerType;
use ratufa_proto::v1::executor_info::Type as ExecutorType;
use ratufa_proto::v1::health_check::Type as HealthType;
use ratufa_proto::v1::resource::AllocationInfo;
use ratufa_proto::v1::{ExecutorInfo, FrameworkId, Resource, TaskGroupInfo, TaskInfo};

use super::agent::Agent;
use super::task::FrameworkTasks;
use super::task_fields::{validate_check, validate_container, validate_health_check};
use super::validation::validate_id;

/// Least cpus and memory (MB) an executor of a task group must ask for.
pub const MIN_CPUS: f64 = 0.01;
pub const MIN_MEM: f64 = 32.0;

/// What a launch is checked against.
pub struct LaunchContext<'a> {
    pub framework_id: &'a str,
    pub tasks: Option<&'a FrameworkTasks>,
    pub agent: &'a Agent,
    /// The role the offers were allocated to: resources without `allocation_info` are
    /// taken as allocated to it, as Mesos injects it.
    pub role: &'a str,
}

/// A task that passed: its resources, and those of its executor when this launch
/// starts the executor (both in allocated form).
#[derive(Debug, Clone)]
pub struct ValidTask {
    pub resources: Resources,
    pub new_executor: Option<Resources>,
}

/// Resources as a framework wrote them, in allocated form for `role`.
pub fn allocated(resources: &[Resource], role: &str) -> Result<Resources, String> {
    let mut owned = resources.to_vec();
    for resource in &mut owned {
        if resource.allocation_info.is_none() {
            resource.allocation_info = Some(AllocationInfo {
                role: Some(role.to_string()),
            });
        }
    }
    Resources::try_from_vec(owned).map_err(|e| e.to_string())
}

/// Checks one LAUNCH task given what is still `available` in the offers.
pub fn validate_task(
    task: &TaskInfo,
    ctx: &LaunchContext<'_>,
    available: &Resources,
) -> Result<ValidTask, String> {
    let resources = validate_task_common(task, ctx)?;

    if task
        .container
        .as_ref()
        .and_then(|c| c.linux_info.as_ref())
        .is_some_and(|linux| linux.share_cgroups == Some(false))
    {
        return Err(
            "Only tasks in a task group may have 'share_cgroups' set to 'false'".to_string(),
        );
    }
    if task.executor.is_some() == task.command.is_some() {
        return Err(
            "Task should have at least one (but not both) of CommandInfo or \
                    ExecutorInfo present"
                .to_string(),
        );
    }

    let mut total = resources.clone();
    let mut new_executor = None;
    if let Some(executor) = &task.executor {
        let executor_resources = validate_executor_common(executor, ctx)?;
        if let Some(kind) = executor.r#type
            && kind != ExecutorType::Custom as i32
        {
            return Err("'ExecutorInfo.type' must be 'CUSTOM'".to_string());
        }
        if executor.command.is_none() {
            return Err("'ExecutorInfo.command' must be set".to_string());
        }
        if !ctx
            .agent
            .has_executor(ctx.framework_id, &executor.executor_id.value)
        {
            total += &executor_resources;
            new_executor = Some(executor_resources);
        }
    }

    if !available.contains(&total) {
        return Err(format!(
            "Total resources {total} required by task and its executor is more than \
             available {available}"
        ));
    }
    Ok(ValidTask {
        resources,
        new_executor,
    })
}

/// Checks a LAUNCH_GROUP whose tasks already carry the group's executor (the master
/// injects it where a task has none). Returns each task's resources, in order, and
/// the executor's when the group starts it.
pub fn validate_task_group(
    group: &TaskGroupInfo,
    executor: &ExecutorInfo,
    ctx: &LaunchContext<'_>,
    available: &Resources,
) -> Result<(Vec<Resources>, Option<Resources>), String> {
    let mut task_resources = Vec::with_capacity(group.tasks.len());
    let mut seen = BTreeSet::new();
    for task in &group.tasks {
        let checked = validate_task_common(task, ctx).and_then(|resources| {
            if task.executor.is_none() {
                return Err("'TaskInfo.executor' must be set".to_string());
            }
            validate_nested_container(task)?;
            // Mesos checks ids only against tasks already launched; two tasks of one
            // group with the same id would run twice under one name.
            if !seen.insert(task.task_id.value.as_str()) {
                return Err(format!("Task has duplicate ID: {}", task.task_id.value));
            }
            Ok(resources)
        });
        match checked {
            Ok(resources) => task_resources.push(resources),
            Err(e) => {
                return Err(format!("Task '{}' is invalid: {e}", task.task_id.value));
            }
        }
    }
    if group.tasks.is_empty() {
        return Err("Task group is empty".to_string());
    }

    let executor_resources = validate_executor_common(executor, ctx)?;
    let executor_id = &executor.executor_id.value;
    match executor.r#type.map(ExecutorType::try_from) {
        None => return Err("'ExecutorInfo.type' must be set".to_string()),
        Some(Ok(ExecutorType::Unknown) | Err(_)) => {
            return Err("Unknown executor type".to_string());
        }
        Some(Ok(_)) => {}
    }
    if executor.container.as_ref().map(|c| c.r#type) == Some(ContainerType::Docker as i32) {
        return Err("Docker ContainerInfo is not supported on the executor".to_string());
    }
    for task in &group.tasks {
        if task.executor.as_ref() != Some(executor) {
            return Err(format!(
                "The `ExecutorInfo` of task '{}' is different from executor '{executor_id}'",
                task.task_id.value
            ));
        }
    }
    let cpus = executor_resources.cpus();
    if cpus < MIN_CPUS {
        return Err(format!(
            "Executor '{executor_id}' uses less CPUs ({cpus}) than the minimum required \
             ({MIN_CPUS})"
        ));
    }
    let mem = executor_resources.mem();
    if mem < MIN_MEM {
        return Err(format!(
            "Executor '{executor_id}' uses less memory ({mem} MB) than the minimum \
             required ({MIN_MEM} MB)"
        ));
    }
    if !executor_resources.iter().any(|r| r.name == "disk") {
        return Err(format!("Executor '{executor_id}' uses no disk"));
    }

    let mut total = Resources::new();
    for resources in &task_resources {
        total += resources;
    }
    let new_executor = if ctx.agent.has_executor(ctx.framework_id, executor_id) {
        None
    } else {
        total += &executor_resources;
        Some(executor_resources)
    };
    if !available.contains(&total) {
        return Err(format!(
            "Total resources {total} required by task group and its executor are more \
             than available {available}"
        ));
    }
    Ok((task_resources, new_executor))
}

/// The checks every task gets (`task::internal::validateTask`), returning its
/// resources in allocated form.
fn validate_task_common(task: &TaskInfo, ctx: &LaunchContext<'_>) -> Result<Resources, String> {
    let task_id = &task.task_id.value;
    validate_id(task_id).map_err(|e| format!("'TaskInfo.task_id' is invalid: {e}"))?;
    if let Some(tasks) = ctx.tasks {
        if tasks.get(task_id).is_some() {
            return Err(format!("Task has duplicate ID: {task_id}"));
        }
        if tasks.unreachable.contains_key(task_id) {
            return Err(format!(
                "Task reuses the ID of an unreachable task: {task_id}"
            ));
        }
    }
    let agent_id = ctx.agent.id();
    if task.agent_id.value != agent_id {
        return Err(format!(
            "Task uses invalid agent {} while agent {agent_id} is expected",
            task.agent_id.value
        ));
    }
    if let Some(grace) = task
        .kill_policy
        .as_ref()
        .and_then(|p| p.grace_period.as_ref())
        && grace.nanoseconds < 0
    {
        return Err("Task's 'kill_policy.grace_period' must be non-negative".to_string());
    }
    if let Some(check) = &task.check {
        validate_check(check).map_err(|e| format!("Task uses invalid check: {e}"))?;
    }
    if let Some(check) = &task.health_check {
        validate_health_check(check).map_err(|e| format!("Task uses invalid health check: {e}"))?;
    }
    if task.resources.is_empty() {
        return Err("Task uses no resources".to_string());
    }
    let resources = allocated(&task.resources, ctx.role)
        .map_err(|e| format!("Task uses invalid resources: {e}"))?;
    if resources.is_empty() {
        return Err("Task uses no resources".to_string());
    }
    if let Some(container) = &task.container {
        validate_container(container)
            .map_err(|e| format!("Task's `ContainerInfo` is invalid: {e}"))?;
    }
    Ok(resources)
}

/// What a task of a group may ask of the nested container Mesos's default executor
/// would give it.
fn validate_nested_container(task: &TaskInfo) -> Result<(), String> {
    let Some(container) = &task.container else {
        return Ok(());
    };
    let probes_network = task.health_check.as_ref().is_some_and(|check| {
        matches!(
            check.r#type.map(HealthType::try_from),
            Some(Ok(HealthType::Http | HealthType::Tcp))
        )
    });
    if !container.network_infos.is_empty() && probes_network {
        return Err(
            "HTTP and TCP health checks are not supported for nested containers \
                    not joining parent's network"
                .to_string(),
        );
    }
    if container.r#type == ContainerType::Docker as i32 {
        return Err("Docker ContainerInfo is not supported on the task".to_string());
    }
    Ok(())
}

/// `executor::internal::validate`: id, framework id, resources, and compatibility
/// with an executor of the same id already on the agent.
fn validate_executor_common(
    executor: &ExecutorInfo,
    ctx: &LaunchContext<'_>,
) -> Result<Resources, String> {
    let executor_id = &executor.executor_id.value;
    validate_id(executor_id).map_err(|e| format!("'ExecutorInfo.executor_id' is invalid: {e}"))?;
    match (
        executor.r#type.map(ExecutorType::try_from),
        &executor.command,
    ) {
        (Some(Ok(ExecutorType::Default)), Some(_)) => {
            return Err(
                "'ExecutorInfo.command' must not be set for 'DEFAULT' executor".to_string(),
            );
        }
        (Some(Ok(ExecutorType::Custom)), None) => {
            return Err("'ExecutorInfo.command' must be set for 'CUSTOM' executor".to_string());
        }
        _ => {}
    }
    if let Some(container) = &executor.container {
        if executor.r#type == Some(ExecutorType::Default as i32) {
            if container.r#type != ContainerType::Mesos as i32 {
                return Err(
                    "'ExecutorInfo.container.type' must be 'MESOS' for 'DEFAULT' executor"
                        .to_string(),
                );
            }
            if container.mesos.as_ref().is_some_and(|m| m.image.is_some()) {
                return Err(
                    "'ExecutorInfo.container.mesos.image' must not be set for 'DEFAULT' executor"
                        .to_string(),
                );
            }
        }
        validate_container(container)
            .map_err(|e| format!("Executor's `ContainerInfo` is invalid: {e}"))?;
    }
    match &executor.framework_id {
        None => return Err("'ExecutorInfo.framework_id' must be set".to_string()),
        Some(FrameworkId { value }) if value != ctx.framework_id => {
            return Err(format!(
                "ExecutorInfo has an invalid FrameworkID (Actual: {value} vs Expected: {})",
                ctx.framework_id
            ));
        }
        Some(_) => {}
    }
    let resources = allocated(&executor.resources, ctx.role)
        .map_err(|e| format!("Executor uses invalid resources: {e}"))?;
    let key = (ctx.framework_id.to_string(), executor_id.clone());
    if let Some(existing) = ctx.agent.executors.get(&key)
        && existing.info != *executor
    {
        return Err(format!(
            "ExecutorInfo is not compatible with existing ExecutorInfo with same \
             ExecutorID '{executor_id}'"
        ));
    }
    Ok(resources)
}
