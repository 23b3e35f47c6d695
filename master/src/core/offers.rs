//! Offers: made from the allocator's allocations, sent in bounded OFFERS events, and
//! ended by ACCEPT, DECLINE, timeout or rescission. An offer's resources stay
//! allocated to its framework (the allocator's view) until they are recovered.

use std::collections::BTreeMap;
use std::time::Duration;

use ratufa_proto::resources::Resources;
use ratufa_proto::v1::resource::AllocationInfo;
use ratufa_proto::v1::scheduler::{Event, call, event};
use ratufa_proto::v1::{Address, AgentId, ExecutorId, Filters, FrameworkId, Offer, OfferId, Url};
use tracing::{debug, info, warn};

use super::roles::{self, Capability};
use super::{MasterCore, Reply, Time};

/// Mesos's `Filters.refuse_seconds` default.
pub const DEFAULT_REFUSE_SECONDS: f64 = 5.0;
/// The longest decline filter Mesos honours (a year).
pub const MAX_REFUSE_SECONDS: f64 = 31_536_000.0;

/// One outstanding offer.
#[derive(Debug, Clone)]
pub struct OfferEntry {
    /// As sent to the framework (resources in the framework's format).
    pub(super) offer: Offer,
    pub(super) framework_id: String,
    pub(super) agent_id: String,
    /// The role the resources are allocated to.
    pub(super) role: String,
    /// The resources in allocated form, as the allocator handed them out.
    pub(super) resources: Resources,
    pub(super) expires: Option<Time>,
}

impl OfferEntry {
    pub fn offer(&self) -> &Offer {
        &self.offer
    }

    pub fn framework_id(&self) -> &str {
        &self.framework_id
    }

    pub fn agent_id(&self) -> &str {
        &self.agent_id
    }

    pub fn role(&self) -> &str {
        &self.role
    }

    pub fn resources(&self) -> &Resources {
        &self.resources
    }
}

/// The decline filter `filters` asks for: `refuse_seconds` (default 5; negative or NaN
/// means the default; capped at a year); zero means no filter at all.
pub fn refuse_filter(filters: Option<&Filters>) -> Option<Duration> {
    let seconds = filters
        .and_then(|f| f.refuse_seconds)
        .unwrap_or(DEFAULT_REFUSE_SECONDS);
    let seconds = if seconds.is_nan() || seconds < 0.0 {
        warn!(
            refuse_seconds = seconds,
            "using the default decline filter instead"
        );
        DEFAULT_REFUSE_SECONDS
    } else {
        seconds.min(MAX_REFUSE_SECONDS)
    };
    if seconds == 0.0 {
        None
    } else {
        Some(Duration::from_secs_f64(seconds))
    }
}

impl MasterCore {
    /// Whether something changed that may make new offers possible (an agent or
    /// framework came, resources were freed, a REVIVE, a filter expired). The driver
    /// calls [`allocate`](Self::allocate) after a batch of inputs when this is true, and
    /// every `--allocation_interval` regardless.
    pub fn wants_allocation(&self) -> bool {
        self.allocation_wanted
    }

    /// Runs the allocator and sends what it allocated as offers: one offer per agent,
    /// role and framework, at most `max_offers_per_event` offers per OFFERS event.
    pub fn allocate(&mut self, now: Time) {
        self.allocation_wanted = false;
        let allocations = self.allocator.allocate(now);
        let mut by_framework: BTreeMap<String, Vec<Offer>> = BTreeMap::new();
        for allocation in allocations {
            let framework_id = allocation.framework_id.value.clone();
            let agent_id = allocation.agent_id.value.clone();
            let framework_ok = self
                .frameworks
                .get(&framework_id)
                .is_some_and(|f| f.is_connected() && f.is_active());
            let agent_ok = self.agents.get(&agent_id).is_some_and(|a| a.is_connected());
            if !framework_ok || !agent_ok || allocation.resources.is_empty() {
                // The allocator should not hand these out; give them back rather than
                // lose them.
                warn!(framework_id = %framework_id, agent_id = %agent_id, "allocation for an inactive framework or agent, recovering it");
                self.allocator.recover_resources(
                    &allocation.framework_id,
                    &allocation.agent_id,
                    &allocation.resources,
                    None,
                    now,
                );
                continue;
            }
            let offer = self.add_offer(
                now,
                &framework_id,
                &agent_id,
                allocation.role,
                allocation.resources,
            );
            by_framework.entry(framework_id).or_default().push(offer);
        }

        let per_event = self.config.max_offers_per_event.max(1);
        for (framework_id, offers) in by_framework {
            self.counters.offers_sent += offers.len() as u64;
            debug!(framework_id = %framework_id, offers = offers.len(), "sending offers");
            let mut offers = offers.into_iter().peekable();
            while offers.peek().is_some() {
                let chunk: Vec<Offer> = offers.by_ref().take(per_event).collect();
                self.send_event(&framework_id, offers_event(chunk));
            }
        }
    }

    fn add_offer(
        &mut self,
        now: Time,
        framework_id: &str,
        agent_id: &str,
        role: String,
        resources: Resources,
    ) -> Offer {
        let id = format!("{}-O{}", self.config.master_info.id, self.next_offer_id);
        self.next_offer_id += 1;

        let (multi_role, refinement) =
            self.frameworks
                .get(framework_id)
                .map_or((false, false), |f| {
                    (
                        roles::has_capability(&f.info, Capability::MultiRole),
                        roles::has_capability(&f.info, Capability::ReservationRefinement),
                    )
                });
        // Frameworks see resources as they can read them: without allocation_info
        // unless MULTI_ROLE, in the old reservation format unless they opted in to
        // refinement.
        let visible = if multi_role {
            resources.clone()
        } else {
            resources.unallocated()
        };
        let offered = if refinement {
            visible.into_vec()
        } else {
            visible.to_pre_refinement_format()
        };

        let mut offer = Offer {
            id: OfferId { value: id.clone() },
            framework_id: FrameworkId {
                value: framework_id.to_string(),
            },
            agent_id: AgentId {
                value: agent_id.to_string(),
            },
            resources: offered,
            allocation_info: multi_role.then(|| AllocationInfo {
                role: Some(role.clone()),
            }),
            ..Offer::default()
        };
        if let Some(agent) = self.agents.get_mut(agent_id) {
            offer.hostname = agent.info.hostname.clone();
            offer.url = Some(Url {
                scheme: "http".to_string(),
                address: Address {
                    hostname: Some(agent.info.hostname.clone()),
                    ip: agent.ip.clone(),
                    port: agent.info.port.unwrap_or(5051),
                },
                path: Some("/slave(1)".to_string()),
                ..Url::default()
            });
            offer.domain = agent.info.domain.clone();
            offer.attributes = agent.info.attributes.clone();
            offer.executor_ids = agent
                .executors
                .keys()
                .filter(|(f, _)| f == framework_id)
                .map(|(_, e)| ExecutorId { value: e.clone() })
                .collect();
            agent.offers.insert(id.clone());
        }
        if let Some(framework) = self.frameworks.get_mut(framework_id) {
            framework.offers.insert(id.clone());
        }
        let expires = self.config.offer_timeout.map(|timeout| now + timeout);
        if let Some(deadline) = expires {
            self.offer_deadlines.insert((deadline, id.clone()));
        }
        self.offers.insert(
            id,
            OfferEntry {
                offer: offer.clone(),
                framework_id: framework_id.to_string(),
                agent_id: agent_id.to_string(),
                role,
                resources,
                expires,
            },
        );
        offer
    }

    /// Forgets an offer (its resources are the caller's to recover or use).
    pub(super) fn remove_offer(&mut self, offer_id: &str) -> Option<OfferEntry> {
        let entry = self.offers.remove(offer_id)?;
        if let Some(deadline) = entry.expires {
            self.offer_deadlines
                .remove(&(deadline, offer_id.to_string()));
        }
        if let Some(agent) = self.agents.get_mut(&entry.agent_id) {
            agent.offers.remove(offer_id);
        }
        if let Some(framework) = self.frameworks.get_mut(&entry.framework_id) {
            framework.offers.remove(offer_id);
        }
        Some(entry)
    }

    /// Ends an offer without telling the framework, giving its resources back with an
    /// optional decline filter.
    pub(super) fn discard_offer(&mut self, now: Time, offer_id: &str, refuse: Option<Duration>) {
        if let Some(entry) = self.remove_offer(offer_id) {
            self.recover(
                now,
                &entry.framework_id,
                &entry.agent_id,
                &entry.resources,
                refuse,
            );
        }
    }

    /// Ends an offer with a RESCIND event to its framework and gives its resources back.
    pub(super) fn rescind_offer(&mut self, now: Time, offer_id: &str) {
        let Some(entry) = self.remove_offer(offer_id) else {
            return;
        };
        self.counters.offers_rescinded += 1;
        self.send_event(
            &entry.framework_id,
            Event {
                r#type: Some(event::Type::Rescind as i32),
                rescind: Some(event::Rescind {
                    offer_id: OfferId {
                        value: offer_id.to_string(),
                    },
                }),
                ..Event::default()
            },
        );
        self.recover(
            now,
            &entry.framework_id,
            &entry.agent_id,
            &entry.resources,
            None,
        );
    }

    pub(super) fn rescind_framework_offers(&mut self, now: Time, framework_id: &str) {
        let ids: Vec<String> = self
            .frameworks
            .get(framework_id)
            .map(|f| f.offers.iter().cloned().collect())
            .unwrap_or_default();
        for id in ids {
            self.rescind_offer(now, &id);
        }
    }

    /// A framework's offers, ended silently (its stream is gone or being replaced).
    pub(super) fn discard_framework_offers(&mut self, now: Time, framework_id: &str) {
        let ids: Vec<String> = self
            .frameworks
            .get(framework_id)
            .map(|f| f.offers.iter().cloned().collect())
            .unwrap_or_default();
        for id in ids {
            self.discard_offer(now, &id, None);
        }
    }

    pub(super) fn rescind_agent_offers(&mut self, now: Time, agent_id: &str) {
        let ids: Vec<String> = self
            .agents
            .get(agent_id)
            .map(|a| a.offers.iter().cloned().collect())
            .unwrap_or_default();
        for id in ids {
            self.rescind_offer(now, &id);
        }
    }

    /// Gives resources back to the allocator, and notes that offers may follow.
    pub(super) fn recover(
        &mut self,
        now: Time,
        framework_id: &str,
        agent_id: &str,
        resources: &Resources,
        refuse: Option<Duration>,
    ) {
        if resources.is_empty() {
            return;
        }
        self.allocator.recover_resources(
            &FrameworkId {
                value: framework_id.to_string(),
            },
            &AgentId {
                value: agent_id.to_string(),
            },
            resources,
            refuse,
            now,
        );
        self.allocation_wanted = true;
    }

    /// DECLINE: each offer of this framework goes back with the call's filter; ids
    /// that are gone (or not this framework's) are ignored, as Mesos does.
    pub(super) fn decline(
        &mut self,
        now: Time,
        framework_id: &str,
        decline: call::Decline,
    ) -> Reply {
        self.counters.messages_decline_offers += 1;
        let refuse = refuse_filter(decline.filters.as_ref());
        for offer_id in decline.offer_ids {
            let ours = self
                .offers
                .get(&offer_id.value)
                .is_some_and(|o| o.framework_id == framework_id);
            if !ours {
                warn!(framework_id = %framework_id, offer_id = %offer_id.value, "ignoring decline of an offer that is no longer valid");
                continue;
            }
            self.counters.offers_declined += 1;
            self.discard_offer(now, &offer_id.value, refuse);
        }
        Reply::Accepted
    }

    /// Rescinds offers whose `--offer_timeout` passed.
    pub(super) fn expire_offers(&mut self, now: Time) {
        while let Some((deadline, id)) = self.offer_deadlines.first().cloned() {
            if deadline > now {
                break;
            }
            self.offer_deadlines.remove(&(deadline, id.clone()));
            info!(offer_id = %id, "offer timed out, rescinding it");
            self.rescind_offer(now, &id);
        }
    }

    /// Outstanding offers, by id.
    pub fn offers(&self) -> impl Iterator<Item = &OfferEntry> {
        self.offers.values()
    }

    pub fn offer(&self, id: &str) -> Option<&OfferEntry> {
        self.offers.get(id)
    }
}

fn offers_event(offers: Vec<Offer>) -> Event {
    Event {
        r#type: Some(event::Type::Offers as i32),
        offers: Some(event::Offers { offers }),
        ..Event::default()
    }
}
