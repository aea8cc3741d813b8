//! RabbitMQ: the broker itself is the machine's real RabbitMQ (not started
//! per test — a broker takes seconds to boot and is shared by design); this
//! module is the OPS's side of it. [`Peer`] declares what an OPS would
//! (queues, exchanges, bindings), reads what the hub published and answers
//! on the hub's reply queue; [`BrokerOutage`] stops and restarts the broker
//! application with `rabbitmqctl` and restarts it again when dropped, so a
//! failing test never leaves the broker down for the next one.
//!
//! Tests isolate themselves with unique (uuid) queue and exchange names.
//! Tests that restart the broker must not overlap with other RabbitMQ tests:
//! `.config/nextest.toml` puts every test named `…amqp…` in one serial group.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions,
    ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::uri::{AMQPUri, AMQPUserInfo};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// The broker's user the tests log in as (RabbitMQ's loopback-only default).
pub const USERNAME: &str = "guest";
pub const PASSWORD: &str = "guest";

/// `amqp://host:port/vhost` without credentials: `HUB_TEST_AMQP_URL` or the
/// local broker's default vhost.
pub fn broker_url() -> String {
    std::env::var("HUB_TEST_AMQP_URL").unwrap_or_else(|_| "amqp://127.0.0.1:5672/%2f".to_owned())
}

/// [`broker_url`] parsed, with the test credentials, for lapin.
pub fn broker_uri() -> Result<AMQPUri> {
    let text = broker_url();
    let mut uri = text
        .parse::<AMQPUri>()
        .map_err(|reason| anyhow!("bad broker URL {text}: {reason}"))?;
    // amq-protocol takes only domain names from a URL (an IP becomes
    // `localhost`); take the host as written.
    let authority = text
        .split_once("://")
        .map(|(_, rest)| rest.split(['/', '?']).next().unwrap_or(rest))
        .ok_or_else(|| anyhow!("bad broker URL {text}: no scheme"))?;
    let host = match authority.rsplit_once(':') {
        Some((host, _port)) => host,
        None => authority,
    };
    uri.authority.host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
    uri.authority.userinfo = AMQPUserInfo {
        username: USERNAME.to_owned(),
        password: PASSWORD.to_owned(),
    };
    Ok(uri)
}

/// A unique name for a queue or exchange: `hub-test-<what>-<uuid>`.
pub fn unique_name(what: &str) -> String {
    format!("hub-test-{what}-{}", uuid::Uuid::now_v7())
}

/// The OPS's end of the broker: one connection, one confirm channel.
pub struct Peer {
    connection: Connection,
    channel: Channel,
}

/// A message the peer received, already acked.
#[derive(Debug, Clone)]
pub struct Got {
    pub body: Vec<u8>,
    pub exchange: String,
    pub routing_key: String,
    pub redelivered: bool,
    pub delivery_mode: Option<u8>,
    pub content_type: Option<String>,
    pub message_id: Option<String>,
    pub correlation_id: Option<String>,
    pub reply_to: Option<String>,
    /// Headers whose values are strings (long or short).
    pub headers: BTreeMap<String, String>,
}

impl Got {
    fn from_delivery(delivery: &Delivery) -> Got {
        let text = |value: &Option<ShortString>| value.as_ref().map(|value| value.as_str().to_owned());
        let properties = &delivery.properties;
        let headers = properties
            .headers()
            .as_ref()
            .map(|table| {
                table
                    .inner()
                    .iter()
                    .filter_map(|(name, value)| {
                        let value = match value {
                            AMQPValue::LongString(text) => String::from_utf8(text.as_bytes().to_vec()).ok()?,
                            AMQPValue::ShortString(text) => text.as_str().to_owned(),
                            _ => return None,
                        };
                        Some((name.as_str().to_owned(), value))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Got {
            body: delivery.data.clone(),
            exchange: delivery.exchange.as_str().to_owned(),
            routing_key: delivery.routing_key.as_str().to_owned(),
            redelivered: delivery.redelivered,
            delivery_mode: *properties.delivery_mode(),
            content_type: text(properties.content_type()),
            message_id: text(properties.message_id()),
            correlation_id: text(properties.correlation_id()),
            reply_to: text(properties.reply_to()),
            headers,
        }
    }
}

/// What a [`Peer::consume`] consumer received, in order.
pub struct Inbox {
    receiver: mpsc::UnboundedReceiver<Got>,
}

impl Inbox {
    /// The next message, or an error once `within` has passed.
    pub async fn next_within(&mut self, within: Duration) -> Result<Got> {
        match tokio::time::timeout(within, self.receiver.recv()).await {
            Ok(Some(got)) => Ok(got),
            Ok(None) => bail!("the consumer stopped (channel or connection closed)"),
            Err(_) => bail!("no message within {within:?}"),
        }
    }

    /// `count` messages, all before `deadline`.
    pub async fn take(&mut self, count: usize, within: Duration) -> Result<Vec<Got>> {
        let deadline = Instant::now() + within;
        let mut got = Vec::with_capacity(count);
        while got.len() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_within(left).await {
                Ok(message) => got.push(message),
                Err(error) => bail!("{error} after {} of {count} messages", got.len()),
            }
        }
        Ok(got)
    }

    /// A message already delivered but not yet taken, if any.
    pub fn try_next(&mut self) -> Option<Got> {
        self.receiver.try_recv().ok()
    }

    /// The next message, however long it takes; `None` once the consumer
    /// is gone. A broken connection does not always end the consumer: check
    /// [`Peer::is_connected`] while waiting.
    pub async fn next(&mut self) -> Option<Got> {
        self.receiver.recv().await
    }
}

impl Peer {
    pub async fn connect() -> Result<Peer> {
        let connection = Connection::connect_uri(broker_uri()?, ConnectionProperties::default())
            .await
            .with_context(|| format!("test peer cannot connect to {}", broker_url()))?;
        let channel = connection.create_channel().await.context("test peer: open a channel")?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .context("test peer: confirm mode")?;
        Ok(Peer { connection, channel })
    }

    /// Whether the connection to the broker is still up.
    pub fn is_connected(&self) -> bool {
        self.connection.status().connected()
    }

    /// A durable queue that the broker deletes by itself a minute after it
    /// was last used, so a failed test leaves nothing behind for long.
    pub async fn declare_queue(&self, name: &str) -> Result<()> {
        let mut arguments = FieldTable::default();
        arguments.insert(ShortString::from("x-expires"), AMQPValue::LongUInt(60_000));
        self.channel
            .queue_declare(ShortString::from(name), QueueDeclareOptions::durable(), arguments)
            .await
            .with_context(|| format!("declare queue {name}"))?;
        Ok(())
    }

    /// A durable queue declared exactly as the hub declares its reply
    /// queue (no arguments: a different declaration would be refused).
    pub async fn declare_reply_queue(&self, name: &str) -> Result<()> {
        self.channel
            .queue_declare(
                ShortString::from(name),
                QueueDeclareOptions::durable(),
                FieldTable::default(),
            )
            .await
            .with_context(|| format!("declare reply queue {name}"))?;
        Ok(())
    }

    /// A durable direct exchange, deleted by the broker when its last
    /// binding goes.
    pub async fn declare_exchange(&self, name: &str) -> Result<()> {
        let options = ExchangeDeclareOptions {
            durable: true,
            auto_delete: true,
            ..ExchangeDeclareOptions::default()
        };
        self.channel
            .exchange_declare(
                ShortString::from(name),
                ExchangeKind::Direct,
                options,
                FieldTable::default(),
            )
            .await
            .with_context(|| format!("declare exchange {name}"))?;
        Ok(())
    }

    pub async fn bind(&self, queue: &str, exchange: &str, routing_key: &str) -> Result<()> {
        self.channel
            .queue_bind(
                ShortString::from(queue),
                ShortString::from(exchange),
                ShortString::from(routing_key),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .with_context(|| format!("bind {queue} to {exchange} with {routing_key}"))?;
        Ok(())
    }

    /// Messages ready in `queue` (not counting unacked deliveries).
    pub async fn ready_count(&self, queue: &str) -> Result<u32> {
        let options = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        let declared = self
            .channel
            .queue_declare(ShortString::from(queue), options, FieldTable::default())
            .await
            .with_context(|| format!("passive declare of {queue}"))?;
        Ok(declared.message_count())
    }

    /// Polls until `queue` holds exactly `count` ready messages (unacked
    /// deliveries are not ready; they come back if their consumer goes).
    pub async fn await_ready_count(&self, queue: &str, count: u32, within: Duration) -> Result<()> {
        let deadline = Instant::now() + within;
        loop {
            let ready = self.ready_count(queue).await?;
            if ready == count {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("queue {queue} holds {ready} ready messages, expected {count} within {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Consumes `queue` on a channel of its own, acking every message.
    pub async fn consume(&self, queue: &str) -> Result<Inbox> {
        let channel = self
            .connection
            .create_channel()
            .await
            .context("test peer: consumer channel")?;
        let consumer = channel
            .basic_consume(
                ShortString::from(queue),
                ShortString::from(format!("hub-test-peer-{}", uuid::Uuid::now_v7())),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .with_context(|| format!("consume {queue}"))?;
        let (sender, receiver) = mpsc::unbounded_channel();
        consumer.set_delegate(move |delivery: lapin::message::DeliveryResult| {
            let sender = sender.clone();
            async move {
                if let Ok(Some(delivery)) = delivery {
                    let got = Got::from_delivery(&delivery);
                    if delivery.acker.ack(BasicAckOptions::default()).await.is_ok() {
                        let _ = sender.send(got);
                    }
                }
            }
        });
        Ok(Inbox { receiver })
    }

    /// Publishes what an OPS answers: persistent, to `queue` through the
    /// default exchange, confirmed.
    pub async fn publish_reply(
        &self,
        queue: &str,
        body: &[u8],
        correlation_id: &str,
        message_id: &str,
        headers: &[(&str, &str)],
    ) -> Result<()> {
        let mut table = FieldTable::default();
        for (name, value) in headers {
            table.insert(
                ShortString::from(*name),
                AMQPValue::LongString(LongString::from(value.to_string())),
            );
        }
        let properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type(ShortString::from("application/json"))
            .with_correlation_id(ShortString::from(correlation_id))
            .with_message_id(ShortString::from(message_id))
            .with_headers(table);
        let options = BasicPublishOptions {
            mandatory: true,
            immediate: false,
        };
        let confirmation = self
            .channel
            .basic_publish(
                ShortString::from(""),
                ShortString::from(queue),
                options,
                body,
                properties,
            )
            .await
            .context("test peer: publish")?
            .await
            .context("test peer: confirm")?;
        match confirmation {
            Confirmation::Ack(None) => Ok(()),
            other => bail!("test peer: reply to {queue} not confirmed: {other:?}"),
        }
    }

    pub async fn delete_queue(&self, queue: &str) -> Result<()> {
        self.channel
            .queue_delete(ShortString::from(queue), QueueDeleteOptions::default())
            .await
            .with_context(|| format!("delete queue {queue}"))?;
        Ok(())
    }

    pub async fn delete_exchange(&self, exchange: &str) -> Result<()> {
        self.channel
            .exchange_delete(ShortString::from(exchange), ExchangeDeleteOptions::default())
            .await
            .with_context(|| format!("delete exchange {exchange}"))?;
        Ok(())
    }

    /// Best effort: lapin refuses to close a connection while one of its
    /// channels is still closing (e.g. a consumer channel whose queue was
    /// just deleted); the broker drops the connection with the process.
    pub async fn close(self) {
        let _ = self.connection.close(200, ShortString::from("test done")).await;
    }
}

/// The broker application stopped with `rabbitmqctl stop_app`; dropping it
/// (or [`BrokerOutage::end`]) starts it again and waits until it serves.
pub struct BrokerOutage {
    ended: bool,
}

impl BrokerOutage {
    /// Stops the broker application (the Erlang node stays up, durable
    /// queues and persistent messages survive).
    pub async fn begin() -> Result<BrokerOutage> {
        let outage = BrokerOutage { ended: false };
        rabbitmqctl(&["stop_app"]).await?;
        Ok(outage)
    }

    /// Starts the broker application and waits until it accepts clients.
    pub async fn end(mut self) -> Result<()> {
        self.ended = true;
        start_broker().await
    }
}

impl Drop for BrokerOutage {
    fn drop(&mut self) {
        if !self.ended {
            // Blocking on purpose: the broker must be up before the next test.
            for arguments in [&["start_app"][..], &["await_startup"][..]] {
                let _ = std::process::Command::new("rabbitmqctl").args(arguments).status();
            }
        }
    }
}

/// How many client connections the broker has whose client properties
/// mention `name` (e.g. a unique connection name), per `rabbitmqctl`.
pub async fn connections_mentioning(name: &str) -> Result<usize> {
    let listing = rabbitmqctl(&["-q", "list_connections", "client_properties", "--formatter", "json"]).await?;
    Ok(listing.matches(name).count())
}

async fn start_broker() -> Result<()> {
    rabbitmqctl(&["start_app"]).await?;
    rabbitmqctl(&["await_startup", "--timeout", "60"]).await?;
    Ok(())
}

/// Runs `rabbitmqctl`; its standard output on success.
async fn rabbitmqctl(arguments: &[&str]) -> Result<String> {
    let output = tokio::process::Command::new("rabbitmqctl")
        .args(arguments)
        .output()
        .await
        .with_context(|| format!("run rabbitmqctl {arguments:?}"))?;
    if !output.status.success() {
        bail!(
            "rabbitmqctl {arguments:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
