// Collateral movements against a real scratch database: the bounds on amounts and balances.
#include "cch/settlement/collateral.hpp"

#include "cch/db/transaction.hpp"
#include "cch/ledger/journal.hpp"
#include "cch/ledger/queries.hpp"
#include "ledger_fixture.hpp"

#include <gtest/gtest.h>
#include <pqxx/result>

#include <string>

namespace cch::settlement {
namespace {

using ledger::testing::LedgerFixture;

const BusinessDate kToday = BusinessDate::from_year_month_day(2026, 11, 23).value();

Money usd(std::int64_t cents) { return Money{cents, Currency::usd()}; }

class Collateral : public ::testing::Test {
 protected:
  template <class Work>
  auto run(Work&& work) {
    return db::run_transaction(*fixture.pool, db::Isolation::read_committed, {}, std::forward<Work>(work));
  }

  // The deposit's outcome: "posted", "replayed" or the refusal's reason.
  std::string deposit(MemberId member, std::int64_t cents, const std::string& reference, Money movement_max) {
    const auto recorded = run([&](pqxx::transaction_base& tx) {
      return record_deposit(tx, {member, usd(cents), reference, kToday, std::nullopt, movement_max});
    });
    if (!recorded) return std::string(to_string(recorded.error()));
    return recorded->replayed ? "replayed" : "posted";
  }

  std::int64_t scalar(const std::string& sql) {
    return run([&](pqxx::transaction_base& tx) { return tx.exec(sql)[0][0].as<std::int64_t>(); });
  }

  LedgerFixture fixture;
  MemberId alpha = fixture.add_member("alpha-labs");
  MemberId beta = fixture.add_member("beta-cloud");
};

TEST_F(Collateral, AMovementBeyondItsMaximumIsRefusedAndPostsNothing) {
  const Money largest = usd(100'000'000'000);  // 1,000,000,000.00 USD
  EXPECT_EQ(deposit(alpha, 100'000'000'001, "wire-over", largest), "amount_too_large");
  EXPECT_EQ(deposit(alpha, INT64_MAX, "wire-int64", largest), "amount_too_large");
  EXPECT_EQ(scalar("SELECT count(*) FROM ledger.journal"), 0);
  EXPECT_EQ(deposit(alpha, 100'000'000'000, "wire-at-the-maximum", largest), "posted");

  const auto withdrawal = [&](std::int64_t cents, const std::string& key) {
    const auto requested = run([&](pqxx::transaction_base& tx) {
      return request_withdrawal(tx, {alpha, usd(cents), "alpha-system", key, RequestId::generate(), usd(1'000)});
    });
    return requested ? std::string("requested") : std::string(to_string(requested.error()));
  };
  EXPECT_EQ(withdrawal(1'001, "w-over"), "amount_too_large");
  EXPECT_EQ(withdrawal(1'000, "w-at-the-maximum"), "requested");
  EXPECT_EQ(scalar("SELECT count(*) FROM cch.collateral_withdrawal"), 1);
}

TEST_F(Collateral, DepositsThatWouldTakeTheSettlementBankBeyondTheLargestBalanceAreRefused) {
  const Money largest = usd(kAmountMinorMax);
  EXPECT_EQ(deposit(alpha, kAmountMinorMax, "wire-1", largest), "posted");
  EXPECT_EQ(deposit(beta, 1, "wire-2", largest), "balance_limit_exceeded");
  EXPECT_EQ(deposit(beta, kAmountMinorMax, "wire-3", largest), "balance_limit_exceeded");
  // Recording the first again is still a replay.
  EXPECT_EQ(deposit(alpha, kAmountMinorMax, "wire-1", largest), "replayed");
  EXPECT_EQ(scalar("SELECT count(*) FROM ledger.journal"), 1);
  EXPECT_EQ(scalar("SELECT max(balance_minor) FROM ledger.account_balance"), ledger::kBalanceMinorMax);
  run([&](pqxx::transaction_base& tx) {
    const auto position = collateral_position(tx, alpha, Currency::usd());
    EXPECT_EQ(position.held, largest);
    EXPECT_EQ(position.available, largest);
  });
}

}  // namespace
}  // namespace cch::settlement
