// Statements prepared once per connection (cch/db/prepared.hpp) against a real database.
#include "cch/db/prepared.hpp"

#include "cch/db/pool.hpp"
#include "cch/testing/scratch_database.hpp"

#include <pqxx/transaction>

#include <gtest/gtest.h>

namespace {

TEST(PreparedStatements, NamesAreStableAndDifferForDifferentText) {
  EXPECT_EQ(cch::db::statement_name("SELECT $1::int"), cch::db::statement_name("SELECT $1::int"));
  EXPECT_NE(cch::db::statement_name("SELECT $1::int"), cch::db::statement_name("SELECT $1::int + 1"));
  EXPECT_EQ(cch::db::statement_name("SELECT 1").rfind("cch_", 0), 0U);
}

TEST(PreparedStatements, AStatementIsPreparedOnceAndAnswersEveryCallWithItsOwnParameters) {
  cch::testing::ScratchDatabase database;
  cch::db::PoolOptions options;
  options.url = database.url();
  options.size = 1;
  cch::db::ConnectionPool pool(options);
  auto lease = pool.acquire();
  const std::string sql = "SELECT $1::bigint * 2";
  for (int round = 0; round < 3; ++round) {  // across transactions on the same connection
    pqxx::work tx(*lease);
    for (std::int64_t value = 1; value <= 7; ++value) {
      EXPECT_EQ(cch::db::exec_cached(tx, sql, value)[0][0].as<std::int64_t>(), value * 2);
    }
    EXPECT_EQ(cch::db::exec_cached(tx, "SELECT $1::text || 'x'", std::string("a"))[0][0].as<std::string>(), "ax");
    // The server holds each text once, under its name.
    EXPECT_EQ(tx.exec_params("SELECT count(*) FROM pg_prepared_statements WHERE name = $1",
                             cch::db::statement_name(sql))[0][0]
                  .as<int>(),
              1);
    tx.commit();
  }
}

}  // namespace
