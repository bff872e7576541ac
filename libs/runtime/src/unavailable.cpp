#include "cch/runtime/unavailable.hpp"

#include "cch/core/log.hpp"
#include "cch/db/pool.hpp"
#include "cch/db/transaction.hpp"

#include <pqxx/except>

#include <string>

namespace cch::runtime {
namespace {

http::Response unavailable(std::string_view reason, std::string_view detail) {
  http::Response response = http::problem(503, reason, "Service unavailable", detail);
  response.headers.emplace_back("Retry-After", "1");
  return response;
}

http::Response unreachable(const std::string& route, const char* what) {
  log::error("database_unavailable", {{"route", route}, {"what", what}});
  return unavailable("database_unavailable", "the database cannot be reached; retry shortly");
}

}  // namespace

std::optional<http::Response> database_unavailable_answer(std::exception_ptr failure, std::string_view route_pattern) {
  const std::string route(route_pattern);
  try {
    std::rethrow_exception(std::move(failure));
  } catch (const db::PoolTimeout& error) {
    log::warn("database_busy", {{"route", route}, {"what", error.what()}});
    return unavailable("database_busy", "no database connection was free in time; retry shortly");
  } catch (const db::ConnectionFailed& error) {
    return unreachable(route, error.what());
  } catch (const db::CommitOutcomeUnknown& error) {
    log::error("commit_outcome_unknown", {{"route", route}, {"what", error.what()}});
    return unavailable("commit_outcome_unknown",
                       "the database connection broke while committing; retry with the same "
                       "Idempotency-Key to learn the outcome");
  } catch (const db::RetriesExhausted& error) {
    if (error.connection_lost()) return unreachable(route, error.what());
  } catch (const pqxx::broken_connection& error) {
    return unreachable(route, error.what());
  } catch (const pqxx::in_doubt_error& error) {
    log::error("commit_outcome_unknown", {{"route", route}, {"what", error.what()}});
    return unavailable("commit_outcome_unknown",
                       "the database connection broke while committing; retry with the same "
                       "Idempotency-Key to learn the outcome");
  } catch (const pqxx::sql_error& error) {
    if (db::is_connection_lost(error)) return unreachable(route, error.what());
  } catch (...) {
  }
  return std::nullopt;
}

}  // namespace cch::runtime
