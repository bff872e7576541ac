-- Curve sets and marks (libs/risk owns every table here; docs/curves.md).
--
--   risk.curve_set        one business date's curves, built from named market data snapshots: a
--                         version per date (a rebuild after a correction is the next version), the
--                         method, and a content hash (pricing::content_hash) over its inputs and
--                         every number of its curves, so that rebuilding it from the same snapshots
--                         can be shown to give the same curves
--   risk.curve_set_input  the market.snapshot rows it read
--   risk.discount_node    the SOFR OIS discount curve's nodes (log-linear between them)
--   risk.forward_curve    one product's daily forward prices from the day after the business date
--   risk.mark_run         the marking of every open leg against one curve set (once per curve set)
--   risk.leg_mark         each leg's mark: its forward average, discount factor, marked GPU-hours and
--                         present value in cents
--   risk.member_mark      per member and product, the sum of its legs' marks
-- All of them are records: never edited, never removed. Doubles here are curve values, not money;
-- money (pv_minor) is integer cents with the rounding rule of pricing/marks.hpp.

CREATE SCHEMA risk;
REVOKE ALL ON SCHEMA risk FROM PUBLIC;

CREATE TABLE risk.curve_set (
  curve_set_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  business_date  date        NOT NULL,
  version        integer     NOT NULL CHECK (version BETWEEN 1 AND 1000),
  method_version text        NOT NULL CHECK (length(method_version) BETWEEN 1 AND 500),
  inputs         text[]      NOT NULL,  -- the inputs as hashed: "ois:SOFR:2026-12-01:v1", ...
  content_hash   text        NOT NULL CHECK (content_hash ~ '^[0-9a-f]{64}$'),
  built_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
  built_by       text        NOT NULL CHECK (length(built_by) BETWEEN 1 AND 64),
  request_id     text        CHECK (length(request_id) BETWEEN 1 AND 64),
  build_microseconds bigint  NOT NULL CHECK (build_microseconds >= 0),
  UNIQUE (business_date, version)
);

CREATE TABLE risk.curve_set_input (
  curve_set_id bigint NOT NULL REFERENCES risk.curve_set (curve_set_id),
  snapshot_id  bigint NOT NULL REFERENCES market.snapshot (snapshot_id),
  PRIMARY KEY (curve_set_id, snapshot_id)
);

CREATE TABLE risk.discount_node (
  curve_set_id    bigint           NOT NULL REFERENCES risk.curve_set (curve_set_id),
  node_date       date             NOT NULL,
  discount_factor double precision NOT NULL CHECK (discount_factor > 0),
  PRIMARY KEY (curve_set_id, node_date)
);

CREATE TABLE risk.forward_curve (
  curve_set_id bigint             NOT NULL REFERENCES risk.curve_set (curve_set_id),
  product_id   bigint             NOT NULL REFERENCES cch.product (product_id),
  first_day    date               NOT NULL,
  daily_prices double precision[] NOT NULL CHECK (cardinality(daily_prices) BETWEEN 1 AND 3660),
  PRIMARY KEY (curve_set_id, product_id)
);

CREATE TABLE risk.mark_run (
  curve_set_id      bigint      PRIMARY KEY REFERENCES risk.curve_set (curve_set_id),
  business_date     date        NOT NULL,
  legs_marked       bigint      NOT NULL CHECK (legs_marked >= 0),
  legs_unmarked     bigint      NOT NULL CHECK (legs_unmarked >= 0),  -- open legs of products without a curve
  unmarked_products bigint[]    NOT NULL,
  pv_total_minor    numeric     NOT NULL,  -- the sum over every leg: zero, the clearinghouse's book is flat
  started_at        timestamptz NOT NULL,
  finished_at       timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE risk.leg_mark (
  curve_set_id      bigint           NOT NULL,
  trade_id          bigint           NOT NULL,
  side              text             NOT NULL CHECK (side IN ('buy', 'sell')),
  member_id         bigint           NOT NULL,
  product_id        bigint           NOT NULL,
  kind              text             NOT NULL CHECK (kind IN ('forward', 'future')),
  gpu_hours         bigint           NOT NULL CHECK (gpu_hours >= 0),
  forward_price_usd double precision NOT NULL,
  discount_factor   double precision NOT NULL,
  pv_minor          bigint           NOT NULL,
  PRIMARY KEY (curve_set_id, trade_id, side)
);
-- No other index and no foreign keys on leg_mark: a million rows go in by COPY in the mark run's
-- transaction, which also inserts the run row (whose key is the curve set's); members' figures
-- are read from member_mark, a trade's from the key.

CREATE TABLE risk.member_mark (
  curve_set_id bigint  NOT NULL REFERENCES risk.curve_set (curve_set_id),
  member_id    bigint  NOT NULL REFERENCES cch.member (member_id),
  product_id   bigint  NOT NULL REFERENCES cch.product (product_id),
  legs         bigint  NOT NULL CHECK (legs > 0),
  gpu_hours    bigint  NOT NULL,  -- net: bought less sold, still to be delivered
  pv_minor     bigint  NOT NULL,
  PRIMARY KEY (curve_set_id, member_id, product_id)
);

CREATE TRIGGER curve_set_append_only BEFORE UPDATE OR DELETE ON risk.curve_set
  FOR EACH ROW EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER curve_set_input_append_only BEFORE UPDATE OR DELETE ON risk.curve_set_input
  FOR EACH ROW EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER discount_node_append_only BEFORE UPDATE OR DELETE ON risk.discount_node
  FOR EACH ROW EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER forward_curve_append_only BEFORE UPDATE OR DELETE ON risk.forward_curve
  FOR EACH ROW EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER mark_run_append_only BEFORE UPDATE OR DELETE ON risk.mark_run
  FOR EACH ROW EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER leg_mark_append_only BEFORE UPDATE OR DELETE ON risk.leg_mark
  FOR EACH ROW EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER member_mark_append_only BEFORE UPDATE OR DELETE ON risk.member_mark
  FOR EACH ROW EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER curve_set_no_truncate BEFORE TRUNCATE ON risk.curve_set
  FOR EACH STATEMENT EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER curve_set_input_no_truncate BEFORE TRUNCATE ON risk.curve_set_input
  FOR EACH STATEMENT EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER discount_node_no_truncate BEFORE TRUNCATE ON risk.discount_node
  FOR EACH STATEMENT EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER forward_curve_no_truncate BEFORE TRUNCATE ON risk.forward_curve
  FOR EACH STATEMENT EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER mark_run_no_truncate BEFORE TRUNCATE ON risk.mark_run
  FOR EACH STATEMENT EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER leg_mark_no_truncate BEFORE TRUNCATE ON risk.leg_mark
  FOR EACH STATEMENT EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER member_mark_no_truncate BEFORE TRUNCATE ON risk.member_mark
  FOR EACH STATEMENT EXECUTE FUNCTION api.refuse_change();

GRANT USAGE ON SCHEMA risk TO cch_writer, cch_reporting, cch_auditor;
GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA risk TO cch_writer;
GRANT SELECT ON ALL TABLES IN SCHEMA risk TO cch_reporting, cch_auditor;
