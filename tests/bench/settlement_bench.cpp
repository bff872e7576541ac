// cch-settlement-bench: daily settlement runs over a million open legs of a thousand members,
// against a plain COPY of as many rows into PostgreSQL, in the same run
// (tests/bench/settlement-benchmark).
//
//   cch-settlement-bench --url URL [--members 1000] [--legs 1000000] [--rounds 3]
//
// Set-up (as the URL's superuser): migrate; the benchmarks' world (bench_world.hpp: `members`
// members, 20 products, legs/2 cleared trades with windows over the next 1,000 days, cleared the
// day before the first date) and the synthetic market data of rounds + 1 business dates up to the
// last business day before today, with each date's curve set built. Then the first date is settled
// (from nothing: every leg's mark is its variation margin), and, alternately, `rounds` times:
//   settle   settlement::settle of the next date, as cch-settlement runs it: its inputs fixed, every
//            open leg marked and its mark stored by COPY, every leg's variation margin (its mark
//            less the previous run's) summed per member, product and kind, interest, one journal
//            per member posted, the run completed; each step committed (durably: fsync on)
//   copy     COPY of as many rows of the leg marks' shape into a table with the same key, committed
// Prints key=value figures: each round's seconds, the steps' durations, the medians and their ratio.
#include "bench_clock.hpp"
#include "bench_world.hpp"
#include "cch/core/calendar.hpp"
#include "cch/db/migrate.hpp"
#include "cch/db/pool.hpp"
#include "cch/runtime/schema.hpp"
#include "cch/db/copy_writer.hpp"
#include "cch/settlement/runs.hpp"

#include <CLI/CLI.hpp>
#include <pqxx/pqxx>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <tuple>

namespace {

using namespace cch;
using bench::Clock;
using bench::median;
using bench::seconds_since;

}  // namespace

int main(int argc, char** argv) {
  std::string url;
  std::int64_t members = 1'000;
  std::int64_t legs = 1'000'000;
  int rounds = 3;
  CLI::App app{"cch-settlement-bench: daily settlement runs against a plain COPY of as many rows"};
  app.add_option("--url", url, "PostgreSQL URL (a superuser: the set-up writes rows directly)")->required();
  app.add_option("--members", members, "Members (at least 2)");
  app.add_option("--legs", legs, "Open legs (two per trade)");
  app.add_option("--rounds", rounds, "Rounds of each (at least 1)");
  CLI11_PARSE(app, argc, argv);
  if (members < 2 || legs < 2 || rounds < 1) {
    std::cerr << "at least 2 members, 2 legs and 1 round\n";
    return 2;
  }
  const BusinessCalendar calendar = make_calendar("united_states_settlement").value();
  const UtcTimestamp now = UtcTimestamp::now();
  const BusinessDate today = BusinessDate::containing(now);
  std::vector<BusinessDate> dates{calendar.previous_business_day(today).value()};
  while (static_cast<int>(dates.size()) < rounds + 1) {
    dates.insert(dates.begin(), calendar.previous_business_day(dates.front()).value());
  }

  pqxx::connection connection(url);
  {
    const auto setup = Clock::now();
    const auto migrated = db::migrate(connection, runtime::schema_migrations());
    if (!migrated) {
      std::cerr << "migrate: " << migrated.error().message << "\n";
      return 3;
    }
    pqxx::work tx(connection);
    // Windows within 1,000 days: the forward curves of the earliest date reach that far.
    const auto made = bench::make_world(tx, {members, legs / 2, dates.back().add_days(1).value(), dates.front(),
                                             dates.back(), today, dates.front().start_of_day(), 1000});
    if (!made) {
      std::cerr << "import: " << made.error() << "\n";
      return 1;
    }
    for (const BusinessDate date : dates) {
      const auto built = risk::build_curve_set(tx, {date, calendar, today, "bench", std::nullopt});
      if (!built) {
        std::cerr << "curves of " << date.format() << ": " << built.error().detail << "\n";
        return 1;
      }
    }
    // The synthetic prices quote months from the next, quarters and the next two years: the rest
    // of the current month and the windows' days beyond those years have no price. An operator
    // approves the curve for them, product by product and date by date, as for a real publisher
    // that quotes no balance of the month; each run then records the days and legs it marked so.
    for (const BusinessDate date : dates) {
      for (const ProductId product : made->products) {
        const auto approved = settlement::approve_price_fallback(
            tx, {product, date, settlement::FallbackMethod::curve, "synthetic prices quote no balance of the month",
                 "bench", std::nullopt});
        if (!approved) {
          std::cerr << "fallback of " << date.format() << ": " << approved.error().detail << "\n";
          return 1;
        }
      }
    }
    tx.exec(
        "CREATE TABLE public.bench_copy (run_id bigint NOT NULL, trade_id bigint NOT NULL, side text NOT NULL, "
        "member_id bigint NOT NULL, product_id bigint NOT NULL, kind text NOT NULL, pv_minor bigint NOT NULL, "
        "PRIMARY KEY (run_id, trade_id, side))");
    tx.commit();
    pqxx::nontransaction analyse(connection);
    analyse.exec("VACUUM ANALYZE cch.trade, cch.trade_leg");
    std::cout << "setup_seconds=" << seconds_since(setup) << " members=" << members << " trades=" << legs / 2
              << " dates=" << dates.front().format() << ".." << dates.back().format() << std::endl;
  }

  db::PoolOptions options;
  options.url = url;
  options.size = 3;
  options.application_name = "cch-settlement-bench";
  db::ConnectionPool pool(options);
  const auto settle = [&](BusinessDate date) -> std::optional<settlement::SettlementRun> {
    const auto settled = settlement::settle(pool, {date, calendar, now, "bench", std::nullopt, {}});
    if (!settled) {
      std::cerr << "settle " << date.format() << ": " << settled.error().detail << "\n";
      return std::nullopt;
    }
    return settled->run;
  };
  const auto steps = [](const settlement::SettlementRun& run) {
    std::int64_t fallback_legs = 0;
    for (const auto& fallback : run.price_fallbacks) fallback_legs += fallback.legs;
    std::string text = " fallback_products=" + std::to_string(run.price_fallbacks.size()) +
                       " fallback_legs=" + std::to_string(fallback_legs);
    for (const auto& step : run.steps) {
      text += " " + std::string(settlement::to_string(step.step)) + "_seconds=" +
              std::to_string(static_cast<double>(step.finished_at.unix_microseconds() -
                                                 step.started_at.unix_microseconds()) /
                             1e6);
    }
    return text;
  };
  {
    const auto start = Clock::now();
    const auto first = settle(dates.front());
    if (!first) return 1;
    std::cout << "first_date=" << dates.front().format() << " first_run_seconds=" << seconds_since(start)
              << steps(*first) << std::endl;
  }
  std::vector<double> settle_seconds, copy_seconds;
  for (int round = 0; round < rounds; ++round) {
    const BusinessDate date = dates[static_cast<std::size_t>(round) + 1];
    const auto start = Clock::now();
    const auto run = settle(date);
    if (!run) return 1;
    settle_seconds.push_back(seconds_since(start));
    std::int64_t marked = 0;
    {
      pqxx::work tx(connection);
      marked = tx.exec_params1("SELECT count(*) FROM settlement.leg_mark WHERE run_id = $1", run->run_id)[0]
                   .as<std::int64_t>();
      tx.exec("TRUNCATE public.bench_copy");
      tx.commit();
    }
    {
      pqxx::work tx(connection);
      const auto copy_start = Clock::now();
      // Written as the run writes its marks (db::CopyWriter), so that the two differ by what the
      // run does besides, not by how the rows are formatted.
      db::CopyWriter in(tx, "public.bench_copy",
                        {"run_id", "trade_id", "side", "member_id", "product_id", "kind", "pv_minor"});
      for (std::int64_t i = 0; i < marked; ++i) {
        in.integer(1)
            .integer(i / 2 + 1)
            .text(i % 2 == 0 ? "buy" : "sell")
            .integer(1 + (i / 2) % members)
            .integer(1 + i % 20)
            .text(i % 8 == 0 ? "future" : "forward")
            .integer((i % 2 == 0 ? 1 : -1) * (1000 + i % 977))
            .end_row();
      }
      in.complete();
      tx.commit();
      copy_seconds.push_back(seconds_since(copy_start));
    }
    std::cout << "round=" << round + 1 << " date=" << date.format() << " legs_marked=" << marked
              << " settle_seconds=" << settle_seconds.back() << steps(*run) << " copy_seconds=" << copy_seconds.back()
              << std::endl;
  }
  std::cout << "settle_median_seconds=" << median(settle_seconds) << " copy_median_seconds=" << median(copy_seconds)
            << " ratio=" << median(settle_seconds) / median(copy_seconds) << std::endl;
  return 0;
}
