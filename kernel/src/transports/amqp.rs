//! RabbitMQ (AMQP 0-9-1) with lapin: publishing orders and consuming replies.
//!
//! Why it is built this way:
//!
//! - **"Submitted" means the broker has it.** The publish channel is in
//!   confirm mode and every message is published `mandatory` and persistent
//!   (delivery mode 2). [`LapinAmqp::publish`] returns `Ok` only once the
//!   broker confirmed *this* message (each publish awaits its own
//!   confirmation, so concurrent publishes share the channel safely). A
//!   message no queue is bound for comes back as a `basic.return` attached to
//!   its confirmation; that is a failure ([`TransportError::NotFound`] naming
//!   exchange and routing key), not a success — otherwise an order would be
//!   "accepted" into the void. A nack or no confirmation within
//!   `confirm_timeout_ms` are failures the dispatcher retries.
//! - **Replies are acked only once the kernel stored them.** The reply
//!   consumer uses manual acks: the handler's `Ok` means the reply is durable
//!   in the hub's store, so the broker may forget it; `Err` means nothing was
//!   stored, so the message is nacked with requeue (after a short pause, so a
//!   broken store does not make the broker and the hub spin) and offered
//!   again. A crash between store and ack delivers the reply twice, which
//!   applying replies tolerates; the other order would lose it.
//! - **Lazy connections.** [`LapinAmqp::new`] does not connect: the hub must
//!   start (and serve its API, take orders into its outbox) while a broker is
//!   down. The first publish connects; the reply consumer connects on its own
//!   connection, so a slow handler never stalls publishing and vice versa.
//! - **Backoff instead of hammering.** One connection and one confirm channel
//!   per target are shared by all publishes. When they break they are
//!   dropped and rebuilt on the next use; a failed connection attempt starts
//!   a backoff (200 ms, doubling up to `reconnect_max_ms`) during which
//!   publishes fail fast with [`TransportError::Unavailable`] and a
//!   `retry_after_ms`, rather than every dispatcher worker dialing a broker
//!   that is restarting. A channel the broker closed (e.g. exchange missing)
//!   is reopened on the same connection without backoff: the broker is fine.
//! - **Errors name where, never the password.** Every error names the
//!   target, `host:port/vhost`, the exchange and the routing key; the
//!   password only ever goes into the connection handshake.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    QueueDeclareOptions,
};
use lapin::protocol::{AMQPErrorKind, AMQPHardError, AMQPSoftError};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::uri::{AMQPUri, AMQPUserInfo};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ErrorKind};
use tokio::sync::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{AmqpMessage, AmqpTransport, InboundHandler, Received, TransportError};
use crate::config::AmqpTargetConfig;
use crate::secret::Secret;

/// AMQP delivery mode "persistent": the broker writes the message to disk.
const PERSISTENT: u8 = 2;
/// The first pause after a failure; it doubles up to `reconnect_max_ms`.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);

/// One target's broker: a lazily opened publish connection and the reply
/// consumer.
pub struct LapinAmqp {
    target: String,
    broker: Broker,
    exchange: String,
    reply_queue: Option<String>,
    confirm_timeout: Duration,
    reconnect_max: Duration,
    prefetch: u16,
    max_message_bytes: usize,
    publisher: Mutex<Publisher>,
}

impl fmt::Debug for LapinAmqp {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("LapinAmqp")
            .field("target", &self.target)
            .field("broker", &self.broker.label)
            .field("exchange", &self.exchange)
            .field("reply_queue", &self.reply_queue)
            .finish_non_exhaustive()
    }
}

/// Where the broker is and how to log in; `label` is what errors show.
struct Broker {
    /// Parsed from the configured URL, with `username` and an empty password.
    uri: Result<AMQPUri, String>,
    password: Secret,
    /// `host:port/vhost` as configured (vhost percent-encoded).
    label: String,
}

impl Broker {
    fn new(url: &url::Url, username: &str, password: Secret) -> Self {
        let host = match url.host() {
            Some(url::Host::Domain(domain)) => domain.to_owned(),
            Some(url::Host::Ipv4(address)) => address.to_string(),
            Some(url::Host::Ipv6(address)) => address.to_string(),
            None => "localhost".to_owned(),
        };
        let uri = url.as_str().parse::<AMQPUri>().map(|mut uri| {
            // amq-protocol only takes domain names from the URL; an IP host
            // would silently become `localhost`.
            uri.authority.host = host.clone();
            uri.authority.userinfo = AMQPUserInfo {
                username: username.to_owned(),
                password: String::new(),
            };
            uri
        });
        let port = match &uri {
            Ok(uri) => uri.authority.port,
            Err(_) => url.port().unwrap_or(5672),
        };
        let vhost = match url.path() {
            "" => "/",
            path => path,
        };
        Broker {
            uri,
            password,
            label: format!("{host}:{port}{vhost}"),
        }
    }

    /// Opens a connection with the password attached (never logged: the
    /// URI with credentials exists only for the handshake).
    async fn connect(&self, name: &str) -> Result<Connection, ConnectFailure> {
        let mut uri = self.uri.clone().map_err(ConnectFailure::BadUrl)?;
        uri.authority.userinfo.password = self.password.expose().to_owned();
        let properties = ConnectionProperties::default().with_connection_name(LongString::from(name.to_owned()));
        Connection::connect_uri(uri, properties)
            .await
            .map_err(ConnectFailure::Broker)
    }
}

enum ConnectFailure {
    BadUrl(String),
    Broker(lapin::Error),
}

/// The shared publish connection and its confirm channel, plus the backoff
/// that keeps a down broker from being dialed by every publish.
#[derive(Default)]
struct Publisher {
    session: Option<PublishSession>,
    backoff: Backoff,
}

struct PublishSession {
    connection: Connection,
    channel: Channel,
}

/// Consecutive failed connection attempts and when the next may be made.
#[derive(Default)]
struct Backoff {
    failures: u32,
    retry_at: Option<Instant>,
    last_failure: String,
}

impl Backoff {
    /// Records a failure; returns the pause before the next attempt.
    fn failed(&mut self, reconnect_max: Duration, reason: String) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let delay = backoff_delay(self.failures, reconnect_max);
        self.retry_at = Some(Instant::now() + delay);
        self.last_failure = reason;
        delay
    }

    fn succeeded(&mut self) {
        *self = Backoff::default();
    }
}

/// 200 ms after the first failure, doubling, at most `max`.
fn backoff_delay(failures: u32, max: Duration) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    FIRST_BACKOFF
        .saturating_mul(1 << doublings)
        .min(max)
        .max(FIRST_BACKOFF.min(max))
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl LapinAmqp {
    /// Does not connect: the first publish (or the reply consumer) does.
    pub fn new(target: &str, config: &AmqpTargetConfig, password: Secret, max_message_bytes: usize) -> Self {
        LapinAmqp {
            target: target.to_owned(),
            broker: Broker::new(&config.url, &config.username, password),
            exchange: config.exchange.clone(),
            reply_queue: config.reply_queue.clone(),
            confirm_timeout: Duration::from_millis(config.confirm_timeout_ms),
            reconnect_max: Duration::from_millis(config.reconnect_max_ms),
            prefetch: config.prefetch,
            max_message_bytes,
            publisher: Mutex::new(Publisher::default()),
        }
    }

    /// "target `t`: broker h:p/vhost, exchange `e`, routing key `k`".
    fn at(&self, routing_key: &str) -> String {
        format!(
            "target `{}`: broker {}, {}, routing key `{routing_key}`",
            self.target,
            self.broker.label,
            self.exchange_label()
        )
    }

    fn exchange_label(&self) -> String {
        if self.exchange.is_empty() {
            "the default exchange".to_owned()
        } else {
            format!("exchange `{}`", self.exchange)
        }
    }

    /// The shared confirm channel: reused while healthy, reopened on the
    /// same connection if only the channel closed, reconnected (subject to
    /// the backoff) if the connection is gone.
    async fn publish_channel(&self, routing_key: &str) -> Result<Channel, TransportError> {
        let mut publisher = self.publisher.lock().await;
        if let Some(session) = &mut publisher.session {
            if session.connection.status().connected() {
                if session.channel.status().connected() {
                    return Ok(session.channel.clone());
                }
                match open_confirm_channel(&session.connection).await {
                    Ok(channel) => {
                        session.channel = channel.clone();
                        return Ok(channel);
                    }
                    Err(error) => {
                        tracing::warn!(target_name = %self.target, broker = %self.broker.label, %error,
                            "cannot reopen the AMQP publish channel; reconnecting");
                    }
                }
            } else {
                tracing::warn!(target_name = %self.target, broker = %self.broker.label,
                    "AMQP publish connection lost; reconnecting on this publish");
            }
            publisher.session = None;
        }
        if let Some(retry_at) = publisher.backoff.retry_at {
            let now = Instant::now();
            if now < retry_at {
                let wait = retry_at - now;
                return Err(TransportError::Unavailable {
                    message: format!(
                        "{}: not reconnecting for another {} ms after {} failed attempt(s); last: {}",
                        self.at(routing_key),
                        millis(wait),
                        publisher.backoff.failures,
                        publisher.backoff.last_failure
                    ),
                    retry_after_ms: Some(millis(wait).max(1)),
                });
            }
        }
        let opened = tokio::time::timeout(self.confirm_timeout, async {
            let connection = self
                .broker
                .connect(&format!("order-hub {} publisher", self.target))
                .await?;
            match open_confirm_channel(&connection).await {
                Ok(channel) => Ok(PublishSession { connection, channel }),
                Err(error) => {
                    let _closed = connection.close(200, ShortString::from("cannot open a channel")).await;
                    Err(ConnectFailure::Broker(error))
                }
            }
        })
        .await;
        let failure = match opened {
            Ok(Ok(session)) => {
                if publisher.backoff.failures > 0 {
                    tracing::info!(target_name = %self.target, broker = %self.broker.label,
                        attempts = publisher.backoff.failures + 1, "AMQP publish connection re-established");
                }
                publisher.backoff.succeeded();
                let channel = session.channel.clone();
                publisher.session = Some(session);
                return Ok(channel);
            }
            Ok(Err(ConnectFailure::BadUrl(reason))) => {
                TransportError::ProtocolError(format!("{}: bad broker URL: {reason}", self.at(routing_key)))
            }
            Ok(Err(ConnectFailure::Broker(error))) => self.classify(&error, routing_key, "cannot connect"),
            Err(_elapsed) => TransportError::Timeout(format!(
                "{}: no connection within {} ms",
                self.at(routing_key),
                millis(self.confirm_timeout)
            )),
        };
        let delay = publisher.backoff.failed(self.reconnect_max, failure.to_string());
        tracing::warn!(target_name = %self.target, broker = %self.broker.label,
            attempt = publisher.backoff.failures, next_delay_ms = millis(delay), error = %failure,
            "AMQP publish connection failed; backing off");
        Err(failure)
    }

    /// Turns a lapin error into the variant the dispatcher acts on.
    fn classify(&self, error: &lapin::Error, routing_key: &str, doing: &str) -> TransportError {
        classify(error, &self.at(routing_key), doing)
    }

    fn properties(&self, message: &AmqpMessage) -> Result<BasicProperties, TransportError> {
        let at = || self.at(&message.routing_key);
        let mut properties = BasicProperties::default().with_delivery_mode(PERSISTENT);
        if let Some(content_type) = &message.content_type {
            properties = properties.with_content_type(short(content_type, "content type", at)?);
        }
        if let Some(message_id) = &message.message_id {
            properties = properties.with_message_id(short(message_id, "message id", at)?);
        }
        if let Some(correlation_id) = &message.correlation_id {
            properties = properties.with_correlation_id(short(correlation_id, "correlation id", at)?);
        }
        if message.expect_reply
            && let Some(reply_queue) = &self.reply_queue
        {
            properties = properties.with_reply_to(short(reply_queue, "reply queue", at)?);
        }
        if !message.headers.is_empty() {
            let mut headers = FieldTable::default();
            for (name, value) in &message.headers {
                headers.insert(
                    short(name, "header name", at)?,
                    AMQPValue::LongString(LongString::from(value.clone())),
                );
            }
            properties = properties.with_headers(headers);
        }
        Ok(properties)
    }

    /// Consumes the reply queue until `shutdown`, reconnecting as needed.
    pub async fn run_replies(&self, handler: Arc<dyn InboundHandler>, shutdown: CancellationToken) {
        let Some(queue) = self.reply_queue.clone() else {
            tracing::warn!(target_name = %self.target, "no reply_queue configured; no AMQP reply consumer");
            return;
        };
        let Ok(queue_name) = ShortString::try_new(queue.clone()) else {
            tracing::error!(target_name = %self.target, queue_bytes = queue.len(),
                "reply queue name longer than AMQP's 255 bytes; no AMQP reply consumer");
            return;
        };
        let mut failures: u32 = 0;
        loop {
            match self
                .consume_replies(&queue_name, handler.as_ref(), &shutdown, &mut failures)
                .await
            {
                ConsumeEnd::Shutdown => return,
                ConsumeEnd::Lost(reason) => {
                    failures = failures.saturating_add(1);
                    let delay = backoff_delay(failures, self.reconnect_max);
                    tracing::warn!(target_name = %self.target, broker = %self.broker.label, queue = %queue,
                        attempt = failures, next_delay_ms = millis(delay), reason = %reason,
                        "AMQP reply consumer disconnected; reconnecting");
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
    }

    /// One connection's worth of consuming: set up, then handle deliveries
    /// one at a time until shutdown or the connection breaks.
    async fn consume_replies(
        &self,
        queue: &ShortString,
        handler: &dyn InboundHandler,
        shutdown: &CancellationToken,
        failures: &mut u32,
    ) -> ConsumeEnd {
        let about = format!(
            "target `{}`: broker {}, reply queue `{queue}`",
            self.target, self.broker.label
        );
        let setup = async {
            let connection = match self.broker.connect(&format!("order-hub {} replies", self.target)).await {
                Ok(connection) => connection,
                Err(ConnectFailure::BadUrl(reason)) => return Err(format!("{about}: bad broker URL: {reason}")),
                Err(ConnectFailure::Broker(error)) => {
                    return Err(classify(&error, &about, "cannot connect").to_string());
                }
            };
            let consumer = async {
                let channel = connection.create_channel().await?;
                channel
                    .queue_declare(queue.clone(), QueueDeclareOptions::durable(), FieldTable::default())
                    .await?;
                channel.basic_qos(self.prefetch, BasicQosOptions::default()).await?;
                let tag = ShortString::from(format!("order-hub-{}", uuid::Uuid::now_v7()));
                channel
                    .basic_consume(
                        queue.clone(),
                        tag,
                        BasicConsumeOptions::default(),
                        FieldTable::default(),
                    )
                    .await
            }
            .await;
            match consumer {
                Ok(consumer) => Ok((connection, consumer)),
                Err(error) => {
                    let _closed = connection.close(200, ShortString::from("consumer setup failed")).await;
                    Err(classify(&error, &about, "cannot consume").to_string())
                }
            }
        };
        let (connection, mut consumer) = tokio::select! {
            () = shutdown.cancelled() => return ConsumeEnd::Shutdown,
            setup = tokio::time::timeout(self.confirm_timeout, setup) => match setup {
                Ok(Ok(ready)) => ready,
                Ok(Err(reason)) => return ConsumeEnd::Lost(reason),
                Err(_elapsed) => return ConsumeEnd::Lost(format!("{about}: no connection within {} ms",
                    millis(self.confirm_timeout))),
            },
        };
        if *failures > 0 {
            tracing::info!(target_name = %self.target, broker = %self.broker.label, queue = %queue,
                attempts = *failures + 1, "AMQP reply consumer reconnected");
        } else {
            tracing::info!(target_name = %self.target, broker = %self.broker.label, queue = %queue,
                "AMQP reply consumer started");
        }
        *failures = 0;
        let mut handler_failures: u32 = 0;
        let end = loop {
            let next = tokio::select! {
                () = shutdown.cancelled() => break ConsumeEnd::Shutdown,
                next = consumer.next() => next,
            };
            let delivery = match next {
                Some(Ok(delivery)) => delivery,
                Some(Err(error)) => break ConsumeEnd::Lost(format!("{about}: {error}")),
                None => break ConsumeEnd::Lost(format!("{about}: the broker ended the consumer")),
            };
            let received = received_from(&delivery.properties, delivery.data.clone());
            match handler.handle(received).await {
                Ok(_) => {
                    handler_failures = 0;
                    if let Err(error) = delivery.acker.ack(BasicAckOptions::default()).await {
                        // Unacked: the broker offers it again after reconnecting.
                        break ConsumeEnd::Lost(format!("{about}: cannot ack a stored reply: {error}"));
                    }
                }
                Err(reason) => {
                    handler_failures = handler_failures.saturating_add(1);
                    let pause = backoff_delay(handler_failures, self.reconnect_max);
                    tracing::warn!(target_name = %self.target, queue = %queue, reason = %reason,
                        consecutive_failures = handler_failures, requeue_in_ms = millis(pause),
                        "the hub could not store an AMQP reply; requeueing it");
                    let stopping = tokio::select! {
                        () = shutdown.cancelled() => true,
                        () = tokio::time::sleep(pause) => false,
                    };
                    let requeue = BasicNackOptions {
                        multiple: false,
                        requeue: true,
                    };
                    if let Err(error) = delivery.acker.nack(requeue).await {
                        break ConsumeEnd::Lost(format!("{about}: cannot requeue a reply: {error}"));
                    }
                    if stopping {
                        break ConsumeEnd::Shutdown;
                    }
                }
            }
        };
        let _closed = tokio::time::timeout(
            self.confirm_timeout,
            connection.close(200, ShortString::from("order hub reply consumer stopping")),
        )
        .await;
        end
    }
}

enum ConsumeEnd {
    Shutdown,
    Lost(String),
}

/// Turns a lapin error into the variant the dispatcher acts on; `at` says
/// which target, broker, exchange and key.
fn classify(error: &lapin::Error, at: &str, doing: &str) -> TransportError {
    match error.kind() {
        ErrorKind::IOError(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => TransportError::Refused(format!("{at}: {doing}: {io}")),
            std::io::ErrorKind::TimedOut => TransportError::Timeout(format!("{at}: {doing}: {io}")),
            _ => TransportError::Unavailable {
                message: format!("{at}: {doing}: {io}"),
                retry_after_ms: None,
            },
        },
        ErrorKind::ProtocolError(amqp) => {
            let text = format!("{at}: {doing}: {} {}", amqp.get_id(), amqp.get_message());
            match amqp.kind() {
                AMQPErrorKind::Soft(AMQPSoftError::ACCESSREFUSED) => TransportError::Unauthorized(text),
                AMQPErrorKind::Soft(AMQPSoftError::NOTFOUND) => TransportError::NotFound(text),
                AMQPErrorKind::Hard(AMQPHardError::NOTALLOWED) => {
                    if amqp.get_message().as_str().contains("not found") {
                        TransportError::NotFound(text)
                    } else {
                        TransportError::Unauthorized(text)
                    }
                }
                AMQPErrorKind::Hard(AMQPHardError::CONNECTIONFORCED | AMQPHardError::RESOURCEERROR)
                | AMQPErrorKind::Soft(AMQPSoftError::RESOURCELOCKED) => TransportError::Unavailable {
                    message: text,
                    retry_after_ms: None,
                },
                _ => TransportError::ProtocolError(text),
            }
        }
        ErrorKind::AuthProviderError(reason) => TransportError::Unauthorized(format!("{at}: {doing}: {reason}")),
        ErrorKind::InvalidConnectionState(_)
        | ErrorKind::InvalidChannelState(..)
        | ErrorKind::InvalidChannel(_)
        | ErrorKind::MissingHeartbeatError
        | ErrorKind::RuntimeShutdownError(_) => TransportError::Unavailable {
            message: format!("{at}: {doing}: {error}"),
            retry_after_ms: None,
        },
        _ => TransportError::ProtocolError(format!("{at}: {doing}: {error}")),
    }
}

async fn open_confirm_channel(connection: &Connection) -> Result<Channel, lapin::Error> {
    let channel = connection.create_channel().await?;
    channel.confirm_select(ConfirmSelectOptions::default()).await?;
    Ok(channel)
}

/// An AMQP short string (≤ 255 bytes); longer is the plugin's mistake.
fn short(value: &str, what: &str, at: impl Fn() -> String) -> Result<ShortString, TransportError> {
    ShortString::try_new(value).map_err(|_| {
        TransportError::Denied(format!(
            "{}: {what} is {} bytes; AMQP allows at most 255",
            at(),
            value.len()
        ))
    })
}

/// What the kernel sees of a delivery: ids, content type, the headers that
/// read as text, the body bytes untouched.
fn received_from(properties: &BasicProperties, body: Vec<u8>) -> Received {
    let text = |value: &Option<ShortString>| value.as_ref().map(|value| value.as_str().to_owned());
    let headers = properties
        .headers()
        .as_ref()
        .map(|table| {
            table
                .inner()
                .iter()
                .filter_map(|(name, value)| Some((name.as_str().to_owned(), header_text(value)?)))
                .collect()
        })
        .unwrap_or_default();
    Received {
        correlation_id: text(properties.correlation_id()),
        name: text(properties.message_id()),
        content_type: text(properties.content_type()),
        headers,
        body,
    }
}

fn header_text(value: &AMQPValue) -> Option<String> {
    match value {
        AMQPValue::LongString(text) => String::from_utf8(text.as_bytes().to_vec()).ok(),
        AMQPValue::ShortString(text) => Some(text.as_str().to_owned()),
        AMQPValue::Boolean(flag) => Some(flag.to_string()),
        AMQPValue::ShortShortInt(number) => Some(number.to_string()),
        AMQPValue::ShortShortUInt(number) => Some(number.to_string()),
        AMQPValue::ShortInt(number) => Some(number.to_string()),
        AMQPValue::ShortUInt(number) => Some(number.to_string()),
        AMQPValue::LongInt(number) => Some(number.to_string()),
        AMQPValue::LongUInt(number) => Some(number.to_string()),
        AMQPValue::LongLongInt(number) => Some(number.to_string()),
        AMQPValue::Timestamp(number) => Some(number.to_string()),
        AMQPValue::Float(number) => Some(number.to_string()),
        AMQPValue::Double(number) => Some(number.to_string()),
        _ => None,
    }
}

#[async_trait]
impl AmqpTransport for LapinAmqp {
    async fn publish(&self, message: AmqpMessage) -> Result<(), TransportError> {
        if message.body.len() > self.max_message_bytes {
            return Err(TransportError::TooLarge(
                u64::try_from(self.max_message_bytes).unwrap_or(u64::MAX),
            ));
        }
        let at = || self.at(&message.routing_key);
        let exchange = short(&self.exchange, "exchange name", at)?;
        let routing_key = short(&message.routing_key, "routing key", at)?;
        let properties = self.properties(&message)?;
        let channel = self.publish_channel(&message.routing_key).await?;
        let mandatory = BasicPublishOptions {
            mandatory: true,
            immediate: false,
        };
        let confirmation = tokio::time::timeout(self.confirm_timeout, async {
            channel
                .basic_publish(exchange, routing_key, mandatory, &message.body, properties)
                .await?
                .await
        })
        .await;
        match confirmation {
            Err(_elapsed) => Err(TransportError::Timeout(format!(
                "{}: no publisher confirm within {} ms",
                at(),
                millis(self.confirm_timeout)
            ))),
            Ok(Err(error)) => Err(self.classify(&error, &message.routing_key, "publish failed")),
            Ok(Ok(Confirmation::Ack(None))) => Ok(()),
            Ok(Ok(Confirmation::Ack(Some(returned)) | Confirmation::Nack(Some(returned)))) => {
                Err(TransportError::NotFound(format!(
                    "{}: unroutable, no queue is bound for it ({} {})",
                    at(),
                    returned.reply_code,
                    returned.reply_text
                )))
            }
            Ok(Ok(Confirmation::Nack(None))) => Err(TransportError::Unavailable {
                message: format!("{}: the broker nacked the message (could not store it)", at()),
                retry_after_ms: None,
            }),
            Ok(Ok(Confirmation::NotRequested)) => Err(TransportError::ProtocolError(format!(
                "{}: the channel is not in confirm mode",
                at()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_200_ms_up_to_the_maximum() {
        let max = Duration::from_millis(1_000);
        let delays: Vec<u64> = (1..=6).map(|failures| millis(backoff_delay(failures, max))).collect();
        assert_eq!(delays, vec![200, 400, 800, 1_000, 1_000, 1_000]);
        assert_eq!(millis(backoff_delay(u32::MAX, Duration::from_secs(30))), 30_000);
    }

    #[test]
    fn broker_label_keeps_an_ip_host_and_the_vhost_but_no_password() {
        let url = url::Url::parse("amqp://10.1.2.3:5673/orders").unwrap();
        let broker = Broker::new(&url, "hub", Secret::new("s3cret"));
        assert_eq!(broker.label, "10.1.2.3:5673/orders");
        let uri = broker.uri.unwrap();
        assert_eq!(uri.authority.host, "10.1.2.3");
        assert_eq!(uri.vhost, "orders");
        assert_eq!(uri.authority.userinfo.password, "");
    }
}
