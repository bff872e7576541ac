#pragma once
// A bounded pool of PostgreSQL connections (libpqxx 6.4).
//
// At most `size` connections exist; they are opened lazily and reused. acquire() waits up to
// `acquire_timeout` for a free one and then throws PoolTimeout, so a database that stalls turns
// into quick, bounded failures rather than an unbounded queue of waiting requests. A lease
// returns its connection when it dies; a connection that broke (or that the holder marks with
// discard()) is closed and replaced on demand. Every new connection gets the configured
// statement_timeout and application_name, then the `on_connect` hook (prepared statements).
//
// Failover: the URL may name every node of a cluster with target_session_attrs=read-write (libpq
// tries them in turn and keeps the writable one). A connection that broke usually means its server
// went away, and every idle connection to it is as dead: discard_idle() drops them all, so that the
// next unit of work opens a connection to whichever node is primary now instead of spending its
// retries on the dead ones. TCP keepalives and tcp_user_timeout make a server that vanished
// without closing its connections (a machine lost, a partition) a broken connection within
// seconds instead of the kernel's minutes.
//
// Thread safety: all member functions may be called concurrently. A Lease belongs to one thread.

#include <pqxx/connection>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace cch::db {

struct PoolOptions {
  std::string url;
  std::size_t size = 8;
  std::chrono::milliseconds acquire_timeout{2000};
  int connect_timeout_s = 5;
  int statement_timeout_ms = 30000;
  // libpq's tcp_user_timeout: the longest that sent data may stay unacknowledged before the
  // connection is declared broken; with keepalives every few seconds on an idle connection.
  int tcp_user_timeout_ms = 10000;
  std::string application_name = "cch";
  // plan_cache_mode = force_generic_plan on every connection: each prepared statement is planned
  // once per connection instead of at every execution. PostgreSQL otherwise keeps re-planning
  // statements whose custom plan looks cheaper, such as those on `= ANY($1::bigint[])`; for the
  // registry that was about a tenth of the database's time (docs/performance.md, session 9). A
  // generic plan cannot use a parameter's value: an optional filter (`$1 IS NULL OR ...`) stays in
  // the plan, a partial index whose predicate is a parameter is not used, and skewed data is
  // planned for the average value. A transaction whose statement needs its values planned sets
  // `SET LOCAL plan_cache_mode = force_custom_plan` first (registry::list_trades does).
  bool generic_plans = false;
  std::function<void(pqxx::connection&)> on_connect;  // may be empty
};

// No connection became free within acquire_timeout.
class PoolTimeout : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The database could not be reached; the message is one line and never shows a password.
class ConnectionFailed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ConnectionPool {
 public:
  explicit ConnectionPool(PoolOptions options);
  ~ConnectionPool();
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();
    pqxx::connection& operator*() const { return *connection_; }
    pqxx::connection* operator->() const { return connection_.get(); }
    // Closes the connection instead of returning it (after an error that leaves it unusable).
    void discard() noexcept { discard_ = true; }

   private:
    friend class ConnectionPool;
    Lease(ConnectionPool* pool, std::unique_ptr<pqxx::connection> connection);
    ConnectionPool* pool_;
    std::unique_ptr<pqxx::connection> connection_;
    bool discard_ = false;
  };

  // Throws PoolTimeout or ConnectionFailed.
  Lease acquire();

  // Opens (or reuses) a connection and runs SELECT 1; throws ConnectionFailed with a clear message.
  void check_connectivity();

  // As check_connectivity(), and the server must be a primary (not in recovery): a service that
  // writes is ready only while it reaches one. Throws ConnectionFailed otherwise.
  void check_writable();

  // Closes every idle connection (after one broke: they are likely to the same lost server).
  // Leased connections are left to their holders. Returns how many were closed.
  std::size_t discard_idle() noexcept;

  // A connection of the caller's own, outside the pool and its count, opened with the pool's
  // settings and on_connect hook: for a connection held for a long time, such as one that LISTENs.
  // Throws ConnectionFailed.
  std::unique_ptr<pqxx::connection> open_dedicated() { return open_connection(); }

  [[nodiscard]] std::size_t size() const noexcept { return options_.size; }
  [[nodiscard]] const PoolOptions& options() const noexcept { return options_; }
  [[nodiscard]] std::size_t idle_count() const;
  [[nodiscard]] std::size_t open_count() const;
  [[nodiscard]] const std::string& redacted_url() const noexcept { return redacted_url_; }

 private:
  std::unique_ptr<pqxx::connection> open_connection();
  void release(std::unique_ptr<pqxx::connection> connection, bool discard) noexcept;

  const PoolOptions options_;
  const std::string connection_string_;
  const std::string redacted_url_;
  mutable std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;  // guarded by mutex_
  std::size_t open_count_ = 0;                           // guarded by mutex_: idle + leased + opening
};

// The URL with any password replaced by "***", for logs and error messages.
std::string redact_url(const std::string& url);

}  // namespace cch::db
