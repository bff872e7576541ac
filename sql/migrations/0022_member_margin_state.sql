-- The pre-trade margin check's state (libs/registry owns it; docs/margin.md "Before every trade").
--
--   cch.member_margin_state  per member, its bucketed position under one margin model (the model
--                            the check last priced it with): exposures and net GPU-hours per
--                            class and factor, the interim requirement of its legs the model does
--                            not cover, and its initial margin. Updated under the member's lock
--                            in every transaction that clears one of its trades, and rebuilt from
--                            its open legs when a newer model is published; so the check adds a
--                            trade to exactly what a full recompute would add it to.
--
-- It replaces cch.member_exposure (the credit a notional rule counted, which only ever grew): the
-- credit a member uses is now its initial margin, which falls when positions offset or expire.

DROP TABLE cch.member_exposure;

CREATE TABLE cch.member_margin_state (
  member_id            bigint      PRIMARY KEY REFERENCES cch.member (member_id),
  model_id             bigint      REFERENCES margin.model (model_id),  -- NULL: before any model (interim rule alone)
  exposure_cents       bigint[]    NOT NULL,  -- [class x factors + factor], class future then forward
  net_gpu_hours        bigint[]    NOT NULL,  -- likewise
  interim_cents        bigint      NOT NULL CHECK (interim_cents >= 0),
  legs                 bigint      NOT NULL CHECK (legs >= 0),
  initial_margin_cents bigint      NOT NULL CHECK (initial_margin_cents >= 0),
  as_of                date,       -- the business date its open legs are counted at (the model's; NULL before any)
  updated_at           timestamptz NOT NULL DEFAULT clock_timestamp(),
  CHECK (cardinality(exposure_cents) = cardinality(net_gpu_hours))
);

GRANT SELECT, INSERT ON cch.member_margin_state TO cch_writer;
GRANT UPDATE (model_id, exposure_cents, net_gpu_hours, interim_cents, legs, initial_margin_cents, as_of, updated_at)
  ON cch.member_margin_state TO cch_writer;
GRANT SELECT ON cch.member_margin_state TO cch_reporting, cch_auditor;
