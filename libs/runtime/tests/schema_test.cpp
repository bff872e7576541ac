#include "cch/runtime/schema.hpp"

#include "cch/testing/scratch_database.hpp"

#include <pqxx/connection>

#include <gtest/gtest.h>

TEST(Schema, EmbeddedMigrationsAreNumberedFromOneWithoutGaps) {
  const auto& migrations = cch::runtime::schema_migrations();
  ASSERT_FALSE(migrations.empty());
  for (std::size_t i = 0; i < migrations.size(); ++i) {
    EXPECT_EQ(migrations[i].version, static_cast<int>(i) + 1) << migrations[i].name;
    EXPECT_FALSE(migrations[i].sql.empty()) << migrations[i].name;
  }
}

TEST(Schema, AppliesToAnEmptyDatabaseAndChecksClean) {
  cch::testing::ScratchDatabase database;
  pqxx::connection connection(database.url());
  const auto applied = cch::db::migrate(connection, cch::runtime::schema_migrations());
  ASSERT_TRUE(applied) << applied.error().message;
  EXPECT_EQ(applied->applied_now.size(), cch::runtime::schema_migrations().size());
  const auto checked = cch::db::check_migrations(connection, cch::runtime::schema_migrations());
  ASSERT_TRUE(checked) << checked.error().message;
}
