#include "cch/db/pool.hpp"

#include <pqxx/except>
#include <pqxx/nontransaction>

#include <cassert>

namespace cch::db {
namespace {

// libpq accepts URLs and key=value strings; options are appended in the matching syntax.
std::string with_options(const std::string& url, const PoolOptions& options) {
  std::string options_value = "-c statement_timeout=" + std::to_string(options.statement_timeout_ms);
  if (options.generic_plans) options_value += " -c plan_cache_mode=force_generic_plan";
  const bool is_url = url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0;
  if (is_url) {
    const char separator = url.find('?') == std::string::npos ? '?' : '&';
    std::string out = url;
    out += separator;
    out += "connect_timeout=" + std::to_string(options.connect_timeout_s);
    out += "&application_name=" + options.application_name;
    out += "&keepalives=1&keepalives_idle=5&keepalives_interval=2&keepalives_count=3";
    out += "&tcp_user_timeout=" + std::to_string(options.tcp_user_timeout_ms);
    out += "&options=-c%20statement_timeout%3D" + std::to_string(options.statement_timeout_ms);
    if (options.generic_plans) out += "%20-c%20plan_cache_mode%3Dforce_generic_plan";
    return out;
  }
  return url + " connect_timeout=" + std::to_string(options.connect_timeout_s) +
         " application_name=" + options.application_name +
         " keepalives=1 keepalives_idle=5 keepalives_interval=2 keepalives_count=3 tcp_user_timeout=" +
         std::to_string(options.tcp_user_timeout_ms) + " options='" + options_value + "'";
}

std::string first_line(const std::string& text) {
  const auto end = text.find('\n');
  return end == std::string::npos ? text : text.substr(0, end);
}

}  // namespace

std::string redact_url(const std::string& url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) {
    // key=value form: hide password=...
    const auto at = url.find("password=");
    if (at == std::string::npos) {
      return url;
    }
    const auto end = url.find(' ', at);
    return url.substr(0, at) + "password=***" + (end == std::string::npos ? "" : url.substr(end));
  }
  const auto authority_start = scheme_end + 3;
  const auto at = url.find('@', authority_start);
  const auto slash = url.find('/', authority_start);
  if (at == std::string::npos || (slash != std::string::npos && at > slash)) {
    return url;
  }
  const auto colon = url.find(':', authority_start);
  if (colon == std::string::npos || colon > at) {
    return url;
  }
  return url.substr(0, colon) + ":***" + url.substr(at);
}

ConnectionPool::ConnectionPool(PoolOptions options)
    : options_(std::move(options)),
      connection_string_(with_options(options_.url, options_)),
      redacted_url_(redact_url(options_.url)) {
  assert(options_.size > 0 && "a pool needs at least one connection");
}

ConnectionPool::~ConnectionPool() {
  std::lock_guard lock(mutex_);
  assert(idle_.size() == open_count_ && "a pool destroyed while connections are leased");
  idle_.clear();
}

std::unique_ptr<pqxx::connection> ConnectionPool::open_connection() {
  try {
    auto connection = std::make_unique<pqxx::connection>(connection_string_);
    if (options_.on_connect) {
      options_.on_connect(*connection);
    }
    return connection;
  } catch (const pqxx::broken_connection& error) {
    throw ConnectionFailed("cannot connect to database " + redacted_url_ + ": " + first_line(error.what()));
  }
}

ConnectionPool::Lease ConnectionPool::acquire() {
  std::unique_lock lock(mutex_);
  const auto deadline = std::chrono::steady_clock::now() + options_.acquire_timeout;
  while (idle_.empty() && open_count_ >= options_.size) {
    if (available_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
        open_count_ >= options_.size) {
      throw PoolTimeout("no database connection free within " + std::to_string(options_.acquire_timeout.count()) +
                        " ms (pool size " + std::to_string(options_.size) + ")");
    }
  }
  if (!idle_.empty()) {
    auto connection = std::move(idle_.back());
    idle_.pop_back();
    return Lease(this, std::move(connection));
  }
  ++open_count_;  // reserve the slot, then open outside the lock
  lock.unlock();
  try {
    return Lease(this, open_connection());
  } catch (...) {
    lock.lock();
    --open_count_;
    available_.notify_one();
    throw;
  }
}

void ConnectionPool::release(std::unique_ptr<pqxx::connection> connection, bool discard) noexcept {
  std::vector<std::unique_ptr<pqxx::connection>> closing;  // closed after the lock is released
  std::lock_guard lock(mutex_);
  if (discard || !connection || !connection->is_open()) {
    if (connection && !connection->is_open()) {
      // It broke under its holder: the idle ones are likely to the same lost server.
      closing.swap(idle_);
      open_count_ -= closing.size();
      available_.notify_all();
    }
    connection.reset();
    --open_count_;
  } else {
    idle_.push_back(std::move(connection));
  }
  available_.notify_one();
}

void ConnectionPool::check_connectivity() {
  Lease lease = acquire();
  try {
    pqxx::nontransaction tx(*lease);
    tx.exec("SELECT 1");
  } catch (const pqxx::broken_connection& error) {
    lease.discard();
    discard_idle();
    throw ConnectionFailed("database " + redacted_url_ + " is unreachable: " + first_line(error.what()));
  }
}

void ConnectionPool::check_writable() {
  Lease lease = acquire();
  bool in_recovery = false;
  try {
    pqxx::nontransaction tx(*lease);
    in_recovery = tx.exec("SELECT pg_is_in_recovery()")[0][0].as<bool>();
  } catch (const pqxx::broken_connection& error) {
    lease.discard();
    discard_idle();
    throw ConnectionFailed("database " + redacted_url_ + " is unreachable: " + first_line(error.what()));
  }
  if (in_recovery) {
    // A standby: the URL lacks target_session_attrs=read-write, or the node was demoted under a
    // connection that lived on. Either way nothing can be written through it.
    lease.discard();
    discard_idle();
    throw ConnectionFailed("database " + redacted_url_ +
                           " answered from a standby (read-only); a service that writes needs the primary "
                           "(name every node with target_session_attrs=read-write)");
  }
}

std::size_t ConnectionPool::discard_idle() noexcept {
  std::vector<std::unique_ptr<pqxx::connection>> closing;
  {
    std::lock_guard lock(mutex_);
    closing.swap(idle_);
    open_count_ -= closing.size();
    available_.notify_all();
  }
  return closing.size();  // closed here, outside the lock
}

std::size_t ConnectionPool::idle_count() const {
  std::lock_guard lock(mutex_);
  return idle_.size();
}

std::size_t ConnectionPool::open_count() const {
  std::lock_guard lock(mutex_);
  return open_count_;
}

ConnectionPool::Lease::Lease(ConnectionPool* pool, std::unique_ptr<pqxx::connection> connection)
    : pool_(pool), connection_(std::move(connection)) {}

ConnectionPool::Lease::Lease(Lease&& other) noexcept
    : pool_(other.pool_), connection_(std::move(other.connection_)), discard_(other.discard_) {
  other.pool_ = nullptr;
}

ConnectionPool::Lease::~Lease() {
  if (pool_ != nullptr) {
    pool_->release(std::move(connection_), discard_);
  }
}

}  // namespace cch::db
