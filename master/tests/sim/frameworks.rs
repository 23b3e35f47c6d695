//! The schedulers' side of the world: subscribing, the calls they make, and what they
//! check in every event they receive.

use ratufa_master::core::{
    ConnectionId, FRAMEWORK_FAILED_OVER, FRAMEWORK_REMOVED, ValidCall, validate_call,
};
use ratufa_proto::v1::framework_info::capability::Type as CapabilityType;
use ratufa_proto::v1::scheduler::{Call, Event, call, event};
use ratufa_proto::v1::{FrameworkInfo, TaskState};

use super::agent::is_terminal;
use super::framework::{Origin, PendingAck, Phase, SimFramework, TaskView, capability};
use super::world::{Owner, World};

impl World {
    /// A new scheduler, with capabilities and roles drawn at random.
    #[allow(deprecated)] // non-MULTI_ROLE frameworks name their role in `role`
    pub fn add_framework(&mut self) -> Result<(), String> {
        let n = self.frameworks.len();
        let mut info = FrameworkInfo {
            user: "sim".to_string(),
            name: format!("framework-{n}"),
            failover_timeout: Some(*self.rng.pick(&[0.0, 10.0, 120.0, 86_400.0]).unwrap_or(&0.0)),
            ..FrameworkInfo::default()
        };
        if self.rng.chance(0.5) {
            info.capabilities
                .push(capability(CapabilityType::PartitionAware));
        }
        if self.rng.chance(0.5) {
            info.capabilities
                .push(capability(CapabilityType::ReservationRefinement));
        }
        if self.rng.chance(0.4) {
            info.capabilities
                .push(capability(CapabilityType::MultiRole));
            info.roles = self.draw_roles();
        } else {
            info.role = self
                .rng
                .pick(&[None, Some("a"), Some("b")])
                .copied()
                .flatten()
                .map(String::from);
        }
        let framework = SimFramework::new(format!("framework-{n}"), info);
        self.note(format!(
            "{} starts: roles {:?}, partition aware {}, failover {:?}",
            framework.name,
            framework.roles(),
            framework.is_partition_aware(),
            framework.info.failover_timeout
        ));
        self.frameworks.push(framework);
        self.framework_subscribe(n)
    }

    pub fn draw_roles(&mut self) -> Vec<String> {
        let mut roles: Vec<String> = ["*", "a", "b"]
            .iter()
            .filter(|_| self.rng.chance(0.5))
            .map(|r| r.to_string())
            .collect();
        if roles.is_empty() {
            roles.push("a".to_string());
        }
        roles
    }

    /// SUBSCRIBE on a new stream: a first subscription, a reconnection, or (while still
    /// connected) a failover to a new stream.
    pub fn framework_subscribe(&mut self, i: usize) -> Result<(), String> {
        let conn = self.new_conn(Owner::Framework(i));
        let stream_id = format!("stream-{}", conn.0);
        let fw = &mut self.frameworks[i];
        fw.drop_offers();
        fw.phase = Phase::Subscribing;
        fw.conn = Some(conn);
        fw.stream_id = stream_id.clone();
        let call = Call {
            r#type: Some(call::Type::Subscribe as i32),
            framework_id: fw.info.id.clone(),
            subscribe: Some(call::Subscribe {
                framework_info: fw.info.clone(),
                ..call::Subscribe::default()
            }),
            ..Call::default()
        };
        let line = format!("{} subscribes on {conn} (id {:?})", fw.name, fw.id_str());
        self.note(line);
        let subscribe = match validate_call(call, None) {
            Ok(ValidCall::Subscribe(subscribe)) => subscribe,
            other => return Err(format!("SUBSCRIBE did not validate: {other:?}")),
        };
        self.core
            .handle_subscribe(self.now, conn, stream_id, None, subscribe);
        self.pump()
    }

    /// The framework's end of its stream breaks.
    pub fn framework_disconnect(&mut self, i: usize) -> Result<(), String> {
        let fw = &mut self.frameworks[i];
        let Some(conn) = fw.conn.take() else {
            return Ok(());
        };
        fw.phase = Phase::Disconnected;
        fw.drop_offers();
        self.owners.remove(&conn);
        self.note(format!(
            "{} disconnects from {conn}",
            self.frameworks[i].name
        ));
        self.core.handle_stream_closed(self.now, conn);
        self.pump()
    }

    /// The master ended a framework stream.
    pub fn framework_stream_ended(&mut self, i: usize, conn: ConnectionId) -> Result<(), String> {
        self.owners.remove(&conn);
        let fw = &mut self.frameworks[i];
        if fw.conn != Some(conn) {
            // The stream it failed over from.
            return Ok(());
        }
        fw.conn = None;
        fw.drop_offers();
        if fw.phase != Phase::Dead {
            return Err(format!("master closed {}'s stream {conn} unasked", fw.name));
        }
        Ok(())
    }

    /// A call on the framework's current stream, through the HTTP layer's validation.
    /// The simulation only makes well-formed calls, so any refusal is a failure.
    pub fn framework_call(&mut self, i: usize, mut call: Call) -> Result<(), String> {
        let fw = &self.frameworks[i];
        // A framework tearing itself down is already Dead when it calls.
        if fw.conn.is_none() || !matches!(fw.phase, Phase::Connected | Phase::Dead) {
            return Err(format!("{} calls while {:?}", fw.name, fw.phase));
        }
        call.framework_id = fw.info.id.clone();
        let kind = call.r#type.and_then(|t| call::Type::try_from(t).ok());
        let stream_id = fw.stream_id.clone();
        let (framework_id, call) = match validate_call(call, None) {
            Ok(ValidCall::Framework { framework_id, call }) => (framework_id, call),
            other => {
                return Err(format!(
                    "{kind:?} from {} did not validate: {other:?}",
                    fw.name
                ));
            }
        };
        if let Err(rejection) =
            self.core
                .handle_call(self.now, &framework_id, call, None, Some(&stream_id))
        {
            return Err(format!(
                "{kind:?} from {} refused: {rejection}",
                self.frameworks[i].name
            ));
        }
        self.pump()
    }

    pub(super) fn on_event(
        &mut self,
        i: usize,
        conn: ConnectionId,
        event: Event,
    ) -> Result<(), String> {
        let kind = event.r#type.and_then(|t| event::Type::try_from(t).ok());
        let name = self.frameworks[i].name.clone();
        if self.frameworks[i].conn != Some(conn) {
            let failed_over = kind == Some(event::Type::Error)
                && event
                    .error
                    .as_ref()
                    .is_some_and(|e| e.message == FRAMEWORK_FAILED_OVER);
            if failed_over {
                return Ok(());
            }
            return Err(format!("{name}: {kind:?} on its old stream {conn}"));
        }
        match kind {
            Some(event::Type::Subscribed) => {
                let Some(subscribed) = event.subscribed else {
                    return Err(format!("{name}: SUBSCRIBED without its body"));
                };
                let fw = &mut self.frameworks[i];
                if fw.phase != Phase::Subscribing {
                    return Err(format!("{name}: SUBSCRIBED while {:?}", fw.phase));
                }
                if fw
                    .info
                    .id
                    .as_ref()
                    .is_some_and(|id| *id != subscribed.framework_id)
                {
                    return Err(format!(
                        "{name}: subscribed as {} but got id {}",
                        fw.id_str(),
                        subscribed.framework_id.value
                    ));
                }
                fw.info.id = Some(subscribed.framework_id);
                fw.phase = Phase::Connected;
                self.note(format!(
                    "{name} subscribed as {}",
                    self.frameworks[i].id_str()
                ));
            }
            Some(event::Type::Offers) => {
                let offers = event.offers.map(|o| o.offers).unwrap_or_default();
                for offer in offers {
                    let id = offer.id.value.clone();
                    if !self.offer_ids.insert(id.clone()) {
                        return Err(format!("{name}: offer id {id} reused"));
                    }
                    let fw = &mut self.frameworks[i];
                    if offer.framework_id.value != fw.id_str() {
                        return Err(format!(
                            "{name}: got offer {id} made to {}",
                            offer.framework_id.value
                        ));
                    }
                    if !fw.roles().contains(&fw.offer_role(&offer)) {
                        return Err(format!(
                            "{name}: offer {id} for role {} it is not in",
                            fw.offer_role(&offer)
                        ));
                    }
                    self.stats.offers += 1;
                    let line = format!(
                        "{name}: offered {id} on {} for {}",
                        offer.agent_id.value,
                        fw.offer_role(&offer)
                    );
                    fw.offers.insert(id, offer);
                    self.note(line);
                }
            }
            Some(event::Type::Rescind) => {
                let id = event.rescind.map(|r| r.offer_id.value).unwrap_or_default();
                let fw = &mut self.frameworks[i];
                if fw.offers.remove(&id).is_none() {
                    return Err(format!("{name}: RESCIND of offer {id} it does not hold"));
                }
                fw.remember_stale([id.clone()]);
                self.note(format!("{name}: offer {id} rescinded"));
            }
            Some(event::Type::Update) => {
                let Some(update) = event.update else {
                    return Err(format!("{name}: UPDATE without its body"));
                };
                self.on_update(i, update.status)?;
            }
            Some(event::Type::Error) => {
                let message = event.error.map(|e| e.message).unwrap_or_default();
                let phase = self.frameworks[i].phase;
                if phase == Phase::Subscribing && message == FRAMEWORK_REMOVED {
                    self.note(format!("{name}: removed while away; gone for good"));
                    self.frameworks[i].phase = Phase::Dead;
                } else {
                    return Err(format!("{name}: ERROR {message:?} while {phase:?}"));
                }
            }
            Some(event::Type::Failure | event::Type::Message | event::Type::Heartbeat) => {}
            other => return Err(format!("{name}: unexpected event {other:?}")),
        }
        Ok(())
    }

    fn on_update(&mut self, i: usize, status: ratufa_proto::v1::TaskStatus) -> Result<(), String> {
        let state = TaskState::try_from(status.state).unwrap_or(TaskState::TaskUnknown);
        let task_id = status.task_id.value.clone();
        let framework_id = self.frameworks[i].id_str().to_string();
        let fw = &mut self.frameworks[i];
        let name = fw.name.clone();
        let Some(view) = fw.tasks.get_mut(&task_id) else {
            return Err(format!(
                "{name}: update {state:?} for task {task_id} it never launched"
            ));
        };
        if let Some(previous) = view.state
            && is_terminal(previous)
            && previous != state
        {
            return Err(format!(
                "{name}: task {task_id} was {previous:?}, now said to be {state:?}"
            ));
        }
        if view.origin == Origin::Doomed && !is_terminal(state) {
            return Err(format!(
                "{name}: task {task_id} that could not run is {state:?}"
            ));
        }
        view.state = Some(state);
        if let Some(agent_id) = &status.agent_id {
            view.agent_id = Some(agent_id.value.clone());
        }
        if let Some(uuid) = &status.uuid {
            self.ledger.delivered(uuid, &framework_id, &task_id)?;
            let Some(agent_id) = status.agent_id.clone() else {
                return Err(format!("{name}: update with a uuid but no agent id"));
            };
            fw.pending_acks.push(PendingAck {
                agent_id,
                task_id: status.task_id.clone(),
                uuid: uuid.clone(),
            });
        }
        let uuid = status
            .uuid
            .as_deref()
            .map(super::ledger::hex)
            .unwrap_or_default();
        let reason = status
            .reason
            .and_then(|r| ratufa_proto::v1::task_status::Reason::try_from(r).ok());
        self.note(format!(
            "{name}: task {task_id} {state:?} {uuid} {reason:?}"
        ));
        Ok(())
    }

    /// A task id the framework has not used, entered in its books.
    pub fn new_task_id(&mut self, i: usize, origin: Origin) -> String {
        let fw = &mut self.frameworks[i];
        let id = format!("{}-t{}", fw.name, fw.next_task);
        fw.next_task += 1;
        fw.tasks.insert(
            id.clone(),
            TaskView {
                state: None,
                agent_id: None,
                origin,
            },
        );
        id
    }
}
