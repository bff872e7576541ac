#include "cch/access/rate_limit.hpp"

#include <algorithm>
#include <cassert>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace cch::access {

namespace {

using Clock = RateLimiter::Clock;

constexpr double kNanosecondsPerSecond = 1e9;
constexpr double kMillisecondsPerSecond = 1e3;
constexpr double kRetryAfterMillisecondsMax = 1e12;  // about 31 years: keeps the cast defined

[[maybe_unused]] bool is_valid(RateLimit limit) {
  return std::isfinite(limit.tokens_per_second) && std::isfinite(limit.burst) && limit.tokens_per_second > 0 &&
         limit.burst >= 1;
}

struct Bucket {
  std::string principal;
  RateLimit limit;
  double tokens;
  Clock::time_point refilled_at;  // the latest instant seen for this bucket
};

// The tokens the bucket would hold at `now`, without changing it.
double tokens_at(const Bucket& bucket, Clock::time_point now) {
  if (now <= bucket.refilled_at || bucket.tokens >= bucket.limit.burst) {
    return bucket.tokens;
  }
  const auto elapsed = std::chrono::duration_cast<std::chrono::nanoseconds>(now - bucket.refilled_at);
  const double gained = static_cast<double>(elapsed.count()) * bucket.limit.tokens_per_second / kNanosecondsPerSecond;
  return std::min(bucket.limit.burst, bucket.tokens + gained);
}

void refill(Bucket& bucket, Clock::time_point now) {
  bucket.tokens = tokens_at(bucket, now);
  bucket.refilled_at = std::max(bucket.refilled_at, now);
}

void apply_limit(Bucket& bucket, RateLimit limit) {
  bucket.limit = limit;
  bucket.tokens = std::min(bucket.tokens, limit.burst);
}

std::chrono::milliseconds time_until(const Bucket& bucket, double cost) {
  const double missing_tokens = cost - bucket.tokens;
  const double wait_milliseconds = std::ceil(missing_tokens * kMillisecondsPerSecond / bucket.limit.tokens_per_second);
  return std::chrono::milliseconds(
      static_cast<std::int64_t>(std::clamp(wait_milliseconds, 1.0, kRetryAfterMillisecondsMax)));
}

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const noexcept { return std::hash<std::string_view>{}(text); }
};

}  // namespace

struct RateLimiter::Shard {
  using BucketList = std::list<Bucket>;

  std::mutex mutex;
  std::size_t capacity = 0;  // set by the constructor before any use, then constant
  BucketList buckets;        // guarded by mutex: most recently used first
  // guarded by mutex: principal -> its bucket; the key views the bucket's own principal (list
  // nodes never move), erased before the bucket.
  std::unordered_map<std::string_view, BucketList::iterator> index;
  std::unordered_map<std::string, RateLimit, StringHash, std::equal_to<>> limits;  // guarded by mutex

  // Requires mutex held.
  Bucket* find(std::string_view principal) {
    const auto found = index.find(principal);
    return found == index.end() ? nullptr : &*found->second;
  }

  // Requires mutex held. The principal's bucket, moved to the front; a new full one if absent.
  Bucket& find_or_add(std::string_view principal, Clock::time_point now, RateLimit default_limit) {
    if (const auto found = index.find(principal); found != index.end()) {
      buckets.splice(buckets.begin(), buckets, found->second);
      return buckets.front();
    }
    if (buckets.size() >= capacity) {
      evict_one(now);
    }
    const auto own_limit = limits.find(principal);
    const RateLimit limit = own_limit == limits.end() ? default_limit : own_limit->second;
    buckets.push_front(Bucket{std::string(principal), limit, limit.burst, now});
    index.emplace(buckets.front().principal, buckets.begin());
    return buckets.front();
  }

  // Requires mutex held and at least one bucket. Evicts the least recently used bucket that
  // would be full at `now` among the last kEvictionScanLength, else the least recently used.
  void evict_one(Clock::time_point now) {
    assert(!buckets.empty());
    BucketList::iterator victim = std::prev(buckets.end());
    BucketList::iterator candidate = victim;
    for (std::size_t scanned = 0; scanned < kEvictionScanLength; ++scanned) {
      if (tokens_at(*candidate, now) >= candidate->limit.burst) {
        victim = candidate;
        break;
      }
      if (candidate == buckets.begin()) {
        break;
      }
      --candidate;
    }
    index.erase(victim->principal);
    buckets.erase(victim);
  }
};

std::chrono::seconds retry_after_header_seconds(std::chrono::milliseconds retry_after) {
  return std::max(std::chrono::seconds(1), std::chrono::ceil<std::chrono::seconds>(retry_after));
}

RateLimiter::RateLimiter(RateLimit default_limit, std::size_t max_principals, std::size_t shard_count)
    : default_limit_(default_limit), shard_count_(shard_count), shards_(std::make_unique<Shard[]>(shard_count)) {
  assert(is_valid(default_limit) && "RateLimit needs tokens_per_second > 0 and burst >= 1");
  assert(shard_count >= 1 && shard_count <= max_principals && "every shard needs room for a bucket");
  const std::size_t base_capacity = max_principals / shard_count;
  const std::size_t larger_shards = max_principals % shard_count;
  for (std::size_t index = 0; index < shard_count; ++index) {
    shards_[index].capacity = base_capacity + (index < larger_shards ? 1 : 0);
  }
}

RateLimiter::~RateLimiter() = default;

RateLimiter::Shard& RateLimiter::shard_for(std::string_view principal) const {
  // The shard maps hash again with the same function; libstdc++'s prime bucket counts keep the
  // keys of one shard (equal modulo shard_count_) spread over its buckets.
  return shards_[std::hash<std::string_view>{}(principal) % shard_count_];
}

RateLimiter::Decision RateLimiter::try_acquire(std::string_view principal, Clock::time_point now, double cost) {
  assert(cost > 0 && "a request costs something");
  Shard& shard = shard_for(principal);
  const std::lock_guard lock(shard.mutex);
  Bucket& bucket = shard.find_or_add(principal, now, default_limit_);
  assert(cost <= bucket.limit.burst && "a cost above the burst could never be paid");
  refill(bucket, now);
  if (bucket.tokens >= cost) {
    bucket.tokens -= cost;
    return Decision{true, std::chrono::milliseconds::zero()};
  }
  return Decision{false, time_until(bucket, cost)};
}

RateLimiter::Decision RateLimiter::check(std::string_view principal, Clock::time_point now, double cost) {
  assert(cost > 0 && "a request costs something");
  Shard& shard = shard_for(principal);
  const std::lock_guard lock(shard.mutex);
  Bucket* bucket = shard.find(principal);
  if (bucket == nullptr) return Decision{true, std::chrono::milliseconds::zero()};  // a fresh bucket is full
  refill(*bucket, now);
  if (bucket->tokens >= cost) return Decision{true, std::chrono::milliseconds::zero()};
  return Decision{false, time_until(*bucket, cost)};
}

void RateLimiter::set_limit(std::string_view principal, RateLimit limit) {
  assert(is_valid(limit) && "RateLimit needs tokens_per_second > 0 and burst >= 1");
  Shard& shard = shard_for(principal);
  const std::lock_guard lock(shard.mutex);
  shard.limits.insert_or_assign(std::string(principal), limit);
  if (Bucket* bucket = shard.find(principal)) {
    apply_limit(*bucket, limit);
  }
}

void RateLimiter::clear_limit(std::string_view principal) {
  Shard& shard = shard_for(principal);
  const std::lock_guard lock(shard.mutex);
  if (const auto found = shard.limits.find(principal); found != shard.limits.end()) {
    shard.limits.erase(found);
  }
  if (Bucket* bucket = shard.find(principal)) {
    apply_limit(*bucket, default_limit_);
  }
}

std::size_t RateLimiter::principal_count() const {
  std::size_t count = 0;
  for (std::size_t index = 0; index < shard_count_; ++index) {
    const std::lock_guard lock(shards_[index].mutex);
    count += shards_[index].buckets.size();
  }
  return count;
}

}  // namespace cch::access
