-- The auditors' window on the ledger: read-only views in schema ledger_audit, and read access to
-- the raw ledger rows that independent verification of the hash chains needs. Auditors see the
-- ledger and nothing else of cch.

CREATE SCHEMA ledger_audit;

CREATE VIEW ledger_audit.account AS
  SELECT a.account_id, a.owner_kind, a.member_id, m.code AS member_code, a.kind, a.currency,
         b.balance_minor, b.version AS posting_count, b.updated_at AS balance_updated_at, a.created_at
    FROM ledger.account a
    JOIN ledger.account_balance b USING (account_id)
    LEFT JOIN cch.member m USING (member_id);
COMMENT ON VIEW ledger_audit.account IS 'Every account with its owner and maintained balance (minor units).';

CREATE VIEW ledger_audit.journal AS
  SELECT j.journal_id, j.business_date, j.kind, j.cause_kind, j.cause_reference, j.request_id,
         j.reverses_journal_id, r.journal_id AS reversed_by_journal_id, j.memo, j.idempotency_key,
         encode(j.content_sha256, 'hex') AS content_sha256, j.chain_id, j.link_sequence, j.created_at,
         (SELECT count(*) FROM ledger.posting p WHERE p.journal_id = j.journal_id) AS posting_count
    FROM ledger.journal j
    LEFT JOIN ledger.journal r ON r.reverses_journal_id = j.journal_id;
COMMENT ON VIEW ledger_audit.journal IS 'Every journal with its cause, its reversal (if any) and its place in the hash chains.';

CREATE VIEW ledger_audit.account_statement AS
  SELECT p.account_id, p.journal_id, p.line_number, j.business_date, j.kind AS journal_kind,
         j.cause_kind, j.cause_reference, j.request_id, p.currency, p.amount_minor,
         sum(p.amount_minor) OVER (PARTITION BY p.account_id ORDER BY p.journal_id, p.line_number) AS balance_after_minor,
         j.created_at
    FROM ledger.posting p
    JOIN ledger.journal j USING (journal_id);
COMMENT ON VIEW ledger_audit.account_statement IS
  'Postings per account in journal order with the running balance; filter by account_id.';

CREATE VIEW ledger_audit.chain_link AS
  SELECT chain_id, link_sequence, encode(previous_sha256, 'hex') AS previous_sha256,
         encode(link_sha256, 'hex') AS link_sha256, journal_count, created_at
    FROM ledger.chain_link;

CREATE VIEW ledger_audit.trial_balance AS
  SELECT b.currency, a.kind AS account_kind, sum(b.balance_minor) AS balance_minor, count(*) AS account_count
    FROM ledger.account_balance b JOIN ledger.account a USING (account_id)
   GROUP BY b.currency, a.kind;
COMMENT ON VIEW ledger_audit.trial_balance IS 'Balances per currency and account kind now; each currency sums to zero.';

CREATE FUNCTION ledger_audit.trial_balance_as_of(as_of timestamptz)
  RETURNS TABLE (currency char(3), account_kind text, balance_minor numeric)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, ledger AS $$
    SELECT a.currency, a.kind, sum(p.amount_minor)
      FROM ledger.posting p
      JOIN ledger.journal j USING (journal_id)
      JOIN ledger.account a USING (account_id)
     WHERE j.created_at <= as_of
     GROUP BY a.currency, a.kind
$$;
COMMENT ON FUNCTION ledger_audit.trial_balance_as_of(timestamptz) IS
  'Balances per currency and account kind counting journals written at or before as_of.';

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA ledger_audit FROM PUBLIC;
GRANT USAGE ON SCHEMA ledger_audit TO cch_auditor, cch_reporting;
GRANT SELECT ON ALL TABLES IN SCHEMA ledger_audit TO cch_auditor, cch_reporting;
GRANT EXECUTE ON FUNCTION ledger_audit.trial_balance_as_of(timestamptz) TO cch_auditor, cch_reporting;
GRANT USAGE ON SCHEMA ledger TO cch_auditor;
GRANT SELECT ON ledger.journal, ledger.posting, ledger.chain_link, ledger.chain_head, ledger.account,
                ledger.account_balance, ledger.currency, ledger.account_kind, ledger.journal_kind TO cch_auditor;
GRANT SELECT ON cch.member TO cch_auditor;
