#pragma once
// Background work of a service process: periodic tasks (the registry's expiry sweep) and loops
// that wait for work from outside (an outbox consumer waiting for a notification), each on a
// thread of its own, started, stopped and joined in one place.
//
// A task is a name, a run and a wait. Its thread alternates wait, run, wait, run, ... The default
// wait sleeps until `interval` after the end of the previous run (after start() for the first)
// or until wake() cuts the sleep short. A task whose work arrives from outside gives its own
// wait, which returns when work has arrived, when the deadline it is given (the end of the
// previous run plus `interval`) has come, or at once when stop is requested
// (TaskControl::stop_token(); a wait blocked in poll() registers a std::stop_callback).
//
// Bounds:
// - one thread per task: a run never starts while the task's previous run is in progress;
// - at most TaskLimits::tasks_max tasks;
// - a run longer than TaskDefinition::run_duration_max is an overrun: a watchdog logs it
//   (task_run_overrun) while it is still running and counts it once; it is not interrupted (a
//   run bounds its own work: batch sizes, statement_timeout); its end is logged too;
// - stop() wakes every waiting task at once and joins them within TaskLimits::stop_grace.
//
// Errors: an exception (std::exception) from a run or a wait is caught, logged (task_run_failed,
// with its message) and counted; the task goes on: the next run comes after the next wait (the
// interval), so a failing run is retried at the task's interval, never faster. A task that
// wants a back-off of its own (an outbox consumer) keeps it in its wait. Refusals of add() are
// TaskRefusal values.
//
// Metrics, registered in the service's http::Metrics by add() (<name> is the task's name):
//   cch_task_<name>_runs_total                       runs finished (failed ones included)
//   cch_task_<name>_failures_total                   runs and waits that threw
//   cch_task_<name>_overruns_total                   runs longer than run_duration_max
//   cch_task_<name>_last_run_duration_microseconds   the last finished run's duration (gauge)
//
// Lifetime: a task's run and wait may hold references to what the service owns (the pool, the
// metrics); stop() (or the destructor) joins the threads and then destroys the runs and waits,
// so whatever they hold is released before the owner of the BackgroundTasks destroys anything
// it was declared after. run_service() stops its tasks after the server has stopped and before
// the routes' state and the pool are destroyed.
//
// Thread safety: add(), start(), stop() and TaskHandle::wake() may be called from any thread. A
// task's run and wait are called from that task's thread only.

#include "cch/core/result.hpp"
#include "cch/http/metrics.hpp"

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace cch::runtime {

namespace detail {
struct TaskState;
}  // namespace detail

// What a task's run and wait see of their task.
class TaskControl {
 public:
  explicit TaskControl(detail::TaskState& state) : state_(state) {}
  TaskControl(const TaskControl&) = delete;
  TaskControl& operator=(const TaskControl&) = delete;

  [[nodiscard]] const std::string& name() const noexcept;
  [[nodiscard]] bool stop_requested() const noexcept;
  // Requested once, by stop(); a wait blocked elsewhere than in sleep_until() registers a
  // std::stop_callback on it.
  [[nodiscard]] std::stop_token stop_token() const noexcept;
  // Sleeps until `deadline`, a wake() of the task or stop; returns false if stop was requested.
  bool sleep_until(std::chrono::steady_clock::time_point deadline) const;

 private:
  detail::TaskState& state_;
};

struct TaskDefinition {
  // Unique among the tasks of a process, [a-z][a-z0-9_]{0,47}: in logs and metric names.
  std::string name;
  // The longest time between the end of one run and the start of the next (the default wait
  // sleeps exactly this long unless woken). At least 1 ms.
  std::chrono::milliseconds interval{1000};
  // A run taking longer is an overrun (logged and counted). At least 1 ms.
  std::chrono::milliseconds run_duration_max{60'000};
  // One run. Must not be empty.
  std::function<void(TaskControl&)> run;
  // Optional: replaces the sleep between runs (see the header comment). `due` is when the next
  // run is due at the latest; it must return promptly once control.stop_requested().
  std::function<void(TaskControl&, std::chrono::steady_clock::time_point due)> wait;
};

enum class TaskRefusal {
  invalid_name,        // not [a-z][a-z0-9_]{0,47}
  invalid_definition,  // no run, or an interval or run_duration_max under 1 ms
  name_taken,          // another task of this process has the name
  too_many_tasks,      // TaskLimits::tasks_max reached
  stopped,             // stop() was called
};
std::string_view to_string(TaskRefusal refusal);

struct TaskLimits {
  std::size_t tasks_max = 32;
  // stop() waits this long for every task to return; a task still running after it is logged
  // (task_stop_timeout) and stop() answers false.
  std::chrono::milliseconds stop_grace{5000};
  // How often the watchdog looks for runs that overrun.
  std::chrono::milliseconds watch_interval{100};
};

// A registered task; valid while its BackgroundTasks lives.
class TaskHandle {
 public:
  explicit TaskHandle(detail::TaskState* state) : state_(state) {}
  // Cuts the task's default sleep short: the next run starts at once (after the current run,
  // if one is in progress). A custom wait does not see it.
  void wake() const;
  [[nodiscard]] const std::string& name() const noexcept;

 private:
  detail::TaskState* state_;
};

class BackgroundTasks {
 public:
  explicit BackgroundTasks(http::Metrics& metrics, TaskLimits limits = {});
  ~BackgroundTasks();  // stop(), then joins whatever did not finish within the grace period
  BackgroundTasks(const BackgroundTasks&) = delete;
  BackgroundTasks& operator=(const BackgroundTasks&) = delete;

  // Registers a task; after start() it starts at once. Registers its metrics.
  Result<TaskHandle, TaskRefusal> add(TaskDefinition definition);
  // Starts the tasks added so far (their first run comes after their first wait). Idempotent.
  void start();
  // Requests stop, wakes every task and joins them within limits.stop_grace; then destroys the
  // joined tasks' runs and waits. Answers true when every task finished in time. Idempotent.
  bool stop();

  [[nodiscard]] std::size_t size() const;
  [[nodiscard]] const TaskLimits& limits() const noexcept { return limits_; }

 private:
  void launch(detail::TaskState& state);  // requires mutex_
  void watch();

  http::Metrics& metrics_;
  const TaskLimits limits_;
  std::stop_source stop_source_;
  mutable std::mutex mutex_;
  std::condition_variable finished_;                       // a task's thread returned
  std::condition_variable_any watch_wake_;                 // the watchdog's sleep (ends at stop)
  std::vector<std::unique_ptr<detail::TaskState>> tasks_;  // guarded by mutex_ (the vector)
  bool started_ = false;                                   // guarded by mutex_
  bool stopped_ = false;                                   // guarded by mutex_
  bool stopped_in_time_ = true;                            // guarded by mutex_
  std::thread watchdog_;
};

}  // namespace cch::runtime
