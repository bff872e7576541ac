-- The ledger: double-entry, append-only, idempotent and tamper-evident.
--
-- journal          one balanced entry; names its cause; unique idempotency key
-- posting          one signed amount to one account (minor units of the account's currency)
-- account          a member's or the house's account of one kind and currency
-- account_balance  per account: the sum of its postings and a version, maintained by trigger
-- chain_head/link  hash chains over batches of journals (see docs/ledger.md)
--
-- What the database itself enforces (not only the C++ code):
--   * every journal has at least two postings and sums to zero per currency (checked at commit);
--   * postings are added only in the transaction that created their journal;
--   * amounts are non-zero; a posting's currency is its account's currency;
--   * journals, postings and chain links are never updated or deleted (triggers, and no
--     privilege for it); a correction is a reversing journal that negates the original exactly;
--   * every journal belongs to a chain link written in the same transaction, and links extend
--     their chain in order (sequence + 1, previous hash = the head's hash);
--   * account_balance equals the sum of postings in every committed state (only the trigger that
--     runs at commit may change it).

CREATE SCHEMA ledger;

-- Members: the owners of member accounts. Later issues add their lifecycle and limits.
CREATE TABLE cch.member (
  member_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  code        text        NOT NULL UNIQUE CHECK (code ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
  legal_name  text        NOT NULL CHECK (length(legal_name) BETWEEN 1 AND 200),
  status      text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'closed')),
  created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE ledger.currency (
  currency     char(3)  PRIMARY KEY CHECK (currency ~ '^[A-Z]{3}$'),
  minor_digits smallint NOT NULL CHECK (minor_digits BETWEEN 0 AND 4)
);
INSERT INTO ledger.currency VALUES ('USD', 2);

CREATE TABLE ledger.account_kind (
  kind        text PRIMARY KEY CHECK (kind ~ '^[a-z_]{1,40}$'),
  owner_kind  text NOT NULL CHECK (owner_kind IN ('member', 'house')),
  description text NOT NULL
);
INSERT INTO ledger.account_kind VALUES
  ('collateral',          'member', 'Cash collateral the member has deposited (owed back to the member).'),
  ('variation_margin',    'member', 'Variation margin settled with the member.'),
  ('fees',                'member', 'Clearing and other fees charged to the member.'),
  ('delivery_settlement', 'member', 'Payments for delivered compute and shortfall compensation.'),
  ('default_fund',        'member', 'The member''s contribution to the default fund.'),
  ('settlement_bank',     'house',  'Cash the clearinghouse holds at its settlement bank.'),
  ('fee_income',          'house',  'Fees the clearinghouse has earned.'),
  ('variation_margin_clearing', 'house', 'The clearinghouse side of variation margin (nets to zero across members).'),
  ('delivery_clearing',   'house',  'The clearinghouse side of delivery payments.'),
  ('default_fund_pool',   'house',  'The default fund as a whole.'),
  ('house_capital',       'house',  'The clearinghouse''s own capital committed to the waterfall.');

CREATE TABLE ledger.account (
  account_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  owner_kind  text        NOT NULL CHECK (owner_kind IN ('member', 'house')),
  member_id   bigint      REFERENCES cch.member (member_id),
  kind        text        NOT NULL REFERENCES ledger.account_kind (kind),
  currency    char(3)     NOT NULL REFERENCES ledger.currency (currency),
  created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  CHECK ((owner_kind = 'member') = (member_id IS NOT NULL)),
  UNIQUE (account_id, currency)
);
CREATE UNIQUE INDEX account_one_per_member_kind_currency ON ledger.account (member_id, kind, currency)
  WHERE owner_kind = 'member';
CREATE UNIQUE INDEX account_one_per_house_kind_currency ON ledger.account (kind, currency)
  WHERE owner_kind = 'house';

-- The owner kind of an account must match its kind's owner kind.
CREATE FUNCTION ledger.check_account_kind() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM ledger.account_kind k WHERE k.kind = NEW.kind AND k.owner_kind = NEW.owner_kind) THEN
    RAISE EXCEPTION 'account kind % is not for owner kind %', NEW.kind, NEW.owner_kind
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER account_kind_matches_owner BEFORE INSERT ON ledger.account
  FOR EACH ROW EXECUTE FUNCTION ledger.check_account_kind();

CREATE TABLE ledger.account_balance (
  account_id    bigint      PRIMARY KEY REFERENCES ledger.account (account_id),
  currency      char(3)     NOT NULL,
  balance_minor bigint      NOT NULL DEFAULT 0,
  version       bigint      NOT NULL DEFAULT 0 CHECK (version >= 0),
  updated_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Every account starts with a zero balance row.
CREATE FUNCTION ledger.open_balance() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = pg_catalog, ledger AS $$
BEGIN
  INSERT INTO ledger.account_balance (account_id, currency) VALUES (NEW.account_id, NEW.currency);
  RETURN NULL;
END $$;
CREATE TRIGGER account_opens_balance AFTER INSERT ON ledger.account
  FOR EACH ROW EXECUTE FUNCTION ledger.open_balance();

CREATE TABLE ledger.journal_kind (
  kind        text PRIMARY KEY CHECK (kind ~ '^[a-z_]{1,40}$'),
  description text NOT NULL
);
INSERT INTO ledger.journal_kind VALUES
  ('collateral_deposit',    'Cash collateral received from a member.'),
  ('collateral_withdrawal', 'Cash collateral returned to a member.'),
  ('clearing_fee',          'A clearing fee charged for a novated trade.'),
  ('variation_margin',      'Daily variation margin of a settlement run.'),
  ('delivery_settlement',   'Payment for delivered compute or shortfall compensation.'),
  ('default_fund_contribution', 'A member''s contribution to the default fund.'),
  ('reversal',              'The exact negation of an earlier journal, to correct it.'),
  ('adjustment',            'An operator''s correcting entry, with its reason in the cause.');

-- Hash chains. A batch of journals posted in one call becomes one link of one chain; a writer
-- takes whichever chain is free (FOR UPDATE SKIP LOCKED), so concurrent writers do not queue
-- on one row. Order within a chain is the link sequence; within a link, journal_id.
CREATE TABLE ledger.chain_head (
  chain_id      smallint PRIMARY KEY CHECK (chain_id BETWEEN 1 AND 64),
  link_sequence bigint   NOT NULL CHECK (link_sequence >= 0),
  link_sha256   bytea    NOT NULL CHECK (length(link_sha256) = 32)
);
INSERT INTO ledger.chain_head (chain_id, link_sequence, link_sha256)
  SELECT c, 0, sha256(convert_to('cch ledger chain ' || c, 'UTF8')) FROM generate_series(1, 8) AS c;

CREATE TABLE ledger.chain_link (
  chain_id        smallint    NOT NULL REFERENCES ledger.chain_head (chain_id),
  link_sequence   bigint      NOT NULL CHECK (link_sequence >= 1),
  previous_sha256 bytea       NOT NULL CHECK (length(previous_sha256) = 32),
  link_sha256     bytea       NOT NULL CHECK (length(link_sha256) = 32),
  journal_count   integer     NOT NULL CHECK (journal_count >= 1),
  created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (chain_id, link_sequence)
);

CREATE TABLE ledger.journal (
  journal_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  idempotency_key     text        NOT NULL UNIQUE CHECK (length(idempotency_key) BETWEEN 1 AND 200),
  business_date       date        NOT NULL,
  kind                text        NOT NULL REFERENCES ledger.journal_kind (kind),
  cause_kind          text        NOT NULL CHECK (cause_kind IN
                        ('trade', 'settlement_run', 'collateral_movement', 'api_request', 'journal', 'operator')),
  cause_reference     text        NOT NULL CHECK (length(cause_reference) BETWEEN 1 AND 200),
  request_id          text        CHECK (request_id ~ '^[A-Za-z0-9._-]{1,64}$'),
  reverses_journal_id bigint      UNIQUE REFERENCES ledger.journal (journal_id),
  memo                text        NOT NULL DEFAULT '' CHECK (length(memo) <= 500),
  content_sha256      bytea       NOT NULL CHECK (length(content_sha256) = 32),
  chain_id            smallint    NOT NULL,
  link_sequence       bigint      NOT NULL,
  created_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
  CHECK ((kind = 'reversal') = (reverses_journal_id IS NOT NULL)),
  CHECK ((kind = 'reversal') = (cause_kind = 'journal'))
);
CREATE INDEX journal_by_link ON ledger.journal (chain_id, link_sequence, journal_id);
CREATE INDEX journal_by_business_date ON ledger.journal (business_date, journal_id);
CREATE INDEX journal_by_created_at ON ledger.journal (created_at, journal_id);
CREATE INDEX journal_by_cause ON ledger.journal (cause_kind, cause_reference);

CREATE TABLE ledger.posting (
  journal_id   bigint   NOT NULL REFERENCES ledger.journal (journal_id),
  line_number  smallint NOT NULL CHECK (line_number BETWEEN 1 AND 1000),
  account_id   bigint   NOT NULL,
  currency     char(3)  NOT NULL,
  amount_minor bigint   NOT NULL CHECK (amount_minor <> 0),
  PRIMARY KEY (journal_id, line_number),
  FOREIGN KEY (account_id, currency) REFERENCES ledger.account (account_id, currency)
);
-- Serves account history pages: keyset on (journal_id, line_number) within one account.
CREATE INDEX posting_by_account ON ledger.posting (account_id, journal_id, line_number);

-- Append-only: no UPDATE, DELETE or TRUNCATE of the books, whoever asks.
CREATE FUNCTION ledger.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'ledger.% is append-only: % refused (post a reversing journal instead)', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER journal_append_only BEFORE UPDATE OR DELETE ON ledger.journal
  FOR EACH ROW EXECUTE FUNCTION ledger.refuse_change();
CREATE TRIGGER journal_no_truncate BEFORE TRUNCATE ON ledger.journal
  FOR EACH STATEMENT EXECUTE FUNCTION ledger.refuse_change();
CREATE TRIGGER posting_append_only BEFORE UPDATE OR DELETE ON ledger.posting
  FOR EACH ROW EXECUTE FUNCTION ledger.refuse_change();
CREATE TRIGGER posting_no_truncate BEFORE TRUNCATE ON ledger.posting
  FOR EACH STATEMENT EXECUTE FUNCTION ledger.refuse_change();
CREATE TRIGGER chain_link_append_only BEFORE UPDATE OR DELETE ON ledger.chain_link
  FOR EACH ROW EXECUTE FUNCTION ledger.refuse_change();
CREATE TRIGGER chain_link_no_truncate BEFORE TRUNCATE ON ledger.chain_link
  FOR EACH STATEMENT EXECUTE FUNCTION ledger.refuse_change();

-- Postings of a statement: only for journals created in this transaction.
CREATE FUNCTION ledger.check_posting_journals() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  foreign_journal bigint;
BEGIN
  SELECT j.journal_id INTO foreign_journal
    FROM (SELECT DISTINCT journal_id FROM new_postings) p
    JOIN ledger.journal j ON j.journal_id = p.journal_id
   WHERE j.xmin <> pg_current_xact_id()::xid
   LIMIT 1;
  IF foreign_journal IS NOT NULL THEN
    RAISE EXCEPTION 'journal % was committed earlier; its postings cannot change', foreign_journal
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER posting_only_in_its_journals_transaction AFTER INSERT ON ledger.posting
  REFERENCING NEW TABLE AS new_postings
  FOR EACH STATEMENT EXECUTE FUNCTION ledger.check_posting_journals();

-- At commit, each new link moves the balances of the accounts its journals post to by their
-- sum. Doing it at commit (a deferred trigger, queued after the journals' own checks) keeps the
-- row locks of hot accounts (the house's) for the shortest time: from here to the end of
-- COMMIT, not for the whole transaction. Balances are locked in account order, so concurrent
-- writers never deadlock on them. Every journal is in exactly one link (checked below), so
-- every posting moves its balance exactly once.
CREATE FUNCTION ledger.apply_link_postings() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = pg_catalog, ledger AS $$
BEGIN
  PERFORM 1 FROM ledger.account_balance b
   WHERE b.account_id IN (SELECT p.account_id
                            FROM ledger.journal j JOIN ledger.posting p ON p.journal_id = j.journal_id
                           WHERE j.chain_id = NEW.chain_id AND j.link_sequence = NEW.link_sequence)
   ORDER BY b.account_id
     FOR UPDATE;
  UPDATE ledger.account_balance b
     SET balance_minor = b.balance_minor + d.delta_minor,
         version = b.version + d.posting_count,
         updated_at = clock_timestamp()
    FROM (SELECT p.account_id, sum(p.amount_minor)::bigint AS delta_minor, count(*) AS posting_count
            FROM ledger.journal j JOIN ledger.posting p ON p.journal_id = j.journal_id
           WHERE j.chain_id = NEW.chain_id AND j.link_sequence = NEW.link_sequence
           GROUP BY p.account_id) d
   WHERE b.account_id = d.account_id;
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER chain_link_moves_balances_at_commit AFTER INSERT ON ledger.chain_link
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger.apply_link_postings();

-- At commit, for each new journal: at least two postings, zero sum per currency, a reversal
-- negates its original exactly, and the journal's chain link exists.
CREATE FUNCTION ledger.check_journal() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  posting_count bigint;
  unbalanced_currency char(3);
BEGIN
  -- One pass over the journal's postings: how many, and the first currency that does not sum to zero.
  SELECT coalesce(sum(t.line_count), 0), min(t.currency) FILTER (WHERE t.total <> 0)
    INTO posting_count, unbalanced_currency
    FROM (SELECT currency, count(*) AS line_count, sum(amount_minor) AS total
            FROM ledger.posting WHERE journal_id = NEW.journal_id GROUP BY currency) t;
  IF posting_count < 2 THEN
    RAISE EXCEPTION 'journal % has % posting(s); at least two are required', NEW.journal_id, posting_count
      USING ERRCODE = 'check_violation';
  END IF;
  IF unbalanced_currency IS NOT NULL THEN
    RAISE EXCEPTION 'journal % does not balance in %', NEW.journal_id, unbalanced_currency
      USING ERRCODE = 'check_violation';
  END IF;
  IF NEW.reverses_journal_id IS NOT NULL AND EXISTS (
       (SELECT account_id, currency, -amount_minor FROM ledger.posting WHERE journal_id = NEW.reverses_journal_id
        EXCEPT ALL
        SELECT account_id, currency, amount_minor FROM ledger.posting WHERE journal_id = NEW.journal_id)
       UNION ALL
       (SELECT account_id, currency, amount_minor FROM ledger.posting WHERE journal_id = NEW.journal_id
        EXCEPT ALL
        SELECT account_id, currency, -amount_minor FROM ledger.posting WHERE journal_id = NEW.reverses_journal_id)) THEN
    RAISE EXCEPTION 'journal % does not negate journal % exactly', NEW.journal_id, NEW.reverses_journal_id
      USING ERRCODE = 'check_violation';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM ledger.chain_link l
                  WHERE l.chain_id = NEW.chain_id AND l.link_sequence = NEW.link_sequence
                    AND l.xmin = pg_current_xact_id()::xid) THEN
    RAISE EXCEPTION 'journal % is not sealed in chain % link %', NEW.journal_id, NEW.chain_id, NEW.link_sequence
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER journal_balances_at_commit AFTER INSERT ON ledger.journal
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger.check_journal();

-- Claims a chain for the caller's transaction: a free one if any (SKIP LOCKED), else waits
-- for one. The row lock lasts until the transaction ends.
CREATE FUNCTION ledger.claim_chain(OUT chain_id smallint, OUT link_sequence bigint, OUT link_sha256 bytea)
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, ledger AS $$
BEGIN
  SELECT h.chain_id, h.link_sequence, h.link_sha256 INTO chain_id, link_sequence, link_sha256
    FROM ledger.chain_head h ORDER BY random() LIMIT 1 FOR UPDATE SKIP LOCKED;
  IF chain_id IS NULL THEN
    SELECT h.chain_id, h.link_sequence, h.link_sha256 INTO chain_id, link_sequence, link_sha256
      FROM ledger.chain_head h
     WHERE h.chain_id = 1 + floor(random() * (SELECT count(*) FROM ledger.chain_head))::smallint
       FOR UPDATE;
  END IF;
END $$;

-- A new link must extend its chain's head; the head then moves to it.
CREATE FUNCTION ledger.extend_chain() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = pg_catalog, ledger AS $$
DECLARE
  head ledger.chain_head%ROWTYPE;
BEGIN
  SELECT * INTO head FROM ledger.chain_head WHERE chain_id = NEW.chain_id FOR UPDATE;
  IF NEW.link_sequence <> head.link_sequence + 1 OR NEW.previous_sha256 <> head.link_sha256 THEN
    RAISE EXCEPTION 'chain % link % does not extend the head (sequence %)', NEW.chain_id, NEW.link_sequence,
      head.link_sequence USING ERRCODE = 'check_violation';
  END IF;
  UPDATE ledger.chain_head SET link_sequence = NEW.link_sequence, link_sha256 = NEW.link_sha256
   WHERE chain_id = NEW.chain_id;
  RETURN NEW;
END $$;
CREATE TRIGGER chain_link_extends_head BEFORE INSERT ON ledger.chain_link
  FOR EACH ROW EXECUTE FUNCTION ledger.extend_chain();

-- Privileges. The writer inserts into the books; balances and chain heads move only through
-- the SECURITY DEFINER functions above.
REVOKE ALL ON ALL TABLES IN SCHEMA ledger FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA ledger FROM PUBLIC;
GRANT USAGE ON SCHEMA ledger TO cch_writer, cch_reporting;
GRANT SELECT ON ALL TABLES IN SCHEMA ledger TO cch_writer, cch_reporting;
GRANT INSERT ON ledger.journal, ledger.posting, ledger.chain_link, ledger.account TO cch_writer;
GRANT EXECUTE ON FUNCTION ledger.claim_chain() TO cch_writer;
GRANT SELECT, INSERT ON cch.member TO cch_writer;
GRANT SELECT ON cch.member TO cch_reporting;
