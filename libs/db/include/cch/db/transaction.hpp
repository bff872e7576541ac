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
// transaction (or effects that are safe to repeat). A connection lost counts as broken whether
// libpqxx says so or the server said why (is_connection_lost: shut down, crashed, a standby); the
// pool's idle connections are dropped with it (ConnectionPool::discard_idle), as they are likely
// to the same lost server.
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
  RetriesExhausted(const std::string& what, bool connection_lost)
      : std::runtime_error(what), connection_lost_(connection_lost) {}
  // The last attempt failed because its connection was lost (the database away, not contended).
  [[nodiscard]] bool connection_lost() const noexcept { return connection_lost_; }

 private:
  bool connection_lost_;
};

enum class RetryReason { serialization_failure, deadlock, broken_connection };

// True for the errors a server sends as it goes away or when it cannot take writes: class 08
// (connection exception), 57P01-57P03 (shut down by an administrator, crashed, starting or
// stopping) and 25006 (a read-only transaction: the server is a standby). The connection is to be
// replaced, and the unit of work tried again if its COMMIT was not sent.
bool is_connection_lost(const pqxx::sql_error& error);

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
  bool last_lost = false;
  for (int attempt = 1; attempt <= policy.max_attempts; ++attempt) {
    if (attempt > 1) {
      detail::backoff_before(attempt, policy);
    }
    ConnectionPool::Lease lease = pool.acquire();
    bool committing = false;
    const auto connection_lost = [&](const char* what) {
      lease.discard();
      pool.discard_idle();
      if (committing) throw CommitOutcomeUnknown(std::string("commit outcome unknown: ") + what);
      detail::record_retry(RetryReason::broken_connection);
      last_error = what;
      last_lost = true;
    };
    try {
      pqxx::transaction<Level> tx(*lease);
      if constexpr (std::is_void_v<Value>) {
        work(static_cast<pqxx::transaction_base&>(tx));
        committing = true;
        tx.commit();
        return;
      } else {
        Value value = work(static_cast<pqxx::transaction_base&>(tx));
        committing = true;
        tx.commit();
        return value;
      }
    } catch (const pqxx::in_doubt_error& error) {
      lease.discard();
      pool.discard_idle();
      throw CommitOutcomeUnknown(std::string("commit outcome unknown: ") + error.what());
    } catch (const pqxx::serialization_failure& error) {
      detail::record_retry(RetryReason::serialization_failure);
      last_error = error.what();
      last_lost = false;
    } catch (const pqxx::deadlock_detected& error) {
      detail::record_retry(RetryReason::deadlock);
      last_error = error.what();
      last_lost = false;
    } catch (const pqxx::broken_connection& error) {
      connection_lost(error.what());
    } catch (const pqxx::sql_error& error) {
      if (!is_connection_lost(error)) throw;
      connection_lost(error.what());
    }
  }
  throw RetriesExhausted("transaction failed after " + std::to_string(policy.max_attempts) +
                             " attempts; last error: " + last_error,
                         last_lost);
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
