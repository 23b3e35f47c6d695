//! Mesos's JSON mapping of protobuf messages — the one Mesos's own HTTP APIs speak,
//! which differs from proto3's canonical JSON mapping:
//!
//! * field names exactly as in the .proto (snake_case), never lowerCamelCase;
//! * enums by value name; bytes as standard base64; 64-bit integers as bare numbers;
//! * repeated fields written only when non-empty; unset optional fields that carry an
//!   explicit `[default = …]` in the .proto (and are not deprecated) written with that
//!   default; fields in declaration order;
//! * reading: unknown keys ignored, `null` means unset, numbers and booleans may come as
//!   strings, doubles accept `"Infinity"`/`"-Infinity"`, a single value is accepted where
//!   a repeated field is expected, an unknown enum name is dropped for optional and
//!   repeated fields but is an error for required ones, and a missing required field is
//!   an error naming its path.
//!
//! The mapping walks the descriptors compiled from our .proto files, so it covers every
//! message without generated code per type.

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use prost_reflect::{
    Cardinality, DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor, ReflectMessage,
    Value,
};
use serde_json::Value as Json;

mod wire;

use crate::schema::{self, join};
use crate::{MesosMessage, ProtoError};

/// Encodes a message as Mesos JSON.
pub fn encode<M: MesosMessage>(message: &M) -> Vec<u8> {
    if let Ok(desc) = schema::descriptor::<M>() {
        let bytes = message.encode_to_vec();
        // JSON runs about twice the protobuf size; one allocation in the common case.
        let mut out = String::with_capacity(bytes.len() * 5 / 2 + 16);
        if wire::write_message(&desc, &bytes, &mut out).is_ok() {
            return out.into_bytes();
        }
    }
    let mut out = String::with_capacity(256);
    match schema::to_dynamic(message) {
        Ok(dynamic) => write_message(&dynamic, &mut out),
        // Only reachable if a type is missing from our own descriptor set. Write an
        // empty object rather than panic in a server.
        Err(_) => out.push_str("{}"),
    }
    out.into_bytes()
}

/// Encodes protobuf bytes of the given type as Mesos JSON without building a typed or
/// reflective message (the path `encode` takes).
pub fn encode_wire(desc: &MessageDescriptor, bytes: &[u8]) -> Result<Vec<u8>, ProtoError> {
    let mut out = String::with_capacity(bytes.len() * 2 + 16);
    wire::write_message(desc, bytes, &mut out).map_err(|_| {
        ProtoError::Protobuf(format!("cannot transcode {} to JSON", desc.full_name()))
    })?;
    Ok(out.into_bytes())
}

/// Encodes a message as a `serde_json::Value` (for tests and operator endpoints that
/// embed messages in larger documents).
pub fn to_value<M: MesosMessage>(message: &M) -> Json {
    serde_json::from_slice(&encode(message)).unwrap_or(Json::Null)
}

/// Encodes a reflective message as Mesos JSON (any type in [`schema::pool`]).
pub fn encode_dynamic(message: &DynamicMessage) -> Vec<u8> {
    let mut out = String::with_capacity(128);
    write_message(message, &mut out);
    out.into_bytes()
}

/// Decodes Mesos JSON into a reflective message of the given type, checking that its
/// required fields are present.
pub fn decode_dynamic(
    desc: &MessageDescriptor,
    bytes: &[u8],
) -> Result<DynamicMessage, ProtoError> {
    let json: Json =
        serde_json::from_slice(bytes).map_err(|e| ProtoError::Syntax(e.to_string()))?;
    let dynamic = parse_message(desc, &json, "")?;
    schema::check_required_dynamic(&dynamic, "")?;
    Ok(dynamic)
}

/// Decodes Mesos JSON bytes into a message.
pub fn decode<M: MesosMessage>(bytes: &[u8]) -> Result<M, ProtoError> {
    let json: Json =
        serde_json::from_slice(bytes).map_err(|e| ProtoError::Syntax(e.to_string()))?;
    from_value(&json)
}

/// Decodes an already parsed JSON value into a message.
pub fn from_value<M: MesosMessage>(json: &Json) -> Result<M, ProtoError> {
    let desc = schema::descriptor::<M>()?;
    let dynamic = parse_message(&desc, json, "")?;
    schema::check_required_dynamic(&dynamic, "")?;
    let bytes = prost::Message::encode_to_vec(&dynamic);
    M::decode(bytes.as_slice()).map_err(|e| ProtoError::Protobuf(e.to_string()))
}

// ---------------------------------------------------------------------------------
// Writing

fn write_message(message: &DynamicMessage, out: &mut String) {
    out.push('{');
    let mut first = true;
    for field in message.descriptor().fields() {
        let value = if field.is_list() || field.is_map() {
            if !message.has_field(&field) {
                continue;
            }
            message.get_field(&field)
        } else if message.has_field(&field) {
            message.get_field(&field)
        } else if has_explicit_default(&field) {
            // Unset, but the .proto names a default: Mesos writes it (e.g.
            // Filters.refuse_seconds = 5.0), and clients rely on seeing it.
            message.get_field(&field)
        } else {
            continue;
        };
        if !first {
            out.push(',');
        }
        first = false;
        write_str(field.name(), out);
        out.push(':');
        write_field_value(&field, &value, out);
    }
    out.push('}');
}

pub(crate) fn has_explicit_default(field: &FieldDescriptor) -> bool {
    let proto = field.field_descriptor_proto();
    let deprecated = proto.options.as_ref().is_some_and(|o| o.deprecated());
    proto.default_value.is_some() && !deprecated
}

fn write_field_value(field: &FieldDescriptor, value: &Value, out: &mut String) {
    match value {
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_scalar(&field.kind(), item, out);
            }
            out.push(']');
        }
        Value::Map(entries) => {
            let value_kind = match field.kind() {
                Kind::Message(entry) => entry.map_entry_value_field().kind(),
                other => other,
            };
            // Sorted keys make the output deterministic (maps have no order on the wire).
            let mut keys: Vec<&MapKey> = entries.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let key_text = match key {
                    MapKey::Bool(b) => b.to_string(),
                    MapKey::I32(v) => v.to_string(),
                    MapKey::I64(v) => v.to_string(),
                    MapKey::U32(v) => v.to_string(),
                    MapKey::U64(v) => v.to_string(),
                    MapKey::String(s) => s.clone(),
                };
                write_str(&key_text, out);
                out.push(':');
                if let Some(v) = entries.get(key) {
                    write_scalar(&value_kind, v, out);
                }
            }
            out.push('}');
        }
        other => write_scalar(&field.kind(), other, out),
    }
}

pub(crate) fn write_scalar(kind: &Kind, value: &Value, out: &mut String) {
    match value {
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::I32(v) => {
            let _ = write!(out, "{v}");
        }
        Value::I64(v) => {
            let _ = write!(out, "{v}");
        }
        Value::U32(v) => {
            let _ = write!(out, "{v}");
        }
        Value::U64(v) => {
            let _ = write!(out, "{v}");
        }
        Value::F32(v) => write_float(f64::from(*v), out),
        Value::F64(v) => write_float(*v, out),
        Value::String(s) => write_str(s, out),
        Value::Bytes(b) => write_str(&BASE64.encode(b), out),
        Value::EnumNumber(n) => {
            let name = match kind {
                Kind::Enum(e) => e.get_value(*n).map(|v| v.name().to_string()),
                _ => None,
            };
            match name {
                Some(name) => write_str(&name, out),
                // A number this build does not know (a newer peer): keep it, as a number.
                None => {
                    let _ = write!(out, "{n}");
                }
            }
        }
        Value::Message(m) => write_message(m, out),
        // Nested lists and maps do not occur inside a field's element.
        Value::List(_) | Value::Map(_) => out.push_str("null"),
    }
}

/// A double as the mapping writes it (`"Infinity"` and the like in quotes), for
/// writers that put documents together from parts.
pub fn float_text(v: f64) -> String {
    let mut out = String::new();
    write_float(v, &mut out);
    out
}

pub(crate) fn write_float(v: f64, out: &mut String) {
    if v.is_finite() {
        // serde_json prints the shortest representation that round-trips.
        match serde_json::to_string(&v) {
            Ok(s) => out.push_str(&s),
            Err(_) => out.push('0'),
        }
    } else if v.is_nan() {
        out.push_str("\"NaN\"");
    } else if v > 0.0 {
        out.push_str("\"Infinity\"");
    } else {
        out.push_str("\"-Infinity\"");
    }
}

pub(crate) fn write_str(s: &str, out: &mut String) {
    out.reserve(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

// ---------------------------------------------------------------------------------
// Reading

fn field_error(path: &str, message: impl Into<String>) -> ProtoError {
    ProtoError::Field {
        path: path.to_string(),
        message: message.into(),
    }
}

fn describe(json: &Json) -> String {
    let text = json.to_string();
    let kind = match json {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    };
    if text.len() > 40 {
        kind.to_string()
    } else {
        format!("{kind} {text}")
    }
}

fn parse_message(
    desc: &MessageDescriptor,
    json: &Json,
    path: &str,
) -> Result<DynamicMessage, ProtoError> {
    let Json::Object(object) = json else {
        let message = format!(
            "expected a JSON object (message {}), got {}",
            desc.name(),
            describe(json)
        );
        if path.is_empty() {
            return Err(ProtoError::Shape(format!("the body: {message}")));
        }
        return Err(field_error(path, message));
    };
    let mut message = DynamicMessage::new(desc.clone());
    for (key, value) in object {
        // Unknown keys are ignored, as Mesos does, so newer clients work with us.
        let Some(field) = desc.get_field_by_name(key) else {
            continue;
        };
        if value.is_null() {
            continue;
        }
        let field_path = join(path, key);
        if field.is_map() {
            let map = parse_map(&field, value, &field_path)?;
            message.set_field(&field, map);
        } else if field.is_list() {
            let items: Vec<&Json> = match value {
                Json::Array(items) => items.iter().collect(),
                // Mesos accepts a lone value for a repeated field.
                single => vec![single],
            };
            let mut list = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                if item.is_null() {
                    continue;
                }
                let item_path = format!("{field_path}[{i}]");
                if let Some(v) = parse_value(&field.kind(), item, &item_path, false)? {
                    list.push(v);
                }
            }
            if !list.is_empty() {
                message.set_field(&field, Value::List(list));
            }
        } else {
            let required = field.cardinality() == Cardinality::Required;
            if let Some(v) = parse_value(&field.kind(), value, &field_path, required)? {
                message.set_field(&field, v);
            }
        }
    }
    Ok(message)
}

fn parse_map(field: &FieldDescriptor, json: &Json, path: &str) -> Result<Value, ProtoError> {
    let Kind::Message(entry) = field.kind() else {
        return Err(field_error(path, "map field without an entry type"));
    };
    let Json::Object(object) = json else {
        return Err(field_error(
            path,
            format!("expected a JSON object (a map), got {}", describe(json)),
        ));
    };
    let key_kind = entry.map_entry_key_field().kind();
    let value_kind = entry.map_entry_value_field().kind();
    let mut map = std::collections::HashMap::with_capacity(object.len());
    for (k, v) in object {
        let entry_path = format!("{path}[{k:?}]");
        let key = match parse_value(&key_kind, &Json::String(k.clone()), &entry_path, true)? {
            Some(Value::String(s)) => MapKey::String(s),
            Some(Value::Bool(b)) => MapKey::Bool(b),
            Some(Value::I32(x)) => MapKey::I32(x),
            Some(Value::I64(x)) => MapKey::I64(x),
            Some(Value::U32(x)) => MapKey::U32(x),
            Some(Value::U64(x)) => MapKey::U64(x),
            _ => return Err(field_error(&entry_path, "unsupported map key")),
        };
        if v.is_null() {
            continue;
        }
        if let Some(value) = parse_value(&value_kind, v, &entry_path, false)? {
            map.insert(key, value);
        }
    }
    Ok(Value::Map(map))
}

/// Parses one JSON value for a field of `kind`. `Ok(None)` means "leave unset": an
/// unknown enum name on a non-required field, as proto2 drops unknown enum values.
fn parse_value(
    kind: &Kind,
    json: &Json,
    path: &str,
    required: bool,
) -> Result<Option<Value>, ProtoError> {
    let value = match kind {
        Kind::Message(desc) => Value::Message(parse_message(desc, json, path)?),
        Kind::Enum(e) => {
            let found = match json {
                Json::String(name) => e.get_value_by_name(name).map(|v| v.number()),
                // Not Mesos's format, but unambiguous: accept a known enum number.
                Json::Number(n) => n
                    .as_i64()
                    .and_then(|n| i32::try_from(n).ok())
                    .and_then(|n| e.get_value(n).map(|v| v.number())),
                other => {
                    return Err(field_error(
                        path,
                        format!(
                            "expected the name of a {} value, got {}",
                            e.name(),
                            describe(other)
                        ),
                    ));
                }
            };
            match found {
                Some(n) => Value::EnumNumber(n),
                None if required => {
                    let names: Vec<String> = e.values().map(|v| v.name().to_string()).collect();
                    return Err(field_error(
                        path,
                        format!(
                            "unknown {} value {}; expected one of {}",
                            e.name(),
                            json,
                            names.join(", ")
                        ),
                    ));
                }
                None => return Ok(None),
            }
        }
        Kind::String => match json {
            Json::String(s) => Value::String(s.clone()),
            other => {
                return Err(field_error(
                    path,
                    format!("expected a string, got {}", describe(other)),
                ));
            }
        },
        Kind::Bytes => match json {
            Json::String(s) => Value::Bytes(
                BASE64
                    .decode(s.as_bytes())
                    .map_err(|e| field_error(path, format!("expected base64 bytes: {e}")))?
                    .into(),
            ),
            other => {
                return Err(field_error(
                    path,
                    format!("expected a base64 string, got {}", describe(other)),
                ));
            }
        },
        Kind::Bool => match json {
            Json::Bool(b) => Value::Bool(*b),
            Json::String(s) if s == "true" => Value::Bool(true),
            Json::String(s) if s == "false" => Value::Bool(false),
            other => {
                return Err(field_error(
                    path,
                    format!("expected a boolean, got {}", describe(other)),
                ));
            }
        },
        Kind::Double | Kind::Float => {
            let v = match json {
                Json::Number(n) => n.as_f64(),
                Json::String(s) => match s.as_str() {
                    "Infinity" => Some(f64::INFINITY),
                    "-Infinity" => Some(f64::NEG_INFINITY),
                    "NaN" => Some(f64::NAN),
                    other => other.trim().parse::<f64>().ok(),
                },
                _ => None,
            }
            .ok_or_else(|| {
                field_error(path, format!("expected a number, got {}", describe(json)))
            })?;
            if matches!(kind, Kind::Float) {
                Value::F32(v as f32)
            } else {
                Value::F64(v)
            }
        }
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            let v = integer(json, path)?;
            Value::I32(
                i32::try_from(v)
                    .map_err(|_| field_error(path, format!("{v} does not fit a 32-bit integer")))?,
            )
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            let v = integer(json, path)?;
            Value::I64(
                i64::try_from(v)
                    .map_err(|_| field_error(path, format!("{v} does not fit a 64-bit integer")))?,
            )
        }
        Kind::Uint32 | Kind::Fixed32 => {
            let v = integer(json, path)?;
            Value::U32(u32::try_from(v).map_err(|_| {
                field_error(path, format!("{v} does not fit an unsigned 32-bit integer"))
            })?)
        }
        Kind::Uint64 | Kind::Fixed64 => {
            let v = integer(json, path)?;
            Value::U64(u64::try_from(v).map_err(|_| {
                field_error(path, format!("{v} does not fit an unsigned 64-bit integer"))
            })?)
        }
    };
    Ok(Some(value))
}

/// An integer from a JSON number or numeric string. Integral floats (`5.0`, `1e3`) are
/// accepted, as Mesos's parser converts any JSON number; fractions are refused rather
/// than silently truncated.
fn integer(json: &Json, path: &str) -> Result<i128, ProtoError> {
    let number = match json {
        Json::Number(n) => n.clone(),
        Json::String(s) => serde_json::from_str::<serde_json::Number>(s.trim()).map_err(|_| {
            field_error(path, format!("expected an integer, got {}", describe(json)))
        })?,
        other => {
            return Err(field_error(
                path,
                format!("expected an integer, got {}", describe(other)),
            ));
        }
    };
    if let Some(v) = number.as_i64() {
        return Ok(i128::from(v));
    }
    if let Some(v) = number.as_u64() {
        return Ok(i128::from(v));
    }
    match number.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 1.8e19 => Ok(f as i128),
        _ => Err(field_error(
            path,
            format!("expected an integer, got {}", describe(json)),
        )),
    }
}
