// cch-settle-crash: settles a business date as cch-settlement does (settlement::settle) and, with
// --kill-in STEP, kills itself with SIGKILL inside that step's transaction, just before it would
// commit: the kill -9 of the settlement service in the middle of a run, for
// tests/runs_crash_test.cpp. Exit status: 0 settled, 1 refused (the reason on standard error).
#include "cch/core/log.hpp"
#include "cch/settlement/runs.hpp"

#include <CLI/CLI.hpp>

#include <csignal>
#include <iostream>

int main(int argc, char** argv) {
  CLI::App app{"cch-settle-crash: settle a business date, optionally dying in a step"};
  std::string url;
  std::string date_text;
  std::string now_text;
  std::string kill_in;
  app.add_option("--url", url, "PostgreSQL URL (a cch_writer login)")->required();
  app.add_option("--date", date_text, "The business date")->required();
  app.add_option("--now", now_text, "The instant the run takes as now (UTC, ISO 8601)")->required();
  app.add_option("--kill-in", kill_in, "The step to die in (prices, marks, variation_margin, deliveries, complete)");
  CLI11_PARSE(app, argc, argv);
  cch::log::init("settle-crash", cch::log::Level::warn, cch::log::Format::json);
  cch::db::PoolOptions options;
  options.url = url;
  options.size = 3;  // the run's connection, one reading the legs, one the previous run's marks
  options.application_name = "cch-settle-crash";
  cch::db::ConnectionPool pool(options);
  const cch::settlement::SettleRequest request{
      cch::BusinessDate::parse(date_text).value(), cch::make_calendar("united_states_settlement").value(),
      cch::UtcTimestamp::parse(now_text).value(), "crash-test", std::nullopt,
      [&](cch::settlement::RunStep step) {
        if (cch::settlement::to_string(step) == kill_in) std::raise(SIGKILL);
      }};
  const auto settled = cch::settlement::settle(pool, request);
  if (!settled) {
    std::cerr << cch::settlement::to_string(settled.error().refusal) << ": " << settled.error().detail << "\n";
    return 1;
  }
  return 0;
}
