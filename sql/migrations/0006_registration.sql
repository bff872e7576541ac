-- Registration (issue 5): compute products, market reference prices, members' product
-- authorisations and limits, bilateral trades with their history, the cleared legs, net
-- positions and the outbox. libs/registry owns every table here; the api reads them.
--
--   cch.product               what is traded: GPU model, form factor, interconnect, region, node
--                             block, settlement, tick size, profile, status, listing horizon,
--                             position limit and clearing fee
--   cch.member_product        which members may clear which products
--   cch.reference_price       the current reference price per product and delivery month (the
--                             price band of the fat-finger guard is around it)
--   cch.member_limit          a member's credit limit (set by a risk officer)
--   cch.position_limit        a member's own position limit for a product (overrides the product's)
--   cch.member_exposure       the credit a member's cleared legs use under the credit rule
--   cch.trade                 a bilateral trade from submission to a final state (submitted by one
--                             of its members, or registered cleared by a venue in a batch)
--   cch.trade_event           every state change and refusal: who, when, why (append-only)
--   cch.trade_leg             the two cleared legs of a cleared trade, each against the
--                             clearinghouse (append-only)
--   cch.position              net and gross GPU-hours per member, product and delivery month
--   cch.outbox                events for other services, written in the transaction that caused them
--
-- Units: prices in ticks of 0.0001 USD per GPU-hour (price_ticks), volumes in GPU-hours, money in
-- minor units (cents) of its currency.

INSERT INTO api.role VALUES
  ('venue', 'A trading venue (auction, broker): submits batches of trades both members agreed, for clearing.');

CREATE TABLE cch.product (
  product_id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  code                  text        NOT NULL UNIQUE CHECK (code ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
  gpu_model             text        NOT NULL CHECK (gpu_model ~ '^[A-Za-z0-9][A-Za-z0-9.-]{0,31}$'),
  form_factor           text        NOT NULL CHECK (form_factor IN ('sxm', 'pcie', 'oam', 'nvl')),
  min_interconnect      text        NOT NULL CHECK (min_interconnect IN ('none', 'ethernet-100g', 'roce-200g',
                                      'infiniband-200g', 'roce-400g', 'infiniband-400g', 'nvlink-switch')),
  region                text        NOT NULL CHECK (region ~ '^[a-z][a-z0-9-]{1,31}$'),
  node_block_gpus       integer     NOT NULL CHECK (node_block_gpus IN (1, 2, 4, 8, 16, 32, 64, 72)),
  settlement            text        NOT NULL CHECK (settlement IN ('physical', 'cash')),
  cash_index            text        CHECK (cash_index ~ '^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$'),
  tick_size_ticks       bigint      NOT NULL CHECK (tick_size_ticks BETWEEN 1 AND 10000),
  currency              char(3)     NOT NULL DEFAULT 'USD' REFERENCES ledger.currency (currency),
  delivery_profile      text        NOT NULL CHECK (delivery_profile = 'baseload_24x7'),
  trading_status        text        NOT NULL CHECK (trading_status IN ('active', 'halted', 'delisted')),
  listing_horizon_days  integer     NOT NULL CHECK (listing_horizon_days BETWEEN 1 AND 1096),
  position_limit_gpu_hours bigint   NOT NULL CHECK (position_limit_gpu_hours > 0),
  fee_ticks_per_gpu_hour bigint     NOT NULL CHECK (fee_ticks_per_gpu_hour BETWEEN 0 AND 10000),
  created_at            timestamptz NOT NULL DEFAULT clock_timestamp(),
  created_by            text        NOT NULL CHECK (length(created_by) BETWEEN 1 AND 64),
  CHECK ((settlement = 'cash') = (cash_index IS NOT NULL))
);

CREATE TABLE cch.member_product (
  member_id     bigint      NOT NULL REFERENCES cch.member (member_id),
  product_id    bigint      NOT NULL REFERENCES cch.product (product_id),
  authorised_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  authorised_by text        NOT NULL CHECK (length(authorised_by) BETWEEN 1 AND 64),
  PRIMARY KEY (member_id, product_id)
);

CREATE TABLE cch.reference_price (
  product_id     bigint      NOT NULL REFERENCES cch.product (product_id),
  delivery_month date        NOT NULL CHECK (extract(day FROM delivery_month) = 1),
  price_ticks    bigint      NOT NULL CHECK (price_ticks > 0),
  published_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  published_by   text        NOT NULL CHECK (length(published_by) BETWEEN 1 AND 64),
  PRIMARY KEY (product_id, delivery_month)
);

CREATE TABLE cch.member_limit (
  member_id          bigint      PRIMARY KEY REFERENCES cch.member (member_id),
  credit_limit_minor bigint      NOT NULL CHECK (credit_limit_minor >= 0),
  currency           char(3)     NOT NULL DEFAULT 'USD' REFERENCES ledger.currency (currency),
  updated_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_by         text        NOT NULL CHECK (length(updated_by) BETWEEN 1 AND 64)
);

CREATE TABLE cch.position_limit (
  member_id      bigint      NOT NULL REFERENCES cch.member (member_id),
  product_id     bigint      NOT NULL REFERENCES cch.product (product_id),
  max_gpu_hours  bigint      NOT NULL CHECK (max_gpu_hours > 0),
  updated_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_by     text        NOT NULL CHECK (length(updated_by) BETWEEN 1 AND 64),
  PRIMARY KEY (member_id, product_id)
);

CREATE TABLE cch.member_exposure (
  member_id         bigint  PRIMARY KEY REFERENCES cch.member (member_id),
  requirement_minor bigint  NOT NULL CHECK (requirement_minor >= 0),
  currency          char(3) NOT NULL DEFAULT 'USD' REFERENCES ledger.currency (currency)
);

CREATE TABLE cch.trade (
  trade_id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  product_id             bigint      NOT NULL REFERENCES cch.product (product_id),
  series_label           text        CHECK (series_label ~ '^[0-9]{4}(-[0-9]{2}(-[0-9]{2})?|-W[0-9]{2}|-Q[1-4])?$'),
  buyer_member_id        bigint      NOT NULL REFERENCES cch.member (member_id),
  seller_member_id       bigint      NOT NULL REFERENCES cch.member (member_id),
  delivery_start         timestamptz NOT NULL,
  delivery_end           timestamptz NOT NULL,
  gpus                   bigint      NOT NULL CHECK (gpus > 0),
  price_ticks            bigint      NOT NULL CHECK (price_ticks > 0),
  gpu_hours              bigint      NOT NULL CHECK (gpu_hours > 0),
  notional_minor         bigint      NOT NULL CHECK (notional_minor >= 0),
  submitter_member_id    bigint      REFERENCES cch.member (member_id),       -- a member's submission
  venue_principal_id     bigint      REFERENCES api.principal (principal_id), -- or a venue's
  submitter_reference    text        NOT NULL CHECK (submitter_reference ~ '^[\x21-\x7e]{1,64}$'),
  counterparty_reference text        CHECK (counterparty_reference ~ '^[\x21-\x7e]{1,64}$'),
  state                  text        NOT NULL DEFAULT 'pending_affirmation'
                                     CHECK (state IN ('pending_affirmation', 'cleared', 'rejected', 'cancelled', 'expired')),
  submitted_at           timestamptz NOT NULL DEFAULT clock_timestamp(),
  submitted_by           text        NOT NULL CHECK (length(submitted_by) BETWEEN 1 AND 64),
  expires_at             timestamptz NOT NULL,
  decided_at             timestamptz,
  last_refusal           text        CHECK (last_refusal ~ '^[a-z_]{1,64}$'),
  last_refused_member_id bigint      REFERENCES cch.member (member_id),
  fee_journal_id         bigint      REFERENCES ledger.journal (journal_id),
  CHECK (buyer_member_id <> seller_member_id),
  CHECK ((submitter_member_id IS NULL) <> (venue_principal_id IS NULL)),
  CHECK (submitter_member_id IS NULL OR submitter_member_id IN (buyer_member_id, seller_member_id)),
  CHECK (delivery_end > delivery_start),
  CHECK (extract(epoch FROM delivery_start)::bigint % 3600 = 0 AND extract(epoch FROM delivery_end)::bigint % 3600 = 0),
  CHECK (expires_at > submitted_at),
  CHECK ((state = 'pending_affirmation') = (decided_at IS NULL)),
  UNIQUE (submitter_member_id, submitter_reference)
);
-- A member's reference is unique across the trades it submitted and the ones it affirmed by
-- submitting the other side.
CREATE UNIQUE INDEX trade_counterparty_reference ON cch.trade (
  (CASE WHEN submitter_member_id = buyer_member_id THEN seller_member_id ELSE buyer_member_id END),
  counterparty_reference) WHERE counterparty_reference IS NOT NULL;
CREATE UNIQUE INDEX trade_venue_reference ON cch.trade (venue_principal_id, submitter_reference)
  WHERE venue_principal_id IS NOT NULL;
CREATE INDEX trade_by_buyer ON cch.trade (buyer_member_id, trade_id);
CREATE INDEX trade_by_seller ON cch.trade (seller_member_id, trade_id);
CREATE INDEX trade_pending_by_expiry ON cch.trade (expires_at) WHERE state = 'pending_affirmation';
CREATE INDEX trade_pending_match ON cch.trade (product_id, buyer_member_id, seller_member_id, delivery_start)
  WHERE state = 'pending_affirmation';

-- A decided trade never changes again.
CREATE FUNCTION cch.trade_final() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.state <> 'pending_affirmation' THEN
    RAISE EXCEPTION 'trade % is % and cannot change', OLD.trade_id, OLD.state USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER trade_final BEFORE UPDATE ON cch.trade FOR EACH ROW EXECUTE FUNCTION cch.trade_final();

CREATE TABLE cch.trade_event (
  trade_id        bigint      NOT NULL REFERENCES cch.trade (trade_id),
  event_sequence  integer     NOT NULL CHECK (event_sequence >= 1),
  at              timestamptz NOT NULL DEFAULT clock_timestamp(),
  action          text        NOT NULL CHECK (action IN ('submit', 'affirm', 'reject', 'cancel', 'expire', 'refuse',
                                                          'register')),
  actor           text        NOT NULL CHECK (length(actor) BETWEEN 1 AND 64),
  actor_member_id bigint      REFERENCES cch.member (member_id),
  from_state      text,
  to_state        text        NOT NULL,
  reason          text        CHECK (length(reason) BETWEEN 1 AND 500),
  request_id      text        CHECK (length(request_id) BETWEEN 1 AND 64),
  PRIMARY KEY (trade_id, event_sequence)
);

CREATE TABLE cch.trade_leg (
  leg_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  trade_id       bigint      NOT NULL REFERENCES cch.trade (trade_id),
  member_id      bigint      NOT NULL REFERENCES cch.member (member_id),
  side           text        NOT NULL CHECK (side IN ('buy', 'sell')),
  product_id     bigint      NOT NULL REFERENCES cch.product (product_id),
  delivery_start timestamptz NOT NULL,
  delivery_end   timestamptz NOT NULL,
  gpus           bigint      NOT NULL CHECK (gpus > 0),
  price_ticks    bigint      NOT NULL CHECK (price_ticks > 0),
  created_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
  UNIQUE (trade_id, side)
);
CREATE INDEX trade_leg_by_member ON cch.trade_leg (member_id, product_id);

-- Legs and events are records of what happened: never edited, never removed (the request log's
-- rule, 0005_api.sql, with its function).
CREATE TRIGGER trade_event_append_only BEFORE UPDATE OR DELETE ON cch.trade_event
  FOR EACH ROW EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER trade_event_no_truncate BEFORE TRUNCATE ON cch.trade_event
  FOR EACH STATEMENT EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER trade_leg_append_only BEFORE UPDATE OR DELETE ON cch.trade_leg
  FOR EACH ROW EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER trade_leg_no_truncate BEFORE TRUNCATE ON cch.trade_leg
  FOR EACH STATEMENT EXECUTE FUNCTION api.refuse_change();

CREATE TABLE cch.position (
  member_id        bigint      NOT NULL REFERENCES cch.member (member_id),
  product_id       bigint      NOT NULL REFERENCES cch.product (product_id),
  delivery_month   date        NOT NULL CHECK (extract(day FROM delivery_month) = 1),
  net_gpu_hours    bigint      NOT NULL,
  bought_gpu_hours bigint      NOT NULL CHECK (bought_gpu_hours >= 0),
  sold_gpu_hours   bigint      NOT NULL CHECK (sold_gpu_hours >= 0),
  updated_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
  CHECK (net_gpu_hours = bought_gpu_hours - sold_gpu_hours),
  PRIMARY KEY (member_id, product_id, delivery_month)
);
CREATE INDEX position_by_product_month ON cch.position (product_id, delivery_month);

CREATE TABLE cch.outbox (
  event_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  topic        text        NOT NULL CHECK (topic ~ '^[a-z][a-z_.]{1,63}$'),
  aggregate_id bigint      NOT NULL,
  payload      jsonb       NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  published_at timestamptz
);
CREATE INDEX outbox_unpublished ON cch.outbox (event_id) WHERE published_at IS NULL;

GRANT SELECT, INSERT ON cch.product, cch.member_product, cch.reference_price, cch.member_limit, cch.position_limit,
  cch.member_exposure, cch.trade, cch.trade_event, cch.trade_leg, cch.position, cch.outbox TO cch_writer;
GRANT UPDATE (trading_status) ON cch.product TO cch_writer;
GRANT UPDATE (price_ticks, published_at, published_by) ON cch.reference_price TO cch_writer;
GRANT UPDATE (credit_limit_minor, updated_at, updated_by) ON cch.member_limit TO cch_writer;
GRANT UPDATE (max_gpu_hours, updated_at, updated_by) ON cch.position_limit TO cch_writer;
GRANT UPDATE (requirement_minor) ON cch.member_exposure TO cch_writer;
GRANT UPDATE (state, decided_at, last_refusal, last_refused_member_id, counterparty_reference, fee_journal_id) ON cch.trade TO cch_writer;
GRANT UPDATE (net_gpu_hours, bought_gpu_hours, sold_gpu_hours, updated_at) ON cch.position TO cch_writer;
GRANT UPDATE (published_at) ON cch.outbox TO cch_writer;
GRANT SELECT ON cch.product, cch.member_product, cch.reference_price, cch.member_limit, cch.position_limit,
  cch.member_exposure, cch.trade, cch.trade_event, cch.trade_leg, cch.position, cch.outbox TO cch_reporting, cch_auditor;
