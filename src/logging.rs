//! Logging to stderr, shared by the `ratufa` and `ratufa-executor` binaries.

use std::str::FromStr;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::SubscriberBuilder;
use tracing_subscriber::fmt::format::{DefaultFields, Format};

/// Sets up `tracing` at Mesos's `--logging_level` (INFO, WARNING, ERROR) or any
/// `tracing` filter; RUST_LOG, when set and valid, wins.
pub fn init(level: &str) {
    let filter = match level.to_ascii_uppercase().as_str() {
        "INFO" => "info".to_string(),
        "WARNING" => "warn".to_string(),
        "ERROR" => "error".to_string(),
        _ => level.to_string(),
    };
    let from_env = std::env::var("RUST_LOG").ok();
    for spec in from_env.iter().chain([&filter]) {
        // A plain level needs no directive parsing: `ratufa-executor` starts once per
        // task, and setting up an EnvFilter is a measurable part of its start.
        if let Ok(level) = LevelFilter::from_str(spec) {
            return builder().with_max_level(level).init();
        }
        if let Ok(filter) = EnvFilter::try_new(spec) {
            return builder().with_env_filter(filter).init();
        }
    }
    builder().with_max_level(LevelFilter::INFO).init();
}

fn builder() -> SubscriberBuilder<DefaultFields, Format, LevelFilter, fn() -> std::io::Stderr> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr as fn() -> std::io::Stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
}
