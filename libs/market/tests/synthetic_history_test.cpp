// The synthetic history generator: deterministic, shaped as documented (levels, a launch that
// depresses the older generation, a stress period), and in the CSV import's format.
#include "cch/market/csv_import.hpp"
#include "cch/market/synthetic_history.hpp"

#include <gtest/gtest.h>

#include <map>
#include <sstream>

namespace cch::market {
namespace {

BusinessDate date(std::string_view text) { return BusinessDate::parse(text).value(); }

SyntheticHistoryOptions options(std::string_view from, std::string_view to) {
  SyntheticHistoryOptions generate;
  generate.products = {{"a100-demo", "A100", 50, std::nullopt},
                       {"h100-demo", "H100", 50, std::string("GPUIDX-H100")},
                       {"h200-demo", "H200", 50, std::nullopt},
                       {"b200-demo", "B200", 50, std::nullopt}};
  generate.from = date(from);
  generate.to = date(to);
  return generate;
}

// Settlement prices by product code, period label and business date, in USD per GPU-hour.
using Prices = std::map<std::string, std::map<std::string, std::map<std::string, double>>>;
Prices parse_prices(const std::string& csv) {
  Prices found;
  std::istringstream in(csv);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> fields;
    std::stringstream split(line);
    std::string field;
    while (std::getline(split, field, ',')) fields.push_back(field);
    if (fields.size() >= 5 && fields[0] == "settlement") found[fields[2]][fields[3]][fields[1]] = std::stod(fields[4]);
  }
  return found;
}

double mean(const std::map<std::string, double>& values, std::string_view from, std::string_view to) {
  double sum = 0;
  int count = 0;
  for (const auto& [day, value] : values) {
    if (day >= from && day <= to) {
      sum += value;
      ++count;
    }
  }
  return count == 0 ? 0.0 : sum / count;
}

TEST(SyntheticHistory, TheSameOptionsGiveTheSameFileAndAnotherSeedAnother) {
  const auto first = synthetic_history(options("2026-01-05", "2026-02-27"));
  const auto second = synthetic_history(options("2026-01-05", "2026-02-27"));
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->csv, second->csv);
  auto other = options("2026-01-05", "2026-02-27");
  other.seed = 7;
  EXPECT_NE(synthetic_history(other)->csv, first->csv);
  EXPECT_EQ(first->csv.rfind(std::string(kCsvHeader) + "\n", 0), 0u);
  // 38 business days (40 weekdays; Martin Luther King Day and Presidents' Day are holidays of
  // both calendars) x 4 products, 38 SOFR business days, 54 days of fixings of the one index.
  EXPECT_EQ(first->settlement_snapshots, 38u * 4);
  EXPECT_EQ(first->ois_snapshots, 38u);
  EXPECT_EQ(first->fixings, 54u);
}

TEST(SyntheticHistory, PricesHaveTheDocumentedShape) {
  const auto history = synthetic_history(options("2024-01-02", "2026-11-30"));
  ASSERT_TRUE(history);
  // Per business date, the nearest month quoted (months are read in order, the first kept): the
  // level of the day.
  const Prices all = parse_prices(history->csv);
  std::map<std::string, double> h100, a100, h200;
  for (int year = 2024; year <= 2027; ++year) {
    for (int month = 1; month <= 12; ++month) {
      char label[16];
      std::snprintf(label, sizeof label, "%04d-%02d", year, month);
      for (auto [code, level] : {std::pair{"h100-demo", &h100}, std::pair{"a100-demo", &a100}, std::pair{"h200-demo", &h200}}) {
        const auto series = all.find(code);
        if (series == all.end()) continue;
        const auto prices = series->second.find(label);
        if (prices == series->second.end()) continue;
        for (const auto& [day, price] : prices->second) level->emplace(day, price);
      }
    }
  }
  // H100 around 1.7-2.4 USD per GPU-hour outside the stress period.
  const double h100_2024 = mean(h100, "2024-01-01", "2024-12-31");
  const double h100_2026 = mean(h100, "2026-07-01", "2026-11-30");
  EXPECT_GT(h100_2024, 1.7);
  EXPECT_LT(h100_2024, 2.6);
  EXPECT_GT(h100_2026, 1.4);
  EXPECT_LT(h100_2026, 2.2);
  EXPECT_LT(h100_2026, h100_2024);  // depreciation and two launches
  // B200's launch (2025-03-01) depresses H200 by about 20 % within two months.
  EXPECT_LT(mean(h200, "2025-05-01", "2025-05-31"), 0.9 * mean(h200, "2025-01-01", "2025-02-15"));
  // The stress period: H100 falls by tens of percent within three months of 2025-06-01.
  EXPECT_LT(mean(h100, "2025-08-15", "2025-09-15"), 0.8 * mean(h100, "2025-05-01", "2025-05-31"));
  // A100 stays below H100 throughout.
  EXPECT_LT(mean(a100, "2024-01-01", "2026-11-30"), mean(h100, "2024-01-01", "2026-11-30"));
  // B200 is quoted only from 90 days before its launch.
  const auto& b200 = all.at("b200-demo");
  EXPECT_FALSE(b200.contains("2025-02"));  // delivery before the launch: never quoted
  ASSERT_TRUE(b200.contains("2025-03"));
  EXPECT_EQ(b200.at("2025-03").begin()->first, "2024-12-02");  // from 90 days before the launch
}

TEST(SyntheticHistory, AnUnknownModelIsRefused) {
  auto generate = options("2026-01-05", "2026-01-09");
  generate.products.push_back({"mi300-demo", "MI300X", 50, std::nullopt});
  std::string why;
  EXPECT_FALSE(synthetic_history(generate, &why));
  EXPECT_NE(why.find("MI300X"), std::string::npos);
}

}  // namespace
}  // namespace cch::market
