-- Delivery and expiry (libs/settlement deliveries.hpp; docs/settlement.md "Delivery and expiry").
--
-- A trade is settled once, by the first live settlement run whose cut-off is at or after the end of
-- its delivery window (step 'deliveries', after variation margin):
--   cash-settled     the buyer receives (the seller pays) the GPU-hours of each delivery day times
--                    the day's index fixing less the contract price: the difference between the
--                    contract price and the hour-weighted average of the fixings over the window;
--   physically       the buyer pays the contract price for the GPU-hours delivered; for each day
--   settled          short, the seller pays the buyer the buy-in: the shortfall times the amount by
--                    which the day's index fixing exceeds the contract price, plus a penalty (basis
--                    points of the index); a disputed day's disputed hours are paid by the buyer
--                    into its delivery_settlement account (frozen) until a risk officer decides.
--
--   settlement.delivery_report    the seller's report of the GPU-hours delivered on a day
--   settlement.delivery_answer    the buyer's answer to it: confirmed, or disputed with its own figure
--   settlement.delivery_decision  a risk officer's decision on a dispute (and its journal, when the
--                                 trade was settled with the dispute open)
-- Each side of a trade settled pays the settlement fee on its GPU-hours settled (delivered, or all
-- of a cash-settled contract's) at the run's rate, to the house's fee income, in its journal.
--   settlement.buy_in_index       per physically settled product, the index whose fixings price a
--                                 buy-in, as an operator set it (latest row per product applies)
--   settlement.trade_delivery     per run and trade settled in it: the figures and inputs
--   settlement.delivery_day       per run, trade and delivery day: the day's hours and fixing
--   settlement.member_delivery    per run and member: its net amount and its journal
-- All append-only.

ALTER TABLE settlement.run_step DROP CONSTRAINT run_step_step_check;
ALTER TABLE settlement.run_step ADD CONSTRAINT run_step_step_check
  CHECK (step IN ('prices', 'marks', 'variation_margin', 'deliveries', 'complete'));

CREATE TABLE settlement.delivery_report (
  trade_id            bigint      NOT NULL REFERENCES cch.trade (trade_id),
  delivery_day        date        NOT NULL,
  delivered_gpu_hours bigint      NOT NULL CHECK (delivered_gpu_hours >= 0),
  contract_gpu_hours  bigint      NOT NULL CHECK (contract_gpu_hours > 0 AND delivered_gpu_hours <= contract_gpu_hours),
  reported_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
  reported_by         text        NOT NULL CHECK (length(reported_by) BETWEEN 1 AND 64),
  request_id          text        CHECK (length(request_id) BETWEEN 1 AND 64),
  PRIMARY KEY (trade_id, delivery_day)
);

CREATE TABLE settlement.delivery_answer (
  trade_id         bigint      NOT NULL,
  delivery_day     date        NOT NULL,
  answer           text        NOT NULL CHECK (answer IN ('confirmed', 'disputed')),
  buyer_gpu_hours  bigint      CHECK (buyer_gpu_hours >= 0),  -- disputed: what the buyer says it received
  reason           text        CHECK (length(reason) BETWEEN 1 AND 500),
  answered_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  answered_by      text        NOT NULL CHECK (length(answered_by) BETWEEN 1 AND 64),
  request_id       text        CHECK (length(request_id) BETWEEN 1 AND 64),
  PRIMARY KEY (trade_id, delivery_day),
  FOREIGN KEY (trade_id, delivery_day) REFERENCES settlement.delivery_report (trade_id, delivery_day),
  CHECK ((answer = 'disputed') = (buyer_gpu_hours IS NOT NULL AND reason IS NOT NULL))
);

CREATE TABLE settlement.delivery_decision (
  trade_id            bigint      NOT NULL,
  delivery_day        date        NOT NULL,
  delivered_gpu_hours bigint      NOT NULL CHECK (delivered_gpu_hours >= 0),
  reason              text        NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
  decided_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
  decided_by          text        NOT NULL CHECK (length(decided_by) BETWEEN 1 AND 64),
  request_id          text        CHECK (length(request_id) BETWEEN 1 AND 64),
  -- the run that had settled the trade with the dispute open, and the journal releasing its escrow
  run_id              bigint      REFERENCES settlement.run (run_id),
  journal_id          bigint      REFERENCES ledger.journal (journal_id) DEFERRABLE INITIALLY DEFERRED,
  PRIMARY KEY (trade_id, delivery_day),
  FOREIGN KEY (trade_id, delivery_day) REFERENCES settlement.delivery_answer (trade_id, delivery_day)
);

CREATE TABLE settlement.buy_in_index (
  product_id bigint      NOT NULL REFERENCES cch.product (product_id),
  version    integer     NOT NULL CHECK (version BETWEEN 1 AND 1000),
  index_code text        NOT NULL CHECK (index_code ~ '^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$'),
  set_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
  set_by     text        NOT NULL CHECK (length(set_by) BETWEEN 1 AND 64),
  PRIMARY KEY (product_id, version)
);

CREATE TABLE settlement.trade_delivery (
  run_id                 bigint  NOT NULL REFERENCES settlement.run (run_id),
  trade_id               bigint  NOT NULL REFERENCES cch.trade (trade_id),
  product_id             bigint  NOT NULL REFERENCES cch.product (product_id),
  buyer_member_id        bigint  NOT NULL REFERENCES cch.member (member_id),
  seller_member_id       bigint  NOT NULL REFERENCES cch.member (member_id),
  settlement             text    NOT NULL CHECK (settlement IN ('cash', 'physical')),
  price_ticks            bigint  NOT NULL CHECK (price_ticks > 0),
  contract_gpu_hours     bigint  NOT NULL CHECK (contract_gpu_hours > 0),
  delivered_gpu_hours    bigint  NOT NULL CHECK (delivered_gpu_hours >= 0),  -- cash: the contract's
  disputed_gpu_hours     bigint  NOT NULL CHECK (disputed_gpu_hours >= 0),
  shortfall_gpu_hours    bigint  NOT NULL CHECK (shortfall_gpu_hours >= 0),
  -- cash: sum over the days of hours x fixing; the average fixing is it / contract_gpu_hours
  index_tick_gpu_hours   numeric,
  buy_in_penalty_bps     integer NOT NULL CHECK (buy_in_penalty_bps BETWEEN 0 AND 10000),
  buy_in_index           text,
  -- the amounts, each rounded once to the cent, ties away from zero; signs from the buyer's side
  cash_settlement_minor  bigint  NOT NULL,                        -- buyer receives (negative: pays)
  payment_minor          bigint  NOT NULL CHECK (payment_minor >= 0),  -- buyer pays for delivered hours
  escrow_minor           bigint  NOT NULL CHECK (escrow_minor >= 0),   -- buyer pays into its frozen account
  buy_in_minor           bigint  NOT NULL CHECK (buy_in_minor >= 0),   -- seller pays buyer
  fee_ticks_per_gpu_hour bigint  NOT NULL CHECK (fee_ticks_per_gpu_hour BETWEEN 0 AND 10000),
  fee_minor              bigint  NOT NULL CHECK (fee_minor >= 0),       -- each side pays
  CHECK (delivered_gpu_hours + disputed_gpu_hours + shortfall_gpu_hours = contract_gpu_hours),
  PRIMARY KEY (run_id, trade_id)
);
CREATE INDEX trade_delivery_by_trade ON settlement.trade_delivery (trade_id);

CREATE TABLE settlement.delivery_day (
  run_id              bigint NOT NULL,
  trade_id            bigint NOT NULL,
  delivery_day        date   NOT NULL,
  contract_gpu_hours  bigint NOT NULL CHECK (contract_gpu_hours > 0),
  delivered_gpu_hours bigint NOT NULL CHECK (delivered_gpu_hours >= 0),
  disputed_gpu_hours  bigint NOT NULL CHECK (disputed_gpu_hours >= 0),
  shortfall_gpu_hours bigint NOT NULL CHECK (shortfall_gpu_hours >= 0),
  -- how the delivered hours were settled: reported and confirmed, deemed confirmed (no answer by
  -- the run), decided by a risk officer, disputed (open), not reported (failed), or cash
  basis                text  NOT NULL CHECK (basis IN ('confirmed', 'deemed_confirmed', 'decided', 'disputed',
                                                          'not_reported', 'cash')),
  index_snapshot_id   bigint REFERENCES market.snapshot (snapshot_id),
  index_ticks         bigint CHECK (index_ticks > 0),
  escrow_minor        bigint NOT NULL CHECK (escrow_minor >= 0),
  CHECK (delivered_gpu_hours + disputed_gpu_hours + shortfall_gpu_hours = contract_gpu_hours),
  PRIMARY KEY (run_id, trade_id, delivery_day),
  FOREIGN KEY (run_id, trade_id) REFERENCES settlement.trade_delivery (run_id, trade_id)
);

CREATE TABLE settlement.member_delivery (
  run_id      bigint NOT NULL REFERENCES settlement.run (run_id),
  member_id   bigint NOT NULL REFERENCES cch.member (member_id),
  trades      integer NOT NULL CHECK (trades > 0),
  total_minor bigint NOT NULL,        -- credited to its collateral (negative: debited), after fees
  escrow_minor bigint NOT NULL CHECK (escrow_minor >= 0),  -- moved to its frozen delivery account
  fees_minor  bigint NOT NULL CHECK (fees_minor >= 0),     -- its settlement fees, in the total
  journal_id  bigint REFERENCES ledger.journal (journal_id) DEFERRABLE INITIALLY DEFERRED,
  CHECK ((total_minor = 0 AND escrow_minor = 0 AND fees_minor = 0) = (journal_id IS NULL)),
  PRIMARY KEY (run_id, member_id)
);
CREATE INDEX member_delivery_by_member ON settlement.member_delivery (member_id, run_id DESC);

CREATE TRIGGER delivery_report_append_only BEFORE UPDATE OR DELETE ON settlement.delivery_report
  FOR EACH ROW EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER delivery_answer_append_only BEFORE UPDATE OR DELETE ON settlement.delivery_answer
  FOR EACH ROW EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER delivery_decision_append_only BEFORE UPDATE OR DELETE ON settlement.delivery_decision
  FOR EACH ROW EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER buy_in_index_append_only BEFORE UPDATE OR DELETE ON settlement.buy_in_index
  FOR EACH ROW EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER trade_delivery_append_only BEFORE UPDATE OR DELETE ON settlement.trade_delivery
  FOR EACH ROW EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER delivery_day_append_only BEFORE UPDATE OR DELETE ON settlement.delivery_day
  FOR EACH ROW EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER member_delivery_append_only BEFORE UPDATE OR DELETE ON settlement.member_delivery
  FOR EACH ROW EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER delivery_tables_no_truncate BEFORE TRUNCATE ON settlement.delivery_report
  FOR EACH STATEMENT EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER delivery_answer_no_truncate BEFORE TRUNCATE ON settlement.delivery_answer
  FOR EACH STATEMENT EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER delivery_decision_no_truncate BEFORE TRUNCATE ON settlement.delivery_decision
  FOR EACH STATEMENT EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER trade_delivery_no_truncate BEFORE TRUNCATE ON settlement.trade_delivery
  FOR EACH STATEMENT EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER delivery_day_no_truncate BEFORE TRUNCATE ON settlement.delivery_day
  FOR EACH STATEMENT EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER member_delivery_no_truncate BEFORE TRUNCATE ON settlement.member_delivery
  FOR EACH STATEMENT EXECUTE FUNCTION api.refuse_change();

GRANT SELECT, INSERT ON settlement.delivery_report, settlement.delivery_answer, settlement.delivery_decision,
  settlement.buy_in_index, settlement.trade_delivery, settlement.delivery_day, settlement.member_delivery
  TO cch_writer;
GRANT SELECT ON settlement.delivery_report, settlement.delivery_answer, settlement.delivery_decision,
  settlement.buy_in_index, settlement.trade_delivery, settlement.delivery_day, settlement.member_delivery
  TO cch_reporting, cch_auditor;
