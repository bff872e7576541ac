#include "cch/ledger/post.hpp"
#include "cch/ledger/queries.hpp"
#include "ledger_fixture.hpp"

#include <pqxx/result>

#include <gtest/gtest.h>

#include <set>
#include <thread>

namespace {

using namespace cch;
using namespace cch::ledger;
using cch::ledger::testing::LedgerFixture;
using cch::ledger::testing::transfer;

template <class Work>
auto read(LedgerFixture& fixture, Work work) {
  return db::run_transaction(*fixture.pool, db::Isolation::repeatable_read, {}, work);
}

}  // namespace

TEST(LedgerQueries, BalanceAsOfAnInstantCountsOnlyJournalsWrittenBefore) {
  LedgerFixture fixture;
  const AccountId bank = fixture.house_account(AccountKind::settlement_bank);
  const AccountId collateral = fixture.member_account(fixture.add_member("alpha-labs"), AccountKind::collateral);
  ASSERT_TRUE(ledger::post_batch(*fixture.pool, {}, std::vector{transfer("one", bank, collateral, 100)})[0]);
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const UtcTimestamp between = UtcTimestamp::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(ledger::post_batch(*fixture.pool, {}, std::vector{transfer("two", bank, collateral, 40)})[0]);

  read(fixture, [&](pqxx::transaction_base& tx) {
    EXPECT_EQ(balance_as_of(tx, bank, between)->amount_minor, 100);
    EXPECT_EQ(balance_as_of(tx, bank, UtcTimestamp::now())->amount_minor, 140);
    EXPECT_EQ(balance_as_of(tx, collateral, UtcTimestamp(0))->amount_minor, 0);
    EXPECT_EQ(balance(tx, bank)->balance.amount_minor, 140);
    EXPECT_FALSE(balance_as_of(tx, AccountId(987654), between).has_value());
  });
}

TEST(LedgerQueries, BalanceAsOfABusinessDateCountsThatDayAndEarlier) {
  LedgerFixture fixture;
  const AccountId bank = fixture.house_account(AccountKind::settlement_bank);
  const AccountId collateral = fixture.member_account(fixture.add_member("alpha-labs"), AccountKind::collateral);
  JournalDraft monday = transfer("monday", bank, collateral, 10);
  monday.business_date = BusinessDate::parse("2026-11-23").value();
  JournalDraft tuesday = transfer("tuesday", bank, collateral, 20);
  tuesday.business_date = BusinessDate::parse("2026-11-24").value();
  ASSERT_TRUE(ledger::post_batch(*fixture.pool, {}, std::vector{monday, tuesday})[1]);
  read(fixture, [&](pqxx::transaction_base& tx) {
    EXPECT_EQ(balance_as_of(tx, bank, BusinessDate::parse("2026-11-22").value())->amount_minor, 0);
    EXPECT_EQ(balance_as_of(tx, bank, BusinessDate::parse("2026-11-23").value())->amount_minor, 10);
    EXPECT_EQ(balance_as_of(tx, bank, BusinessDate::parse("2026-11-24").value())->amount_minor, 30);
  });
}

TEST(LedgerQueries, HistoryPagesWalkEveryPostingOnceNewestFirst) {
  LedgerFixture fixture;
  const AccountId bank = fixture.house_account(AccountKind::settlement_bank);
  const AccountId collateral = fixture.member_account(fixture.add_member("alpha-labs"), AccountKind::collateral);
  std::vector<JournalDraft> drafts;
  for (int i = 1; i <= 23; ++i) {
    drafts.push_back(transfer("h-" + std::to_string(i), bank, collateral, i));
  }
  ASSERT_TRUE(ledger::post_batch(*fixture.pool, {}, drafts)[22]);

  std::vector<std::int64_t> amounts;
  std::optional<HistoryCursor> cursor;
  int pages = 0;
  do {
    const HistoryPage page = read(fixture, [&](pqxx::transaction_base& tx) { return account_history(tx, bank, cursor, 10); });
    for (const HistoryEntry& entry : page.entries) {
      amounts.push_back(entry.amount.amount_minor);
      EXPECT_EQ(entry.cause_kind, "operator");
    }
    cursor = page.next;
    if (cursor) {
      const auto round_trip = parse_cursor(format_cursor(*cursor));
      ASSERT_TRUE(round_trip);
      cursor = round_trip;
    }
    ++pages;
  } while (cursor && pages < 10);
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(amounts.size(), 23U);
  for (std::size_t i = 0; i < amounts.size(); ++i) {
    EXPECT_EQ(amounts[i], 23 - static_cast<std::int64_t>(i));
  }
  EXPECT_FALSE(parse_cursor("12"));
  EXPECT_FALSE(parse_cursor("a.1"));
  EXPECT_FALSE(parse_cursor("0.1"));
  EXPECT_FALSE(parse_cursor("5.1x"));
}

TEST(LedgerQueries, TrialBalanceIsZeroPerCurrencyNowAndAsOfAnyInstant) {
  LedgerFixture fixture;
  const AccountId bank = fixture.house_account(AccountKind::settlement_bank);
  const AccountId income = fixture.house_account(AccountKind::fee_income);
  const MemberId alpha = fixture.add_member("alpha-labs");
  const AccountId collateral = fixture.member_account(alpha, AccountKind::collateral);
  const AccountId fees = fixture.member_account(alpha, AccountKind::fees);
  const UtcTimestamp before = UtcTimestamp::now();
  ASSERT_TRUE(ledger::post_batch(*fixture.pool, {}, std::vector{transfer("deposit", bank, collateral, 10000),
                                                                 transfer("fee", fees, income, 125)})[1]);
  read(fixture, [&](pqxx::transaction_base& tx) {
    const TrialBalance now = trial_balance(tx);
    EXPECT_TRUE(now.balanced());
    EXPECT_EQ(now.by_currency_and_kind.at("USD").at("settlement_bank"), 10000);
    EXPECT_EQ(now.by_currency_and_kind.at("USD").at("fee_income"), -125);
    EXPECT_EQ(now.total_by_currency.at("USD"), 0);
    const TrialBalance earlier = trial_balance(tx, before);
    EXPECT_TRUE(earlier.balanced());
    EXPECT_TRUE(earlier.by_currency_and_kind.empty());
    EXPECT_TRUE(accounts_out_of_balance(tx).empty());
  });
}

TEST(LedgerKinds, TheCodeAndTheReferenceTablesListTheSameKinds) {
  LedgerFixture fixture;
  read(fixture, [&](pqxx::transaction_base& tx) {
    std::set<std::string> in_database;
    for (const auto& row : tx.exec("SELECT kind, owner_kind FROM ledger.account_kind")) {
      const auto kind = parse_account_kind(row[0].as<std::string>());
      ASSERT_TRUE(kind) << row[0].as<std::string>();
      EXPECT_EQ(is_member_kind(*kind), row[1].as<std::string>() == "member") << row[0].as<std::string>();
      in_database.insert(row[0].as<std::string>());
    }
    EXPECT_EQ(in_database.size(), all_account_kinds().size());
    std::set<std::string> journal_kinds;
    for (const auto& row : tx.exec("SELECT kind FROM ledger.journal_kind")) {
      EXPECT_TRUE(parse_journal_kind(row[0].as<std::string>())) << row[0].as<std::string>();
      journal_kinds.insert(row[0].as<std::string>());
    }
    EXPECT_EQ(journal_kinds.size(), all_journal_kinds().size());
  });
}
