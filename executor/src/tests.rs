//! The executor against a minimal agent: just enough of `POST /api/v1/executor` to
//! subscribe, stream events and take calls, on a real socket, with real child
//! processes as tasks.

#![allow(clippy::unwrap_used)]

mod fake_agent;
mod features;
mod protocol;
