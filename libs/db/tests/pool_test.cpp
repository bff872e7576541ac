#include "cch/db/pool.hpp"

#include "cch/testing/scratch_database.hpp"

#include <pqxx/nontransaction>
#include <pqxx/result>

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

namespace {

cch::db::PoolOptions options_for(const std::string& url, std::size_t size) {
  cch::db::PoolOptions options;
  options.url = url;
  options.size = size;
  options.acquire_timeout = std::chrono::milliseconds(200);
  options.application_name = "cch_pool_test";
  return options;
}

}  // namespace

TEST(ConnectionPool, NeverOpensMoreThanItsSizeAndTimesOutWhenAllAreLeased) {
  cch::testing::ScratchDatabase database;
  cch::db::ConnectionPool pool(options_for(database.url(), 2));
  auto first = pool.acquire();
  auto second = pool.acquire();
  EXPECT_EQ(pool.open_count(), 2U);
  EXPECT_THROW((void)pool.acquire(), cch::db::PoolTimeout);
  EXPECT_EQ(pool.open_count(), 2U);
}

TEST(ConnectionPool, ReusesReturnedConnections) {
  cch::testing::ScratchDatabase database;
  cch::db::ConnectionPool pool(options_for(database.url(), 2));
  int backend_pid = 0;
  {
    auto lease = pool.acquire();
    backend_pid = lease->backendpid();
  }
  EXPECT_EQ(pool.idle_count(), 1U);
  auto lease = pool.acquire();
  EXPECT_EQ(lease->backendpid(), backend_pid);
}

TEST(ConnectionPool, AWaiterGetsTheConnectionAnotherThreadReturns) {
  cch::testing::ScratchDatabase database;
  auto options = options_for(database.url(), 1);
  options.acquire_timeout = std::chrono::milliseconds(10000);
  cch::db::ConnectionPool pool(options);
  auto held = std::make_unique<cch::db::ConnectionPool::Lease>(pool.acquire());
  std::thread releaser([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    held.reset();
  });
  auto lease = pool.acquire();
  releaser.join();
  EXPECT_EQ(pool.open_count(), 1U);
}

TEST(ConnectionPool, DiscardedConnectionIsClosedAndReplaced) {
  cch::testing::ScratchDatabase database;
  cch::db::ConnectionPool pool(options_for(database.url(), 1));
  int first_pid = 0;
  {
    auto lease = pool.acquire();
    first_pid = lease->backendpid();
    lease.discard();
  }
  EXPECT_EQ(pool.open_count(), 0U);
  auto lease = pool.acquire();
  EXPECT_NE(lease->backendpid(), first_pid);
}

TEST(ConnectionPool, AppliesStatementTimeoutAndOnConnectHook) {
  cch::testing::ScratchDatabase database;
  auto options = options_for(database.url(), 1);
  options.statement_timeout_ms = 1234;
  int hook_calls = 0;
  options.on_connect = [&](pqxx::connection& connection) {
    ++hook_calls;
    connection.prepare("answer", "SELECT 42");
  };
  cch::db::ConnectionPool pool(options);
  auto lease = pool.acquire();
  pqxx::nontransaction tx(*lease);
  EXPECT_EQ(tx.exec("SHOW statement_timeout")[0][0].as<std::string>(), "1234ms");
  EXPECT_EQ(tx.exec("SELECT current_setting('application_name')")[0][0].as<std::string>(), "cch_pool_test");
  EXPECT_EQ(tx.exec_prepared("answer")[0][0].as<int>(), 42);
  EXPECT_EQ(hook_calls, 1);
}

TEST(ConnectionPool, GenericPlansAreAskedForOnlyWhenChosenInBothSpellingsOfTheAddress) {
  cch::testing::ScratchDatabase database;
  const auto mode_with = [](std::string url, bool generic) {
    auto options = options_for(std::move(url), 1);
    options.generic_plans = generic;
    options.statement_timeout_ms = 4321;
    cch::db::ConnectionPool pool(options);
    auto lease = pool.acquire();
    pqxx::nontransaction tx(*lease);
    EXPECT_EQ(tx.exec("SHOW statement_timeout")[0][0].as<std::string>(), "4321ms");
    return tx.exec("SHOW plan_cache_mode")[0][0].as<std::string>();
  };
  EXPECT_EQ(mode_with(database.url(), false), "auto");
  EXPECT_EQ(mode_with(database.url(), true), "force_generic_plan");
  // The same database as key=value pairs.
  pqxx::connection probe(database.url());
  const std::string pairs = "host=" + std::string(probe.hostname()) + " port=" + probe.port() +
                            " dbname=" + probe.dbname() + " user=" + probe.username();
  EXPECT_EQ(mode_with(pairs, true), "force_generic_plan");
}

TEST(ConnectionPool, UnreachableDatabaseIsOneClearErrorWithoutThePassword) {
  cch::db::PoolOptions options = options_for("postgresql://cch:secret@127.0.0.1:1/cch", 1);
  options.connect_timeout_s = 1;
  cch::db::ConnectionPool pool(options);
  try {
    pool.check_connectivity();
    FAIL() << "expected ConnectionFailed";
  } catch (const cch::db::ConnectionFailed& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("cannot connect to database postgresql://cch:***@127.0.0.1:1/cch"), std::string::npos)
        << message;
    EXPECT_EQ(message.find("secret"), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
  EXPECT_EQ(pool.open_count(), 0U) << "a failed open must give its slot back";
}

TEST(RedactUrl, HidesPasswordsInBothSyntaxes) {
  EXPECT_EQ(cch::db::redact_url("postgresql://u:p@h:5/d"), "postgresql://u:***@h:5/d");
  EXPECT_EQ(cch::db::redact_url("postgresql://u@h:5/d"), "postgresql://u@h:5/d");
  EXPECT_EQ(cch::db::redact_url("host=h password=p dbname=d"), "host=h password=*** dbname=d");
}
