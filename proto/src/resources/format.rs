//! Resources written as Mesos writes them in logs and messages:
//! `cpus(allocated: web)(reservations: [(STATIC,web)]):2; ports:[31000-32000]`.

use std::fmt::{self, Display, Formatter, Write};

use crate::v1::resource::disk_info::source::Type as SourceType;
use crate::v1::resource::{DiskInfo, ReservationInfo, reservation_info};
use crate::v1::value::Type as ValueType;
use crate::v1::{Labels, Resource, Volume, volume};

use super::Resources;
use super::arith;

impl Display for Resources {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("{}");
        }
        for (i, resource) in self.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write_resource(f, resource)?;
        }
        Ok(())
    }
}

/// One resource in Mesos's text form, for error messages.
pub(crate) fn describe(resource: &Resource) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = write_resource(&mut out, resource);
    out
}

fn write_resource(out: &mut impl Write, resource: &Resource) -> fmt::Result {
    out.write_str(&resource.name)?;
    if let Some(allocation) = &resource.allocation_info {
        write!(
            out,
            "(allocated: {})",
            allocation.role.as_deref().unwrap_or_default()
        )?;
    }
    if !resource.reservations.is_empty() {
        out.write_str("(reservations: [")?;
        for (i, reservation) in resource.reservations.iter().enumerate() {
            if i > 0 {
                out.write_char(',')?;
            }
            out.write_char('(')?;
            write_reservation(out, reservation)?;
            out.write_char(')')?;
        }
        out.write_str("])")?;
    }
    if let Some(disk) = &resource.disk {
        out.write_char('[')?;
        write_disk(out, disk)?;
        out.write_char(']')?;
    }
    if resource.revocable.is_some() {
        out.write_str("{REV}")?;
    }
    if resource.shared.is_some() {
        out.write_str("<SHARED>")?;
    }
    out.write_char(':')?;
    match ValueType::try_from(resource.r#type) {
        Ok(ValueType::Scalar) => write!(out, "{}", arith::scalar(resource)),
        Ok(ValueType::Ranges) => {
            out.write_char('[')?;
            for (i, range) in arith::spans(resource).iter().enumerate() {
                if i > 0 {
                    out.write_str(", ")?;
                }
                write!(out, "{}-{}", range.begin, range.end)?;
            }
            out.write_char(']')
        }
        Ok(ValueType::Set) => {
            write!(out, "{{{}}}", arith::items(resource).join(", "))
        }
        _ => out.write_str("?"),
    }
}

fn write_reservation(out: &mut impl Write, reservation: &ReservationInfo) -> fmt::Result {
    let kind = reservation
        .r#type
        .and_then(|t| reservation_info::Type::try_from(t).ok())
        .unwrap_or(reservation_info::Type::Unknown);
    write!(
        out,
        "{},{}",
        kind.as_str_name(),
        reservation.role.as_deref().unwrap_or_default()
    )?;
    if let Some(principal) = &reservation.principal {
        write!(out, ",{principal}")?;
    }
    if let Some(labels) = &reservation.labels {
        out.write_char(',')?;
        write_labels(out, labels)?;
    }
    Ok(())
}

fn write_labels(out: &mut impl Write, labels: &Labels) -> fmt::Result {
    out.write_char('{')?;
    for (i, label) in labels.labels.iter().enumerate() {
        if i > 0 {
            out.write_str(", ")?;
        }
        out.write_str(&label.key)?;
        if let Some(value) = &label.value {
            write!(out, ": {value}")?;
        }
    }
    out.write_char('}')
}

fn write_disk(out: &mut impl Write, disk: &DiskInfo) -> fmt::Result {
    if let Some(source) = &disk.source {
        let kind = SourceType::try_from(source.r#type).unwrap_or(SourceType::Unknown);
        out.write_str(kind.as_str_name())?;
        if source.id.is_some() || source.profile.is_some() {
            write!(
                out,
                "({},{},{})",
                source.vendor.as_deref().unwrap_or_default(),
                source.id.as_deref().unwrap_or_default(),
                source.profile.as_deref().unwrap_or_default()
            )?;
        } else {
            let root = match kind {
                SourceType::Mount => source.mount.as_ref().and_then(|m| m.root.as_deref()),
                SourceType::Path => source.path.as_ref().and_then(|p| p.root.as_deref()),
                _ => None,
            };
            if let Some(root) = root {
                write!(out, ":{root}")?;
            }
        }
    }
    if let Some(persistence) = &disk.persistence {
        if disk.source.is_some() {
            out.write_char(',')?;
        }
        out.write_str(&persistence.id)?;
    }
    if let Some(volume) = &disk.volume {
        out.write_char(':')?;
        write_volume(out, volume)?;
    }
    Ok(())
}

fn write_volume(out: &mut impl Write, volume: &Volume) -> fmt::Result {
    if let Some(host_path) = &volume.host_path {
        write!(out, "{host_path}:")?;
    }
    out.write_str(&volume.container_path)?;
    if volume.host_path.is_some() {
        match volume::Mode::try_from(volume.mode) {
            Ok(volume::Mode::Rw) => out.write_str(":rw")?,
            Ok(volume::Mode::Ro) => out.write_str(":ro")?,
            _ => {}
        }
    }
    Ok(())
}
