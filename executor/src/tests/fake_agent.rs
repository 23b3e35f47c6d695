//! A stand-in for the agent's executor endpoint. Every call arrives on `calls`; a
//! SUBSCRIBE is answered with a stream that starts with SUBSCRIBED and carries what the
//! test sends with `send`, until the test drops it with `drop_stream`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures::StreamExt;
use prost::Message;
use ratufa_gateway::recordio;
use ratufa_proto::v1::executor::{Call, Event, call, event};
use ratufa_proto::v1::{
    AgentId, AgentInfo, CommandInfo, DurationInfo, ExecutorId, ExecutorInfo, FrameworkId,
    FrameworkInfo, KillPolicy, TaskGroupInfo, TaskId, TaskInfo, TaskState, TaskStatus,
    executor_info, framework_info,
};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::ExecutorEnv;

/// Long enough for any machine; tests never depend on it being short.
pub const WAIT: Duration = Duration::from_secs(30);

#[derive(Clone)]
struct Shared {
    calls: mpsc::UnboundedSender<Call>,
    /// Answer SUBSCRIBE with 503, as an agent still recovering does.
    refuse: Arc<AtomicBool>,
    stream: Arc<Mutex<Option<mpsc::UnboundedSender<Bytes>>>>,
    subscribed: Arc<Mutex<event::Subscribed>>,
    /// Tasks whose UPDATEs are taken (seen on `calls`) but answered only once their
    /// gate opens.
    gates: Arc<Mutex<HashMap<String, watch::Receiver<bool>>>>,
}

pub struct FakeAgent {
    pub addr: SocketAddr,
    kind: executor_info::Type,
    calls: mpsc::UnboundedReceiver<Call>,
    shared: Shared,
}

impl FakeAgent {
    /// Serves on 127.0.0.1:0, announcing `framework` and an executor of `kind`.
    pub async fn start(framework: FrameworkInfo, kind: executor_info::Type) -> FakeAgent {
        let (calls_tx, calls) = mpsc::unbounded_channel();
        let subscribed = event::Subscribed {
            executor_info: ExecutorInfo {
                r#type: Some(kind as i32),
                executor_id: ExecutorId {
                    value: "ex-1".into(),
                },
                ..ExecutorInfo::default()
            },
            framework_info: framework,
            agent_info: AgentInfo {
                id: Some(AgentId {
                    value: "agent-1".into(),
                }),
                hostname: "localhost".into(),
                ..AgentInfo::default()
            },
            container_id: None,
        };
        let shared = Shared {
            calls: calls_tx,
            refuse: Arc::new(AtomicBool::new(false)),
            stream: Arc::new(Mutex::new(None)),
            subscribed: Arc::new(Mutex::new(subscribed)),
            gates: Arc::new(Mutex::new(HashMap::new())),
        };
        let router = Router::new()
            .route("/api/v1/executor", post(executor_api))
            .with_state(shared.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        FakeAgent {
            addr,
            kind,
            calls,
            shared,
        }
    }

    /// The environment an agent would give an executor with its sandbox at `sandbox`.
    pub fn env(&self, sandbox: &Path, checkpoint: bool) -> ExecutorEnv {
        ExecutorEnv {
            framework_id: "fw-1".into(),
            executor_id: "ex-1".into(),
            agent_endpoint: self.addr.to_string(),
            directory: sandbox.to_path_buf(),
            sandbox: sandbox.to_path_buf(),
            checkpoint,
            recovery_timeout: Duration::from_secs(60),
            subscription_backoff_max: Duration::from_millis(100),
            shutdown_grace_period: Duration::from_secs(5),
            // As an agent sets it: for its command executors only.
            http_command_executor: self.kind != executor_info::Type::Default,
            tls: None,
        }
    }

    pub async fn next_call(&mut self) -> Call {
        tokio::time::timeout(WAIT, self.calls.recv())
            .await
            .expect("no call from the executor")
            .expect("the server is gone")
    }

    /// The next call, which must be a SUBSCRIBE.
    pub async fn subscribe(&mut self) -> call::Subscribe {
        let call = self.next_call().await;
        assert_eq!(call.r#type, Some(call::Type::Subscribe as i32), "{call:?}");
        assert_eq!(call.executor_id.value, "ex-1");
        assert_eq!(call.framework_id.value, "fw-1");
        call.subscribe.unwrap()
    }

    /// The next call, which must be an UPDATE in `state`, checked for the fields every
    /// executor update carries.
    pub async fn update(&mut self, state: TaskState) -> TaskStatus {
        let call = self.next_call().await;
        assert_eq!(call.r#type, Some(call::Type::Update as i32), "{call:?}");
        let status = call.update.unwrap().status;
        assert_eq!(TaskState::try_from(status.state), Ok(state), "{status:?}");
        assert_valid_update(&status);
        status
    }

    pub fn send(&self, event: Event) {
        let record = recordio::frame(&event.encode_to_vec());
        let guard = self.shared.stream.lock().unwrap();
        guard
            .as_ref()
            .expect("no subscription to send on")
            .send(record)
            .unwrap();
    }

    /// From now on the UPDATEs of `task_id` are answered only once the returned gate
    /// is opened (`send(true)`), as by an agent slow to take them.
    pub fn hold_updates_of(&self, task_id: &str) -> watch::Sender<bool> {
        let (gate, open) = watch::channel(false);
        self.shared
            .gates
            .lock()
            .unwrap()
            .insert(task_id.to_string(), open);
        gate
    }

    /// From now on SUBSCRIBE gets 503.
    pub fn refuse_subscriptions(&self) {
        self.shared.refuse.store(true, Ordering::SeqCst);
    }

    /// Ends the current subscription's stream, as an agent that went away would.
    pub fn drop_stream(&self) {
        self.shared.stream.lock().unwrap().take();
    }

    pub fn ack(&self, status: &TaskStatus) {
        self.send(Event {
            r#type: Some(event::Type::Acknowledged as i32),
            acknowledged: Some(event::Acknowledged {
                task_id: status.task_id.clone(),
                uuid: status.uuid.clone().unwrap(),
            }),
            ..Event::default()
        });
    }

    pub fn launch(&self, task: TaskInfo) {
        self.send(Event {
            r#type: Some(event::Type::Launch as i32),
            launch: Some(event::Launch { task }),
            ..Event::default()
        });
    }

    pub fn launch_group(&self, tasks: Vec<TaskInfo>) {
        self.send(Event {
            r#type: Some(event::Type::LaunchGroup as i32),
            launch_group: Some(event::LaunchGroup {
                task_group: TaskGroupInfo { tasks },
            }),
            ..Event::default()
        });
    }

    pub fn kill(&self, task_id: &str, grace: Option<Duration>) {
        self.send(Event {
            r#type: Some(event::Type::Kill as i32),
            kill: Some(event::Kill {
                task_id: TaskId {
                    value: task_id.into(),
                },
                kill_policy: grace.map(kill_policy),
            }),
            ..Event::default()
        });
    }

    pub fn shutdown(&self) {
        self.send(Event {
            r#type: Some(event::Type::Shutdown as i32),
            ..Event::default()
        });
    }
}

async fn executor_api(State(shared): State<Shared>, body: Bytes) -> Response {
    let Ok(call) = Call::decode(body) else {
        return (StatusCode::BAD_REQUEST, "not a protobuf Call").into_response();
    };
    let subscribe = call.r#type == Some(call::Type::Subscribe as i32);
    let gate = call.update.as_ref().and_then(|u| {
        shared
            .gates
            .lock()
            .unwrap()
            .get(&u.status.task_id.value)
            .cloned()
    });
    shared.calls.send(call).unwrap();
    if let Some(mut open) = gate {
        let _ = open.wait_for(|open| *open).await;
    }
    if !subscribe {
        return StatusCode::ACCEPTED.into_response();
    }
    if shared.refuse.load(Ordering::SeqCst) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "Agent has not finished recovery",
        )
            .into_response();
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let subscribed = Event {
        r#type: Some(event::Type::Subscribed as i32),
        subscribed: Some(shared.subscribed.lock().unwrap().clone()),
        ..Event::default()
    };
    tx.send(recordio::frame(&subscribed.encode_to_vec()))
        .unwrap();
    *shared.stream.lock().unwrap() = Some(tx);
    let body = Body::from_stream(
        UnboundedReceiverStream::new(rx).map(Ok::<Bytes, std::convert::Infallible>),
    );
    Response::builder()
        .status(StatusCode::OK)
        .header("Content-Type", "application/x-protobuf")
        .body(body)
        .unwrap()
}

pub fn assert_valid_update(status: &TaskStatus) {
    assert_eq!(status.uuid.as_ref().map(Vec::len), Some(16), "{status:?}");
    assert_eq!(
        status.source,
        Some(ratufa_proto::v1::task_status::Source::Executor as i32)
    );
    assert_eq!(status.executor_id.as_ref().unwrap().value, "ex-1");
    assert_eq!(status.agent_id.as_ref().unwrap().value, "agent-1");
    assert!(status.timestamp.unwrap() > 0.0);
}

pub fn framework(capabilities: &[framework_info::capability::Type]) -> FrameworkInfo {
    FrameworkInfo {
        user: "root".into(),
        name: "test".into(),
        id: Some(FrameworkId {
            value: "fw-1".into(),
        }),
        capabilities: capabilities
            .iter()
            .map(|c| framework_info::Capability {
                r#type: Some(*c as i32),
            })
            .collect(),
        ..FrameworkInfo::default()
    }
}

pub fn shell_task(id: &str, command: &str) -> TaskInfo {
    TaskInfo {
        name: id.into(),
        task_id: TaskId { value: id.into() },
        agent_id: AgentId {
            value: "agent-1".into(),
        },
        command: Some(CommandInfo {
            value: Some(command.into()),
            ..CommandInfo::default()
        }),
        ..TaskInfo::default()
    }
}

pub fn kill_policy(grace: Duration) -> KillPolicy {
    KillPolicy {
        grace_period: Some(DurationInfo {
            nanoseconds: i64::try_from(grace.as_nanos()).unwrap(),
        }),
    }
}
