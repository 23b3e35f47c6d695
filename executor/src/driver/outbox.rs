//! The UPDATE calls on their way to the agent. Mesos's executor library sends a call
//! without waiting for the answer to the one before; so does this outbox: the loop
//! hands it a call and goes on with its events, tasks and reaping. A few calls go at
//! once, on the client's pooled connections, but never two of one task: calls on
//! different connections may overtake each other, and the agent must take a task's
//! updates in the order they were made (RUNNING after STARTING, the terminal one
//! last). Without this, the default executor's loop waited out one round trip to the
//! agent per update, three per task, one task after another.
//!
//! A call stays in the executor's list of unacknowledged updates whatever its answer;
//! a call that failed, or was dropped with the connection, goes again with the next
//! SUBSCRIBE, as before.

use std::collections::{HashMap, HashSet, VecDeque};

use ratufa_proto::v1::executor::Call;
use tokio::task::JoinSet;

use crate::ExecutorError;
use crate::client::AgentClient;

/// How many calls may wait on the agent at once: enough that the executor does not
/// wait on round trips with a group's tasks all reporting (with 8, a default executor
/// running 128 tasks at once was held to about 1,500 tasks/s with the cores 14 % idle;
/// 32 gave 7-9 % more, BENCHMARKS.md agent_launch), and a bound on its connections.
pub(super) const MAX_IN_FLIGHT: usize = 32;

/// The answer to one call: its task and how it went.
type Answer = (String, Result<(), ExecutorError>);

#[derive(Debug)]
pub(super) struct Outbox {
    client: AgentClient,
    /// Calls not sent yet, in the order they were made.
    waiting: VecDeque<(String, Call)>,
    /// The tasks with a call in flight.
    busy: HashSet<String>,
    /// Each call in flight's task, by the id of the tokio task posting it (an aborted
    /// or failed post still frees its task).
    posting: HashMap<tokio::task::Id, String>,
    posts: JoinSet<Answer>,
}

impl Outbox {
    pub(super) fn new(client: AgentClient) -> Outbox {
        Outbox {
            client,
            waiting: VecDeque::new(),
            busy: HashSet::new(),
            posting: HashMap::new(),
            posts: JoinSet::new(),
        }
    }

    /// Sends `call`, an update of `task_id`, once the task's calls before it are
    /// answered.
    pub(super) fn send(&mut self, task_id: &str, call: Call) {
        self.waiting.push_back((task_id.to_string(), call));
        self.dispatch();
    }

    /// Forgets every call, sent or not (the connection is gone: the next SUBSCRIBE
    /// carries every update not acknowledged).
    pub(super) fn clear(&mut self) {
        self.waiting.clear();
        self.busy.clear();
        self.posting.clear();
        // Dropping the set aborts the posts still running.
        self.posts = JoinSet::new();
    }

    /// Waits for the next answer and sends what it lets go. Never resolves while
    /// nothing is in flight. Cancel safe.
    pub(super) async fn answered(&mut self) {
        let Some(joined) = self.posts.join_next_with_id().await else {
            return std::future::pending().await;
        };
        let id = match &joined {
            Ok((id, _)) => *id,
            Err(e) => e.id(),
        };
        if let Some(task_id) = self.posting.remove(&id) {
            self.busy.remove(&task_id);
        }
        match joined {
            Ok((_, (task_id, Err(e)))) => {
                // Kept: a resubscription hands it over again.
                tracing::warn!(task_id, error = %e, "status update not delivered");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "a status update's post ended early"),
        }
        self.dispatch();
    }

    /// Starts the first waiting calls of tasks with none in flight, up to the limit.
    fn dispatch(&mut self) {
        let mut at = 0;
        while self.posts.len() < MAX_IN_FLIGHT && at < self.waiting.len() {
            if self.busy.contains(&self.waiting[at].0) {
                at += 1;
                continue;
            }
            let Some((task_id, call)) = self.waiting.remove(at) else {
                break;
            };
            let client = self.client.clone();
            let answer_for = task_id.clone();
            let handle = self.posts.spawn(async move {
                let result = client.call(&call).await;
                (answer_for, result)
            });
            self.busy.insert(task_id.clone());
            self.posting.insert(handle.id(), task_id);
        }
    }
}
