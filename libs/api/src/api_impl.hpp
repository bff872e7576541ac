#pragma once
// The api's state and the signatures of its handlers (private to libs/api).

#include "cch/access/rate_limit.hpp"
#include "cch/audit/request_log.hpp"
#include "cch/api/authenticate.hpp"
#include "cch/api/routes.hpp"
#include "cch/db/combined_reads.hpp"
#include "cch/http/metrics.hpp"
#include "cch/ledger/queries.hpp"

#include <pqxx/transaction_base>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <unordered_map>
#include <optional>
#include <string>
#include <string_view>

namespace cch::api {

// Whether a member owns an object, remembered: who owns an account, a withdrawal or a journal's
// postings never changes, so a fact once read from PostgreSQL stays true. Bounded: when full it
// starts afresh.
class OwnershipCache {
 public:
  static constexpr std::size_t kEntriesMax = 100'000;
  std::optional<bool> find(const std::string& key) const;
  void remember(const std::string& key, bool owns);

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, bool> owns_;  // guarded by mutex_
};

// An account as GET /v1/accounts/{id} shows it: one row of ledger.account and its balance.
using AccountRow = ledger::AccountSummary;

// Reads of single accounts, the hottest route, combined across concurrent requests into one
// statement (db::CombinedReads): at most 64 accounts per statement, one statement at a time, on
// a connection of their own (account_read_pool_options). With one in flight, the reads that
// arrive while it runs all share the next: measured, 2.4 reads per statement against 1.5 with two
// in flight, and a quarter less PostgreSQL time per read.
using AccountReads = db::CombinedReads<std::int64_t, AccountRow>;
constexpr db::CombinedReadLimits kAccountReadLimits{.batch_max = 64, .in_flight_max = 1};
db::PoolOptions account_read_pool_options(const db::PoolOptions& service_pool);
// Counts statements and the reads they carried (cch_api_account_read_statements_total,
// cch_api_account_reads_total): their ratio is how many reads share a statement.
AccountReads::Fetch account_fetch(db::ConnectionPool& pool, http::Metrics& metrics);

class Api {
 public:
  Api(runtime::ServiceContext& context, ApiOptions options, Forward forward);

  runtime::ServiceContext& context;
  const ApiOptions options;
  const Forward forward;
  Authenticator authenticator;
  access::RateLimiter limiter;
  audit::AuditLog audit;
  OwnershipCache ownership;
  db::ConnectionPool account_connections;
  AccountReads accounts;
};

// A read: runs on its own read-only transaction.
using ReadHandler = http::Response (*)(Api& api, pqxx::transaction_base& tx, const http::Request& request,
                                       const access::Principal& principal);
// A command the api executes itself, in the transaction that also stores its idempotent response.
using CommandHandler = http::Response (*)(Api& api, pqxx::transaction_base& tx, const http::Request& request,
                                          const access::Principal& principal);

// A read that takes no transaction of its own (it shares a combined statement) and tells who owns
// what it read, so the caller checks ownership from the same row: `found` false answers 404.
struct CombinedRead {
  bool found = false;
  std::optional<MemberId> owner;
  http::Response response;
};
// Called exactly once with the read, or with the exception that stopped it (an environmental
// failure: the database is busy or away).
using CombinedReadDone = std::function<void(CombinedRead read, std::exception_ptr error)>;
// Never blocks: done runs later on a combined-reads thread, or at once. The request must stay
// valid until done has been called.
using CombinedReadHandler = void (*)(Api& api, const http::Request& request, CombinedReadDone done);

struct ReadRoute {
  ReadHandler handler = nullptr;
  // true: several statements that must agree run in one repeatable-read transaction; false: the
  // read is one statement, or several over rows that never change, and runs without BEGIN/COMMIT.
  bool snapshot = false;
  CombinedReadHandler combined = nullptr;  // instead of handler
  // true: a report (the auditor's), which may come from a replica when database.read_url is set;
  // its answer says where it was read and up to when it is complete (Cch-Read-From, Cch-Data-As-Of).
  bool replica = false;
};
ReadRoute read_route(std::string_view method, std::string_view pattern);
CommandHandler command_handler(std::string_view method, std::string_view pattern);

inline constexpr std::size_t kPageSizeDefault = 100;
inline constexpr std::size_t kPageSizeMax = 1000;

// Query parameters: only those named are accepted (400 unknown_parameter otherwise).
class QueryReader {
 public:
  QueryReader(const http::Request& request, std::initializer_list<std::string_view> accepted);
  // limit: default 100 (or the maximum, if less), 1..maximum (400 invalid_parameter outside).
  std::size_t limit(std::size_t maximum = kPageSizeMax);
  // A text parameter of 1..200 bytes; one with a control character (http::has_control_character)
  // is refused 400 invalid_text, as a body's text is (422 there).
  std::optional<std::string> text(std::string_view name);
  // "cursor" as the id it carries (lists keyed by a positive id); refused if it is not one.
  std::optional<std::int64_t> id_cursor();
  [[nodiscard]] bool failed() const { return failure_.has_value(); }
  [[nodiscard]] http::Response failure() const { return *failure_; }
  void refuse(std::string_view name, std::string_view detail);

 private:
  const http::Request& request_;
  std::optional<http::Response> failure_;
};


http::Response not_found();

}  // namespace cch::api
