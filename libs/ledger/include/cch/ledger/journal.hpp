#pragma once
// The words of the ledger as C++ values: account kinds, journal kinds, causes, a journal to be
// posted (JournalDraft) and why a draft is refused (PostRefusal).
//
// The kinds mirror the reference tables ledger.account_kind and ledger.journal_kind of
// sql/migrations/0003_ledger.sql; a test checks that both lists agree.
//
// Thread safety: plain values.

#include "cch/core/ids.hpp"
#include "cch/core/money.hpp"
#include "cch/core/result.hpp"
#include "cch/core/time.hpp"

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cch::ledger {

enum class AccountKind {
  // member accounts
  collateral,
  variation_margin,
  fees,
  delivery_settlement,
  default_fund,
  // house accounts
  settlement_bank,
  fee_income,
  variation_margin_clearing,
  delivery_clearing,
  default_fund_pool,
  house_capital,
};
std::span<const AccountKind> all_account_kinds();
std::string_view to_string(AccountKind kind);
std::optional<AccountKind> parse_account_kind(std::string_view text);
bool is_member_kind(AccountKind kind);

enum class JournalKind {
  collateral_deposit,
  collateral_withdrawal,
  clearing_fee,
  variation_margin,
  delivery_settlement,
  default_fund_contribution,
  reversal,
  adjustment,
};
std::span<const JournalKind> all_journal_kinds();
std::string_view to_string(JournalKind kind);
std::optional<JournalKind> parse_journal_kind(std::string_view text);

// What caused a journal: a trade, a settlement run, a collateral movement, an API request, the
// journal a reversal corrects, or an operator's decision. `reference` names the instance (a
// trade id, a run id, a request id, a ticket).
enum class CauseKind { trade, settlement_run, collateral_movement, api_request, journal, operator_action };
std::string_view to_string(CauseKind kind);
std::optional<CauseKind> parse_cause_kind(std::string_view text);

struct Cause {
  CauseKind kind = CauseKind::api_request;
  std::string reference;
  friend bool operator==(const Cause&, const Cause&) = default;
};

struct PostingLine {
  AccountId account;
  Money amount;  // signed: positive debits the account, negative credits it
  friend bool operator==(const PostingLine&, const PostingLine&) = default;
};

// A journal to post. Its idempotency key makes posting it again harmless: the same key with the
// same content returns the original journal; the same key with other content is refused.
struct JournalDraft {
  std::string idempotency_key;  // 1..200 characters
  BusinessDate business_date = BusinessDate::from_days_since_epoch(0).value();
  JournalKind kind = JournalKind::adjustment;
  Cause cause;
  std::optional<RequestId> request_id;  // the API request that caused it, if any
  std::optional<JournalId> reverses;    // set exactly when kind is reversal
  std::string memo;                     // at most 500 characters
  std::vector<PostingLine> postings;    // 2..kPostingsPerJournalMax lines
  // Unset: the ledger draws the journal's id. Set: an id drawn beforehand with
  // allocate_journal_ids (post.hpp), so that rows written before the journal is posted may name
  // it (their foreign key to it deferred to the commit). Not part of the content: a replay of the
  // key answers with the id it was first posted under.
  std::optional<JournalId> journal_id;
};

inline constexpr std::size_t kPostingsPerJournalMax = 1000;
// The largest posting and the largest balance, in minor units of the account's currency: every
// posting is at most kAmountMinorMax in magnitude (amount_too_large) and no posting may take an
// account's balance beyond it (balance_limit_exceeded), so sums of balances (a house account
// gathering many members' money, a trial balance) stay far inside int64 (money.hpp). The
// database holds the same bound (migration 0015).
inline constexpr std::int64_t kBalanceMinorMax = kAmountMinorMax;
inline constexpr std::size_t kJournalsPerBatchMax = 10000;
inline constexpr std::size_t kIdempotencyKeyLengthMax = 200;
inline constexpr std::size_t kCauseReferenceLengthMax = 200;
inline constexpr std::size_t kMemoLengthMax = 500;

// Why a draft was not posted, in the order the checks run. Each maps to a stable reason code.
enum class PostRefusal {
  invalid_idempotency_key,   // empty or longer than 200 characters
  invalid_cause_reference,   // empty or longer than 200 characters
  memo_too_long,
  too_few_postings,          // fewer than two
  too_many_postings,         // more than kPostingsPerJournalMax
  zero_amount,               // a posting of zero
  amount_too_large,          // a posting beyond kAmountMinorMax in magnitude
  unbalanced,                // postings do not sum to zero in some currency
  reversal_inconsistent,     // kind reversal without `reverses`, or `reverses` without kind reversal
  unknown_account,
  currency_mismatch,         // a posting's currency differs from its account's
  reversal_target_missing,   // the journal to reverse does not exist
  reversal_not_exact,        // the postings do not negate the original exactly
  already_reversed,          // the original has been reversed before
  balance_limit_exceeded,    // a posting would take its account's balance beyond kBalanceMinorMax,
                             // counting the balances as the drafts before it in the batch leave them
  idempotency_key_reused,    // the key was used for a journal with other content
  batch_too_large,           // more than kJournalsPerBatchMax drafts in one call
};
std::string_view to_string(PostRefusal refusal);

struct Posted {
  JournalId journal_id;
  bool replayed = false;  // true: this key was posted before with the same content
};

using PostResult = Result<Posted, PostRefusal>;

// The checks that need no database, in PostRefusal order; nullopt when the draft is well formed.
std::optional<PostRefusal> check_draft(const JournalDraft& draft);

}  // namespace cch::ledger
