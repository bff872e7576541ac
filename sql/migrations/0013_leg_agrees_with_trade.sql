-- A cleared leg agrees with its trade: the buy leg's member is the trade's buyer, the sell leg's
-- the seller, and product, delivery window, GPUs and price are the trade's; the trade is cleared.
-- One check per INSERT statement over all the legs it wrote (a transition table), in place of the
-- legs' own foreign keys to member and product: those were two of the twelve row-by-row
-- reference checks of every novated trade, about a quarter of PostgreSQL's time under a venue's
-- load (docs/performance.md, session 9), and they proved less. The trade's own foreign keys
-- still tie buyer, seller and product to their rows, so each leg's member and product exist
-- through the trade it must agree with; the leg's foreign key to its trade stays.
--
-- The check runs when the statement ends, after every part of it (novation writes the trade
-- rows and their legs in one statement), so it sees the trades as that statement left them.

ALTER TABLE cch.trade_leg
  DROP CONSTRAINT trade_leg_member_id_fkey,
  DROP CONSTRAINT trade_leg_product_id_fkey;

CREATE FUNCTION cch.trade_leg_agrees() RETURNS trigger LANGUAGE plpgsql AS $$
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
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'the % leg of trade % does not agree with a cleared trade', bad.side, bad.trade_id
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER trade_leg_agrees AFTER INSERT ON cch.trade_leg REFERENCING NEW TABLE AS new_legs
  FOR EACH STATEMENT EXECUTE FUNCTION cch.trade_leg_agrees();
