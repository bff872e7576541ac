// kill -9 of the settlement process in each step of a run in turn (cch-settle-crash dies inside the
// step's transaction, just before its commit), each time started again: the run resumes at the
// step that died, ends complete with each step recorded once, and its journals are those of an
// uninterrupted run, one per member with the figures computed by hand, none twice; the hash chains
// verify and the trial balance is zero. Then the next day, killed again in every step.
#include "cch/ledger/queries.hpp"
#include "cch/settlement/deliveries.hpp"
#include "cch/ledger/verify.hpp"
#include "cch/testing/process.hpp"
#include "settlement_fixture.hpp"

#include <pqxx/result>

#include <algorithm>
#include <cmath>
#include <csignal>

namespace cch::settlement {
namespace {

using fixture::SettlementRuns;

class SettlementCrash : public SettlementRuns {
 protected:
  // Settles `day` in a process of its own; answers its exit status.
  int settle_in_process(BusinessDate day, std::string_view kill_in) {
    std::vector<std::string> arguments{"--url", fixture.writer_url, "--date", day.format(), "--now",
                                       fixture::kNow.format()};
    if (!kill_in.empty()) {
      arguments.emplace_back("--kill-in");
      arguments.emplace_back(kill_in);
    }
    cch::testing::ChildProcess process(CCH_SETTLE_CRASH_BINARY, arguments);
    const auto status = process.wait_for_exit(std::chrono::seconds(60));
    EXPECT_TRUE(status.has_value()) << "cch-settle-crash did not end";
    if (status && *status != 0 && *status != 128 + SIGKILL) ADD_FAILURE() << process.standard_error();
    return status.value_or(-1);
  }

  // Every journal of a kind as text: its key, date, cause and postings (account: amount).
  std::string journals(const std::string& kind = "variation_margin") {
    std::string text;
    run([&](pqxx::transaction_base& tx) {
      for (const auto& row : tx.exec(
               "SELECT j.idempotency_key, j.business_date, j.cause_kind, j.cause_reference, "
               "(SELECT string_agg(p.account_id || ':' || p.amount_minor, ',' ORDER BY p.line_number) "
               " FROM ledger.posting p WHERE p.journal_id = j.journal_id) "
               "FROM ledger.journal j WHERE j.kind = '" + kind + "' ORDER BY j.idempotency_key")) {
        for (const auto& field : row) text += std::string(field.c_str()) + " ";
        text += "\n";
      }
    });
    return text;
  }

  // The journals an uninterrupted run of `run_id` posts: each member's total against its
  // collateral and the house's clearing account, keyed by run and member (variation margin, or
  // with "settlement-delivery" and "delivery_clearing" the deliveries').
  std::string expected_journals(std::int64_t run_id, BusinessDate day,
                                const std::vector<std::pair<MemberId, std::int64_t>>& totals,
                                const std::string& key = "settlement-vm",
                                const std::string& clearing_kind = "variation_margin_clearing") {
    const auto account = [&](const std::string& where) {
      return std::to_string(scalar("SELECT account_id FROM ledger.account WHERE " + where));
    };
    const std::string clearing = account("owner_kind = 'house' AND kind = '" + clearing_kind + "'");
    std::vector<std::string> lines;
    for (const auto& [member, total] : totals) {
      if (total == 0) continue;
      lines.push_back(key + ":" + std::to_string(run_id) + ":" + member.to_string() + " " + day.format() +
                      " settlement_run " + std::to_string(run_id) + " " +
                      account("kind = 'collateral' AND member_id = " + member.to_string()) + ":" +
                      std::to_string(-total) + "," + clearing + ":" + std::to_string(total) + " \n");
    }
    std::sort(lines.begin(), lines.end());
    std::string text;
    for (const auto& line : lines) text += line;
    return text;
  }

  std::int64_t forward_mark(BusinessDate day, double forward_minus_price) {
    return run([&](pqxx::transaction_base& tx) {
      const double df = risk::load_curves(tx, risk::latest_curve_set(tx, day)->curve_set_id)
                            ->discount.discount(fixture::date("2027-04-05"));
      return static_cast<std::int64_t>(std::llround(forward_minus_price * 190'464 * df * 100));
    });
  }

  void expect_books_verify() {
    run([&](pqxx::transaction_base& tx) {
      const auto verified = ledger::verify_chains(tx);
      EXPECT_TRUE(verified.ok()) << "the hash chains verify";
      EXPECT_TRUE(ledger::trial_balance(tx, std::nullopt).balanced()) << "the trial balance is zero";
    });
  }
};

TEST_F(SettlementCrash, KilledInEachStepInTurnTheRunResumesToTheJournalsOfAnUninterruptedRun) {
  trade();
  // And a delivery settled by day 1's run: charlie sells alpha 8 GPUs for 13 January alone at
  // 2.1000 (never marked: it ends with the day) and reports all 192 GPU-hours delivered.
  auto one_day = march(a, c, 8, 21'000);
  one_day.delivery_start = registry::fixture::at("2027-01-13T00:00:00Z");
  one_day.delivery_end = registry::fixture::at("2027-01-14T00:00:00Z");
  const auto delivered = clear_on(one_day, "DAY-1");
  ASSERT_TRUE(delivered) << delivered.error().detail;
  run([&](pqxx::transaction_base& tx) {
    ASSERT_TRUE(report_delivery(tx, delivered->trade_id, kDay1, 192, {c, "charlie", std::nullopt}, fixture::kNow));
  });
  enter_market_data(kDay1, 21'500, 21'000, 21'000);
  enter_market_data(kDay2, 21'600, 21'200, 21'000);
  for (const BusinessDate day : {kDay1, kDay2}) {
    for (const RunStep step : kRunSteps) {
      EXPECT_EQ(settle_in_process(day, to_string(step)), 128 + SIGKILL) << to_string(step);
      EXPECT_EQ(scalar("SELECT count(*) FROM settlement.run_step s JOIN settlement.run r USING (run_id) WHERE "
                       "r.business_date = '" + day.format() + "' AND s.step = '" + std::string(to_string(step)) + "'"),
                0)
          << "a step killed before its commit left nothing: " << to_string(step);
    }
    EXPECT_EQ(settle_in_process(day, ""), 0);
  }
  // Each date: one run, complete, every step once; its members' journals exactly once.
  EXPECT_EQ(scalar("SELECT count(*) FROM settlement.run"), 2);
  EXPECT_EQ(scalar("SELECT count(*) FROM settlement.run WHERE state = 'completed'"), 2);
  EXPECT_EQ(scalar("SELECT count(*) FROM settlement.run_step"), 10);
  EXPECT_EQ(scalar("SELECT count(*) FROM cch.outbox WHERE topic = 'settlement.run_completed'"), 2);
  const std::int64_t run1 = scalar("SELECT run_id FROM settlement.run WHERE business_date = '2027-01-13'");
  const std::int64_t run2 = scalar("SELECT run_id FROM settlement.run WHERE business_date = '2027-01-14'");
  // By hand (runs_test.cpp has the arithmetic): day 1 from zero, day 2 the change and bravo's
  // interest on its forward's day-1 mark at 4 % for one day.
  const std::int64_t fwd1 = forward_mark(kDay1, 0.0050);
  const std::int64_t fwd2 = forward_mark(kDay2, 0.0150);
  const std::int64_t pai = -((fwd1 * 4 * 2 + 36'000) / (36'000 * 2));
  const std::string expected =
      expected_journals(run1, kDay1, {{a, 209'664}, {b, fwd1 - 209'664}, {c, -fwd1}}) +
      expected_journals(run2, kDay2, {{a, 419'328}, {b, fwd2 - fwd1 - 419'328 + pai}, {c, -(fwd2 - fwd1) - pai}});
  // Keys sort by run then member here (one-digit ids), as the expectation is built.
  EXPECT_EQ(journals(), expected);
  // The delivery: 192 x 2.1000 = 403.20 USD from alpha to charlie, once.
  EXPECT_EQ(journals("delivery_settlement"),
            expected_journals(run1, kDay1, {{a, -40'320}, {c, 40'320}}, "settlement-delivery", "delivery_clearing"));
  expect_books_verify();
}

}  // namespace
}  // namespace cch::settlement
