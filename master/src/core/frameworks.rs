//! The framework lifecycle's effects on the rest of the master: the allocator learns
//! of frameworks, offers follow their streams, removal ends their tasks.

use std::collections::BTreeSet;

use ratufa_proto::ratufa::agentlink::{Command, command};
use ratufa_proto::v1::scheduler::{OfferConstraints, call};
use ratufa_proto::v1::{FrameworkId, FrameworkInfo};
use tracing::{info, warn};

use super::*;

impl MasterCore {
    pub(super) fn add_framework(
        &mut self,
        now: Time,
        info: FrameworkInfo,
        suppressed_roles: BTreeSet<String>,
        offer_constraints: Option<OfferConstraints>,
    ) {
        let mut framework = Framework::new(info, now);
        let suppressed: Vec<String> = suppressed_roles.iter().cloned().collect();
        framework.suppressed_roles = suppressed_roles;
        framework.offer_constraints = offer_constraints;
        // Active once connected; `connect` activates it.
        self.allocator.add_framework(
            &FrameworkId {
                value: framework.id().to_string(),
            },
            &framework.info,
            &suppressed,
            false,
            &[],
        );
        self.frameworks
            .insert(framework.id().to_string(), framework);
    }

    /// A SUBSCRIBE naming a framework we hold: checks what may not change, takes the
    /// new info, and fails the old stream over if it is still open. The caller connects
    /// `conn` on success; on refusal the ERROR is already queued on `conn`.
    pub(super) fn resubscribe(
        &mut self,
        now: Time,
        conn: ConnectionId,
        id: &str,
        update: FrameworkUpdate,
    ) -> Result<(), String> {
        let FrameworkUpdate {
            mut info,
            roles,
            suppressed_roles,
            offer_constraints,
        } = update;
        let Some(framework) = self.frameworks.get_mut(id) else {
            return Err(FRAMEWORK_NOT_FOUND.to_string());
        };

        // user and checkpoint cannot change on re-subscription; Mesos keeps the old
        // values silently rather than refusing (MESOS-703).
        info.user = framework.info.user.clone();
        info.checkpoint = framework.info.checkpoint;
        if let Err(message) = validation::validate_update(&framework.info, &info) {
            warn!(
                framework_id = %id,
                old_principal = ?framework.info.principal,
                new_principal = ?info.principal,
                "refusing re-subscription: {message}"
            );
            self.refuse(conn, &info, message.clone());
            return Err(message);
        }

        let left: Vec<String> = framework.roles.difference(&roles).cloned().collect();
        let suppressed: Vec<String> = suppressed_roles.iter().cloned().collect();
        framework.roles = roles;
        framework.info = info;
        framework.suppressed_roles = suppressed_roles;
        framework.offer_constraints = offer_constraints;
        framework.reregistered_time = Some(now);
        let framework_info = framework.info.clone();
        self.allocator.update_framework(
            &FrameworkId {
                value: id.to_string(),
            },
            &framework_info,
            &suppressed,
        );

        match framework.connection.clone() {
            // One stream per framework: the old one learns why it is being closed.
            Connection::Connected { conn: old, .. } => {
                info!(framework_id = %id, old_conn = %old, new_conn = %conn, "framework failed over");
                self.connections.remove(&old);
                self.outputs.push_back(Output::Event {
                    conn: old,
                    event: error_event(FRAMEWORK_FAILED_OVER),
                });
                self.outputs.push_back(Output::Close { conn: old });
            }
            Connection::Disconnected {
                failover_deadline, ..
            } => {
                info!(framework_id = %id, %conn, "framework re-subscribed");
                self.failover_deadlines
                    .remove(&(failover_deadline, id.to_string()));
            }
            Connection::Unconnected | Connection::Removed { .. } => {}
        }
        if !left.is_empty() {
            self.push_framework_update_to_agents(id);
        }
        // Offers made to the old stream are gone with it (a disconnected framework's
        // were rescinded already).
        self.discard_framework_offers(now, id);
        Ok(())
    }

    pub(super) fn new_framework_id(&mut self) -> FrameworkId {
        let value = format!(
            "{}-{:04}",
            self.config.master_info.id, self.next_framework_id
        );
        self.next_framework_id += 1;
        FrameworkId { value }
    }

    pub(super) fn connect(&mut self, conn: ConnectionId, stream_id: String, id: &str) {
        if let Some(framework) = self.frameworks.get_mut(id) {
            framework.connection = Connection::Connected { conn, stream_id };
            framework.active = true;
            self.connections.insert(conn, id.to_string());
            self.allocator.activate_framework(&FrameworkId {
                value: id.to_string(),
            });
            self.allocation_wanted = true;
        }
    }

    pub(super) fn refuse(
        &mut self,
        conn: ConnectionId,
        info: &FrameworkInfo,
        message: String,
    ) -> SubscribeOutcome {
        info!(framework = %info.name, %conn, "refusing subscription: {message}");
        self.outputs.push_back(Output::Event {
            conn,
            event: error_event(message.clone()),
        });
        self.outputs.push_back(Output::Close { conn });
        SubscribeOutcome::Refused { message }
    }

    /// `Master::validateFramework`: the stateless checks, then the ones that need the
    /// master: the `--roles` whitelist and the list of removed frameworks.
    pub(super) fn validate_framework(&self, info: &FrameworkInfo) -> Result<(), String> {
        validation::validate_framework_info(info)?;
        if let Some(whitelist) = &self.config.role_whitelist {
            let refused: BTreeSet<String> = roles::framework_roles(info)
                .into_iter()
                .filter(|role| !whitelist.contains(role))
                .collect();
            if !refused.is_empty() {
                return Err(format!(
                    "Roles {} are not present in the master's --roles",
                    roles::format_set(&refused)
                ));
            }
        }
        if let Some(id) = &info.id
            && self.completed.contains(&id.value)
        {
            return Err(FRAMEWORK_REMOVED.to_string());
        }
        Ok(())
    }

    pub(super) fn update_framework(
        &mut self,
        now: Time,
        id: &str,
        update: call::UpdateFramework,
    ) -> Result<Reply, Rejection> {
        let call::UpdateFramework {
            framework_info: info,
            suppressed_roles,
            offer_constraints,
        } = update;
        self.validate_framework(&info).map_err(|e| {
            Rejection::bad_request(format!("Supplied FrameworkInfo is not valid: {e}"))
        })?;
        let Some(framework) = self.frameworks.get_mut(id) else {
            return Err(Rejection::bad_request(FRAMEWORK_NOT_FOUND));
        };
        validation::validate_update(&framework.info, &info).map_err(|e| {
            Rejection::bad_request(format!("FrameworkInfo update is not valid: {e}"))
        })?;
        let roles = roles::framework_roles(&info);
        let suppressed_roles: BTreeSet<String> = suppressed_roles.into_iter().collect();
        validate_allocation_options(&roles, &suppressed_roles, offer_constraints.as_ref())
            .map_err(|e| {
                Rejection::bad_request(format!("'UpdateFramework' call is not valid: {e}"))
            })?;

        let suppressed: Vec<String> = suppressed_roles.iter().cloned().collect();
        framework.info = info;
        framework.roles = roles;
        framework.suppressed_roles = suppressed_roles;
        framework.offer_constraints = offer_constraints;
        info!(framework_id = %id, roles = ?framework.roles, "framework updated");
        let framework_info = framework.info.clone();
        let kept_roles = framework.roles.clone();
        self.allocator.update_framework(
            &FrameworkId {
                value: id.to_string(),
            },
            &framework_info,
            &suppressed,
        );
        // Offers for roles the framework left can no longer be accepted.
        let stale: Vec<String> = self
            .offers
            .values()
            .filter(|o| o.framework_id == id && !kept_roles.contains(&o.role))
            .map(|o| o.offer.id.value.clone())
            .collect();
        for offer_id in stale {
            self.rescind_offer(now, &offer_id);
        }
        self.push_framework_update_to_agents(id);
        self.notify_framework(id, false);
        self.allocation_wanted = true;
        Ok(Reply::Ok)
    }

    /// Removes a framework for good: closes its stream, remembers it as completed.
    pub(super) fn remove_framework(&mut self, now: Time, id: &str) {
        let Some(mut framework) = self.frameworks.remove(id) else {
            return;
        };
        match framework.connection {
            Connection::Connected { conn, .. } => {
                self.connections.remove(&conn);
                self.outputs.push_back(Output::Close { conn });
            }
            Connection::Disconnected {
                failover_deadline, ..
            } => {
                self.failover_deadlines
                    .remove(&(failover_deadline, id.to_string()));
            }
            Connection::Unconnected | Connection::Removed { .. } => {}
        }
        framework.connection = Connection::Removed { at: now };
        framework.active = false;
        info!(framework_id = %id, "framework removed");
        self.notify_framework_removed(&framework.info);
        self.completed.insert(framework);
        self.remove_framework_work(now, id);
    }

    /// A removed framework's offers, tasks and executors: offers given back, tasks
    /// booked TASK_KILLED (REASON_FRAMEWORK_REMOVED), agents told to shut the
    /// framework down, the allocator told it is gone.
    fn remove_framework_work(&mut self, now: Time, id: &str) {
        let offer_ids: Vec<String> = self
            .offers
            .values()
            .filter(|o| o.framework_id == id)
            .map(|o| o.offer.id.value.clone())
            .collect();
        for offer_id in offer_ids {
            self.discard_offer(now, &offer_id, None);
        }
        let mut agents: BTreeSet<String> = BTreeSet::new();
        let task_ids: Vec<(String, String)> = self
            .tasks
            .get(id)
            .map(|t| {
                t.active
                    .values()
                    .map(|e| (e.task_id().to_string(), e.agent_id().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        for (task_id, agent_id) in task_ids {
            agents.insert(agent_id.clone());
            if let Some(entry) = self.task(id, &task_id) {
                let status = status::MasterStatus::new(
                    entry.task_id_proto(),
                    Some(entry.agent_id_proto()),
                    ratufa_proto::v1::TaskState::TaskKilled,
                    ratufa_proto::v1::task_status::Reason::FrameworkRemoved,
                    format!("Framework {id} removed"),
                )
                .into_status(self.status_timestamp(now));
                self.update_task(now, id, &task_id, &status, None, true);
            }
            self.remove_task(now, id, &task_id, false);
        }
        let executors: Vec<(String, String)> = self
            .agents
            .values()
            .flat_map(|a| {
                a.executors
                    .keys()
                    .filter(|(f, _)| f == id)
                    .map(|(_, e)| (a.id().to_string(), e.clone()))
            })
            .collect();
        for (agent_id, executor_id) in executors {
            agents.insert(agent_id.clone());
            self.remove_executor(now, id, &agent_id, &executor_id, true);
        }
        for agent_id in agents {
            self.send_command(&agent_id, tasks::shutdown_framework_command(id));
        }
        // The framework's books go with it; what it ran is history the completed
        // framework list does not keep.
        self.tasks.remove(id);
        self.allocator.remove_framework(&FrameworkId {
            value: id.to_string(),
        });
    }

    /// Tells agents running a framework's tasks or executors its new FrameworkInfo.
    fn push_framework_update_to_agents(&mut self, id: &str) {
        let Some(info) = self.frameworks.get(id).map(|f| f.info.clone()) else {
            return;
        };
        let agents: Vec<String> = self
            .agents
            .values()
            .filter(|a| a.uses(id) || a.tasks.iter().any(|(f, _)| &**f == id))
            .map(|a| a.id().to_string())
            .collect();
        for agent_id in agents {
            self.send_command(
                &agent_id,
                Command {
                    r#type: Some(command::Type::UpdateFramework as i32),
                    update_framework: Some(command::UpdateFramework {
                        framework: info.clone(),
                    }),
                    ..Command::default()
                },
            );
        }
    }
}
