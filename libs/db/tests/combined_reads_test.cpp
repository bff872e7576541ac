#include "cch/db/combined_reads.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using cch::db::CombinedReadLimits;
using Reads = cch::db::CombinedReads<int, std::string>;

// Waits (bounded) until cond holds; the tests then assert on what they were waiting for.
template <class Condition>
bool eventually(Condition cond) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// A fetch whose first call holds until released, recording the size of every call.
struct GatedFetch {
  std::mutex mutex;
  std::vector<std::size_t> sizes;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> first{true};

  std::vector<std::optional<std::string>> operator()(std::span<const int> keys) {
    if (first.exchange(false)) released.wait();
    {
      const std::lock_guard lock(mutex);
      sizes.push_back(keys.size());
    }
    std::vector<std::optional<std::string>> values;
    for (const int key : keys) {
      if (key < 0) {
        values.emplace_back(std::nullopt);
      } else {
        values.emplace_back("row " + std::to_string(key));
      }
    }
    return values;
  }
};

}  // namespace

TEST(CombinedReads, AReadAloneRunsAtOnceAndAMissingRowIsNullopt) {
  GatedFetch fetch;
  fetch.first = false;
  Reads reads([&](std::span<const int> keys) { return fetch(keys); }, CombinedReadLimits{});
  EXPECT_EQ(reads.get(7), "row 7");
  EXPECT_EQ(reads.get(-1), std::nullopt);
  EXPECT_EQ(reads.fetch_count(), 2U);
  EXPECT_EQ(fetch.sizes, (std::vector<std::size_t>{1, 1}));
}

TEST(CombinedReads, ReadsAskedForWhileAFetchRunsShareTheNextFetchInBatchesOfAtMostBatchMax) {
  GatedFetch fetch;
  Reads reads([&](std::span<const int> keys) { return fetch(keys); },
              CombinedReadLimits{.batch_max = 4, .in_flight_max = 1});
  auto first = std::async(std::launch::async, [&] { return reads.get(0); });
  ASSERT_TRUE(eventually([&] { return reads.fetch_count() == 1; }));
  std::vector<std::future<std::optional<std::string>>> later;
  for (int key = 1; key <= 10; ++key) {
    later.push_back(std::async(std::launch::async, [&reads, key] { return reads.get(key); }));
  }
  ASSERT_TRUE(eventually([&] { return reads.waiting_count() == 10; }));
  fetch.release.set_value();
  EXPECT_EQ(first.get(), "row 0");
  for (std::size_t i = 0; i < later.size(); ++i) EXPECT_EQ(later[i].get(), "row " + std::to_string(i + 1));
  // One fetch at a time: the first alone, then the ten waiting keys in fetches of 4, 4 and 2.
  EXPECT_EQ(reads.fetch_count(), 4U);
  EXPECT_EQ(fetch.sizes, (std::vector<std::size_t>{1, 4, 4, 2}));
}

TEST(CombinedReads, AFailedFetchFailsOnlyTheReadsItCarried) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> calls{0};
  Reads reads(
      [&](std::span<const int> keys) -> std::vector<std::optional<std::string>> {
        if (calls.fetch_add(1) == 0) {
          released.wait();
          throw std::runtime_error("connection broke");
        }
        return std::vector<std::optional<std::string>>(keys.size(), std::string("fine"));
      },
      CombinedReadLimits{.batch_max = 64, .in_flight_max = 1});
  auto doomed = std::async(std::launch::async, [&] { return reads.get(1); });
  ASSERT_TRUE(eventually([&] { return reads.fetch_count() == 1; }));
  auto spared = std::async(std::launch::async, [&] { return reads.get(2); });
  ASSERT_TRUE(eventually([&] { return reads.waiting_count() == 1; }));
  release.set_value();
  EXPECT_THROW(doomed.get(), std::runtime_error);
  EXPECT_EQ(spared.get(), "fine");
}

TEST(CombinedReads, ManyThreadsEachGetTheirOwnRow) {
  GatedFetch fetch;
  fetch.first = false;
  Reads reads([&](std::span<const int> keys) { return fetch(keys); },
              CombinedReadLimits{.batch_max = 8, .in_flight_max = 2});
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        const int key = t * 1000 + i;
        if (reads.get(key) != "row " + std::to_string(key)) ++wrong;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
  std::size_t keys = 0;
  for (const std::size_t size : fetch.sizes) {
    EXPECT_LE(size, 8U);
    keys += size;
  }
  EXPECT_EQ(keys, 4000U);
}

TEST(CombinedReads, AnAsynchronousReadReturnsAtOnceAndIsAnsweredOnAFetchThread) {
  GatedFetch fetch;
  Reads reads([&](std::span<const int> keys) { return fetch(keys); },
              CombinedReadLimits{.batch_max = 64, .in_flight_max = 1});
  std::promise<std::pair<std::optional<std::string>, std::thread::id>> answered;
  reads.get_async(5, [&](std::optional<std::string> value, std::exception_ptr error) {
    EXPECT_FALSE(error);
    answered.set_value({std::move(value), std::this_thread::get_id()});
  });
  // get_async returned while the fetch is still held at its gate: it did not wait for it.
  ASSERT_TRUE(eventually([&] { return reads.fetch_count() == 1; }));
  auto answer = answered.get_future();
  EXPECT_EQ(answer.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
  fetch.release.set_value();
  const auto [value, thread] = answer.get();
  EXPECT_EQ(value, "row 5");
  EXPECT_NE(thread, std::this_thread::get_id());
}

TEST(CombinedReads, KeysBeyondPendingMaxAreRefusedAtOnceAndTheQueuedOnesStillAnswered) {
  GatedFetch fetch;
  Reads reads([&](std::span<const int> keys) { return fetch(keys); },
              CombinedReadLimits{.batch_max = 64, .in_flight_max = 1, .pending_max = 3});
  std::atomic<int> answered{0};
  std::atomic<int> full{0};
  const auto count = [&](std::optional<std::string> value, std::exception_ptr error) {
    if (!error) {
      if (value) ++answered;
      return;
    }
    try {
      std::rethrow_exception(error);
    } catch (const cch::db::CombinedReadsFull&) {
      ++full;
    } catch (...) {
    }
  };
  reads.get_async(0, count);  // taken by the fetch, which holds at its gate
  ASSERT_TRUE(eventually([&] { return reads.fetch_count() == 1; }));
  for (int key = 1; key <= 5; ++key) reads.get_async(key, count);
  EXPECT_EQ(reads.waiting_count(), 3U);
  EXPECT_EQ(full.load(), 2);  // refused on the caller's thread, before get_async returned
  fetch.release.set_value();
  ASSERT_TRUE(eventually([&] { return answered.load() == 4; }));
  EXPECT_EQ(full.load(), 2);
}

TEST(CombinedReads, KeysStillWaitingWhenTheReadsStopFailWithStopped) {
  GatedFetch fetch;
  std::atomic<int> stopped{0};
  std::optional<std::string> first;
  std::thread releaser;
  {
    Reads reads([&](std::span<const int> keys) { return fetch(keys); },
                CombinedReadLimits{.batch_max = 64, .in_flight_max = 1});
    reads.get_async(0, [&](std::optional<std::string> value, std::exception_ptr) { first = std::move(value); });
    ASSERT_TRUE(eventually([&] { return reads.fetch_count() == 1; }));
    for (int key = 1; key <= 3; ++key) {
      reads.get_async(key, [&](std::optional<std::string>, std::exception_ptr error) {
        try {
          if (error) std::rethrow_exception(error);
        } catch (const cch::db::CombinedReadsStopped&) {
          ++stopped;
        }
      });
    }
    // Released once the destructor below has begun (it marks the reads stopping before it waits;
    // 200 ms is far more than that takes).
    releaser = std::thread([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      fetch.release.set_value();
    });
  }  // the destructor waits for the running fetch, then fails the three keys behind it
  releaser.join();
  EXPECT_EQ(first, "row 0");
  EXPECT_EQ(stopped.load(), 3);
}
