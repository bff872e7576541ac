-- Settlement's marks, a partition a run; each product's sums count the legs of both runs.
--
--   settlement.leg_mark            partitioned by run (RANGE on run_id, one partition a run,
--                                  settlement.leg_mark_<run_id>). A run's million marks go by COPY
--                                  into an empty table of their own, as cheaply on the hundredth
--                                  day as on the first: into one table holding every earlier run's
--                                  marks the same COPY took 1.2-1.6 times as long after four runs,
--                                  and longer as it grew. A run reads its own and its previous
--                                  run's partition only (every read names the run), and a day's
--                                  marks can later be archived by detaching its partition, never by
--                                  a DELETE. The run's first step makes its table
--                                  (settlement.add_leg_mark_partition), its marks step fills it and
--                                  attaches it (settlement.attach_leg_mark_partition).
--   settlement.member_product_vm   legs: the legs marked in the run (before, the legs of either
--                                  run); previous_legs: the legs the previous run marked. The sums
--                                  of the previous run are read from its own row of the same key,
--                                  so a run no longer reads its previous run's million marks. Its
--                                  foreign key to the run goes as its others did (0027): the rows
--                                  are written by the run's own step, in the transaction that
--                                  holds the run's row (which no one deletes), and 40,000 of them
--                                  were as many checks of the same key.
--
-- Every run's marks already stored move into their run's partition; each product's counts are
-- recomputed from them.

ALTER TABLE settlement.leg_mark RENAME TO leg_mark_unpartitioned;
ALTER INDEX settlement.leg_mark_pkey RENAME TO leg_mark_unpartitioned_pkey;

CREATE TABLE settlement.leg_mark (
  run_id     bigint NOT NULL,
  trade_id   bigint NOT NULL,
  side       text   NOT NULL CHECK (side IN ('buy', 'sell')),
  member_id  bigint NOT NULL,
  product_id bigint NOT NULL,
  kind       text   NOT NULL CHECK (kind IN ('forward', 'future')),
  pv_minor   bigint NOT NULL,
  PRIMARY KEY (run_id, trade_id, side)
) PARTITION BY RANGE (run_id);
-- Row triggers are cloned to every partition; the statement trigger guards the whole table.
CREATE TRIGGER leg_mark_append_only BEFORE UPDATE OR DELETE ON settlement.leg_mark
  FOR EACH ROW EXECUTE FUNCTION api.refuse_change();
CREATE TRIGGER leg_mark_no_truncate BEFORE TRUNCATE ON settlement.leg_mark
  FOR EACH STATEMENT EXECUTE FUNCTION api.refuse_change();
GRANT SELECT, INSERT ON settlement.leg_mark TO cch_writer;
GRANT SELECT ON settlement.leg_mark TO cch_reporting, cch_auditor;

-- A running run's marks table, made by its first step (in its transaction) and filled by its marks
-- step before it becomes the run's partition: the key's index is built once the million rows are
-- in (a sorted build: a COPY into a table without it, and the build, took 1.0-1.1 s against
-- 1.7-1.9 s into the same table with it), then the table is attached, which takes
-- settlement.leg_mark SHARE UPDATE EXCLUSIVE only, so reads and writes of other runs' marks go on
-- (CREATE TABLE ... PARTITION OF would lock it exclusively until the step commits). Its check
-- (run_id = the run) spares the attachment a scan. Both run as the schema's owner (cch_writer may
-- not create or alter tables); cch_writer may read and insert into the run's table, and reaches
-- the attached partitions through settlement.leg_mark like everyone else.
CREATE FUNCTION settlement.add_leg_mark_partition(p_run_id bigint) RETURNS void LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = pg_catalog, settlement AS $$
DECLARE
  partition_name text := 'leg_mark_' || p_run_id;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM settlement.run WHERE run_id = p_run_id AND state = 'running') THEN
    RAISE EXCEPTION 'settlement run % is not running: no table for its marks', p_run_id
      USING ERRCODE = 'check_violation';
  END IF;
  IF to_regclass('settlement.' || partition_name) IS NOT NULL THEN
    RETURN;
  END IF;
  EXECUTE format('CREATE TABLE settlement.%I (LIKE settlement.leg_mark INCLUDING DEFAULTS INCLUDING CONSTRAINTS, '
                 'CHECK (run_id = %s))', partition_name, p_run_id);
  EXECUTE format('GRANT SELECT, INSERT ON settlement.%I TO cch_writer', partition_name);
END $$;
REVOKE ALL ON FUNCTION settlement.add_leg_mark_partition(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION settlement.add_leg_mark_partition(bigint) TO cch_writer;

-- The run's marks written: their key built and the table attached as the run's partition (with
-- the append-only trigger it then takes from settlement.leg_mark, and one against TRUNCATE).
CREATE FUNCTION settlement.attach_leg_mark_partition(p_run_id bigint) RETURNS void LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = pg_catalog, settlement AS $$
DECLARE
  partition_name text := 'leg_mark_' || p_run_id;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM settlement.run WHERE run_id = p_run_id AND state = 'running') THEN
    RAISE EXCEPTION 'settlement run % is not running: its marks are not attached', p_run_id
      USING ERRCODE = 'check_violation';
  END IF;
  IF to_regclass('settlement.' || partition_name) IS NULL THEN
    RAISE EXCEPTION 'settlement run % has no table for its marks', p_run_id USING ERRCODE = 'check_violation';
  END IF;
  IF EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = ('settlement.' || partition_name)::regclass) THEN
    RAISE EXCEPTION 'the marks of settlement run % are attached already', p_run_id USING ERRCODE = 'check_violation';
  END IF;
  EXECUTE format('ALTER TABLE settlement.%I ADD PRIMARY KEY (run_id, trade_id, side)', partition_name);
  EXECUTE format('ALTER TABLE settlement.leg_mark ATTACH PARTITION settlement.%I FOR VALUES FROM (%s) TO (%s)',
                 partition_name, p_run_id, p_run_id + 1);
  EXECUTE format('CREATE TRIGGER leg_mark_no_truncate BEFORE TRUNCATE ON settlement.%I '
                 'FOR EACH STATEMENT EXECUTE FUNCTION api.refuse_change()', partition_name);
END $$;
REVOKE ALL ON FUNCTION settlement.attach_leg_mark_partition(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION settlement.attach_leg_mark_partition(bigint) TO cch_writer;

-- Every run so far gets its partition and its marks.
DO $$
DECLARE
  r record;
  partition_name text;
BEGIN
  FOR r IN SELECT run_id FROM settlement.run ORDER BY run_id LOOP
    partition_name := 'leg_mark_' || r.run_id;
    EXECUTE format('CREATE TABLE settlement.%I (LIKE settlement.leg_mark INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                   partition_name);
    EXECUTE format('ALTER TABLE settlement.leg_mark ATTACH PARTITION settlement.%I FOR VALUES FROM (%s) TO (%s)',
                   partition_name, r.run_id, r.run_id + 1);
    EXECUTE format('CREATE TRIGGER leg_mark_no_truncate BEFORE TRUNCATE ON settlement.%I '
                   'FOR EACH STATEMENT EXECUTE FUNCTION api.refuse_change()', partition_name);
  END LOOP;
END $$;
INSERT INTO settlement.leg_mark SELECT * FROM settlement.leg_mark_unpartitioned;
DROP TABLE settlement.leg_mark_unpartitioned;

-- The legs of each run's sums: those it marked and those its previous run marked.
ALTER TABLE settlement.member_product_vm DROP CONSTRAINT member_product_vm_run_id_fkey;
ALTER TABLE settlement.member_product_vm ADD COLUMN previous_legs bigint NOT NULL DEFAULT 0;
ALTER TABLE settlement.member_product_vm DROP CONSTRAINT member_product_vm_legs_check;
ALTER TABLE settlement.member_product_vm DISABLE TRIGGER member_product_vm_append_only;
UPDATE settlement.member_product_vm v
   SET legs = (SELECT count(*) FROM settlement.leg_mark m
                WHERE m.run_id = v.run_id AND m.member_id = v.member_id AND m.product_id = v.product_id
                  AND m.kind = v.kind),
       previous_legs = (SELECT count(*) FROM settlement.run r JOIN settlement.leg_mark m ON m.run_id = r.previous_run_id
                         WHERE r.run_id = v.run_id AND m.member_id = v.member_id AND m.product_id = v.product_id
                           AND m.kind = v.kind);
ALTER TABLE settlement.member_product_vm ENABLE TRIGGER member_product_vm_append_only;
ALTER TABLE settlement.member_product_vm ALTER COLUMN previous_legs DROP DEFAULT;
ALTER TABLE settlement.member_product_vm ADD CHECK (legs >= 0 AND previous_legs >= 0 AND legs + previous_legs > 0);
