//! The operator API's big answers (GET_STATE, GET_TASKS, GET_AGENTS, GET_FRAMEWORKS,
//! GET_EXECUTORS, and SUBSCRIBE's SUBSCRIBED) written element by element from the
//! snapshot instead of built whole: at 20,000 agents and 200,000 tasks the built
//! `Response` alone was hundreds of MiB and its JSON took seconds.
//!
//! An answer is a tree of [`Parts`]: its small fields, the messages that hold the
//! lists, and the lists, whose elements are encoded one at a time when written. A
//! task comes from its stored record's bytes ([`TaskEntry::encode_task`]) without
//! being decoded. Protobuf: fields in number order as prost writes them, each
//! message's length counted first (one pass over its lists), then the bytes. JSON:
//! fields in declaration order as Mesos's JSON mapping writes them, empty lists left
//! out, each element's protobuf bytes put through that mapping
//! ([`ratufa_proto::json::encode_wire`]). Either way the bytes go out in chunks as
//! they are written; the tests check both against encoding the built message.

use std::cell::OnceCell;
use std::sync::Arc;

use prost::Message;
use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint, key_len};
use prost_reflect::{Kind, MessageDescriptor};
use ratufa_proto::Encoding;
use ratufa_proto::v1::AgentId;
use ratufa_proto::v1::master::response;
use ratufa_proto::v1::master::{Event, Response, call, event};

use super::super::chunks::Chunks;
use super::super::state::Clock;
use super::views;
use crate::core::{FrameworkSnapshot, StateSnapshot, TaskEntry};

/// Hands each element's encoding to the visitor, in order, until it answers false.
type Each<'a> = Box<dyn Fn(&mut dyn FnMut(&[u8]) -> bool) + 'a>;

/// One field of a message written in parts.
enum Part<'a> {
    /// An enum field: its number (written by name in JSON).
    Enum(i32),
    Double(f64),
    Message(Parts<'a>),
    /// A repeated message field.
    List(Each<'a>),
}

/// A message written in parts: its fields, by number.
struct Parts<'a> {
    desc: MessageDescriptor,
    fields: Vec<(u32, Part<'a>)>,
    /// The protobuf length, once counted.
    len: OnceCell<usize>,
}

/// A descriptor our own schema lacks: a bug, reported rather than panicked on.
#[derive(Debug)]
struct Unwritable(String);

impl<'a> Parts<'a> {
    fn new(desc: MessageDescriptor) -> Parts<'a> {
        Parts {
            desc,
            fields: Vec::new(),
            len: OnceCell::new(),
        }
    }

    /// The message type of field `number`.
    fn child_desc(&self, number: u32) -> Result<MessageDescriptor, Unwritable> {
        match self.desc.get_field(number).map(|f| f.kind()) {
            Some(Kind::Message(desc)) => Ok(desc),
            _ => Err(Unwritable(format!(
                "{} has no message field {number}",
                self.desc.full_name()
            ))),
        }
    }

    fn put(&mut self, number: u32, part: Part<'a>) {
        self.fields.push((number, part));
    }

    /// Field `number`, a message written in parts by `fill`.
    fn message(
        &mut self,
        number: u32,
        fill: impl FnOnce(&mut Parts<'a>) -> Result<(), Unwritable>,
    ) -> Result<(), Unwritable> {
        let mut child = Parts::new(self.child_desc(number)?);
        fill(&mut child)?;
        self.put(number, Part::Message(child));
        Ok(())
    }

    /// Field `number`, repeated: `encode` writes each of `items()` (called once per
    /// pass) in protobuf.
    fn list<T, I>(
        &mut self,
        number: u32,
        items: impl Fn() -> I + 'a,
        encode: impl Fn(T, &mut Vec<u8>) + 'a,
    ) where
        I: Iterator<Item = T>,
    {
        let each: Each<'a> = Box::new(move |visit| {
            let mut scratch = Vec::new();
            for item in items() {
                scratch.clear();
                encode(item, &mut scratch);
                if !visit(&scratch) {
                    return;
                }
            }
        });
        self.put(number, Part::List(each));
    }

    /// The protobuf length of the message.
    fn len(&self) -> usize {
        *self.len.get_or_init(|| {
            let mut total = 0;
            for (number, part) in &self.fields {
                let key = key_len(*number);
                total += match part {
                    Part::Enum(value) => key + encoded_len_varint(*value as i64 as u64),
                    Part::Double(_) => key + 8,
                    Part::Message(parts) => {
                        let len = parts.len();
                        key + encoded_len_varint(len as u64) + len
                    }
                    Part::List(each) => {
                        let mut sum = 0;
                        each(&mut |bytes| {
                            sum += key + encoded_len_varint(bytes.len() as u64) + bytes.len();
                            true
                        });
                        sum
                    }
                };
            }
            total
        })
    }

    /// Writes the message in protobuf (without its own key and length). False when
    /// the client went away.
    fn write_protobuf(&self, out: &mut Chunks) -> bool {
        let mut fields: Vec<&(u32, Part<'a>)> = self.fields.iter().collect();
        fields.sort_by_key(|(number, _)| *number);
        for (number, part) in fields {
            let number = *number;
            match part {
                Part::Enum(value) => {
                    encode_key(number, WireType::Varint, &mut out.buf);
                    encode_varint(*value as i64 as u64, &mut out.buf);
                }
                Part::Double(value) => {
                    encode_key(number, WireType::SixtyFourBit, &mut out.buf);
                    out.buf.extend_from_slice(&value.to_le_bytes());
                }
                Part::Message(parts) => {
                    encode_key(number, WireType::LengthDelimited, &mut out.buf);
                    encode_varint(parts.len() as u64, &mut out.buf);
                    if !parts.write_protobuf(out) {
                        return false;
                    }
                }
                Part::List(each) => {
                    let mut open = true;
                    each(&mut |bytes| {
                        encode_key(number, WireType::LengthDelimited, &mut out.buf);
                        encode_varint(bytes.len() as u64, &mut out.buf);
                        out.buf.extend_from_slice(bytes);
                        open = out.boundary();
                        open
                    });
                    if !open {
                        return false;
                    }
                }
            }
        }
        true
    }

    /// Writes the message in Mesos's JSON mapping. False when the client went away.
    fn write_json(&self, out: &mut Chunks) -> Result<bool, Unwritable> {
        out.buf.push(b'{');
        let mut first = true;
        let mut key = |out: &mut Chunks, name: &str| {
            if !first {
                out.buf.push(b',');
            }
            first = false;
            write_json_str(out, name);
            out.buf.push(b':');
        };
        for field in self.desc.fields() {
            let Some((_, part)) = self.fields.iter().find(|(n, _)| *n == field.number()) else {
                continue;
            };
            match part {
                Part::Enum(value) => {
                    let name = match field.kind() {
                        Kind::Enum(e) => e.get_value(*value).map(|v| v.name().to_string()),
                        _ => None,
                    };
                    let name = name.ok_or_else(|| {
                        Unwritable(format!(
                            "{} is no enum value of {}",
                            value,
                            field.full_name()
                        ))
                    })?;
                    key(out, field.name());
                    write_json_str(out, &name);
                }
                Part::Double(value) => {
                    key(out, field.name());
                    out.buf
                        .extend_from_slice(ratufa_proto::json::float_text(*value).as_bytes());
                }
                Part::Message(parts) => {
                    key(out, field.name());
                    if !parts.write_json(out)? {
                        return Ok(false);
                    }
                }
                Part::List(each) => {
                    let Kind::Message(desc) = field.kind() else {
                        return Err(Unwritable(format!(
                            "{} is no list of messages",
                            field.full_name()
                        )));
                    };
                    let mut opened = false;
                    let mut failed = None;
                    let mut open = true;
                    each(&mut |bytes| {
                        match ratufa_proto::json::encode_wire(&desc, bytes) {
                            Ok(json) => {
                                if opened {
                                    out.buf.push(b',');
                                } else {
                                    key(out, field.name());
                                    out.buf.push(b'[');
                                    opened = true;
                                }
                                out.buf.extend_from_slice(&json);
                            }
                            Err(e) => {
                                failed = Some(e.to_string());
                                return false;
                            }
                        }
                        open = out.boundary();
                        open
                    });
                    if let Some(why) = failed {
                        return Err(Unwritable(why));
                    }
                    if !open {
                        return Ok(false);
                    }
                    if opened {
                        out.buf.push(b']');
                    }
                }
            }
        }
        out.buf.push(b'}');
        Ok(true)
    }

    /// Writes the whole message in `encoding`. False when the client went away.
    fn write_to(&self, encoding: Encoding, out: &mut Chunks) -> Result<bool, Unwritable> {
        match encoding {
            Encoding::Protobuf => Ok(self.write_protobuf(out)),
            Encoding::Json => self.write_json(out),
        }
    }
}

fn write_json_str(out: &mut Chunks, text: &str) {
    // Writing to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut out.buf, text);
}

/// Whether `kind` is a read answered here: GET_STATE, GET_AGENTS, GET_FRAMEWORKS,
/// GET_EXECUTORS, GET_TASKS.
pub(super) fn is_big(kind: call::Type) -> bool {
    use call::Type as T;
    matches!(
        kind,
        T::GetState | T::GetAgents | T::GetFrameworks | T::GetExecutors | T::GetTasks
    )
}

/// Writes the answer to `kind` (see [`is_big`]) in `encoding` to `out`.
pub(super) fn write(snapshot: &StateSnapshot, kind: call::Type, encoding: Encoding, out: Chunks) {
    let mut out = out;
    match answer(snapshot, kind).and_then(|parts| parts.write_to(encoding, &mut out)) {
        Ok(_) => out.finish(),
        Err(Unwritable(why)) => out.fail(&why),
    }
}

/// The `Response` to a big read, in parts.
fn answer(snapshot: &StateSnapshot, kind: call::Type) -> Result<Parts<'_>, Unwritable> {
    use call::Type as T;
    use response::Type as R;
    // Each answer's type and its field in `Response`.
    let (r#type, number, fill): (R, u32, Fill<'_>) = match kind {
        T::GetState => (R::GetState, 9, state),
        T::GetAgents => (R::GetAgents, 10, agents),
        T::GetFrameworks => (R::GetFrameworks, 11, frameworks),
        T::GetExecutors => (R::GetExecutors, 12, executors),
        T::GetTasks => (R::GetTasks, 13, tasks),
        other => {
            return Err(Unwritable(format!(
                "{} is not written in parts",
                other.as_str_name()
            )));
        }
    };
    response_parts(snapshot, r#type, number, fill)
}

/// The SUBSCRIBED event of an operator SUBSCRIBE (the whole state, and the interval
/// of the heartbeats to follow), encoded whole: a RecordIO record starts with its
/// length.
pub(super) fn subscribed(
    snapshot: &StateSnapshot,
    heartbeat_interval_seconds: f64,
    encoding: Encoding,
) -> Result<Vec<u8>, String> {
    let desc = ratufa_proto::schema::descriptor::<Event>().map_err(|e| e.to_string())?;
    let mut parts = Parts::new(desc);
    parts.put(1, Part::Enum(event::Type::Subscribed as i32));
    parts
        .message(2, |subscribed| {
            subscribed.message(1, |p| state(p, snapshot))?;
            subscribed.put(2, Part::Double(heartbeat_interval_seconds));
            Ok(())
        })
        .map_err(|Unwritable(why)| why)?;
    // Protobuf's length is counted before it is written anyway: the record's buffer
    // is allocated once, rather than grown by doubling (each step copying what was
    // written, both copies resident meanwhile). JSON's is not known ahead.
    let mut out = match encoding {
        Encoding::Protobuf => Chunks::whole_with_capacity(parts.len()),
        Encoding::Json => Chunks::whole(),
    };
    parts
        .write_to(encoding, &mut out)
        .map_err(|Unwritable(why)| why)?;
    Ok(out.into_bytes())
}

/// Fills a message's parts from the snapshot.
type Fill<'a> = fn(&mut Parts<'a>, &'a StateSnapshot) -> Result<(), Unwritable>;

fn response_parts<'a>(
    snapshot: &'a StateSnapshot,
    r#type: response::Type,
    number: u32,
    fill: Fill<'a>,
) -> Result<Parts<'a>, Unwritable> {
    let desc =
        ratufa_proto::schema::descriptor::<Response>().map_err(|e| Unwritable(e.to_string()))?;
    let mut parts = Parts::new(desc);
    parts.put(1, Part::Enum(r#type as i32));
    parts.message(number, |p| fill(p, snapshot))?;
    Ok(parts)
}

/// `GetState`: tasks, executors, frameworks, agents.
fn state<'a>(parts: &mut Parts<'a>, snapshot: &'a StateSnapshot) -> Result<(), Unwritable> {
    parts.message(1, |p| tasks(p, snapshot))?;
    parts.message(2, |p| executors(p, snapshot))?;
    parts.message(3, |p| frameworks(p, snapshot))?;
    parts.message(4, |p| agents(p, snapshot))
}

/// `GetTasks`: active, unreachable and completed tasks, of removed frameworks too.
fn tasks<'a>(parts: &mut Parts<'a>, snapshot: &'a StateSnapshot) -> Result<(), Unwritable> {
    let list =
        |parts: &mut Parts<'a>, number: u32, pick: fn(&FrameworkSnapshot) -> &[Arc<TaskEntry>]| {
            parts.list(
                number,
                move || {
                    snapshot
                        .frameworks
                        .iter()
                        .chain(&snapshot.completed_frameworks)
                        .flat_map(move |f| pick(f).iter())
                },
                |task: &Arc<TaskEntry>, out| task.encode_task(out),
            );
        };
    list(parts, 2, |f| &f.tasks);
    list(parts, 5, |f| &f.unreachable_tasks);
    list(parts, 3, |f| &f.completed_tasks);
    Ok(())
}

/// `GetExecutors`: the executors frameworks gave, with their agents.
fn executors<'a>(parts: &mut Parts<'a>, snapshot: &'a StateSnapshot) -> Result<(), Unwritable> {
    parts.list(
        1,
        move || snapshot.frameworks.iter().flat_map(|f| &f.executors),
        |(agent_id, executor): &(String, _), out| {
            let executor = response::get_executors::Executor {
                executor_info: Clone::clone(executor),
                agent_id: AgentId {
                    value: agent_id.clone(),
                },
            };
            encode_into(&executor, out);
        },
    );
    Ok(())
}

/// `GetFrameworks`: the frameworks the master holds, and the removed ones it keeps.
fn frameworks<'a>(parts: &mut Parts<'a>, snapshot: &'a StateSnapshot) -> Result<(), Unwritable> {
    let list = |parts: &mut Parts<'a>, number: u32, which: &'a [FrameworkSnapshot]| {
        parts.list(
            number,
            move || which.iter(),
            move |f, out| {
                encode_into(&views::framework(&Clock::of(snapshot), f), out);
            },
        );
    };
    list(parts, 1, &snapshot.frameworks);
    list(parts, 2, &snapshot.completed_frameworks);
    Ok(())
}

/// `GetAgents`: registered agents, and those the registry lists that have not come
/// back.
fn agents<'a>(parts: &mut Parts<'a>, snapshot: &'a StateSnapshot) -> Result<(), Unwritable> {
    let clock = Clock::of(snapshot);
    parts.list(
        1,
        move || snapshot.agents.iter(),
        move |agent, out| {
            encode_into(&views::agent(&clock, agent), out);
        },
    );
    parts.list(
        2,
        move || snapshot.recovered_agents.iter(),
        |info, out| {
            encode_into(info, out);
        },
    );
    Ok(())
}

fn encode_into(message: &impl Message, out: &mut Vec<u8>) {
    // A Vec grows as needed: encoding into it cannot fail.
    let _ = message.encode(out);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use prost::Message as _;
    use ratufa_proto::v1::master::{Event, Response, call, event};

    use super::super::oracle::{self, built};
    use super::*;
    use crate::core::tests::*;

    fn written(snapshot: &StateSnapshot, kind: call::Type, encoding: Encoding) -> Vec<u8> {
        let mut out = Chunks::whole();
        let parts = answer(snapshot, kind).expect("a big read");
        assert!(parts.write_to(encoding, &mut out).expect("written"));
        out.into_bytes()
    }

    const BIG_READS: [call::Type; 5] = [
        call::Type::GetState,
        call::Type::GetAgents,
        call::Type::GetFrameworks,
        call::Type::GetExecutors,
        call::Type::GetTasks,
    ];

    /// An agent gone unreachable with a task of a partition-aware framework (held as
    /// unreachable) and one of a framework that is not (lost, so completed).
    fn unreachable_cluster() -> StateSnapshot {
        let mut h = Harness::new();
        let (_plain, _aware, agent) = h.plain_and_aware_on_one_agent();
        // Live agents answer the PINGs; this one never does.
        for _ in 0..6 {
            h.advance_and_tick(Duration::from_secs(15));
        }
        assert!(h.core.unreachable_agents().contains_key(&agent.id.value));
        h.outputs();
        h.core.state_snapshot()
    }

    /// Many copies of the rich fixture's frameworks, agents and tasks: answers of
    /// several MiB, so many chunks.
    fn big_cluster() -> StateSnapshot {
        let mut snapshot = crate::http::state::oracle::tests::cluster();
        let frameworks = snapshot.frameworks.clone();
        let agents = snapshot.agents.clone();
        for _ in 0..2000 {
            snapshot.frameworks.extend(frameworks.iter().cloned());
            snapshot.agents.extend(agents.iter().cloned());
        }
        snapshot
    }

    #[test]
    fn streamed_answers_are_the_whole_answers_in_chunks() {
        let snapshot = Arc::new(big_cluster());
        for encoding in [Encoding::Protobuf, Encoding::Json] {
            let whole = written(&snapshot, call::Type::GetState, encoding);
            assert!(whole.len() > 4 << 20, "{} bytes", whole.len());
            let (sink, mut chunks) = tokio::sync::mpsc::channel(4);
            let writer = {
                let snapshot = snapshot.clone();
                std::thread::spawn(move || {
                    write(
                        &snapshot,
                        call::Type::GetState,
                        encoding,
                        Chunks::streaming(sink),
                    );
                })
            };
            let mut streamed = Vec::new();
            let mut count = 0;
            while let Some(chunk) = chunks.blocking_recv() {
                streamed.extend_from_slice(&chunk.expect("no error"));
                count += 1;
            }
            writer.join().expect("the writer");
            assert!(count > 10, "{count} chunks");
            assert_eq!(streamed, whole, "{encoding:?}");
        }
    }

    #[test]
    fn the_parts_written_are_the_built_answers_encoded() {
        let rich = crate::http::state::oracle::tests::cluster();
        let unreachable = unreachable_cluster();
        for snapshot in [&rich, &unreachable] {
            for kind in BIG_READS {
                let expected = built(snapshot, kind);
                // Protobuf: the same bytes as prost writes for the built message.
                let protobuf = written(snapshot, kind, Encoding::Protobuf);
                assert_eq!(
                    Response::decode(&protobuf[..]).expect("protobuf"),
                    expected,
                    "{kind:?}"
                );
                assert_eq!(protobuf, expected.encode_to_vec(), "{kind:?}");
                // JSON: the same bytes as the mapping writes for the built message.
                let json = written(snapshot, kind, Encoding::Json);
                assert_eq!(
                    String::from_utf8(json).expect("UTF-8"),
                    String::from_utf8(ratufa_proto::json::encode(&expected)).expect("UTF-8"),
                    "{kind:?}"
                );
            }
        }
        // SUBSCRIBED carries the same state.
        for snapshot in [&rich, &unreachable] {
            let expected = Event {
                r#type: Some(event::Type::Subscribed as i32),
                subscribed: Some(event::Subscribed {
                    get_state: Some(oracle::state(snapshot)),
                    heartbeat_interval_seconds: Some(15.5),
                }),
                ..Event::default()
            };
            let protobuf = subscribed(snapshot, 15.5, Encoding::Protobuf).expect("written");
            assert_eq!(protobuf, expected.encode_to_vec());
            // Allocated once, at the length counted first.
            assert_eq!(protobuf.capacity(), protobuf.len());
            let json = subscribed(snapshot, 15.5, Encoding::Json).expect("written");
            assert_eq!(
                String::from_utf8(json).expect("UTF-8"),
                String::from_utf8(ratufa_proto::json::encode(&expected)).expect("UTF-8"),
            );
        }
        // Non-trivial: tasks active, completed and unreachable, in several states;
        // labels; reservations; completed frameworks; recovered and unreachable agents.
        let state = built(&rich, call::Type::GetState).get_state.expect("state");
        let tasks = state.get_tasks.expect("tasks");
        let states: std::collections::BTreeSet<i32> = tasks
            .tasks
            .iter()
            .chain(&tasks.completed_tasks)
            .map(|t| t.state)
            .collect();
        assert!(states.len() >= 2, "{states:?}");
        let all = || tasks.tasks.iter().chain(&tasks.completed_tasks);
        assert!(all().any(|t| t.labels.is_some()));
        assert!(all().any(|t| t.statuses.len() >= 2));
        let frameworks = state.get_frameworks.expect("frameworks");
        assert!(!frameworks.completed_frameworks.is_empty());
        let agents = state.get_agents.expect("agents");
        assert!(!agents.recovered_agents.is_empty());
        assert!(
            agents
                .agents
                .iter()
                .flat_map(|a| &a.total_resources)
                .any(|r| !r.reservations.is_empty())
        );
        assert!(!state.get_executors.expect("executors").executors.is_empty());
        let tasks = built(&unreachable, call::Type::GetTasks)
            .get_tasks
            .expect("tasks");
        assert_eq!(tasks.unreachable_tasks.len(), 1);
        assert_eq!(tasks.completed_tasks.len(), 1);
    }
}
