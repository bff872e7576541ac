#pragma once
// Waiting in tests without timing assumptions. Gate lets a test hold a handler inside the
// server until the test opens it; eventually() polls for a condition the server makes true
// asynchronously (a metric counted after the socket was closed, say). Every wait is bounded so
// that a broken test fails instead of hanging.
//
// Thread safety: all members may be called from any thread.

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace cch::http::testing {

class Gate {
 public:
  void open() {
    const std::lock_guard lock(mutex_);
    open_ = true;
    changed_.notify_all();
  }
  // False if the gate stayed shut for the whole timeout.
  bool wait(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [this] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool open_ = false;
};

// True as soon as condition() is; false if it stayed false for the whole timeout.
template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

}  // namespace cch::http::testing
