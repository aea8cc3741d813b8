//! RabbitMQ (AMQP 0-9-1) with lapin. STUB — being written (issue 5).

use std::sync::Arc;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use super::{AmqpMessage, AmqpTransport, InboundHandler, TransportError};
use crate::config::AmqpTargetConfig;
use crate::secret::Secret;

/// One target's broker connection.
#[derive(Debug)]
pub struct LapinAmqp {
    target: String,
}

impl LapinAmqp {
    /// Does not connect: the first publish (or the reply consumer) does.
    pub fn new(target: &str, _config: &AmqpTargetConfig, _password: Secret, _max_message_bytes: usize) -> Self {
        LapinAmqp {
            target: target.to_owned(),
        }
    }

    /// Consumes the reply queue until `shutdown`, reconnecting as needed.
    pub async fn run_replies(&self, _handler: Arc<dyn InboundHandler>, shutdown: CancellationToken) {
        shutdown.cancelled().await;
    }
}

#[async_trait]
impl AmqpTransport for LapinAmqp {
    async fn publish(&self, _message: AmqpMessage) -> Result<(), TransportError> {
        Err(TransportError::Denied(format!("target `{}`: AMQP not yet built", self.target)))
    }
}
