// Many writers at once: random balanced journals over a few hot accounts and many cold ones.
#include "cch/ledger/post.hpp"
#include "cch/ledger/queries.hpp"
#include "cch/ledger/verify.hpp"
#include "ledger_fixture.hpp"

#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/transaction>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <random>
#include <thread>

namespace {

using namespace cch;
using namespace cch::ledger;
using cch::ledger::testing::LedgerFixture;

}  // namespace

TEST(LedgerConcurrency, ConcurrentWritersKeepEveryInvariant) {
  LedgerFixture fixture;
  std::vector<AccountId> accounts;
  accounts.push_back(fixture.house_account(AccountKind::settlement_bank));  // hot
  accounts.push_back(fixture.house_account(AccountKind::fee_income));       // hot
  for (int m = 0; m < 12; ++m) {
    const MemberId member = fixture.add_member("member-" + std::to_string(m));
    accounts.push_back(fixture.member_account(member, AccountKind::collateral));
    accounts.push_back(fixture.member_account(member, AccountKind::fees));
  }
  constexpr int kThreads = 6;
  constexpr int kBatchesPerThread = 15;
  std::atomic<int> posted{0};
  std::vector<std::thread> threads;
  db::RetryPolicy policy;
  policy.max_attempts = 20;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 random(static_cast<std::uint64_t>(t) * 7919U + 17U);
      for (int b = 0; b < kBatchesPerThread; ++b) {
        std::vector<JournalDraft> drafts;
        const int journals = 1 + static_cast<int>(random() % 8);
        for (int j = 0; j < journals; ++j) {
          JournalDraft draft;
          draft.idempotency_key = "t" + std::to_string(t) + "-b" + std::to_string(b) + "-j" + std::to_string(j);
          draft.business_date = BusinessDate::parse("2026-11-23").value();
          draft.kind = JournalKind::adjustment;
          draft.cause = Cause{CauseKind::operator_action, "concurrency-test"};
          // Two to five lines; the last line balances the others. The first line hits a hot account.
          const int lines = 2 + static_cast<int>(random() % 4);
          std::int64_t sum = 0;
          for (int l = 0; l < lines - 1; ++l) {
            const AccountId account = l == 0 ? accounts[random() % 2] : accounts[random() % accounts.size()];
            std::int64_t amount = static_cast<std::int64_t>(random() % 100000) - 50000;
            if (amount == 0) {
              amount = 1;
            }
            draft.postings.push_back({account, Money{amount, Currency::usd()}});
            sum += amount;
          }
          if (sum == 0) {
            draft.postings.back().amount.amount_minor += 1;
            sum += 1;
          }
          draft.postings.push_back({accounts[random() % accounts.size()], Money{-sum, Currency::usd()}});
          drafts.push_back(std::move(draft));
        }
        const auto results = ledger::post_batch(*fixture.pool, policy, drafts);
        for (const auto& result : results) {
          ASSERT_TRUE(result) << to_string(result.error());
          posted.fetch_add(1);
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }

  pqxx::connection connection(fixture.auditor_url);
  pqxx::read_transaction tx(connection);
  EXPECT_EQ(tx.exec("SELECT count(*) FROM ledger.journal")[0][0].as<int>(), posted.load());
  EXPECT_EQ(tx.exec("SELECT count(*) FROM (SELECT journal_id FROM ledger.posting GROUP BY journal_id, currency "
                    "HAVING sum(amount_minor) <> 0) unbalanced")[0][0]
                .as<int>(),
            0);
  EXPECT_TRUE(trial_balance(tx).balanced());
  EXPECT_TRUE(accounts_out_of_balance(tx).empty());
  const VerifyReport report = verify_chains(tx);
  EXPECT_TRUE(report.ok()) << (report.first_break ? report.first_break->detail : "");
  EXPECT_EQ(report.journals_checked, posted.load());
}

// More posters than chains: with every chain head held, a poster waits for one and then posts.
TEST(LedgerConcurrency, APosterFindingEveryChainHeldWaitsForOneAndPosts) {
  LedgerFixture fixture;
  const AccountId bank = fixture.house_account(AccountKind::settlement_bank);
  const AccountId collateral = fixture.member_account(fixture.add_member("alpha-labs"), AccountKind::collateral);
  for (int attempt = 0; attempt < 30; ++attempt) {
    auto holder = fixture.superuser();
    pqxx::work hold(holder);
    ASSERT_GE(hold.exec("SELECT chain_id FROM ledger.chain_head FOR UPDATE").size(), 2u);
    std::optional<PostResult> result;
    std::string failure;
    std::thread poster([&] {
      try {
        result = ledger::post_batch(*fixture.pool, {},
                                    std::vector{cch::ledger::testing::transfer(
                                        "held-" + std::to_string(attempt), bank, collateral, 100)})[0];
      } catch (const std::exception& error) {
        failure = error.what();
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    hold.abort();  // the heads are free again: the waiting poster goes on
    poster.join();
    ASSERT_TRUE(failure.empty()) << "attempt " << attempt << ": " << failure;
    ASSERT_TRUE(result && *result) << "attempt " << attempt;
  }
  db::run_transaction(*fixture.pool, db::Isolation::read_committed, {}, [&](pqxx::transaction_base& tx) {
    EXPECT_EQ(tx.exec("SELECT count(*) FROM ledger.journal")[0][0].as<int>(), 30);
    EXPECT_TRUE(verify_chains(tx).ok());
  });
}

TEST(LedgerConcurrency, OneIdempotencyKeyPostedFromManyConnectionsAtOnceMakesOneJournal) {
  LedgerFixture fixture;
  const AccountId bank = fixture.house_account(AccountKind::settlement_bank);
  const AccountId collateral = fixture.member_account(fixture.add_member("alpha-labs"), AccountKind::collateral);
  const JournalDraft draft = cch::ledger::testing::transfer("the-one-deposit", bank, collateral, 4200);
  constexpr int kPosters = 8;
  std::vector<std::optional<PostResult>> results(kPosters);
  std::atomic<bool> go{false};
  std::vector<std::thread> posters;
  for (int i = 0; i < kPosters; ++i) {
    posters.emplace_back([&, i] {
      while (!go.load()) {
        std::this_thread::yield();
      }
      results[static_cast<std::size_t>(i)] = ledger::post_batch(*fixture.pool, {}, std::vector{draft})[0];
    });
  }
  go.store(true);
  for (auto& poster : posters) {
    poster.join();
  }
  int fresh = 0;
  std::optional<JournalId> id;
  for (const auto& result : results) {
    ASSERT_TRUE(result && *result);
    fresh += (*result)->replayed ? 0 : 1;
    if (id) {
      EXPECT_EQ((*result)->journal_id, *id);
    }
    id = (*result)->journal_id;
  }
  EXPECT_EQ(fresh, 1) << "exactly one poster creates the journal; the others see a replay";
  db::run_transaction(*fixture.pool, db::Isolation::read_committed, {}, [&](pqxx::transaction_base& tx) {
    EXPECT_EQ(tx.exec("SELECT count(*) FROM ledger.journal")[0][0].as<int>(), 1);
    EXPECT_EQ(balance(tx, bank)->balance.amount_minor, 4200);
  });
}
