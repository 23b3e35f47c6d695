//! A pass over protobuf bytes, guided by the descriptor, that tells whether proto2's
//! checks would find anything to do: a `required` field missing, an enum number the
//! schema does not know. Most bodies are clean, and for them this replaces building
//! the whole message a second time in reflective form (a tree of dynamic values, most
//! of the cost of decoding a large call such as an agent's re-registration).

use prost_reflect::{Cardinality, FieldDescriptor, Kind, MessageDescriptor};

/// prost's own limit on message nesting; deeper input goes the careful way.
const MAX_DEPTH: u32 = 100;

/// True only when `bytes` parse as `desc` with every `required` field present in
/// every message they hold, every enum value known to the schema and every string
/// UTF-8: then the reflective decoding would succeed, drop nothing and report
/// nothing. False means "look closer", never that the bytes are bad; anything
/// unusual (groups, a field on a wire type its kind does not use, nesting past
/// prost's limit, a message field sent twice and missing a required field in one of
/// the copies) answers false.
pub(crate) fn plainly_valid(desc: &MessageDescriptor, bytes: &[u8]) -> bool {
    scan(desc, bytes, 0).is_some()
}

fn scan(desc: &MessageDescriptor, mut bytes: &[u8], depth: u32) -> Option<()> {
    if depth > MAX_DEPTH {
        return None;
    }
    // Field numbers of the required fields seen; a message has few of them.
    let mut required_seen: Vec<u32> = Vec::new();
    while !bytes.is_empty() {
        let key = varint(&mut bytes)?;
        let number = u32::try_from(key >> 3).ok().filter(|n| *n != 0)?;
        let field = desc.get_field(number);
        match key & 7 {
            0 => {
                let value = varint(&mut bytes)?;
                if let Some(field) = &field {
                    varint_fits(&field.kind(), value)?;
                }
            }
            1 => {
                take(&mut bytes, 8)?;
                if let Some(field) = &field {
                    matches!(field.kind(), Kind::Fixed64 | Kind::Sfixed64 | Kind::Double)
                        .then_some(())?;
                }
            }
            5 => {
                take(&mut bytes, 4)?;
                if let Some(field) = &field {
                    matches!(field.kind(), Kind::Fixed32 | Kind::Sfixed32 | Kind::Float)
                        .then_some(())?;
                }
            }
            2 => {
                let len = usize::try_from(varint(&mut bytes)?).ok()?;
                let data = take(&mut bytes, len)?;
                if let Some(field) = &field {
                    delimited_fits(field, data, depth)?;
                }
            }
            // Groups (3, 4) and wire types that do not exist.
            _ => return None,
        }
        if let Some(field) = field
            && field.cardinality() == Cardinality::Required
        {
            required_seen.push(number);
        }
    }
    desc.fields()
        .filter(|f| f.cardinality() == Cardinality::Required)
        .all(|f| required_seen.contains(&f.number()))
        .then_some(())
}

/// A varint-encoded value of a field of `kind`: only varint kinds, and for an enum
/// a number the schema knows (prost reads it as i32, truncating, and so do we).
fn varint_fits(kind: &Kind, value: u64) -> Option<()> {
    match kind {
        Kind::Int32
        | Kind::Int64
        | Kind::Uint32
        | Kind::Uint64
        | Kind::Sint32
        | Kind::Sint64
        | Kind::Bool => Some(()),
        #[allow(clippy::cast_possible_truncation)]
        Kind::Enum(e) => e.get_value(value as i32).map(|_| ()),
        _ => None,
    }
}

/// A length-delimited value of `field`: a message (map entries included), a string,
/// bytes, or a packed run of numbers.
fn delimited_fits(field: &FieldDescriptor, mut data: &[u8], depth: u32) -> Option<()> {
    match field.kind() {
        Kind::Message(inner) => scan(&inner, data, depth + 1),
        Kind::String => std::str::from_utf8(data).ok().map(|_| ()),
        Kind::Bytes => Some(()),
        kind if field.is_list() => match kind {
            Kind::Fixed64 | Kind::Sfixed64 | Kind::Double => {
                data.len().is_multiple_of(8).then_some(())
            }
            Kind::Fixed32 | Kind::Sfixed32 | Kind::Float => {
                data.len().is_multiple_of(4).then_some(())
            }
            kind => {
                while !data.is_empty() {
                    varint_fits(&kind, varint(&mut data)?)?;
                }
                Some(())
            }
        },
        _ => None,
    }
}

/// Reads a base-128 varint of at most 10 bytes.
fn varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for (i, byte) in bytes.iter().enumerate().take(10) {
        // The tenth byte holds the 64th bit only; more is an overflow prost refuses.
        if i == 9 && *byte > 1 {
            return None;
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            *bytes = &bytes[i + 1..];
            return Some(value);
        }
    }
    None
}

fn take<'a>(bytes: &mut &'a [u8], len: usize) -> Option<&'a [u8]> {
    if bytes.len() < len {
        return None;
    }
    let (head, rest) = bytes.split_at(len);
    *bytes = rest;
    Some(head)
}

#[cfg(test)]
mod tests;
