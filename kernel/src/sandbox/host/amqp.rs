//! `hub:plugin/amqp`: publishing to the target's exchange.

use super::super::bindings::hub::plugin::amqp::{Host, Message};
use super::super::bindings::hub::plugin::types;
use super::super::grants::Capability;
use super::super::state::CallState;
use super::{check_size, shorten, to_wit};
use crate::transports::{AmqpMessage, TransportError};

impl Host for CallState {
    async fn publish(&mut self, message: Message) -> wasmtime::Result<Result<(), types::TransportError>> {
        if let Err(denied) = self.gate(Capability::Amqp, "amqp.publish")? {
            return Ok(to_wit::<(), ()>(Err(denied)));
        }
        let result = match (self.check_message(&message), self.target.transports.amqp.clone()) {
            (Err(error), _) => Err(error),
            (Ok(()), None) => Err(TransportError::Denied(format!(
                "target `{}` has no AMQP broker",
                self.target.name
            ))),
            (Ok(()), Some(transport)) => {
                let mut headers = message.headers;
                if let Some(traceparent) = &self.traceparent {
                    headers.push(("traceparent".to_owned(), traceparent.clone()));
                }
                transport
                    .publish(AmqpMessage {
                        routing_key: message.routing_key,
                        body: message.body,
                        content_type: message.content_type,
                        message_id: message.message_id,
                        correlation_id: message.correlation_id,
                        expect_reply: message.expect_reply,
                        headers,
                    })
                    .await
            }
        };
        Ok(to_wit(result))
    }
}

impl CallState {
    fn check_message(&self, message: &Message) -> Result<(), TransportError> {
        if !self
            .target
            .amqp_routing_keys
            .iter()
            .any(|allowed| allowed == &message.routing_key)
        {
            return Err(TransportError::Denied(format!(
                "routing key `{}` is not among target `{}`'s routing keys",
                shorten(&message.routing_key),
                self.target.name
            )));
        }
        if let Some((name, _)) = message
            .headers
            .iter()
            .find(|(name, _)| ["traceparent", "tracestate"].contains(&name.to_ascii_lowercase().as_str()))
        {
            return Err(TransportError::Denied(format!(
                "header `{}` is set by the host only",
                shorten(name)
            )));
        }
        check_size(message.body.len(), self.limits.max_message_bytes())
    }
}
