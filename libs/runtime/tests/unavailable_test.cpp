#include "cch/runtime/unavailable.hpp"

#include "cch/db/pool.hpp"
#include "cch/db/transaction.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/except>

#include <gtest/gtest.h>

#include <stdexcept>

namespace {

template <class Exception>
std::optional<cch::http::Response> answer_to(const Exception& exception) {
  return cch::runtime::database_unavailable_answer(std::make_exception_ptr(exception), "/v1/test");
}

std::string reason_of(const cch::http::Response& response) {
  return nlohmann::json::parse(response.body).at("reason").get<std::string>();
}

bool retry_after_given(const cch::http::Response& response) {
  for (const auto& [name, value] : response.headers) {
    if (name == "Retry-After") return true;
  }
  return false;
}

}  // namespace

// What a client meets during a failover: each way the database can be away is a 503 with
// Retry-After and a reason it can act on, never a 500.
TEST(DatabaseUnavailableAnswer, EachWayTheDatabaseIsAwayIsA503WithItsReason) {
  const struct {
    std::optional<cch::http::Response> answer;
    const char* reason;
  } cases[] = {
      {answer_to(cch::db::ConnectionFailed("no primary")), "database_unavailable"},
      {answer_to(pqxx::broken_connection("server closed the connection")), "database_unavailable"},
      {answer_to(pqxx::sql_error("terminating connection", "", "57P01")), "database_unavailable"},
      {answer_to(pqxx::sql_error("cannot execute UPDATE in a read-only transaction", "", "25006")),
       "database_unavailable"},
      {answer_to(cch::db::RetriesExhausted("attempts ran out", true)), "database_unavailable"},
      {answer_to(cch::db::PoolTimeout("no connection free")), "database_busy"},
      {answer_to(cch::db::CommitOutcomeUnknown("lost during COMMIT")), "commit_outcome_unknown"},
      {answer_to(pqxx::in_doubt_error("lost during COMMIT")), "commit_outcome_unknown"},
  };
  for (const auto& one : cases) {
    ASSERT_TRUE(one.answer.has_value()) << one.reason;
    EXPECT_EQ(one.answer->status, 503U) << one.reason;
    EXPECT_EQ(reason_of(*one.answer), one.reason);
    EXPECT_TRUE(retry_after_given(*one.answer)) << one.reason;
  }
}

// A bug stays a bug: a constraint violation, attempts exhausted by contention alone, or any other
// exception is not the database being away (the caller answers 500 and logs it).
TEST(DatabaseUnavailableAnswer, OtherFailuresAreNotDisguisedAsUnavailability) {
  EXPECT_FALSE(answer_to(pqxx::sql_error("duplicate key", "", "23505")).has_value());
  EXPECT_FALSE(answer_to(cch::db::RetriesExhausted("serialization failures", false)).has_value());
  EXPECT_FALSE(answer_to(std::logic_error("a bug")).has_value());
}
