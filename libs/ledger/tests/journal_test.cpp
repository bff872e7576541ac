#include "cch/ledger/journal.hpp"

#include <gtest/gtest.h>

namespace {

cch::ledger::JournalDraft draft_with(std::vector<std::int64_t> amounts) {
  cch::ledger::JournalDraft draft;
  draft.idempotency_key = "k";
  draft.business_date = cch::BusinessDate::parse("2026-11-23").value();
  draft.cause = {cch::ledger::CauseKind::operator_action, "ticket-1"};
  std::int64_t account = 1;
  for (const std::int64_t amount : amounts) {
    draft.postings.push_back({cch::AccountId(account++), cch::Money{amount, cch::Currency::usd()}});
  }
  return draft;
}

}  // namespace

TEST(CheckDraft, AcceptsABalancedDraftAndNamesTheFirstBrokenRule) {
  using cch::ledger::PostRefusal;
  EXPECT_FALSE(cch::ledger::check_draft(draft_with({5, -3, -2})));
  EXPECT_EQ(cch::ledger::check_draft(draft_with({5, -4})), PostRefusal::unbalanced);
  EXPECT_EQ(cch::ledger::check_draft(draft_with({5})), PostRefusal::too_few_postings);
  EXPECT_EQ(cch::ledger::check_draft(draft_with({0, 0})), PostRefusal::zero_amount);
  auto long_key = draft_with({1, -1});
  long_key.idempotency_key = std::string(201, 'k');
  EXPECT_EQ(cch::ledger::check_draft(long_key), PostRefusal::invalid_idempotency_key);
  auto no_cause = draft_with({1, -1});
  no_cause.cause.reference.clear();
  EXPECT_EQ(cch::ledger::check_draft(no_cause), PostRefusal::invalid_cause_reference);
  auto long_memo = draft_with({1, -1});
  long_memo.memo = std::string(501, 'm');
  EXPECT_EQ(cch::ledger::check_draft(long_memo), PostRefusal::memo_too_long);
  std::vector<std::int64_t> many(1001, 1);
  EXPECT_EQ(cch::ledger::check_draft(draft_with(many)), PostRefusal::too_many_postings);
}

TEST(CheckDraft, APostingBeyondTheLargestAmountIsRefusedBeforeAnySum) {
  using cch::ledger::PostRefusal;
  const std::int64_t largest = cch::kAmountMinorMax;
  EXPECT_FALSE(cch::ledger::check_draft(draft_with({largest, largest, -largest, -largest})));
  EXPECT_EQ(cch::ledger::check_draft(draft_with({largest, largest, -largest})), PostRefusal::unbalanced);
  EXPECT_EQ(cch::ledger::check_draft(draft_with({largest + 1, -largest - 1})), PostRefusal::amount_too_large);
  EXPECT_EQ(cch::ledger::check_draft(draft_with({INT64_MAX, INT64_MAX, -INT64_MAX, -INT64_MAX})),
            PostRefusal::amount_too_large);
  EXPECT_EQ(cch::ledger::check_draft(draft_with({INT64_MIN, INT64_MAX})), PostRefusal::amount_too_large);
  // zero_amount comes first, as the checks run.
  EXPECT_EQ(cch::ledger::check_draft(draft_with({INT64_MAX, 0})), PostRefusal::zero_amount);
}

TEST(LedgerKinds, NamesRoundTrip) {
  for (const auto kind : cch::ledger::all_account_kinds()) {
    EXPECT_EQ(cch::ledger::parse_account_kind(cch::ledger::to_string(kind)), kind);
  }
  for (const auto kind : cch::ledger::all_journal_kinds()) {
    EXPECT_EQ(cch::ledger::parse_journal_kind(cch::ledger::to_string(kind)), kind);
  }
  EXPECT_FALSE(cch::ledger::parse_account_kind("cash"));
}
