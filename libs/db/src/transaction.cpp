#include "cch/db/transaction.hpp"

#include "cch/db/errors.hpp"

#include <algorithm>
#include <atomic>
#include <random>
#include <thread>

namespace cch::db {
namespace {
std::atomic<unsigned long long> g_serialization_failures{0};
std::atomic<unsigned long long> g_deadlocks{0};
std::atomic<unsigned long long> g_broken_connections{0};
}  // namespace

namespace detail {

void backoff_before(int attempt, const RetryPolicy& policy) {
  thread_local std::minstd_rand generator{std::random_device{}()};
  const int doublings = std::min(attempt - 2, 20);
  const long long ceiling_ms =
      std::min<long long>(policy.max_backoff.count(), policy.first_backoff.count() * (1LL << doublings));
  std::uniform_int_distribution<long long> pick(0, std::max<long long>(0, ceiling_ms));
  std::this_thread::sleep_for(std::chrono::milliseconds(pick(generator)));
}

void record_retry(RetryReason reason) noexcept {
  switch (reason) {
    case RetryReason::serialization_failure:
      g_serialization_failures.fetch_add(1, std::memory_order_relaxed);
      return;
    case RetryReason::deadlock:
      g_deadlocks.fetch_add(1, std::memory_order_relaxed);
      return;
    case RetryReason::broken_connection:
      g_broken_connections.fetch_add(1, std::memory_order_relaxed);
      return;
  }
}

}  // namespace detail

bool is_connection_lost(const pqxx::sql_error& error) {
  const std::string code = sqlstate(error);
  return code.starts_with("08") || code == "57P01" || code == "57P02" || code == "57P03" || code == "25006";
}

RetryCounters retry_counters() noexcept {
  return {g_serialization_failures.load(std::memory_order_relaxed), g_deadlocks.load(std::memory_order_relaxed),
          g_broken_connections.load(std::memory_order_relaxed)};
}

}  // namespace cch::db
