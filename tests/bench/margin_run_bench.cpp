// cch-margin-run-bench: a full initial-margin run over a million open legs, read from and stored
// to PostgreSQL, against a plain COPY of the same legs out of PostgreSQL, in the same run
// (tests/bench/margin-benchmark).
//
//   cch-margin-run-bench --url URL [--members 1000] [--legs 1000000] [--rounds 3] [--date YYYY-MM-DD]
//                        [--reuse] [--run-only]
//
// --reuse skips the set-up and the model's build when the database already holds a model (a
// previous run's with the same options), --run-only the COPY rounds: for looking inside a run.
//
// Set-up (as the URL's superuser): migrate; `members` members; 20 products, five of each GPU
// model the synthetic history knows (A100, H100, H200, B200: four generations); legs/2 cleared
// trades written directly (triggers off: a benchmark's data, not a business path), each with its
// buy and its sell leg, so that every member holds about legs/members legs, spread over the 20
// products and over delivery windows of a day, a week or a calendar month anywhere in the next
// three years (every fourth monthly trade a futures series); synthetic settlement prices and
// OIS quotes of the 1,005 business dates up to the business date (`--date`, by default the last
// business day before today) imported as cch-admin market import does; the date's curve set.
// Then, timed once each and committed:
//   factors   risk::load_factor_history of the 20 products over the history: a forward curve per
//             settlement snapshot (15,980 of them: the H200 and B200 products are quoted from 90
//             days before their launch), their levels stored; what a model's build would
//             otherwise compute first, the first time
//   model     risk::build_margin_model of the date: the stored factor history read, the scenarios
//             (1,003 filtered and 248 stressed for futures, 1,000 and 245 for forwards), the open
//             interest, the model stored
// And alternately, `rounds` times each (every round in a transaction rolled back, so each starts
// from the same state; the margin tables vacuumed between rounds):
//   run       risk::run_margin of every member against that model: the model read, the open legs
//             read by COPY and valued, each member's figures and contributions, every member's row
//             and factor lines stored by COPY, the run row
//   copy      COPY of the same legs (the run's query) out of PostgreSQL into typed rows, as the
//             marks benchmark's reference does
//   raw       the same COPY keeping each row's text (no conversion)
// and, last, one more run that commits (the rolled-back rounds leave out the commit's WAL flush).
// Prints key=value figures: each round's seconds, the medians and the ratios, and a fingerprint
// of every member's stored figures and factor lines (md5 of their rows in order), which must not
// change when the code computing them is made faster.
#include "bench_clock.hpp"
#include "bench_world.hpp"
#include "cch/core/calendar.hpp"
#include "cch/db/migrate.hpp"
#include "cch/margin/buckets.hpp"
#include "cch/market/csv_import.hpp"
#include "cch/market/synthetic_history.hpp"
#include "cch/risk/curve_sets.hpp"
#include "cch/risk/factor_history.hpp"
#include "cch/risk/margin.hpp"
#include "cch/runtime/schema.hpp"

#include <CLI/CLI.hpp>
#include <pqxx/pqxx>

#include <algorithm>
#include <array>
#include <chrono>
#include <iostream>
#include <tuple>

namespace {

using namespace cch;
using bench::Clock;
using bench::median;
using bench::seconds_since;

// The open legs as risk's run reads them (open_legs.cpp), for the reference COPY.
constexpr std::string_view kLegsQuery =
    "(SELECT l.trade_id, l.side, l.member_id, l.product_id, "
    "(date_part('epoch', l.delivery_start) * 1000000)::bigint, (date_part('epoch', l.delivery_end) * 1000000)::bigint, "
    "l.gpus, l.price_ticks, l.future::int FROM cch.trade_leg l "
    "WHERE l.delivery_end > '";

constexpr std::string_view kMemberFingerprint =
    "SELECT count(*), coalesce(sum(initial_margin_cents), 0), md5(coalesce(string_agg(concat_ws(',', member_id, "
    "legs, es_filtered_cents, es_stressed_cents, expected_shortfall_cents, generations_alone_cents, benefit_cents, "
    "benefit_taken_cents, benefit_refused_cents, requirement_cents, concentration_cents, liquidity_cents, "
    "interim_cents, initial_margin_cents), ';' ORDER BY member_id), '')) FROM margin.member_margin WHERE run_id = $1";
// The factor lines in the text and order they had as rows of their own (before they moved into
// arrays of the member's row), so that fingerprints compare across that change.
constexpr std::string_view kFactorFingerprint =
    "SELECT count(*), md5(coalesce(string_agg(concat_ws(',', m.member_id, CASE u.c WHEN 0 THEN 'future' ELSE "
    "'forward' END, u.p, u.b, u.e, u.h, u.k), ';' ORDER BY m.member_id, CASE u.c WHEN 0 THEN 'future' ELSE "
    "'forward' END, u.p, u.b), '')) FROM margin.member_margin m, unnest(m.line_class, m.line_product_id, "
    "m.line_bucket, m.line_exposure_cents, m.line_net_gpu_hours, m.line_contribution_cents) AS u(c, p, b, e, h, k) "
    "WHERE m.run_id = $1";

}  // namespace

int main(int argc, char** argv) {
  std::string url;
  std::int64_t members = 1'000;
  std::int64_t legs = 1'000'000;
  int rounds = 3;
  std::string date_text;
  CLI::App app{"cch-margin-run-bench: a full margin run against a plain COPY of the same legs"};
  app.add_option("--url", url, "PostgreSQL URL (a superuser: the set-up writes rows directly)")->required();
  app.add_option("--members", members, "Members (at least 2)");
  app.add_option("--legs", legs, "Open legs (two per trade)");
  app.add_option("--rounds", rounds, "Rounds of each");
  app.add_option("--date", date_text, "Business date (default: the last business day before today)");
  bool reuse = false;
  bool run_only = false;
  app.add_flag("--reuse", reuse, "Keep the database's data and model if it has one (a previous run's)");
  app.add_flag("--run-only", run_only, "Time the margin runs only, not the COPY");
  CLI11_PARSE(app, argc, argv);
  if (members < 2 || legs < 2) {
    std::cerr << "at least 2 members and 2 legs\n";
    return 2;
  }

  const BusinessCalendar calendar = make_calendar("united_states_settlement").value();
  const BusinessDate today = BusinessDate::containing(UtcTimestamp::now());
  BusinessDate date = calendar.previous_business_day(today).value();
  if (!date_text.empty()) {
    auto parsed = BusinessDate::parse(date_text);
    if (!parsed || !calendar.is_business_day(*parsed) || *parsed >= today) {
      std::cerr << "--date: a business day before today\n";
      return 2;
    }
    date = *parsed;
  }
  const BusinessDate first_day = date.add_days(1).value();
  const BusinessDate history_from = calendar.advance(date, -1004).value();  // 1,005 business dates

  pqxx::connection connection(url);
  std::vector<ProductId> products;
  std::int64_t model_id = 0;
  if (reuse) {
    pqxx::work tx(connection);
    if (tx.exec("SELECT to_regclass('margin.model') IS NOT NULL")[0][0].as<bool>()) {
      const auto found = tx.exec("SELECT max(model_id) FROM margin.model")[0][0];
      if (!found.is_null())
        model_id = found.as<std::int64_t>();
    }
  }
  if (model_id == 0) {
    {
      const auto setup = Clock::now();
      const auto migrated = db::migrate(connection, runtime::schema_migrations());
      if (!migrated) {
        std::cerr << "migrate: " << migrated.error().message << "\n";
        return 3;
      }
      pqxx::work tx(connection);
      const auto made = bench::make_world(tx, {members, legs / 2, first_day, history_from, date, today, std::nullopt});
      if (!made) {
        std::cerr << "import: " << made.error() << "\n";
        return 1;
      }
      products = made->products;
      tx.commit();
      pqxx::nontransaction analyse(connection);
      analyse.exec("VACUUM ANALYZE cch.trade, cch.trade_leg, market.snapshot, market.settlement_price");
      std::cout << "setup_seconds=" << seconds_since(setup) << " date=" << date.format() << " members=" << members
                << " trades=" << legs / 2 << " history=" << history_from.format() << ".." << date.format()
                << " settlement_snapshots=" << made->settlement_snapshots << std::endl;
    }
    {
      pqxx::work tx(connection);
      const auto built = risk::build_curve_set(tx, {date, calendar, today, "bench", std::nullopt});
      if (!built) {
        std::cerr << "curves: " << built.error().detail << "\n";
        return 1;
      }
      tx.commit();
    }
    {
      // The factor levels the model reads (what build_margin_model would otherwise compute first).
      pqxx::work tx(connection);
      const auto start = Clock::now();
      const auto loaded = risk::load_factor_history(tx, products, history_from, date);
      if (!loaded) {
        std::cerr << "factors: " << loaded.error().detail << "\n";
        return 1;
      }
      tx.commit();
      std::cout << "factor_history_seconds=" << seconds_since(start) << " factor_days=" << loaded->days.size()
                << " computed=" << loaded->computed << std::endl;
    }
    {
      pqxx::work tx(connection);
      const auto start = Clock::now();
      const auto built = risk::build_margin_model(tx, {date, std::nullopt, "bench", std::nullopt});
      if (!built) {
        std::cerr << "model: " << built.error().detail << "\n";
        return 1;
      }
      tx.commit();
      const double seconds = seconds_since(start);
      model_id = built->record.model_id;
      pqxx::work read(connection);
      const auto model = margin::load_model(read, model_id);
      std::cout << "model_build_seconds=" << seconds
                << " model_assemble_seconds=" << static_cast<double>(built->record.build_microseconds) / 1e6
                << " history_dates=" << built->record.history_dates
                << " stress=" << model->model.scenarios.stress_first.format() << ".."
                << model->model.scenarios.stress_last.format();
      for (const auto& c : model->model.scenarios.classes) {
        std::cout << " " << margin::to_string(c.margin_class) << "_scenarios=" << c.filtered_count() << "+"
                  << c.stressed_count();
      }
      std::cout << " factors=" << model->model.factor_count() << " generations=" << model->model.generation_count
                << std::endl;
    }
  }  // the set-up

  const std::string legs_query = std::string(kLegsQuery) + first_day.start_of_day().format() + "'::timestamptz)";
  // The models the process has read, as cch-risk keeps them: the first round reads the model, the
  // later rounds find it kept (each round prints model_s).
  margin::ModelCache models;
  std::vector<double> run_seconds, copy_seconds, raw_seconds;
  for (int round = 0; round < rounds; ++round) {
    {
      pqxx::work tx(connection);
      const auto start = Clock::now();
      const auto run = risk::run_margin(tx, {model_id, std::nullopt, "on_demand", "bench", std::nullopt, false, &models}, calendar);
      run_seconds.push_back(seconds_since(start));
      if (!run) {
        std::cerr << "run: " << run.error().detail << "\n";
        return 1;
      }
      const auto figures = tx.exec_params1(std::string(kMemberFingerprint), run->run.run_id);
      const auto lines = tx.exec_params1(std::string(kFactorFingerprint), run->run.run_id);
      std::cout << "round=" << round + 1 << " run_seconds=" << run_seconds.back() << " members=" << run->run.members
                << " legs=" << run->run.legs << " legs_interim=" << run->legs_interim
                << " initial_margin_cents=" << figures[1].as<std::string>()
                << " factor_lines=" << lines[0].as<std::int64_t>() << " fingerprint=" << figures[2].as<std::string>()
                << "/" << lines[1].as<std::string>() << " model_s=" << static_cast<double>(run->timings.model_us) / 1e6
                << " legs_s=" << static_cast<double>(run->timings.legs_us) / 1e6 << " compute_s=" << static_cast<double>(run->timings.compute_us) / 1e6
                << " store_s=" << static_cast<double>(run->timings.store_us) / 1e6 << std::endl;
      tx.abort();
    }
    {
      // The aborted round's rows are dead: clear them so that each round starts alike.
      pqxx::nontransaction vacuum(connection);
      vacuum.exec("VACUUM margin.run, margin.member_margin");
    }
    if (run_only)
      continue;
    {
      pqxx::work tx(connection);
      const auto start = Clock::now();
      std::vector<std::tuple<std::int64_t, std::string, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                             std::int64_t, std::int64_t, int>>
          rows;
      pqxx::stream_from out(tx, legs_query);
      std::tuple<std::int64_t, std::string, std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                 std::int64_t, int>
          row;
      while (out >> row)
        rows.push_back(row);
      out.complete();
      copy_seconds.push_back(seconds_since(start));
      tx.abort();
    }
    {
      pqxx::work tx(connection);
      const auto start = Clock::now();
      std::vector<std::string> rows;
      pqxx::stream_from out(tx, legs_query);
      std::string line;
      while (out.get_raw_line(line))
        rows.push_back(line);
      out.complete();
      raw_seconds.push_back(seconds_since(start));
      tx.abort();
    }
    std::cout << "round=" << round + 1 << " copy_seconds=" << copy_seconds.back()
              << " raw_copy_seconds=" << raw_seconds.back() << std::endl;
  }
  if (run_only) {
    std::cout << "run_median_seconds=" << median(run_seconds) << std::endl;
    return 0;
  }
  const double run = median(run_seconds);
  const double copy = median(copy_seconds);
  const double raw = median(raw_seconds);
  std::cout << "run_median_seconds=" << run << " copy_median_seconds=" << copy << " raw_copy_median_seconds=" << raw
            << " ratio=" << run / copy << " ratio_to_raw=" << run / raw << std::endl;
  {
    // Once more, committed: what the rolled-back rounds leave out is the commit's WAL flush.
    pqxx::work tx(connection);
    const auto start = Clock::now();
    const auto committed = risk::run_margin(tx, {model_id, std::nullopt, "on_demand", "bench", std::nullopt, false, &models}, calendar);
    if (!committed) {
      std::cerr << "run: " << committed.error().detail << "\n";
      return 1;
    }
    tx.commit();
    std::cout << "committed_run_seconds=" << seconds_since(start) << std::endl;
  }
  return 0;
}
