-- A cleared trade records the clearing fee each side paid, and one clearing-fee journal carries
-- the fees of every trade novated together (an affirmation, a group of affirmations, a venue
-- batch): one debit per member of its fees in that novation, one credit to the clearinghouse's
-- fee income. Before, every trade had a journal of its own (three postings), and the ledger's
-- per-journal work was about 40 % of a venue batch's time under the members' locks.
--
-- What an auditor checks, per clearing-fee journal J: for each member, its posting in J equals
-- the sum of clearing_fee_minor over the trades with fee_journal_id = J where it is buyer or
-- seller; the fee income's posting is minus twice the sum over those trades. A cleared trade
-- with no fee (a product without one) has clearing_fee_minor = 0 and no journal.

ALTER TABLE cch.trade ADD COLUMN clearing_fee_minor bigint CHECK (clearing_fee_minor >= 0);

-- Trades cleared before this migration had a journal each; each side's fee is its posting there.
UPDATE cch.trade t
   SET clearing_fee_minor = COALESCE((SELECT max(p.amount_minor) FROM ledger.posting p
                                       WHERE p.journal_id = t.fee_journal_id), 0)
 WHERE t.state = 'cleared';

ALTER TABLE cch.trade ADD CONSTRAINT trade_cleared_has_fee
  CHECK ((state = 'cleared') = (clearing_fee_minor IS NOT NULL));
ALTER TABLE cch.trade ADD CONSTRAINT trade_fee_has_journal
  CHECK ((clearing_fee_minor > 0) = (fee_journal_id IS NOT NULL));

COMMENT ON COLUMN cch.trade.clearing_fee_minor IS
  'Clearing fee each side paid, in cents (product fee x GPU-hours, half away from zero); set exactly when cleared.';
COMMENT ON COLUMN cch.trade.fee_journal_id IS
  'The clearing-fee journal of the novation that cleared it, shared by the trades cleared together; NULL when the fee is zero.';

GRANT UPDATE (clearing_fee_minor) ON cch.trade TO cch_writer;

-- A venue batch writes its trades' rows before it takes the members' locks, and posts the fee
-- journal after its checks, under the locks (libs/registry src/clearing.hpp). Its trades name
-- the journal by an id drawn beforehand (ledger::allocate_journal_ids), so their reference to it
-- is checked at the commit, when the journal exists.
ALTER TABLE cch.trade ALTER CONSTRAINT trade_fee_journal_id_fkey DEFERRABLE INITIALLY DEFERRED;
GRANT USAGE ON SEQUENCE ledger.journal_journal_id_seq TO cch_writer;
