// cch-factors-bench: the margin model's factor history of the demo's size (tests/bench/factors-benchmark).
//
//   cch-factors-bench --url URL [--years 3] [--rounds 3]
//
// Set-up (as the URL's superuser): migrate, five products as the demo day lists (two H100, an
// A100, an H200 and a B200), `years` of synthetic settlement prices and OIS quotes up to the day
// before today imported as cch-admin market import does (with the consistency rule). Then:
//   cold   risk::load_factor_history of every product over the whole range with nothing stored:
//          a forward curve per settlement snapshot, the levels, one INSERT (`rounds` times, each
//          in a transaction rolled back, so each starts from nothing stored)
//   warm   the same once the levels are stored (committed): reading only
//   by_id  risk::factor_levels_of_snapshots of every snapshot the load answered
//   hash   risk::factor_history_hash of them
//   parts  where the cold load's time goes: the snapshots' prices read
//          (market::settlement_prices_of_snapshots) and their forward curves built in memory
//          (pricing::build_forward_curve, as the load does), each timed alone
// Prints key=value figures: each round's seconds, the medians, the snapshots and the time per curve.
#include "bench_clock.hpp"
#include "cch/core/calendar.hpp"
#include "cch/db/migrate.hpp"
#include "cch/market/csv_import.hpp"
#include "cch/market/synthetic_history.hpp"
#include "cch/pricing/forward_curve.hpp"
#include "cch/risk/curve_sets.hpp"
#include "cch/risk/factor_history.hpp"
#include "cch/runtime/schema.hpp"

#include <CLI/CLI.hpp>
#include <pqxx/pqxx>

#include <algorithm>
#include <chrono>
#include <iostream>

namespace {

using namespace cch;
using bench::Clock;
using bench::median;
using bench::seconds_since;

}  // namespace

int main(int argc, char** argv) {
  std::string url;
  int years = 3;
  int rounds = 3;
  CLI::App app{"cch-factors-bench: the factor history of five products over several years"};
  app.add_option("--url", url, "PostgreSQL URL (a superuser: the set-up writes products directly)")->required();
  app.add_option("--years", years, "Years of history");
  app.add_option("--rounds", rounds, "Rounds of the cold load");
  CLI11_PARSE(app, argc, argv);

  const BusinessDate today = BusinessDate::containing(UtcTimestamp::now());
  const BusinessDate to = today.add_days(-1).value();
  const BusinessDate from = today.add_days(-365 * years - years / 4).value();
  pqxx::connection connection(url);
  std::vector<ProductId> products;
  {
    const auto setup = Clock::now();
    const auto migrated = db::migrate(connection, runtime::schema_migrations());
    if (!migrated) {
      std::cerr << "migrate: " << migrated.error().message << "\n";
      return 3;
    }
    pqxx::work tx(connection);
    std::vector<market::SyntheticProduct> synthetic;
    std::vector<market::ProductTerms> terms;
    for (const auto& [code, model] : std::vector<std::pair<std::string, std::string>>{{"h100-sxm-us-east", "H100"},
                                                                                      {"h100-sxm-us-west", "H100"},
                                                                                      {"a100-sxm-us-east", "A100"},
                                                                                      {"h200-sxm-us-east", "H200"},
                                                                                      {"b200-sxm-us-east", "B200"}}) {
      const auto id =
          tx.exec_params1(
                "INSERT INTO cch.product (code, gpu_model, form_factor, min_interconnect, region, "
                "node_block_gpus, settlement, tick_size_ticks, delivery_profile, trading_status, "
                "listing_horizon_days, position_limit_gpu_hours, fee_ticks_per_gpu_hour, created_by) VALUES "
                "($1, $2, 'sxm', 'none', 'us-east', 8, 'physical', 50, 'baseload_24x7', 'active', 365, "
                "1000000000000, 0, 'bench') RETURNING product_id",
                code, model)[0]
              .as<std::int64_t>();
      synthetic.push_back({code, model, 50, std::nullopt});
      terms.push_back({ProductId(id), code, 50, std::nullopt});
      products.emplace_back(id);
    }
    market::SyntheticHistoryOptions generate;
    generate.products = synthetic;
    generate.from = from;
    generate.to = to;
    const auto history = market::synthetic_history(generate);
    const auto rules = market::market_rules("united_states_settlement", "", today);
    const auto imported =
        market::import_csv(tx, history->csv, "bench", rules, terms, risk::forward_curve_consistency());
    if (!imported) {
      std::cerr << "import: " << imported.error().error.detail << "\n";
      return 1;
    }
    tx.commit();
    pqxx::work analyse(connection);
    analyse.exec("ANALYZE market.snapshot");
    analyse.exec("ANALYZE market.settlement_price");
    analyse.commit();
    std::cout << "setup_seconds=" << seconds_since(setup) << " from=" << from.format() << " to=" << to.format()
              << " products=" << products.size() << " settlement_snapshots=" << history->settlement_snapshots << "\n";
  }

  std::vector<double> cold;
  std::int64_t computed = 0;
  for (int round = 0; round < rounds + 1; ++round) {  // the last round commits
    pqxx::work tx(connection);
    const auto start = Clock::now();
    const auto loaded = risk::load_factor_history(tx, products, from, to);
    const double seconds = seconds_since(start);
    if (!loaded) {
      std::cerr << "load: " << loaded.error().detail << "\n";
      return 1;
    }
    computed = loaded->computed;
    if (round < rounds) {
      cold.push_back(seconds);
      std::cout << "cold_round=" << round + 1 << " seconds=" << seconds << " computed=" << loaded->computed << "\n";
    } else {
      tx.commit();
    }
  }
  std::vector<double> warm;
  std::vector<risk::FactorDay> days;
  for (int round = 0; round < rounds; ++round) {
    pqxx::work tx(connection);
    const auto start = Clock::now();
    auto loaded = risk::load_factor_history(tx, products, from, to);
    warm.push_back(seconds_since(start));
    if (!loaded || loaded->computed != 0) {
      std::cerr << "warm load computed again\n";
      return 1;
    }
    days = std::move(loaded->days);
  }
  std::vector<std::int64_t> ids;
  for (const auto& day : days) ids.push_back(day.snapshot_id);
  pqxx::work tx(connection);
  auto start = Clock::now();
  const auto by_id = risk::factor_levels_of_snapshots(tx, ids);
  const double by_id_seconds = seconds_since(start);
  start = Clock::now();
  const auto hash = risk::factor_history_hash(by_id);
  const double hash_seconds = seconds_since(start);
  if (hash != risk::factor_history_hash(days)) {
    std::cerr << "the levels read by id differ from the load's\n";
    return 1;
  }
  start = Clock::now();
  const auto prices = market::settlement_prices_of_snapshots(tx, ids);
  const double prices_seconds = seconds_since(start);
  start = Clock::now();
  for (const auto& set : prices) {
    const BusinessDate date = set.snapshot.business_date;
    BusinessDate last_day = date.add_days(margin::kFactorHorizonDays).value();
    std::vector<pricing::PeriodQuote> quotes;
    for (const auto& price : set.prices) {
      quotes.push_back({price.period.label, price.period.first_day, price.period.end_day, price.price.price_ticks});
      last_day = std::max(last_day, price.period.end_day.add_days(-1).value());
    }
    if (!pricing::build_forward_curve(date.add_days(1).value(), last_day, 50, quotes)) {
      std::cerr << "a curve was refused\n";
      return 1;
    }
  }
  const double curves_seconds = seconds_since(start);
  const double cold_median = median(cold);
  std::cout << "days=" << days.size() << " computed=" << computed << " cold_median_seconds=" << cold_median
            << " per_day_ms=" << 1000.0 * cold_median / static_cast<double>(std::max<std::int64_t>(computed, 1))
            << " warm_median_seconds=" << median(warm) << " by_id_seconds=" << by_id_seconds
            << " hash_seconds=" << hash_seconds << " hash=" << hash << "\n"
            << "parts: prices_seconds=" << prices_seconds << " curves_seconds=" << curves_seconds
            << " per_curve_ms="
            << 1000.0 * curves_seconds / static_cast<double>(std::max<std::size_t>(prices.size(), 1))
            << "\n";
  return 0;
}
