//! Turning an API request into a typed call: method, `Content-Type`, a bounded body,
//! then the decoder, in the order Mesos checks them (so clients see the same status
//! for the same mistake).

use axum::body::Body;
use axum::http::header::CONTENT_LENGTH;
use axum::http::{HeaderMap, Method};
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use ratufa_proto::{Encoding, MesosMessage};

use crate::{ApiError, MESOS_STREAM_ID, negotiate};

/// The largest call body accepted unless a caller asks otherwise. Mesos has no limit;
/// 8 MiB is far above any real call (an ACCEPT launching thousands of tasks) and keeps
/// one client from making us buffer without bound.
pub const DEFAULT_MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Checks method and `Content-Type`, reads at most `max_body` bytes of body, and
/// decodes it as an `M`.
///
/// 405 unless POST; 400/415 for `Content-Type` (see [`negotiate::request_encoding`]);
/// 413 for a body over `max_body`; 400 for a body that does not decode, with the
/// decoder's message, which names the field at fault.
pub async fn decode_call<M: MesosMessage>(
    method: &Method,
    headers: &HeaderMap,
    body: Body,
    max_body: usize,
) -> Result<(Encoding, M), ApiError> {
    decode_call_keeping_body(method, headers, body, max_body)
        .await
        .map(|(encoding, message, _)| (encoding, message))
}

/// [`decode_call`], also returning the body's bytes: for handlers whose error messages
/// quote what the decoder drops (an enum name it does not know reads as unset).
pub async fn decode_call_keeping_body<M: MesosMessage>(
    method: &Method,
    headers: &HeaderMap,
    body: Body,
    max_body: usize,
) -> Result<(Encoding, M, Bytes), ApiError> {
    if method != Method::POST {
        return Err(ApiError::method_not_allowed(&[Method::POST], method));
    }
    let encoding = negotiate::request_encoding(headers)?;
    let bytes = read_body(headers, body, max_body).await?;
    let message = encoding.decode::<M>(&bytes).map_err(|e| {
        ApiError::bad_request(format!("Failed to parse the body into a {}: {e}", M::NAME))
    })?;
    Ok((encoding, message, bytes))
}

/// Why a call's `type` did not decode: the type name a JSON body gave (the decoder
/// reads a name it does not know as unset), or its absence. Operator APIs answer 400
/// with this.
pub fn missing_or_unknown_type(encoding: Encoding, body: &[u8]) -> String {
    let named = match encoding {
        Encoding::Json => serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|doc| doc.get("type").cloned())
            .filter(|t| !t.is_null()),
        Encoding::Protobuf => None,
    };
    match named {
        Some(name) => format!("Unknown call type {name}"),
        None => "Expecting 'type' to be present".to_string(),
    }
}

/// Reads a whole request body, refusing (413) as soon as it is known to exceed
/// `max_body`: from `Content-Length` before reading anything, otherwise when the
/// next frame would take it over. At most `max_body` bytes are ever buffered.
pub async fn read_body(
    headers: &HeaderMap,
    body: Body,
    max_body: usize,
) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(declared) = declared
        && declared > max_body as u64
    {
        return Err(ApiError::payload_too_large(max_body));
    }

    let mut body = body;
    // Trust a declared length only so far: a client must send bytes, not just claim
    // them, before we hold memory for them.
    let mut buf = BytesMut::with_capacity(declared.map_or(0, |d| d as usize).min(64 * 1024));
    while let Some(frame) = body.frame().await {
        let frame = frame
            .map_err(|e| ApiError::bad_request(format!("Failed to read the request body: {e}")))?;
        let Ok(data) = frame.into_data() else {
            // Trailers carry nothing we use.
            continue;
        };
        if buf.len() + data.len() > max_body {
            return Err(ApiError::payload_too_large(max_body));
        }
        buf.extend_from_slice(&data);
    }
    Ok(buf.freeze())
}

/// The `Mesos-Stream-Id` header, if present. The master compares it with the id it
/// handed out on SUBSCRIBE; here we only insist that it is text.
pub fn stream_id(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    match headers.get(&MESOS_STREAM_ID) {
        None => Ok(None),
        Some(value) => value.to_str().map(|s| Some(s.to_owned())).map_err(|_| {
            ApiError::bad_request("Expecting 'Mesos-Stream-Id' to be valid UTF-8 text")
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header::CONTENT_TYPE;
    use axum::http::{HeaderValue, StatusCode};
    use prost::Message;
    use ratufa_proto::v1::scheduler::{Call, call};

    fn headers(content_type: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
        h
    }

    fn teardown() -> Call {
        Call {
            framework_id: Some(ratufa_proto::v1::FrameworkId {
                value: "fw-1".into(),
            }),
            r#type: Some(call::Type::Teardown as i32),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn decodes_a_protobuf_call() {
        let call = teardown();
        let (encoding, got) = decode_call::<Call>(
            &Method::POST,
            &headers("application/x-protobuf"),
            Body::from(call.encode_to_vec()),
            DEFAULT_MAX_BODY_BYTES,
        )
        .await
        .unwrap();
        assert_eq!(encoding, Encoding::Protobuf);
        assert_eq!(got, call);
    }

    #[tokio::test]
    async fn decodes_a_json_call() {
        // Needs ratufa_proto's JSON mapping.
        let body = r#"{"framework_id":{"value":"fw-1"},"type":"TEARDOWN"}"#;
        let (encoding, got) = decode_call::<Call>(
            &Method::POST,
            &headers("application/json"),
            Body::from(body),
            DEFAULT_MAX_BODY_BYTES,
        )
        .await
        .unwrap();
        assert_eq!(encoding, Encoding::Json);
        assert_eq!(got, teardown());
    }

    #[tokio::test]
    async fn the_body_comes_back_with_the_call_when_asked_for() {
        // An enum name the decoder does not know reads as unset; the bytes still say it.
        let body = r#"{"framework_id":{"value":"fw-1"},"type":"NO_SUCH_CALL"}"#;
        let (encoding, got, bytes) = decode_call_keeping_body::<Call>(
            &Method::POST,
            &headers("application/json"),
            Body::from(body),
            DEFAULT_MAX_BODY_BYTES,
        )
        .await
        .unwrap();
        assert_eq!(encoding, Encoding::Json);
        assert_eq!(got.r#type, None);
        assert_eq!(bytes.as_ref(), body.as_bytes());
    }

    #[tokio::test]
    async fn method_is_checked_first() {
        // Even with no Content-Type and an oversized body, GET is a 405.
        let err = decode_call::<Call>(
            &Method::GET,
            &HeaderMap::new(),
            Body::from(vec![0; 100]),
            10,
        )
        .await
        .unwrap_err();
        assert_eq!(err.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(err.message, "Expecting 'POST', received 'GET'");
    }

    #[tokio::test]
    async fn content_type_is_checked_before_the_body() {
        let err = decode_call::<Call>(
            &Method::POST,
            &HeaderMap::new(),
            Body::from(vec![0; 100]),
            10,
        )
        .await
        .unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        let err = decode_call::<Call>(
            &Method::POST,
            &headers("text/plain"),
            Body::from(vec![0; 100]),
            10,
        )
        .await
        .unwrap_err();
        assert_eq!(err.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }

    #[tokio::test]
    async fn oversized_body_is_413_by_content_length() {
        let mut h = headers("application/x-protobuf");
        h.insert(CONTENT_LENGTH, HeaderValue::from_static("11"));
        // The body is never read: an empty one would otherwise decode fine.
        let err = decode_call::<Call>(&Method::POST, &h, Body::empty(), 10)
            .await
            .unwrap_err();
        assert_eq!(err.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(err.message.contains("10 bytes"), "{}", err.message);
    }

    #[tokio::test]
    async fn oversized_streamed_body_is_413_without_buffering_it_all() {
        // No Content-Length: chunks keep coming; we must stop at the limit.
        let produced = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = produced.clone();
        let chunks = futures::stream::iter(0..1000).map(move |_| {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; 1000]))
        });
        use futures::StreamExt;
        let err = decode_call::<Call>(
            &Method::POST,
            &headers("application/x-protobuf"),
            Body::from_stream(chunks),
            4500,
        )
        .await
        .unwrap_err();
        assert_eq!(err.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(produced.load(std::sync::atomic::Ordering::SeqCst) <= 5);
    }

    #[tokio::test]
    async fn body_at_the_limit_is_accepted() {
        let bytes = teardown().encode_to_vec();
        let limit = bytes.len();
        let (_, got) = decode_call::<Call>(
            &Method::POST,
            &headers("application/x-protobuf"),
            Body::from(bytes),
            limit,
        )
        .await
        .unwrap();
        assert_eq!(got, teardown());
    }

    #[tokio::test]
    async fn undecodable_body_is_400_naming_the_message() {
        let err = decode_call::<Call>(
            &Method::POST,
            &headers("application/x-protobuf"),
            Body::from(vec![0xff, 0xff, 0xff]),
            DEFAULT_MAX_BODY_BYTES,
        )
        .await
        .unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert!(
            err.message
                .starts_with("Failed to parse the body into a Call: "),
            "{}",
            err.message
        );
    }

    #[tokio::test]
    async fn missing_required_field_is_named() {
        // SUBSCRIBE whose `subscribe` lacks the required `framework_info`. Written by
        // hand: prost always encodes required fields, so it cannot produce this.
        // type (field 2, varint) = 1; subscribe (field 3, length-delimited) = empty.
        let bytes = vec![0x10, 0x01, 0x1a, 0x00];
        let err = decode_call::<Call>(
            &Method::POST,
            &headers("application/x-protobuf"),
            Body::from(bytes),
            DEFAULT_MAX_BODY_BYTES,
        )
        .await
        .unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert!(
            err.message.contains("subscribe.framework_info"),
            "{}",
            err.message
        );
    }

    #[test]
    fn stream_id_is_read_and_must_be_text() {
        assert_eq!(stream_id(&HeaderMap::new()).unwrap(), None);
        let mut h = HeaderMap::new();
        h.insert(&MESOS_STREAM_ID, HeaderValue::from_static("7b7a-42"));
        assert_eq!(stream_id(&h).unwrap().as_deref(), Some("7b7a-42"));
        h.insert(
            &MESOS_STREAM_ID,
            HeaderValue::from_bytes(b"\xff\xfe").unwrap(),
        );
        let err = stream_id(&h).unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert!(err.message.contains("Mesos-Stream-Id"));
    }
}
