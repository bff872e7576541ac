#include "cch/db/migrate.hpp"

#include "cch/testing/scratch_database.hpp"

#include <pqxx/nontransaction>
#include <pqxx/result>

#include <gtest/gtest.h>

#include <thread>

namespace {

using Files = std::vector<std::pair<std::string_view, std::string_view>>;

std::vector<cch::db::Migration> migrations_of(const Files& files) {
  auto list = cch::db::make_migrations(files);
  EXPECT_TRUE(list) << list.error().message;
  return list.value();
}

const Files kTwoMigrations = {
    {"0002_add_limit.sql", "ALTER TABLE member ADD COLUMN credit_limit_minor bigint NOT NULL DEFAULT 0;"},
    {"0001_member.sql", "CREATE TABLE member (id bigint PRIMARY KEY);"},
};

}  // namespace

TEST(MakeMigrations, OrdersByVersionAndNamesWithoutExtension) {
  const auto list = migrations_of(kTwoMigrations);
  ASSERT_EQ(list.size(), 2U);
  EXPECT_EQ(list[0].version, 1);
  EXPECT_EQ(list[0].name, "0001_member");
  EXPECT_EQ(list[1].name, "0002_add_limit");
}

TEST(MakeMigrations, RefusesBadNamesDuplicatesAndGaps) {
  const struct {
    Files files;
    cch::db::MigrationErrorKind kind;
  } cases[] = {
      {{{"1_member.sql", "SELECT 1;"}}, cch::db::MigrationErrorKind::bad_file_name},
      {{{"0001-member.sql", "SELECT 1;"}}, cch::db::MigrationErrorKind::bad_file_name},
      {{{"0001_member.txt", "SELECT 1;"}}, cch::db::MigrationErrorKind::bad_file_name},
      {{{"0001_a.sql", "SELECT 1;"}, {"0001_b.sql", "SELECT 1;"}}, cch::db::MigrationErrorKind::duplicate_version},
      {{{"0001_a.sql", "SELECT 1;"}, {"0003_c.sql", "SELECT 1;"}}, cch::db::MigrationErrorKind::version_gap},
  };
  for (const auto& c : cases) {
    const auto list = cch::db::make_migrations(c.files);
    ASSERT_FALSE(list) << c.files.front().first;
    EXPECT_EQ(list.error().kind, c.kind) << list.error().message;
  }
}

TEST(Migrate, AppliesPendingMigrationsOnceAndRecordsChecksums) {
  cch::testing::ScratchDatabase database;
  pqxx::connection connection(database.url());
  const auto list = migrations_of(kTwoMigrations);

  const auto first = cch::db::migrate(connection, list);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first->applied_now, (std::vector<std::string>{"0001_member", "0002_add_limit"}));
  EXPECT_EQ(first->schema_version, 2);

  const auto second = cch::db::migrate(connection, list);
  ASSERT_TRUE(second);
  EXPECT_TRUE(second->applied_now.empty());

  {
    pqxx::nontransaction tx(connection);
    const auto rows = tx.exec("SELECT name, checksum_sha256 FROM cch_schema_migrations ORDER BY version");
    ASSERT_EQ(rows.size(), 2U);
    EXPECT_EQ(rows[0][1].as<std::string>(), list[0].checksum());
    EXPECT_EQ(
        tx.exec("SELECT count(*) FROM information_schema.columns WHERE column_name = 'credit_limit_minor'")[0][0]
            .as<int>(),
        1);
  }
  EXPECT_TRUE(cch::db::check_migrations(connection, list));
}

TEST(Migrate, RefusesAChangedAppliedMigration) {
  cch::testing::ScratchDatabase database;
  pqxx::connection connection(database.url());
  ASSERT_TRUE(cch::db::migrate(connection, migrations_of(kTwoMigrations)));
  Files edited = kTwoMigrations;
  edited[1].second = "CREATE TABLE member (id bigint PRIMARY KEY, name text);";
  const auto result = cch::db::migrate(connection, migrations_of(edited));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, cch::db::MigrationErrorKind::checksum_mismatch);
  EXPECT_NE(result.error().message.find("0001_member"), std::string::npos) << result.error().message;
}

TEST(Migrate, RefusesADatabaseNewerThanTheBuild) {
  cch::testing::ScratchDatabase database;
  pqxx::connection connection(database.url());
  ASSERT_TRUE(cch::db::migrate(connection, migrations_of(kTwoMigrations)));
  const auto result = cch::db::migrate(connection, migrations_of({kTwoMigrations[1]}));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, cch::db::MigrationErrorKind::unknown_applied);
}

TEST(Migrate, AFailingMigrationLeavesNoTraceAndStopsTheRun) {
  cch::testing::ScratchDatabase database;
  pqxx::connection connection(database.url());
  const auto list = migrations_of({{"0001_ok.sql", "CREATE TABLE a (id int);"},
                                   {"0002_broken.sql", "CREATE TABLE b (id int); SELECT * FROM missing_table;"}});
  EXPECT_THROW((void)cch::db::migrate(connection, list), pqxx::undefined_table);
  {
    pqxx::nontransaction tx(connection);
    EXPECT_EQ(tx.exec("SELECT count(*) FROM cch_schema_migrations")[0][0].as<int>(), 1);
    EXPECT_TRUE(tx.exec("SELECT to_regclass('b') IS NULL")[0][0].as<bool>()) << "table b must be rolled back";
  }
  const auto check = cch::db::check_migrations(connection, list);
  ASSERT_FALSE(check);
  EXPECT_EQ(check.error().kind, cch::db::MigrationErrorKind::not_applied);
}

TEST(Migrate, SeveralProcessesStartingAtOnceApplyEachMigrationOnce) {
  cch::testing::ScratchDatabase database;
  // A slow migration widens the window in which the starters overlap.
  const auto list = migrations_of({{"0001_slow.sql", "SELECT pg_sleep(0.3); CREATE TABLE once (id int);"},
                                   {"0002_next.sql", "CREATE TABLE twice_would_fail (id int);"}});
  constexpr int kStarters = 6;
  std::vector<std::thread> starters;
  std::vector<std::vector<std::string>> applied(kStarters);
  for (int i = 0; i < kStarters; ++i) {
    starters.emplace_back([&, i] {
      pqxx::connection connection(database.url());
      const auto report = cch::db::migrate(connection, list);
      ASSERT_TRUE(report);
      applied[static_cast<std::size_t>(i)] = report->applied_now;
    });
  }
  for (auto& thread : starters) {
    thread.join();
  }
  int total = 0;
  for (const auto& names : applied) {
    total += static_cast<int>(names.size());
  }
  EXPECT_EQ(total, 2) << "each migration applied by exactly one starter";
  pqxx::connection connection(database.url());
  pqxx::nontransaction tx(connection);
  EXPECT_EQ(tx.exec("SELECT count(*) FROM cch_schema_migrations")[0][0].as<int>(), 2);
}
