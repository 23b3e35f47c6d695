//! `POST /api/v1/scheduler`.

use axum::Extension;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use ratufa_gateway::{ApiError, Heartbeat, MESOS_STREAM_ID, Principal};
use ratufa_proto::v1::scheduler::{Call, Event};
use tokio::sync::mpsc;

use crate::MasterHandle;
use crate::core::{
    Rejection, RejectionKind, Reply, SubscribeOutcome, ValidCall, heartbeat_event, validate_call,
};
use crate::handle::Stopped;

pub(super) async fn scheduler(
    State(master): State<MasterHandle>,
    principal: Option<Extension<Principal>>,
    method: Method,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let principal = principal.map(|Extension(Principal(p))| p);
    match handle(master, principal, method, headers, body).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn handle(
    master: MasterHandle,
    principal: Option<String>,
    method: Method,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (_, call) =
        ratufa_gateway::decode_call::<Call>(&method, &headers, body, master.max_body_bytes())
            .await?;
    let call = validate_call(call, principal.as_deref())
        .map_err(|error| ApiError::bad_request(error.to_string()))?;
    // Mesos only negotiates a response encoding for calls that have a response body.
    let accept = if call.has_response_body() {
        Some(ratufa_gateway::response_encoding(&headers)?)
    } else {
        None
    };

    match call {
        ValidCall::Subscribe(subscribe) => {
            if headers.contains_key(MESOS_STREAM_ID) {
                return Err(ApiError::bad_request(
                    "Subscribe calls should not include the 'Mesos-Stream-Id' header",
                ));
            }
            let encoding = accept.unwrap_or(ratufa_proto::Encoding::Json);
            let stream_id = ratufa_gateway::new_stream_id();
            let (events, receiver) = mpsc::unbounded_channel::<Event>();
            let outcome = master
                .subscribe(subscribe, principal, stream_id.clone(), events)
                .await
                .map_err(stopped)?;
            // A refused subscription is one ERROR event and the end of the stream; a
            // heartbeat after it would only confuse.
            let heartbeat = match outcome {
                SubscribeOutcome::Subscribed { .. } => Some(Heartbeat {
                    interval: master.heartbeat_interval(),
                    event: heartbeat_event(),
                }),
                SubscribeOutcome::Refused { .. } => None,
            };
            Ok(ratufa_gateway::event_stream(
                encoding,
                Some(stream_id),
                receiver,
                heartbeat,
            ))
        }
        ValidCall::Framework { framework_id, call } => {
            let stream_id = ratufa_gateway::stream_id(&headers)?;
            let reply = master
                .call(framework_id, call, principal, stream_id)
                .await
                .map_err(stopped)?;
            match reply {
                Ok(Reply::Accepted) => Ok(StatusCode::ACCEPTED.into_response()),
                Ok(Reply::Ok) => Ok(StatusCode::OK.into_response()),
                Err(rejection) => Err(rejected(rejection)),
            }
        }
    }
}

pub(super) fn rejected(rejection: Rejection) -> ApiError {
    match rejection.kind {
        RejectionKind::BadRequest => ApiError::bad_request(rejection.message),
        RejectionKind::Forbidden => ApiError::forbidden(rejection.message),
        RejectionKind::NotFound => ApiError::not_found(rejection.message),
        RejectionKind::NotImplemented => ApiError::not_implemented(rejection.message),
    }
}

pub(super) fn stopped(error: Stopped) -> ApiError {
    ApiError::service_unavailable(
        error.to_string(),
        ratufa_gateway::leader::LEADER_RETRY_AFTER,
    )
}
