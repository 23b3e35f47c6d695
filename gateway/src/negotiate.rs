//! Content negotiation: which encoding a request body is in (`Content-Type`), and which
//! one the client wants back (`Accept`).

use axum::http::HeaderMap;
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use ratufa_proto::Encoding;

use crate::ApiError;

/// The encoding of the request body, from `Content-Type`.
///
/// Mesos compares the value exactly, so `application/json; charset=utf-8` is refused
/// with 415 there; we do the same so that a client tested against ratufa keeps working
/// against Mesos.
pub fn request_encoding(headers: &HeaderMap) -> Result<Encoding, ApiError> {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return Err(ApiError::bad_request(
            "Expecting 'Content-Type' to be present",
        ));
    };
    value
        .to_str()
        .ok()
        .and_then(Encoding::from_media_type)
        .ok_or_else(|| {
            ApiError::unsupported_media_type(format!(
                "Expecting 'Content-Type' of '{}' or '{}', received '{}'",
                Encoding::JSON_MEDIA_TYPE,
                Encoding::PROTOBUF_MEDIA_TYPE,
                String::from_utf8_lossy(value.as_bytes()),
            ))
        })
}

/// The encoding for the response, from `Accept`.
///
/// No `Accept` (or an empty one) means anything, and we answer JSON. Otherwise each
/// of our two types takes the q-value of the most specific range that matches it
/// (`application/json` over `application/*` over `*/*`, RFC 9110 §12.5.1); q=0
/// excludes. The type with the higher q wins and JSON wins ties, so a client that
/// lists both without weights gets JSON, as from Mesos.
pub fn response_encoding(headers: &HeaderMap) -> Result<Encoding, ApiError> {
    let mut ranges = Vec::new();
    for value in headers.get_all(ACCEPT) {
        // A value that is not even ASCII contains no range we could match.
        let Ok(value) = value.to_str() else { continue };
        ranges.extend(value.split(',').filter_map(MediaRange::parse));
    }
    let raw_is_empty = headers.get_all(ACCEPT).iter().all(|v| {
        v.as_bytes()
            .iter()
            .all(|b| b.is_ascii_whitespace() || *b == b',')
    });
    if raw_is_empty {
        return Ok(Encoding::Json);
    }

    let json = quality(&ranges, Encoding::JSON_MEDIA_TYPE);
    let protobuf = quality(&ranges, Encoding::PROTOBUF_MEDIA_TYPE);
    if json > 0.0 && json >= protobuf {
        Ok(Encoding::Json)
    } else if protobuf > 0.0 {
        Ok(Encoding::Protobuf)
    } else {
        let received = headers
            .get_all(ACCEPT)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect::<Vec<_>>()
            .join(", ");
        Err(ApiError::not_acceptable(format!(
            "Expecting 'Accept' to allow '{}' or '{}', received '{received}'",
            Encoding::JSON_MEDIA_TYPE,
            Encoding::PROTOBUF_MEDIA_TYPE,
        )))
    }
}

/// One element of an `Accept` list, lowercased (media types are case-insensitive).
#[derive(Debug, PartialEq)]
struct MediaRange {
    kind: String,
    subtype: String,
    q: f32,
}

impl MediaRange {
    /// `None` for an empty or malformed element; it then matches nothing, which is
    /// safer than guessing what the client meant.
    fn parse(element: &str) -> Option<MediaRange> {
        let mut parts = element.split(';');
        let range = parts.next()?.trim();
        let (kind, subtype) = range.split_once('/')?;
        let (kind, subtype) = (kind.trim(), subtype.trim());
        if kind.is_empty() || subtype.is_empty() || (kind == "*" && subtype != "*") {
            return None;
        }
        let mut q = 1.0;
        for param in parts {
            let Some((name, value)) = param.split_once('=') else {
                continue;
            };
            if name.trim().eq_ignore_ascii_case("q") {
                q = value.trim().parse::<f32>().ok()?;
                if !(0.0..=1.0).contains(&q) {
                    return None;
                }
            }
        }
        Some(MediaRange {
            kind: kind.to_ascii_lowercase(),
            subtype: subtype.to_ascii_lowercase(),
            q,
        })
    }

    /// 3 for an exact match, 2 for `type/*`, 1 for `*/*`, 0 for none.
    fn specificity(&self, kind: &str, subtype: &str) -> u8 {
        match (self.kind.as_str(), self.subtype.as_str()) {
            ("*", "*") => 1,
            (k, "*") if k == kind => 2,
            (k, s) if k == kind && s == subtype => 3,
            _ => 0,
        }
    }
}

fn quality(ranges: &[MediaRange], media_type: &str) -> f32 {
    let (kind, subtype) = media_type.split_once('/').unwrap_or((media_type, ""));
    let mut best = (0u8, 0.0f32);
    for range in ranges {
        let specificity = range.specificity(kind, subtype);
        if specificity > best.0 || (specificity == best.0 && specificity > 0 && range.q > best.1) {
            best = (specificity, range.q);
        }
    }
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderValue, StatusCode};

    fn with(name: axum::http::HeaderName, values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(name.clone(), HeaderValue::from_str(v).unwrap());
        }
        headers
    }

    fn accept(values: &[&str]) -> Result<Encoding, ApiError> {
        response_encoding(&with(ACCEPT, values))
    }

    #[test]
    fn content_type_must_be_present() {
        let err = request_encoding(&HeaderMap::new()).unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert_eq!(err.message, "Expecting 'Content-Type' to be present");
    }

    #[test]
    fn content_type_is_matched_exactly() {
        assert_eq!(
            request_encoding(&with(CONTENT_TYPE, &["application/json"])).unwrap(),
            Encoding::Json
        );
        assert_eq!(
            request_encoding(&with(CONTENT_TYPE, &["application/x-protobuf"])).unwrap(),
            Encoding::Protobuf
        );
        for bad in [
            "application/json; charset=utf-8",
            "text/plain",
            "APPLICATION/JSON",
            "",
        ] {
            let err = request_encoding(&with(CONTENT_TYPE, &[bad])).unwrap_err();
            assert_eq!(err.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{bad}");
            assert!(
                err.message.contains(&format!("received '{bad}'")),
                "{}",
                err.message
            );
            assert!(
                err.message.contains("'application/x-protobuf'"),
                "{}",
                err.message
            );
        }
    }

    #[test]
    fn content_type_that_is_not_utf8_is_refused() {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_bytes(b"application/\xffjson").unwrap(),
        );
        let err = request_encoding(&headers).unwrap_err();
        assert_eq!(err.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }

    #[test]
    fn no_accept_means_json() {
        assert_eq!(
            response_encoding(&HeaderMap::new()).unwrap(),
            Encoding::Json
        );
        assert_eq!(accept(&[""]).unwrap(), Encoding::Json);
    }

    #[test]
    fn accept_picks_the_named_type() {
        assert_eq!(accept(&["application/json"]).unwrap(), Encoding::Json);
        assert_eq!(
            accept(&["application/x-protobuf"]).unwrap(),
            Encoding::Protobuf
        );
        assert_eq!(
            accept(&["Application/X-Protobuf"]).unwrap(),
            Encoding::Protobuf
        );
        assert_eq!(
            accept(&["text/html, application/x-protobuf;q=0.5"]).unwrap(),
            Encoding::Protobuf
        );
    }

    #[test]
    fn wildcards_match_and_json_is_preferred() {
        assert_eq!(accept(&["*/*"]).unwrap(), Encoding::Json);
        assert_eq!(accept(&["application/*"]).unwrap(), Encoding::Json);
        assert_eq!(
            accept(&["application/x-protobuf, application/json"]).unwrap(),
            Encoding::Json
        );
    }

    #[test]
    fn q_values_order_and_exclude() {
        assert_eq!(
            accept(&["application/json;q=0.2, application/x-protobuf;q=0.9"]).unwrap(),
            Encoding::Protobuf
        );
        assert_eq!(
            accept(&["*/*, application/json;q=0"]).unwrap(),
            Encoding::Protobuf
        );
        // The more specific range decides even when a wildcard weighs more.
        assert_eq!(
            accept(&["application/*;q=1, application/json; q=0"]).unwrap(),
            Encoding::Protobuf
        );
        // Across repeated headers.
        assert_eq!(
            accept(&["application/json;q=0", "application/x-protobuf"]).unwrap(),
            Encoding::Protobuf
        );
    }

    #[test]
    fn nothing_acceptable_is_406_naming_both_types() {
        for values in [
            &["text/html"][..],
            &["application/json;q=0, application/x-protobuf;q=0"],
            &["*/*;q=0"],
            &["application/json;q=abc"],
            &["application/json;q=2"],
            &["text/*"],
        ] {
            let err = accept(values).unwrap_err();
            assert_eq!(err.status, StatusCode::NOT_ACCEPTABLE, "{values:?}");
            assert!(err.message.contains("'Accept'"), "{}", err.message);
            assert!(
                err.message.contains("'application/json'"),
                "{}",
                err.message
            );
            assert!(
                err.message.contains("'application/x-protobuf'"),
                "{}",
                err.message
            );
            assert!(err.message.contains(values[0]), "{}", err.message);
        }
    }

    #[test]
    fn malformed_ranges_are_ignored_not_fatal() {
        assert_eq!(
            accept(&["garbage, ;;, */json, application/x-protobuf"]).unwrap(),
            Encoding::Protobuf
        );
    }
}
