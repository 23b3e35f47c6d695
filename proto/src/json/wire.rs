//! The fast path of the JSON writer: Mesos JSON straight from protobuf wire bytes,
//! walking the descriptors, without building a reflective message first.
//!
//! Events are encoded far more often than calls are decoded (every subscriber, every
//! offer and update), and a `DynamicMessage` allocates a map per message. Reading the
//! wire format directly gives the same text (checked against the reflective writer for
//! every message type in tests/every_message.rs) at a fraction of the cost.

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use prost_reflect::{Kind, MapKey, MessageDescriptor, Value};

use super::{has_explicit_default, write_float, write_scalar, write_str};

/// A field occurrence on the wire.
#[derive(Clone, Copy)]
enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Bytes(&'a [u8]),
}

/// The input is not protobuf this writer understands (groups, truncation). Never the
/// case for bytes prost produced; the caller then falls back to the reflective path.
#[derive(Debug)]
pub(crate) struct Unsupported;

fn varint(buf: &mut &[u8]) -> Result<u64, Unsupported> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = buf.split_first().ok_or(Unsupported)?;
        *buf = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(Unsupported)
}

fn take<'a>(buf: &mut &'a [u8], n: usize) -> Result<&'a [u8], Unsupported> {
    if buf.len() < n {
        return Err(Unsupported);
    }
    let (head, rest) = buf.split_at(n);
    *buf = rest;
    Ok(head)
}

fn fields(mut buf: &[u8]) -> Result<Vec<(u32, Wire<'_>)>, Unsupported> {
    let mut out = Vec::with_capacity(8);
    while !buf.is_empty() {
        let tag = varint(&mut buf)?;
        let number = u32::try_from(tag >> 3).map_err(|_| Unsupported)?;
        let wire = match tag & 7 {
            0 => Wire::Varint(varint(&mut buf)?),
            1 => Wire::Fixed64(u64::from_le_bytes(
                take(&mut buf, 8)?.try_into().map_err(|_| Unsupported)?,
            )),
            2 => {
                let len = usize::try_from(varint(&mut buf)?).map_err(|_| Unsupported)?;
                Wire::Bytes(take(&mut buf, len)?)
            }
            5 => Wire::Fixed32(u32::from_le_bytes(
                take(&mut buf, 4)?.try_into().map_err(|_| Unsupported)?,
            )),
            _ => return Err(Unsupported),
        };
        out.push((number, wire));
    }
    Ok(out)
}

/// Writes the message encoded in `bytes` as Mesos JSON.
pub(crate) fn write_message(
    desc: &MessageDescriptor,
    bytes: &[u8],
    out: &mut String,
) -> Result<(), Unsupported> {
    let mut entries = fields(bytes)?;
    // Stable: repeated elements keep their order within a field.
    entries.sort_by_key(|(number, _)| *number);
    out.push('{');
    let mut first = true;
    for field in desc.fields() {
        let number = field.number();
        let start = entries.partition_point(|(n, _)| *n < number);
        let end = entries.partition_point(|(n, _)| *n <= number);
        let occurrences = &entries[start..end];
        let kind = field.kind();

        if occurrences.is_empty() {
            if !field.is_list() && !field.is_map() && has_explicit_default(&field) {
                separator(&mut first, out);
                write_str(field.name(), out);
                out.push(':');
                write_scalar(&kind, &field.default_value(), out);
            }
            continue;
        }
        if field.is_map() {
            separator(&mut first, out);
            write_str(field.name(), out);
            out.push(':');
            write_map(&kind, occurrences, out)?;
        } else if field.is_list() {
            let mut items: Vec<Wire<'_>> = Vec::with_capacity(occurrences.len());
            for &(_, wire) in occurrences {
                match (wire, packable(&kind)) {
                    (Wire::Bytes(packed), true) => unpack(&kind, packed, &mut items)?,
                    (other, _) => items.push(other),
                }
            }
            if items.is_empty() {
                continue;
            }
            separator(&mut first, out);
            write_str(field.name(), out);
            out.push_str(":[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(&kind, *item, out)?;
            }
            out.push(']');
        } else {
            // Last occurrence wins, as protobuf parsers do for singular fields.
            let (_, wire) = occurrences[occurrences.len() - 1];
            separator(&mut first, out);
            write_str(field.name(), out);
            out.push(':');
            write_value(&kind, wire, out)?;
        }
    }
    out.push('}');
    Ok(())
}

fn separator(first: &mut bool, out: &mut String) {
    if !*first {
        out.push(',');
    }
    *first = false;
}

fn packable(kind: &Kind) -> bool {
    !matches!(kind, Kind::String | Kind::Bytes | Kind::Message(_))
}

fn unpack<'a>(
    kind: &Kind,
    mut packed: &'a [u8],
    items: &mut Vec<Wire<'a>>,
) -> Result<(), Unsupported> {
    while !packed.is_empty() {
        items.push(match kind {
            Kind::Double | Kind::Fixed64 | Kind::Sfixed64 => Wire::Fixed64(u64::from_le_bytes(
                take(&mut packed, 8)?.try_into().map_err(|_| Unsupported)?,
            )),
            Kind::Float | Kind::Fixed32 | Kind::Sfixed32 => Wire::Fixed32(u32::from_le_bytes(
                take(&mut packed, 4)?.try_into().map_err(|_| Unsupported)?,
            )),
            _ => Wire::Varint(varint(&mut packed)?),
        });
    }
    Ok(())
}

fn write_value(kind: &Kind, wire: Wire<'_>, out: &mut String) -> Result<(), Unsupported> {
    match (kind, wire) {
        (Kind::Message(desc), Wire::Bytes(bytes)) => return write_message(desc, bytes, out),
        (Kind::String, Wire::Bytes(bytes)) => write_str(&String::from_utf8_lossy(bytes), out),
        (Kind::Bytes, Wire::Bytes(bytes)) => write_str(&BASE64.encode(bytes), out),
        (Kind::Enum(_), Wire::Varint(v)) => write_scalar(kind, &Value::EnumNumber(v as i32), out),
        (Kind::Bool, Wire::Varint(v)) => out.push_str(if v != 0 { "true" } else { "false" }),
        // Casts below are the wire format's own conversions (two's complement varints).
        (Kind::Int32, Wire::Varint(v)) => push(out, v as i32),
        (Kind::Int64, Wire::Varint(v)) => push(out, v as i64),
        (Kind::Uint32, Wire::Varint(v)) => push(out, v as u32),
        (Kind::Uint64, Wire::Varint(v)) => push(out, v),
        (Kind::Sint32, Wire::Varint(v)) => push(out, ((v as u32) >> 1) as i32 ^ -((v & 1) as i32)),
        (Kind::Sint64, Wire::Varint(v)) => push(out, (v >> 1) as i64 ^ -((v & 1) as i64)),
        (Kind::Fixed32, Wire::Fixed32(v)) => push(out, v),
        (Kind::Sfixed32, Wire::Fixed32(v)) => push(out, v as i32),
        (Kind::Float, Wire::Fixed32(v)) => write_float(f64::from(f32::from_bits(v)), out),
        (Kind::Fixed64, Wire::Fixed64(v)) => push(out, v),
        (Kind::Sfixed64, Wire::Fixed64(v)) => push(out, v as i64),
        (Kind::Double, Wire::Fixed64(v)) => write_float(f64::from_bits(v), out),
        _ => return Err(Unsupported),
    }
    Ok(())
}

fn push(out: &mut String, v: impl std::fmt::Display) {
    let _ = write!(out, "{v}");
}

/// A map field: entries are messages {1: key, 2: value}; written as a JSON object with
/// keys sorted, like the reflective writer.
fn write_map(
    kind: &Kind,
    occurrences: &[(u32, Wire<'_>)],
    out: &mut String,
) -> Result<(), Unsupported> {
    let Kind::Message(entry) = kind else {
        return Err(Unsupported);
    };
    let key_kind = entry.map_entry_key_field().kind();
    let value_kind = entry.map_entry_value_field().kind();
    let mut pairs: Vec<(MapKey, Option<Wire<'_>>)> = Vec::with_capacity(occurrences.len());
    for &(_, wire) in occurrences {
        let Wire::Bytes(bytes) = wire else {
            return Err(Unsupported);
        };
        let mut key = None;
        let mut value = None;
        for (number, w) in fields(bytes)? {
            match number {
                1 => key = Some(w),
                2 => value = Some(w),
                _ => {}
            }
        }
        let key = match (&key_kind, key) {
            (Kind::String, Some(Wire::Bytes(b))) => {
                MapKey::String(String::from_utf8_lossy(b).into_owned())
            }
            (Kind::String, None) => MapKey::String(String::new()),
            (Kind::Bool, k) => MapKey::Bool(matches!(k, Some(Wire::Varint(v)) if v != 0)),
            (Kind::Int32 | Kind::Sint32 | Kind::Sfixed32, _)
            | (Kind::Int64 | Kind::Sint64 | Kind::Sfixed64, _)
            | (Kind::Uint32 | Kind::Fixed32, _)
            | (Kind::Uint64 | Kind::Fixed64, _) => {
                let mut text = String::new();
                match key {
                    Some(w) => write_value(&key_kind, w, &mut text)?,
                    None => text.push('0'),
                }
                MapKey::String(text)
            }
            _ => return Err(Unsupported),
        };
        // Later entries with the same key replace earlier ones.
        pairs.retain(|(k, _)| *k != key);
        pairs.push((key, value));
    }
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    out.push('{');
    for (i, (key, value)) in pairs.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let key_text = match key {
            MapKey::String(s) => s,
            MapKey::Bool(b) => b.to_string(),
            other => format!("{other:?}"),
        };
        write_str(&key_text, out);
        out.push(':');
        match value {
            Some(w) => write_value(&value_kind, w, out)?,
            None => write_scalar(&value_kind, &Value::default_value(&value_kind), out),
        }
    }
    out.push('}');
    Ok(())
}
