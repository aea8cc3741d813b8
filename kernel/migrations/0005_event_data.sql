-- Customer-visible structured facts of a timeline event (JSON text): the
-- milestone of an in-progress report, the OPS reference of an acceptance,
-- the reasons of a refusal, the amount and document of a finance event.
-- Unlike `detail` (internal, staff only) customers read it.
ALTER TABLE order_events ADD COLUMN data TEXT;
