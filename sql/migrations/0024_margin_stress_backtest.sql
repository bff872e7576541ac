-- Stress results of every margin run, the daily backtest of every member's margin, and a
-- member's factor lines kept in its own row (libs/margin_store owns them; docs/margin.md "Margin
-- runs", "Stress tests" and "Backtesting").
--
--   margin.member_margin   gains each member's factor lines as six arrays of equal length, one
--                          element per line, in the order of MemberResult::factors (class future
--                          then forward, the model's product index, bucket): a run writes one
--                          row per member instead of a row per line, which is what made storing
--                          a run slow (the lines' primary key: about half a second of a run of
--                          1,000 members over 265,000 lines). margin.member_factor's rows move
--                          into them and the table goes.
--   margin.member_margin   gains each member's loss and uncovered loss under the stress scenarios
--                          (margin/stress.hpp), in the order of margin.run.stress_scenarios. NULL
--                          in the rows of runs made before stress results were kept.
--   margin.run             gains the names of its stress scenarios, in order.
--   margin.backtest        a backtest of a run's members: each member's portfolio of that run,
--                          held constant over the last `observations_requested` dates of the
--                          model's factor history (margin/portfolio_backtest.hpp).
--   margin.member_backtest one member's result for one margin class: the report's fields
--                          (ISO 20022 auth.066) and every observation (date, margin, realised
--                          loss), or the reason there is none.

ALTER TABLE margin.run ADD COLUMN stress_scenarios text[]
  CHECK (stress_scenarios IS NULL OR cardinality(stress_scenarios) BETWEEN 1 AND 16);

ALTER TABLE margin.member_margin
  ADD COLUMN line_class              smallint[] NOT NULL DEFAULT '{}',  -- 0 future, 1 forward
  ADD COLUMN line_product_id         bigint[]   NOT NULL DEFAULT '{}',
  ADD COLUMN line_bucket             smallint[] NOT NULL DEFAULT '{}',
  ADD COLUMN line_exposure_cents     bigint[]   NOT NULL DEFAULT '{}',
  ADD COLUMN line_net_gpu_hours      bigint[]   NOT NULL DEFAULT '{}',
  ADD COLUMN line_contribution_cents bigint[]   NOT NULL DEFAULT '{}',
  ADD CONSTRAINT member_margin_lines_shape CHECK (
    cardinality(line_product_id) = cardinality(line_class) AND
    cardinality(line_bucket) = cardinality(line_class) AND
    cardinality(line_exposure_cents) = cardinality(line_class) AND
    cardinality(line_net_gpu_hours) = cardinality(line_class) AND
    cardinality(line_contribution_cents) = cardinality(line_class) AND
    0 <= ALL (line_class) AND 1 >= ALL (line_class) AND 0 <= ALL (line_bucket)),
  ADD COLUMN stress_loss_cents bigint[],
  ADD COLUMN stress_uncovered_cents bigint[],
  ADD CONSTRAINT member_margin_stress_shape CHECK (
    (stress_loss_cents IS NULL AND stress_uncovered_cents IS NULL) OR
    (cardinality(stress_loss_cents) BETWEEN 1 AND 16 AND
     cardinality(stress_uncovered_cents) = cardinality(stress_loss_cents) AND
     0 <= ALL (stress_uncovered_cents)));

-- The lines of runs made before: into their members' rows, in the same order (the rows are
-- records, changed here once by the migration, which alone may).
ALTER TABLE margin.member_margin DISABLE TRIGGER member_margin_append_only;
UPDATE margin.member_margin m
   SET line_class = l.classes, line_product_id = l.products, line_bucket = l.buckets,
       line_exposure_cents = l.exposures, line_net_gpu_hours = l.hours, line_contribution_cents = l.contributions
  FROM (SELECT f.run_id, f.member_id,
               array_agg((CASE f.margin_class WHEN 'future' THEN 0 ELSE 1 END)::smallint
                         ORDER BY f.margin_class DESC, p.product_index, f.bucket) AS classes,
               array_agg(f.product_id ORDER BY f.margin_class DESC, p.product_index, f.bucket) AS products,
               array_agg(f.bucket ORDER BY f.margin_class DESC, p.product_index, f.bucket) AS buckets,
               array_agg(f.exposure_cents ORDER BY f.margin_class DESC, p.product_index, f.bucket) AS exposures,
               array_agg(f.net_gpu_hours ORDER BY f.margin_class DESC, p.product_index, f.bucket) AS hours,
               array_agg(f.contribution_cents ORDER BY f.margin_class DESC, p.product_index, f.bucket) AS contributions
          FROM margin.member_factor f
          JOIN margin.run r USING (run_id)
          JOIN margin.model_product p ON p.model_id = r.model_id AND p.product_id = f.product_id
         GROUP BY f.run_id, f.member_id) l
 WHERE m.run_id = l.run_id AND m.member_id = l.member_id;
ALTER TABLE margin.member_margin ENABLE TRIGGER member_margin_append_only;
DROP TABLE margin.member_factor;

CREATE TABLE margin.backtest (
  backtest_id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id                 bigint      NOT NULL REFERENCES margin.run (run_id),
  model_id               bigint      NOT NULL REFERENCES margin.model (model_id),
  business_date          date        NOT NULL,
  observations_requested integer     NOT NULL CHECK (observations_requested BETWEEN 1 AND 2610),
  members                integer     NOT NULL CHECK (members >= 0),
  computed_at            timestamptz NOT NULL DEFAULT clock_timestamp(),
  compute_microseconds   bigint      NOT NULL CHECK (compute_microseconds >= 0),
  requested_by           text        NOT NULL CHECK (length(requested_by) BETWEEN 1 AND 64),
  request_id             text        CHECK (length(request_id) BETWEEN 1 AND 64),
  UNIQUE (run_id, observations_requested)  -- a run's backtest is computed once
);

CREATE TABLE margin.member_backtest (
  backtest_id             bigint  NOT NULL REFERENCES margin.backtest (backtest_id),
  member_id               bigint  NOT NULL REFERENCES cch.member (member_id),
  margin_class            text    NOT NULL CHECK (margin_class IN ('future', 'forward')),
  refusal                 text    CHECK (refusal ~ '^[a-z_]{1,64}$'),  -- why there is no report
  refusal_detail          text    CHECK (length(refusal_detail) <= 1000),
  mpor_days               integer NOT NULL CHECK (mpor_days >= 1),
  confidence_bp           integer NOT NULL CHECK (confidence_bp BETWEEN 1 AND 9999),
  skipped                 bigint  NOT NULL CHECK (skipped >= 0),
  first_date              date,
  last_date               date,
  observations            bigint  NOT NULL CHECK (observations >= 0),
  exceptions              bigint  NOT NULL CHECK (exceptions BETWEEN 0 AND observations),
  coverage_bp             integer NOT NULL CHECK (coverage_bp BETWEEN 0 AND 10000),
  largest_exception_cents bigint  NOT NULL CHECK (largest_exception_cents >= 0),
  average_exception_cents bigint  NOT NULL CHECK (average_exception_cents >= 0),
  kupiec_likelihood_ratio double precision NOT NULL,
  kupiec_p_value          double precision NOT NULL,
  kupiec_rejected         boolean NOT NULL,
  traffic_light           text    CHECK (traffic_light IN ('green', 'yellow', 'red')),
  cumulative_probability  double precision NOT NULL,
  dates                   date[]   NOT NULL,
  margin_cents            bigint[] NOT NULL,
  realised_loss_cents     bigint[] NOT NULL,
  PRIMARY KEY (backtest_id, member_id, margin_class),
  CHECK (cardinality(dates) = observations AND cardinality(margin_cents) = observations AND
         cardinality(realised_loss_cents) = observations),
  CHECK ((refusal IS NULL) = (traffic_light IS NOT NULL))
);

CREATE INDEX member_backtest_by_member ON margin.member_backtest (member_id, backtest_id);

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['backtest', 'member_backtest'] LOOP
    EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON margin.%I FOR EACH ROW EXECUTE FUNCTION api.refuse_change()',
                   t || '_append_only', t);
    EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON margin.%I FOR EACH STATEMENT EXECUTE FUNCTION api.refuse_change()',
                   t || '_no_truncate', t);
  END LOOP;
END
$$;

GRANT SELECT, INSERT ON margin.backtest, margin.member_backtest TO cch_writer;
GRANT SELECT ON margin.backtest, margin.member_backtest TO cch_reporting, cch_auditor;
