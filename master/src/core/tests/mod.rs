//! Deterministic tests of the core: every input is a method call with an explicit
//! time, every effect an output or a return value.

mod agents;
mod calls;
mod fake_allocator;
mod launch;
mod lifecycle;
mod offers;
mod reconcile;
mod subscribe;
mod updates;

pub use fake_allocator::FakeAllocator;

use std::collections::BTreeSet;
use std::time::Duration;

use ratufa_proto::v1::scheduler::{Event, call, event};
use ratufa_proto::v1::{FrameworkId, FrameworkInfo, MasterInfo, framework_info};

use super::*;

pub const MASTER_ID: &str = "9b4d0f6e-1a2b-4c3d-8e9f-0a1b2c3d4e5f";

pub fn config() -> CoreConfig {
    CoreConfig {
        master_info: MasterInfo {
            id: MASTER_ID.into(),
            ip: 16_777_343,
            port: 5050,
            hostname: Some("localhost".into()),
            ..MasterInfo::default()
        },
        ..CoreConfig::default()
    }
}

pub fn info(name: &str) -> FrameworkInfo {
    FrameworkInfo {
        user: "alice".into(),
        name: name.into(),
        ..FrameworkInfo::default()
    }
}

pub fn with_id(mut info: FrameworkInfo, id: &FrameworkId) -> FrameworkInfo {
    info.id = Some(id.clone());
    info
}

pub fn multi_role(mut info: FrameworkInfo, roles: &[&str]) -> FrameworkInfo {
    info.roles = roles.iter().map(|r| r.to_string()).collect();
    info.capabilities.push(framework_info::Capability {
        r#type: Some(framework_info::capability::Type::MultiRole as i32),
    });
    info
}

pub fn subscribe_call(info: FrameworkInfo) -> call::Subscribe {
    call::Subscribe {
        framework_info: info,
        ..call::Subscribe::default()
    }
}

/// A core, a clock, and the bookkeeping a driver would do.
pub struct Harness {
    pub core: MasterCore,
    pub now: Time,
    pub allocator: FakeAllocator,
    next_conn: u64,
}

/// One SUBSCRIBE as seen by a test: the stream it arrived on and what happened.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub conn: ConnectionId,
    pub stream_id: String,
    pub outcome: SubscribeOutcome,
}

impl Subscription {
    pub fn framework_id(&self) -> FrameworkId {
        match &self.outcome {
            SubscribeOutcome::Subscribed { framework_id } => framework_id.clone(),
            SubscribeOutcome::Refused { message } => panic!("refused: {message}"),
        }
    }
}

impl Harness {
    pub fn new() -> Harness {
        Harness::with_config(config())
    }

    pub fn with_config(config: CoreConfig) -> Harness {
        let allocator = FakeAllocator::default();
        Harness {
            core: MasterCore::new(config, Box::new(allocator.clone())),
            now: Time::ZERO,
            allocator,
            next_conn: 0,
        }
    }

    pub fn advance(&mut self, by: Duration) {
        self.now = self.now + by;
    }

    /// Advances the clock and ticks, as the driver does when the timeout fires.
    pub fn advance_and_tick(&mut self, by: Duration) {
        self.advance(by);
        self.core.handle_tick(self.now);
    }

    pub fn next_conn(&mut self) -> ConnectionId {
        let conn = ConnectionId(self.next_conn);
        self.next_conn += 1;
        conn
    }

    pub fn subscribe_as(
        &mut self,
        principal: Option<&str>,
        subscribe: call::Subscribe,
    ) -> Subscription {
        let conn = self.next_conn();
        let stream_id = format!("stream-{}", conn.0);
        let outcome =
            self.core
                .handle_subscribe(self.now, conn, stream_id.clone(), principal, subscribe);
        Subscription {
            conn,
            stream_id,
            outcome,
        }
    }

    pub fn subscribe(&mut self, info: FrameworkInfo) -> Subscription {
        self.subscribe_as(None, subscribe_call(info))
    }

    /// Subscribes a new framework and drains its SUBSCRIBED.
    pub fn subscribed(&mut self, info: FrameworkInfo) -> Subscription {
        let sub = self.subscribe(info);
        let outputs = self.outputs();
        assert_eq!(outputs.len(), 1, "{outputs:?}");
        assert!(is_subscribed(&outputs[0], sub.conn));
        sub
    }

    pub fn call_on(&mut self, sub: &Subscription, call: FrameworkCall) -> Result<Reply, Rejection> {
        let id = sub.framework_id();
        self.core
            .handle_call(self.now, &id, call, None, Some(&sub.stream_id))
    }

    pub fn call(
        &mut self,
        framework_id: &FrameworkId,
        call: FrameworkCall,
        principal: Option<&str>,
        stream_id: Option<&str>,
    ) -> Result<Reply, Rejection> {
        self.core
            .handle_call(self.now, framework_id, call, principal, stream_id)
    }

    pub fn close(&mut self, conn: ConnectionId) {
        self.core.handle_stream_closed(self.now, conn);
    }

    pub fn outputs(&mut self) -> Vec<Output> {
        std::iter::from_fn(|| self.core.poll_output()).collect()
    }

    pub fn framework(&self, id: &FrameworkId) -> &Framework {
        self.core
            .framework(&id.value)
            .unwrap_or_else(|| panic!("no framework {}", id.value))
    }
}

pub fn event_type(event: &Event) -> Option<event::Type> {
    event.r#type.and_then(|t| event::Type::try_from(t).ok())
}

pub fn is_subscribed(output: &Output, on: ConnectionId) -> bool {
    matches!(output, Output::Event { conn, event } if *conn == on && event_type(event) == Some(event::Type::Subscribed))
}

/// Asserts `outputs` are exactly one ERROR with `message` on `conn` and its close.
pub fn assert_error_then_close(outputs: &[Output], on: ConnectionId, message: &str) {
    assert_eq!(outputs.len(), 2, "{outputs:?}");
    match &outputs[0] {
        Output::Event { conn, event } => {
            assert_eq!(*conn, on);
            assert_eq!(event_type(event), Some(event::Type::Error));
            assert_eq!(
                event.error.as_ref().map(|e| e.message.as_str()),
                Some(message)
            );
        }
        other => panic!("expected an ERROR event, got {other:?}"),
    }
    assert_eq!(outputs[1], Output::Close { conn: on });
}

pub fn roles(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|r| r.to_string()).collect()
}
