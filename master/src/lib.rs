//! The ratufa master: framework registration and lifecycle behind the Mesos v1
//! scheduler API.
//!
//! `core` is the state machine (no IO); the IO that drives it and the HTTP routes come
//! on top of it.

pub mod core;
