-- Historical factor levels of the margin model (libs/risk owns this table; cch/risk/factor_history.hpp).
--
--   risk.factor_level  one row per settlement snapshot (market.snapshot of kind 'settlement'): the
--                      levels of the product's risk factors on the snapshot's business date D, one
--                      per tenor bucket of the margin model (cch::margin::kTenorBuckets, in bucket
--                      order): the mean of the daily values of the forward curve built from that
--                      snapshot's prices over the bucket's days [D + 1 + first, D + 1 + end), in
--                      USD per GPU-hour; the method that computed them (the factor method's
--                      version, the bucket definition and the curve method's version,
--                      pricing::kCurveMethodVersion), and when.
--
-- The filtered historical simulation reads, for each product and past business date, the levels
-- of the date's latest settlement snapshot; they are computed from the market data once, when
-- first asked for, and kept. A row is a record: never edited, never removed. Market data are never
-- edited either: a correction of a date's settlement prices is a new snapshot (the next version),
-- and so gets a row of its own; the row of the version it corrects stays, so a scenario set that
-- recorded which snapshots it used can be rebuilt from exactly those levels.
--
-- Doubles here are curve values, not money: stored exactly (written with 17 significant digits,
-- which read back to the same double), so levels read back are the levels computed, to the bit.
-- product_id and business_date repeat the snapshot's, for reading by product and date.

CREATE TABLE risk.factor_level (
  snapshot_id   bigint             PRIMARY KEY REFERENCES market.snapshot (snapshot_id),
  product_id    bigint             NOT NULL REFERENCES cch.product (product_id),
  business_date date               NOT NULL,
  levels        double precision[] NOT NULL
                CHECK (array_ndims(levels) = 1 AND cardinality(levels) BETWEEN 1 AND 64
                       AND array_position(levels, NULL) IS NULL
                       -- positive and finite: a curve with a day at zero or below is refused, and
                       -- NaN sorts above infinity
                       AND 0 < ALL (levels) AND 'Infinity'::float8 > ALL (levels)),
  method        text               NOT NULL CHECK (length(method) BETWEEN 1 AND 1000),
  computed_at   timestamptz        NOT NULL DEFAULT clock_timestamp()
);

CREATE TRIGGER factor_level_append_only BEFORE UPDATE OR DELETE ON risk.factor_level
  FOR EACH ROW EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER factor_level_no_truncate BEFORE TRUNCATE ON risk.factor_level
  FOR EACH STATEMENT EXECUTE FUNCTION api.refuse_change();

GRANT SELECT, INSERT ON risk.factor_level TO cch_writer;
GRANT SELECT ON risk.factor_level TO cch_reporting, cch_auditor;
