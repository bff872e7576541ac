-- Settlement price fallbacks: what marks the days of an open leg that no settlement price of the
-- date covers, once someone answerable has said so.
--
--   settlement.price_fallback      an operator's or risk officer's approval, for one product and
--                                  business date, of a fallback for the days its settlement
--                                  prices do not cover: method 'curve' (the day's forward curve
--                                  there, interpolated between the quoted periods or held flat
--                                  beyond them). Who approved it, when, why, and under which
--                                  request. One per product and date; never changed.
--   settlement.run_price_fallback  what a run used: per product, the approval, the days without a
--                                  price that its open legs needed (a multirange of whole days)
--                                  and how many legs had such days. Written by the run's marks
--                                  step, in its transaction.
--
-- A run whose legs need a day without a price, of a product without an approval for the date, is
-- refused (settlement_prices_missing, naming the product, the days and the legs).

CREATE TABLE settlement.price_fallback (
  fallback_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  product_id    bigint      NOT NULL REFERENCES cch.product (product_id),
  business_date date        NOT NULL,
  method        text        NOT NULL CHECK (method IN ('curve')),
  reason        text        NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
  approved_by   text        NOT NULL CHECK (length(approved_by) BETWEEN 1 AND 128),
  approved_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  request_id    text,
  UNIQUE (product_id, business_date)
);

CREATE TABLE settlement.run_price_fallback (
  run_id      bigint          NOT NULL REFERENCES settlement.run (run_id),
  product_id  bigint          NOT NULL REFERENCES cch.product (product_id),
  fallback_id bigint          NOT NULL REFERENCES settlement.price_fallback (fallback_id),
  days        datemultirange  NOT NULL CHECK (NOT isempty(days)),
  legs        bigint          NOT NULL CHECK (legs >= 1),
  PRIMARY KEY (run_id, product_id)
);

CREATE TRIGGER price_fallback_append_only BEFORE UPDATE OR DELETE ON settlement.price_fallback
  FOR EACH ROW EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER price_fallback_no_truncate BEFORE TRUNCATE ON settlement.price_fallback
  FOR EACH STATEMENT EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER run_price_fallback_append_only BEFORE UPDATE OR DELETE ON settlement.run_price_fallback
  FOR EACH ROW EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER run_price_fallback_no_truncate BEFORE TRUNCATE ON settlement.run_price_fallback
  FOR EACH STATEMENT EXECUTE FUNCTION api.refuse_change();

GRANT SELECT, INSERT ON settlement.price_fallback, settlement.run_price_fallback TO cch_writer;
GRANT SELECT ON settlement.price_fallback, settlement.run_price_fallback TO cch_reporting, cch_auditor;
