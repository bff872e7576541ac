// kill -9 of an outbox consumer in the middle of its batches, again and again while writers
// commit (and abort) events: afterwards every committed event has its effect exactly once, in the
// cursor's order, no aborted event has one, and the deliveries recorded outside the batches'
// transactions show that events did come again (at-least-once delivery, exactly-once effect).
#include "cch/testing/process.hpp"
#include "ledger_fixture.hpp"

#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/transaction>

#include <signal.h>

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

namespace {

using namespace std::chrono_literals;

std::int64_t scalar(const std::string& url, const std::string& sql) {
  pqxx::connection connection(url);
  pqxx::nontransaction tx(connection);
  return tx.exec(sql)[0][0].as<std::int64_t>();
}

std::vector<std::int64_t> column(const std::string& url, const std::string& sql) {
  pqxx::connection connection(url);
  pqxx::nontransaction tx(connection);
  std::vector<std::int64_t> values;
  for (const auto& row : tx.exec(sql)) values.push_back(row[0].as<std::int64_t>());
  return values;
}

}  // namespace

TEST(OutboxCrash, KillNineMidBatchRepeatedlyLeavesEveryEventHandledOnceInEffect) {
  cch::ledger::testing::LedgerFixture fixture;
  {
    auto connection = fixture.superuser();
    pqxx::nontransaction tx(connection);
    tx.exec("CREATE TABLE public.effect (event_id bigint PRIMARY KEY, written bigserial UNIQUE)");
    tx.exec("CREATE TABLE public.delivery (event_id bigint NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())");
    tx.exec("GRANT SELECT, INSERT ON public.effect, public.delivery TO cch_writer");
    tx.exec("GRANT USAGE ON SEQUENCE public.effect_written_seq TO cch_writer");
  }

  // Writers: transactions of 1 to 20 events, one in seven aborted, until told to stop.
  std::atomic<bool> writing{true};
  std::vector<std::thread> writers;
  for (int w = 0; w < 3; ++w) {
    writers.emplace_back([&, w] {
      std::mt19937 random(static_cast<unsigned>(w) + 1);
      pqxx::connection connection(fixture.writer_url);
      for (int t = 0; writing.load() && t < 2000; ++t) {
        pqxx::work tx(connection);
        const int events = 1 + static_cast<int>(random() % 20);
        tx.exec_params("INSERT INTO cch.outbox (topic, aggregate_id, payload) "
                       "SELECT 'crash.test', $1, '{}' FROM generate_series(1, $2)",
                       w, events);
        std::this_thread::sleep_for(std::chrono::milliseconds(random() % 8));
        if (random() % 7 == 0) {
          tx.abort();
        } else {
          tx.commit();
        }
      }
    });
  }

  const auto start_consumer = [&] {
    return std::make_unique<cch::testing::ChildProcess>(
        CCH_OUTBOX_CRASH_CONSUMER_BINARY,
        std::vector<std::string>{"--url", fixture.writer_url, "--batch", "50", "--handler-sleep-ms", "15"});
  };
  const auto redeliveries = [&] {
    return scalar(fixture.writer_url, "SELECT count(*) - count(DISTINCT event_id) FROM public.delivery");
  };
  std::mt19937 random(42);
  int kills = 0;
  for (; kills < 40 && (kills < 8 || redeliveries() == 0); ++kills) {
    auto consumer = start_consumer();
    std::this_thread::sleep_for(std::chrono::milliseconds(150 + random() % 250));
    ASSERT_TRUE(consumer->running()) << consumer->standard_error();
    consumer->send_signal(SIGKILL);
    const auto status = consumer->wait_for_exit(30s);
    ASSERT_TRUE(status.has_value());
    EXPECT_EQ(*status, 128 + SIGKILL);
  }
  writing = false;
  for (auto& writer : writers) writer.join();

  // The last consumer catches up and is stopped cleanly.
  const std::int64_t events = scalar(fixture.writer_url, "SELECT count(*) FROM cch.outbox");
  auto consumer = start_consumer();
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  while (scalar(fixture.writer_url, "SELECT count(*) FROM public.effect") < events &&
         std::chrono::steady_clock::now() < deadline && consumer->running()) {
    std::this_thread::sleep_for(50ms);
  }
  consumer->send_signal(SIGTERM);
  EXPECT_EQ(consumer->wait_for_exit(30s), 0) << consumer->standard_error();
  EXPECT_EQ(consumer->standard_error().find("outbox_batch_failed"), std::string::npos) << consumer->standard_error();

  if (scalar(fixture.writer_url, "SELECT count(*) FROM public.effect") != events) {
    ADD_FAILURE() << "the last consumer: " << consumer->standard_error();
    pqxx::connection connection(fixture.writer_url);
    pqxx::nontransaction tx(connection);
    for (const auto& row : tx.exec("SELECT consumer || ' ' || xact_id::text || ' ' || event_id || ' ' || events_handled "
                                   "FROM cch.outbox_cursor")) {
      ADD_FAILURE() << "cursor " << row[0].as<std::string>();
    }
    for (const auto& row : tx.exec("SELECT o.event_id || ' ' || o.xact_id::text || ' ' || o.created_at::text FROM cch.outbox o "
                                   "WHERE NOT EXISTS (SELECT 1 FROM public.effect e WHERE e.event_id = o.event_id) "
                                   "ORDER BY o.xact_id, o.event_id LIMIT 20")) {
      ADD_FAILURE() << "missing " << row[0].as<std::string>();
    }
    for (const auto& row : tx.exec("SELECT e.event_id || ' ' || o.xact_id::text || ' ' || e.written FROM public.effect e "
                                   "JOIN cch.outbox o USING (event_id) ORDER BY e.written LIMIT 5")) {
      ADD_FAILURE() << "first effect " << row[0].as<std::string>();
    }
  }
  EXPECT_GE(kills, 8);
  EXPECT_GT(events, 500);
  EXPECT_EQ(scalar(fixture.writer_url, "SELECT count(*) FROM public.effect"), events) << "every event, once in effect";
  EXPECT_EQ(scalar(fixture.writer_url,
                   "SELECT count(*) FROM cch.outbox o WHERE NOT EXISTS "
                   "(SELECT 1 FROM public.effect e WHERE e.event_id = o.event_id)"),
            0);
  EXPECT_EQ(scalar(fixture.writer_url,
                   "SELECT count(*) FROM public.effect e WHERE NOT EXISTS "
                   "(SELECT 1 FROM cch.outbox o WHERE o.event_id = e.event_id)"),
            0)
      << "no effect of an aborted event";
  EXPECT_EQ(column(fixture.writer_url, "SELECT event_id FROM public.effect ORDER BY written"),
            column(fixture.writer_url, "SELECT event_id FROM cch.outbox ORDER BY xact_id, event_id"))
      << "effects were written in the cursor's order";
  EXPECT_EQ(scalar(fixture.writer_url, "SELECT count(DISTINCT event_id) FROM public.delivery"), events);
  EXPECT_GT(redeliveries(), 0) << "no kill landed between a delivery and its batch's commit";
  EXPECT_EQ(scalar(fixture.writer_url, "SELECT events_handled FROM cch.outbox_cursor WHERE consumer = 'crash_test'"),
            events);
}
