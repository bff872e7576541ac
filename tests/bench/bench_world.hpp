#pragma once
// The benchmarks' world of many members and legs, written directly (triggers off: a benchmark's
// data, not a business path): members bench-1..N; 20 products bench-0..19 (five of each GPU model
// the synthetic history knows); `trades` cleared trades, each with its buy and sell leg, trade g
// between the g-th member (cyclically) and another, product and window kind varying with
// g / members so that each member holds every product and every kind of window: a day, a week or a
// calendar month (every fourth month a futures series), starting anywhere in the `start_days`
// (three years) after `first_day`; and the products' SYNTHETIC settlement prices and SOFR quotes from
// `history_from` to `history_to`, imported as cch-admin market import does.
#include "cch/core/calendar.hpp"
#include "cch/market/csv_import.hpp"
#include "cch/market/synthetic_history.hpp"
#include "cch/risk/curve_sets.hpp"

#include <pqxx/pqxx>

#include <array>
#include <optional>
#include <string>
#include <vector>

namespace cch::bench {

struct WorldOptions {
  std::int64_t members = 1'000;
  std::int64_t trades = 500'000;
  BusinessDate first_day;     // windows start after it
  BusinessDate history_from;  // market data from
  BusinessDate history_to;    // market data to
  BusinessDate today;
  std::optional<UtcTimestamp> cleared_at;  // the trades' clearing instant (default: now)
  std::int64_t start_days = 1088;          // windows start within this many days after first_day
};

struct World {
  std::vector<ProductId> products;
  std::int64_t settlement_snapshots = 0;
};

// The 20 products bench-0..19 (five of each GPU model the synthetic history knows, tick 0.0050,
// no fee), listed `listing_horizon_days` ahead: their ids, their terms for an import and what the
// synthetic history needs of them. Precondition: the caller's transaction has triggers off.
struct BenchProducts {
  std::vector<ProductId> ids;
  std::vector<market::ProductTerms> terms;
  std::vector<market::SyntheticProduct> synthetic;
};
inline BenchProducts insert_products(pqxx::transaction_base& tx, int listing_horizon_days) {
  BenchProducts products;
  const std::array<std::string, 4> models = {"A100", "H100", "H200", "B200"};
  for (int p = 0; p < 20; ++p) {
    const std::string code = "bench-" + std::to_string(p);
    const std::string& model = models[static_cast<std::size_t>(p % 4)];
    const auto id = tx.exec_params(
                          "INSERT INTO cch.product (code, gpu_model, form_factor, min_interconnect, region, "
                          "node_block_gpus, settlement, tick_size_ticks, delivery_profile, trading_status, "
                          "listing_horizon_days, position_limit_gpu_hours, fee_ticks_per_gpu_hour, created_by) VALUES "
                          "($1, $2, 'sxm', 'none', 'us-east', 8, 'physical', 50, 'baseload_24x7', 'active', $3, "
                          "1000000000000, 0, 'bench') RETURNING product_id",
                          code, model, listing_horizon_days)[0][0]
                        .as<std::int64_t>();
    products.synthetic.push_back({code, model, 50, std::nullopt});
    products.terms.push_back({ProductId(id), code, 50, std::nullopt});
    products.ids.emplace_back(id);
  }
  return products;
}

// Precondition: a migrated, empty database; members >= 2. Answers why the import failed, if it did.
inline Result<World, std::string> make_world(pqxx::transaction_base& tx, const WorldOptions& options) {
  World world;
  tx.exec("SET session_replication_role = replica");
  tx.exec_params(
      "INSERT INTO cch.member (code, legal_name) SELECT 'bench-' || g, 'Bench ' || g FROM generate_series(1, $1) g",
      options.members);
  const BenchProducts products = insert_products(tx, 1096);
  world.products = products.ids;
  tx.exec("SET LOCAL TIME ZONE 'UTC'");
  tx.exec_params(
      "INSERT INTO cch.trade (product_id, series_label, buyer_member_id, seller_member_id, delivery_start, "
      "delivery_end, gpus, price_ticks, gpu_hours, notional_minor, submitter_member_id, submitter_reference, "
      "state, submitted_by, expires_at, decided_at, clearing_fee_minor) "
      "SELECT p.product_id, CASE WHEN w.kind = 2 AND (g / 7) % 4 = 0 THEN to_char(w.s, 'YYYY-MM') END, "
      "1 + g % $3, 1 + (g + 1 + (g / $3) % ($3 - 1)) % $3, w.s, w.e, 8 * (1 + g % 16), 15000 + 50 * (g % 200), "
      "8 * (1 + g % 16) * (extract(epoch FROM w.e - w.s) / 3600)::bigint, 0, 1 + g % $3, 'bench-' || g, 'cleared', "
      "'bench', now() + interval '1 hour', COALESCE($4::timestamptz, now()), 0 "
      "FROM generate_series(0::bigint, $1::bigint - 1) g "
      "CROSS JOIN LATERAL (SELECT (g / $3) % 3 AS kind, (g * 7919) % $5 AS offset_days) k "
      "CROSS JOIN LATERAL (SELECT CASE k.kind WHEN 0 THEN $2::timestamp + interval '1 day' * k.offset_days "
      "  WHEN 1 THEN $2::timestamp + interval '1 day' * k.offset_days "
      "  ELSE date_trunc('month', $2::timestamp) + interval '1 month' * (1 + k.offset_days % ($5 / 32)) END AS s) s0 "
      "CROSS JOIN LATERAL (SELECT s0.s AS s, CASE k.kind WHEN 0 THEN s0.s + interval '1 day' "
      "  WHEN 1 THEN s0.s + interval '7 days' ELSE s0.s + interval '1 month' END AS e, k.kind) w "
      "JOIN (SELECT product_id, row_number() OVER (ORDER BY product_id) - 1 AS k FROM cch.product "
      "WHERE code LIKE 'bench-%') p ON p.k = (g / $3 / 3) % 20",
      options.trades, options.first_day.format(), options.members,
      options.cleared_at ? std::optional<std::string>(options.cleared_at->format()) : std::nullopt, options.start_days);
  tx.exec(
      "INSERT INTO cch.trade_leg (trade_id, member_id, side, product_id, delivery_start, delivery_end, gpus, "
      "price_ticks, future, cleared_at) SELECT trade_id, buyer_member_id, 'buy', product_id, delivery_start, "
      "delivery_end, gpus, price_ticks, series_label IS NOT NULL, decided_at FROM cch.trade UNION ALL SELECT "
      "trade_id, seller_member_id, 'sell', product_id, delivery_start, delivery_end, gpus, price_ticks, "
      "series_label IS NOT NULL, decided_at FROM cch.trade");
  tx.exec("SET session_replication_role = origin");
  market::SyntheticHistoryOptions generate;
  generate.products = products.synthetic;
  generate.from = options.history_from;
  generate.to = options.history_to;
  const auto history = market::synthetic_history(generate);
  const auto rules = market::market_rules("united_states_settlement", "", options.today);
  const auto imported =
      market::import_csv(tx, history->csv, "bench", rules, products.terms, risk::forward_curve_consistency());
  if (!imported) return fail(imported.error().error.detail);
  world.settlement_snapshots = static_cast<std::int64_t>(history->settlement_snapshots);
  return world;
}

}  // namespace cch::bench
