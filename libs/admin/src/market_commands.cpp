#include "market_commands.hpp"

#include "exit_status.hpp"
#include "cch/core/calendar.hpp"
#include "cch/db/transaction.hpp"
#include "cch/market/csv_import.hpp"
#include "cch/market/synthetic_history.hpp"
#include "cch/registry/catalog.hpp"
#include "cch/risk_routes/market_routes.hpp"
#include "cch/runtime/service.hpp"

#include <algorithm>
#include <fstream>
#include <iostream>
#include <sstream>

namespace cch::admin {
namespace {

// An import refused: the transaction rolls back, the refusal is reported.
struct Refused {
  market::ImportError error;
};

}  // namespace

int market_import(const config::Config& config, const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return error_line("cannot read " + file, kExitUsage);
  in.seekg(0, std::ios::end);
  const auto size = static_cast<std::size_t>(in.tellg());
  if (size > market::kImportBytesMax) {
    return error_line(file + " is larger than " + std::to_string(market::kImportBytesMax) + " bytes", kExitUsage);
  }
  in.seekg(0);
  std::string text(size, '\0');
  in.read(text.data(), static_cast<std::streamsize>(size));
  try {
    const auto rules = risk::configured_market_rules(config);
    db::ConnectionPool pool(runtime::pool_options_from(config, "cch-admin"));
    const auto summary = db::run_transaction(
        pool, db::Isolation::read_committed, runtime::retry_policy_from(config), [&](pqxx::transaction_base& tx) {
          const auto products = risk::product_terms(tx);
          auto imported = market::import_csv(tx, text, "cch-admin", rules, products);
          if (!imported) throw Refused{imported.error()};
          return *imported;
        });
    std::cout << "imported " << file << ": " << summary.records << " records, " << summary.snapshots_created
              << " snapshots stored, " << summary.snapshots_repeated << " already there" << std::endl;
    return 0;
  } catch (const Refused& refused) {
    return error_line(file + ": " + std::string(market::to_string(refused.error.error.refusal)) + ": " +
                          refused.error.error.detail + " (nothing imported)",
                      kExitFound);
  } catch (const std::invalid_argument& error) {
    return error_line(error.what(), kExitUsage);
  } catch (const std::exception& error) {
    return error_line(error.what(), kExitDatabase);
  }
}

int market_business_date(const config::Config& config, const std::optional<std::string>& calendar_name,
                         const std::optional<std::string>& on_or_before) {
  const auto calendar = make_calendar(calendar_name.value_or(config.text("market.business_calendar")));
  if (!calendar) return error_line("--calendar: not a calendar name", kExitUsage);
  const auto day = on_or_before ? BusinessDate::parse(*on_or_before)
                                : Result<BusinessDate, TimeError>(BusinessDate::containing(UtcTimestamp::now()));
  if (!day || !calendar->covers(*day)) return error_line("--on-or-before: a date YYYY-MM-DD", kExitUsage);
  const auto latest = calendar->is_business_day(*day) ? Result<BusinessDate, CalendarError>(*day)
                                                      : calendar->previous_business_day(*day);
  if (!latest) return error_line("no business date in the calendar's range", kExitUsage);
  std::cout << latest->format() << std::endl;
  return 0;
}

int market_demo_history(const config::Config& config, const DemoHistoryOptions& options) {
  const auto from = BusinessDate::parse(options.from);
  const auto to = options.to.empty() ? BusinessDate::containing(UtcTimestamp::now()).add_days(-1)
                                     : BusinessDate::parse(options.to);
  if (!from || !to) return error_line("--from and --to are dates YYYY-MM-DD", kExitUsage);
  market::SyntheticHistoryOptions generate;
  generate.from = *from;
  generate.to = *to;
  generate.seed = options.seed;
  generate.clearing_calendar = config.text("market.business_calendar");
  try {
    db::ConnectionPool pool(runtime::pool_options_from(config, "cch-admin"));
    db::run_transaction(pool, db::Isolation::read_committed, {}, [&](pqxx::transaction_base& tx) {
      const auto known = market::synthetic_gpu_models();
      std::optional<ProductId> after;
      for (;;) {
        const auto page = registry::list_products(tx, after, 1000);
        for (const auto& product : page) {
          if (std::find(known.begin(), known.end(), product.spec.gpu_model) == known.end()) continue;
          generate.products.push_back(
              {product.spec.code, product.spec.gpu_model, product.spec.tick_size_ticks, product.spec.cash_index});
        }
        if (page.size() < 1000) break;
        after = page.back().product_id;
      }
    });
  } catch (const std::exception& error) {
    return error_line(error.what(), kExitDatabase);
  }
  std::string why;
  const auto history = market::synthetic_history(generate, &why);
  if (!history) return error_line(why, kExitUsage);
  if (options.output) {
    std::ofstream out(*options.output, std::ios::binary | std::ios::trunc);
    out << history->csv;
    if (!out) return error_line("cannot write " + *options.output, kExitUsage);
  } else {
    std::cout << history->csv;
  }
  std::cerr << "SYNTHETIC demo history " << generate.from.format() << ".." << generate.to.format() << " for "
            << generate.products.size() << " products: " << history->settlement_snapshots << " settlement price sets, "
            << history->ois_snapshots << " OIS curves, " << history->fixings << " index fixings" << std::endl;
  return 0;
}

}  // namespace cch::admin
