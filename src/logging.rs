//! Logging to stderr, shared by the `ratufa` and `ratufa-executor` binaries.

/// Sets up `tracing` at Mesos's `--logging_level` (INFO, WARNING, ERROR) or any
/// `tracing` filter; RUST_LOG, when set, wins.
pub fn init(level: &str) {
    let filter = match level.to_ascii_uppercase().as_str() {
        "INFO" => "info".to_string(),
        "WARNING" => "warn".to_string(),
        "ERROR" => "error".to_string(),
        _ => level.to_string(),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&filter))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
