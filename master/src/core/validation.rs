//! Stateless checks of what a scheduler sends, in the order and with the wording Mesos
//! uses (`validation::scheduler::call::validate`, `validation::framework::validate`), so
//! a client sees the same status code for the same mistake.
//!
//! The HTTP layer runs [`validate_call`] before it looks at `Accept` or
//! `Mesos-Stream-Id`, as Mesos does; the core then only ever sees a [`ValidCall`].

use ratufa_proto::v1::scheduler::{Call, call};
use ratufa_proto::v1::{FrameworkId, FrameworkInfo, OfferFilters};

use super::roles;

/// A call that failed [`validate_call`]; the HTTP layer answers 400 with `to_string()`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Failed to validate scheduler::Call: {0}")]
pub struct CallValidationError(pub String);

fn invalid(message: impl Into<String>) -> CallValidationError {
    CallValidationError(message.into())
}

/// A scheduler call that passed validation: its sub-message is known to be present.
#[derive(Debug, Clone, PartialEq)]
pub enum ValidCall {
    Subscribe(call::Subscribe),
    /// Every call other than SUBSCRIBE names the framework it is for.
    Framework {
        framework_id: FrameworkId,
        call: FrameworkCall,
    },
}

impl ValidCall {
    /// Whether the response has a body whose encoding `Accept` picks; Mesos checks
    /// `Accept` only for these calls (406 otherwise never happens).
    pub fn has_response_body(&self) -> bool {
        matches!(
            self,
            ValidCall::Subscribe(_)
                | ValidCall::Framework {
                    call: FrameworkCall::ReconcileOperations(_),
                    ..
                }
        )
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            ValidCall::Subscribe(_) => "SUBSCRIBE",
            ValidCall::Framework { call, .. } => call.type_name(),
        }
    }
}

/// The calls a subscribed framework makes on its stream id, each with its sub-message.
// Moved once from the decoder to the core; boxing would only add allocations.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum FrameworkCall {
    Teardown,
    Accept(call::Accept),
    Decline(call::Decline),
    AcceptInverseOffers(call::AcceptInverseOffers),
    DeclineInverseOffers(call::DeclineInverseOffers),
    /// No sub-message means "all roles".
    Revive(call::Revive),
    /// No sub-message means "all roles".
    Suppress(call::Suppress),
    Kill(call::Kill),
    Shutdown(call::Shutdown),
    Acknowledge(call::Acknowledge),
    AcknowledgeOperationStatus(call::AcknowledgeOperationStatus),
    Reconcile(call::Reconcile),
    ReconcileOperations(call::ReconcileOperations),
    Message(call::Message),
    Request(call::Request),
    UpdateFramework(call::UpdateFramework),
    Unknown,
}

impl FrameworkCall {
    pub fn call_type(&self) -> call::Type {
        use call::Type;
        match self {
            FrameworkCall::Teardown => Type::Teardown,
            FrameworkCall::Accept(_) => Type::Accept,
            FrameworkCall::Decline(_) => Type::Decline,
            FrameworkCall::AcceptInverseOffers(_) => Type::AcceptInverseOffers,
            FrameworkCall::DeclineInverseOffers(_) => Type::DeclineInverseOffers,
            FrameworkCall::Revive(_) => Type::Revive,
            FrameworkCall::Suppress(_) => Type::Suppress,
            FrameworkCall::Kill(_) => Type::Kill,
            FrameworkCall::Shutdown(_) => Type::Shutdown,
            FrameworkCall::Acknowledge(_) => Type::Acknowledge,
            FrameworkCall::AcknowledgeOperationStatus(_) => Type::AcknowledgeOperationStatus,
            FrameworkCall::Reconcile(_) => Type::Reconcile,
            FrameworkCall::ReconcileOperations(_) => Type::ReconcileOperations,
            FrameworkCall::Message(_) => Type::Message,
            FrameworkCall::Request(_) => Type::Request,
            FrameworkCall::UpdateFramework(_) => Type::UpdateFramework,
            FrameworkCall::Unknown => Type::Unknown,
        }
    }

    pub fn type_name(&self) -> &'static str {
        self.call_type().as_str_name()
    }
}

/// `value` of an optional id, with protobuf's default (`""`) when absent: Mesos compares
/// ids with `==` on the accessor, so an absent id equals an empty one.
fn id_value(id: Option<&FrameworkId>) -> &str {
    id.map_or("", |id| id.value.as_str())
}

/// Checks a decoded call. `principal` is the authenticated principal, if any.
pub fn validate_call(
    call: Call,
    principal: Option<&str>,
) -> Result<ValidCall, CallValidationError> {
    // An enum number we do not know decodes as an unknown field in proto2, so it reads
    // as "no type", not as a type.
    let call_type = call
        .r#type
        .and_then(|t| call::Type::try_from(t).ok())
        .ok_or_else(|| invalid("Expecting 'type' to be present"))?;

    use call::Type;
    // SUBSCRIBE is the one call without a framework id; every other call is checked for
    // the id before its sub-message, as Mesos does.
    if call_type != Type::Subscribe && call.framework_id.is_none() {
        return Err(invalid("Expecting 'framework_id' to be present"));
    }

    fn require<T>(field: Option<T>, name: &str) -> Result<T, CallValidationError> {
        field.ok_or_else(|| invalid(format!("Expecting '{name}' to be present")))
    }

    let framework_call = match call_type {
        Type::Subscribe => {
            return validate_subscribe(call.subscribe, call.framework_id.as_ref(), principal);
        }
        Type::Teardown => FrameworkCall::Teardown,
        Type::Accept => FrameworkCall::Accept(require(call.accept, "accept")?),
        Type::Decline => FrameworkCall::Decline(require(call.decline, "decline")?),
        Type::AcceptInverseOffers => FrameworkCall::AcceptInverseOffers(require(
            call.accept_inverse_offers,
            "accept_inverse_offers",
        )?),
        Type::DeclineInverseOffers => FrameworkCall::DeclineInverseOffers(require(
            call.decline_inverse_offers,
            "decline_inverse_offers",
        )?),
        Type::Revive => FrameworkCall::Revive(call.revive.unwrap_or_default()),
        Type::Suppress => FrameworkCall::Suppress(call.suppress.unwrap_or_default()),
        Type::Kill => FrameworkCall::Kill(require(call.kill, "kill")?),
        Type::Shutdown => FrameworkCall::Shutdown(require(call.shutdown, "shutdown")?),
        Type::Acknowledge => {
            let ack = require(call.acknowledge, "acknowledge")?;
            validate_uuid(&ack.uuid, "acknowledge.uuid")?;
            FrameworkCall::Acknowledge(ack)
        }
        Type::AcknowledgeOperationStatus => {
            let ack = require(
                call.acknowledge_operation_status,
                "acknowledge_operation_status",
            )?;
            validate_uuid(&ack.uuid, "acknowledge_operation_status.uuid")?;
            // Operations on external resource providers are not supported by Mesos
            // either, so the agent is required.
            if ack.agent_id.is_none() {
                return Err(invalid(
                    "Expecting 'acknowledge_operation_status.agent_id' to be present",
                ));
            }
            FrameworkCall::AcknowledgeOperationStatus(ack)
        }
        Type::Reconcile => FrameworkCall::Reconcile(require(call.reconcile, "reconcile")?),
        Type::ReconcileOperations => FrameworkCall::ReconcileOperations(require(
            call.reconcile_operations,
            "reconcile_operations",
        )?),
        Type::Message => FrameworkCall::Message(require(call.message, "message")?),
        Type::Request => FrameworkCall::Request(require(call.request, "request")?),
        Type::UpdateFramework => {
            let update = require(call.update_framework, "update_framework")?;
            let info_id = id_value(update.framework_info.id.as_ref());
            let call_id = id_value(call.framework_id.as_ref());
            if info_id != call_id {
                return Err(invalid(format!(
                    "'framework_id' differs from 'update_framework.framework_info.id' \
                     ('{call_id}' vs '{info_id}')"
                )));
            }
            FrameworkCall::UpdateFramework(update)
        }
        Type::Unknown => FrameworkCall::Unknown,
    };

    let framework_id = call
        .framework_id
        .ok_or_else(|| invalid("Expecting 'framework_id' to be present"))?;
    Ok(ValidCall::Framework {
        framework_id,
        call: framework_call,
    })
}

fn validate_subscribe(
    subscribe: Option<call::Subscribe>,
    call_framework_id: Option<&FrameworkId>,
    principal: Option<&str>,
) -> Result<ValidCall, CallValidationError> {
    let subscribe = subscribe.ok_or_else(|| invalid("Expecting 'subscribe' to be present"))?;
    let info = &subscribe.framework_info;
    let info_id = id_value(info.id.as_ref());
    let call_id = id_value(call_framework_id);
    if info_id != call_id {
        return Err(invalid(format!(
            "'framework_id' differs from 'subscribe.framework_info.id' \
             ('{call_id}' vs '{info_id}')"
        )));
    }
    if let (Some(principal), Some(declared)) = (principal, info.principal.as_deref())
        && principal != declared
    {
        return Err(invalid(principal_mismatch(principal, declared)));
    }
    Ok(ValidCall::Subscribe(subscribe))
}

pub fn principal_mismatch(authenticated: &str, declared: &str) -> String {
    format!(
        "Authenticated principal '{authenticated}' does not match principal '{declared}' \
         set in `FrameworkInfo`"
    )
}

/// A status-update UUID as Mesos accepts it (`ratufa_proto::task_state::check_update_uuid`).
fn validate_uuid(bytes: &[u8], field: &str) -> Result<(), CallValidationError> {
    ratufa_proto::task_state::check_update_uuid(bytes)
        .map_err(|why| invalid(format!("Not a valid UUID in '{field}': {why}")))
}

/// Longest id Mesos accepts: ids become directory names, so `NAME_MAX`.
const MAX_ID_LENGTH: usize = 255;

/// Checks an id that will be used as a path component (`common::validation::validateID`).
pub fn validate_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("ID must not be empty".to_string());
    }
    if id.len() > MAX_ID_LENGTH {
        return Err(format!(
            "ID must not be greater than {MAX_ID_LENGTH} characters"
        ));
    }
    if id == "." || id == ".." {
        return Err(format!("'{id}' is disallowed"));
    }
    if id
        .chars()
        .any(|c| c.is_ascii_control() || c == '/' || c == '\\')
    {
        return Err(format!("'{id}' contains invalid characters"));
    }
    Ok(())
}

/// The largest |failover_timeout| Mesos can represent: i64 nanoseconds.
const MAX_FAILOVER_SECONDS: f64 = i64::MAX as f64 / 1e9;

/// Checks a FrameworkInfo on its own (`validation::framework::validate`): roles,
/// framework id, offer filters, failover timeout. Checks that need the master's state
/// (whitelist, removed frameworks) are the core's.
pub fn validate_framework_info(info: &FrameworkInfo) -> Result<(), String> {
    validate_framework_roles(info)?;

    if let Some(id) = info.id.as_ref().filter(|id| !id.value.is_empty()) {
        validate_id(&id.value)?;
    }

    for (role, filters) in &info.offer_filters {
        // Mesos checks only the quantities; a role that can never be valid is refused
        // too, as nothing could ever be offered in it.
        roles::validate_role(role)
            .and_then(|()| validate_offer_filters(filters))
            .map_err(|e| format!("'FrameworkInfo.offer_filters' for role '{role}': {e}"))?;
    }

    let timeout = info.failover_timeout.unwrap_or(0.0);
    // NaN is refused too: Mesos lets it through, but a NaN timeout means nothing.
    if timeout.is_nan() || timeout.abs() > MAX_FAILOVER_SECONDS {
        return Err(format!(
            "The framework failover_timeout ({timeout}) is invalid"
        ));
    }
    Ok(())
}

fn validate_framework_roles(info: &FrameworkInfo) -> Result<(), String> {
    if roles::is_multi_role(info) {
        if roles::has_legacy_role(info) {
            return Err(
                "'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable"
                    .to_string(),
            );
        }
        let mut seen = std::collections::BTreeSet::new();
        let duplicates: std::collections::BTreeSet<String> = info
            .roles
            .iter()
            .filter(|role| !seen.insert(role.as_str()))
            .cloned()
            .collect();
        if !duplicates.is_empty() {
            return Err(format!(
                "'FrameworkInfo.roles' contains duplicate items: {}",
                roles::format_set(&duplicates)
            ));
        }
        for role in &info.roles {
            roles::validate_role(role)
                .map_err(|e| format!("'FrameworkInfo.roles' contains invalid role: {e}"))?;
        }
    } else {
        if !info.roles.is_empty() {
            return Err(
                "'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE \
                 capable"
                    .to_string(),
            );
        }
        roles::validate_role(roles::legacy_role(info))
            .map_err(|e| format!("'FrameworkInfo.role' is not a valid role: {e}"))?;
    }
    Ok(())
}

fn validate_offer_filters(filters: &OfferFilters) -> Result<(), String> {
    let Some(min) = &filters.min_allocatable_resources else {
        return Ok(());
    };
    for quantities in &min.quantities {
        if quantities.quantities.is_empty() {
            return Err("Resource quantities must contain at least one quantity".to_string());
        }
        for (name, scalar) in &quantities.quantities {
            validate_scalar(scalar.value)
                .map_err(|e| format!("Invalid resource quantity for '{name}': {e}"))?;
        }
    }
    Ok(())
}

/// A scalar a client may send: finite, normal or zero, not negative.
fn validate_scalar(value: f64) -> Result<(), &'static str> {
    use std::num::FpCategory;
    match value.classify() {
        FpCategory::Infinite => Err("Infinite values not supported"),
        FpCategory::Nan => Err("NaN not supported"),
        FpCategory::Subnormal => Err("Subnormal values not supported"),
        FpCategory::Zero => Ok(()),
        FpCategory::Normal if value < 0.0 => Err("Negative values not supported"),
        FpCategory::Normal => Ok(()),
    }
}

/// Checks that a re-subscription or UPDATE_FRAMEWORK does not change what may not change
/// (`validation::framework::validateUpdate`).
pub fn validate_update(old: &FrameworkInfo, new: &FrameworkInfo) -> Result<(), String> {
    if old.principal != new.principal {
        // The old principal is not echoed back: the caller may not be the framework's
        // owner.
        return Err("Changing framework's principal is not allowed.".to_string());
    }
    if old.user != new.user {
        return Err(format!(
            "Updating 'FrameworkInfo.user' is unsupported; attempted to update from '{}' to \
             '{}'",
            old.user, new.user
        ));
    }
    let (old_cp, new_cp) = (
        old.checkpoint.unwrap_or(false),
        new.checkpoint.unwrap_or(false),
    );
    if old_cp != new_cp {
        return Err(format!(
            "Updating 'FrameworkInfo.checkpoint' is unsupported; attempted to update from \
             '{old_cp}' to '{new_cp}'"
        ));
    }
    Ok(())
}

#[cfg(test)]
#[path = "validation_tests.rs"]
mod tests;
