#include "cch/db/transaction.hpp"
#include "cch/db/savepoint.hpp"

#include "cch/testing/scratch_database.hpp"

#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/transaction>

#include <gtest/gtest.h>

#include <algorithm>
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

// A failover as the pool sees it: every connection it holds is to a server that went away. The
// first attempt finds its connection broken; the pool then drops the idle ones (as dead as it),
// and the second attempt opens a fresh connection instead of taking another dead one.
TEST(RunTransaction, AConnectionLostDropsThePoolsIdleConnectionsSoTheNextAttemptOpensAFreshOne) {
  Fixture fixture;
  std::vector<int> old_pids;
  {
    std::vector<cch::db::ConnectionPool::Lease> leases;
    for (std::size_t i = 0; i < fixture.pool.size(); ++i) leases.push_back(fixture.pool.acquire());
    for (const auto& lease : leases) old_pids.push_back(lease->backendpid());
  }
  ASSERT_EQ(fixture.pool.idle_count(), fixture.pool.size());
  {
    pqxx::connection killer(fixture.database.url());
    pqxx::nontransaction kill(killer);
    for (const int pid : old_pids) kill.exec_params("SELECT pg_terminate_backend($1)", pid);
  }
  cch::db::RetryPolicy policy;
  policy.max_attempts = 2;  // one dead connection, then a fresh one: idle dead ones would exhaust it
  const auto before = cch::db::retry_counters();
  int pid = 0;
  cch::db::run_transaction(fixture.pool, cch::db::Isolation::read_committed, policy, [&](pqxx::transaction_base& tx) {
    pid = tx.conn().backendpid();
    tx.exec("UPDATE counter SET value = value + 1 WHERE id = 1");
  });
  EXPECT_EQ(cch::db::retry_counters().broken_connections, before.broken_connections + 1)
      << "exactly one attempt met a dead connection";
  EXPECT_EQ(fixture.value(1), 1);
  EXPECT_EQ(std::count(old_pids.begin(), old_pids.end(), pid), 0) << "the work ran on a connection that was killed";
}

// The server's own words for going away (here: terminated by an administrator, SQLSTATE 57P01,
// as at a fast shutdown or a demotion) count as a lost connection; a constraint violation does not.
TEST(RunTransaction, TheServersShutdownErrorsCountAsALostConnectionAndOthersDoNot) {
  EXPECT_TRUE(cch::db::is_connection_lost(pqxx::sql_error("terminating connection", "", "57P01")));
  EXPECT_TRUE(cch::db::is_connection_lost(pqxx::sql_error("the database system is shutting down", "", "57P03")));
  EXPECT_TRUE(cch::db::is_connection_lost(pqxx::sql_error("read-only transaction", "", "25006")));
  EXPECT_TRUE(cch::db::is_connection_lost(pqxx::sql_error("connection failure", "", "08006")));
  EXPECT_FALSE(cch::db::is_connection_lost(pqxx::sql_error("duplicate key", "", "23505")));
  EXPECT_FALSE(cch::db::is_connection_lost(pqxx::sql_error("canceling statement due to statement timeout", "", "57014")));
}

// A transaction that meets a standby (SQLSTATE 25006 on its write) is tried again on a fresh
// connection; when every attempt meets one, RetriesExhausted says the connection was lost.
TEST(RunTransaction, AWriteRefusedAsReadOnlyIsRetriedAndReportedAsALostConnection) {
  Fixture fixture;
  cch::db::RetryPolicy policy;
  policy.max_attempts = 2;
  int calls = 0;
  try {
    cch::db::run_transaction(fixture.pool, cch::db::Isolation::read_committed, policy, [&](pqxx::transaction_base& tx) {
      ++calls;
      tx.exec("SET TRANSACTION READ ONLY");
      tx.exec("UPDATE counter SET value = value + 1 WHERE id = 1");
    });
    FAIL() << "a read-only transaction wrote";
  } catch (const cch::db::RetriesExhausted& error) {
    EXPECT_TRUE(error.connection_lost());
  }
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(fixture.value(1), 0);
  try {
    cch::db::run_transaction(fixture.pool, cch::db::Isolation::serializable, policy,
                             [&](pqxx::transaction_base&) { throw pqxx::serialization_failure("simulated"); });
  } catch (const cch::db::RetriesExhausted& error) {
    EXPECT_FALSE(error.connection_lost());
  }
}
