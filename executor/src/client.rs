//! A client of the agent's `POST /api/v1/executor`: SUBSCRIBE, whose response is the
//! RecordIO stream of events, and the other calls, answered 202. Protobuf both ways,
//! as Mesos's own executor library speaks it.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use prost::Message;
use ratufa_gateway::tcp::Connector;
use ratufa_gateway::{GatewayError, RecordBody, Tls};
use ratufa_proto::v1::executor::{Call, Event};

use crate::ExecutorError;

/// Where the agent serves the executor API.
pub const EXECUTOR_API_PATH: &str = "/api/v1/executor";
const PROTOBUF: &str = "application/x-protobuf";
/// A LAUNCH_GROUP of many large TaskInfos stays well below this; a length above it
/// means a broken stream.
const MAX_EVENT_BYTES: usize = 64 * 1024 * 1024;

/// A client of one agent's executor API. Cheap to clone: clones share connections.
#[derive(Debug, Clone)]
pub struct AgentClient {
    client: Client<Connector, Full<Bytes>>,
    uri: Uri,
    endpoint: String,
}

impl AgentClient {
    /// `endpoint` is the agent's `ip:port` (MESOS_AGENT_ENDPOINT); with `tls` it is
    /// reached over https.
    pub fn new(endpoint: &str, tls: Option<&Tls>) -> Result<AgentClient, ExecutorError> {
        let scheme = ratufa_gateway::tls::scheme(tls);
        let uri: Uri = format!("{scheme}://{endpoint}{EXECUTOR_API_PATH}")
            .parse()
            .map_err(|e| ExecutorError::Env {
                variable: "MESOS_AGENT_ENDPOINT",
                message: format!("'{endpoint}' is not a valid address: {e}"),
            })?;
        let client = ratufa_gateway::tcp::http_client(tls);
        Ok(AgentClient {
            client,
            uri,
            endpoint: endpoint.to_string(),
        })
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Sends SUBSCRIBE and, on 200, returns the event stream.
    pub async fn subscribe(&self, call: &Call) -> Result<EventStream, ExecutorError> {
        let response = self.post(call).await?;
        if response.status() != StatusCode::OK {
            return Err(refused(response).await);
        }
        Ok(EventStream {
            records: RecordBody::new(response.into_body(), MAX_EVENT_BYTES),
            endpoint: self.endpoint.clone(),
        })
    }

    /// Sends UPDATE, MESSAGE or HEARTBEAT; the agent answers 202. Any other status is
    /// an error carrying the agent's explanation.
    pub async fn call(&self, call: &Call) -> Result<(), ExecutorError> {
        let response = self.post(call).await?;
        if response.status() != StatusCode::ACCEPTED {
            return Err(refused(response).await);
        }
        // Drain the (empty) body so the connection goes back to the pool.
        let _ = response.into_body().collect().await;
        Ok(())
    }

    async fn post(&self, call: &Call) -> Result<hyper::Response<Incoming>, ExecutorError> {
        let request = Request::post(self.uri.clone())
            .header("Content-Type", PROTOBUF)
            .header("Accept", PROTOBUF)
            .body(Full::new(Bytes::from(call.encode_to_vec())))
            .map_err(|e| self.connection_error(format!("cannot build the request: {e}")))?;
        self.client
            .request(request)
            .await
            .map_err(|e| self.connection_error(e.to_string()))
    }

    fn connection_error(&self, message: String) -> ExecutorError {
        ExecutorError::Connection {
            endpoint: self.endpoint.clone(),
            message,
        }
    }
}

async fn refused(response: hyper::Response<Incoming>) -> ExecutorError {
    let (status, body) = ratufa_gateway::tcp::refusal(response).await;
    ExecutorError::Refused { status, body }
}

/// The agent's events, one RecordIO record each.
#[derive(Debug)]
pub struct EventStream {
    records: RecordBody<Incoming>,
    endpoint: String,
}

impl EventStream {
    /// The next event; `Ok(None)` when the agent ended the stream. Cancel safe.
    pub async fn next(&mut self) -> Result<Option<Event>, ExecutorError> {
        match self.records.next().await {
            Ok(Some(record)) => Event::decode(record)
                .map(Some)
                .map_err(|e| ExecutorError::BadStream(format!("not an Event: {e}"))),
            Ok(None) => Ok(None),
            Err(GatewayError::RecordIoTransport(message)) => Err(ExecutorError::Connection {
                endpoint: self.endpoint.clone(),
                message,
            }),
            Err(e) => Err(ExecutorError::BadStream(e.to_string())),
        }
    }
}
