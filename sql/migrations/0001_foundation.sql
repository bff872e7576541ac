-- Foundation: the cch schema and the record of service starts.
--
-- Every cch service records each start here (which build, where, when), so that an auditor can
-- tell which version of the code wrote any later row. Rows are only ever inserted.

CREATE SCHEMA IF NOT EXISTS cch;

CREATE TABLE cch.service_start (
  service_start_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  service          text        NOT NULL CHECK (service IN ('api', 'registry', 'risk', 'settlement')),
  version          text        NOT NULL CHECK (length(version) BETWEEN 1 AND 64),
  host             text        NOT NULL CHECK (length(host) BETWEEN 1 AND 255),
  process_id       integer     NOT NULL CHECK (process_id > 0),
  listen_address   text        NOT NULL,
  started_at       timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX service_start_by_service ON cch.service_start (service, started_at DESC);

COMMENT ON TABLE cch.service_start IS 'One row per start of a cch service: which build ran where and when.';
