//! The RabbitMQ transport against the real broker on 127.0.0.1:5672
//! (`HUB_TEST_AMQP_URL`, guest/guest): what it publishes arrives byte for
//! byte with its properties, every failure has the right kind, replies are
//! acked only once the kernel's handler stored them, and a broker restart
//! loses nothing confirmed while the same transport recovers by itself.
//!
//! Every test is named `amqp_…`: `.config/nextest.toml` runs them one at a
//! time because one of them stops and restarts the broker.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a panic

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use hub_e2e::servers::rabbitmq::{self, BrokerOutage, Peer, unique_name};
use hub_kernel::config::AmqpTargetConfig;
use hub_kernel::secret::Secret;
use hub_kernel::transports::amqp::LapinAmqp;
use hub_kernel::transports::{AmqpMessage, AmqpTransport, HandledAs, InboundHandler, Received, TransportError};
use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::Instant;

const WAIT: Duration = Duration::from_secs(20);
const ADDRESS: &str = "上海市浦东新区世纪大道100号";
const CONSIGNEE: &str = "张伟";

fn target_config(
    url: &str,
    exchange: &str,
    routing_keys: &[&str],
    reply_queue: Option<&str>,
    reconnect_max_ms: u64,
) -> AmqpTargetConfig {
    serde_json::from_value(json!({
        "url": url,
        "username": rabbitmq::USERNAME,
        "password": { "env": "HUB_TEST_AMQP_PASSWORD_UNUSED" },
        "exchange": exchange,
        "routing_keys": routing_keys,
        "reply_queue": reply_queue,
        "confirm_timeout_ms": 5_000,
        "reconnect_max_ms": reconnect_max_ms,
        "prefetch": 4,
    }))
    .unwrap()
}

fn transport(exchange: &str, routing_key: &str, reply_queue: Option<&str>) -> LapinAmqp {
    transport_of("acme-ops", exchange, routing_key, reply_queue)
}

/// Its connections are named `order-hub <target> publisher|replies`.
fn transport_of(target: &str, exchange: &str, routing_key: &str, reply_queue: Option<&str>) -> LapinAmqp {
    let config = target_config(&rabbitmq::broker_url(), exchange, &[routing_key], reply_queue, 1_000);
    LapinAmqp::new(target, &config, Secret::new(rabbitmq::PASSWORD), 1 << 20)
}

fn order_message(routing_key: &str, message_id: &str) -> AmqpMessage {
    let body = json!({ "orderId": message_id, "consignee": CONSIGNEE, "address": ADDRESS }).to_string();
    AmqpMessage {
        routing_key: routing_key.to_owned(),
        body: body.into_bytes(),
        content_type: Some("application/json; charset=utf-8".to_owned()),
        message_id: Some(message_id.to_owned()),
        correlation_id: Some(format!("corr-{message_id}")),
        expect_reply: true,
        headers: vec![
            ("x-consignee".to_owned(), CONSIGNEE.to_owned()),
            ("x-tenant".to_owned(), "acme".to_owned()),
        ],
    }
}

fn is_retryable(error: &TransportError) -> bool {
    matches!(
        error,
        TransportError::Refused(_) | TransportError::Unavailable { .. } | TransportError::Timeout(_)
    )
}

/// The kernel's side of replies: records every delivery it is offered and
/// fails the first `fail_first` of them as a broken store would.
struct RecordingHandler {
    fail_first: AtomicUsize,
    seen: mpsc::UnboundedSender<(Instant, Received)>,
}

#[async_trait]
impl InboundHandler for RecordingHandler {
    async fn handle(&self, message: Received) -> Result<HandledAs, String> {
        let _ = self.seen.send((Instant::now(), message));
        let failing = self
            .fail_first
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| left.checked_sub(1))
            .is_ok();
        if failing {
            Err("the store is down (test)".to_owned())
        } else {
            Ok(HandledAs::Applied)
        }
    }
}

struct ReplyConsumer {
    seen: mpsc::UnboundedReceiver<(Instant, Received)>,
    /// Cancels `run_replies`' shutdown token (its type comes from the
    /// kernel's signature; this crate does not name tokio-util).
    shutdown: Box<dyn FnOnce() + Send>,
    task: tokio::task::JoinHandle<()>,
}

impl ReplyConsumer {
    fn start(transport: Arc<LapinAmqp>, fail_first: usize) -> ReplyConsumer {
        let (sender, seen) = mpsc::unbounded_channel();
        let handler = Arc::new(RecordingHandler {
            fail_first: AtomicUsize::new(fail_first),
            seen: sender,
        });
        let token = Default::default();
        let shutdown = Clone::clone(&token);
        let task = tokio::spawn(async move { transport.run_replies(handler, token).await });
        ReplyConsumer {
            seen,
            shutdown: Box::new(move || shutdown.cancel()),
            task,
        }
    }

    async fn next(&mut self, within: Duration) -> (Instant, Received) {
        match tokio::time::timeout(within, self.seen.recv()).await {
            Ok(Some(seen)) => seen,
            Ok(None) => panic!("the reply consumer stopped"),
            Err(_) => panic!("no reply reached the handler within {within:?}"),
        }
    }

    /// Cancels and waits: `run_replies` must return promptly and close its
    /// connection (unacked messages would then be ready again).
    async fn stop(self) {
        (self.shutdown)();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("run_replies returns once shutdown is cancelled")
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn amqp_publish_delivers_exact_bytes_and_properties() {
    let peer = Peer::connect().await.unwrap();
    let exchange = unique_name("orders-x");
    let queue = unique_name("orders-q");
    let reply_queue = unique_name("replies");
    let routing_key = "orders.create";
    peer.declare_exchange(&exchange).await.unwrap();
    peer.declare_queue(&queue).await.unwrap();
    peer.bind(&queue, &exchange, routing_key).await.unwrap();
    let mut inbox = peer.consume(&queue).await.unwrap();
    let transport = transport(&exchange, routing_key, Some(&reply_queue));

    let message = order_message(routing_key, "order-1");
    transport.publish(message.clone()).await.unwrap();
    let got = inbox.next_within(WAIT).await.unwrap();
    assert_eq!(got.body, message.body, "body bytes changed on the way");
    let text = String::from_utf8(got.body.clone()).unwrap();
    assert!(text.contains(ADDRESS) && text.contains(CONSIGNEE), "{text}");
    assert_eq!(got.exchange, exchange);
    assert_eq!(got.routing_key, routing_key);
    assert_eq!(got.delivery_mode, Some(2), "must be persistent");
    assert_eq!(got.content_type.as_deref(), Some("application/json; charset=utf-8"));
    assert_eq!(got.message_id.as_deref(), Some("order-1"));
    assert_eq!(got.correlation_id.as_deref(), Some("corr-order-1"));
    assert_eq!(got.reply_to.as_deref(), Some(reply_queue.as_str()));
    assert_eq!(got.headers.get("x-consignee").map(String::as_str), Some(CONSIGNEE));
    assert_eq!(got.headers.get("x-tenant").map(String::as_str), Some("acme"));

    // No reply expected: no reply-to.
    let mut fire_and_forget = order_message(routing_key, "order-2");
    fire_and_forget.expect_reply = false;
    fire_and_forget.headers.clear();
    transport.publish(fire_and_forget).await.unwrap();
    let got = inbox.next_within(WAIT).await.unwrap();
    assert_eq!(got.message_id.as_deref(), Some("order-2"));
    assert_eq!(got.reply_to, None);
    assert!(got.headers.is_empty());

    // Over the size limit: refused before it reaches the broker.
    let config = target_config(&rabbitmq::broker_url(), &exchange, &[routing_key], None, 1_000);
    let small = LapinAmqp::new("acme-ops", &config, Secret::new(rabbitmq::PASSWORD), 16);
    let error = small.publish(order_message(routing_key, "order-3")).await.unwrap_err();
    assert_eq!(error, TransportError::TooLarge(16));
    assert!(inbox.try_next().is_none(), "a too-large message must not be published");

    peer.delete_queue(&queue).await.unwrap();
    peer.delete_exchange(&exchange).await.unwrap();
    peer.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn amqp_unroutable_message_is_not_found() {
    let peer = Peer::connect().await.unwrap();
    let exchange = unique_name("unbound-x");
    peer.declare_exchange(&exchange).await.unwrap();
    let routing_key = "orders.nobody-listens";
    let transport = transport(&exchange, routing_key, None);

    let error = transport
        .publish(order_message(routing_key, "lost-1"))
        .await
        .unwrap_err();
    let TransportError::NotFound(detail) = &error else {
        panic!("unroutable must be NotFound, got {error:?}");
    };
    assert!(detail.contains(&exchange), "{detail}");
    assert!(detail.contains(routing_key), "{detail}");
    assert!(detail.contains("NO_ROUTE"), "{detail}");

    // The default exchange routes to the queue named by the key: none here.
    let missing_queue = unique_name("no-such-queue");
    let default_exchange = self::transport("", &missing_queue, None);
    let error = default_exchange
        .publish(order_message(&missing_queue, "lost-2"))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, TransportError::NotFound(detail) if detail.contains(&missing_queue)),
        "{error:?}"
    );

    // The same transport (same channel) publishes once a queue is bound.
    let queue = unique_name("late-q");
    peer.declare_queue(&queue).await.unwrap();
    peer.bind(&queue, &exchange, routing_key).await.unwrap();
    let mut inbox = peer.consume(&queue).await.unwrap();
    transport.publish(order_message(routing_key, "found-3")).await.unwrap();
    assert_eq!(
        inbox.next_within(WAIT).await.unwrap().message_id.as_deref(),
        Some("found-3")
    );

    peer.delete_queue(&queue).await.unwrap();
    peer.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn amqp_missing_exchange_is_not_found_and_the_channel_is_reopened() {
    let peer = Peer::connect().await.unwrap();
    let exchange = unique_name("missing-x");
    let routing_key = "orders.create";
    let transport = transport(&exchange, routing_key, None);

    let started = Instant::now();
    let error = transport.publish(order_message(routing_key, "m-1")).await.unwrap_err();
    let TransportError::NotFound(detail) = &error else {
        panic!("a missing exchange must be NotFound, got {error:?}");
    };
    assert!(detail.contains(&exchange) && detail.contains(routing_key), "{detail}");
    assert!(detail.contains("127.0.0.1:5672"), "names the broker: {detail}");
    // The broker closed the channel, not the connection: the next publish
    // reopens a channel at once (no backoff, still NotFound).
    let error = transport.publish(order_message(routing_key, "m-2")).await.unwrap_err();
    assert!(matches!(error, TransportError::NotFound(_)), "{error:?}");

    peer.declare_exchange(&exchange).await.unwrap();
    let queue = unique_name("now-there-q");
    peer.declare_queue(&queue).await.unwrap();
    peer.bind(&queue, &exchange, routing_key).await.unwrap();
    let mut inbox = peer.consume(&queue).await.unwrap();
    transport.publish(order_message(routing_key, "m-3")).await.unwrap();
    assert_eq!(
        inbox.next_within(WAIT).await.unwrap().message_id.as_deref(),
        Some("m-3")
    );
    eprintln!("missing exchange → recovered publish in {:?}", started.elapsed());

    peer.delete_queue(&queue).await.unwrap();
    peer.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn amqp_wrong_password_is_unauthorized_and_never_shown() {
    let wrong = format!("wrong-password-{}", uuid::Uuid::now_v7().simple());
    let config = target_config(&rabbitmq::broker_url(), "", &["orders"], None, 1_000);
    let transport = LapinAmqp::new("acme-ops", &config, Secret::new(wrong.clone()), 1 << 20);

    let error = transport.publish(order_message("orders", "p-1")).await.unwrap_err();
    assert!(matches!(error, TransportError::Unauthorized(_)), "{error:?}");
    let shown = format!("{error} {error:?} {transport:?}");
    assert!(!shown.contains(&wrong), "the password leaked: {shown}");
    assert!(
        shown.contains("127.0.0.1:5672") && shown.contains("acme-ops"),
        "{shown}"
    );

    // Right after a failed login the transport does not dial again.
    let error = transport.publish(order_message("orders", "p-2")).await.unwrap_err();
    let TransportError::Unavailable {
        message,
        retry_after_ms,
    } = &error
    else {
        panic!("within the backoff: Unavailable, got {error:?}");
    };
    assert!(retry_after_ms.is_some_and(|ms| (1..=200).contains(&ms)), "{error:?}");
    assert!(
        message.contains("ACCESS_REFUSED") && !message.contains(&wrong),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn amqp_nothing_listening_is_refused_then_backs_off() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("amqp://127.0.0.1:{port}/%2f");
    let config = target_config(&url, "", &["orders"], None, 1_000);
    // Building it must not connect (the hub starts while a broker is down).
    let transport = LapinAmqp::new("acme-ops", &config, Secret::new(rabbitmq::PASSWORD), 1 << 20);

    let error = transport.publish(order_message("orders", "r-1")).await.unwrap_err();
    let TransportError::Refused(detail) = &error else {
        panic!("nothing listening must be Refused, got {error:?}");
    };
    assert!(detail.contains(&format!("127.0.0.1:{port}/%2f")), "{detail}");

    let error = transport.publish(order_message("orders", "r-2")).await.unwrap_err();
    assert!(
        matches!(error, TransportError::Unavailable { retry_after_ms: Some(ms), .. } if ms <= 200),
        "{error:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn amqp_reply_consumer_hands_replies_over_and_acks_them() {
    let peer = Peer::connect().await.unwrap();
    let reply_queue = unique_name("replies");
    // Declared exactly as the hub does, so the test can publish before the
    // consumer is up.
    peer.declare_reply_queue(&reply_queue).await.unwrap();
    let transport = Arc::new(transport("", "orders", Some(&reply_queue)));
    let mut consumer = ReplyConsumer::start(transport.clone(), 0);

    let body = json!({ "status": "accepted", "note": format!("{CONSIGNEE} 已签收") }).to_string();
    peer.publish_reply(
        &reply_queue,
        body.as_bytes(),
        "corr-order-7",
        "reply-7",
        &[("x-ops-status", "已受理")],
    )
    .await
    .unwrap();
    let (_, received) = consumer.next(WAIT).await;
    assert_eq!(received.correlation_id.as_deref(), Some("corr-order-7"));
    assert_eq!(received.name.as_deref(), Some("reply-7"));
    assert_eq!(received.content_type.as_deref(), Some("application/json"));
    assert_eq!(received.body, body.as_bytes());
    assert!(
        received
            .headers
            .contains(&("x-ops-status".to_owned(), "已受理".to_owned())),
        "{:?}",
        received.headers
    );

    // Stopping closes the consumer's connection: an unacked reply would be
    // ready again; an acked one is gone.
    consumer.stop().await;
    assert_eq!(
        peer.ready_count(&reply_queue).await.unwrap(),
        0,
        "the stored reply must be acked"
    );

    peer.delete_queue(&reply_queue).await.unwrap();
    peer.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn amqp_reply_the_kernel_could_not_store_is_offered_again() {
    let peer = Peer::connect().await.unwrap();
    let reply_queue = unique_name("replies");
    peer.declare_reply_queue(&reply_queue).await.unwrap();
    let transport = Arc::new(transport("", "orders", Some(&reply_queue)));
    let mut consumer = ReplyConsumer::start(transport.clone(), 1);

    peer.publish_reply(&reply_queue, b"{\"status\":\"rejected\"}", "corr-9", "reply-9", &[])
        .await
        .unwrap();
    let (first_at, first) = consumer.next(WAIT).await;
    let (second_at, second) = consumer.next(WAIT).await;
    assert_eq!(first.correlation_id.as_deref(), Some("corr-9"));
    assert_eq!(second, first, "the same reply is offered again");
    let pause = second_at - first_at;
    assert!(
        pause >= Duration::from_millis(150),
        "requeued after a pause, not in a spin: {pause:?}"
    );

    consumer.stop().await;
    assert_eq!(peer.ready_count(&reply_queue).await.unwrap(), 0, "acked once stored");

    peer.delete_queue(&reply_queue).await.unwrap();
    peer.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn amqp_concurrent_publishes_share_one_connection_and_all_arrive_once() {
    const COUNT: usize = 200;
    let peer = Peer::connect().await.unwrap();
    let queue = unique_name("burst-q");
    peer.declare_queue(&queue).await.unwrap();
    let mut inbox = peer.consume(&queue).await.unwrap();
    let target = unique_name("burst-target");
    let transport = Arc::new(transport_of(&target, "", &queue, None));

    let started = Instant::now();
    let publishes: Vec<_> = (0..COUNT)
        .map(|index| {
            let transport = transport.clone();
            let message = order_message(&queue, &format!("burst-{index}"));
            tokio::spawn(async move { transport.publish(message).await })
        })
        .collect();
    for publish in publishes {
        publish.await.unwrap().unwrap();
    }
    let confirmed_in = started.elapsed();

    let got = inbox.take(COUNT, WAIT).await.unwrap();
    let ids: BTreeSet<String> = got.iter().filter_map(|got| got.message_id.clone()).collect();
    let expected: BTreeSet<String> = (0..COUNT).map(|index| format!("burst-{index}")).collect();
    assert_eq!(ids, expected, "every message exactly once");
    assert_eq!(got.len(), COUNT);
    assert!(got.iter().all(|got| got.delivery_mode == Some(2)));
    assert!(inbox.try_next().is_none(), "no duplicates");
    assert_eq!(peer.ready_count(&queue).await.unwrap(), 0);
    let publisher = format!("order-hub {target} publisher");
    assert_eq!(
        rabbitmq::connections_mentioning(&publisher).await.unwrap(),
        1,
        "one shared connection"
    );
    eprintln!("{COUNT} concurrent publishes confirmed in {confirmed_in:?}");

    peer.delete_queue(&queue).await.unwrap();
    peer.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn amqp_broker_restart_loses_nothing_and_the_same_transport_recovers() {
    let peer = Peer::connect().await.unwrap();
    let queue = unique_name("restart-q");
    let reply_queue = unique_name("restart-replies");
    peer.declare_queue(&queue).await.unwrap();
    peer.declare_reply_queue(&reply_queue).await.unwrap();
    let target = unique_name("restart-target");
    let transport = Arc::new(transport_of(&target, "", &queue, Some(&reply_queue)));
    let mut consumer = ReplyConsumer::start(transport.clone(), 0);

    let mut confirmed = BTreeSet::new();
    for index in 0..5 {
        let id = format!("before-{index}");
        transport.publish(order_message(&queue, &id)).await.unwrap();
        confirmed.insert(id);
    }
    peer.publish_reply(&reply_queue, b"{}", "corr-before", "reply-before", &[])
        .await
        .unwrap();
    assert_eq!(
        consumer.next(WAIT).await.1.correlation_id.as_deref(),
        Some("corr-before")
    );
    peer.close().await;

    let outage = BrokerOutage::begin().await.unwrap();
    let mut outage_errors = Vec::new();
    for index in 0..3 {
        let error = transport
            .publish(order_message(&queue, &format!("during-{index}")))
            .await
            .expect_err("the broker is down");
        assert!(is_retryable(&error), "a broker restart is retryable: {error:?}");
        outage_errors.push(error.kind());
    }
    outage.end().await.unwrap();
    let restarted = Instant::now();

    // The same transport, not rebuilt: it reconnects on a later publish.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut attempts = 0;
    loop {
        attempts += 1;
        match transport.publish(order_message(&queue, "after-0")).await {
            Ok(()) => break,
            Err(error) => {
                assert!(is_retryable(&error), "{error:?}");
                assert!(
                    Instant::now() < deadline,
                    "no successful publish 30 s after the restart: {error:?}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    let publishing_again = restarted.elapsed();
    confirmed.insert("after-0".to_owned());
    for index in 1..5 {
        let id = format!("after-{index}");
        transport.publish(order_message(&queue, &id)).await.unwrap();
        confirmed.insert(id);
    }

    // The reply consumer resumes by itself.
    let peer = Peer::connect().await.unwrap();
    peer.publish_reply(&reply_queue, b"{}", "corr-after", "reply-after", &[])
        .await
        .unwrap();
    assert_eq!(
        consumer.next(Duration::from_secs(30)).await.1.correlation_id.as_deref(),
        Some("corr-after")
    );
    let consuming_again = restarted.elapsed();

    // Nothing confirmed was lost (durable queue, persistent messages), and
    // nothing that failed was stored.
    assert_eq!(peer.ready_count(&queue).await.unwrap() as usize, confirmed.len());
    let mut inbox = peer.consume(&queue).await.unwrap();
    let got = inbox.take(confirmed.len(), WAIT).await.unwrap();
    let ids: BTreeSet<String> = got.into_iter().filter_map(|got| got.message_id).collect();
    assert_eq!(ids, confirmed);

    // One publisher and one reply connection again, the dead ones gone.
    for role in ["publisher", "replies"] {
        let name = format!("order-hub {target} {role}");
        assert_eq!(rabbitmq::connections_mentioning(&name).await.unwrap(), 1, "{name}");
    }
    consumer.stop().await;
    assert_eq!(peer.ready_count(&reply_queue).await.unwrap(), 0);
    eprintln!(
        "during the outage: {outage_errors:?}; publishing again {publishing_again:?} after start_app \
         ({attempts} attempts), replies flowing again after {consuming_again:?}"
    );
    peer.delete_queue(&queue).await.unwrap();
    peer.delete_queue(&reply_queue).await.unwrap();
    peer.close().await;
}
