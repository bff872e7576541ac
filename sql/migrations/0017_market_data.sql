-- Market data, dated and append-only (libs/market owns every table here; docs/market-data.md).
--
-- What the clearinghouse prices with, one business date at a time:
--   SOFR OIS quotes         the discount curve's inputs: per tenor a rate
--   settlement prices       per product, a price for each delivery period it quotes (days, weeks,
--                           months, quarters, years; overlapping periods allowed)
--   index fixings           per cash-settlement index, its value of the day
-- Each set is a *snapshot*: one version of one kind of data about one subject (the SOFR curve, a
-- product, an index) on one date, with its source, publisher and publication time, who entered
-- it and under which request. A correction is a new version with a reason; nothing is ever
-- edited or removed, so any figure computed from market data can name exactly the versions it
-- read, and an auditor can see what was known when.
--
-- Units: rates in units of 10^-8 (rate_e8: 0.04312500 is 4312500), prices and index values in
-- ticks of 0.0001 USD per GPU-hour (price_ticks, value_ticks).
--
-- The latest settlement prices of a product (market.latest_settlement: the snapshot with the
-- greatest business date, then version) are the registry's reference prices: the fat-finger band
-- of registration is around them. cch.reference_price, the one overwritten value per product and
-- month it replaces, is carried over as version 1 snapshots and dropped.

CREATE SCHEMA market;
REVOKE ALL ON SCHEMA market FROM PUBLIC;

CREATE TABLE market.snapshot (
  snapshot_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind              text        NOT NULL CHECK (kind IN ('ois', 'settlement', 'fixing')),
  -- 'SOFR' for OIS quotes, the product's code for settlement prices, the index for fixings
  subject           text        NOT NULL CHECK (subject ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
  product_id        bigint      REFERENCES cch.product (product_id),
  business_date     date        NOT NULL,
  version           integer     NOT NULL CHECK (version BETWEEN 1 AND 1000),
  correction_reason text        CHECK (length(correction_reason) BETWEEN 1 AND 500),
  source            text        NOT NULL CHECK (length(source) BETWEEN 1 AND 64),
  publisher         text        NOT NULL CHECK (length(publisher) BETWEEN 1 AND 64),
  published_at      timestamptz NOT NULL,
  entered_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
  entered_by        text        NOT NULL CHECK (length(entered_by) BETWEEN 1 AND 64),
  request_id        text        CHECK (length(request_id) BETWEEN 1 AND 64),
  -- SHA-256 of the snapshot's rows in their canonical text (libs/market): the same data entered
  -- again is recognised as the version it repeats
  content_hash      text        NOT NULL CHECK (content_hash ~ '^[0-9a-f]{64}$'),
  UNIQUE (kind, subject, business_date, version),
  CHECK ((kind = 'settlement') = (product_id IS NOT NULL)),
  CHECK ((version = 1) = (correction_reason IS NULL))
);
CREATE INDEX snapshot_by_date ON market.snapshot (business_date, kind);

CREATE TABLE market.ois_quote (
  snapshot_id bigint NOT NULL REFERENCES market.snapshot (snapshot_id),
  tenor       text   NOT NULL CHECK (tenor ~ '^[1-9][0-9]{0,2}[DWMY]$'),
  rate_e8     bigint NOT NULL CHECK (rate_e8 BETWEEN -100000000 AND 100000000),
  PRIMARY KEY (snapshot_id, tenor)
);

CREATE TABLE market.settlement_price (
  snapshot_id bigint NOT NULL REFERENCES market.snapshot (snapshot_id),
  period      text   NOT NULL CHECK (length(period) BETWEEN 4 AND 10),  -- its label: 2027-03, 2027-Q2, ...
  period_kind text   NOT NULL CHECK (period_kind IN ('day', 'week', 'month', 'quarter', 'year')),
  first_day   date   NOT NULL,
  end_day     date   NOT NULL CHECK (end_day > first_day),
  price_ticks bigint NOT NULL CHECK (price_ticks BETWEEN 1 AND 10000000),
  PRIMARY KEY (snapshot_id, period)
);

CREATE TABLE market.index_fixing (
  snapshot_id bigint PRIMARY KEY REFERENCES market.snapshot (snapshot_id),
  value_ticks bigint NOT NULL CHECK (value_ticks BETWEEN 1 AND 10000000)
);

-- Snapshots and their rows are records: never edited, never removed.
CREATE TRIGGER snapshot_append_only BEFORE UPDATE OR DELETE ON market.snapshot
  FOR EACH ROW EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER snapshot_no_truncate BEFORE TRUNCATE ON market.snapshot
  FOR EACH STATEMENT EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER ois_quote_append_only BEFORE UPDATE OR DELETE ON market.ois_quote
  FOR EACH ROW EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER ois_quote_no_truncate BEFORE TRUNCATE ON market.ois_quote
  FOR EACH STATEMENT EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER settlement_price_append_only BEFORE UPDATE OR DELETE ON market.settlement_price
  FOR EACH ROW EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER settlement_price_no_truncate BEFORE TRUNCATE ON market.settlement_price
  FOR EACH STATEMENT EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER index_fixing_append_only BEFORE UPDATE OR DELETE ON market.index_fixing
  FOR EACH ROW EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER index_fixing_no_truncate BEFORE TRUNCATE ON market.index_fixing
  FOR EACH STATEMENT EXECUTE FUNCTION api.refuse_change();

-- A pointer, not a copy: each product's latest settlement snapshot (greatest business date, then
-- version), moved forward in the transaction that stores a later one.
CREATE TABLE market.latest_settlement (
  product_id    bigint  PRIMARY KEY REFERENCES cch.product (product_id),
  snapshot_id   bigint  NOT NULL REFERENCES market.snapshot (snapshot_id),
  business_date date    NOT NULL,
  version       integer NOT NULL
);

-- The reference prices of before, carried over: one version 1 snapshot per product, dated the
-- day its newest reference price was published.
INSERT INTO market.snapshot (kind, subject, product_id, business_date, version, source, publisher, published_at,
                             entered_by, content_hash)
SELECT 'settlement', p.code, p.product_id, max(r.published_at)::date, 1, 'cch.reference_price',
       'cch (carried over)', max(r.published_at), 'migration', repeat('0', 64)
FROM cch.reference_price r JOIN cch.product p USING (product_id)
GROUP BY p.product_id, p.code;
INSERT INTO market.settlement_price (snapshot_id, period, period_kind, first_day, end_day, price_ticks)
SELECT s.snapshot_id, to_char(r.delivery_month, 'YYYY-MM'), 'month', r.delivery_month,
       (r.delivery_month + interval '1 month')::date, r.price_ticks
FROM cch.reference_price r JOIN market.snapshot s ON s.product_id = r.product_id AND s.kind = 'settlement';
INSERT INTO market.latest_settlement (product_id, snapshot_id, business_date, version)
SELECT product_id, snapshot_id, business_date, version FROM market.snapshot WHERE kind = 'settlement';
DROP TABLE cch.reference_price;

GRANT USAGE ON SCHEMA market TO cch_writer, cch_reporting, cch_auditor;
GRANT SELECT, INSERT ON market.snapshot, market.ois_quote, market.settlement_price, market.index_fixing,
  market.latest_settlement TO cch_writer;
GRANT UPDATE (snapshot_id, business_date, version) ON market.latest_settlement TO cch_writer;
GRANT SELECT ON market.snapshot, market.ois_quote, market.settlement_price, market.index_fixing,
  market.latest_settlement TO cch_reporting, cch_auditor;
