//! Helpers for the operator API suites, the agent's and the master's (included with
//! `#[path]` by those that use it): requests, and reading Mesos's JSON answers.

// Each test binary uses a different subset.
#![allow(dead_code)]

use serde_json::Value;

use crate::support::Request;

/// A POST to `path` with `body` in `content_type`, accepting `accept`.
pub fn api_request(
    path: &str,
    content_type: &str,
    accept: &str,
    body: impl Into<Vec<u8>>,
) -> Request {
    Request::post(path)
        .header("Content-Type", content_type)
        .header("Accept", accept)
        .body(body)
}

/// The entry of `list` (a JSON array) whose value at `path` equals `value`.
pub fn find<'a>(list: &'a Value, path: &[&str], value: &str) -> Option<&'a Value> {
    list.as_array()?.iter().find(|item| {
        path.iter()
            .fold(*item, |v, key| &v[*key])
            .as_str()
            .is_some_and(|v| v == value)
    })
}

/// The value of metric `name` in a GET_METRICS answer (JSON); fails the test if it is
/// not there.
pub fn metric(answer: &Value, name: &str) -> f64 {
    find(&answer["get_metrics"]["metrics"], &["name"], name)
        .and_then(|m| m["value"].as_f64())
        .unwrap_or_else(|| panic!("no {name} in {answer}"))
}
