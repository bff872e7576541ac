#pragma once
// Per-principal rate limits: one token bucket per principal (a member, an API key, a user).
//
// Contract:
//   - A bucket holds at most `burst` tokens and gains `tokens_per_second` tokens per second of
//     elapsed time. A principal's first request finds its bucket full. try_acquire takes `cost`
//     tokens (1 per request by default) when the bucket holds that many, and otherwise refuses
//     and takes nothing. Over any interval of length t a principal is allowed at most
//     burst + tokens_per_second * t tokens' worth of requests.
//   - A refusal carries retry_after: the time until the bucket will hold `cost` tokens,
//     rounded up to the next millisecond (so at least 1 ms); an allowed request carries zero.
//     For an HTTP Retry-After header (whole seconds) use retry_after_header_seconds, which
//     rounds up again and answers at least 1 s: a client that waits that long is not refused
//     for lack of tokens (unless others spend them: buckets are per principal, not per client).
//   - Time is passed in (`now`, a steady_clock instant) so tests drive it. An instant earlier
//     than one already seen for the bucket (threads read the clock before taking the lock, so
//     they can arrive out of order) adds no tokens and never takes time back.
//   - Each principal uses the default limit unless set_limit gave it its own. Changing a limit
//     takes effect on the next request: the bucket keeps its tokens, capped at the new burst.
//     Limits set with set_limit are configuration: they are kept until clear_limit, whether or
//     not the principal has a bucket, and are not counted in max_principals.
//   - Bounded memory: at most max_principals buckets, split evenly over the shards (a shard
//     holds max_principals / shard_count of them, the first few one more). When a new
//     principal arrives at a full shard, the shard evicts its least recently used idle bucket:
//     one that would be full at `now`. A full bucket behaves exactly like the fresh one the
//     principal would get next time, so evicting it changes no decision. Only the 8 least
//     recently used buckets are looked at (the work per request stays constant); if none of
//     them is idle, the least recently used one is evicted anyway, and that principal may get
//     up to one extra burst. That happens only if more than max_principals principals were
//     active within one refill time (burst / tokens_per_second): size max_principals above that.
//   - Floating point: tokens are doubles. With rates, bursts and costs that are whole numbers
//     and time in whole milliseconds the arithmetic is exact (refill is computed from integer
//     nanoseconds as nanoseconds * rate / 1e9).
//
// Thread safety: every member function may be called from any number of threads at once.
// Buckets are sharded by a hash of the principal (16 shards by default), each shard with its
// own mutex held for one map lookup and a few arithmetic operations, so principals on
// different shards never wait for each other.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string_view>

namespace cch::access {

struct RateLimit {
  double tokens_per_second;  // > 0, finite
  double burst;              // >= 1, finite: the bucket's size and a new principal's allowance
};

// Whole seconds for an HTTP Retry-After header: retry_after rounded up, at least 1 s.
std::chrono::seconds retry_after_header_seconds(std::chrono::milliseconds retry_after);

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::size_t kShardCountDefault = 16;
  static constexpr std::size_t kEvictionScanLength = 8;

  struct Decision {
    bool allowed;
    std::chrono::milliseconds retry_after;  // zero when allowed; at least 1 ms when refused
  };

  // Preconditions: default_limit is valid (see RateLimit), 1 <= shard_count <= max_principals.
  RateLimiter(RateLimit default_limit, std::size_t max_principals, std::size_t shard_count = kShardCountDefault);

  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;
  ~RateLimiter();

  // Takes `cost` tokens from principal's bucket if it holds them at `now`.
  // Precondition: 0 < cost <= the principal's burst (a larger cost could never be paid).
  [[nodiscard]] Decision try_acquire(std::string_view principal, Clock::time_point now, double cost = 1);

  // What try_acquire would decide, without taking tokens or creating a bucket (a principal
  // without a bucket would find it full). Used to throttle before costly work whose outcome
  // decides whether tokens are spent (failed authentication attempts).
  [[nodiscard]] Decision check(std::string_view principal, Clock::time_point now, double cost = 1);

  // Gives principal its own limit (replacing any earlier one). Precondition: limit is valid.
  void set_limit(std::string_view principal, RateLimit limit);
  // Returns principal to the default limit.
  void clear_limit(std::string_view principal);

  // Buckets held now, across all shards; never above max_principals.
  [[nodiscard]] std::size_t principal_count() const;

 private:
  struct Shard;

  [[nodiscard]] Shard& shard_for(std::string_view principal) const;

  const RateLimit default_limit_;
  const std::size_t shard_count_;
  std::unique_ptr<Shard[]> shards_;  // shard_count_ shards, each with its own mutex
};

}  // namespace cch::access
