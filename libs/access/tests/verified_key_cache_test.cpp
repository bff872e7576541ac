#include "cch/access/api_key.hpp"

#include <chrono>
#include <cstddef>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace {

using cch::access::VerifiedKeyCache;
using namespace std::chrono_literals;

// An arbitrary fixed instant of the injected clock.
constexpr VerifiedKeyCache::Clock::time_point kStart = VerifiedKeyCache::Clock::time_point{} + 1000h;

}  // namespace

TEST(VerifiedKeyCache, RemembersAVerifiedSecretUntilItsTimeToLiveEnds) {
  VerifiedKeyCache cache(100, 5min);
  EXPECT_FALSE(cache.check("k1", "secret-one", kStart)) << "nothing remembered yet";
  cache.remember("k1", "secret-one", kStart);
  EXPECT_TRUE(cache.check("k1", "secret-one", kStart));
  EXPECT_TRUE(cache.check("k1", "secret-one", kStart + 5min - 1ns));
  EXPECT_EQ(cache.size(), 1U);
  EXPECT_FALSE(cache.check("k1", "secret-one", kStart + 5min)) << "expired: revocation takes effect";
  EXPECT_EQ(cache.size(), 0U) << "an expired entry is dropped when looked at";
  EXPECT_FALSE(cache.check("k1", "secret-one", kStart + 1min)) << "and stays dropped";
}

TEST(VerifiedKeyCache, DefaultsAreTenThousandEntriesForFiveMinutes) {
  EXPECT_EQ(VerifiedKeyCache::kMaxEntriesDefault, 10'000U);
  EXPECT_EQ(VerifiedKeyCache::kTimeToLiveDefault, 5min);
  VerifiedKeyCache cache;
  cache.remember("k1", "secret-one", kStart);
  EXPECT_TRUE(cache.check("k1", "secret-one", kStart + 299s));
  EXPECT_FALSE(cache.check("k1", "secret-one", kStart + 300s));
}

TEST(VerifiedKeyCache, AHitDoesNotExtendTheEntrysLife) {
  VerifiedKeyCache cache(100, 5min);
  cache.remember("k1", "secret-one", kStart);
  for (auto elapsed = 0min; elapsed < 5min; elapsed += 1min) {
    EXPECT_TRUE(cache.check("k1", "secret-one", kStart + elapsed));
  }
  EXPECT_FALSE(cache.check("k1", "secret-one", kStart + 5min));
}

TEST(VerifiedKeyCache, AWrongSecretMissesAndLeavesTheEntryAlone) {
  VerifiedKeyCache cache(100, 5min);
  cache.remember("k1", "secret-one", kStart);
  EXPECT_FALSE(cache.check("k1", "secret-two", kStart));
  EXPECT_FALSE(cache.check("k1", "", kStart));
  EXPECT_FALSE(cache.check("k1", "secret-on", kStart));
  EXPECT_FALSE(cache.check("k1", "secret-one ", kStart));
  EXPECT_FALSE(cache.check("k2", "secret-one", kStart)) << "the secret belongs to k1 only";
  EXPECT_TRUE(cache.check("k1", "secret-one", kStart)) << "a guess does not evict the real entry";
}

TEST(VerifiedKeyCache, ForgetTakesEffectAtOnce) {
  VerifiedKeyCache cache(100, 5min);
  cache.remember("k1", "secret-one", kStart);
  cache.remember("k2", "secret-two", kStart);
  cache.forget("k1");
  cache.forget("unknown");
  EXPECT_FALSE(cache.check("k1", "secret-one", kStart));
  EXPECT_TRUE(cache.check("k2", "secret-two", kStart));
  EXPECT_EQ(cache.size(), 1U);
}

TEST(VerifiedKeyCache, RememberAgainReplacesTheSecretAndRestartsTheTimeToLive) {
  VerifiedKeyCache cache(100, 5min);
  cache.remember("k1", "secret-one", kStart);
  cache.remember("k1", "secret-rotated", kStart + 4min);
  EXPECT_EQ(cache.size(), 1U);
  EXPECT_FALSE(cache.check("k1", "secret-one", kStart + 4min));
  EXPECT_TRUE(cache.check("k1", "secret-rotated", kStart + 4min + 5min - 1ns));
  EXPECT_FALSE(cache.check("k1", "secret-rotated", kStart + 4min + 5min));
}

TEST(VerifiedKeyCache, EvictsTheLeastRecentlyUsedEntryWhenFull) {
  VerifiedKeyCache cache(3, 5min);
  cache.remember("k1", "s1", kStart);
  cache.remember("k2", "s2", kStart);
  cache.remember("k3", "s3", kStart);
  EXPECT_TRUE(cache.check("k1", "s1", kStart));  // k2 is now the least recently used
  cache.remember("k4", "s4", kStart);
  EXPECT_EQ(cache.size(), 3U);
  EXPECT_FALSE(cache.check("k2", "s2", kStart));
  EXPECT_TRUE(cache.check("k1", "s1", kStart));
  EXPECT_TRUE(cache.check("k3", "s3", kStart));
  EXPECT_TRUE(cache.check("k4", "s4", kStart));

  for (int index = 0; index < 1000; ++index) {
    cache.remember("churn-" + std::to_string(index), "s", kStart);
    ASSERT_LE(cache.size(), 3U);
  }
}

TEST(VerifiedKeyCache, ConcurrentUseKeepsEachThreadsEntriesAndTheBound) {
  constexpr int kThreadCount = 4;
  constexpr int kKeysPerThread = 50;
  constexpr int kRounds = 20;
  VerifiedKeyCache cache(static_cast<std::size_t>(kThreadCount * kKeysPerThread), 5min);
  std::vector<int> failures(kThreadCount, 0);
  std::vector<std::thread> threads;
  threads.reserve(kThreadCount);
  for (int thread_index = 0; thread_index < kThreadCount; ++thread_index) {
    threads.emplace_back([&cache, &failures, thread_index] {
      for (int round = 0; round < kRounds; ++round) {
        for (int key = 0; key < kKeysPerThread; ++key) {
          const std::string key_id = "t" + std::to_string(thread_index) + "-k" + std::to_string(key);
          const std::string secret = "secret-" + std::to_string(round);
          cache.remember(key_id, secret, kStart);
          if (!cache.check(key_id, secret, kStart) || cache.check(key_id, "wrong", kStart)) {
            ++failures[static_cast<std::size_t>(thread_index)];
          }
          if (key % 2 == 1) {
            cache.forget(key_id);
            if (cache.check(key_id, secret, kStart)) {
              ++failures[static_cast<std::size_t>(thread_index)];
            }
          }
        }
      }
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  for (int thread_index = 0; thread_index < kThreadCount; ++thread_index) {
    EXPECT_EQ(failures[static_cast<std::size_t>(thread_index)], 0) << "thread " << thread_index;
  }
  // Room for every key, so nothing was evicted: the even keys remain, with the last secret.
  EXPECT_EQ(cache.size(), static_cast<std::size_t>(kThreadCount * kKeysPerThread / 2));
  EXPECT_TRUE(cache.check("t3-k48", "secret-19", kStart));
  EXPECT_FALSE(cache.check("t3-k49", "secret-19", kStart));
}
