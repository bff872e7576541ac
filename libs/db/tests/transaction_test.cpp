#include "cch/db/transaction.hpp"
#include "cch/db/savepoint.hpp"

#include "cch/testing/scratch_database.hpp"

#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/transaction>

#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <thread>

namespace {

struct Fixture {
  cch::testing::ScratchDatabase database;
  cch::db::ConnectionPool pool{[this] {
    cch::db::PoolOptions options;
    options.url = database.url();
    options.size = 4;
    return options;
  }()};
  Fixture() {
    auto lease = pool.acquire();
    pqxx::nontransaction tx(*lease);
    tx.exec("CREATE TABLE counter (id int PRIMARY KEY, value bigint NOT NULL)");
    tx.exec("INSERT INTO counter VALUES (1, 0), (2, 0)");
  }
  long long value(int id) {
    auto lease = pool.acquire();
    pqxx::nontransaction tx(*lease);
    return tx.exec_params("SELECT value FROM counter WHERE id = $1", id)[0][0].as<long long>();
  }
};

}  // namespace

TEST(RunTransaction, CommitsTheWorkAndReturnsItsValue) {
  Fixture fixture;
  const long long after = cch::db::run_transaction(
      fixture.pool, cch::db::Isolation::serializable, {}, [](pqxx::transaction_base& tx) {
        return tx.exec("UPDATE counter SET value = value + 5 WHERE id = 1 RETURNING value")[0][0].as<long long>();
      });
  EXPECT_EQ(after, 5);
  EXPECT_EQ(fixture.value(1), 5);
}

TEST(RunTransaction, AnExceptionFromTheWorkRollsBackAndPropagates) {
  Fixture fixture;
  EXPECT_THROW(cch::db::run_transaction(fixture.pool, cch::db::Isolation::read_committed, {},
                                        [](pqxx::transaction_base& tx) {
                                          tx.exec("UPDATE counter SET value = 99 WHERE id = 1");
                                          tx.exec("INSERT INTO counter VALUES (1, 0)");  // duplicate key
                                        }),
               pqxx::unique_violation);
  EXPECT_EQ(fixture.value(1), 0);
}

TEST(RunTransaction, SerializationFailuresAreRetriedUntilEveryIncrementLands) {
  // Read-modify-write under SERIALIZABLE from several threads: conflicts are certain, and every
  // increment must still land exactly once.
  Fixture fixture;
  const auto before = cch::db::retry_counters();
  constexpr int kThreads = 4;
  constexpr int kIncrementsPerThread = 25;
  cch::db::RetryPolicy policy;
  policy.max_attempts = 50;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIncrementsPerThread; ++i) {
        cch::db::run_transaction(fixture.pool, cch::db::Isolation::serializable, policy,
                                 [](pqxx::transaction_base& tx) {
                                   const auto current =
                                       tx.exec("SELECT value FROM counter WHERE id = 1")[0][0].as<long long>();
                                   tx.exec_params("UPDATE counter SET value = $1 WHERE id = 1", current + 1);
                                 });
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(fixture.value(1), kThreads * kIncrementsPerThread);
  EXPECT_GT(cch::db::retry_counters().serialization_failures, before.serialization_failures)
      << "the test must actually have produced conflicts";
}

TEST(RunTransaction, ADeadlockVictimIsRetriedAndBothTransfersLand) {
  Fixture fixture;
  const auto before = cch::db::retry_counters();
  std::barrier both_locked_first_row(2);
  std::atomic<int> attempts{0};
  auto transfer = [&](int first, int second) {
    cch::db::run_transaction(fixture.pool, cch::db::Isolation::read_committed, {}, [&](pqxx::transaction_base& tx) {
      const int attempt = attempts.fetch_add(1);
      tx.exec_params("UPDATE counter SET value = value + 1 WHERE id = $1", first);
      if (attempt < 2) {
        both_locked_first_row.arrive_and_wait();  // only the first attempts meet here
      }
      tx.exec_params("UPDATE counter SET value = value + 1 WHERE id = $1", second);
    });
  };
  std::thread a(transfer, 1, 2);
  std::thread b(transfer, 2, 1);
  a.join();
  b.join();
  EXPECT_EQ(fixture.value(1), 2);
  EXPECT_EQ(fixture.value(2), 2);
  EXPECT_GE(cch::db::retry_counters().deadlocks, before.deadlocks + 1) << "the test must have produced a deadlock";
}

TEST(RunTransaction, GivesUpAfterTheBoundWithRetriesExhausted) {
  Fixture fixture;
  cch::db::RetryPolicy policy;
  policy.max_attempts = 3;
  int calls = 0;
  EXPECT_THROW(cch::db::run_transaction(fixture.pool, cch::db::Isolation::serializable, policy,
                                        [&](pqxx::transaction_base&) {
                                          ++calls;
                                          throw pqxx::serialization_failure("simulated");
                                        }),
               cch::db::RetriesExhausted);
  EXPECT_EQ(calls, 3);
}

TEST(RunTransaction, AnUnknownCommitOutcomeIsSurfacedAndNotRetried) {
  Fixture fixture;
  int calls = 0;
  EXPECT_THROW(cch::db::run_transaction(fixture.pool, cch::db::Isolation::read_committed, {},
                                        [&](pqxx::transaction_base&) {
                                          ++calls;
                                          throw pqxx::in_doubt_error("connection lost during commit");
                                        }),
               cch::db::CommitOutcomeUnknown);
  EXPECT_EQ(calls, 1);
}

TEST(RunTransaction, ABrokenConnectionBeforeCommitIsRetriedOnAFreshConnection) {
  Fixture fixture;
  int calls = 0;
  cch::db::run_transaction(fixture.pool, cch::db::Isolation::read_committed, {}, [&](pqxx::transaction_base& tx) {
    if (++calls == 1) {
      // Kill our own backend: the next statement finds the connection broken.
      pqxx::connection killer(fixture.database.url());
      pqxx::nontransaction kill(killer);
      kill.exec_params("SELECT pg_terminate_backend($1)", tx.conn().backendpid());
    }
    tx.exec("UPDATE counter SET value = value + 1 WHERE id = 2");
  });
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(fixture.value(2), 1);
}

// A savepoint undoes the work after it, a failed statement's error included, and the row locks
// that work took; the work before it commits.
TEST(Savepoint, RollingBackUndoesTheWorkAndTheLocksAfterItAndKeepsTheWorkBefore) {
  Fixture fixture;
  auto holder = fixture.pool.acquire();
  pqxx::work tx(*holder);
  tx.exec("UPDATE counter SET value = 1 WHERE id = 1");
  {
    cch::db::Savepoint attempt(tx, "attempt");
    // A prepared statement first: libpqxx would run it before the SAVEPOINT were it not sent.
    attempt.tx().conn().prepare("savepoint_test_update", "UPDATE counter SET value = $1 WHERE id = 2");
    attempt.tx().exec_prepared("savepoint_test_update", 7);  // locks row 2
    EXPECT_THROW(attempt.tx().exec_params("INSERT INTO counter VALUES ($1, 0)", 1), pqxx::unique_violation);
    attempt.roll_back();
  }
  {
    cch::db::Savepoint attempt(tx, "attempt_again");
    EXPECT_THROW(attempt.tx().exec("INSERT INTO counter VALUES (1, 0)"), pqxx::unique_violation);
    attempt.roll_back();
  }
  // What follows runs in the transaction itself, not in a savepoint still open.
  EXPECT_TRUE(tx.exec("INSERT INTO counter VALUES (3, 0) RETURNING xmin = pg_current_xact_id()::xid")[0][0].as<bool>());
  // Row 2 is free again: another transaction updates it without waiting.
  {
    auto other = fixture.pool.acquire();
    pqxx::work tx2(*other);
    tx2.exec("SET LOCAL lock_timeout = '2s'");
    tx2.exec("UPDATE counter SET value = 3 WHERE id = 2");
    tx2.commit();
  }
  {
    cch::db::Savepoint kept(tx, "kept");
    kept.tx().exec("UPDATE counter SET value = value + 1 WHERE id = 1");
    kept.release();
  }
  tx.commit();
  EXPECT_EQ(fixture.value(1), 2);
  EXPECT_EQ(fixture.value(2), 3);
}
