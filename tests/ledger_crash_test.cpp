// kill -9 of a process in the middle of posting batches: afterwards every batch is wholly there
// or absent, every journal balances, balances equal their postings, and the chains verify.
#include "cch/ledger/queries.hpp"
#include "cch/ledger/verify.hpp"
#include "cch/testing/process.hpp"
#include "ledger_fixture.hpp"

#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/transaction>

#include <signal.h>

#include <gtest/gtest.h>

#include <thread>

namespace {

using namespace std::chrono_literals;

std::int64_t count_journals(const std::string& url) {
  pqxx::connection connection(url);
  pqxx::nontransaction tx(connection);
  return tx.exec("SELECT count(*) FROM ledger.journal")[0][0].as<std::int64_t>();
}

}  // namespace

TEST(LedgerCrash, KillNineMidBatchLeavesWholeBatchesOnly) {
  cch::ledger::testing::LedgerFixture fixture;
  constexpr int kBatchSize = 40;
  cch::testing::ChildProcess writer(CCH_LEDGER_BENCH_BINARY,
                                    {"--url", fixture.writer_url, "--clients", "4", "--batch-size",
                                     std::to_string(kBatchSize), "--seconds", "120", "--members", "20"});
  const auto deadline = std::chrono::steady_clock::now() + 90s;
  while (count_journals(fixture.writer_url) < 20 * kBatchSize && std::chrono::steady_clock::now() < deadline &&
         writer.running()) {
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(writer.running()) << writer.standard_error();
  writer.send_signal(SIGKILL);
  const auto status = writer.wait_for_exit(30s);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(*status, 128 + SIGKILL);

  pqxx::connection connection(fixture.auditor_url);
  pqxx::read_transaction tx(connection);
  const std::int64_t journals = tx.exec("SELECT count(*) FROM ledger.journal")[0][0].as<std::int64_t>();
  EXPECT_GE(journals, 20 * kBatchSize);
  EXPECT_EQ(journals % kBatchSize, 0) << "a batch was partly written";
  EXPECT_EQ(tx.exec("SELECT count(*) FROM ledger.chain_link WHERE journal_count <> " + std::to_string(kBatchSize))[0][0]
                .as<int>(),
            0);
  EXPECT_EQ(tx.exec("SELECT count(*) FROM (SELECT journal_id FROM ledger.posting GROUP BY journal_id "
                    "HAVING sum(amount_minor) <> 0 OR count(*) < 2) broken")[0][0]
                .as<int>(),
            0);
  EXPECT_TRUE(cch::ledger::trial_balance(tx).balanced());
  EXPECT_TRUE(cch::ledger::accounts_out_of_balance(tx).empty());
  const auto report = cch::ledger::verify_chains(tx);
  EXPECT_TRUE(report.ok()) << (report.first_break ? report.first_break->detail : "");
  EXPECT_EQ(report.journals_checked, journals);
}
