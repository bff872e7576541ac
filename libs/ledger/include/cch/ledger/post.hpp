#pragma once
// Posting journals: the only way value moves in cch.
//
// post_batch(tx, drafts) posts drafts inside the caller's transaction, so that a business state
// change, its journals and its outbox event commit together or not at all. It returns one
// result per draft, in order: refused drafts change nothing and say why; the others are posted
// as ONE link of one hash chain (docs/ledger.md). The whole batch costs a fixed number of round
// trips (four), whatever its size: batching is how throughput is won.
//
// Idempotency: a draft whose key was posted before with the same content returns the original
// journal with replayed = true; with other content it is refused (idempotency_key_reused).
// Drafts that share a key within one batch behave the same way. Concurrent posters of one key
// produce exactly one journal (the unique index decides; the loser sees a replay).
//
// Bounds: a draft with a posting beyond kAmountMinorMax is refused (amount_too_large), and so is
// one that would take an account's balance beyond kBalanceMinorMax (balance_limit_exceeded),
// each draft checked against the balances the drafts before it in the batch leave. The balances
// are those committed when prepare_batch read them; the database checks the bound again at
// commit (migration 0015), so concurrent posters that jointly cross it fail the later commit.
//
// The database enforces the invariants again on its own (sql/migrations/0003_ledger.sql); the
// checks here exist so that a bad draft is refused with a reason instead of failing the batch.
//
// Thread safety: a transaction belongs to one thread; concurrent calls on distinct
// transactions are safe (that is what the tests hammer).

#include "cch/db/pool.hpp"
#include "cch/db/transaction.hpp"
#include "cch/ledger/journal.hpp"

#include <pqxx/transaction_base>

#include <memory>
#include <span>
#include <vector>

namespace cch::ledger {

std::vector<PostResult> post_batch(pqxx::transaction_base& tx, std::span<const JournalDraft> drafts);

PostResult post(pqxx::transaction_base& tx, const JournalDraft& draft);

// post_batch in two steps, for a caller that posts while it holds locks (a novation holds its
// members' rows): prepare_batch does what needs nothing held (well-formedness, content hashes,
// the keys posted before, the accounts and the reversals checked), post_prepared the rest in
// two round trips (a chain claimed and the journals inserted; their postings and the link).
// post_prepared answers exactly what post_batch would have answered at prepare_batch's time,
// except for what changed in between, as post_batch handles it: a key a concurrent poster
// committed meanwhile answers as a replay or a refusal; a target reversed meanwhile fails the
// statement (the unique reversal, as for two concurrent post_batch calls). Both steps take the
// same top-level transaction; prepare_batch may run in a savepoint of it (db::Savepoint).
class PreparedBatch {
 public:
  PreparedBatch(PreparedBatch&&) noexcept;
  PreparedBatch& operator=(PreparedBatch&&) noexcept;
  ~PreparedBatch();
  struct State;

 private:
  explicit PreparedBatch(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
  friend PreparedBatch prepare_batch(pqxx::transaction_base& tx, std::span<const JournalDraft> drafts);
  friend std::vector<PostResult> post_prepared(pqxx::transaction_base& tx, PreparedBatch batch);
};

PreparedBatch prepare_batch(pqxx::transaction_base& tx, std::span<const JournalDraft> drafts);
std::vector<PostResult> post_prepared(pqxx::transaction_base& tx, PreparedBatch batch);

// Ids for `count` journals not yet posted, in one statement (JournalDraft::journal_id). An id
// drawn and never posted is a gap in the journal ids, as a rolled-back posting leaves; the order
// of journals is their chain links' (docs/ledger.md), never their ids'.
std::vector<JournalId> allocate_journal_ids(pqxx::transaction_base& tx, std::size_t count);

// Posts in transactions of its own (READ COMMITTED), retrying conflicts whole. If the commit
// outcome is unknown it posts the same drafts again: the idempotency keys turn what did commit
// into replays, so nothing posts twice. Gives up (rethrows) after policy.max_attempts.
std::vector<PostResult> post_batch(db::ConnectionPool& pool, const db::RetryPolicy& policy,
                                   std::span<const JournalDraft> drafts);

}  // namespace cch::ledger
