// The background tasks facility: periodic runs happen; stop wakes sleeping tasks and joins them at
// once; an overrun is counted (while the run still runs, and once); an exception is counted and
// the next run still happens; a run never starts twice at once; the bounds on names and count.
#include "cch/runtime/tasks.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

namespace cch::runtime {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TaskDefinition periodic(std::string name, std::chrono::milliseconds interval, std::function<void(TaskControl&)> run) {
  TaskDefinition definition;
  definition.name = std::move(name);
  definition.interval = interval;
  definition.run = std::move(run);
  return definition;
}

// Waits up to `timeout` for `condition`.
template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds timeout = 5s) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return condition();
}

std::uint64_t counter(http::Metrics& metrics, const std::string& name) { return metrics.counter(name, "").value(); }

TEST(BackgroundTasks, APeriodicTaskRunsEveryIntervalOnceStarted) {
  http::Metrics metrics;
  BackgroundTasks tasks(metrics);
  std::atomic<int> runs{0};
  ASSERT_TRUE(tasks.add(periodic("tick", 10ms, [&](TaskControl&) { ++runs; })));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(runs.load(), 0) << "nothing runs before start()";
  tasks.start();
  EXPECT_TRUE(eventually([&] { return runs.load() >= 5; }));
  EXPECT_TRUE(tasks.stop());
  const int after_stop = runs.load();
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(runs.load(), after_stop) << "no run after stop()";
  EXPECT_EQ(counter(metrics, "cch_task_tick_runs_total"), static_cast<std::uint64_t>(after_stop));
  EXPECT_EQ(counter(metrics, "cch_task_tick_failures_total"), 0U);
  EXPECT_NE(metrics.render().find("cch_task_tick_last_run_duration_microseconds"), std::string::npos);
}

TEST(BackgroundTasks, StopWakesSleepingTasksAndJoinsThemAtOnce) {
  http::Metrics metrics;
  BackgroundTasks tasks(metrics);
  std::atomic<int> runs{0};
  std::atomic<bool> custom_wait_returned{false};
  ASSERT_TRUE(tasks.add(periodic("hourly", std::chrono::hours(1), [&](TaskControl&) { ++runs; })));
  TaskDefinition waiting = periodic("waits_for_work", std::chrono::hours(1), [&](TaskControl&) { ++runs; });
  waiting.wait = [&](TaskControl& control, Clock::time_point due) {
    control.sleep_until(due);  // as a wait blocked on its own work would, until stop
    custom_wait_returned = true;
  };
  ASSERT_TRUE(tasks.add(std::move(waiting)));
  tasks.start();
  std::this_thread::sleep_for(20ms);
  const auto started = Clock::now();
  EXPECT_TRUE(tasks.stop());
  EXPECT_LT(Clock::now() - started, 500ms) << "stop must not wait for the hour";
  EXPECT_TRUE(custom_wait_returned.load());
  EXPECT_EQ(runs.load(), 0) << "a task stopped while it waits does not run";
  EXPECT_TRUE(tasks.stop()) << "stop() again answers the same";
}

TEST(BackgroundTasks, StopAnswersFalseForATaskStillRunningAfterTheGracePeriod) {
  http::Metrics metrics;
  BackgroundTasks tasks(metrics, TaskLimits{.stop_grace = 50ms});
  std::atomic<bool> running{false};
  std::atomic<bool> release{false};
  ASSERT_TRUE(tasks.add(periodic("stubborn", 1ms, [&](TaskControl&) {
    running = true;
    while (!release.load()) std::this_thread::sleep_for(1ms);  // ignores the stop
  })));
  tasks.start();
  ASSERT_TRUE(eventually([&] { return running.load(); }));
  const auto started = Clock::now();
  EXPECT_FALSE(tasks.stop());
  EXPECT_LT(Clock::now() - started, 1s);
  release = true;  // the destructor joins it
}

TEST(BackgroundTasks, AnOverrunIsCountedOnceWhileTheRunStillRuns) {
  http::Metrics metrics;
  BackgroundTasks tasks(metrics, TaskLimits{.watch_interval = 5ms});
  std::atomic<bool> release{false};
  std::atomic<int> runs{0};
  TaskDefinition slow = periodic("slow", 1ms, [&](TaskControl& control) {
    if (++runs > 1) return;  // only the first run is slow
    while (!release.load() && !control.stop_requested()) std::this_thread::sleep_for(1ms);
  });
  slow.run_duration_max = 20ms;
  ASSERT_TRUE(tasks.add(std::move(slow)));
  tasks.start();
  EXPECT_TRUE(eventually([&] { return counter(metrics, "cch_task_slow_overruns_total") == 1; }))
      << "the watchdog sees the overrun before the run ends";
  EXPECT_EQ(runs.load(), 1);
  std::this_thread::sleep_for(50ms);
  release = true;
  EXPECT_TRUE(eventually([&] { return runs.load() >= 3; }));
  EXPECT_TRUE(tasks.stop());
  EXPECT_EQ(counter(metrics, "cch_task_slow_overruns_total"), 1U) << "counted once, and only the slow run";
}

TEST(BackgroundTasks, AnOverrunBetweenTwoLooksOfTheWatchdogIsCountedAtTheEndOfTheRun) {
  http::Metrics metrics;
  BackgroundTasks tasks(metrics, TaskLimits{.watch_interval = std::chrono::hours(1)});
  std::atomic<int> runs{0};
  TaskDefinition slow = periodic("slow_once", 1ms, [&](TaskControl&) {
    if (++runs == 1) std::this_thread::sleep_for(30ms);
  });
  slow.run_duration_max = 10ms;
  ASSERT_TRUE(tasks.add(std::move(slow)));
  tasks.start();
  EXPECT_TRUE(eventually([&] { return runs.load() >= 3; }));
  EXPECT_TRUE(tasks.stop());
  EXPECT_EQ(counter(metrics, "cch_task_slow_once_overruns_total"), 1U);
}

TEST(BackgroundTasks, AnExceptionIsCountedAndTheNextRunStillHappens) {
  http::Metrics metrics;
  BackgroundTasks tasks(metrics);
  std::atomic<int> runs{0};
  ASSERT_TRUE(tasks.add(periodic("flaky", 5ms, [&](TaskControl&) {
    if (++runs % 2 == 1) throw std::runtime_error("database gone (test)");
  })));
  tasks.start();
  EXPECT_TRUE(eventually([&] { return runs.load() >= 4; }));
  EXPECT_TRUE(tasks.stop());
  const auto total = counter(metrics, "cch_task_flaky_runs_total");
  EXPECT_EQ(total, static_cast<std::uint64_t>(runs.load()));
  EXPECT_EQ(counter(metrics, "cch_task_flaky_failures_total"), (total + 1) / 2);
}

TEST(BackgroundTasks, AFailingWaitIsCountedAndTheTaskGoesOnAtItsInterval) {
  http::Metrics metrics;
  BackgroundTasks tasks(metrics);
  std::atomic<int> waits{0};
  std::atomic<int> runs{0};
  TaskDefinition definition = periodic("failing_wait", 5ms, [&](TaskControl&) { ++runs; });
  definition.wait = [&](TaskControl&, Clock::time_point) {
    if (++waits == 1) throw std::runtime_error("listen failed (test)");
  };
  ASSERT_TRUE(tasks.add(std::move(definition)));
  tasks.start();
  EXPECT_TRUE(eventually([&] { return runs.load() >= 2; }));
  EXPECT_TRUE(tasks.stop());
  EXPECT_EQ(counter(metrics, "cch_task_failing_wait_failures_total"), 1U);
}

TEST(BackgroundTasks, WakeStartsTheNextRunAtOnceButNeverTwoRunsTogether) {
  http::Metrics metrics;
  BackgroundTasks tasks(metrics);
  std::atomic<int> in_run{0};
  std::atomic<int> most_in_run{0};
  std::atomic<int> runs{0};
  auto handle = tasks.add(periodic("woken", std::chrono::hours(1), [&](TaskControl&) {
    const int now_in_run = ++in_run;
    if (now_in_run > most_in_run) most_in_run = now_in_run;
    std::this_thread::sleep_for(2ms);
    --in_run;
    ++runs;
  }));
  ASSERT_TRUE(handle);
  tasks.start();
  std::vector<std::thread> wakers;
  for (int i = 0; i < 4; ++i) {
    wakers.emplace_back([&] {
      for (int j = 0; j < 50; ++j) {
        handle->wake();
        std::this_thread::sleep_for(1ms);
      }
    });
  }
  for (auto& waker : wakers) waker.join();
  EXPECT_TRUE(eventually([&] { return runs.load() >= 5; }));
  EXPECT_TRUE(tasks.stop());
  EXPECT_EQ(most_in_run.load(), 1);
}

TEST(BackgroundTasks, NamesAreCheckedAndTheNumberOfTasksIsBounded) {
  http::Metrics metrics;
  BackgroundTasks tasks(metrics, TaskLimits{.tasks_max = 2});
  const auto run = [](TaskControl&) {};
  EXPECT_EQ(tasks.add(periodic("Bad-Name", 1s, run)).error(), TaskRefusal::invalid_name);
  EXPECT_EQ(tasks.add(periodic("", 1s, run)).error(), TaskRefusal::invalid_name);
  EXPECT_EQ(tasks.add(periodic(std::string(49, 'a'), 1s, run)).error(), TaskRefusal::invalid_name);
  EXPECT_EQ(tasks.add(periodic("no_run", 1s, {})).error(), TaskRefusal::invalid_definition);
  EXPECT_EQ(tasks.add(periodic("zero_interval", 0ms, run)).error(), TaskRefusal::invalid_definition);
  EXPECT_TRUE(tasks.add(periodic("first", 1s, run)));
  EXPECT_EQ(tasks.add(periodic("first", 1s, run)).error(), TaskRefusal::name_taken);
  EXPECT_TRUE(tasks.add(periodic(std::string(48, 'b'), 1s, run)));
  EXPECT_EQ(tasks.add(periodic("third", 1s, run)).error(), TaskRefusal::too_many_tasks);
  EXPECT_EQ(tasks.size(), 2U);
  EXPECT_TRUE(tasks.stop());
  EXPECT_EQ(tasks.add(periodic("late", 1s, run)).error(), TaskRefusal::stopped);
}

TEST(BackgroundTasks, ATaskAddedAfterStartStartsAtOnceAndItsHoldingsAreReleasedByStop) {
  http::Metrics metrics;
  BackgroundTasks tasks(metrics);
  tasks.start();
  auto held = std::make_shared<std::atomic<int>>(0);
  ASSERT_TRUE(tasks.add(periodic("late_comer", 5ms, [held](TaskControl&) { ++*held; })));
  EXPECT_TRUE(eventually([&] { return held->load() >= 1; }));
  EXPECT_EQ(held.use_count(), 2);
  EXPECT_TRUE(tasks.stop());
  EXPECT_EQ(held.use_count(), 1) << "stop() destroys the joined task's run";
}

}  // namespace
}  // namespace cch::runtime
