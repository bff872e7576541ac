-- A forwarded command's Idempotency-Key is reserved before the api forwards it and answered
-- after, each in a statement of its own, so that no database connection is held while the owning
-- service works (a registry affirmation can take tens of milliseconds under load, and the api's
-- pool would otherwise cap how many commands are in flight). A reserved row has no response yet;
-- requests with the same key wait until it is answered. A reservation whose request died (the
-- api stopped mid-forward) goes stale after the forward timeout and may be taken over.
-- Commands the api runs itself still store their response in the command's own transaction.

ALTER TABLE api.idempotency
  ALTER COLUMN response_status DROP NOT NULL,
  ALTER COLUMN response_content_type DROP NOT NULL,
  ALTER COLUMN response_body DROP NOT NULL,
  ADD COLUMN reserved_by text CHECK (reserved_by ~ '^[A-Za-z0-9._-]+$' AND char_length(reserved_by) <= 64),
  ADD CONSTRAINT idempotency_answered_whole CHECK (
    (response_status IS NULL AND response_content_type IS NULL AND response_body IS NULL AND reserved_by IS NOT NULL)
    OR (response_status IS NOT NULL AND response_content_type IS NOT NULL AND response_body IS NOT NULL));

COMMENT ON COLUMN api.idempotency.reserved_by IS
  'The request id of the request that reserved the key and forwards the command; created_at is when it reserved it.';

-- An answered key never changes; a reservation changes only by being answered or taken over.
CREATE FUNCTION api.check_idempotency_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.response_status IS NOT NULL THEN
    RAISE EXCEPTION 'an answered Idempotency-Key never changes' USING ERRCODE = 'restrict_violation';
  END IF;
  IF (NEW.principal_id, NEW.idempotency_key, NEW.method, NEW.path, NEW.request_sha256)
     IS DISTINCT FROM (OLD.principal_id, OLD.idempotency_key, OLD.method, OLD.path, OLD.request_sha256) THEN
    RAISE EXCEPTION 'a reserved Idempotency-Key keeps its request' USING ERRCODE = 'restrict_violation';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER idempotency_answer_once BEFORE UPDATE ON api.idempotency
  FOR EACH ROW EXECUTE FUNCTION api.check_idempotency_update();

-- A reservation whose command failed with a 5xx is released (nothing is stored for a failure, so a
-- retry runs afresh). Only an unanswered reservation, and only by the request that holds it.
CREATE FUNCTION api.release_idempotency(p_principal_id bigint, p_idempotency_key text, p_reserved_by text)
  RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, api AS $$
BEGIN
  DELETE FROM api.idempotency
   WHERE principal_id = p_principal_id AND idempotency_key = p_idempotency_key
     AND reserved_by = p_reserved_by AND response_status IS NULL;
  RETURN FOUND;
END $$;

GRANT UPDATE (response_status, response_content_type, response_body, response_headers, reserved_by, created_at)
  ON api.idempotency TO cch_writer;
REVOKE ALL ON FUNCTION api.release_idempotency(bigint, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.release_idempotency(bigint, text, text) TO cch_writer;
