#pragma once
// Concurrent point reads combined into one statement. Each caller asks for one key and blocks;
// keys asked for while earlier statements are running wait in a queue, and the next free caller
// takes up to `batch_max` of them into one fetch (one round trip, one wake-up of a PostgreSQL
// backend, one connection lease for all of them). At most `in_flight_max` fetches run at once.
// Under light load a read runs alone, at once; under heavy load reads share statements instead of
// queueing for connections.
//
// Freshness: a key joins only a fetch that has not started, so every read sees at least what was
// committed before it was asked for, exactly as if it had run its own statement.
//
// Failure: if a fetch throws, every caller whose key it carried gets the exception (an
// environmental failure: the pool timed out, the connection broke); nobody else is affected.
//
// Thread safety: get() may be called from any number of threads; fetch runs on a caller's thread,
// outside the lock.

#include <cassert>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <utility>
#include <vector>

namespace cch::db {

struct CombinedReadLimits {
  std::size_t batch_max = 64;     // keys in one fetch
  std::size_t in_flight_max = 2;  // fetches running at once
};

template <class Key, class Value>
class CombinedReads {
 public:
  // Returns one entry per key, in the keys' order; nullopt: no such row.
  using Fetch = std::function<std::vector<std::optional<Value>>(std::span<const Key>)>;

  CombinedReads(Fetch fetch, CombinedReadLimits limits) : fetch_(std::move(fetch)), limits_(limits) {
    assert(limits_.batch_max >= 1 && limits_.in_flight_max >= 1);
  }

  std::optional<Value> get(const Key& key) {
    Waiter me;
    me.key = key;
    std::unique_lock lock(mutex_);
    pending_.push_back(&me);
    while (!me.done) {
      if (in_flight_ < limits_.in_flight_max && !pending_.empty()) {
        lead(lock);
      } else {
        wake_.wait(lock);
      }
    }
    if (me.error) std::rethrow_exception(me.error);
    return std::move(me.value);
  }

  // Fetches run so far, and keys waiting for a fetch to take them (for tests and metrics).
  std::size_t fetch_count() const {
    const std::lock_guard lock(mutex_);
    return fetches_;
  }
  std::size_t waiting_count() const {
    const std::lock_guard lock(mutex_);
    return pending_.size();
  }

 private:
  struct Waiter {
    Key key;
    std::optional<Value> value;
    std::exception_ptr error;
    bool done = false;
  };

  // Called with the lock held; runs one fetch for the oldest waiting keys without it.
  void lead(std::unique_lock<std::mutex>& lock) {
    std::vector<Waiter*> batch;
    while (!pending_.empty() && batch.size() < limits_.batch_max) {
      batch.push_back(pending_.front());
      pending_.pop_front();
    }
    ++in_flight_;
    ++fetches_;
    lock.unlock();
    std::vector<Key> keys;
    keys.reserve(batch.size());
    for (const Waiter* waiter : batch) keys.push_back(waiter->key);
    std::vector<std::optional<Value>> values;
    std::exception_ptr error;
    try {
      values = fetch_(keys);
      assert(values.size() == keys.size() && "a fetch returns one entry per key");
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (error) {
        batch[i]->error = error;
      } else {
        batch[i]->value = std::move(values[i]);
      }
      batch[i]->done = true;
    }
    --in_flight_;
    wake_.notify_all();
  }

  const Fetch fetch_;
  const CombinedReadLimits limits_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Waiter*> pending_;  // guarded by mutex_
  std::size_t in_flight_ = 0;    // guarded by mutex_
  std::size_t fetches_ = 0;      // guarded by mutex_
};

}  // namespace cch::db
