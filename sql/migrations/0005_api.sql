-- The REST API's own records: who may call it (principals and their credentials), the stored
-- responses that make POST retries safe (idempotency), the append-only log of every request,
-- and the members' collateral withdrawal requests (owned by the settlement service).
--
-- api.principal          a caller: a member's system, a risk officer, an auditor, an operator
-- api.client_certificate a client certificate (by SHA-256 fingerprint) that authenticates a principal
-- api.api_key            an API key (by key id) and its slow hash; the secret is never stored
-- api.idempotency        per (principal, Idempotency-Key): the request's hash and first response
-- api.request_log        one row per request: who, what, when, outcome, request id (append-only)
-- cch.collateral_withdrawal  a member's request to have collateral paid back, and its decision

CREATE SCHEMA api;

CREATE TABLE api.role (
  role        text PRIMARY KEY CHECK (role ~ '^[a-z_]{1,40}$'),
  description text NOT NULL
);
INSERT INTO api.role VALUES
  ('member',       'A clearing member''s system: its own accounts, collateral, trades and positions.'),
  ('risk_officer', 'Reads all margin and limits; sets limits.'),
  ('auditor',      'Reads the ledger and the audit logs; changes nothing.'),
  ('operator',     'Manages members, credentials, collateral movements, products, market data, settlement runs.');

CREATE TABLE api.principal (
  principal_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name         text        NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9._-]{1,62}$'),
  role         text        NOT NULL REFERENCES api.role (role),
  member_id    bigint      REFERENCES cch.member (member_id),
  status       text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
  created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  created_by   text        NOT NULL CHECK (length(created_by) BETWEEN 1 AND 64),
  CHECK ((role = 'member') = (member_id IS NOT NULL))
);

CREATE TABLE api.client_certificate (
  sha256_fingerprint  char(64)    PRIMARY KEY CHECK (sha256_fingerprint ~ '^[0-9a-f]{64}$'),
  principal_id        bigint      NOT NULL REFERENCES api.principal (principal_id),
  registered_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
  registered_by       text        NOT NULL CHECK (length(registered_by) BETWEEN 1 AND 64),
  revoked_at          timestamptz,
  revoked_by          text        CHECK (length(revoked_by) BETWEEN 1 AND 64),
  CHECK ((revoked_at IS NULL) = (revoked_by IS NULL))
);
CREATE INDEX client_certificate_by_principal ON api.client_certificate (principal_id);

CREATE TABLE api.api_key (
  key_id        char(16)    PRIMARY KEY CHECK (key_id ~ '^[0-9a-f]{16}$'),
  principal_id  bigint      NOT NULL REFERENCES api.principal (principal_id),
  secret_hash   text        NOT NULL CHECK (length(secret_hash) BETWEEN 1 AND 128),
  label         text        NOT NULL CHECK (length(label) BETWEEN 1 AND 100),
  created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
  created_by    text        NOT NULL CHECK (length(created_by) BETWEEN 1 AND 64),
  revoked_at    timestamptz,
  revoked_by    text        CHECK (length(revoked_by) BETWEEN 1 AND 64),
  CHECK ((revoked_at IS NULL) = (revoked_by IS NULL))
);
CREATE INDEX api_key_by_principal ON api.api_key (principal_id);

-- A credential's revocation is final: once revoked_at is set it never changes again, and
-- nothing else about a credential ever changes.
CREATE FUNCTION api.check_credential_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.revoked_at IS NOT NULL OR NEW.revoked_at IS NULL
     OR (to_jsonb(NEW) - 'revoked_at' - 'revoked_by') IS DISTINCT FROM (to_jsonb(OLD) - 'revoked_at' - 'revoked_by') THEN
    RAISE EXCEPTION 'a credential may only be revoked, once' USING ERRCODE = 'restrict_violation';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER client_certificate_only_revoked BEFORE UPDATE ON api.client_certificate
  FOR EACH ROW EXECUTE FUNCTION api.check_credential_update();
CREATE TRIGGER api_key_only_revoked BEFORE UPDATE ON api.api_key
  FOR EACH ROW EXECUTE FUNCTION api.check_credential_update();

-- The first response to a POST with an Idempotency-Key. Rows are kept at least 24 hours
-- (api.idempotency_retention); cch-admin api purge-idempotency deletes older ones.
CREATE TABLE api.idempotency (
  principal_id      bigint      NOT NULL REFERENCES api.principal (principal_id),
  idempotency_key   text        NOT NULL CHECK (idempotency_key ~ '^[\x21-\x7e]{1,200}$'),
  method            text        NOT NULL,
  path              text        NOT NULL CHECK (length(path) <= 2048),
  request_sha256    char(64)    NOT NULL CHECK (request_sha256 ~ '^[0-9a-f]{64}$'),
  response_status   smallint    NOT NULL CHECK (response_status BETWEEN 100 AND 599),
  response_content_type text    NOT NULL,
  response_body     text        NOT NULL,
  response_headers  jsonb       NOT NULL DEFAULT '[]',
  created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (principal_id, idempotency_key)
);
CREATE INDEX idempotency_by_age ON api.idempotency (created_at);

CREATE FUNCTION api.idempotency_retention() RETURNS interval LANGUAGE sql IMMUTABLE AS $$ SELECT interval '24 hours' $$;

-- Deletes stored responses older than the retention (never younger ones, whatever is asked).
CREATE FUNCTION api.purge_idempotency(older_than interval) RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = pg_catalog, api AS $$
DECLARE
  removed bigint;
BEGIN
  DELETE FROM api.idempotency
   WHERE created_at < clock_timestamp() - greatest(older_than, api.idempotency_retention());
  GET DIAGNOSTICS removed = ROW_COUNT;
  RETURN removed;
END $$;

-- Every request the API answered. Append-only: no UPDATE, DELETE or TRUNCATE, even by a superuser.
CREATE TABLE api.request_log (
  request_log_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  received_at     timestamptz NOT NULL,
  request_id      text        NOT NULL CHECK (request_id ~ '^[A-Za-z0-9._-]{1,64}$'),
  principal_id    bigint      REFERENCES api.principal (principal_id),
  principal_name  text        CHECK (length(principal_name) <= 64),
  role            text,
  credential      text        NOT NULL CHECK (credential IN ('none', 'client_certificate', 'api_key')),
  method          text        NOT NULL CHECK (length(method) BETWEEN 1 AND 16),
  route           text        NOT NULL CHECK (length(route) <= 200),
  path            text        NOT NULL CHECK (length(path) <= 2048),
  status          smallint    NOT NULL CHECK (status BETWEEN 100 AND 599),
  reason          text        CHECK (length(reason) <= 64),
  remote_address  text        NOT NULL CHECK (length(remote_address) <= 64),
  duration_us     bigint      NOT NULL CHECK (duration_us >= 0)
);
CREATE INDEX request_log_by_principal ON api.request_log (principal_id, request_log_id);
CREATE INDEX request_log_by_request_id ON api.request_log (request_id);

CREATE FUNCTION api.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER request_log_append_only BEFORE UPDATE OR DELETE ON api.request_log
  FOR EACH ROW EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER request_log_no_truncate BEFORE TRUNCATE ON api.request_log
  FOR EACH STATEMENT EXECUTE FUNCTION api.refuse_change();

-- A member's request to be paid back collateral. requested -> paid (an operator approves; the
-- withdrawal journal is posted in the same transaction), rejected (an operator refuses, with a
-- reason) or cancelled (the member withdraws the request).
CREATE TABLE cch.collateral_withdrawal (
  withdrawal_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  member_id      bigint      NOT NULL REFERENCES cch.member (member_id),
  amount_minor   bigint      NOT NULL CHECK (amount_minor > 0),
  currency       char(3)     NOT NULL REFERENCES ledger.currency (currency),
  status         text        NOT NULL DEFAULT 'requested'
                             CHECK (status IN ('requested', 'paid', 'rejected', 'cancelled')),
  requested_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  requested_by   text        NOT NULL CHECK (length(requested_by) BETWEEN 1 AND 64),
  request_id     text        NOT NULL CHECK (length(request_id) BETWEEN 1 AND 64),
  idempotency_key text       NOT NULL CHECK (idempotency_key ~ '^[\x21-\x7e]{1,200}$'),
  decided_at     timestamptz,
  decided_by     text        CHECK (length(decided_by) BETWEEN 1 AND 64),
  decision_note  text        CHECK (length(decision_note) BETWEEN 1 AND 500),
  journal_id     bigint      REFERENCES ledger.journal (journal_id),
  CHECK ((status = 'requested') = (decided_at IS NULL)),
  CHECK ((decided_at IS NULL) = (decided_by IS NULL)),
  CHECK ((status = 'paid') = (journal_id IS NOT NULL)),
  UNIQUE (member_id, idempotency_key)
);
CREATE INDEX collateral_withdrawal_by_member ON cch.collateral_withdrawal (member_id, withdrawal_id);

-- A decided withdrawal is final.
CREATE FUNCTION cch.check_withdrawal_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.status <> 'requested' OR NEW.member_id <> OLD.member_id OR NEW.amount_minor <> OLD.amount_minor
     OR NEW.currency <> OLD.currency OR NEW.requested_at <> OLD.requested_at
     OR NEW.requested_by <> OLD.requested_by OR NEW.request_id <> OLD.request_id
     OR NEW.idempotency_key <> OLD.idempotency_key THEN
    RAISE EXCEPTION 'only a requested withdrawal may be decided, once' USING ERRCODE = 'restrict_violation';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER collateral_withdrawal_decided_once BEFORE UPDATE ON cch.collateral_withdrawal
  FOR EACH ROW EXECUTE FUNCTION cch.check_withdrawal_update();
CREATE TRIGGER collateral_withdrawal_no_delete BEFORE DELETE OR TRUNCATE ON cch.collateral_withdrawal
  FOR EACH STATEMENT EXECUTE FUNCTION api.refuse_change();

REVOKE ALL ON ALL TABLES IN SCHEMA api FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA api FROM PUBLIC;
GRANT USAGE ON SCHEMA api TO cch_writer, cch_auditor, cch_reporting;
GRANT SELECT ON ALL TABLES IN SCHEMA api TO cch_writer, cch_reporting;
GRANT INSERT ON api.principal, api.client_certificate, api.api_key, api.idempotency, api.request_log TO cch_writer;
GRANT UPDATE (revoked_at, revoked_by) ON api.client_certificate, api.api_key TO cch_writer;
GRANT UPDATE (status) ON api.principal TO cch_writer;
GRANT EXECUTE ON FUNCTION api.purge_idempotency(interval), api.idempotency_retention() TO cch_writer;
GRANT SELECT, INSERT ON cch.collateral_withdrawal TO cch_writer;
GRANT UPDATE (status, decided_at, decided_by, decision_note, journal_id) ON cch.collateral_withdrawal TO cch_writer;
GRANT SELECT ON cch.collateral_withdrawal TO cch_reporting, cch_auditor;
-- Serialising a member's checks locks its row (SELECT ... FOR NO KEY UPDATE needs this).
GRANT UPDATE (status) ON cch.member TO cch_writer;
-- Auditors read who could call the API and what was asked of it; never the key hashes.
GRANT SELECT ON api.role, api.principal, api.client_certificate, api.request_log TO cch_auditor;
GRANT SELECT (key_id, principal_id, label, created_at, created_by, revoked_at, revoked_by) ON api.api_key TO cch_auditor;
