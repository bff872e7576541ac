-- Fewer index entries and reference checks per novated trade (docs/performance.md, session 10).
--
-- 1. A leg is named by its trade and side. The surrogate leg_id was never read by anything; its
--    identity sequence and primary-key index cost a nextval and an index entry per leg. The
--    (trade_id, side) uniqueness becomes the primary key.
-- 2. The legs' foreign key to their trade goes: the agreement check (0013) already finds each
--    leg's trade and refuses a leg without one, once per statement, where the key cost a row-by-row
--    look-up with a row lock per leg. What the key also gave, that a trade with legs is never
--    removed, a trade now has for itself: trades are never deleted nor truncated (no role has
--    DELETE on cch.trade; this holds for a superuser too).
-- 3. A member's reference is unique among the trades that member submitted. A venue's trade has
--    no submitting member, and its reference is unique per venue (trade_venue_reference), so the
--    member index now holds only members' submissions, not a NULL entry for every venue trade.
-- 4. Stored answers to Idempotency-Keys (a venue batch's answer is tens of kilobytes) are
--    compressed with lz4, several times cheaper than the default pglz at a similar ratio.

ALTER TABLE cch.trade_leg DROP CONSTRAINT trade_leg_trade_id_fkey;
ALTER TABLE cch.trade_leg DROP COLUMN leg_id;
ALTER TABLE cch.trade_leg DROP CONSTRAINT trade_leg_trade_id_side_key,
  ADD CONSTRAINT trade_leg_pkey PRIMARY KEY (trade_id, side);

CREATE FUNCTION cch.refuse_removal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'rows of % are never removed', TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER trade_no_delete BEFORE DELETE ON cch.trade
  FOR EACH ROW EXECUTE FUNCTION cch.refuse_removal();
CREATE TRIGGER trade_no_truncate BEFORE TRUNCATE ON cch.trade
  FOR EACH STATEMENT EXECUTE FUNCTION cch.refuse_removal();

ALTER TABLE cch.trade DROP CONSTRAINT trade_submitter_member_id_submitter_reference_key;
CREATE UNIQUE INDEX trade_member_reference ON cch.trade (submitter_member_id, submitter_reference)
  WHERE submitter_member_id IS NOT NULL;

ALTER TABLE api.idempotency ALTER COLUMN response_body SET COMPRESSION lz4;
