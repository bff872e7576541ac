// cch-outbox-crash-consumer: an outbox consumer process for the kill -9 test
// (tests/outbox_crash_test.cpp). Its handler writes each event's effect in the batch's transaction
// (public.effect, keyed by event_id, with the order it was written in) and, before that, records
// each delivery in public.delivery on a connection of its own, in autocommit: a delivery whose
// batch did not commit stays recorded, so redeliveries show. Then it waits --handler-sleep-ms
// before the batch commits, so that a kill lands between the two. Runs until SIGTERM (exit 0).
#include "cch/core/log.hpp"
#include "cch/db/array.hpp"
#include "cch/http/metrics.hpp"
#include "cch/runtime/outbox.hpp"
#include "cch/runtime/tasks.hpp"

#include <CLI/CLI.hpp>
#include <pqxx/connection>
#include <pqxx/nontransaction>

#include <csignal>
#include <iostream>
#include <memory>
#include <pthread.h>
#include <thread>

int main(int argc, char** argv) {
  CLI::App app{"cch-outbox-crash-consumer: an outbox consumer for the kill -9 test"};
  std::string url;
  std::string consumer_name = "crash_test";
  std::size_t batch_max = 50;
  int handler_sleep_ms = 20;
  int poll_interval_ms = 20;
  app.add_option("--url", url, "PostgreSQL URL (a cch_writer login)")->required();
  app.add_option("--consumer", consumer_name, "The consumer's name");
  app.add_option("--batch", batch_max, "Events per batch");
  app.add_option("--handler-sleep-ms", handler_sleep_ms, "Wait between the deliveries' record and the commit");
  app.add_option("--poll-interval-ms", poll_interval_ms, "The consumer's poll interval");
  CLI11_PARSE(app, argc, argv);
  cch::log::init("outbox-crash-consumer", cch::log::Level::info, cch::log::Format::json);

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  cch::db::PoolOptions pool_options;
  pool_options.url = url;
  pool_options.size = 2;
  pool_options.application_name = "cch-outbox-crash-consumer";
  cch::db::ConnectionPool pool(pool_options);
  cch::http::Metrics metrics;

  cch::runtime::OutboxConsumerOptions options;
  options.consumer = consumer_name;
  options.topics = {"crash.test"};
  options.batch_max = batch_max;
  options.poll_interval = std::chrono::milliseconds(poll_interval_ms);
  options.failure_backoff_first = std::chrono::milliseconds(10);
  options.failure_backoff_max = std::chrono::milliseconds(500);
  std::unique_ptr<pqxx::connection> deliveries;  // the task thread's own, autocommit
  auto consumer = std::make_shared<cch::runtime::OutboxConsumer>(
      pool, metrics, options,
      [&](pqxx::transaction_base& tx, std::span<const cch::runtime::OutboxEvent> events) {
        std::vector<std::int64_t> ids;
        for (const auto& event : events) ids.push_back(event.position.event_id);
        if (!deliveries) deliveries = std::make_unique<pqxx::connection>(url);
        {
          pqxx::nontransaction autocommit(*deliveries);
          autocommit.exec_params("INSERT INTO public.delivery (event_id) SELECT unnest($1::bigint[])",
                                 cch::db::integer_array(ids));
        }
        tx.exec_params("INSERT INTO public.effect (event_id) SELECT unnest($1::bigint[])", cch::db::integer_array(ids));
        std::this_thread::sleep_for(std::chrono::milliseconds(handler_sleep_ms));
      });

  cch::runtime::BackgroundTasks tasks(metrics);
  const auto added = cch::runtime::add_outbox_consumer(tasks, consumer);
  if (!added) {
    std::cerr << "cannot add the consumer: " << cch::runtime::to_string(added.error()) << std::endl;
    return 2;
  }
  tasks.start();
  int signal_number = 0;
  sigwait(&signals, &signal_number);
  const bool stopped = tasks.stop();
  cch::log::info("consumer_stopped", {{"events_handled", metrics.counter("cch_outbox_" + consumer_name +
                                                                             "_events_handled_total", "")
                                                                 .value()},
                                      {"failures", metrics.counter("cch_outbox_" + consumer_name + "_failures_total", "")
                                                       .value()}});
  cch::log::flush();
  return stopped ? 0 : 5;
}
