use thiserror::Error;

/// Everything that can stop the executor or one of its calls to the agent.
#[derive(Debug, Error)]
pub enum ExecutorError {
    /// A MESOS_* variable the agent sets is missing or malformed.
    #[error("environment variable {variable}: {message}")]
    Env {
        variable: &'static str,
        message: String,
    },
    /// A LIBPROCESS_SSL_* variable (inherited from the agent), or a file it names, is
    /// unusable.
    #[error(transparent)]
    Tls(#[from] ratufa_gateway::GatewayError),
    /// The agent could not be reached, or the connection broke.
    #[error("agent at {endpoint}: {message}")]
    Connection { endpoint: String, message: String },
    /// The agent answered a call with an error status; `body` is its explanation.
    #[error("the agent refused the call with {status}: {body}")]
    Refused { status: u16, body: String },
    /// The event stream is not the RecordIO of protobuf events it should be.
    #[error("malformed event stream: {0}")]
    BadStream(String),
}
