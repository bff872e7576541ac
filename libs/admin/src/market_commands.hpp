#pragma once
// cch-admin market: market data from files (operator).
//   import FILE          a CSV file of market data (cch/market/csv_import.hpp), in one
//                        transaction: the whole file or nothing; a refusal names its line
//   business-date        the latest business date on or before a date (default today, UTC) of
//                        the clearing calendar (market.business_calendar) or another
//   demo-history         SYNTHETIC history (cch/market/synthetic_history.hpp) for the products
//                        in the database whose GPU model the generator knows, as a CSV file to
//                        import; never real data
// Exit statuses: 0 done, 1 refused (the line and the rule on standard error), 2 usage,
// 3 database.

#include "cch/config/config.hpp"

#include <optional>
#include <string>

namespace cch::admin {

int market_import(const config::Config& config, const std::string& file);

int market_business_date(const config::Config& config, const std::optional<std::string>& calendar,
                         const std::optional<std::string>& on_or_before);

struct DemoHistoryOptions {
  std::string from;  // YYYY-MM-DD
  std::string to;    // YYYY-MM-DD; default: the day before today (UTC)
  std::optional<std::string> output;  // default: standard output
  std::uint64_t seed = 20240101;
};
int market_demo_history(const config::Config& config, const DemoHistoryOptions& options);

}  // namespace cch::admin
