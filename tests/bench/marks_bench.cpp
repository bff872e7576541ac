// cch-marks-bench: marks of many open legs read from and written to PostgreSQL, against a plain
// COPY of the same legs out and back in, in the same run (tests/bench/marks-benchmark).
//
//   cch-marks-bench --url URL --legs 1000000 --rounds 3
//
// Set-up (as the URL's superuser): migrate, 100 members, 20 products (five of each GPU model the
// synthetic history knows), legs/2 cleared trades written directly (triggers off: a benchmark's
// data, not a business path), the business date's synthetic market data imported and its curve
// set built. Then, alternately, `rounds` times each (every round in a transaction rolled back, so
// each starts from the same state):
//   marks     risk::mark_open_legs: COPY the open legs out, mark each, COPY the marks in, the sums
//   copy      COPY the same legs out, and the same rows back in to a table of their shape
// Prints key=value figures: each round's seconds, the medians and their ratio.
#include "bench_clock.hpp"
#include "bench_world.hpp"
#include "cch/core/calendar.hpp"
#include "cch/db/migrate.hpp"
#include "cch/db/transaction.hpp"
#include "cch/market/csv_import.hpp"
#include "cch/market/synthetic_history.hpp"
#include "cch/risk/curve_sets.hpp"
#include "cch/risk/marks.hpp"
#include "cch/runtime/schema.hpp"

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

constexpr std::string_view kLegsQuery =
    "(SELECT l.trade_id, l.side, l.member_id, l.product_id, "
    "(date_part('epoch', l.delivery_start) * 1000000)::bigint, (date_part('epoch', l.delivery_end) * 1000000)::bigint, "
    "l.gpus, l.price_ticks, l.future::int FROM cch.trade_leg l "
    "WHERE l.delivery_end > '";

}  // namespace

int main(int argc, char** argv) {
  std::string url;
  std::int64_t legs = 1'000'000;
  int rounds = 3;
  CLI::App app{"cch-marks-bench: marks of open legs against a plain COPY of the same rows"};
  app.add_option("--url", url, "PostgreSQL URL (a superuser: the set-up writes rows directly)")->required();
  app.add_option("--legs", legs, "Open legs (two per trade)");
  app.add_option("--rounds", rounds, "Rounds of each");
  CLI11_PARSE(app, argc, argv);

  const BusinessCalendar calendar = make_calendar("united_states_settlement").value();
  BusinessDate date = BusinessDate::containing(UtcTimestamp::now());
  if (!calendar.is_business_day(date)) date = calendar.previous_business_day(date).value();
  const BusinessDate first_day = date.add_days(1).value();

  pqxx::connection connection(url);
  {
    const auto setup = Clock::now();
    const auto migrated = db::migrate(connection, runtime::schema_migrations());
    if (!migrated) {
      std::cerr << "migrate: " << migrated.error().message << "\n";
      return 3;
    }
    pqxx::work tx(connection);
    tx.exec("SET session_replication_role = replica");
    tx.exec("INSERT INTO cch.member (code, legal_name) SELECT 'bench-' || g, 'Bench ' || g FROM generate_series(1, 100) g");
    const bench::BenchProducts products = bench::insert_products(tx, 365);
    // Trades of 8 GPUs for one of the next 12 months (every fourth a futures series), each with
    // its buy and sell leg.
    const std::int64_t trades = legs / 2;
    tx.exec("SET LOCAL TIME ZONE 'UTC'");
    tx.exec_params(
        "INSERT INTO cch.trade (product_id, series_label, buyer_member_id, seller_member_id, delivery_start, "
        "delivery_end, gpus, price_ticks, gpu_hours, notional_minor, submitter_member_id, submitter_reference, state, "
        "submitted_by, expires_at, decided_at, clearing_fee_minor) "
        "SELECT p.product_id, CASE WHEN g % 4 = 0 THEN to_char(w.m, 'YYYY-MM') END, 1 + g % 100, 1 + (g + 7) % 100, "
        "w.m, w.m + interval '1 month', 8, 20000 + 50 * (g % 40), 8 * 24 * 28, 0, 1 + g % 100, 'bench-' || g, "
        "'cleared', 'bench', now() + interval '1 hour', now(), 0 FROM generate_series(1, $1) g "
        "CROSS JOIN LATERAL (SELECT date_trunc('month', $2::timestamp) + interval '1 month' * (1 + g % 12) AS m) w "
        "JOIN (SELECT product_id, row_number() OVER (ORDER BY product_id) - 1 AS k FROM cch.product "
        "WHERE code LIKE 'bench-%') p ON p.k = g % 20",
        trades, date.format());
    tx.exec(
        "INSERT INTO cch.trade_leg (trade_id, member_id, side, product_id, delivery_start, delivery_end, gpus, "
        "price_ticks, future, cleared_at) SELECT trade_id, buyer_member_id, 'buy', product_id, delivery_start, "
        "delivery_end, gpus, price_ticks, series_label IS NOT NULL, decided_at FROM cch.trade UNION ALL SELECT "
        "trade_id, seller_member_id, 'sell', product_id, delivery_start, delivery_end, gpus, price_ticks, "
        "series_label IS NOT NULL, decided_at FROM cch.trade");
    tx.exec("SET session_replication_role = origin");
    market::SyntheticHistoryOptions generate;
    generate.products = products.synthetic;
    generate.from = date;
    generate.to = date;
    const auto history = market::synthetic_history(generate);
    const auto rules = market::market_rules("united_states_settlement", "", date);
    const auto imported =
        market::import_csv(tx, history->csv, "bench", rules, products.terms, risk::forward_curve_consistency());
    if (!imported) {
      std::cerr << "import: " << imported.error().error.detail << "\n";
      return 1;
    }
    tx.commit();
    pqxx::work analyse(connection);
    analyse.exec("ANALYZE cch.trade");
    analyse.exec("ANALYZE cch.trade_leg");
    analyse.commit();
    std::cout << "setup_seconds=" << seconds_since(setup) << " trades=" << trades << "\n";
  }
  std::int64_t curve_set = 0;
  {
    pqxx::work tx(connection);
    const auto built = risk::build_curve_set(tx, {date, calendar, date, "bench", std::nullopt});
    if (!built) {
      std::cerr << "curves: " << built.error().detail << "\n";
      return 1;
    }
    curve_set = built->record.curve_set_id;
    std::cout << "curve_set_build_microseconds=" << built->record.build_microseconds
              << " products=" << built->record.products.size() << "\n";
    tx.commit();
  }

  const std::string legs_query = std::string(kLegsQuery) + first_day.start_of_day().format() + "'::timestamptz)";
  std::vector<double> marks_seconds, copy_seconds;
  std::int64_t marked = 0;
  for (int round = 0; round < rounds; ++round) {
    {
      pqxx::work tx(connection);
      const auto start = Clock::now();
      const auto run = risk::mark_open_legs(tx, curve_set, calendar);
      marks_seconds.push_back(seconds_since(start));
      if (!run) {
        std::cerr << "marks: " << run.error().detail << "\n";
        return 1;
      }
      marked = run->run.legs_marked;
      tx.abort();
    }
    {
      // The aborted round's rows are dead: clear them so that each round starts alike.
      pqxx::nontransaction vacuum(connection);
      vacuum.exec("VACUUM risk.leg_mark, risk.member_mark");
    }
    {
      pqxx::work tx(connection);
      tx.exec(
          "CREATE TEMP TABLE bench_copy (trade_id bigint, side text, member_id bigint, product_id bigint, "
          "delivery_start bigint, delivery_end bigint, gpus bigint, price_ticks bigint, future int, "
          "PRIMARY KEY (trade_id, side)) ON COMMIT DROP");
      const auto start = Clock::now();
      std::vector<std::tuple<std::int64_t, std::string, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                             std::int64_t, std::int64_t, int>>
          rows;
      {
        pqxx::stream_from out(tx, legs_query);
        std::tuple<std::int64_t, std::string, std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                   std::int64_t, int>
            row;
        while (out >> row) rows.push_back(row);
        out.complete();
      }
      {
        pqxx::stream_to in(tx, "bench_copy");
        for (const auto& row : rows) in << row;
        in.complete();
      }
      copy_seconds.push_back(seconds_since(start));
      tx.abort();
    }
    std::cout << "round=" << round + 1 << " marks_seconds=" << marks_seconds.back()
              << " copy_seconds=" << copy_seconds.back() << "\n";
  }
  std::cout << "legs_marked=" << marked << " marks_median_seconds=" << median(marks_seconds)
            << " copy_median_seconds=" << median(copy_seconds)
            << " ratio=" << median(marks_seconds) / median(copy_seconds) << std::endl;
  return 0;
}
