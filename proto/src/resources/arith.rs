//! When two resources may be merged or taken from one another, and how their values
//! combine (Mesos's `addable`/`subtractable` rules, in fixed point).

use crate::v1::Resource;
use crate::v1::resource::disk_info::source::Type as SourceType;
use crate::v1::value::{self, Type as ValueType};

use super::value::{difference, from_fixed, normalize_set, spans_contain, to_fixed, union};

/// Everything but the value matches: name, type, allocation role, reservation stack,
/// disk, revocability, provider. Shared resources only ever merge with identical ones.
fn same_identity(left: &Resource, right: &Resource) -> bool {
    left.name == right.name
        && left.r#type == right.r#type
        && left.shared.is_some() == right.shared.is_some()
        && left.allocation_info == right.allocation_info
        && left.reservations == right.reservations
        && left.disk == right.disk
        && left.revocable.is_some() == right.revocable.is_some()
        && left.provider_id == right.provider_id
}

fn disk_source_type(resource: &Resource) -> Option<SourceType> {
    let source = resource.disk.as_ref()?.source.as_ref()?;
    SourceType::try_from(source.r#type).ok()
}

fn has_persistence(resource: &Resource) -> bool {
    resource
        .disk
        .as_ref()
        .is_some_and(|d| d.persistence.is_some())
}

fn has_source_id(resource: &Resource) -> bool {
    resource
        .disk
        .as_ref()
        .and_then(|d| d.source.as_ref())
        .is_some_and(|s| s.id.is_some())
}

/// A key equal for two resources exactly when [`addable`] holds for them (the
/// resource's encoding without its value), or `None` for resources that never merge
/// with another (shared ones, exclusive disks, persistent volumes).
pub(crate) fn identity_key(resource: &Resource) -> Option<Vec<u8>> {
    let exclusive = matches!(
        disk_source_type(resource),
        Some(SourceType::Mount | SourceType::Block)
    ) || (disk_source_type(resource) == Some(SourceType::Raw)
        && has_source_id(resource));
    if resource.shared.is_some() || exclusive || has_persistence(resource) {
        return None;
    }
    let mut identity = resource.clone();
    identity.scalar = None;
    identity.ranges = None;
    identity.set = None;
    // `revocable` and `shared` are empty messages: presence is all that is compared,
    // and the encoding carries exactly that.
    Some(prost::Message::encode_to_vec(&identity))
}

/// Whether `right` can be merged into `left` as one entry.
pub(crate) fn addable(left: &Resource, right: &Resource) -> bool {
    if left.shared.is_some() || right.shared.is_some() {
        return left == right;
    }
    if !same_identity(left, right) {
        return false;
    }
    // Whole-disk sources are exclusive: two MOUNT disks are two disks, not one bigger.
    match disk_source_type(left) {
        Some(SourceType::Mount | SourceType::Block) => return false,
        Some(SourceType::Raw) if has_source_id(left) => return false,
        _ => {}
    }
    // Two volumes with the same persistence id never come from one agent; keep apart.
    !has_persistence(left)
}

/// Whether `right` can be taken out of `left`, leaving one entry.
pub(crate) fn subtractable(left: &Resource, right: &Resource) -> bool {
    if left.shared.is_some() || right.shared.is_some() {
        return left == right;
    }
    if !same_identity(left, right) {
        return false;
    }
    // Exclusive disks and persistent volumes only come out whole.
    let exclusive = match disk_source_type(left) {
        Some(SourceType::Mount | SourceType::Block) => true,
        Some(SourceType::Raw) => has_source_id(left),
        _ => false,
    };
    if exclusive || has_persistence(left) {
        return left == right;
    }
    true
}

/// Whether the value of `left` is at least that of `right` (same identity assumed).
pub(crate) fn value_contains(left: &Resource, right: &Resource) -> bool {
    match ValueType::try_from(left.r#type) {
        Ok(ValueType::Scalar) => to_fixed(scalar(left)) >= to_fixed(scalar(right)),
        Ok(ValueType::Ranges) => spans_contain(spans(left), spans(right)),
        Ok(ValueType::Set) => {
            let outer = items(left);
            items(right).iter().all(|item| outer.contains(item))
        }
        _ => false,
    }
}

/// `left += right` on the value alone.
pub(crate) fn add_value(left: &mut Resource, right: &Resource) {
    match ValueType::try_from(left.r#type) {
        Ok(ValueType::Scalar) => {
            let sum = to_fixed(scalar(left)).saturating_add(to_fixed(scalar(right)));
            left.scalar = Some(value::Scalar {
                value: from_fixed(sum),
            });
        }
        Ok(ValueType::Ranges) => {
            let range = union(spans(left), spans(right));
            left.ranges = Some(value::Ranges { range });
        }
        Ok(ValueType::Set) => {
            let mut merged = items(left).to_vec();
            merged.extend_from_slice(items(right));
            normalize_set(&mut merged);
            left.set = Some(value::Set { item: merged });
        }
        _ => {}
    }
}

/// `left -= right` on the value alone; a scalar stops at zero.
pub(crate) fn subtract_value(left: &mut Resource, right: &Resource) {
    match ValueType::try_from(left.r#type) {
        Ok(ValueType::Scalar) => {
            let rest = (to_fixed(scalar(left)) - to_fixed(scalar(right))).max(0);
            left.scalar = Some(value::Scalar {
                value: from_fixed(rest),
            });
        }
        Ok(ValueType::Ranges) => {
            let range = difference(spans(left), spans(right));
            left.ranges = Some(value::Ranges { range });
        }
        Ok(ValueType::Set) => {
            let remove = items(right);
            let rest = items(left)
                .iter()
                .filter(|item| !remove.contains(item))
                .cloned()
                .collect();
            left.set = Some(value::Set { item: rest });
        }
        _ => {}
    }
}

/// Zero scalars, no ranges, no set items.
pub(crate) fn is_empty_value(resource: &Resource) -> bool {
    match ValueType::try_from(resource.r#type) {
        Ok(ValueType::Scalar) => to_fixed(scalar(resource)) == 0,
        Ok(ValueType::Ranges) => resource.ranges.as_ref().is_none_or(|r| r.range.is_empty()),
        Ok(ValueType::Set) => resource.set.as_ref().is_none_or(|s| s.item.is_empty()),
        _ => true,
    }
}

pub(crate) fn scalar(resource: &Resource) -> f64 {
    resource.scalar.as_ref().map_or(0.0, |s| s.value)
}

pub(crate) fn spans(resource: &Resource) -> &[value::Range] {
    resource.ranges.as_ref().map_or(&[], |r| r.range.as_slice())
}

pub(crate) fn items(resource: &Resource) -> &[String] {
    resource.set.as_ref().map_or(&[], |s| s.item.as_slice())
}
