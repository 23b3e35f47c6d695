//! The master's books of tasks, per framework: active (not yet acknowledged as
//! terminal), unreachable, and a bounded history of completed ones.
//!
//! An active task is a compact record (see [`TaskEntry`]) rather than the `v1::Task`
//! proto: at 100,000 tasks the proto's empty optional fields alone were 1.4 KB each
//! (benches/core_memory.rs).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use prost::Message;
use ratufa_proto::resources::Resources;
use ratufa_proto::v1::{
    AgentId, ExecutorId, FrameworkId, Resource, Task, TaskId, TaskState, TaskStatus,
};

use super::status::{is_terminal, task_state};

/// One task the master tracks on a registered agent.
///
/// What changes or is read on the hot path (state, the update last forwarded, ids)
/// is kept as plain fields; what the task was launched with (name, resources, labels,
/// command, container, health check, discovery, kill policy, user, limits) is kept
/// once as an encoded `Task` with those hot fields cleared, and decoded on demand by
/// [`TaskEntry::task`] and [`TaskEntry::resources`]. Statuses are kept encoded too.
///
/// Held in the books behind an `Arc`, so that a state snapshot shares the records
/// rather than copying them; the core changes a record through `Arc::make_mut`.
#[derive(Debug, Clone)]
pub struct TaskEntry {
    task_id: Arc<str>,
    /// Shared with the framework's books and the agent (interned).
    framework_id: Arc<str>,
    agent_id: Arc<str>,
    state: i32,
    /// State and uuid of the last update forwarded to the framework (what an ACK is
    /// checked against); the state only when `has` says so (an `Option<i32>` would
    /// take 8 bytes).
    status_update_state: i32,
    status_update_uuid: Option<StatusUuid>,
    /// State of the latest of `statuses`, when `has` says so.
    last_status_state: i32,
    /// Which of the optional states are set: `FORWARDED`, `LAST_STATUS`.
    has: u8,
    /// The latest statuses (data stripped), oldest first: each a flags byte (which
    /// of the task's own ids were left out of it) and the length-delimited encoded
    /// `TaskStatus`.
    statuses: Box<[u8]>,
    /// The rest of the `Task` (executor id included), encoded.
    rest: Box<[u8]>,
    /// What the task holds, where that is not the `Task`'s own resources in allocated
    /// form (an agent reported it without allocation info); else decoded from `rest`.
    held: Option<Box<Resources>>,
}

/// Only the resources of an encoded `Task` (prost skips the other fields).
#[derive(Clone, PartialEq, Message)]
struct TaskResources {
    #[prost(message, repeated, tag = "7")]
    resources: Vec<Resource>,
}

/// Only the executor id of an encoded `Task`.
#[derive(Clone, PartialEq, Message)]
struct TaskExecutorId {
    #[prost(message, optional, tag = "4")]
    executor_id: Option<ExecutorId>,
}

/// `TaskEntry::has`: the state of an update forwarded to the framework is set.
const FORWARDED: u8 = 1;
/// `TaskEntry::has`: the state of the latest status is set.
const LAST_STATUS: u8 = 2;

/// A status update's uuid: inline when 16 bytes long (those agents send), else boxed.
#[derive(Debug, Clone)]
enum StatusUuid {
    Inline([u8; 16]),
    Other(Box<[u8]>),
}

impl StatusUuid {
    fn new(uuid: &[u8]) -> StatusUuid {
        match <[u8; 16]>::try_from(uuid) {
            Ok(inline) => StatusUuid::Inline(inline),
            Err(_) => StatusUuid::Other(Box::from(uuid)),
        }
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            StatusUuid::Inline(uuid) => uuid,
            StatusUuid::Other(uuid) => uuid,
        }
    }
}

/// A stored status whose task id was the task's own, left out.
const OWN_TASK_ID: u8 = 1;
/// A stored status whose agent id was the task's own, left out.
const OWN_AGENT_ID: u8 = 2;

impl TaskEntry {
    /// Books `task`, holding `resources` (allocated form), with `framework_id` and
    /// `agent_id` (interned copies of its ids, used when they match).
    pub(super) fn new(
        mut task: Task,
        resources: Resources,
        framework_id: &Arc<str>,
        agent_id: &Arc<str>,
    ) -> TaskEntry {
        let intern = |value: String, interned: &Arc<str>| -> Arc<str> {
            if *value == **interned {
                interned.clone()
            } else {
                Arc::from(value)
            }
        };
        let task_id = Arc::from(std::mem::take(&mut task.task_id.value));
        let framework_id = intern(std::mem::take(&mut task.framework_id.value), framework_id);
        let agent_id = intern(std::mem::take(&mut task.agent_id.value), agent_id);
        let statuses = std::mem::take(&mut task.statuses);
        let last_status_state = statuses.last().map(|s| s.state);
        let status_update_state = task.status_update_state.take();
        let mut has = 0;
        if status_update_state.is_some() {
            has |= FORWARDED;
        }
        if last_status_state.is_some() {
            has |= LAST_STATUS;
        }
        let mut entry = TaskEntry {
            task_id,
            framework_id,
            agent_id,
            state: task.state,
            status_update_state: status_update_state.unwrap_or_default(),
            status_update_uuid: task.status_update_uuid.take().map(|u| StatusUuid::new(&u)),
            last_status_state: last_status_state.unwrap_or_default(),
            has,
            statuses: Box::default(),
            rest: Box::default(),
            held: (task.resources.as_slice() != resources.as_slice()).then(|| Box::new(resources)),
        };
        task.state = 0;
        entry.rest = encode(&task);
        entry.statuses = entry.pack_statuses(statuses);
        entry
    }

    /// The task as the v1 API shows it, built from the record.
    pub fn task(&self) -> Task {
        // Our own encoding: decoding it cannot fail short of a bug.
        let mut task = Task::decode(&self.rest[..]).unwrap_or_default();
        task.task_id = TaskId {
            value: self.task_id.to_string(),
        };
        task.framework_id = FrameworkId {
            value: self.framework_id.to_string(),
        };
        task.agent_id = AgentId {
            value: self.agent_id.to_string(),
        };
        task.state = self.state;
        task.statuses = self
            .status_entries()
            .into_iter()
            .map(|(flags, bytes)| self.unpack_status(flags, bytes))
            .collect();
        task.status_update_state = self.forwarded_state();
        task.status_update_uuid = self.status_update_uuid().map(<[u8]>::to_vec);
        task
    }

    /// Appends the protobuf encoding of [`TaskEntry::task`] to `out`, the same bytes
    /// (prost writes fields in number order), without decoding the record: the stored
    /// encodings are copied with the task's own fields put in their places. For large
    /// answers (the operator API's GET_STATE lists every task).
    pub fn encode_task(&self, out: &mut Vec<u8>) {
        use prost::encoding::{WireType, encode_key, encode_varint, message};
        let ids = |out: &mut Vec<u8>| {
            message::encode(2, &self.task_id_proto(), out);
            message::encode(3, &self.framework_id_proto(), out);
        };
        let mut rest = &self.rest[..];
        // Fields 2 (task_id) and 3 (framework_id), 5 (agent_id) and 6 (state) are
        // placeholders in `rest`; 8 (statuses), 9 and 10 (the forwarded update) are
        // absent from it.
        let mut written = 0u32;
        let put_before = |number: u32, out: &mut Vec<u8>, written: &mut u32| {
            if *written < 2 && number > 1 {
                ids(out);
                *written = 3;
            }
            if *written < 5 && number > 4 {
                message::encode(5, &self.agent_id_proto(), out);
                encode_key(6, WireType::Varint, out);
                encode_varint(self.state as i64 as u64, out);
                *written = 6;
            }
            if *written < 8 && number > 7 {
                for (flags, bytes) in self.status_entries() {
                    encode_key(8, WireType::LengthDelimited, out);
                    let start = out.len();
                    self.encode_status(flags, bytes, out);
                    let status = out.split_off(start);
                    encode_varint(status.len() as u64, out);
                    out.extend_from_slice(&status);
                }
                if let Some(state) = self.forwarded_state() {
                    encode_key(9, WireType::Varint, out);
                    encode_varint(state as i64 as u64, out);
                }
                if let Some(uuid) = self.status_update_uuid() {
                    encode_key(10, WireType::LengthDelimited, out);
                    encode_varint(uuid.len() as u64, out);
                    out.extend_from_slice(uuid);
                }
                *written = 10;
            }
        };
        while let Some((number, field)) = next_field(&mut rest) {
            put_before(number, out, &mut written);
            if !matches!(number, 2 | 3 | 5 | 6) {
                out.extend_from_slice(field);
            }
        }
        put_before(u32::MAX, out, &mut written);
    }

    /// Appends the protobuf encoding of a stored status as [`TaskEntry::unpack_status`]
    /// gives it: the ids left out put back in their places (task_id is field 1,
    /// agent_id field 5).
    fn encode_status(&self, flags: u8, mut bytes: &[u8], out: &mut Vec<u8>) {
        use prost::encoding::message;
        let mut agent_id_due = flags & OWN_AGENT_ID != 0;
        while let Some((number, field)) = next_field(&mut bytes) {
            if agent_id_due && number > 5 {
                message::encode(5, &self.agent_id_proto(), out);
                agent_id_due = false;
            }
            if number == 1 && flags & OWN_TASK_ID != 0 {
                message::encode(1, &self.task_id_proto(), out);
            } else {
                out.extend_from_slice(field);
            }
        }
        if agent_id_due {
            message::encode(5, &self.agent_id_proto(), out);
        }
    }

    pub fn task_id(&self) -> &str {
        &self.task_id
    }

    pub(super) fn task_id_arc(&self) -> &Arc<str> {
        &self.task_id
    }

    /// The task id as the v1 API carries it.
    pub fn task_id_proto(&self) -> TaskId {
        TaskId {
            value: self.task_id.to_string(),
        }
    }

    fn framework_id_proto(&self) -> FrameworkId {
        FrameworkId {
            value: self.framework_id.to_string(),
        }
    }

    /// The agent id as the v1 API carries it.
    pub fn agent_id_proto(&self) -> AgentId {
        AgentId {
            value: self.agent_id.to_string(),
        }
    }

    pub(super) fn framework_id_arc(&self) -> &Arc<str> {
        &self.framework_id
    }

    pub fn framework_id(&self) -> &str {
        &self.framework_id
    }

    pub fn agent_id(&self) -> &str {
        &self.agent_id
    }

    pub fn executor_id(&self) -> Option<ExecutorId> {
        TaskExecutorId::decode(&self.rest[..])
            .ok()
            .and_then(|t| t.executor_id)
    }

    pub fn state(&self) -> TaskState {
        task_state(self.state)
    }

    pub fn is_terminal(&self) -> bool {
        is_terminal(self.state())
    }

    /// What the task holds on its agent, in allocated form: given back to the
    /// allocator when the task turns terminal or unreachable. Decoded from the record.
    pub fn resources(&self) -> Resources {
        if let Some(held) = &self.held {
            return Resources::clone(held);
        }
        let resources = TaskResources::decode(&self.rest[..])
            .map(|r| r.resources)
            .unwrap_or_default();
        // Stored from a `Resources`, so already valid and normalized.
        Resources::try_from_vec(resources).unwrap_or_default()
    }

    /// The state of the last update forwarded to the framework, if any.
    pub fn status_update_state(&self) -> Option<TaskState> {
        self.forwarded_state().map(task_state)
    }

    pub fn status_update_uuid(&self) -> Option<&[u8]> {
        self.status_update_uuid.as_ref().map(StatusUuid::as_slice)
    }

    fn forwarded_state(&self) -> Option<i32> {
        (self.has & FORWARDED != 0).then_some(self.status_update_state)
    }

    fn latest_status_state(&self) -> Option<i32> {
        (self.has & LAST_STATUS != 0).then_some(self.last_status_state)
    }

    /// The latest status the master has of the task, decoded.
    pub fn latest_status(&self) -> Option<TaskStatus> {
        let (flags, bytes) = self.status_entries().pop()?;
        Some(self.unpack_status(flags, bytes))
    }

    /// The first status the master has of the task, decoded (the one kept when older
    /// statuses are dropped).
    pub fn first_status(&self) -> Option<TaskStatus> {
        let (flags, bytes) = self.status_entries().into_iter().next()?;
        Some(self.unpack_status(flags, bytes))
    }

    /// The state reconciliation reports: that of the last update sent, if any; else
    /// that of the last update the agent sent, which it is still trying to deliver.
    ///
    /// Not `state()`: a retried update carries the agent's latest state along, and a
    /// framework told that (TASK_FAILED, say) before the retried TASK_RUNNING reaches
    /// it would see a terminal task come back to life. Mesos reports `state()` here.
    pub fn reported_state(&self) -> TaskState {
        if let Some(state) = self.forwarded_state() {
            return task_state(state);
        }
        self.latest_status_state()
            .map_or_else(|| self.state(), task_state)
    }

    /// Bytes of the record's encoded parts: (the rest of the `Task`, its statuses).
    /// For reading memory figures (benches/core_memory.rs).
    pub fn encoded_sizes(&self) -> (usize, usize) {
        (self.rest.len(), self.statuses.len())
    }

    pub(super) fn set_state(&mut self, state: TaskState) {
        self.state = state as i32;
    }

    /// Keeps `status` (its data already stripped) as the latest, replacing a latest
    /// one of the same state; at most `max` are kept.
    pub(super) fn push_status(&mut self, status: TaskStatus, max: usize) {
        let state = status.state;
        let new = self.pack_status(status);
        let mut entries = self.status_entries();
        if self.latest_status_state() == Some(state) {
            entries.pop();
        }
        let skip = (entries.len() + 1).saturating_sub(max);
        let mut out = Vec::new();
        for (flags, bytes) in entries.into_iter().skip(skip) {
            out.push(flags);
            prost::encoding::encode_varint(bytes.len() as u64, &mut out);
            out.extend_from_slice(bytes);
        }
        out.extend_from_slice(&new);
        self.last_status_state = state;
        self.has |= LAST_STATUS;
        self.statuses = out.into_boxed_slice();
    }

    /// One status as stored: a flags byte, then the status length-delimited, without
    /// the ids it shares with the task.
    fn pack_status(&self, mut status: TaskStatus) -> Vec<u8> {
        let mut flags = 0;
        if *status.task_id.value == *self.task_id {
            status.task_id.value.clear();
            flags |= OWN_TASK_ID;
        }
        if status
            .agent_id
            .as_ref()
            .is_some_and(|id| *id.value == *self.agent_id)
        {
            status.agent_id = None;
            flags |= OWN_AGENT_ID;
        }
        let mut out = Vec::with_capacity(1 + 10 + status.encoded_len());
        out.push(flags);
        // A Vec grows as needed: encoding into it cannot fail.
        let _ = status.encode_length_delimited(&mut out);
        out
    }

    fn pack_statuses(&self, statuses: Vec<TaskStatus>) -> Box<[u8]> {
        let mut out = Vec::new();
        for status in statuses {
            out.extend_from_slice(&self.pack_status(status));
        }
        out.into_boxed_slice()
    }

    /// The stored statuses, oldest first: (flags, encoded status).
    fn status_entries(&self) -> Vec<(u8, &[u8])> {
        let mut entries = Vec::new();
        let mut rest = &self.statuses[..];
        while let Some((&flags, mut tail)) = rest.split_first() {
            let Ok(len) = prost::encoding::decode_varint(&mut tail) else {
                break;
            };
            let Some((bytes, after)) = usize::try_from(len)
                .ok()
                .and_then(|len| tail.split_at_checked(len))
            else {
                break;
            };
            entries.push((flags, bytes));
            rest = after;
        }
        entries
    }

    fn unpack_status(&self, flags: u8, bytes: &[u8]) -> TaskStatus {
        // Our own encoding: decoding it cannot fail short of a bug.
        let mut status = TaskStatus::decode(bytes).unwrap_or_default();
        if flags & OWN_TASK_ID != 0 {
            status.task_id = self.task_id_proto();
        }
        if flags & OWN_AGENT_ID != 0 {
            status.agent_id = Some(self.agent_id_proto());
        }
        status
    }

    /// Records the update forwarded to the framework.
    pub(super) fn set_forwarded(&mut self, state: i32, uuid: Option<&[u8]>) {
        self.status_update_state = state;
        self.has |= FORWARDED;
        self.status_update_uuid = uuid.map(StatusUuid::new);
    }
}

/// The next field of protobuf bytes our own encoder wrote: its number and its bytes,
/// key included. `None` at the end (or on bytes it cannot read, which our own
/// encodings never are).
fn next_field<'a>(bytes: &mut &'a [u8]) -> Option<(u32, &'a [u8])> {
    use prost::encoding::decode_varint;
    let all: &'a [u8] = bytes;
    let mut tail: &'a [u8] = bytes;
    let key = decode_varint(&mut tail).ok()?;
    let value_len = match key & 7 {
        0 => {
            decode_varint(&mut tail).ok()?;
            0
        }
        1 => 8,
        2 => usize::try_from(decode_varint(&mut tail).ok()?).ok()?,
        5 => 4,
        _ => return None,
    };
    let end = all.len() - tail.len() + value_len;
    let field = all.get(..end)?;
    *bytes = &all[end..];
    Some((u32::try_from(key >> 3).ok()?, field))
}

fn encode(message: &impl Message) -> Box<[u8]> {
    let mut out = Vec::with_capacity(message.encoded_len());
    // A Vec grows as needed: encoding into it cannot fail.
    let _ = message.encode(&mut out);
    out.into_boxed_slice()
}

/// All a framework's tasks. Exists for frameworks the master holds and for frameworks
/// it only learned of from re-registering agents.
#[derive(Debug, Clone, Default)]
pub struct FrameworkTasks {
    /// The framework's id, shared by its task records.
    id: Option<Arc<str>>,
    /// In task id order, which is the order endpoints and reconciliation list them.
    pub(super) active: BTreeMap<Arc<str>, Arc<TaskEntry>>,
    /// Tasks of partition-aware frameworks on unreachable agents, by id, oldest first
    /// in `unreachable_order`; their ids may not be reused.
    pub(super) unreachable: HashMap<String, Arc<TaskEntry>>,
    pub(super) unreachable_order: VecDeque<String>,
    /// Terminal tasks whose last update was acknowledged (or that the master ended
    /// itself), newest last. Records as they left the active books (shared with
    /// snapshots like those).
    pub(super) completed: VecDeque<Arc<TaskEntry>>,
}

impl FrameworkTasks {
    pub fn active(&self) -> impl Iterator<Item = &TaskEntry> {
        self.active.values().map(|e| &**e)
    }

    /// The active records, shared.
    pub fn active_shared(&self) -> impl Iterator<Item = &Arc<TaskEntry>> {
        self.active.values()
    }

    pub fn get(&self, task_id: &str) -> Option<&TaskEntry> {
        self.active.get(task_id).map(|e| &**e)
    }

    pub(super) fn get_mut(&mut self, task_id: &str) -> Option<&mut TaskEntry> {
        self.active.get_mut(task_id).map(Arc::make_mut)
    }

    /// The framework's id, interned.
    pub(super) fn intern_id(&mut self, framework_id: &str) -> Arc<str> {
        self.id
            .get_or_insert_with(|| Arc::from(framework_id))
            .clone()
    }

    pub fn unreachable(&self) -> impl Iterator<Item = &Arc<TaskEntry>> {
        self.unreachable_order
            .iter()
            .filter_map(|id| self.unreachable.get(id))
    }

    pub fn completed(&self) -> impl Iterator<Item = &Arc<TaskEntry>> {
        self.completed.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.active.is_empty() && self.unreachable.is_empty() && self.completed.is_empty()
    }

    pub(super) fn push_completed(&mut self, task: Arc<TaskEntry>, capacity: usize) {
        // A task reported again (an agent coming back) must not be listed twice.
        self.completed
            .retain(|existing| existing.task_id != task.task_id);
        if capacity == 0 {
            return;
        }
        self.completed.push_back(task);
        while self.completed.len() > capacity {
            self.completed.pop_front();
        }
    }

    pub(super) fn push_unreachable(&mut self, task: Arc<TaskEntry>, capacity: usize) {
        let id = task.task_id().to_string();
        if self.unreachable.insert(id.clone(), task).is_some() {
            self.unreachable_order.retain(|existing| *existing != id);
        }
        self.unreachable_order.push_back(id);
        while self.unreachable_order.len() > capacity {
            if let Some(oldest) = self.unreachable_order.pop_front() {
                self.unreachable.remove(&oldest);
            }
        }
    }

    pub(super) fn take_unreachable(&mut self, task_id: &str) -> Option<Arc<TaskEntry>> {
        let task = self.unreachable.remove(task_id)?;
        self.unreachable_order
            .retain(|existing| existing != task_id);
        Some(task)
    }

    /// Whether the master already told the framework this task ended.
    pub(super) fn completed_contains(&self, task_id: &str) -> bool {
        self.completed.iter().any(|t| t.task_id() == task_id)
    }
}

/// Frameworks' tasks by framework id.
pub type TaskBooks = BTreeMap<String, FrameworkTasks>;
