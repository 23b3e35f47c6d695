//! Round trips for every message family of the schema: each message type in the
//! descriptor pool is filled with pseudo-random values (every scalar field set, nested
//! messages to a bounded depth), then taken through Mesos JSON and through protobuf,
//! and must come back equal. A fixed seed keeps failures reproducible.

use prost::Message as _;
use prost_reflect::{Cardinality, DynamicMessage, Kind, MapKey, MessageDescriptor, Value};
use ratufa_proto::{json, schema};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*: small and deterministic.
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn string(&mut self) -> String {
        const PIECES: &[&str] = &[
            "a", "Z", "0", " ", "-", "é", "ü", "日本", "🐿", "\"", "\\", "\n", "/",
        ];
        (0..self.below(6))
            .map(|_| PIECES[self.below(PIECES.len() as u64) as usize])
            .collect()
    }
}

fn scalar(kind: &Kind, rng: &mut Rng, depth: usize) -> Option<Value> {
    Some(match kind {
        Kind::Double => Value::F64((rng.below(2_000_000) as f64 - 1_000_000.0) / 8.0),
        Kind::Float => Value::F32((rng.below(2000) as f32 - 1000.0) / 4.0),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(rng.next() as i32),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(rng.next() as i64),
        Kind::Uint32 | Kind::Fixed32 => Value::U32(rng.next() as u32),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(rng.next()),
        Kind::Bool => Value::Bool(rng.below(2) == 1),
        Kind::String => Value::String(rng.string()),
        Kind::Bytes => Value::Bytes(
            (0..rng.below(20))
                .map(|_| rng.next() as u8)
                .collect::<Vec<_>>()
                .into(),
        ),
        Kind::Enum(e) => {
            let values: Vec<i32> = e.values().map(|v| v.number()).collect();
            Value::EnumNumber(values[rng.below(values.len() as u64) as usize])
        }
        Kind::Message(m) => Value::Message(fill(m, rng, depth + 1)?),
    })
}

/// Fills a message; `None` when it is too deep to fill a required nested message.
fn fill(desc: &MessageDescriptor, rng: &mut Rng, depth: usize) -> Option<DynamicMessage> {
    if depth > 12 {
        return None;
    }
    let mut message = DynamicMessage::new(desc.clone());
    for field in desc.fields() {
        let required = field.cardinality() == Cardinality::Required;
        let is_message = matches!(field.kind(), Kind::Message(_));
        // Optional nested messages stop at depth 3 so recursive types terminate.
        if is_message && !required && depth >= 3 {
            continue;
        }
        if field.is_map() {
            let Kind::Message(entry) = field.kind() else {
                continue;
            };
            let mut map = std::collections::HashMap::new();
            for _ in 0..=rng.below(2) {
                let key = match entry.map_entry_key_field().kind() {
                    Kind::String => MapKey::String(rng.string()),
                    _ => MapKey::I32(rng.next() as i32),
                };
                if let Some(v) = scalar(&entry.map_entry_value_field().kind(), rng, depth) {
                    map.insert(key, v);
                }
            }
            message.set_field(&field, Value::Map(map));
        } else if field.is_list() {
            let items: Vec<Value> = (0..=rng.below(2))
                .filter_map(|_| scalar(&field.kind(), rng, depth))
                .collect();
            if !items.is_empty() {
                message.set_field(&field, Value::List(items));
            }
        } else {
            match scalar(&field.kind(), rng, depth) {
                Some(v) => message.set_field(&field, v),
                None if required => return None,
                None => {}
            }
        }
    }
    Some(message)
}

fn every_message() -> Vec<MessageDescriptor> {
    schema::pool()
        .all_messages()
        .filter(|m| m.full_name().starts_with("mesos.v1") && !m.is_map_entry())
        .collect()
}

#[test]
fn the_schema_holds_the_whole_v1_api() {
    let names: Vec<String> = every_message()
        .iter()
        .map(|m| m.full_name().to_string())
        .collect();
    for expected in [
        "mesos.v1.scheduler.Call",
        "mesos.v1.scheduler.Event",
        "mesos.v1.executor.Call",
        "mesos.v1.executor.Event",
        "mesos.v1.master.Call",
        "mesos.v1.master.Response",
        "mesos.v1.master.Event",
        "mesos.v1.agent.Call",
        "mesos.v1.agent.Response",
        "mesos.v1.TaskStatus",
        "mesos.v1.Offer.Operation",
        "mesos.v1.Resource.DiskInfo.Persistence",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected} missing");
    }
    assert!(names.len() > 300, "only {} messages", names.len());
}

#[test]
fn every_message_round_trips_through_json_and_protobuf() {
    let mut rng = Rng(0x5eed_cafe_f00d_0001);
    let mut checked = 0;
    for desc in every_message() {
        for round in 0..3 {
            let Some(original) = fill(&desc, &mut rng, 0) else {
                panic!("could not fill {}", desc.full_name());
            };

            let bytes = original.encode_to_vec();
            let from_proto = DynamicMessage::decode(desc.clone(), bytes.as_slice())
                .unwrap_or_else(|e| panic!("{} protobuf: {e}", desc.full_name()));
            assert_eq!(
                from_proto,
                original,
                "{} protobuf round {round}",
                desc.full_name()
            );

            let text = json::encode_dynamic(&original);
            // The fast writer (straight from the wire bytes) must write the same text.
            let fast = json::encode_wire(&desc, &bytes).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&fast),
                String::from_utf8_lossy(&text),
                "{} fast JSON writer differs",
                desc.full_name()
            );
            let from_json = json::decode_dynamic(&desc, &text).unwrap_or_else(|e| {
                panic!(
                    "{} JSON round {round}: {e}\n{}",
                    desc.full_name(),
                    String::from_utf8_lossy(&text)
                )
            });
            // Compared as messages: map entries have no order on the wire.
            assert_eq!(
                from_json,
                original,
                "{} JSON round {round}:\n{}",
                desc.full_name(),
                String::from_utf8_lossy(&text)
            );
            checked += 1;
        }
    }
    assert!(checked > 900);
}

/// The typed path (prost struct → Mesos JSON → prost struct) for the API roots.
#[test]
fn typed_api_roots_round_trip_through_json() {
    use ratufa_proto::v1::{agent, executor, master, scheduler};
    use ratufa_proto::{Encoding, MesosMessage};

    fn check<M: MesosMessage + std::fmt::Debug + PartialEq>(rng: &mut Rng) {
        let desc = schema::descriptor::<M>().unwrap();
        for _ in 0..20 {
            let bytes = fill(&desc, rng, 0).unwrap().encode_to_vec();
            let typed = M::decode(bytes.as_slice()).unwrap();
            let text = Encoding::Json.encode(&typed);
            let back: M = Encoding::Json.decode(&text).unwrap();
            assert_eq!(back, typed, "{}", String::from_utf8_lossy(&text));
        }
    }
    let mut rng = Rng(42);
    check::<scheduler::Call>(&mut rng);
    check::<scheduler::Event>(&mut rng);
    check::<executor::Call>(&mut rng);
    check::<executor::Event>(&mut rng);
    check::<master::Call>(&mut rng);
    check::<master::Event>(&mut rng);
    check::<master::Response>(&mut rng);
    check::<agent::Call>(&mut rng);
    check::<agent::Response>(&mut rng);
}
