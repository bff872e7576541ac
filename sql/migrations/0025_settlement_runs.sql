-- Daily settlement runs (libs/settlement owns them; docs/settlement.md).
--
--   settlement.run                 one run of a business date: its inputs fixed by its first step
--                                  (the curve set, the previous run, the overnight rate) and its
--                                  state (running -> completed -> reversed). At most one live
--                                  (not reversed) run per date; attempt n is the date's nth run. A
--                                  reversed run's journals are reversed, the run kept as it was.
--   settlement.run_step            each step done, in the transaction that did it: a run resumes
--                                  at the first step without a row (append-only).
--   settlement.leg_mark            per run, every open leg of the trades cleared before the run's
--                                  cut-off, marked against its curve set (append-only; written by
--                                  COPY, so no foreign keys and no index beyond the key).
--   settlement.member_product_vm   per run, member, product and kind (forward or future): the legs,
--                                  today's marks, the previous run's marks of the same legs and the
--                                  variation margin (their difference). Append-only.
--   settlement.member_vm           per run and member: variation margin, the forwards' part, their
--                                  cumulative sum after the run, price alignment interest, the
--                                  total and its journal. Append-only.

CREATE SCHEMA settlement;
REVOKE ALL ON SCHEMA settlement FROM PUBLIC;

CREATE TABLE settlement.run (
  run_id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  business_date         date        NOT NULL,
  attempt               integer     NOT NULL CHECK (attempt BETWEEN 1 AND 1000),
  state                 text        NOT NULL CHECK (state IN ('running', 'completed', 'reversed')),
  curve_set_id          bigint      NOT NULL REFERENCES risk.curve_set (curve_set_id),
  previous_run_id       bigint      REFERENCES settlement.run (run_id),
  previous_curve_set_id bigint      REFERENCES risk.curve_set (curve_set_id),
  ois_snapshot_id       bigint      NOT NULL REFERENCES market.snapshot (snapshot_id),
  overnight_tenor       text        NOT NULL CHECK (length(overnight_tenor) BETWEEN 2 AND 4),
  overnight_rate_e8     bigint      NOT NULL CHECK (overnight_rate_e8 BETWEEN -100000000 AND 100000000),
  interest_days         integer     NOT NULL CHECK (interest_days BETWEEN 0 AND 366),
  interest_rate_e8      bigint      NOT NULL CHECK (interest_rate_e8 BETWEEN -100000000 AND 100000000),
  cut_off               timestamptz NOT NULL,  -- the run settles the legs of trades cleared before it
  started_at            timestamptz NOT NULL DEFAULT clock_timestamp(),
  started_by            text        NOT NULL CHECK (length(started_by) BETWEEN 1 AND 64),
  request_id            text        CHECK (length(request_id) BETWEEN 1 AND 64),
  completed_at          timestamptz,
  reversed_at           timestamptz,
  reversed_by           text        CHECK (length(reversed_by) BETWEEN 1 AND 64),
  reversal_reason       text        CHECK (length(reversal_reason) BETWEEN 1 AND 500),
  UNIQUE (business_date, attempt),
  CHECK ((previous_run_id IS NULL) = (previous_curve_set_id IS NULL)),
  CHECK (state <> 'running' OR completed_at IS NULL),
  CHECK (state <> 'completed' OR completed_at IS NOT NULL),
  CHECK ((state = 'reversed') = (reversed_at IS NOT NULL AND reversed_by IS NOT NULL AND reversal_reason IS NOT NULL))
);
CREATE UNIQUE INDEX run_live_per_date ON settlement.run (business_date) WHERE state <> 'reversed';

CREATE TABLE settlement.run_step (
  run_id      bigint      NOT NULL REFERENCES settlement.run (run_id),
  step        text        NOT NULL CHECK (step IN ('prices', 'marks', 'variation_margin', 'complete')),
  started_at  timestamptz NOT NULL,
  finished_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  counts      jsonb       NOT NULL CHECK (jsonb_typeof(counts) = 'object'),
  PRIMARY KEY (run_id, step)
);

CREATE TABLE settlement.leg_mark (
  run_id     bigint NOT NULL,
  trade_id   bigint NOT NULL,
  side       text   NOT NULL CHECK (side IN ('buy', 'sell')),
  member_id  bigint NOT NULL,
  product_id bigint NOT NULL,
  kind       text   NOT NULL CHECK (kind IN ('forward', 'future')),
  pv_minor   bigint NOT NULL,
  PRIMARY KEY (run_id, trade_id, side)
);

CREATE TABLE settlement.member_product_vm (
  run_id            bigint NOT NULL REFERENCES settlement.run (run_id),
  member_id         bigint NOT NULL REFERENCES cch.member (member_id),
  product_id        bigint NOT NULL REFERENCES cch.product (product_id),
  kind              text   NOT NULL CHECK (kind IN ('forward', 'future')),
  legs              bigint NOT NULL CHECK (legs > 0),
  pv_minor          bigint NOT NULL,
  previous_pv_minor bigint NOT NULL,
  vm_minor          bigint NOT NULL CHECK (vm_minor = pv_minor - previous_pv_minor),
  PRIMARY KEY (run_id, member_id, product_id, kind)
);

CREATE TABLE settlement.member_vm (
  run_id                      bigint NOT NULL REFERENCES settlement.run (run_id),
  member_id                   bigint NOT NULL REFERENCES cch.member (member_id),
  vm_minor                    bigint NOT NULL,
  forward_vm_minor            bigint NOT NULL,
  cumulative_forward_vm_minor bigint NOT NULL,
  pai_minor                   bigint NOT NULL,
  total_minor                 bigint NOT NULL CHECK (total_minor = vm_minor + pai_minor),
  journal_id                  bigint REFERENCES ledger.journal (journal_id) DEFERRABLE INITIALLY DEFERRED,
  CHECK ((total_minor = 0) = (journal_id IS NULL)),
  PRIMARY KEY (run_id, member_id)
);
CREATE INDEX member_vm_by_member ON settlement.member_vm (member_id, run_id DESC);

-- A run changes only its state, forward: running -> completed -> reversed (and running ->
-- reversed for a run abandoned half-way), with completed_at set when it completes and who
-- reversed it, when and why when it is reversed.
CREATE FUNCTION settlement.run_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT ((OLD.state = 'running' AND NEW.state IN ('completed', 'reversed'))
          OR (OLD.state = 'completed' AND NEW.state = 'reversed')) THEN
    RAISE EXCEPTION 'settlement run % cannot go from % to %', OLD.run_id, OLD.state, NEW.state
      USING ERRCODE = 'check_violation';
  END IF;
  IF (NEW.business_date, NEW.attempt, NEW.curve_set_id, NEW.previous_run_id, NEW.previous_curve_set_id,
      NEW.ois_snapshot_id, NEW.overnight_tenor, NEW.overnight_rate_e8, NEW.interest_days, NEW.interest_rate_e8,
      NEW.cut_off, NEW.started_at, NEW.started_by, NEW.request_id)
     IS DISTINCT FROM (OLD.business_date, OLD.attempt, OLD.curve_set_id, OLD.previous_run_id,
      OLD.previous_curve_set_id, OLD.ois_snapshot_id, OLD.overnight_tenor, OLD.overnight_rate_e8, OLD.interest_days,
      OLD.interest_rate_e8, OLD.cut_off, OLD.started_at, OLD.started_by, OLD.request_id)
     OR (OLD.completed_at IS NOT NULL AND NEW.completed_at IS DISTINCT FROM OLD.completed_at)
     OR (NEW.state <> 'reversed' AND (NEW.reversed_at, NEW.reversed_by, NEW.reversal_reason)
         IS DISTINCT FROM (OLD.reversed_at, OLD.reversed_by, OLD.reversal_reason)) THEN
    RAISE EXCEPTION 'settlement run % changes only its state', OLD.run_id USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER run_forward BEFORE UPDATE ON settlement.run FOR EACH ROW EXECUTE FUNCTION settlement.run_forward();
CREATE TRIGGER run_no_delete BEFORE DELETE ON settlement.run FOR EACH ROW EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER run_no_truncate BEFORE TRUNCATE ON settlement.run FOR EACH STATEMENT EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER run_step_append_only BEFORE UPDATE OR DELETE ON settlement.run_step
  FOR EACH ROW EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER leg_mark_append_only BEFORE UPDATE OR DELETE ON settlement.leg_mark
  FOR EACH ROW EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER leg_mark_no_truncate BEFORE TRUNCATE ON settlement.leg_mark
  FOR EACH STATEMENT EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER member_product_vm_append_only BEFORE UPDATE OR DELETE ON settlement.member_product_vm
  FOR EACH ROW EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER member_vm_append_only BEFORE UPDATE OR DELETE ON settlement.member_vm
  FOR EACH ROW EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER run_step_no_truncate BEFORE TRUNCATE ON settlement.run_step
  FOR EACH STATEMENT EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER member_product_vm_no_truncate BEFORE TRUNCATE ON settlement.member_product_vm
  FOR EACH STATEMENT EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER member_vm_no_truncate BEFORE TRUNCATE ON settlement.member_vm
  FOR EACH STATEMENT EXECUTE FUNCTION api.refuse_change();

GRANT USAGE ON SCHEMA settlement TO cch_writer, cch_reporting, cch_auditor;
GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA settlement TO cch_writer;
GRANT UPDATE (state, completed_at, reversed_at, reversed_by, reversal_reason) ON settlement.run TO cch_writer;
GRANT SELECT ON ALL TABLES IN SCHEMA settlement TO cch_reporting, cch_auditor;
