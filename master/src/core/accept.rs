//! ACCEPT: offers checked, LAUNCH and LAUNCH_GROUP validated and sent to the agent,
//! what is left over declined with the call's filters.

use std::collections::BTreeSet;

use ratufa_proto::ratufa::agentlink::{Command, command};
use ratufa_proto::resources::Resources;
use ratufa_proto::v1::offer::Operation;
use ratufa_proto::v1::offer::operation::Type as OperationType;
use ratufa_proto::v1::scheduler::call;
use ratufa_proto::v1::task_status::Reason;
use ratufa_proto::v1::{FrameworkId, TaskInfo, TaskState};
use tracing::{info, warn};

use super::launch_validation::{self, LaunchContext};
use super::offers::refuse_filter;
use super::status::MasterStatus;
use super::{MasterCore, Rejection, Reply, Time};

fn operation_type(operation: &Operation) -> OperationType {
    operation
        .r#type
        .and_then(|t| OperationType::try_from(t).ok())
        .unwrap_or(OperationType::Unknown)
}

/// The tasks an operation would launch.
fn operation_tasks(operation: &Operation) -> &[TaskInfo] {
    match operation_type(operation) {
        OperationType::Launch => operation
            .launch
            .as_ref()
            .map_or(&[][..], |l| &l.task_infos[..]),
        OperationType::LaunchGroup => operation
            .launch_group
            .as_ref()
            .map_or(&[][..], |l| &l.task_group.tasks[..]),
        _ => &[],
    }
}

impl MasterCore {
    pub(super) fn accept(
        &mut self,
        now: Time,
        framework_id: &str,
        accept: call::Accept,
    ) -> Result<Reply, Rejection> {
        // Operations on reservations and volumes come with a later issue; refusing the
        // whole call before touching anything leaves its offers usable.
        if let Some(unsupported) = accept.operations.iter().map(operation_type).find(|t| {
            !matches!(
                t,
                OperationType::Launch | OperationType::LaunchGroup | OperationType::Unknown
            )
        }) {
            return Err(Rejection::not_implemented(format!(
                "Offer operation '{}' is not implemented yet: only LAUNCH and LAUNCH_GROUP \
                 are supported",
                unsupported.as_str_name()
            )));
        }
        for operation in &accept.operations {
            let kind = operation_type(operation);
            if kind == OperationType::Launch && operation_tasks(operation).is_empty() {
                self.counters.messages_decline_offers += 1;
            } else if kind == OperationType::Launch || kind == OperationType::LaunchGroup {
                self.counters.messages_launch_tasks += 1;
            }
        }
        let partition_aware = self.is_partition_aware(framework_id);

        let offers_ok = if accept.offer_ids.is_empty() {
            Err("No offers specified".to_string())
        } else {
            self.validate_offers(framework_id, &accept.offer_ids)
        };
        let (agent_id, role) = match offers_ok {
            Ok(found) => found,
            Err(error) => {
                warn!(framework_id = %framework_id, "ACCEPT used invalid offers: {error}");
                for offer_id in &accept.offer_ids {
                    let ours = self
                        .offers
                        .get(&offer_id.value)
                        .is_some_and(|o| o.framework_id == framework_id);
                    if ours {
                        self.discard_offer(now, &offer_id.value, None);
                    }
                }
                let state = if partition_aware {
                    TaskState::TaskDropped
                } else {
                    TaskState::TaskLost
                };
                for operation in &accept.operations {
                    for task in operation_tasks(operation) {
                        let status = MasterStatus::new(
                            task.task_id.clone(),
                            Some(task.agent_id.clone()),
                            state,
                            Reason::InvalidOffers,
                            format!("Task launched with invalid offers: {error}"),
                        );
                        self.count_terminal(state);
                        self.send_update(
                            framework_id,
                            status.into_status(self.status_timestamp(now)),
                        );
                    }
                }
                return Ok(Reply::Accepted);
            }
        };

        let mut offered = Resources::new();
        for offer_id in &accept.offer_ids {
            if let Some(entry) = self.remove_offer(&offer_id.value) {
                offered += &entry.resources;
                self.counters.offers_accepted += 1;
            }
        }

        let mut remaining = offered;
        for operation in accept.operations {
            match operation_type(&operation) {
                OperationType::Launch => {
                    let tasks = operation.launch.map(|l| l.task_infos).unwrap_or_default();
                    if operation.id.is_some() {
                        self.error_tasks(
                            now,
                            framework_id,
                            &tasks,
                            Reason::TaskInvalid,
                            "The `id` field cannot be set on LAUNCH operations",
                        );
                        continue;
                    }
                    for task in tasks {
                        self.launch_task(now, framework_id, &agent_id, &role, task, &mut remaining);
                    }
                }
                OperationType::LaunchGroup => {
                    let Some(group) = operation.launch_group else {
                        continue;
                    };
                    if operation.id.is_some() {
                        self.error_tasks(
                            now,
                            framework_id,
                            &group.task_group.tasks,
                            Reason::TaskGroupInvalid,
                            "The `id` field cannot be set on LAUNCH_GROUP operations",
                        );
                        continue;
                    }
                    self.launch_group(now, framework_id, &agent_id, &role, group, &mut remaining);
                }
                _ => warn!(framework_id = %framework_id, "ignoring unknown offer operation"),
            }
        }

        // What was offered and not used counts as declined, with this call's filters.
        if !remaining.is_empty() {
            let refuse = refuse_filter(accept.filters.as_ref());
            self.recover(now, framework_id, &agent_id, &remaining, refuse);
        }
        Ok(Reply::Accepted)
    }

    /// Mesos's `validation::offer::validate`: unique ids, all outstanding, all this
    /// framework's, one role, one agent. Returns that agent and role.
    fn validate_offers(
        &self,
        framework_id: &str,
        offer_ids: &[ratufa_proto::v1::OfferId],
    ) -> Result<(String, String), String> {
        let mut seen = BTreeSet::new();
        for id in offer_ids {
            if !seen.insert(id.value.as_str()) {
                return Err(format!("Duplicate offer {} in offer list", id.value));
            }
        }
        let mut found: Option<(String, String)> = None;
        for id in offer_ids {
            let Some(offer) = self.offers.get(&id.value) else {
                return Err(format!("Offer {} is no longer valid", id.value));
            };
            if offer.framework_id != framework_id {
                return Err(format!(
                    "Offer {} has invalid framework {} while framework {framework_id} is \
                     expected",
                    id.value, offer.framework_id
                ));
            }
            match &found {
                None => found = Some((offer.agent_id.clone(), offer.role.clone())),
                Some((agent, role)) => {
                    if *role != offer.role {
                        return Err(format!(
                            "Aggregated offers must be allocated to the same role. Offer {} \
                             uses role '{}' but another is using role '{role}'",
                            id.value, offer.role
                        ));
                    }
                    if *agent != offer.agent_id {
                        return Err(format!(
                            "Aggregated offers must belong to one single agent. Offer {} \
                             uses agent {} and agent {agent}",
                            id.value, offer.agent_id
                        ));
                    }
                }
            }
        }
        let (agent_id, role) = found.ok_or_else(|| "No offers specified".to_string())?;
        // Offers are rescinded when their agent goes, so this only guards the books.
        if !self.agents.get(&agent_id).is_some_and(|a| a.is_connected()) {
            return Err(format!("Agent {agent_id} is not connected"));
        }
        Ok((agent_id, role))
    }

    fn error_tasks(
        &mut self,
        now: Time,
        framework_id: &str,
        tasks: &[TaskInfo],
        reason: Reason,
        message: &str,
    ) {
        for task in tasks {
            self.task_error(now, framework_id, task, reason, message.to_string());
        }
    }

    fn task_error(
        &mut self,
        now: Time,
        framework_id: &str,
        task: &TaskInfo,
        reason: Reason,
        message: String,
    ) {
        warn!(framework_id = %framework_id, task_id = %task.task_id.value, "invalid task: {message}");
        let status = MasterStatus::new(
            task.task_id.clone(),
            Some(task.agent_id.clone()),
            TaskState::TaskError,
            reason,
            message,
        );
        self.count_terminal(TaskState::TaskError);
        self.send_update(framework_id, status.into_status(self.status_timestamp(now)));
    }

    fn launch_task(
        &mut self,
        now: Time,
        framework_id: &str,
        agent_id: &str,
        role: &str,
        mut task: TaskInfo,
        remaining: &mut Resources,
    ) {
        if let Some(executor) = &mut task.executor
            && executor.framework_id.is_none()
        {
            executor.framework_id = Some(FrameworkId {
                value: framework_id.to_string(),
            });
        }
        let Some(agent) = self.agents.get(agent_id) else {
            return;
        };
        let ctx = LaunchContext {
            framework_id,
            tasks: self.tasks.get(framework_id),
            agent,
            role,
        };
        let valid = match launch_validation::validate_task(&task, &ctx, remaining) {
            Ok(valid) => valid,
            Err(message) => {
                self.task_error(now, framework_id, &task, Reason::TaskInvalid, message);
                return;
            }
        };

        if let (Some(executor), Some(resources)) = (&task.executor, &valid.new_executor) {
            self.add_executor(framework_id, agent_id, executor.clone(), resources);
            *remaining -= resources;
        }
        *remaining -= &valid.resources;
        // The agent gets the resources as the master counts them.
        task.resources = valid.resources.as_slice().to_vec();
        self.add_task(framework_id, agent_id, &task, valid.resources);
        info!(framework_id = %framework_id, agent_id = %agent_id, task_id = %task.task_id.value, "launching task");

        let framework = self.framework_info_for_agent(framework_id);
        self.send_command(
            agent_id,
            Command {
                r#type: Some(command::Type::RunTask as i32),
                run_task: Some(command::RunTask { framework, task }),
                ..Command::default()
            },
        );
    }

    fn launch_group(
        &mut self,
        now: Time,
        framework_id: &str,
        agent_id: &str,
        role: &str,
        mut group: ratufa_proto::v1::offer::operation::LaunchGroup,
        remaining: &mut Resources,
    ) {
        if group.executor.framework_id.is_none() {
            group.executor.framework_id = Some(FrameworkId {
                value: framework_id.to_string(),
            });
        }
        for task in &mut group.task_group.tasks {
            if task.executor.is_none() {
                task.executor = Some(group.executor.clone());
            }
        }
        let Some(agent) = self.agents.get(agent_id) else {
            return;
        };
        let ctx = LaunchContext {
            framework_id,
            tasks: self.tasks.get(framework_id),
            agent,
            role,
        };
        let checked = launch_validation::validate_task_group(
            &group.task_group,
            &group.executor,
            &ctx,
            remaining,
        );
        let (task_resources, new_executor) = match checked {
            Ok(valid) => valid,
            Err(message) => {
                let tasks = group.task_group.tasks.clone();
                self.error_tasks(
                    now,
                    framework_id,
                    &tasks,
                    Reason::TaskGroupInvalid,
                    &message,
                );
                return;
            }
        };
        if let Some(resources) = &new_executor {
            self.add_executor(framework_id, agent_id, group.executor.clone(), resources);
            *remaining -= resources;
        }
        for (task, resources) in group.task_group.tasks.iter_mut().zip(task_resources) {
            *remaining -= &resources;
            task.resources = resources.as_slice().to_vec();
            self.add_task(framework_id, agent_id, task, resources);
        }
        info!(framework_id = %framework_id, agent_id = %agent_id, tasks = group.task_group.tasks.len(), "launching task group");
        let framework = self.framework_info_for_agent(framework_id);
        self.send_command(
            agent_id,
            Command {
                r#type: Some(command::Type::RunTaskGroup as i32),
                run_task_group: Some(command::RunTaskGroup {
                    framework,
                    executor: group.executor,
                    task_group: group.task_group,
                }),
                ..Command::default()
            },
        );
    }
}
