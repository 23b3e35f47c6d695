//! Reading resources: Mesos's validity rules for one `Resource`, and the agent's
//! `--resources` flag in its text and JSON forms.

use std::collections::HashMap;

use crate::ProtoError;
use crate::v1::resource::disk_info::source::Type as SourceType;
use crate::v1::resource::{ReservationInfo, reservation_info};
use crate::v1::value::{self, Type as ValueType};
use crate::v1::{Resource, value::Type};

use super::value::{ParsedValue, parse_value, to_fixed};
use super::{Resources, UNRESERVED_ROLE, is_strict_subrole};

fn invalid(resource: &Resource, message: impl Into<String>) -> ProtoError {
    ProtoError::InvalidResource {
        resource: super::format::describe(resource),
        message: message.into(),
    }
}

fn syntax(input: &str, message: impl Into<String>) -> ProtoError {
    ProtoError::ResourceSyntax {
        input: input.to_string(),
        message: message.into(),
    }
}

/// Checks one resource as Mesos's `Resources::validate` does: a name; a known type
/// with exactly its value field; scalars finite and not below zero once rounded to
/// thousandths; ranges not inverted or overlapping; sets without duplicates; disk info
/// only on `disk`; reservations well formed (roles valid, never `*`, refinements
/// strictly nested and dynamic) in either the old or the new format; sharing only for
/// persistent volumes.
#[allow(deprecated)] // the pre-refinement `role` and `reservation` are validated too
pub fn validate_resource(resource: &Resource) -> Result<(), ProtoError> {
    if resource.name.is_empty() {
        return Err(invalid(resource, "Empty resource name"));
    }
    let has = (
        resource.scalar.is_some(),
        resource.ranges.is_some(),
        resource.set.is_some(),
    );
    match Type::try_from(resource.r#type) {
        Ok(Type::Scalar) => {
            if has != (true, false, false) {
                return Err(invalid(resource, "Invalid scalar resource"));
            }
            let v = resource.scalar.as_ref().map_or(0.0, |s| s.value);
            if !v.is_finite() {
                return Err(invalid(
                    resource,
                    "Invalid scalar resource: value is not finite",
                ));
            }
            // Zero is fine (and dropped); a value that rounds to zero or below is not.
            if v != 0.0 && to_fixed(v) <= 0 {
                return Err(invalid(resource, "Invalid scalar resource: value <= 0"));
            }
        }
        Ok(Type::Ranges) => {
            if has != (false, true, false) {
                return Err(invalid(resource, "Invalid ranges resource"));
            }
            let ranges = resource.ranges.as_ref().map_or(&[][..], |r| &r.range[..]);
            if ranges.iter().any(|r| r.begin > r.end) {
                return Err(invalid(resource, "Invalid ranges resource: begin > end"));
            }
            // Sorted, overlapping ranges are neighbours: n log n, whatever the input.
            let mut sorted = ranges.to_vec();
            sorted.sort_unstable_by_key(|r| r.begin);
            if sorted.windows(2).any(|w| w[1].begin <= w[0].end) {
                return Err(invalid(
                    resource,
                    "Invalid ranges resource: overlapping ranges",
                ));
            }
        }
        Ok(Type::Set) => {
            if has != (false, false, true) {
                return Err(invalid(resource, "Invalid set resource"));
            }
            let items = resource.set.as_ref().map_or(&[][..], |s| &s.item[..]);
            let mut sorted: Vec<&String> = items.iter().collect();
            sorted.sort_unstable();
            if sorted.windows(2).any(|w| w[0] == w[1]) {
                return Err(invalid(
                    resource,
                    "Invalid set resource: duplicated elements",
                ));
            }
        }
        Ok(Type::Text) => return Err(invalid(resource, "Unsupported resource type")),
        Err(_) => return Err(invalid(resource, "Invalid resource type")),
    }

    if let Some(disk) = &resource.disk {
        if resource.name != "disk" {
            return Err(invalid(
                resource,
                format!("DiskInfo should not be set for {} resource", resource.name),
            ));
        }
        if let Some(source) = &disk.source {
            match SourceType::try_from(source.r#type) {
                Ok(SourceType::Path | SourceType::Mount) => {}
                Ok(kind @ (SourceType::Block | SourceType::Raw)) => {
                    let kind = kind.as_str_name();
                    if source.mount.is_some() {
                        let msg = format!("Mount should not be set for {kind} disk source");
                        return Err(invalid(resource, msg));
                    }
                    if source.path.is_some() {
                        let msg = format!("Path should not be set for {kind} disk source");
                        return Err(invalid(resource, msg));
                    }
                }
                Ok(SourceType::Unknown) | Err(_) => {
                    return Err(invalid(resource, "Unsupported 'DiskInfo.Source.Type'"));
                }
            }
        }
    }

    validate_reservations(resource)?;

    if resource.shared.is_some() {
        if resource.name != "disk" {
            let msg = format!("Resource {} cannot be shared", resource.name);
            return Err(invalid(resource, msg));
        }
        let persistent = resource
            .disk
            .as_ref()
            .is_some_and(|d| d.persistence.is_some());
        if !persistent {
            return Err(invalid(resource, "Only persistent volumes can be shared"));
        }
    }
    Ok(())
}

fn validate_role(resource: &Resource, role: &str) -> Result<(), ProtoError> {
    super::roles::validate_role_name(role).map_err(|m| invalid(resource, m))
}

#[allow(deprecated)]
fn validate_reservations(resource: &Resource) -> Result<(), ProtoError> {
    let old_role = resource.role.as_deref();
    if resource.reservations.is_empty() {
        // The pre-refinement format: `role` (default `*`) and maybe `reservation`.
        let role = old_role.unwrap_or(UNRESERVED_ROLE);
        validate_role(resource, role)?;
        if let Some(reservation) = &resource.reservation {
            if reservation.r#type.is_some() {
                return Err(invalid(
                    resource,
                    "'Resource.ReservationInfo.type' must not be set for the \
                     'Resource.reservation' field",
                ));
            }
            if reservation.role.is_some() {
                return Err(invalid(
                    resource,
                    "'Resource.ReservationInfo.role' must not be set for the \
                     'Resource.reservation' field",
                ));
            }
            if role == UNRESERVED_ROLE {
                return Err(invalid(
                    resource,
                    "Invalid reservation: role \"*\" cannot be dynamically reserved",
                ));
            }
        }
        return Ok(());
    }

    for reservation in &resource.reservations {
        if reservation.r#type.is_none() {
            return Err(invalid(
                resource,
                "Invalid reservation: 'Resource.ReservationInfo.type' field must be set.",
            ));
        }
        let Some(role) = reservation.role.as_deref() else {
            return Err(invalid(
                resource,
                "Invalid reservation: 'Resource.ReservationInfo.role' field must be set.",
            ));
        };
        validate_role(resource, role)?;
        if role == UNRESERVED_ROLE {
            return Err(invalid(
                resource,
                "Invalid reservation: role \"*\" cannot be reserved",
            ));
        }
    }
    for pair in resource.reservations.windows(2) {
        let (ancestor, descendant) = (role_of(&pair[0]), role_of(&pair[1]));
        if pair[1].r#type == Some(reservation_info::Type::Static as i32) {
            return Err(invalid(
                resource,
                "Invalid refined reservation: A refined reservation cannot be STATIC",
            ));
        }
        if !is_strict_subrole(descendant, ancestor) {
            return Err(invalid(
                resource,
                format!(
                    "Invalid refined reservation: role '{descendant}' is not a refinement \
                     of '{ancestor}'"
                ),
            ));
        }
    }

    // The old fields may ride along with a single reservation if they agree with it.
    if let [only] = resource.reservations.as_slice() {
        let role = role_of(only);
        if let Some(old) = old_role
            && old != role
        {
            return Err(invalid(
                resource,
                format!(
                    "Invalid resource format: 'Resource.role' field with '{old}' does not \
                         match the role '{role}' in 'Resource.reservations'"
                ),
            ));
        }
        match only
            .r#type
            .and_then(|t| reservation_info::Type::try_from(t).ok())
        {
            Some(reservation_info::Type::Static) => {
                if resource.reservation.is_some() {
                    return Err(invalid(
                        resource,
                        "Invalid resource format: 'Resource.reservation' must not be set if \
                         the single reservation in 'Resource.reservations' is STATIC",
                    ));
                }
            }
            Some(reservation_info::Type::Dynamic) => {
                if old_role.is_some() != resource.reservation.is_some() {
                    return Err(invalid(
                        resource,
                        "Invalid resource format: 'Resource.role' and 'Resource.reservation' \
                         must either be both set or both not set if the single reservation \
                         in 'Resource.reservations' is DYNAMIC",
                    ));
                }
                if let Some(old) = &resource.reservation
                    && (old.principal != only.principal || old.labels != only.labels)
                {
                    return Err(invalid(
                        resource,
                        "Invalid resource format: 'Resource.reservation' does not match \
                             the reservation in 'Resource.reservations'",
                    ));
                }
            }
            _ => {
                return Err(invalid(
                    resource,
                    "Unsupported 'Resource.ReservationInfo.Type'",
                ));
            }
        }
    } else if old_role.is_some() || resource.reservation.is_some() {
        return Err(invalid(
            resource,
            "Invalid resource format: 'Resource.role' and 'Resource.reservation' must not \
             be set if there is more than one reservation in 'Resource.reservations'",
        ));
    }
    Ok(())
}

fn role_of(reservation: &ReservationInfo) -> &str {
    reservation.role.as_deref().unwrap_or_default()
}

/// `--resources`: a JSON array of `Resource` objects, or `name(role):value;...`.
pub(crate) fn parse_resources(text: &str, default_role: &str) -> Result<Resources, ProtoError> {
    let parsed = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(json @ serde_json::Value::Array(_)) => from_json(&json, default_role)?,
        _ => from_text(text, default_role)?,
    };
    for resource in &parsed {
        validate_resource(resource)?;
    }
    let out = Resources::from_valid(parsed);
    validate_command_line(&out)?;
    Ok(out)
}

#[allow(deprecated)] // a resource naming no role at all gets the default one in `role`
fn from_json(json: &serde_json::Value, default_role: &str) -> Result<Vec<Resource>, ProtoError> {
    let serde_json::Value::Array(entries) = json else {
        return Err(syntax("", "expected a JSON array of resources"));
    };
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let mut resource: Resource = crate::json::from_value(entry).map_err(|e| {
            syntax(
                &entry.to_string(),
                format!("Some JSON resources were not formatted properly: {e}"),
            )
        })?;
        if resource.role.is_none() && resource.reservations.is_empty() {
            resource.role = Some(default_role.to_string());
        }
        out.push(resource);
    }
    Ok(out)
}

/// The text form, token by token as Mesos reads it.
fn from_text(text: &str, default_role: &str) -> Result<Vec<Resource>, ProtoError> {
    let mut out = Vec::new();
    for token in text.split(';').filter(|t| !t.is_empty()) {
        let parts: Vec<&str> = token.split(':').filter(|p| !p.is_empty()).collect();
        let [head, value_text] = parts.as_slice() else {
            return Err(syntax(token, "missing or extra ':'"));
        };
        let (name, role) = match head.find('(') {
            None => (head.trim(), default_role),
            Some(open) => match head.find(')') {
                Some(close) if close > open => (head[..open].trim(), head[open + 1..close].trim()),
                _ => return Err(syntax(token, "mismatched parentheses")),
            },
        };
        let parsed = parse_value(value_text).map_err(|e| {
            syntax(
                token,
                format!("Failed to parse resource {name} value {value_text} error {e}"),
            )
        })?;
        let mut resource = Resource {
            name: name.to_string(),
            ..Resource::default()
        };
        match parsed {
            ParsedValue::Scalar(v) => {
                resource.r#type = ValueType::Scalar as i32;
                resource.scalar = Some(value::Scalar { value: v });
            }
            ParsedValue::Ranges(spans) => {
                resource.r#type = ValueType::Ranges as i32;
                resource.ranges = Some(value::Ranges { range: spans });
            }
            ParsedValue::Set(items) => {
                resource.r#type = ValueType::Set as i32;
                resource.set = Some(value::Set { item: items });
            }
            ParsedValue::Text(_) => {
                return Err(syntax(
                    token,
                    format!("Bad type for resource {name} value {value_text} type TEXT"),
                ));
            }
        }
        if role != UNRESERVED_ROLE {
            resource.reservations.push(ReservationInfo {
                r#type: Some(reservation_info::Type::Static as i32),
                role: Some(role.to_string()),
                principal: None,
                labels: None,
            });
        }
        out.push(resource);
    }
    Ok(out)
}

/// What an agent may not declare itself: persistent volumes, revocable resources,
/// dynamic reservations, or one name with two types.
fn validate_command_line(resources: &Resources) -> Result<(), ProtoError> {
    let mut types: HashMap<&str, i32> = HashMap::new();
    for resource in resources {
        if resource
            .disk
            .as_ref()
            .is_some_and(|d| d.persistence.is_some())
        {
            return Err(invalid(
                resource,
                "Persistent volumes cannot be specified at the command line",
            ));
        }
        if resource.revocable.is_some() {
            return Err(invalid(
                resource,
                "Revocable resources cannot be specified at the command line; do not include \
                 a 'revocable' key in the resources JSON",
            ));
        }
        let dynamic = resource
            .reservations
            .iter()
            .any(|r| r.r#type == Some(reservation_info::Type::Dynamic as i32));
        if dynamic {
            return Err(invalid(
                resource,
                "Dynamic reservations cannot be specified at the command line; do not include \
                 a reservation with DYNAMIC type in the resources JSON",
            ));
        }
        match types.get(resource.name.as_str()) {
            Some(t) if *t != resource.r#type => {
                return Err(invalid(
                    resource,
                    format!(
                        "Resources with the same name ('{}') but different types are not allowed",
                        resource.name
                    ),
                ));
            }
            _ => {
                types.insert(resource.name.as_str(), resource.r#type);
            }
        }
    }
    Ok(())
}
