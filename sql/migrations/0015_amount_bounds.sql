-- The largest amount of money: no posting, balance, withdrawal or credit limit beyond 10^15
-- minor units in magnitude (10,000,000,000,000.00 USD; cch::kAmountMinorMax in
-- libs/core money.hpp, docs/ledger.md).
--
-- libs/ledger refuses a draft that would cross the bound (amount_too_large,
-- balance_limit_exceeded) and the services refuse larger inputs with a reason; these checks are
-- the database's own, for any client and for what concurrent posters add up to between the
-- ledger's look-up and the commit. Before them, a deposit of 92233720368547758.07 USD reached
-- the commit and failed there with "bigint out of range" while moving the balances: an
-- overflow, answered 500. With every posting and balance within 10^15, int64 holds the sum of
-- 9,223 balances, so sums over accounts (the house's settlement bank gathering every member's
-- collateral, a trial balance) stay far inside it.
--
-- A database whose books already hold a posting or balance beyond the bound fails this migration
-- on the constraint named in the error: correct those rows (out of band) before migrating.

ALTER TABLE ledger.posting ADD CONSTRAINT posting_amount_within_bound
  CHECK (amount_minor BETWEEN -1000000000000000 AND 1000000000000000);
ALTER TABLE ledger.account_balance ADD CONSTRAINT account_balance_within_bound
  CHECK (balance_minor BETWEEN -1000000000000000 AND 1000000000000000);
ALTER TABLE cch.collateral_withdrawal ADD CONSTRAINT collateral_withdrawal_amount_within_bound
  CHECK (amount_minor <= 1000000000000000);
ALTER TABLE cch.member_limit ADD CONSTRAINT member_limit_credit_limit_within_bound
  CHECK (credit_limit_minor <= 1000000000000000);

-- The refusal of a balance beyond the bound, raised from the balance update below (a function,
-- so that the update's CASE calls it only for the offending row). Returns nothing.
CREATE FUNCTION ledger.refuse_balance_beyond_bound(account_id bigint, balance_minor numeric) RETURNS bigint
  LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RAISE EXCEPTION 'the balance of account % would be % minor units, beyond the largest balance (10^15)',
    account_id, balance_minor
    USING ERRCODE = 'check_violation', TABLE = 'account_balance', CONSTRAINT = 'account_balance_within_bound';
END $$;
REVOKE ALL ON FUNCTION ledger.refuse_balance_beyond_bound(bigint, numeric) FROM PUBLIC;

-- As in 0003, with the sums in numeric: a link's postings to one account are added up and
-- checked against the bound before the balance is written, so a sum never overflows bigint and
-- a balance beyond the bound is refused as such (check_violation), whatever the amounts.
CREATE OR REPLACE FUNCTION ledger.apply_link_postings() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = pg_catalog, ledger AS $$
BEGIN
  PERFORM 1 FROM ledger.account_balance b
   WHERE b.account_id IN (SELECT p.account_id
                            FROM ledger.journal j JOIN ledger.posting p ON p.journal_id = j.journal_id
                           WHERE j.chain_id = NEW.chain_id AND j.link_sequence = NEW.link_sequence)
   ORDER BY b.account_id
     FOR UPDATE;
  UPDATE ledger.account_balance b
     SET balance_minor = CASE WHEN b.balance_minor + d.delta_minor BETWEEN -1000000000000000 AND 1000000000000000
                              THEN (b.balance_minor + d.delta_minor)::bigint
                              ELSE ledger.refuse_balance_beyond_bound(b.account_id, b.balance_minor + d.delta_minor) END,
         version = b.version + d.posting_count,
         updated_at = clock_timestamp()
    FROM (SELECT p.account_id, sum(p.amount_minor) AS delta_minor, count(*) AS posting_count
            FROM ledger.journal j JOIN ledger.posting p ON p.journal_id = j.journal_id
           WHERE j.chain_id = NEW.chain_id AND j.link_sequence = NEW.link_sequence
           GROUP BY p.account_id) d
   WHERE b.account_id = d.account_id;
  RETURN NULL;
END $$;
