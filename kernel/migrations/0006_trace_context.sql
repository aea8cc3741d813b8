-- W3C trace context (`traceparent`) of the intake span of each order, so
-- every later step — delivery attempts on any node, replies, webhook
-- deliveries — continues the portal's trace. NULL for orders stored
-- before this migration (they get a new trace when next delivered).
ALTER TABLE orders ADD COLUMN traceparent TEXT;
-- Copied onto each outbox job, so the node that leases it continues the trace.
ALTER TABLE dispatch_jobs ADD COLUMN traceparent TEXT;
-- The order's trace context at the time the delivery was queued.
ALTER TABLE webhook_deliveries ADD COLUMN traceparent TEXT;
