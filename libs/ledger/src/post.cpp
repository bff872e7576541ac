#include "cch/ledger/post.hpp"

#include "cch/db/array.hpp"
#include "cch/db/prepared.hpp"
#include "cch/ledger/canonical.hpp"
#include "cch/ledger/hex.hpp"

#include <pqxx/result>

#include <algorithm>
#include <cassert>
#include <map>
#include <memory>
#include <unordered_map>

namespace cch::ledger {
namespace {

struct Candidate {
  std::size_t index = 0;  // into drafts
  StoredJournal stored;
  Sha256Digest hash{};
  std::optional<JournalId> journal_id;  // drawn beforehand by the caller
};

struct ExistingJournal {
  std::int64_t journal_id = 0;
  Sha256Digest hash{};
};

// Journals already in the ledger under these keys.
std::unordered_map<std::string, ExistingJournal> find_existing(pqxx::transaction_base& tx,
                                                               const std::vector<std::string>& keys) {
  std::unordered_map<std::string, ExistingJournal> found;
  if (keys.empty()) {
    return found;
  }
  const auto rows = db::exec_cached(tx,
      "SELECT idempotency_key, journal_id, encode(content_sha256, 'hex') FROM ledger.journal "
      "WHERE idempotency_key = ANY($1::text[])",
      db::text_array(keys));
  for (const auto& row : rows) {
    found.emplace(row[0].as<std::string>(), ExistingJournal{row[1].as<std::int64_t>(), digest_from_hex(row[2].as<std::string>())});
  }
  return found;
}

PostResult replay_or_refuse(const ExistingJournal& existing, const Sha256Digest& hash) {
  if (existing.hash == hash) {
    return Posted{JournalId(existing.journal_id), true};
  }
  return fail(PostRefusal::idempotency_key_reused);
}

// What the checks need of an account a candidate posts to: its currency and its balance now.
struct AccountState {
  std::string currency;
  std::int64_t balance_minor = 0;
};
using AccountStates = std::unordered_map<std::int64_t, AccountState>;

AccountStates load_accounts(pqxx::transaction_base& tx, const std::vector<Candidate>& candidates) {
  std::vector<std::int64_t> ids;
  for (const Candidate& candidate : candidates) {
    for (const StoredPosting& posting : candidate.stored.postings) {
      ids.push_back(posting.account_id);
    }
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  AccountStates accounts;
  if (!ids.empty()) {
    for (const auto& row : db::exec_cached(tx,
             "SELECT a.account_id, a.currency, b.balance_minor FROM ledger.account a "
             "JOIN ledger.account_balance b USING (account_id) WHERE a.account_id = ANY($1::bigint[])",
             db::integer_array(ids))) {
      accounts.emplace(row[0].as<std::int64_t>(), AccountState{row[1].as<std::string>(), row[2].as<std::int64_t>()});
    }
  }
  return accounts;
}

// Refuses candidates whose accounts are unknown or of another currency.
void check_accounts(const AccountStates& accounts, std::vector<Candidate>& candidates,
                    std::vector<std::optional<PostResult>>& results) {
  std::erase_if(candidates, [&](const Candidate& candidate) {
    for (const StoredPosting& posting : candidate.stored.postings) {
      const auto it = accounts.find(posting.account_id);
      if (it == accounts.end()) {
        results[candidate.index] = fail(PostRefusal::unknown_account);
        return true;
      }
      if (it->second.currency != posting.currency) {
        results[candidate.index] = fail(PostRefusal::currency_mismatch);
        return true;
      }
    }
    return false;
  });
}

// Refuses candidates that would take an account's balance beyond kBalanceMinorMax, in batch
// order: each is checked against the balances the candidates before it leave. The balances are
// those committed when they were read; the database checks the bound again at commit
// (migration 0015), for what concurrent posters add meanwhile.
void check_balances(AccountStates& accounts, std::vector<Candidate>& candidates,
                    std::vector<std::optional<PostResult>>& results) {
  std::erase_if(candidates, [&](const Candidate& candidate) {
    std::map<std::int64_t, Int128> after;  // account -> balance after this candidate
    for (const StoredPosting& posting : candidate.stored.postings) {
      const auto [it, first] = after.try_emplace(posting.account_id, accounts.at(posting.account_id).balance_minor);
      it->second += posting.amount_minor;
    }
    for (const auto& [account, balance] : after) {
      if (balance > kBalanceMinorMax || balance < -kBalanceMinorMax) {
        results[candidate.index] = fail(PostRefusal::balance_limit_exceeded);
        return true;
      }
    }
    for (const auto& [account, balance] : after) {
      accounts.at(account).balance_minor = static_cast<std::int64_t>(balance);
    }
    return false;
  });
}

// Refuses reversals whose target is missing, already reversed, or not negated exactly.
void check_reversals(pqxx::transaction_base& tx, std::vector<Candidate>& candidates,
                     std::vector<std::optional<PostResult>>& results) {
  std::vector<std::int64_t> targets;
  for (const Candidate& candidate : candidates) {
    if (candidate.stored.reverses_journal_id) {
      targets.push_back(*candidate.stored.reverses_journal_id);
    }
  }
  if (targets.empty()) {
    return;
  }
  const std::string target_array = db::integer_array(targets);
  std::map<std::int64_t, bool> reversed;  // target -> already reversed
  for (const auto& row : db::exec_cached(tx,
           "SELECT j.journal_id, EXISTS (SELECT 1 FROM ledger.journal r WHERE r.reverses_journal_id = j.journal_id) "
           "FROM ledger.journal j WHERE j.journal_id = ANY($1::bigint[])",
           target_array)) {
    reversed.emplace(row[0].as<std::int64_t>(), row[1].as<bool>());
  }
  using Line = std::tuple<std::int64_t, std::string, std::int64_t>;  // account, currency, amount
  std::map<std::int64_t, std::vector<Line>> negated;                 // target -> its postings negated
  for (const auto& row : db::exec_cached(tx,
           "SELECT journal_id, account_id, currency, amount_minor FROM ledger.posting WHERE journal_id = ANY($1::bigint[])",
           target_array)) {
    negated[row[0].as<std::int64_t>()].emplace_back(row[1].as<std::int64_t>(), row[2].as<std::string>(),
                                                    -row[3].as<std::int64_t>());
  }
  std::erase_if(candidates, [&](const Candidate& candidate) {
    if (!candidate.stored.reverses_journal_id) {
      return false;
    }
    const std::int64_t target = *candidate.stored.reverses_journal_id;
    const auto state = reversed.find(target);
    if (state == reversed.end()) {
      results[candidate.index] = fail(PostRefusal::reversal_target_missing);
      return true;
    }
    if (state->second) {
      results[candidate.index] = fail(PostRefusal::already_reversed);
      return true;
    }
    std::vector<Line> lines;
    for (const StoredPosting& posting : candidate.stored.postings) {
      lines.emplace_back(posting.account_id, posting.currency, posting.amount_minor);
    }
    std::vector<Line> expected = negated[target];
    std::sort(lines.begin(), lines.end());
    std::sort(expected.begin(), expected.end());
    if (lines != expected) {
      results[candidate.index] = fail(PostRefusal::reversal_not_exact);
      return true;
    }
    state->second = true;  // a second reversal of the same target in this batch is refused
    return false;
  });
}

// The chain a batch extends, claimed by the statement that inserts its journals.
struct Chain {
  int chain_id = 0;
  std::int64_t link_sequence = 0;  // of the head before this batch's link
  Sha256Digest head{};
};

struct Inserted {
  std::size_t candidate = 0;
  std::int64_t journal_id = 0;
  std::int64_t created_at_unix_microseconds = 0;
};

// Claims a chain (ledger.claim_chain: one head no other poster holds, if any) and inserts the
// journals as its next link, in one statement. A key a concurrent poster committed since the
// look-up inserts nothing (ON CONFLICT); when nothing is inserted the chain is not needed.
struct InsertedJournals {
  std::vector<Inserted> journals;
  Chain chain;  // set when journals is not empty
};

InsertedJournals insert_journals(pqxx::transaction_base& tx, const std::vector<Candidate>& candidates) {
  std::vector<std::string> keys, dates, kinds, cause_kinds, cause_references, memos, hashes;
  std::vector<std::optional<std::string>> request_ids, reverses, ids;
  for (const Candidate& candidate : candidates) {
    ids.push_back(candidate.journal_id ? std::optional(candidate.journal_id->to_string()) : std::nullopt);
    const StoredJournal& journal = candidate.stored;
    keys.push_back(journal.idempotency_key);
    dates.push_back(journal.business_date);
    kinds.push_back(journal.kind);
    cause_kinds.push_back(journal.cause_kind);
    cause_references.push_back(journal.cause_reference);
    memos.push_back(journal.memo);
    hashes.push_back(to_hex(candidate.hash));
    request_ids.push_back(journal.request_id);
    reverses.push_back(journal.reverses_journal_id ? std::optional(std::to_string(*journal.reverses_journal_id))
                                                   : std::nullopt);
  }
  const auto rows = db::exec_cached(tx,
      "WITH chain AS MATERIALIZED (SELECT chain_id, link_sequence, link_sha256 FROM ledger.claim_chain()), "
      "inserted AS ("
      "  INSERT INTO ledger.journal (journal_id, idempotency_key, business_date, kind, cause_kind, cause_reference, "
      "    request_id, reverses_journal_id, memo, content_sha256, chain_id, link_sequence) OVERRIDING SYSTEM VALUE "
      "  SELECT COALESCE(id, nextval('ledger.journal_journal_id_seq')), k, d::date, kind, ck, "
      "    cr, rid, rev, memo, decode(h, 'hex'), chain.chain_id, chain.link_sequence + 1 "
      "  FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], "
      "              $8::text[], $9::text[], $10::bigint[]) AS t(k, d, kind, ck, cr, rid, rev, memo, h, id), chain "
      "  ON CONFLICT (idempotency_key) DO NOTHING "
      "  RETURNING idempotency_key, journal_id, (extract(epoch FROM created_at) * 1000000)::bigint) "
      "SELECT i.*, c.chain_id, c.link_sequence, encode(c.link_sha256, 'hex') FROM inserted i, chain c",
      db::text_array(keys), db::text_array(dates), db::text_array(kinds), db::text_array(cause_kinds),
      db::text_array(cause_references), db::nullable_text_array(request_ids), db::nullable_text_array(reverses),
      db::text_array(memos), db::text_array(hashes), db::nullable_text_array(ids));
  std::unordered_map<std::string, std::size_t> by_key;
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    by_key.emplace(candidates[i].stored.idempotency_key, i);
  }
  InsertedJournals inserted;
  inserted.journals.reserve(rows.size());
  for (const auto& row : rows) {
    inserted.journals.push_back(
        {by_key.at(row[0].as<std::string>()), row[1].as<std::int64_t>(), row[2].as<std::int64_t>()});
    inserted.chain = Chain{row[3].as<int>(), row[4].as<std::int64_t>(), digest_from_hex(row[5].as<std::string>())};
  }
  return inserted;
}

// The inserted journals' postings and the chain link that names them, in one statement.
void insert_postings_and_link(pqxx::transaction_base& tx, const std::vector<Candidate>& candidates,
                              InsertedJournals inserted) {
  std::vector<std::int64_t> journal_ids, line_numbers, account_ids, amounts;
  std::vector<std::string> currencies;
  for (const Inserted& journal : inserted.journals) {
    for (const StoredPosting& posting : candidates[journal.candidate].stored.postings) {
      journal_ids.push_back(journal.journal_id);
      line_numbers.push_back(posting.line_number);
      account_ids.push_back(posting.account_id);
      currencies.push_back(posting.currency);
      amounts.push_back(posting.amount_minor);
    }
  }
  std::sort(inserted.journals.begin(), inserted.journals.end(),
            [](const Inserted& a, const Inserted& b) { return a.journal_id < b.journal_id; });
  std::vector<LinkJournal> journals;
  journals.reserve(inserted.journals.size());
  for (const Inserted& journal : inserted.journals) {
    const Candidate& candidate = candidates[journal.candidate];
    journals.push_back({journal.journal_id, journal.created_at_unix_microseconds, candidate.stored.request_id,
                        candidate.hash});
  }
  const Chain& chain = inserted.chain;
  const std::int64_t sequence = chain.link_sequence + 1;
  const Sha256Digest hash = link_hash(chain.chain_id, sequence, chain.head, journals);
  db::exec_cached(tx,
      "WITH postings AS ("
      "  INSERT INTO ledger.posting (journal_id, line_number, account_id, currency, amount_minor) "
      "  SELECT * FROM unnest($1::bigint[], $2::smallint[], $3::bigint[], $4::text[], $5::bigint[])) "
      "INSERT INTO ledger.chain_link (chain_id, link_sequence, previous_sha256, link_sha256, journal_count) "
      "VALUES ($6, $7, decode($8, 'hex'), decode($9, 'hex'), $10)",
      db::integer_array(journal_ids), db::integer_array(line_numbers), db::integer_array(account_ids),
      db::text_array(currencies), db::integer_array(amounts), chain.chain_id, sequence, to_hex(chain.head),
      to_hex(hash), static_cast<std::int64_t>(journals.size()));
}

}  // namespace

struct PreparedBatch::State {
  std::vector<std::optional<PostResult>> results;               // one per draft; empty: to post
  std::vector<Candidate> candidates;                            // to post, first use of each key
  std::vector<std::pair<std::size_t, std::size_t>> aliases;     // (draft index, draft index of its key's first use)
};

PreparedBatch::PreparedBatch(std::unique_ptr<State> state) : state_(std::move(state)) {}
PreparedBatch::PreparedBatch(PreparedBatch&&) noexcept = default;
PreparedBatch& PreparedBatch::operator=(PreparedBatch&&) noexcept = default;
PreparedBatch::~PreparedBatch() = default;

PreparedBatch prepare_batch(pqxx::transaction_base& tx, std::span<const JournalDraft> drafts) {
  auto state = std::make_unique<PreparedBatch::State>();
  auto& results = state->results;
  auto& candidates = state->candidates;
  results.resize(drafts.size());
  if (drafts.size() > kJournalsPerBatchMax) {
    std::ranges::fill(results, fail(PostRefusal::batch_too_large));
    return PreparedBatch(std::move(state));
  }

  // Well-formedness, then duplicates within the batch (first occurrence wins).
  std::unordered_map<std::string, std::size_t> first_with_key;  // key -> candidate position
  for (std::size_t i = 0; i < drafts.size(); ++i) {
    if (const auto refusal = check_draft(drafts[i])) {
      results[i] = fail(*refusal);
      continue;
    }
    Candidate candidate{i, to_stored(drafts[i]), {}, drafts[i].journal_id};
    candidate.hash = content_hash(candidate.stored);
    const auto [it, is_first] = first_with_key.emplace(drafts[i].idempotency_key, candidates.size());
    if (!is_first) {
      if (candidates[it->second].hash == candidate.hash) {
        state->aliases.emplace_back(i, candidates[it->second].index);
      } else {
        results[i] = fail(PostRefusal::idempotency_key_reused);
      }
      continue;
    }
    candidates.push_back(std::move(candidate));
  }

  // Keys posted before: replays or refusals.
  std::vector<std::string> keys;
  for (const Candidate& candidate : candidates) {
    keys.push_back(candidate.stored.idempotency_key);
  }
  const auto existing = find_existing(tx, keys);
  std::erase_if(candidates, [&](const Candidate& candidate) {
    const auto it = existing.find(candidate.stored.idempotency_key);
    if (it == existing.end()) {
      return false;
    }
    results[candidate.index] = replay_or_refuse(it->second, candidate.hash);
    return true;
  });

  AccountStates accounts = load_accounts(tx, candidates);
  check_accounts(accounts, candidates, results);
  check_reversals(tx, candidates, results);
  check_balances(accounts, candidates, results);
  return PreparedBatch(std::move(state));
}

std::vector<PostResult> post_prepared(pqxx::transaction_base& tx, PreparedBatch batch) {
  assert(batch.state_ && "a batch is posted once");
  auto& results = batch.state_->results;
  const auto& candidates = batch.state_->candidates;
  if (!candidates.empty()) {
    InsertedJournals inserted = insert_journals(tx, candidates);
    // Keys that a concurrent poster committed since the look-up.
    if (inserted.journals.size() != candidates.size()) {
      std::vector<bool> was_inserted(candidates.size(), false);
      for (const Inserted& journal : inserted.journals) {
        was_inserted[journal.candidate] = true;
      }
      std::vector<std::string> raced;
      for (std::size_t c = 0; c < candidates.size(); ++c) {
        if (!was_inserted[c]) {
          raced.push_back(candidates[c].stored.idempotency_key);
        }
      }
      const auto winners = find_existing(tx, raced);
      for (std::size_t c = 0; c < candidates.size(); ++c) {
        if (!was_inserted[c]) {
          results[candidates[c].index] = replay_or_refuse(winners.at(candidates[c].stored.idempotency_key), candidates[c].hash);
        }
      }
    }
    for (const Inserted& journal : inserted.journals) {
      results[candidates[journal.candidate].index] = Posted{JournalId(journal.journal_id), false};
    }
    if (!inserted.journals.empty()) {
      insert_postings_and_link(tx, candidates, std::move(inserted));
    }
  }

  for (const auto& [index, original] : batch.state_->aliases) {
    const PostResult& first = *results[original];
    results[index] = first ? PostResult(Posted{first->journal_id, true}) : PostResult(fail(first.error()));
  }
  std::vector<PostResult> out;
  out.reserve(results.size());
  for (auto& result : results) {
    out.push_back(std::move(*result));
  }
  batch.state_.reset();
  return out;
}

std::vector<PostResult> post_batch(pqxx::transaction_base& tx, std::span<const JournalDraft> drafts) {
  return post_prepared(tx, prepare_batch(tx, drafts));
}

std::vector<JournalId> allocate_journal_ids(pqxx::transaction_base& tx, std::size_t count) {
  std::vector<JournalId> ids;
  ids.reserve(count);
  if (count == 0) return ids;
  // The sequence by its name, resolved once at parse time (not per id, as pg_get_serial_sequence is).
  for (const auto& row : db::exec_cached(tx,
           "SELECT nextval('ledger.journal_journal_id_seq') FROM generate_series(1, $1)",
           static_cast<std::int64_t>(count))) {
    ids.emplace_back(row[0].as<std::int64_t>());
  }
  return ids;
}

PostResult post(pqxx::transaction_base& tx, const JournalDraft& draft) {
  return std::move(post_batch(tx, std::span(&draft, 1)).front());
}

std::vector<PostResult> post_batch(db::ConnectionPool& pool, const db::RetryPolicy& policy,
                                   std::span<const JournalDraft> drafts) {
  for (int attempt = 1;; ++attempt) {
    try {
      return db::run_transaction(pool, db::Isolation::read_committed, policy,
                                 [&](pqxx::transaction_base& tx) { return post_batch(tx, drafts); });
    } catch (const db::CommitOutcomeUnknown&) {
      if (attempt >= policy.max_attempts) {
        throw;
      }
      // Posting the same drafts again is safe: what committed comes back as replays.
    }
  }
}

}  // namespace cch::ledger
