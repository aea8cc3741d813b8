//! W3C Trace Context (`traceparent`): one trace from the portal's request
//! to the OPS and back.
//!
//! Why the hub carries the context itself instead of leaving it to the
//! tracing subscriber: an order's journey is not one call stack. It is
//! accepted in one request, delivered later by whichever node leases its
//! job (possibly after a restart), answered by a callback, a reply queue or
//! a poll, and pushed to webhooks — so the context is **stored with the
//! order** and every later step continues the same trace from there:
//!
//! - intake: the portal's `traceparent` (or a new trace when it sent none
//!   or a malformed one) → a child span for the intake, stored on the order;
//! - each delivery attempt: a child of the stored context, lent to the
//!   plugin call; the host adds it to every HTTP request (`traceparent`
//!   header) and AMQP message (`traceparent` header) the plugin makes — a
//!   plugin cannot set or forge it;
//! - webhook deliveries carry the order's context in `traceparent`.
//!
//! Spans of the hub's own logs carry `trace_id`, so a log search by trace
//! id finds intake, every attempt, plugin log lines and deliveries.
//!
//! With OTLP export on (`[telemetry] otlp_endpoint`), the `intake` and
//! `deliver` spans are exported as OpenTelemetry spans and [`join`] makes
//! the ids passed on *their* ids, so the exported trace has no gaps:
//! portal span → intake → each attempt → the OPS's own spans.

use std::fmt;

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// Makes `span` a span of `parent`'s trace (a new trace when `None`) and
/// returns the context to pass on — `span`'s own id when spans are
/// exported (OpenTelemetry layer installed, span enabled), else a fresh
/// child id. Call right after creating `span`, before it is entered.
pub fn join(span: &tracing::Span, parent: Option<TraceContext>) -> TraceContext {
    if let Some(parent) = parent {
        let remote = SpanContext::new(
            TraceId::from_bytes(parent.trace_id),
            SpanId::from_bytes(parent.span_id),
            TraceFlags::new(parent.flags),
            true,
            TraceState::default(),
        );
        // Without the layer (no OTLP) there is nothing to attach to.
        let _not_exported = span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
    }
    let exported = span.context().span().span_context().clone();
    if exported.is_valid() {
        TraceContext {
            trace_id: exported.trace_id().to_bytes(),
            span_id: exported.span_id().to_bytes(),
            flags: exported.trace_flags().to_u8(),
        }
    } else {
        parent.map_or_else(TraceContext::new_root, |parent| parent.child())
    }
}

/// A position in a trace: trace id, the current span's id, sampled flag.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    flags: u8,
}

impl TraceContext {
    /// Reads a `traceparent` header value. Accepts version `00` exactly and
    /// higher versions by their first four fields (as the spec asks);
    /// refuses version `ff`, upper-case hex, and all-zero ids.
    pub fn parse(header: &str) -> Option<Self> {
        let header = header.trim();
        let mut parts = header.split('-');
        let version = parts.next()?;
        let trace_id = parts.next()?;
        let span_id = parts.next()?;
        let flags = parts.next()?;
        let rest = parts.next();
        let lower_hex =
            |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !lower_hex(version, 2) || version == "ff" || (version == "00" && rest.is_some()) {
            return None;
        }
        if !lower_hex(trace_id, 32) || !lower_hex(span_id, 16) || !lower_hex(flags, 2) {
            return None;
        }
        let mut context = TraceContext {
            trace_id: [0; 16],
            span_id: [0; 8],
            flags: 0,
        };
        hex::decode_to_slice(trace_id, &mut context.trace_id).ok()?;
        hex::decode_to_slice(span_id, &mut context.span_id).ok()?;
        let mut flag = [0u8; 1];
        hex::decode_to_slice(flags, &mut flag).ok()?;
        context.flags = flag[0];
        if context.trace_id == [0; 16] || context.span_id == [0; 8] {
            return None;
        }
        Some(context)
    }

    /// The start of a new trace (sampled).
    pub fn new_root() -> Self {
        let mut trace_id = [0u8; 16];
        fill_random(&mut trace_id);
        let mut context = TraceContext {
            trace_id,
            span_id: [0; 8],
            flags: 0x01,
        };
        context.span_id = new_span_id();
        context
    }

    /// A new span in the same trace, child of this one.
    pub fn child(&self) -> Self {
        TraceContext {
            span_id: new_span_id(),
            ..*self
        }
    }

    /// The `traceparent` header value (version 00).
    pub fn traceparent(&self) -> String {
        format!(
            "00-{}-{}-{:02x}",
            hex::encode(self.trace_id),
            hex::encode(self.span_id),
            self.flags & 0x01
        )
    }

    pub fn trace_id(&self) -> String {
        hex::encode(self.trace_id)
    }

    pub fn span_id(&self) -> String {
        hex::encode(self.span_id)
    }
}

impl fmt::Debug for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.traceparent())
    }
}

impl fmt::Display for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.traceparent())
    }
}

fn new_span_id() -> [u8; 8] {
    loop {
        let mut id = [0u8; 8];
        fill_random(&mut id);
        if id != [0; 8] {
            return id;
        }
    }
}

/// Ids need to be unique, not secret: the OS generator when it answers,
/// otherwise a seeded PRNG (never a panic for want of entropy).
fn fill_random(bytes: &mut [u8]) {
    if getrandom::fill(bytes).is_err() {
        for byte in bytes.iter_mut() {
            *byte = fastrand::u8(..);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_the_spec_example() {
        let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let context = TraceContext::parse(header).unwrap_or_else(TraceContext::new_root);
        assert_eq!(context.traceparent(), header);
        assert_eq!(context.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
    }

    #[test]
    fn refuses_what_the_spec_refuses() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",
        ] {
            assert!(TraceContext::parse(bad).is_none(), "accepted {bad:?}");
        }
    }

    #[test]
    fn future_versions_are_read_by_their_first_fields() {
        let context = TraceContext::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more");
        assert_eq!(
            context.map(|c| c.traceparent()).as_deref(),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        );
    }

    #[test]
    fn children_keep_the_trace_and_get_new_spans() {
        let root = TraceContext::new_root();
        let child = root.child();
        assert_eq!(root.trace_id(), child.trace_id());
        assert_ne!(root.span_id(), child.span_id());
        assert_ne!(TraceContext::new_root().trace_id(), root.trace_id());
    }
}
