-- Margin calls (libs/settlement owns them; docs/margin.md "Margin calls").
--
--   cch.margin_call        a demand that a member bring its collateral up to its requirement by a
--                          deadline: issued by a margin run that found the member's collateral
--                          (held less withdrawals requested) short of its initial margin; met when
--                          its collateral reaches the requirement (a deposit, checked in the
--                          deposit's transaction, or a later run); overdue when the deadline passes
--                          first; superseded when a later run finds another shortfall while it is
--                          open (the later call stands). At most one open call per member.
--   cch.margin_call_event  every change of state, with the collateral that caused it (append-only)

CREATE TABLE cch.margin_call (
  call_id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  member_id         bigint      NOT NULL REFERENCES cch.member (member_id),
  run_id            bigint      NOT NULL REFERENCES margin.run (run_id),
  business_date     date        NOT NULL,
  currency          char(3)     NOT NULL DEFAULT 'USD' REFERENCES ledger.currency (currency),
  requirement_minor bigint      NOT NULL CHECK (requirement_minor > 0),
  collateral_minor  bigint      NOT NULL,  -- held less withdrawals requested, when issued
  amount_minor      bigint      NOT NULL CHECK (amount_minor > 0 AND amount_minor = requirement_minor - collateral_minor),
  issued_at         timestamptz NOT NULL,
  deadline          timestamptz NOT NULL CHECK (deadline > issued_at),
  state             text        NOT NULL CHECK (state IN ('issued', 'met', 'overdue', 'superseded')),
  closed_at         timestamptz,  -- met or superseded
  CHECK ((state IN ('met', 'superseded')) = (closed_at IS NOT NULL))
);
CREATE UNIQUE INDEX margin_call_open ON cch.margin_call (member_id) WHERE state IN ('issued', 'overdue');
CREATE INDEX margin_call_by_member ON cch.margin_call (member_id, call_id DESC);

CREATE TABLE cch.margin_call_event (
  call_id          bigint      NOT NULL REFERENCES cch.margin_call (call_id),
  at               timestamptz NOT NULL,
  to_state         text        NOT NULL CHECK (to_state IN ('issued', 'met', 'overdue', 'superseded')),
  collateral_minor bigint      NOT NULL,
  cause            text        NOT NULL CHECK (length(cause) BETWEEN 1 AND 200),
  PRIMARY KEY (call_id, to_state)
);

-- A call moves forward only: issued -> met | overdue | superseded; overdue -> met | superseded.
CREATE FUNCTION cch.margin_call_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT ((OLD.state = 'issued' AND NEW.state IN ('met', 'overdue', 'superseded'))
          OR (OLD.state = 'overdue' AND NEW.state IN ('met', 'superseded'))) THEN
    RAISE EXCEPTION 'margin call % cannot go from % to %', OLD.call_id, OLD.state, NEW.state
      USING ERRCODE = 'check_violation';
  END IF;
  IF (NEW.member_id, NEW.run_id, NEW.requirement_minor, NEW.collateral_minor, NEW.amount_minor, NEW.issued_at,
      NEW.deadline) IS DISTINCT FROM (OLD.member_id, OLD.run_id, OLD.requirement_minor, OLD.collateral_minor,
      OLD.amount_minor, OLD.issued_at, OLD.deadline) THEN
    RAISE EXCEPTION 'margin call % changes only its state', OLD.call_id USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER margin_call_forward BEFORE UPDATE ON cch.margin_call FOR EACH ROW EXECUTE FUNCTION cch.margin_call_forward();
CREATE TRIGGER margin_call_no_delete BEFORE DELETE ON cch.margin_call FOR EACH ROW EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER margin_call_no_truncate BEFORE TRUNCATE ON cch.margin_call FOR EACH STATEMENT EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER margin_call_event_append_only BEFORE UPDATE OR DELETE ON cch.margin_call_event
  FOR EACH ROW EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER margin_call_event_no_truncate BEFORE TRUNCATE ON cch.margin_call_event
  FOR EACH STATEMENT EXECUTE FUNCTION api.refuse_change();

GRANT SELECT, INSERT ON cch.margin_call, cch.margin_call_event TO cch_writer;
GRANT UPDATE (state, closed_at) ON cch.margin_call TO cch_writer;
GRANT SELECT ON cch.margin_call, cch.margin_call_event TO cch_reporting, cch_auditor;
