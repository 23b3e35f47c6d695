use thiserror::Error;

/// Everything that can go wrong turning bytes into a Mesos message.
///
/// Each variant names where the fault is (a dotted field path such as
/// `subscribe.framework_info.user`) so the HTTP layer can pass the message on to the
/// client unchanged.
#[derive(Debug, Error)]
pub enum ProtoError {
    /// The body is not JSON at all.
    #[error("malformed JSON: {0}")]
    Syntax(String),
    /// The document as a whole has the wrong shape (an array where a message belongs).
    #[error("{0}")]
    Shape(String),
    /// The JSON is well formed but a value does not fit the schema.
    #[error("field '{path}': {message}")]
    Field { path: String, message: String },
    /// A `required` field of the .proto is absent.
    #[error("missing required field '{path}'")]
    MissingRequired { path: String },
    /// The protobuf bytes do not decode.
    #[error("malformed protobuf: {0}")]
    Protobuf(String),
    /// The message type is not in the descriptor pool (a bug in ratufa, not in input).
    #[error("unknown message type '{0}'")]
    UnknownType(String),
    /// A resource that breaks Mesos's rules for resources (in a call, from an agent,
    /// or in `--resources`).
    #[error("Resource '{resource}' is invalid: {message}")]
    InvalidResource { resource: String, message: String },
    /// Text that is not valid `--resources` or `--attributes` syntax.
    #[error("Bad value for resources '{input}': {message}")]
    ResourceSyntax { input: String, message: String },
    /// Text that is not a Mesos duration (`15secs`, `500ms`, `1mins`).
    #[error("invalid duration '{input}': {message}")]
    InvalidDuration { input: String, message: String },
}
