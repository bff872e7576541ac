// The expiry sweep as a background task: a trade past its affirmation window is expired by the
// task's next run, a trade within its window is left pending, and the run is counted.
#include "cch/registry_routes/routes.hpp"

#include <gtest/gtest.h>

#include <thread>

#include "registration_fixture.hpp"

namespace cch::registry {
namespace {

using namespace std::chrono_literals;
using fixture::Registration;

class ExpirySweep : public Registration {};

TEST_F(ExpirySweep, TheTaskExpiresTradesPastTheirWindowAndLeavesTheOthers) {
  // The window is policy.affirmation_window (60 minutes) from the submission.
  const UtcTimestamp two_hours_ago = UtcTimestamp::now().add_microseconds(-2LL * 3600 * 1'000'000).value();
  const auto due = submit(a, march(a, b), "sweep-due", two_hours_ago);
  ASSERT_TRUE(due) << due.error().detail;
  const auto fresh = submit(a, march(a, c), "sweep-fresh", UtcTimestamp::now());
  ASSERT_TRUE(fresh) << fresh.error().detail;

  http::Metrics metrics;
  runtime::BackgroundTasks tasks(metrics);
  ASSERT_TRUE(tasks.add(expiry_sweep_task(*fixture.pool, db::RetryPolicy{}, 10ms)));
  tasks.start();
  const auto state_of = [&](TradeId trade) {
    return run([&](pqxx::transaction_base& tx) { return find_trade(tx, trade); })->state;
  };
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (state_of(due->trade.trade_id) != TradeState::expired && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(tasks.stop());
  EXPECT_EQ(state_of(due->trade.trade_id), TradeState::expired);
  EXPECT_EQ(state_of(fresh->trade.trade_id), TradeState::pending_affirmation);
  EXPECT_GE(metrics.counter("cch_task_expiry_sweep_runs_total", "").value(), 1U);
  EXPECT_EQ(metrics.counter("cch_task_expiry_sweep_failures_total", "").value(), 0U);
}

}  // namespace
}  // namespace cch::registry
