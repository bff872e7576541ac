#include "cch/runtime/tasks.hpp"

#include "cch/core/log.hpp"

#include <algorithm>
#include <cassert>

namespace cch::runtime {
namespace detail {

// One task: its definition, its thread and what its thread, the watchdog and wake() share.
struct TaskState {
  TaskDefinition definition;  // run and wait are reset once the thread has been joined
  std::stop_token stop;
  http::Counter* runs = nullptr;
  http::Counter* failures = nullptr;
  http::Counter* overruns = nullptr;
  http::Gauge* last_run_duration_microseconds = nullptr;

  std::mutex mutex;
  std::condition_variable_any wake;
  bool wake_requested = false;                        // guarded by mutex
  bool running = false;                               // guarded by mutex: a run is in progress
  std::chrono::steady_clock::time_point run_started;  // guarded by mutex
  bool overrun_counted = false;                       // guarded by mutex: for the run in progress

  // Guarded by BackgroundTasks::mutex_.
  std::thread thread;
  bool launched = false;
  bool finished = false;
};

}  // namespace detail

namespace {

using Clock = std::chrono::steady_clock;
using detail::TaskState;

bool is_valid_task_name(std::string_view name) {
  if (name.empty() || name.size() > 48 || name[0] < 'a' || name[0] > 'z') return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

std::int64_t milliseconds_of(Clock::duration duration) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(duration).count();
}

// Counts an overrun of the run in progress once; the caller holds state.mutex.
void count_overrun(TaskState& state, Clock::duration elapsed, bool still_running) {
  if (state.overrun_counted) return;
  state.overrun_counted = true;
  state.overruns->increment();
  log::warn("task_run_overrun", {{"task", state.definition.name},
                                 {"elapsed_ms", milliseconds_of(elapsed)},
                                 {"run_duration_max_ms", state.definition.run_duration_max.count()},
                                 {"still_running", still_running}});
}

void run_once(TaskState& state, TaskControl& control) {
  {
    const std::lock_guard lock(state.mutex);
    state.running = true;
    state.overrun_counted = false;
    state.run_started = Clock::now();
  }
  const auto started = Clock::now();
  bool failed = false;
  try {
    state.definition.run(control);
  } catch (const std::exception& error) {
    failed = true;
    log::warn("task_run_failed", {{"task", state.definition.name}, {"what", error.what()}});
  }
  const auto elapsed = Clock::now() - started;
  bool overran = false;
  {
    const std::lock_guard lock(state.mutex);
    state.running = false;
    overran = state.overrun_counted;
    if (elapsed > state.definition.run_duration_max) count_overrun(state, elapsed, false);
  }
  if (overran) {
    log::warn("task_run_overrun_ended", {{"task", state.definition.name}, {"elapsed_ms", milliseconds_of(elapsed)}});
  }
  state.runs->increment();
  if (failed) state.failures->increment();
  state.last_run_duration_microseconds->set(std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count());
}

void wait_once(TaskState& state, TaskControl& control, Clock::time_point due) {
  try {
    if (state.definition.wait) {
      state.definition.wait(control, due);
    } else {
      control.sleep_until(due);
    }
  } catch (const std::exception& error) {
    state.failures->increment();
    log::warn("task_wait_failed", {{"task", state.definition.name}, {"what", error.what()}});
    control.sleep_until(Clock::now() + state.definition.interval);  // never faster than the interval
  }
}

void task_main(TaskState& state) {
  TaskControl control(state);
  log::debug("task_started", {{"task", state.definition.name}});
  Clock::time_point due = Clock::now() + state.definition.interval;
  while (!state.stop.stop_requested()) {
    wait_once(state, control, due);
    if (state.stop.stop_requested()) break;
    run_once(state, control);
    due = Clock::now() + state.definition.interval;
  }
  log::debug("task_stopped", {{"task", state.definition.name}});
}

}  // namespace

const std::string& TaskControl::name() const noexcept { return state_.definition.name; }

bool TaskControl::stop_requested() const noexcept { return state_.stop.stop_requested(); }

std::stop_token TaskControl::stop_token() const noexcept { return state_.stop; }

bool TaskControl::sleep_until(std::chrono::steady_clock::time_point deadline) const {
  std::unique_lock lock(state_.mutex);
  state_.wake.wait_until(lock, state_.stop, deadline, [this] { return state_.wake_requested; });
  state_.wake_requested = false;
  return !state_.stop.stop_requested();
}

void TaskHandle::wake() const {
  {
    const std::lock_guard lock(state_->mutex);
    state_->wake_requested = true;
  }
  state_->wake.notify_all();
}

const std::string& TaskHandle::name() const noexcept { return state_->definition.name; }

std::string_view to_string(TaskRefusal refusal) {
  switch (refusal) {
    case TaskRefusal::invalid_name: return "invalid_name";
    case TaskRefusal::invalid_definition: return "invalid_definition";
    case TaskRefusal::name_taken: return "name_taken";
    case TaskRefusal::too_many_tasks: return "too_many_tasks";
    case TaskRefusal::stopped: return "stopped";
  }
  return "unknown";
}

BackgroundTasks::BackgroundTasks(http::Metrics& metrics, TaskLimits limits) : metrics_(metrics), limits_(limits) {
  assert(limits_.tasks_max > 0 && limits_.watch_interval.count() > 0);
}

BackgroundTasks::~BackgroundTasks() {
  stop();
  // A task that outlived the grace period is waited for now: what it uses is destroyed next.
  for (auto& state : tasks_) {
    if (state->thread.joinable()) state->thread.join();
    state->definition.run = nullptr;
    state->definition.wait = nullptr;
  }
}

Result<TaskHandle, TaskRefusal> BackgroundTasks::add(TaskDefinition definition) {
  if (!is_valid_task_name(definition.name)) return fail(TaskRefusal::invalid_name);
  if (!definition.run || definition.interval.count() < 1 || definition.run_duration_max.count() < 1) {
    return fail(TaskRefusal::invalid_definition);
  }
  const std::lock_guard lock(mutex_);
  if (stopped_) return fail(TaskRefusal::stopped);
  if (tasks_.size() >= limits_.tasks_max) return fail(TaskRefusal::too_many_tasks);
  for (const auto& state : tasks_) {
    if (state->definition.name == definition.name) return fail(TaskRefusal::name_taken);
  }
  auto state = std::make_unique<TaskState>();
  const std::string prefix = "cch_task_" + definition.name;
  state->runs = &metrics_.counter(prefix + "_runs_total", "Runs of the background task " + definition.name + ".");
  state->failures = &metrics_.counter(prefix + "_failures_total",
                                      "Runs (or waits) of the background task " + definition.name + " that failed.");
  state->overruns = &metrics_.counter(prefix + "_overruns_total", "Runs of the background task " + definition.name +
                                                                      " longer than its run_duration_max.");
  state->last_run_duration_microseconds =
      &metrics_.gauge(prefix + "_last_run_duration_microseconds",
                      "Duration of the last finished run of the background task " + definition.name + ".");
  state->definition = std::move(definition);
  state->stop = stop_source_.get_token();
  TaskState& added = *state;
  tasks_.push_back(std::move(state));
  if (started_) launch(added);
  return TaskHandle(&added);
}

void BackgroundTasks::launch(TaskState& state) {
  state.launched = true;
  state.thread = std::thread([this, &state] {
    task_main(state);
    {
      const std::lock_guard lock(mutex_);
      state.finished = true;
    }
    finished_.notify_all();
  });
}

void BackgroundTasks::start() {
  const std::lock_guard lock(mutex_);
  if (started_ || stopped_) return;
  started_ = true;
  for (auto& state : tasks_) launch(*state);
  watchdog_ = std::thread([this] { watch(); });
}

void BackgroundTasks::watch() {
  const std::stop_token stop = stop_source_.get_token();
  std::unique_lock lock(mutex_);
  while (!watch_wake_.wait_for(lock, stop, limits_.watch_interval, [] { return false; }) && !stop.stop_requested()) {
    const auto now = Clock::now();
    for (auto& state : tasks_) {
      const std::lock_guard task_lock(state->mutex);
      if (state->running && now - state->run_started > state->definition.run_duration_max) {
        count_overrun(*state, now - state->run_started, true);
      }
    }
  }
}

bool BackgroundTasks::stop() {
  {
    const std::lock_guard lock(mutex_);
    if (stopped_) return stopped_in_time_;
    stopped_ = true;
  }
  stop_source_.request_stop();  // wakes every sleep_until() and every wait's stop_callback
  if (watchdog_.joinable()) watchdog_.join();
  const auto deadline = Clock::now() + limits_.stop_grace;
  std::vector<TaskState*> joinable;
  std::unique_lock lock(mutex_);
  const auto all_finished = [this] {
    return std::all_of(tasks_.begin(), tasks_.end(), [](const auto& state) { return !state->launched || state->finished; });
  };
  finished_.wait_until(lock, deadline, all_finished);
  for (auto& state : tasks_) {
    if (!state->launched || state->finished) {
      joinable.push_back(state.get());
    } else {
      stopped_in_time_ = false;
      log::error("task_stop_timeout", {{"task", state->definition.name}, {"stop_grace_ms", limits_.stop_grace.count()}});
    }
  }
  const bool in_time = stopped_in_time_;
  lock.unlock();
  for (TaskState* state : joinable) {
    if (state->thread.joinable()) state->thread.join();
    state->definition.run = nullptr;  // releases what the task held
    state->definition.wait = nullptr;
  }
  return in_time;
}

std::size_t BackgroundTasks::size() const {
  const std::lock_guard lock(mutex_);
  return tasks_.size();
}

}  // namespace cch::runtime
