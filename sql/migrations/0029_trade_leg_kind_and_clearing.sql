-- A leg carries its trade's kind and clearing instant (cch.trade_leg.future, .cleared_at).
--
-- The open legs are read whole by every settlement run, margin run and mark run (a million rows
-- in the benchmarks); what a leg needs of its trade beyond its own columns was whether the trade
-- is a future (a listed series) or a bilateral forward, and when it cleared (a run takes the trades
-- cleared before its cut-off). Joining a million legs to half a million trades for those two
-- columns doubled PostgreSQL's time to read them (1.5-1.7 s against 0.8-0.9 s). The leg is where
-- they are read, so it keeps them, written by novation with the leg and checked by the same
-- agreement as its other terms (cch.trade_leg_agrees): a leg's kind is its trade's and its
-- clearing instant the trade's decision.

ALTER TABLE cch.trade_leg ADD COLUMN future boolean, ADD COLUMN cleared_at timestamptz;
ALTER TABLE cch.trade_leg DISABLE TRIGGER trade_leg_append_only;
UPDATE cch.trade_leg l SET future = (t.series_label IS NOT NULL), cleared_at = t.decided_at
  FROM cch.trade t WHERE t.trade_id = l.trade_id;
ALTER TABLE cch.trade_leg ENABLE TRIGGER trade_leg_append_only;
ALTER TABLE cch.trade_leg ALTER COLUMN future SET NOT NULL, ALTER COLUMN cleared_at SET NOT NULL;

CREATE OR REPLACE FUNCTION cch.trade_leg_agrees() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  bad record;
BEGIN
  SELECT l.trade_id, l.side INTO bad
    FROM new_legs l LEFT JOIN cch.trade t ON t.trade_id = l.trade_id
   WHERE t.trade_id IS NULL
      OR t.state <> 'cleared'
      OR l.member_id <> CASE l.side WHEN 'buy' THEN t.buyer_member_id ELSE t.seller_member_id END
      OR l.product_id <> t.product_id
      OR l.delivery_start <> t.delivery_start
      OR l.delivery_end <> t.delivery_end
      OR l.gpus <> t.gpus
      OR l.price_ticks <> t.price_ticks
      OR l.future <> (t.series_label IS NOT NULL)
      OR l.cleared_at IS DISTINCT FROM t.decided_at
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'the % leg of trade % does not agree with a cleared trade', bad.side, bad.trade_id
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END
$$;
