//! Transports the kernel lends to plugins: one file per protocol.
//!
//! A plugin never opens a connection. It asks its capability (`http`,
//! `amqp`, `files`) and the sandbox, after its policy checks (grant, address,
//! size), calls the target's transport here. A transport owns the connection,
//! the endpoint and the credentials; it turns every failure into a
//! [`TransportError`] variant so the dispatcher can tell a timeout from bad
//! credentials without parsing text.
//!
//! The traits are object-safe so the sandbox holds `Arc<dyn …>`: the real
//! transports talk to real servers; [`recorded`] replays canned answers for
//! `hub plugin test` and the benchmarks.

pub mod amqp;
pub mod files;
pub mod http;
pub mod recorded;
pub mod wsse;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Why a transport call failed; mirrors the WIT `transport-error` variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", content = "detail", rename_all = "kebab-case")]
pub enum TransportError {
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("connection refused: {0}")]
    Refused(String),
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("unavailable: {message}")]
    Unavailable {
        message: String,
        retry_after_ms: Option<u64>,
    },
    #[error("protocol error: {0}")]
    ProtocolError(String),
    #[error("message larger than the {0}-byte limit")]
    TooLarge(u64),
    #[error("denied by the hub: {0}")]
    Denied(String),
}

impl TransportError {
    /// The stable name of the error's kind (as in the WIT and the attempt history).
    pub fn kind(&self) -> &'static str {
        match self {
            TransportError::Timeout(_) => "timeout",
            TransportError::Refused(_) => "refused",
            TransportError::Unauthorized(_) => "unauthorized",
            TransportError::NotFound(_) => "not-found",
            TransportError::Unavailable { .. } => "unavailable",
            TransportError::ProtocolError(_) => "protocol-error",
            TransportError::TooLarge(_) => "too-large",
            TransportError::Denied(_) => "denied",
        }
    }
}

/// HTTP methods a plugin may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
}

impl HttpMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Head => "HEAD",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
        }
    }
}

/// A request the sandbox has checked: `path` is relative to the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: HttpMethod,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmqpMessage {
    pub routing_key: String,
    pub body: Vec<u8>,
    pub content_type: Option<String>,
    pub message_id: Option<String>,
    pub correlation_id: Option<String>,
    pub expect_reply: bool,
    pub headers: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub name: String,
    pub size: u64,
    pub modified: Option<i64>,
}

#[async_trait]
pub trait HttpTransport: Send + Sync {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError>;

    /// Request headers this transport sets itself, lowercase (the target's
    /// credential header, e.g. a configured `X-Api-Key`): the sandbox
    /// refuses a plugin's request that sets one, as it refuses
    /// `authorization`.
    fn host_headers(&self) -> &[String] {
        &[]
    }
}

#[async_trait]
pub trait AmqpTransport: Send + Sync {
    /// Returns once the broker confirmed the message.
    async fn publish(&self, message: AmqpMessage) -> Result<(), TransportError>;
}

/// FTP or SFTP; paths are relative to the target's root directory.
#[async_trait]
pub trait FileTransport: Send + Sync {
    /// Writes atomically (temporary name, then rename).
    async fn put(&self, path: &str, contents: Vec<u8>) -> Result<(), TransportError>;
    async fn get(&self, path: &str) -> Result<Vec<u8>, TransportError>;
    async fn list(&self, directory: &str) -> Result<Vec<FileEntry>, TransportError>;
    async fn rename(&self, from: &str, to: &str) -> Result<(), TransportError>;
    async fn remove(&self, path: &str) -> Result<(), TransportError>;
}

/// A message an OPS sent on its own: an AMQP reply, a response file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub correlation_id: Option<String>,
    /// The file name, or the AMQP message id.
    pub name: Option<String>,
    pub content_type: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Where a transport hands what it received (the kernel's reply handling).
/// `Ok` means the message is stored — applied to its order or kept as
/// unmatched — and the transport may forget it (ack, archive); `Err` means
/// nothing was stored and the message must stay with the transport (nack
/// and requeue, leave the file) to be offered again.
#[async_trait]
pub trait InboundHandler: Send + Sync {
    async fn handle(&self, message: Received) -> Result<HandledAs, String>;
}

/// What the kernel made of a received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandledAs {
    /// Applied to an order, or a duplicate of what it already had.
    Applied,
    /// Read, but no waiting order matched; kept for operators.
    Unmatched,
    /// The plugin could not read it; kept for operators with this reason.
    Unreadable(String),
}

/// The transports lent to one target; `None` where the target has none
/// configured (the capability then answers `denied`).
#[derive(Clone, Default)]
pub struct TargetTransports {
    pub http: Option<std::sync::Arc<dyn HttpTransport>>,
    pub amqp: Option<std::sync::Arc<dyn AmqpTransport>>,
    pub files: Option<std::sync::Arc<dyn FileTransport>>,
}

impl std::fmt::Debug for TargetTransports {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("TargetTransports")
            .field("http", &self.http.is_some())
            .field("amqp", &self.amqp.is_some())
            .field("files", &self.files.is_some())
            .finish()
    }
}
