//! The agent's side of the agent link: a SUBSCRIBE whose response is a RecordIO stream
//! of [`Command`]s, and plain calls answered 202, all protobuf over HTTP/1.1 to the
//! master's `POST /agent/api/v1`.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use prost::Message;
use ratufa_gateway::tcp::Connector;
use ratufa_gateway::{GatewayError, MESOS_STREAM_ID, RecordBody, Tls};
use ratufa_proto::ratufa::agentlink::{Call, Command};

use crate::AgentError;
use crate::master_detector::MasterDetector;

mod outbox;

pub(crate) use outbox::Outbox;

/// Where the master serves the agent link.
pub const AGENT_API_PATH: &str = "/agent/api/v1";
const PROTOBUF: &str = "application/x-protobuf";
/// How long a SUBSCRIBE that found the detected leader gone waits for another one:
/// more than a ZooKeeper session timeout (Mesos's default 10 s), after which the dead
/// leader's node is gone and the next is elected.
const LEADER_WAIT: std::time::Duration = std::time::Duration::from_secs(15);
/// No command is anywhere near this; a length above it means a broken stream.
const MAX_COMMAND_BYTES: usize = 64 * 1024 * 1024;

/// A client of the master's agent link. Cheap to clone: clones share connections.
#[derive(Debug, Clone)]
pub struct MasterLink {
    client: Client<Connector, Full<Bytes>>,
    uri: Uri,
    authority: String,
    /// With `--master=zk://…`: where the leader is; `uri` is then unused.
    detector: Option<MasterDetector>,
    /// `https` with TLS: the scheme of a detected leader's address.
    scheme: &'static str,
}

impl MasterLink {
    /// `master` is `host:port`, or a `zk://` URL to follow the leading master (this
    /// then needs a tokio runtime). With `tls` the master is reached over https (as in
    /// Mesos, the scheme follows LIBPROCESS_SSL_ENABLED); an explicit `http://` or
    /// `https://` prefix says which instead.
    pub fn new(master: &str, tls: Option<&Tls>) -> Result<MasterLink, AgentError> {
        let bad = |reason: &str| AgentError::BadMaster {
            given: master.to_string(),
            reason: reason.to_string(),
        };
        let client = ratufa_gateway::tcp::http_client(tls);
        let scheme = ratufa_gateway::tls::scheme(tls);
        if master.starts_with("zk://") {
            let url = ratufa_zk::ZkUrl::parse(master).map_err(|e| AgentError::BadMaster {
                given: "zk://…".to_string(),
                reason: e.to_string(),
            })?;
            let detector = MasterDetector::start(url);
            return Ok(MasterLink {
                client,
                uri: Uri::from_static("http://detected.invalid/"),
                authority: detector.url().to_string(),
                detector: Some(detector),
                scheme,
            });
        }
        let (scheme, authority) = if let Some(rest) = master.strip_prefix("https://") {
            if tls.is_none() {
                return Err(bad("https needs TLS: set LIBPROCESS_SSL_ENABLED=true"));
            }
            ("https", rest)
        } else if let Some(rest) = master.strip_prefix("http://") {
            ("http", rest)
        } else {
            (scheme, master)
        };
        let authority = authority.trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') || !authority.contains(':') {
            return Err(bad("expected host:port"));
        }
        let uri: Uri = format!("{scheme}://{authority}{AGENT_API_PATH}")
            .parse()
            .map_err(|e| bad(&format!("not a valid address: {e}")))?;
        Ok(MasterLink {
            client,
            uri,
            authority: authority.to_string(),
            detector: None,
            scheme,
        })
    }

    /// The master as given (`host:port`, or the `zk://` URL without its password).
    pub fn master(&self) -> &str {
        &self.authority
    }

    /// With `--master=zk://…`: the election this link follows.
    pub fn detector(&self) -> Option<&MasterDetector> {
        self.detector.as_ref()
    }

    /// Where calls go now: the given master, or the leader detected at this moment.
    fn target(&self) -> Result<Uri, AgentError> {
        let Some(detector) = &self.detector else {
            return Ok(self.uri.clone());
        };
        let leader = detector.leader().map_err(AgentError::Link)?;
        format!("{}://{leader}{AGENT_API_PATH}", self.scheme)
            .parse()
            .map_err(|e| AgentError::Link(format!("leader address {leader}: {e}")))
    }

    /// Sends SUBSCRIBE and, on 200, returns the command stream.
    pub async fn subscribe(&self, call: &Call) -> Result<CommandStream, AgentError> {
        let tried = self.detector.as_ref().and_then(|d| d.leader().ok());
        let response = match (self.post(call, None).await, &self.detector) {
            // The detected leader did not answer: it may be dead while ZooKeeper still
            // holds its node (until its session times out). Waiting for the next
            // leader re-registers as soon as it is elected, where backing off blindly
            // could miss it by a long doubling.
            (Err(AgentError::Link(reason)), Some(detector)) => {
                if detector.await_other_leader(tried, LEADER_WAIT).await {
                    self.post(call, None).await?
                } else {
                    return Err(AgentError::Link(reason));
                }
            }
            (response, _) => response?,
        };
        if response.status() != StatusCode::OK {
            return Err(refused(response).await);
        }
        let stream_id = response
            .headers()
            .get(MESOS_STREAM_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| AgentError::BadStream("no Mesos-Stream-Id on the stream".into()))?;
        Ok(CommandStream {
            stream_id,
            records: RecordBody::new(response.into_body(), MAX_COMMAND_BYTES),
        })
    }

    /// Sends a non-SUBSCRIBE call on the stream `stream_id`; the master answers 202.
    pub async fn call(&self, call: &Call, stream_id: &str) -> Result<(), AgentError> {
        let response = self.post(call, Some(stream_id)).await?;
        if response.status() != StatusCode::ACCEPTED {
            return Err(refused(response).await);
        }
        // Drain the (empty) body so the connection goes back to the pool.
        let _ = response.into_body().collect().await;
        Ok(())
    }

    async fn post(
        &self,
        call: &Call,
        stream_id: Option<&str>,
    ) -> Result<hyper::Response<Incoming>, AgentError> {
        let uri = self.target()?;
        let mut request = Request::post(uri.clone())
            .header("Content-Type", PROTOBUF)
            .header("Accept", PROTOBUF);
        if let Some(stream_id) = stream_id {
            request = request.header(MESOS_STREAM_ID, stream_id);
        }
        let request = request
            .body(Full::new(Bytes::from(call.encode_to_vec())))
            .map_err(|e| AgentError::Link(format!("cannot build the request: {e}")))?;
        self.client
            .request(request)
            .await
            .map_err(|e| AgentError::Link(format!("{uri}: {e}")))
    }
}

async fn refused(response: hyper::Response<Incoming>) -> AgentError {
    let (status, body) = ratufa_gateway::tcp::refusal(response).await;
    AgentError::Refused { status, body }
}

/// The master's commands, one RecordIO record each.
#[derive(Debug)]
pub struct CommandStream {
    pub stream_id: String,
    records: RecordBody<Incoming>,
}

impl CommandStream {
    /// The next command; `Ok(None)` when the master ended the stream. Cancel safe.
    pub async fn next(&mut self) -> Result<Option<Command>, AgentError> {
        match self.records.next().await {
            Ok(Some(record)) => Command::decode(record)
                .map(Some)
                .map_err(|e| AgentError::BadStream(format!("not a Command: {e}"))),
            Ok(None) => Ok(None),
            Err(GatewayError::RecordIoTransport(message)) => Err(AgentError::Link(message)),
            Err(e) => Err(AgentError::BadStream(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_addresses() {
        assert_eq!(
            MasterLink::new("127.0.0.1:5050", None)
                .map(|l| l.uri.to_string())
                .ok(),
            Some("http://127.0.0.1:5050/agent/api/v1".to_string())
        );
        assert!(MasterLink::new("http://master:5050/", None).is_ok());
        // https without TLS could only fail at every call.
        let error = MasterLink::new("https://master:5050", None).unwrap_err();
        assert!(
            error.to_string().contains("LIBPROCESS_SSL_ENABLED"),
            "{error}"
        );
        for bad in [
            "",
            "master",
            "zk://zk/mesos",
            "zk://zk:2181",
            "host:5050/path",
        ] {
            assert!(MasterLink::new(bad, None).is_err(), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn a_zk_master_is_detected_and_calls_wait_for_a_leader() {
        let link = MasterLink::new("zk://jo:pw@127.0.0.1:1/mesos", None).unwrap();
        assert_eq!(link.master(), "zk://jo:***@127.0.0.1:1/mesos");
        // Nothing listens on port 1: no leader, and the call says so.
        let error = link.target().unwrap_err();
        assert!(error.to_string().contains("not reachable yet"), "{error}");
    }
}
