-- Outbox consumers: each service that reads cch.outbox keeps a durable cursor per consumer and
-- reads events in an order in which no committed event can ever appear behind its cursor
-- (libs/runtime, cch/runtime/outbox.hpp).
--
-- Why not a cursor on event_id: event_id is an identity, drawn when the row is inserted, long
-- before its transaction commits. Transaction A draws 41, transaction B draws 42, B commits, a
-- consumer reads 42 and moves its cursor to 42, then A commits: 41 is behind the cursor and never
-- read.
--
-- The order used instead: every event records the id of the transaction that inserted it
-- (xact_id, pg_current_xact_id(): the 64-bit id of the top-level transaction, also when the row
-- is written inside a savepoint), and a consumer reads, in (xact_id, event_id) order, only the
-- events whose xact_id is below the xmin of its statement's snapshot,
--   xact_id < pg_snapshot_xmin(pg_current_snapshot()).
-- Why this never skips: xmin is the lowest transaction id still running when the snapshot was
-- taken, so every transaction below it has ended (committed, and then visible to that snapshot,
-- or aborted, and then its events never exist). Transaction ids are handed out in increasing
-- order, so every transaction that had not ended then (running, or not yet begun) has an id at or
-- above that xmin. Hence the set of events below xmin is final: once read, no event can later
-- appear among them, and every event committed later sorts after every event read, since its
-- xact_id is at least that xmin. A cursor (xact_id, event_id) that only moves forward through
-- this set sees every committed event exactly once in this order, whatever the order of commits.
-- The price: an event is delivered only once every transaction that began writing before its own
-- has ended, so a long-running writing transaction anywhere in the cluster (read-only ones hold
-- no transaction id and do not count) holds back delivery, never correctness; a consumer's lag
-- metrics show it.
--
-- Writers may not set xact_id (nor event_id, nor created_at): cch_writer may insert topic,
-- aggregate_id and payload only, so xact_id is always the default.
--
-- The old published_at column and its partial index were never used (a single published flag
-- cannot serve several consumers); the index on (xact_id, event_id) that consumers read by takes
-- the unused index's place, so writing an event costs the same index entries as before.
--
-- Wake-ups: consumers LISTEN on channel cch_outbox; a producing service sends NOTIFY cch_outbox
-- after commits that wrote events, coalesced and outside the business transaction
-- (runtime::OutboxNotifier). There is deliberately no trigger that notifies: a NOTIFY takes a
-- cluster-wide lock at commit, held until the commit is flushed, so notifying commits go one at a
-- time (measured: transactions writing one event stopped at about 2,300 a second with such a
-- trigger, against 6,000-8,300 without; docs/performance.md). Consumers also poll at a bounded
-- interval.

ALTER TABLE cch.outbox DROP COLUMN published_at;  -- and its index, outbox_unpublished, and its grant
ALTER TABLE cch.outbox ADD COLUMN xact_id xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX outbox_consumption_order ON cch.outbox (xact_id, event_id);

REVOKE INSERT ON cch.outbox FROM cch_writer;
GRANT INSERT (topic, aggregate_id, payload) ON cch.outbox TO cch_writer;

-- One row per consumer: the position of the last event it handled (0, 0 before the first). It
-- moves only in the transaction that handled the events up to it, under the row's lock.
CREATE TABLE cch.outbox_cursor (
  consumer        text        PRIMARY KEY CHECK (consumer ~ '^[a-z][a-z0-9_]*$' AND length(consumer) <= 48),
  xact_id         xid8        NOT NULL DEFAULT '0',
  event_id        bigint      NOT NULL DEFAULT 0 CHECK (event_id >= 0),
  events_handled  bigint      NOT NULL DEFAULT 0 CHECK (events_handled >= 0),
  created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);

GRANT SELECT, INSERT ON cch.outbox_cursor TO cch_writer;
GRANT UPDATE (xact_id, event_id, events_handled, updated_at) ON cch.outbox_cursor TO cch_writer;
GRANT SELECT ON cch.outbox_cursor TO cch_reporting, cch_auditor;
