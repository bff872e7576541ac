#include "cch/db/array.hpp"

#include "cch/testing/scratch_database.hpp"

#include <pqxx/connection>
#include <pqxx/nontransaction>
#include <pqxx/result>

#include <gtest/gtest.h>

TEST(ArrayLiteral, FormatsIntegersAndEscapesText) {
  const std::int64_t numbers[] = {1, -2, 9223372036854775807};
  EXPECT_EQ(cch::db::integer_array(numbers), "{1,-2,9223372036854775807}");
  EXPECT_EQ(cch::db::integer_array(std::span<const std::int64_t>{}), "{}");
  const std::string texts[] = {"plain", "a,b", "quote\"and\\slash", ""};
  EXPECT_EQ(cch::db::text_array(texts), R"({"plain","a,b","quote\"and\\slash",""})");
}

TEST(ArrayLiteral, RoundTripsHostileTextThroughPostgresql) {
  cch::testing::ScratchDatabase database;
  pqxx::connection connection(database.url());
  pqxx::nontransaction tx(connection);
  const std::vector<std::optional<std::string>> values = {
      std::string("{braces}"), std::string("NULL"), std::nullopt, std::string("tab\there"),
      std::string("'single' \"double\" \\back"), std::string("ünïcødé")};
  const auto rows = tx.exec_params("SELECT value, value IS NULL FROM unnest($1::text[]) WITH ORDINALITY AS t(value, n) ORDER BY n",
                                   cch::db::nullable_text_array(values));
  ASSERT_EQ(rows.size(), values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (values[i]) {
      EXPECT_EQ(rows[i][0].as<std::string>(), *values[i]);
    } else {
      EXPECT_TRUE(rows[i][1].as<bool>());
    }
  }
}

TEST(ArrayRead, IntegerArraysReadBackWhateverTheirShapeOrSize) {
  cch::testing::ScratchDatabase database;
  pqxx::connection connection(database.url());
  pqxx::nontransaction tx(connection);
  const auto read = [&](const std::string& sql) { return cch::db::integers_of(tx.exec(sql)[0][0]); };
  using V = std::vector<std::int64_t>;
  EXPECT_EQ(read("SELECT '{1,-2,9223372036854775807,-9223372036854775808}'::bigint[]"),
            (V{1, -2, 9223372036854775807, -9223372036854775807 - 1}));
  EXPECT_EQ(read("SELECT '{}'::bigint[]"), V{});
  EXPECT_EQ(read("SELECT '{7}'::integer[]"), V{7});
  EXPECT_EQ(read("SELECT '{{1,2},{3,4}}'::bigint[]"), (V{1, 2, 3, 4}));
  // Not plain digits: the general parser (a NULL element skipped).
  EXPECT_EQ(read("SELECT '{8,NULL,9}'::bigint[]"), (V{8, 9}));
  // A model's size of moves, from PostgreSQL's own text.
  const V many =
      read("SELECT array_agg((g * 7919 % 2000001) - 1000000 ORDER BY g) FROM generate_series(1::bigint, 300000) g");
  ASSERT_EQ(many.size(), 300'000u);
  for (std::int64_t g = 1; g <= 300'000; ++g) {
    ASSERT_EQ(many[static_cast<std::size_t>(g - 1)], (g * 7919 % 2000001) - 1000000) << g;
  }
}

TEST(ArrayLiteral, ATextHoldingANulCharacterIsAProgrammerError) {
  // PostgreSQL text cannot hold U+0000 and libpq would cut the parameter there, leaving a malformed
  // literal or a shortened value: the edge refuses such text (http::BodyReader::text), and a caller
  // that hands one to the array builders anyway is stopped here, not in the database.
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const std::string texts[] = {"plain", std::string("X\0Y", 3)};
  EXPECT_DEBUG_DEATH((void)cch::db::text_array(texts), "NUL");
  const std::optional<std::string> nullable[] = {std::nullopt, std::string("\0", 1)};
  EXPECT_DEBUG_DEATH((void)cch::db::nullable_text_array(nullable), "NUL");
}
