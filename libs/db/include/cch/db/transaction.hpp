#pragma once
// One unit of work in one PostgreSQL transaction, retried whole on a transient conflict.
//
//   auto id = cch::db::run_transaction(pool, cch::db::Isolation::serializable, policy,
//                                      [&](pqxx::transaction_base& tx) { ...; return id; });
//
// `work` runs inside a fresh transaction and must not commit; run_transaction commits after it
// returns. On a serialization failure (SQLSTATE 40001), a deadlock (40P01) or a connection that
// broke before COMMIT was sent, the transaction is rolled back and `work` runs again from the
// start on a fresh transaction, up to policy.max_attempts times with jittered exponential
// backoff; then RetriesExhausted is thrown. `work` must therefore have no effects outside the
// transaction (or effects that are safe to repeat).
//
// If the connection breaks while COMMIT is in flight, nobody knows whether the transaction
// committed: CommitOutcomeUnknown is thrown and the work is NOT retried. The caller must
// reconcile (look for the effect by its idempotency key), never blindly retry.
//
// Any other exception (a constraint violation, a bug) propagates unchanged after rollback.
// Thread safety: safe to call concurrently; each call leases its own connection.

#include "cch/db/pool.hpp"

#include <pqxx/except>
#include <pqxx/transaction>

#include <chrono>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace cch::db {

enum class Isolation { read_committed, repeatable_read, serializable };

struct RetryPolicy {
  int max_attempts = 5;
  std::chrono::milliseconds first_backoff{2};
  std::chrono::milliseconds max_backoff{200};
};

class CommitOutcomeUnknown : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class RetriesExhausted : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class RetryReason { serialization_failure, deadlock, broken_connection };

namespace detail {
// Sleeps before attempt `attempt` (2, 3, ...): random in [0, min(max, first * 2^(attempt-2))].
void backoff_before(int attempt, const RetryPolicy& policy);
// Counts retries per reason for metrics and tests.
void record_retry(RetryReason reason) noexcept;
}  // namespace detail

// Attempts the caller has seen retried since start, per reason (for /metrics).
struct RetryCounters {
  unsigned long long serialization_failures;
  unsigned long long deadlocks;
  unsigned long long broken_connections;
};
RetryCounters retry_counters() noexcept;

template <pqxx::isolation_level Level, class Work>
auto run_transaction_at(ConnectionPool& pool, const RetryPolicy& policy, Work&& work)
    -> std::invoke_result_t<Work&, pqxx::transaction_base&> {
  using Value = std::invoke_result_t<Work&, pqxx::transaction_base&>;
  std::string last_error;
  for (int attempt = 1; attempt <= policy.max_attempts; ++attempt) {
    if (attempt > 1) {
      detail::backoff_before(attempt, policy);
    }
    ConnectionPool::Lease lease = pool.acquire();
    try {
      pqxx::transaction<Level> tx(*lease);
      if constexpr (std::is_void_v<Value>) {
        work(static_cast<pqxx::transaction_base&>(tx));
        tx.commit();
        return;
      } else {
        Value value = work(static_cast<pqxx::transaction_base&>(tx));
        tx.commit();
        return value;
      }
    } catch (const pqxx::in_doubt_error& error) {
      lease.discard();
      throw CommitOutcomeUnknown(std::string("commit outcome unknown: ") + error.what());
    } catch (const pqxx::serialization_failure& error) {
      detail::record_retry(RetryReason::serialization_failure);
      last_error = error.what();
    } catch (const pqxx::deadlock_detected& error) {
      detail::record_retry(RetryReason::deadlock);
      last_error = error.what();
    } catch (const pqxx::broken_connection& error) {
      lease.discard();
      detail::record_retry(RetryReason::broken_connection);
      last_error = error.what();
    }
  }
  throw RetriesExhausted("transaction failed after " + std::to_string(policy.max_attempts) +
                         " attempts; last error: " + last_error);
}

template <class Work>
auto run_transaction(ConnectionPool& pool, Isolation isolation, const RetryPolicy& policy, Work&& work)
    -> std::invoke_result_t<Work&, pqxx::transaction_base&> {
  switch (isolation) {
    case Isolation::serializable:
      return run_transaction_at<pqxx::serializable>(pool, policy, work);
    case Isolation::repeatable_read:
      return run_transaction_at<pqxx::repeatable_read>(pool, policy, work);
    case Isolation::read_committed:
      break;
  }
  return run_transaction_at<pqxx::read_committed>(pool, policy, work);
}

}  // namespace cch::db
