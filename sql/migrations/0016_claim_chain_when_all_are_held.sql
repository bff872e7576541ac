-- When every chain head is held by another poster, ledger.claim_chain waits for one chosen at
-- random. It chose with random() in the WHERE clause, which PostgreSQL may evaluate once per row:
-- each head was then compared with a different draw, sometimes none matched, the function
-- returned no chain, and the journals' insert failed on a NULL chain_id (a poster beyond the
-- number of chains got an error instead of waiting). The draw is now made once.

CREATE OR REPLACE FUNCTION ledger.claim_chain(OUT chain_id smallint, OUT link_sequence bigint, OUT link_sha256 bytea)
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, ledger AS $$
DECLARE
  wanted smallint;
BEGIN
  SELECT h.chain_id, h.link_sequence, h.link_sha256 INTO chain_id, link_sequence, link_sha256
    FROM ledger.chain_head h ORDER BY random() LIMIT 1 FOR UPDATE SKIP LOCKED;
  IF chain_id IS NULL THEN
    wanted := 1 + floor(random() * (SELECT count(*) FROM ledger.chain_head))::smallint;
    SELECT h.chain_id, h.link_sequence, h.link_sha256 INTO chain_id, link_sequence, link_sha256
      FROM ledger.chain_head h WHERE h.chain_id = wanted FOR UPDATE;
  END IF;
END $$;
