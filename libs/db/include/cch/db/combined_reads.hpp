#pragma once
// Concurrent point reads combined into one statement. Callers ask for one key each; keys asked
// for while earlier statements run wait in a queue, and the next free fetch thread takes up to
// `batch_max` of them into one fetch (one round trip, one wake-up of a PostgreSQL backend, one
// connection lease for all of them). `in_flight_max` fetch threads run fetches, so at most that
// many run at once. Under light load a read runs alone, at once; under heavy load reads share
// statements instead of queueing for connections.
//
// Two ways to ask: get_async() never blocks (an event loop's thread may call it) and calls back
// on a fetch thread; get() blocks its caller until the value is there.
//
// Freshness: a key joins only a fetch that has not started, so every read sees at least what was
// committed before it was asked for, exactly as if it had run its own statement.
//
// Failure: if a fetch throws, every caller whose key it carried gets the exception (an
// environmental failure: the pool timed out, the connection broke); nobody else is affected. At
// most `pending_max` keys wait; a key beyond that fails at once with CombinedReadsFull, and keys
// still waiting when the object is destroyed fail with CombinedReadsStopped.
//
// Thread safety: get() and get_async() may be called from any number of threads. The fetch and
// every callback run on the fetch threads, outside the lock; a callback must not throw and must
// not wait for another read of the same object. Destroying the object waits for running fetches.

#include <cassert>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

namespace cch::db {

struct CombinedReadLimits {
  std::size_t batch_max = 64;      // keys in one fetch
  std::size_t in_flight_max = 2;   // fetch threads, so fetches running at once
  std::size_t pending_max = 4096;  // keys waiting for a fetch
};

// More than pending_max keys were waiting: the caller is told at once instead of queueing.
class CombinedReadsFull : public std::runtime_error {
 public:
  CombinedReadsFull() : std::runtime_error("too many reads are waiting for a combined statement") {}
};

// The reads were being shut down before this key's fetch started.
class CombinedReadsStopped : public std::runtime_error {
 public:
  CombinedReadsStopped() : std::runtime_error("combined reads are stopping") {}
};

template <class Key, class Value>
class CombinedReads {
 public:
  // Returns one entry per key, in the keys' order; nullopt: no such row.
  using Fetch = std::function<std::vector<std::optional<Value>>(std::span<const Key>)>;
  // The outcome of one read: the value (nullopt: no such row), or the fetch's exception.
  using Done = std::function<void(std::optional<Value> value, std::exception_ptr error)>;

  CombinedReads(Fetch fetch, CombinedReadLimits limits) : fetch_(std::move(fetch)), limits_(limits) {
    assert(limits_.batch_max >= 1 && limits_.in_flight_max >= 1 && limits_.pending_max >= 1);
    threads_.reserve(limits_.in_flight_max);
    for (std::size_t i = 0; i < limits_.in_flight_max; ++i) threads_.emplace_back([this] { run(); });
  }

  ~CombinedReads() {
    {
      const std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& thread : threads_) thread.join();
    for (Waiting& waiting : pending_) finish(waiting.done, std::nullopt, std::make_exception_ptr(CombinedReadsStopped()));
  }

  CombinedReads(const CombinedReads&) = delete;
  CombinedReads& operator=(const CombinedReads&) = delete;

  // Queues the key and returns at once; done is called exactly once, on a fetch thread (or on this
  // thread, before returning, when the queue is full or stopping).
  void get_async(const Key& key, Done done) {
    std::exception_ptr refused;
    {
      const std::lock_guard lock(mutex_);
      if (stopping_) {
        refused = std::make_exception_ptr(CombinedReadsStopped());
      } else if (pending_.size() >= limits_.pending_max) {
        refused = std::make_exception_ptr(CombinedReadsFull());
      } else {
        pending_.push_back(Waiting{key, std::move(done)});
      }
    }
    if (refused) {
      finish(done, std::nullopt, refused);
      return;
    }
    wake_.notify_one();
  }

  // Blocks until the key's fetch has run; rethrows its exception.
  std::optional<Value> get(const Key& key) {
    std::promise<std::optional<Value>> promise;
    auto future = promise.get_future();
    get_async(key, [&promise](std::optional<Value> value, std::exception_ptr error) {
      if (error) {
        promise.set_exception(error);
      } else {
        promise.set_value(std::move(value));
      }
    });
    return future.get();
  }

  // Fetches started so far, and keys waiting for a fetch to take them (for tests and metrics).
  std::size_t fetch_count() const {
    const std::lock_guard lock(mutex_);
    return fetches_;
  }
  std::size_t waiting_count() const {
    const std::lock_guard lock(mutex_);
    return pending_.size();
  }

 private:
  struct Waiting {
    Key key;
    Done done;
  };

  static void finish(const Done& done, std::optional<Value> value, std::exception_ptr error) noexcept {
    done(std::move(value), std::move(error));  // noexcept: a callback that throws is a bug
  }

  // A fetch thread: takes the oldest waiting keys, fetches them outside the lock, calls back.
  void run() {
    std::vector<Waiting> batch;
    std::vector<Key> keys;
    std::unique_lock lock(mutex_);
    for (;;) {
      wake_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
      if (stopping_) return;
      batch.clear();
      while (!pending_.empty() && batch.size() < limits_.batch_max) {
        batch.push_back(std::move(pending_.front()));
        pending_.pop_front();
      }
      ++fetches_;
      lock.unlock();
      keys.clear();
      for (const Waiting& waiting : batch) keys.push_back(waiting.key);
      std::vector<std::optional<Value>> values;
      std::exception_ptr error;
      try {
        values = fetch_(keys);
        assert(values.size() == keys.size() && "a fetch returns one entry per key");
      } catch (...) {
        error = std::current_exception();
      }
      for (std::size_t i = 0; i < batch.size(); ++i) {
        finish(batch[i].done, error ? std::nullopt : std::move(values[i]), error);
      }
      batch.clear();  // the callbacks' captures go before the next wait
      lock.lock();
    }
  }

  const Fetch fetch_;
  const CombinedReadLimits limits_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Waiting> pending_;  // guarded by mutex_
  std::size_t fetches_ = 0;      // guarded by mutex_
  bool stopping_ = false;        // guarded by mutex_
  std::vector<std::thread> threads_;
};

}  // namespace cch::db
