-- Database roles of cch (least privilege). Roles belong to the whole PostgreSQL cluster, so
-- each is created only if missing; the grants on each schema's objects live in the migration
-- that creates those objects.
--
--   cch_writer     the services: read, and insert into the ledger; never UPDATE or DELETE a
--                  journal or posting, never change the schema.
--   cch_auditor    read-only, through the views of schema ledger_audit only.
--   cch_reporting  read-only on every table and view of the ledger (reports, replicas).
--
-- The roles are NOLOGIN groups: a deployment creates login users and grants them a group
-- (deploy/local/run does this for its demo users).

DO $roles$
DECLARE
  role_name text;
BEGIN
  FOREACH role_name IN ARRAY ARRAY['cch_writer', 'cch_auditor', 'cch_reporting'] LOOP
    BEGIN
      EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL;  -- another database of this cluster created it first
    END;
  END LOOP;
END
$roles$;

GRANT USAGE ON SCHEMA cch TO cch_writer, cch_reporting;
GRANT SELECT, INSERT ON cch.service_start TO cch_writer;
GRANT SELECT ON cch.service_start TO cch_reporting, cch_auditor;
GRANT USAGE ON SCHEMA cch TO cch_auditor;

-- Every process checks at start-up that the schema it was built for is in place.
GRANT SELECT ON cch_schema_migrations TO cch_writer, cch_auditor, cch_reporting;
