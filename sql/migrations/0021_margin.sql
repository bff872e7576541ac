-- Initial margin (libs/margin_store owns every table here; docs/margin.md).
--
--   margin.parameter_set    the margin model's parameters, versioned: a new version is a new row
--                           with its reason; the same text again is the version it repeats
--   margin.model            one business date's published margin model: the curve set, the
--                           parameter version and the factor history it was built from, the
--                           stressed period, and a content hash over every number in it (the
--                           scenario moves are integers, so the hash is exact); a version per date
--   margin.model_product    each product of a model: its index (the factors' order), GPU model and
--                           generation, open interest and spread as of the build, its forward
--                           curve (the exposure grid) and its factors' volatilities
--   margin.model_class      each margin class of a model: margin period of risk, confidence, the
--                           dates of its filtered and stressed scenarios and every move (parts per
--                           10^9, factor-major)
--   margin.run              a margin run: which model, which members, why, when
--   margin.member_margin    a member's figures in a run, with the bucketed position they came from
--   margin.member_factor    a member's exposure, GPU-hours and contribution per factor in a run
-- All of them are records: never edited, never removed. Doubles here are curve values and
-- volatilities, never money; money is integer cents with the rounding rules of engine.hpp.

CREATE SCHEMA margin;
REVOKE ALL ON SCHEMA margin FROM PUBLIC;

CREATE TABLE margin.parameter_set (
  version      integer     PRIMARY KEY CHECK (version BETWEEN 1 AND 100000),
  parameters   text        NOT NULL CHECK (length(parameters) BETWEEN 1 AND 65536),
  content_hash text        NOT NULL UNIQUE CHECK (content_hash ~ '^[0-9a-f]{64}$'),
  reason       text        NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
  created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  created_by   text        NOT NULL CHECK (length(created_by) BETWEEN 1 AND 64),
  request_id   text        CHECK (length(request_id) BETWEEN 1 AND 64)
);

CREATE TABLE margin.model (
  model_id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  business_date       date        NOT NULL,
  version             integer     NOT NULL CHECK (version BETWEEN 1 AND 1000),
  curve_set_id        bigint      NOT NULL REFERENCES risk.curve_set (curve_set_id),
  parameter_version   integer     NOT NULL REFERENCES margin.parameter_set (version),
  factor_history_hash text        NOT NULL CHECK (factor_history_hash ~ '^[0-9a-f]{64}$'),
  factor_snapshot_ids bigint[]    NOT NULL,  -- the market.snapshot rows whose factor levels it used
  history_first       date        NOT NULL,
  history_last        date        NOT NULL,
  history_dates       integer     NOT NULL CHECK (history_dates > 0),
  stress_first        date        NOT NULL,
  stress_last         date        NOT NULL,
  stress_selected     boolean     NOT NULL,  -- chosen from the history, not given by the parameters
  discount_dates      date[]      NOT NULL,  -- the curve set's discount nodes
  discount_factors    double precision[] NOT NULL,
  content_hash        text        NOT NULL CHECK (content_hash ~ '^[0-9a-f]{64}$'),
  built_at            timestamptz NOT NULL DEFAULT clock_timestamp(),
  built_by            text        NOT NULL CHECK (length(built_by) BETWEEN 1 AND 64),
  request_id          text        CHECK (length(request_id) BETWEEN 1 AND 64),
  build_microseconds  bigint      NOT NULL CHECK (build_microseconds >= 0),
  UNIQUE (business_date, version),
  CHECK (history_first <= history_last AND stress_first <= stress_last)
);
CREATE INDEX model_latest ON margin.model (business_date DESC, version DESC);

CREATE TABLE margin.model_product (
  model_id                bigint             NOT NULL REFERENCES margin.model (model_id),
  product_index           integer            NOT NULL CHECK (product_index >= 0),
  product_id              bigint             NOT NULL REFERENCES cch.product (product_id),
  gpu_model               text               NOT NULL CHECK (length(gpu_model) BETWEEN 1 AND 32),
  generation              integer            NOT NULL CHECK (generation >= 0),
  open_interest_gpu_hours bigint             NOT NULL CHECK (open_interest_gpu_hours >= 0),
  spread_ticks            bigint             NOT NULL CHECK (spread_ticks >= 0),
  first_day               date               NOT NULL,
  daily_prices            double precision[] NOT NULL CHECK (cardinality(daily_prices) BETWEEN 1 AND 3660),
  sigma_today             double precision[] NOT NULL,  -- per bucket, daily
  sigma_mean              double precision[] NOT NULL,
  sigma_used              double precision[] NOT NULL,
  PRIMARY KEY (model_id, product_index),
  UNIQUE (model_id, product_id)
);

CREATE TABLE margin.model_class (
  model_id       bigint   NOT NULL REFERENCES margin.model (model_id),
  margin_class   text     NOT NULL CHECK (margin_class IN ('future', 'forward')),
  mpor_days      integer  NOT NULL CHECK (mpor_days >= 1),
  confidence_bp  integer  NOT NULL CHECK (confidence_bp BETWEEN 9900 AND 9999),
  filtered_dates date[]   NOT NULL,
  stressed_dates date[]   NOT NULL,
  moves_ppb      bigint[] NOT NULL,  -- [factor x scenarios + scenario], filtered then stressed
  PRIMARY KEY (model_id, margin_class)
);

CREATE TABLE margin.run (
  run_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  model_id      bigint      NOT NULL REFERENCES margin.model (model_id),
  business_date date        NOT NULL,
  scope         text        NOT NULL CHECK (scope IN ('all', 'members')),
  cause         text        NOT NULL CHECK (cause ~ '^[a-z_.]{1,64}$'),  -- on_demand, curve_set.built, trade.cleared
  members       integer     NOT NULL CHECK (members >= 0),
  legs          bigint      NOT NULL CHECK (legs >= 0),
  started_at    timestamptz NOT NULL,
  finished_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  requested_by  text        NOT NULL CHECK (length(requested_by) BETWEEN 1 AND 64),
  request_id    text        CHECK (length(request_id) BETWEEN 1 AND 64)
);

CREATE TABLE margin.member_margin (
  run_id                  bigint   NOT NULL REFERENCES margin.run (run_id),
  member_id               bigint   NOT NULL REFERENCES cch.member (member_id),
  model_id                bigint   NOT NULL REFERENCES margin.model (model_id),
  legs                    bigint   NOT NULL CHECK (legs >= 0),
  -- per class (future, forward): the figures of engine.hpp, cents
  es_filtered_cents       bigint[] NOT NULL CHECK (cardinality(es_filtered_cents) = 2),
  es_stressed_cents       bigint[] NOT NULL CHECK (cardinality(es_stressed_cents) = 2),
  expected_shortfall_cents bigint[] NOT NULL CHECK (cardinality(expected_shortfall_cents) = 2),
  generations_alone_cents bigint[] NOT NULL CHECK (cardinality(generations_alone_cents) = 2),
  benefit_cents           bigint[] NOT NULL CHECK (cardinality(benefit_cents) = 2),
  benefit_taken_cents     bigint[] NOT NULL CHECK (cardinality(benefit_taken_cents) = 2),
  benefit_refused_cents   bigint[] NOT NULL CHECK (cardinality(benefit_refused_cents) = 2),
  requirement_cents       bigint[] NOT NULL CHECK (cardinality(requirement_cents) = 2),
  concentration_cents     bigint   NOT NULL CHECK (concentration_cents >= 0),
  liquidity_cents         bigint   NOT NULL CHECK (liquidity_cents >= 0),
  interim_cents           bigint   NOT NULL CHECK (interim_cents >= 0),  -- legs outside the model
  initial_margin_cents    bigint   NOT NULL CHECK (initial_margin_cents >= 0),
  PRIMARY KEY (run_id, member_id)
);
CREATE INDEX member_margin_latest ON margin.member_margin (member_id, run_id DESC);

CREATE TABLE margin.member_factor (
  run_id             bigint   NOT NULL,
  member_id          bigint   NOT NULL,
  margin_class       text     NOT NULL CHECK (margin_class IN ('future', 'forward')),
  product_id         bigint   NOT NULL,
  bucket             smallint NOT NULL CHECK (bucket >= 0),
  exposure_cents     bigint   NOT NULL,
  net_gpu_hours      bigint   NOT NULL,
  contribution_cents bigint   NOT NULL,
  PRIMARY KEY (run_id, member_id, margin_class, product_id, bucket)
);
-- No foreign keys on member_factor: its rows go in by COPY with their member_margin rows, in one
-- transaction.

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['parameter_set', 'model', 'model_product', 'model_class', 'run', 'member_margin',
                           'member_factor'] LOOP
    EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON margin.%I FOR EACH ROW EXECUTE FUNCTION api.refuse_change()',
                   t || '_append_only', t);
    EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON margin.%I FOR EACH STATEMENT EXECUTE FUNCTION api.refuse_change()',
                   t || '_no_truncate', t);
  END LOOP;
END
$$;

GRANT USAGE ON SCHEMA margin TO cch_writer, cch_reporting, cch_auditor;
GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA margin TO cch_writer;
GRANT SELECT ON ALL TABLES IN SCHEMA margin TO cch_reporting, cch_auditor;
