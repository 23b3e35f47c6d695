//! Resources as Mesos counts them: a normalized collection of `v1::Resource`.
//!
//! Entries that differ only in value (same name, type, reservations, disk, sharing,
//! revocability, provider and allocation role) are merged into one; empty entries are
//! dropped; scalars live in Mesos's fixed point (thousandths), so sums never drift;
//! ranges are sorted and coalesced, sets sorted. Reservations are always held in the
//! `reservations` stack ("post-refinement" format): the deprecated `role` and
//! `reservation` fields are converted on the way in and produced again only by
//! [`Resources::to_pre_refinement_format`].

mod arith;
mod attributes;
mod format;
mod parse;
pub mod roles;
mod value;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::ops::{Add, AddAssign, Sub, SubAssign};

use crate::ProtoError;
use crate::v1::Resource;
use crate::v1::resource::{AllocationInfo, ReservationInfo, reservation_info};
use crate::v1::value::Type as ValueType;

pub use attributes::parse_attributes;
pub use parse::validate_resource;

/// The role unreserved resources belong to.
pub const UNRESERVED_ROLE: &str = "*";

/// A normalized collection of resources; see the module documentation.
#[derive(Clone, Debug, Default)]
pub struct Resources {
    items: Vec<Resource>,
}

impl Resources {
    pub fn new() -> Resources {
        Resources::default()
    }

    /// Validates each resource as Mesos does (see [`validate_resource`]), converts the
    /// old `role`/`reservation` fields to the `reservations` stack and normalizes.
    pub fn try_from_vec(resources: Vec<Resource>) -> Result<Resources, ProtoError> {
        for resource in &resources {
            validate_resource(resource)?;
        }
        Ok(Resources::from_valid(resources))
    }

    /// Normalizes resources that passed validation. Merging looks for a matching
    /// entry; past a few dozen entries (only ever from odd or hostile input) it finds
    /// it by identity key instead, so building stays linear.
    fn from_valid(resources: Vec<Resource>) -> Resources {
        const LINEAR_LIMIT: usize = 32;
        let mut out = Resources::new();
        if resources.len() <= LINEAR_LIMIT {
            for resource in resources {
                out.add_one(normalized(resource));
            }
            return out;
        }
        let mut by_identity: HashMap<Vec<u8>, usize> = HashMap::new();
        for resource in resources {
            let resource = normalized(resource);
            if arith::is_empty_value(&resource) {
                continue;
            }
            let key = arith::identity_key(&resource);
            match key.as_ref().and_then(|k| by_identity.get(k)) {
                Some(&index) => arith::add_value(&mut out.items[index], &resource),
                None => {
                    if let Some(key) = key {
                        by_identity.insert(key, out.items.len());
                    }
                    out.items.push(resource);
                }
            }
        }
        out
    }

    /// Mesos's agent `--resources` syntax (`cpus(prod):1;mem:4096;ports:[1-5]`) or its
    /// JSON array form; resources without a role go to `default_role` (`*` means
    /// unreserved, any other role makes a static reservation).
    pub fn parse(text: &str, default_role: &str) -> Result<Resources, ProtoError> {
        parse::parse_resources(text, default_role)
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Resource> {
        self.items.iter()
    }

    pub fn as_slice(&self) -> &[Resource] {
        &self.items
    }

    pub fn into_vec(self) -> Vec<Resource> {
        self.items
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The number of entries (not a quantity).
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether everything in `that` is here: each entry is covered by an entry of the
    /// same identity with at least its value.
    pub fn contains(&self, that: &Resources) -> bool {
        if !self.has_whole_entries() && !that.has_whole_entries() {
            // Without shared resources or disks every identity has at most one entry
            // on each side, so entry-by-entry containment is the whole answer.
            return that.items.iter().all(|resource| {
                self.items
                    .iter()
                    .any(|r| arith::subtractable(r, resource) && arith::value_contains(r, resource))
            });
        }
        // Shared resources (one entry per copy) and exclusive disks (one entry per
        // disk) may repeat an identity: subtract as we go so each is counted once.
        let mut remaining = self.clone();
        for resource in &that.items {
            let Some(index) = remaining.items.iter().position(|r| {
                arith::subtractable(r, resource) && arith::value_contains(r, resource)
            }) else {
                return false;
            };
            remaining.subtract_at(index, resource);
        }
        true
    }

    fn has_whole_entries(&self) -> bool {
        self.items
            .iter()
            .any(|r| r.shared.is_some() || r.disk.is_some())
    }

    /// `self - that` when `that` is contained here, otherwise `None`.
    pub fn checked_sub(&self, that: &Resources) -> Option<Resources> {
        self.contains(that).then(|| self - that)
    }

    /// The sum of the scalar entries called `name`, whatever their reservations.
    pub fn scalar(&self, name: &str) -> f64 {
        scalar_sum(&self.items, name)
    }

    pub fn cpus(&self) -> f64 {
        self.scalar("cpus")
    }

    pub fn mem(&self) -> f64 {
        self.scalar("mem")
    }

    pub fn disk(&self) -> f64 {
        self.scalar("disk")
    }

    pub fn gpus(&self) -> f64 {
        self.scalar("gpus")
    }

    /// The union of the ranges entries called `name`, coalesced.
    pub fn ranges(&self, name: &str) -> Vec<(u64, u64)> {
        let all = self
            .items
            .iter()
            .filter(|r| r.name == name && r.r#type == ValueType::Ranges as i32)
            .flat_map(|r| arith::spans(r).iter().copied())
            .collect();
        value::to_pairs(&value::coalesce(all))
    }

    /// Every scalar quantity by name, summed over reservations and the like, in order
    /// of first appearance.
    pub fn scalar_quantities(&self) -> Vec<(&str, f64)> {
        let mut out: Vec<(&str, i64)> = Vec::new();
        for r in &self.items {
            if r.r#type != ValueType::Scalar as i32 {
                continue;
            }
            let fixed = value::to_fixed(arith::scalar(r));
            match out.iter_mut().find(|(name, _)| *name == r.name) {
                Some((_, total)) => *total += fixed,
                None => out.push((r.name.as_str(), fixed)),
            }
        }
        out.into_iter()
            .map(|(name, fixed)| (name, value::from_fixed(fixed)))
            .collect()
    }

    /// The entries for which `keep` holds (still normalized: a subset of merged entries
    /// stays merged).
    pub fn filter(&self, mut keep: impl FnMut(&Resource) -> bool) -> Resources {
        Resources {
            items: self.items.iter().filter(|r| keep(r)).cloned().collect(),
        }
    }

    pub fn unreserved(&self) -> Resources {
        self.filter(is_unreserved)
    }

    /// Resources whose (most refined) reservation is to exactly `role`.
    pub fn reserved_to(&self, role: &str) -> Resources {
        self.filter(|r| reservation_role(r) == Some(role))
    }

    /// What may be allocated to `role`: unreserved resources and those reserved to the
    /// role itself or to one of its ancestors (`a` for `a/b`).
    pub fn allocatable_to(&self, role: &str) -> Resources {
        self.filter(|r| is_allocatable_to(r, role))
    }

    /// Revocable entries (oversubscribed resources).
    pub fn revocable(&self) -> Resources {
        self.filter(|r| r.revocable.is_some())
    }

    pub fn non_revocable(&self) -> Resources {
        self.filter(|r| r.revocable.is_none())
    }

    /// Marks every entry as allocated to `role` (as offers and tasks carry them).
    pub fn allocate(&mut self, role: &str) {
        if self.single_allocation_role() {
            // Nothing can merge: set the role in place.
            for resource in &mut self.items {
                match &mut resource.allocation_info {
                    Some(AllocationInfo { role: Some(r) }) if r == role => {}
                    info => {
                        *info = Some(AllocationInfo {
                            role: Some(role.to_string()),
                        })
                    }
                }
            }
            return;
        }
        let items = std::mem::take(&mut self.items);
        for mut resource in items {
            resource.allocation_info = Some(AllocationInfo {
                role: Some(role.to_string()),
            });
            // Entries that differed only in allocation role are now one.
            self.add_one(resource);
        }
    }

    /// A copy with the allocation role cleared, as the agent's free pool holds them.
    pub fn unallocated(&self) -> Resources {
        if self.single_allocation_role() {
            let mut out = self.clone();
            for resource in &mut out.items {
                resource.allocation_info = None;
            }
            return out;
        }
        let mut out = Resources::new();
        for resource in &self.items {
            let mut resource = resource.clone();
            resource.allocation_info = None;
            out.add_one(resource);
        }
        out
    }

    /// Whether all entries carry the same allocation info (or none), so changing it on
    /// every entry cannot make two of them combinable.
    fn single_allocation_role(&self) -> bool {
        match self.items.split_first() {
            None => true,
            Some((first, rest)) => rest
                .iter()
                .all(|r| r.allocation_info == first.allocation_info),
        }
    }

    /// The allocation role of the first entry that has one.
    pub fn allocation_role(&self) -> Option<&str> {
        self.items
            .iter()
            .find_map(|r| r.allocation_info.as_ref()?.role.as_deref())
    }

    /// The entries as a framework without RESERVATION_REFINEMENT expects them: `role`
    /// set on every entry (`*` when unreserved) and a dynamic reservation's principal
    /// and labels in `reservation`, with `reservations` cleared. Entries with refined
    /// (nested) reservations cannot be written this way and keep their stack; Mesos
    /// never offers those to such frameworks.
    #[allow(deprecated)] // `role` and `reservation` are what such frameworks read
    pub fn to_pre_refinement_format(&self) -> Vec<Resource> {
        self.items
            .iter()
            .map(|resource| {
                let mut resource = resource.clone();
                match resource.reservations.len() {
                    0 => resource.role = Some(UNRESERVED_ROLE.to_string()),
                    1 => {
                        let reservation = resource.reservations.remove(0);
                        if reservation.r#type == Some(reservation_info::Type::Dynamic as i32) {
                            resource.reservation = Some(ReservationInfo {
                                r#type: None,
                                role: None,
                                principal: reservation.principal,
                                labels: reservation.labels,
                            });
                        }
                        resource.role = reservation.role;
                    }
                    _ => {}
                }
                resource
            })
            .collect()
    }

    /// Adds one normalized resource, merging it into an entry of the same identity.
    fn add_one(&mut self, resource: Resource) {
        if arith::is_empty_value(&resource) {
            return;
        }
        match self.items.iter_mut().find(|r| arith::addable(r, &resource)) {
            Some(existing) => arith::add_value(existing, &resource),
            None => self.items.push(resource),
        }
    }

    /// Takes as much of `resource` as is here out of the entry it matches.
    fn subtract_one(&mut self, resource: &Resource) {
        if let Some(index) = self
            .items
            .iter()
            .position(|r| arith::subtractable(r, resource))
        {
            self.subtract_at(index, resource);
        }
    }

    fn subtract_at(&mut self, index: usize, resource: &Resource) {
        let entry = &mut self.items[index];
        if entry.shared.is_some() {
            // One copy of a shared resource goes; `subtractable` made sure it's equal.
            self.items.remove(index);
            return;
        }
        arith::subtract_value(entry, resource);
        if arith::is_empty_value(entry) {
            self.items.remove(index);
        }
    }
}

/// Brings a validated resource into the form the collection holds.
#[allow(deprecated)] // reads and clears the pre-refinement fields
fn normalized(mut resource: Resource) -> Resource {
    if resource.reservations.is_empty() {
        let role = resource.role.take();
        let reservation = resource.reservation.take();
        if let Some(role) = role.filter(|r| r != UNRESERVED_ROLE) {
            let converted = match reservation {
                Some(dynamic) => ReservationInfo {
                    r#type: Some(reservation_info::Type::Dynamic as i32),
                    role: Some(role),
                    ..dynamic
                },
                None => ReservationInfo {
                    r#type: Some(reservation_info::Type::Static as i32),
                    role: Some(role),
                    principal: None,
                    labels: None,
                },
            };
            resource.reservations.push(converted);
        }
    } else {
        resource.role = None;
        resource.reservation = None;
    }
    match ValueType::try_from(resource.r#type) {
        Ok(ValueType::Scalar) => {
            if let Some(scalar) = &mut resource.scalar {
                scalar.value = value::normalize_scalar(scalar.value);
            }
        }
        Ok(ValueType::Ranges) => {
            if let Some(ranges) = &mut resource.ranges {
                ranges.range = value::coalesce(std::mem::take(&mut ranges.range));
            }
        }
        Ok(ValueType::Set) => {
            if let Some(set) = &mut resource.set {
                value::normalize_set(&mut set.item);
            }
        }
        _ => {}
    }
    resource
}

/// The sum of the scalar entries called `name` among `resources`, whatever their
/// reservations: what [`Resources::scalar`] gives for them normalized (each entry is
/// taken in Mesos's fixed point, and fixed-point sums do not depend on grouping),
/// without building and normalizing a `Resources` first.
pub fn scalar_sum<'a>(resources: impl IntoIterator<Item = &'a Resource>, name: &str) -> f64 {
    let fixed: i64 = resources
        .into_iter()
        .filter(|r| r.name == name && r.r#type == ValueType::Scalar as i32)
        .map(|r| value::to_fixed(arith::scalar(r)))
        .sum();
    value::from_fixed(fixed)
}

pub fn is_unreserved(resource: &Resource) -> bool {
    resource.reservations.is_empty()
}

/// The role of the most refined reservation, if reserved.
pub fn reservation_role(resource: &Resource) -> Option<&str> {
    resource.reservations.last().and_then(|r| r.role.as_deref())
}

/// Whether `role` is `ancestor` or lies below it (`a/b/c` below `a` and `a/b`).
pub fn is_subrole_or_same(role: &str, ancestor: &str) -> bool {
    role == ancestor || is_strict_subrole(role, ancestor)
}

/// Whether `role` lies strictly below `ancestor` in the role tree.
pub fn is_strict_subrole(role: &str, ancestor: &str) -> bool {
    role.len() > ancestor.len() + 1
        && role.starts_with(ancestor)
        && role.as_bytes()[ancestor.len()] == b'/'
}

/// Unreserved, or reserved to `role` or one of its ancestors.
pub fn is_allocatable_to(resource: &Resource, role: &str) -> bool {
    match reservation_role(resource) {
        None => true,
        Some(reserved) => is_subrole_or_same(role, reserved),
    }
}

impl PartialEq for Resources {
    /// Equal as collections: the order entries were added in does not matter.
    fn eq(&self, other: &Resources) -> bool {
        self.items.len() == other.items.len() && self.contains(other) && other.contains(self)
    }
}

impl<'a> IntoIterator for &'a Resources {
    type Item = &'a Resource;
    type IntoIter = std::slice::Iter<'a, Resource>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

impl AddAssign<&Resources> for Resources {
    fn add_assign(&mut self, rhs: &Resources) {
        if self.items.is_empty() {
            self.items.clone_from(&rhs.items);
            return;
        }
        for resource in &rhs.items {
            self.add_one(resource.clone());
        }
    }
}

impl SubAssign<&Resources> for Resources {
    /// Removes what of `rhs` is here; anything missing is ignored.
    fn sub_assign(&mut self, rhs: &Resources) {
        for resource in &rhs.items {
            self.subtract_one(resource);
        }
    }
}

impl Add<&Resources> for &Resources {
    type Output = Resources;

    fn add(self, rhs: &Resources) -> Resources {
        let mut out = self.clone();
        out += rhs;
        out
    }
}

impl Sub<&Resources> for &Resources {
    type Output = Resources;

    fn sub(self, rhs: &Resources) -> Resources {
        let mut out = self.clone();
        out -= rhs;
        out
    }
}

impl Add<&Resources> for Resources {
    type Output = Resources;

    fn add(mut self, rhs: &Resources) -> Resources {
        self += rhs;
        self
    }
}

impl Sub<&Resources> for Resources {
    type Output = Resources;

    fn sub(mut self, rhs: &Resources) -> Resources {
        self -= rhs;
        self
    }
}
