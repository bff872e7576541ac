// The outbox consumer against a real PostgreSQL: events of transactions that commit out of id
// order are all delivered, each once, in the cursor's order (the gap a cursor on event_id alone
// falls into, built with explicit transactions on several connections); other topics are passed
// over; a failing handler rolls back with its batch and is retried after a growing back-off; two
// instances of one consumer never handle a batch at once; a NOTIFY wakes a consumer long before
// its poll interval, also after its LISTEN connection was killed; wake-ups are coalesced; the lag.
#include "cch/runtime/outbox.hpp"

#include "cch/runtime/schema.hpp"
#include "cch/testing/scratch_database.hpp"

#include <pqxx/connection>
#include <pqxx/nontransaction>
#include <pqxx/notification>
#include <pqxx/result>
#include <pqxx/transaction>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace cch::runtime {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string url_with_user(const std::string& url, const std::string& user) {
  const auto scheme_end = url.find("://");
  const auto at = url.find('@', scheme_end + 3);
  if (scheme_end == std::string::npos || at == std::string::npos) {
    throw std::runtime_error("test database URL must look like postgresql://user@host:port/db");
  }
  return url.substr(0, scheme_end + 3) + user + url.substr(at);
}

// A migrated scratch database; connections log in as a cch_writer login, as the services do.
class Outbox : public ::testing::Test {
 protected:
  void SetUp() override {
    pqxx::connection connection(database.url());
    const auto migrated = db::migrate(connection, schema_migrations());
    ASSERT_TRUE(migrated) << migrated.error().message;
    pqxx::nontransaction tx(connection);
    // Login roles are cluster-wide; parallel test processes may race to create them.
    tx.exec("DO $$ BEGIN CREATE ROLE cch_test_writer LOGIN IN ROLE cch_writer; "
            "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$");
    tx.exec("CREATE TABLE public.effect (event_id bigint PRIMARY KEY, handled_in bigint NOT NULL)");
    tx.exec("GRANT SELECT, INSERT ON public.effect TO cch_writer");
    writer_url = url_with_user(database.url(), "cch_test_writer");
    db::PoolOptions options;
    options.url = writer_url;
    options.size = 6;
    options.acquire_timeout = 10s;
    pool = std::make_unique<db::ConnectionPool>(options);
  }

  OutboxConsumerOptions options_for(std::string consumer, std::vector<std::string> topics = {"test.event"}) {
    OutboxConsumerOptions options;
    options.consumer = std::move(consumer);
    options.topics = std::move(topics);
    options.batch_max = 100;
    options.poll_interval = 60s;  // a test that relies on the poll says so
    return options;
  }

  // Inserts one event in the caller's transaction; answers its event_id.
  static std::int64_t insert_event(pqxx::transaction_base& tx, const std::string& topic = "test.event",
                                   std::int64_t aggregate = 0) {
    return tx.exec_params1("INSERT INTO cch.outbox (topic, aggregate_id, payload) VALUES ($1, $2, '{\"n\": 1}') "
                           "RETURNING event_id",
                           topic, aggregate)[0]
        .as<std::int64_t>();
  }

  std::vector<std::int64_t> insert_committed(int count, const std::string& topic = "test.event") {
    pqxx::connection connection(writer_url);
    pqxx::work tx(connection);
    std::vector<std::int64_t> ids;
    for (int i = 0; i < count; ++i) ids.push_back(insert_event(tx, topic));
    tx.commit();
    return ids;
  }

  // Every event's id in the consumption order.
  std::vector<std::int64_t> consumption_order() {
    pqxx::connection connection(database.url());
    pqxx::nontransaction tx(connection);
    std::vector<std::int64_t> ids;
    for (const auto& row : tx.exec("SELECT event_id FROM cch.outbox ORDER BY xact_id, event_id")) {
      ids.push_back(row[0].as<std::int64_t>());
    }
    return ids;
  }

  // Waits until every committed event is final (below the xmin of a fresh snapshot). Transactions
  // of the other tests running on the same cluster hold the xmin back for a moment: a consumer
  // then finds nothing new although committed events wait.
  void wait_until_all_final() {
    const auto deadline = Clock::now() + 30s;
    while (scalar("SELECT count(*) FILTER (WHERE xact_id >= pg_snapshot_xmin(pg_current_snapshot())) "
                  "FROM cch.outbox") > 0) {
      ASSERT_LT(Clock::now(), deadline) << "a transaction of the cluster holds the xmin back for 30 s";
      std::this_thread::sleep_for(2ms);
    }
  }

  std::int64_t scalar(const std::string& sql) {
    pqxx::connection connection(database.url());
    pqxx::nontransaction tx(connection);
    return tx.exec(sql)[0][0].as<std::int64_t>();
  }

  cch::testing::ScratchDatabase database;
  std::string writer_url;
  std::unique_ptr<db::ConnectionPool> pool;
  http::Metrics metrics;
};

// A handler that records what it was given, in order.
struct Recorder {
  std::mutex mutex;
  std::vector<std::int64_t> ids;  // guarded by mutex
  std::vector<std::string> topics;

  OutboxHandler handler() {
    return [this](pqxx::transaction_base&, std::span<const OutboxEvent> events) {
      const std::lock_guard lock(mutex);
      for (const auto& event : events) {
        ids.push_back(event.position.event_id);
        topics.push_back(event.topic);
      }
    };
  }
  std::vector<std::int64_t> delivered() {
    const std::lock_guard lock(mutex);
    return ids;
  }
};

template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return condition();
}

TEST_F(Outbox, EventsOfTransactionsCommittingOutOfIdOrderAreAllDeliveredOnceInCursorOrder) {
  Recorder recorder;
  OutboxConsumer consumer(*pool, metrics, options_for("out_of_order"), recorder.handler());
  EXPECT_EQ(consumer.process_batch().status, OutboxBatchStatus::nothing_new);

  // The classic gap: A draws the lower event id, B the higher; B commits first.
  pqxx::connection a_connection(writer_url), b_connection(writer_url);
  pqxx::work a(a_connection);
  const std::int64_t a_id = insert_event(a);
  pqxx::work b(b_connection);
  const std::int64_t b_id = insert_event(b);
  ASSERT_LT(a_id, b_id);
  b.commit();
  {
    // What a reader by event_id sees now: B's event alone; a cursor moved to it would skip A's.
    pqxx::connection reader(writer_url);
    pqxx::nontransaction tx(reader);
    const auto visible = tx.exec_params("SELECT event_id FROM cch.outbox WHERE event_id >= $1 ORDER BY event_id", a_id);
    ASSERT_EQ(visible.size(), 1U);
    EXPECT_EQ(visible[0][0].as<std::int64_t>(), b_id);
  }
  const auto while_a_runs = consumer.process_batch();
  EXPECT_EQ(while_a_runs.status, OutboxBatchStatus::nothing_new)
      << "B's event waits while A, which began writing before it, runs";
  EXPECT_TRUE(while_a_runs.held_back);
  EXPECT_TRUE(recorder.delivered().empty());
  a.commit();
  wait_until_all_final();
  auto outcome = consumer.process_batch();
  EXPECT_EQ(outcome.status, OutboxBatchStatus::moved);
  EXPECT_EQ(outcome.events_handled, 2U);
  EXPECT_EQ(recorder.delivered(), (std::vector<std::int64_t>{a_id, b_id}));

  // The transaction ids in the other order from the event ids: C takes its transaction id first
  // and writes last, inside a savepoint (as a venue batch written first does); D writes between.
  // An aborted transaction's event is never delivered.
  pqxx::connection c_connection(writer_url), d_connection(writer_url), e_connection(writer_url);
  pqxx::work c(c_connection);
  c.exec("SELECT pg_current_xact_id()");
  pqxx::work d(d_connection);
  const std::int64_t d_id = insert_event(d);
  pqxx::work e(e_connection);
  insert_event(e);
  c.exec("SAVEPOINT written_first");
  const std::int64_t c_id = insert_event(c);
  c.exec("RELEASE SAVEPOINT written_first");
  ASSERT_LT(d_id, c_id);
  d.commit();
  e.abort();
  EXPECT_EQ(consumer.process_batch().status, OutboxBatchStatus::nothing_new);
  c.commit();
  wait_until_all_final();
  outcome = consumer.process_batch();
  EXPECT_EQ(outcome.status, OutboxBatchStatus::moved);
  EXPECT_EQ(outcome.events_read, 2U);
  EXPECT_EQ(recorder.delivered(), (std::vector<std::int64_t>{a_id, b_id, c_id, d_id}))
      << "C's event first: its transaction id is the lower";
  EXPECT_EQ(recorder.delivered(), consumption_order());
  EXPECT_EQ(consumer.process_batch().status, OutboxBatchStatus::nothing_new);
  EXPECT_EQ(metrics.counter("cch_outbox_out_of_order_events_handled_total", "").value(), 4U);
  EXPECT_EQ(metrics.counter("cch_outbox_out_of_order_batches_total", "").value(), 2U);
  const OutboxPosition cursor = consumer.cursor();
  EXPECT_EQ(cursor.event_id, d_id);
  EXPECT_EQ(scalar("SELECT events_handled FROM cch.outbox_cursor WHERE consumer = 'out_of_order'"), 4);
}

TEST_F(Outbox, TransactionIdsAreOrderedAsNumbersNotAsText) {
  // Writers may not set xact_id; the superuser may: two events as if written by transactions 100
  // and 99 (as text, '100' sorts before '99').
  pqxx::connection superuser(database.url());
  pqxx::work tx(superuser);
  const auto insert = [&](const char* xact_id) {
    return tx.exec_params1("INSERT INTO cch.outbox (topic, aggregate_id, payload, xact_id) "
                           "VALUES ('test.event', 0, '{}', $1::xid8) RETURNING event_id",
                           xact_id)[0]
        .as<std::int64_t>();
  };
  const std::int64_t written_by_100 = insert("100");
  const std::int64_t written_by_99 = insert("99");
  tx.commit();
  Recorder recorder;
  OutboxConsumerOptions options = options_for("numeric_order");
  options.batch_max = 1;  // the cursor stops between the two
  OutboxConsumer consumer(*pool, metrics, options, recorder.handler());
  EXPECT_EQ(consumer.process_batch().events_handled, 1U);
  EXPECT_EQ(consumer.process_batch().events_handled, 1U);
  EXPECT_EQ(consumer.process_batch().status, OutboxBatchStatus::nothing_new);
  EXPECT_EQ(recorder.delivered(), (std::vector<std::int64_t>{written_by_99, written_by_100}));
}

TEST_F(Outbox, ManyConcurrentWritersCommittingInAnyOrderAreDeliveredOnceEachInCursorOrder) {
  Recorder recorder;
  OutboxConsumerOptions options = options_for("concurrent");
  options.batch_max = 7;  // batches end inside transactions' runs of events
  OutboxConsumer consumer(*pool, metrics, options, recorder.handler());
  constexpr int kWriters = 4;
  constexpr int kTransactions = 40;
  std::atomic<bool> writing{true};
  std::vector<std::thread> writers;
  std::atomic<int> committed{0};
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      pqxx::connection connection(writer_url);
      for (int t = 0; t < kTransactions; ++t) {
        pqxx::work tx(connection);
        for (int i = 0; i <= (t + w) % 5; ++i) {
          insert_event(tx, "test.event", w);
          std::this_thread::sleep_for(100us);  // the writers' ids interleave
        }
        std::this_thread::sleep_for(std::chrono::microseconds(200 * ((t * 7 + w) % 5)));  // commits interleave
        if ((t + w) % 9 == 4) {
          tx.abort();
        } else {
          tx.commit();
          ++committed;
        }
      }
    });
  }
  std::thread reader([&] {
    while (writing.load()) {
      consumer.process_batch();
      std::this_thread::sleep_for(1ms);
    }
  });
  for (auto& writer : writers) writer.join();
  writing = false;
  reader.join();
  wait_until_all_final();
  while (consumer.process_batch().status == OutboxBatchStatus::moved) {
  }
  const auto delivered = recorder.delivered();
  EXPECT_EQ(delivered, consumption_order()) << "every committed event once, in cursor order";
  EXPECT_EQ(static_cast<std::int64_t>(delivered.size()), scalar("SELECT count(*) FROM cch.outbox"));
  EXPECT_GT(committed.load(), 0);
  auto by_id = delivered;
  std::sort(by_id.begin(), by_id.end());
  EXPECT_NE(delivered, by_id) << "the writers' transactions did not interleave: the test proved nothing";
}

TEST_F(Outbox, EventsOfOtherTopicsArePassedOverAndTheCursorMovesPastThem) {
  Recorder recorder;
  OutboxConsumer consumer(*pool, metrics, options_for("picky", {"curve_set.built"}), recorder.handler());
  insert_committed(3, "trade.cleared");
  const auto wanted = insert_committed(2, "curve_set.built");
  insert_committed(1, "trade.cleared");
  wait_until_all_final();
  const auto outcome = consumer.process_batch();
  EXPECT_EQ(outcome.status, OutboxBatchStatus::moved);
  EXPECT_EQ(outcome.events_read, 6U);
  EXPECT_EQ(outcome.events_handled, 2U);
  EXPECT_EQ(recorder.delivered(), wanted);
  EXPECT_EQ(metrics.counter("cch_outbox_picky_events_passed_total", "").value(), 4U);
  EXPECT_EQ(consumer.measure_lag().events, 0);
  EXPECT_EQ(consumer.process_batch().status, OutboxBatchStatus::nothing_new);
}

TEST_F(Outbox, AFailingHandlerRollsBackItsEffectsWithTheBatchAndIsRetriedAfterAGrowingBackOff) {
  std::mutex mutex;
  std::vector<Clock::time_point> attempts;
  std::atomic<int> failures_left{3};
  OutboxConsumerOptions options = options_for("failing");
  options.failure_backoff_first = 40ms;
  options.failure_backoff_max = 1s;
  options.poll_interval = 10ms;  // wake-ups must not shorten the back-off
  auto consumer = std::make_shared<OutboxConsumer>(
      *pool, metrics, options, [&](pqxx::transaction_base& tx, std::span<const OutboxEvent> events) {
        for (const auto& event : events) {
          tx.exec_params("INSERT INTO public.effect (event_id, handled_in) VALUES ($1, 0)", event.position.event_id);
        }
        {
          const std::lock_guard lock(mutex);
          attempts.push_back(Clock::now());
        }
        if (failures_left.fetch_sub(1) > 0) throw std::runtime_error("downstream refused (test)");
      });
  const auto ids = insert_committed(5);
  BackgroundTasks tasks(metrics);
  ASSERT_TRUE(add_outbox_consumer(tasks, consumer));
  tasks.start();
  ASSERT_TRUE(eventually([&] { return scalar("SELECT count(*) FROM public.effect") == 5; }));
  EXPECT_TRUE(tasks.stop());
  const std::lock_guard lock(mutex);
  ASSERT_EQ(attempts.size(), 4U);
  for (std::size_t i = 1; i < attempts.size(); ++i) {
    const auto gap = attempts[i] - attempts[i - 1];
    EXPECT_GE(gap, 40ms * (1 << (i - 1)) - 2ms) << "retry " << i << " came too soon";
  }
  EXPECT_EQ(metrics.counter("cch_outbox_failing_failures_total", "").value(), 3U);
  EXPECT_EQ(metrics.counter("cch_outbox_failing_events_handled_total", "").value(), 5U);
  EXPECT_EQ(scalar("SELECT count(*) FROM public.effect"), 5) << "the failed attempts' effects rolled back";
}

TEST_F(Outbox, TwoInstancesOfOneConsumerNeverHandleABatchAtOnce) {
  std::promise<void> entered;
  std::promise<void> release;
  auto released = release.get_future().share();
  std::atomic<int> first_calls{0};
  OutboxConsumer first(*pool, metrics, options_for("shared"),
                       [&](pqxx::transaction_base&, std::span<const OutboxEvent>) {
                         if (first_calls++ == 0) {
                           entered.set_value();
                           released.wait();
                         }
                       });
  Recorder recorder;
  OutboxConsumer second(*pool, metrics, options_for("shared"), recorder.handler());
  insert_committed(3);
  wait_until_all_final();
  auto first_batch = std::async(std::launch::async, [&] { return first.process_batch(); });
  if (entered.get_future().wait_for(30s) != std::future_status::ready) {
    release.set_value();
    FAIL() << "the first instance never got its batch";
  }
  EXPECT_EQ(second.process_batch().status, OutboxBatchStatus::busy);
  release.set_value();
  EXPECT_EQ(first_batch.get().events_handled, 3U);
  EXPECT_EQ(second.process_batch().status, OutboxBatchStatus::nothing_new) << "the first's batch is not the second's";
  const auto later = insert_committed(2);
  wait_until_all_final();
  EXPECT_EQ(second.process_batch().events_handled, 2U);
  EXPECT_EQ(recorder.delivered(), later);
}

TEST_F(Outbox, ANotificationWakesTheConsumerLongBeforeItsPollIntervalAlsoAfterItsListenConnectionDied) {
  Recorder recorder;
  auto consumer = std::make_shared<OutboxConsumer>(*pool, metrics, options_for("woken"), recorder.handler());
  auto notifier = std::make_shared<OutboxNotifier>(*pool, metrics, 5ms);
  BackgroundTasks tasks(metrics);
  ASSERT_TRUE(add_outbox_consumer(tasks, consumer));
  ASSERT_TRUE(add_outbox_notifier(tasks, notifier));
  tasks.start();
  const auto listener_pid = [&] {
    return scalar("SELECT COALESCE(max(pid), 0) FROM pg_stat_activity WHERE datname = current_database() "
                  "AND query LIKE 'LISTEN%'");
  };
  ASSERT_TRUE(eventually([&] { return listener_pid() != 0; }));
  const auto first = insert_committed(1);
  notifier->events_committed();
  EXPECT_TRUE(eventually([&] { return recorder.delivered().size() == 1; }, 3s)) << "the poll interval is 60 s";

  const auto killed = listener_pid();
  scalar("SELECT count(pg_terminate_backend(" + std::to_string(killed) + "))");
  ASSERT_TRUE(eventually([&] { return listener_pid() != 0 && listener_pid() != killed; }))
      << "the consumer listens again on a new connection";
  insert_committed(1);
  notifier->events_committed();
  EXPECT_TRUE(eventually([&] { return recorder.delivered().size() == 2; }, 3s));
  EXPECT_TRUE(tasks.stop());
  EXPECT_EQ(recorder.delivered(), consumption_order());
  EXPECT_GE(metrics.counter("cch_outbox_notifications_total", "").value(), 2U);
}

TEST_F(Outbox, AnEventHeldBackByAnOlderTransactionIsDeliveredSoonAfterItEndsWithoutAWakeUp) {
  Recorder recorder;
  auto consumer = std::make_shared<OutboxConsumer>(*pool, metrics, options_for("held_back"), recorder.handler());
  auto notifier = std::make_shared<OutboxNotifier>(*pool, metrics, 5ms);
  BackgroundTasks tasks(metrics);
  ASSERT_TRUE(add_outbox_consumer(tasks, consumer));
  ASSERT_TRUE(add_outbox_notifier(tasks, notifier));
  tasks.start();
  // An older transaction that writes no event (an audit row, a ledger posting) and so sends no
  // wake-up when it ends.
  pqxx::connection older_connection(writer_url);
  pqxx::work older(older_connection);
  older.exec("SELECT pg_current_xact_id()");
  insert_committed(1);
  notifier->events_committed();
  std::this_thread::sleep_for(200ms);
  EXPECT_TRUE(recorder.delivered().empty()) << "the event is not final while the older transaction runs";
  older.commit();
  EXPECT_TRUE(eventually([&] { return recorder.delivered().size() == 1; }, 3s)) << "the poll interval is 60 s";
  EXPECT_TRUE(tasks.stop());
}

TEST_F(Outbox, AGatheringConsumerHandlesTheEventsOfItsPauseTogether) {
  std::mutex mutex;
  std::vector<std::pair<Clock::time_point, std::size_t>> calls;  // guarded by mutex
  auto options = options_for("gathering");
  options.gather = 800ms;
  auto consumer = std::make_shared<OutboxConsumer>(
      *pool, metrics, options, [&](pqxx::transaction_base&, std::span<const OutboxEvent> events) {
        const std::lock_guard lock(mutex);
        calls.emplace_back(Clock::now(), events.size());
      });
  auto notifier = std::make_shared<OutboxNotifier>(*pool, metrics, 5ms);
  BackgroundTasks tasks(metrics);
  ASSERT_TRUE(add_outbox_consumer(tasks, consumer));
  ASSERT_TRUE(add_outbox_notifier(tasks, notifier));
  tasks.start();
  const auto delivered = [&] {
    const std::lock_guard lock(mutex);
    std::size_t events = 0;
    for (const auto& call : calls) events += call.second;
    return events;
  };
  insert_committed(1);
  notifier->events_committed();
  ASSERT_TRUE(eventually([&] { return delivered() == 1; }, 3s)) << "the first event is handled at once";
  for (int i = 0; i < 15; ++i) {  // one event a transaction, each with its wake-up, over about 300 ms
    insert_committed(1);
    notifier->events_committed();
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(eventually([&] { return delivered() == 16; }, 5s));
  {
    const std::lock_guard lock(mutex);
    // Every event arrived while the first run's pause lasted: one more call, unless a transaction of
    // another test held some back (then later calls, each a pause after the one before).
    ASSERT_GE(calls.size(), 2U);
    EXPECT_GE(calls[1].second, 2U) << "the pause's events are handled together";
    for (std::size_t i = 1; i < calls.size(); ++i) {
      EXPECT_GE(calls[i].first - calls[i - 1].first, 700ms) << "call " << i << " came before the pause ended";
    }
  }
  EXPECT_TRUE(tasks.stop());
}

TEST_F(Outbox, AStopDuringAGatheringConsumersPauseEndsItAtOnce) {
  Recorder recorder;
  auto options = options_for("gathering_long");
  options.gather = 60s;
  auto consumer = std::make_shared<OutboxConsumer>(*pool, metrics, options, recorder.handler());
  BackgroundTasks tasks(metrics);
  ASSERT_TRUE(add_outbox_consumer(tasks, consumer));
  insert_committed(1);
  wait_until_all_final();
  tasks.start();
  ASSERT_TRUE(eventually([&] { return recorder.delivered().size() == 1; }, 3s));
  const auto stopping = Clock::now();
  EXPECT_TRUE(tasks.stop());
  EXPECT_LT(Clock::now() - stopping, 10s) << "the pause is 60 s";
}

TEST_F(Outbox, TheNotifierCoalescesWakeUpsToOneAtMostEveryInterval) {
  pqxx::connection listening(writer_url);
  struct Counting final : pqxx::notification_receiver {
    using pqxx::notification_receiver::notification_receiver;
    void operator()(const std::string&, int) override { ++received; }
    int received = 0;
  } receiver(listening, std::string(kOutboxChannel));
  auto notifier = std::make_shared<OutboxNotifier>(*pool, metrics, 50ms);
  BackgroundTasks tasks(metrics);
  ASSERT_TRUE(add_outbox_notifier(tasks, notifier));
  tasks.start();
  const auto started = Clock::now();
  while (Clock::now() - started < 300ms) {
    notifier->events_committed();
    std::this_thread::sleep_for(100us);
  }
  const auto elapsed = Clock::now() - started;
  std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(tasks.stop());
  const auto sent = metrics.counter("cch_outbox_notifications_total", "").value();
  EXPECT_GE(sent, 2U);
  EXPECT_LE(sent, static_cast<std::uint64_t>(elapsed / 50ms) + 2) << "at most one per interval";
  while (listening.await_notification(0, 200'000) > 0) {
  }
  EXPECT_EQ(receiver.received, static_cast<int>(sent)) << "each NOTIFY arrived";
}

TEST_F(Outbox, LagIsTheEventsAfterTheCursorAndTheAgeOfTheFirst) {
  Recorder recorder;
  OutboxConsumer consumer(*pool, metrics, options_for("lagging"), recorder.handler());
  insert_committed(3);
  std::this_thread::sleep_for(20ms);
  auto lag = consumer.measure_lag();
  EXPECT_EQ(lag.events, 3);
  EXPECT_GE(lag.age_ms, 15);
  EXPECT_EQ(metrics.gauge("cch_outbox_lagging_lag_events", "").value(), 3);
  wait_until_all_final();
  consumer.process_batch();
  lag = consumer.measure_lag();
  EXPECT_EQ(lag.events, 0);
  EXPECT_EQ(lag.age_ms, 0);
}

TEST_F(Outbox, AConsumerStartingNowLeavesTheEventsAlreadyThere) {
  insert_committed(4);
  wait_until_all_final();
  Recorder recorder;
  OutboxConsumerOptions options = options_for("from_now");
  options.start = OutboxStart::now;
  OutboxConsumer consumer(*pool, metrics, options, recorder.handler());
  EXPECT_EQ(consumer.process_batch().status, OutboxBatchStatus::nothing_new);
  const auto later = insert_committed(2);
  wait_until_all_final();
  EXPECT_EQ(consumer.process_batch().events_handled, 2U);
  EXPECT_EQ(recorder.delivered(), later);
}

TEST_F(Outbox, WritersCannotChooseAnEventsTransactionIdNorChangeAnEvent) {
  pqxx::connection connection(writer_url);
  {
    pqxx::work tx(connection);
    EXPECT_THROW(tx.exec("INSERT INTO cch.outbox (topic, aggregate_id, payload, xact_id) VALUES ('x.y', 0, '{}', '1')"),
                 pqxx::insufficient_privilege);
  }
  {
    pqxx::work tx(connection);
    insert_event(tx);
    tx.commit();
  }
  pqxx::work tx(connection);
  EXPECT_THROW(tx.exec("UPDATE cch.outbox SET topic = 'x.z'"), pqxx::insufficient_privilege);
}

}  // namespace
}  // namespace cch::runtime
