//! `POST /agent/api/v1`: the agent link (ours, not Mesos's). Protobuf only. SUBSCRIBE
//! opens a stream of commands (SUBSCRIBED first, or one ERROR and the end); every other
//! call names its stream in `Mesos-Stream-Id` and its agent in `agent_id`, and gets
//! 202.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use ratufa_gateway::{ApiError, MESOS_STREAM_ID};
use ratufa_proto::Encoding;
use ratufa_proto::ratufa::agentlink::{Call, Command, call};
use tokio::sync::mpsc;

use super::scheduler::{rejected, stopped};
use crate::MasterHandle;

pub(super) async fn agent_api(
    State(master): State<MasterHandle>,
    method: Method,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match handle(master, method, headers, body).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn handle(
    master: MasterHandle,
    method: Method,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    // JSON is refused before the body is read: the link is protobuf only.
    if method == Method::POST && ratufa_gateway::request_encoding(&headers)? != Encoding::Protobuf {
        return Err(ApiError::unsupported_media_type(
            "The agent link speaks protobuf only: use 'Content-Type: application/x-protobuf'",
        ));
    }
    let (_, call) =
        ratufa_gateway::decode_call::<Call>(&method, &headers, body, master.max_body_bytes())
            .await?;
    let kind = call
        .r#type
        .and_then(|t| call::Type::try_from(t).ok())
        .unwrap_or(call::Type::Unknown);
    match kind {
        call::Type::Unknown => Err(ApiError::bad_request(
            "Expecting 'type' to be present and one of the agent-link call types",
        )),
        call::Type::Subscribe => {
            if headers.contains_key(MESOS_STREAM_ID) {
                return Err(ApiError::bad_request(
                    "Subscribe calls should not include the 'Mesos-Stream-Id' header",
                ));
            }
            let Some(subscribe) = call.subscribe else {
                return Err(ApiError::bad_request(
                    "Expecting 'subscribe' to be present for a SUBSCRIBE call",
                ));
            };
            let stream_id = ratufa_gateway::new_stream_id();
            let (commands, receiver) = mpsc::unbounded_channel::<Box<Command>>();
            let outcome = master
                .agent_subscribe(subscribe, stream_id.clone(), commands)
                .await
                .map_err(stopped)?;
            if let Err(rejection) = &outcome {
                // The ERROR command and the end of the stream are already queued on it.
                tracing::info!(message = %rejection.message, "agent registration refused");
            }
            Ok(ratufa_gateway::event_stream::<Command, _>(
                Encoding::Protobuf,
                Some(stream_id),
                receiver,
                None,
            ))
        }
        _ => {
            let Some(stream_id) = ratufa_gateway::stream_id(&headers)? else {
                return Err(ApiError::bad_request(
                    "All non-subscribe agent calls should include the 'Mesos-Stream-Id' header",
                ));
            };
            if call.agent_id.as_ref().is_none_or(|id| id.value.is_empty()) {
                return Err(ApiError::bad_request(
                    "Expecting 'agent_id' to be present for every call but SUBSCRIBE",
                ));
            }
            match master.agent_call(call, stream_id).await.map_err(stopped)? {
                Ok(_) => Ok(StatusCode::ACCEPTED.into_response()),
                Err(rejection) => Err(rejected(rejection)),
            }
        }
    }
}
