// cch-curves-bench: the curves of one business date and the marks of a million legs, in memory
// (Google Benchmark; not run by ctest). Build and run the release tree:
//     cmake --preset release && cmake --build --preset release -j2 --target cch-curves-bench
//     build/release/tests/cch-curves-bench
//
// CurveSetForOneBusinessDate: the SOFR OIS curve (12 tenors) and 20 products' forward curves,
// each from 60 quotes (31 days, 9 ISO weeks, 12 months, 6 quarters, 2 years; horizon three
// years) that agree by construction: every day and week lies inside one month and takes that
// month's price, and a quarter or year whose months are all quoted is their day-weighted average
// rounded to the tick, so the dependent quotes agree within half a tick. The target is under
// 100 ms. DiscountCurve and ForwardCurve time the two parts alone.
// MarkOneMillionLegs: 1,000,000 legs over the 20 products (forwards and futures, both sides,
// windows of 1 hour to 90 days starting anywhere on the curve, some already partly delivered),
// each marked with its product's curve and the discount curve.

#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "cch/pricing/curve_set.hpp"
#include "cch/pricing/marks.hpp"

namespace {

using cch::pricing::OisQuote;
using cch::pricing::PeriodQuote;
using cch::pricing::ProductQuotes;

constexpr int kProducts = 20;
constexpr std::int64_t kTickSize = 50;
constexpr std::size_t kLegs = 1'000'000;

cch::BusinessDate date(int year, int month, int day) {
  return cch::BusinessDate::from_year_month_day(year, month, day).value();
}

cch::BusinessDate as_of() {
  return date(2026, 12, 1);
}
cch::BusinessDate first_day() {
  return date(2026, 12, 2);
}
cch::BusinessDate last_day() {
  return date(2029, 12, 1);
}

std::vector<OisQuote> ois_quotes() {
  return {
      {"1W", 0.0431},  {"1M", 0.0430}, {"3M", 0.0426}, {"6M", 0.0418}, {"9M", 0.0410}, {"1Y", 0.0402},
      {"18M", 0.0388}, {"2Y", 0.0378}, {"3Y", 0.0366}, {"5Y", 0.0359}, {"7Y", 0.0362}, {"10Y", 0.0371},
  };
}

cch::BusinessDate month_start(int year, int month) {
  return date(year + (month - 1) / 12, (month - 1) % 12 + 1, 1);
}

// A product's monthly price in ticks from 2026-12 on: a level per product, a yearly cycle and a
// slow decline, rounded to the tick.
std::int64_t monthly_price_ticks(int product, int months_after_november_2026) {
  const double level = 18000.0 + 400.0 * product;
  const double cycle = 1200.0 * std::sin(0.5236 * months_after_november_2026 + 0.3 * product);
  const double trend = -60.0 * months_after_november_2026;
  return std::llround((level + cycle + trend) / kTickSize) * kTickSize;
}

// The day-weighted average of months [first, first + count) (months after 2026-11), rounded to
// the tick.
std::int64_t months_average_ticks(int product, int first, int count) {
  std::int64_t tick_days = 0;
  std::int64_t days = 0;
  for (int month = first; month < first + count; ++month) {
    const std::int64_t length = cch::days_between(month_start(2026, 11 + month), month_start(2026, 12 + month));
    tick_days += monthly_price_ticks(product, month) * length;
    days += length;
  }
  return std::llround(static_cast<double>(tick_days) / static_cast<double>(days) / kTickSize) * kTickSize;
}

std::vector<PeriodQuote> product_quotes(int product) {
  std::vector<PeriodQuote> quotes;
  // 31 days: 2026-12-02 .. 2027-01-01, each at its month's price.
  for (int day = 0; day < 31; ++day) {
    const cch::BusinessDate first = *first_day().add_days(day);
    quotes.push_back(
        {first.format(), first, *first.add_days(1), monthly_price_ticks(product, first.year() == 2026 ? 1 : 2)});
  }
  // 9 ISO weeks from Monday 2027-01-04; each lies within one month (January to March 2027).
  for (std::int64_t week = 0; week < 9; ++week) {
    const cch::BusinessDate monday = *date(2027, 1, 4).add_days(7 * week);
    quotes.push_back(
        {"week " + monday.format(), monday, *monday.add_days(7), monthly_price_ticks(product, monday.month() + 1)});
  }
  // 12 months of 2027 (months after 2026-11: 2 .. 13).
  for (int month = 1; month <= 12; ++month) {
    quotes.push_back({"2027-" + std::to_string(month), month_start(2027, month), month_start(2027, month + 1),
                      monthly_price_ticks(product, month + 1)});
  }
  // 6 quarters: 2027-Q1..Q4 (dependent on the months), 2028-Q1 and Q2 (independent).
  for (int quarter = 0; quarter < 6; ++quarter) {
    const int first_month = 2 + 3 * quarter;
    quotes.push_back({"quarter " + std::to_string(quarter), month_start(2026, 11 + first_month),
                      month_start(2026, 14 + first_month), months_average_ticks(product, first_month, 3)});
  }
  // 2 years: 2027 (dependent) and 2028.
  quotes.push_back({"2027", date(2027, 1, 1), date(2028, 1, 1), months_average_ticks(product, 2, 12)});
  quotes.push_back({"2028", date(2028, 1, 1), date(2029, 1, 1), months_average_ticks(product, 14, 12)});
  return quotes;
}

std::vector<ProductQuotes> all_products() {
  std::vector<ProductQuotes> products;
  products.reserve(kProducts);
  for (int product = 0; product < kProducts; ++product) {
    products.push_back({cch::ProductId(product + 1), kTickSize, last_day(), product_quotes(product)});
  }
  return products;
}

std::vector<std::string> inputs() {
  return {"ois:SOFR:2026-12-01:v1", "quotes:2026-12-01:v1"};
}

void CurveSetForOneBusinessDate(benchmark::State& state) {
  const std::vector<ProductQuotes> products = all_products();
  const cch::BusinessDate date_of_curves = as_of();
  const std::vector<OisQuote> ois = ois_quotes();
  const std::vector<std::string> names = inputs();
  for (auto _ : state) {
    auto set = cch::pricing::build_curve_set(date_of_curves, ois, products, names);
    if (!set) {
      state.SkipWithError(set.error().detail.c_str());
      return;
    }
    benchmark::DoNotOptimize(set);
  }
}
BENCHMARK(CurveSetForOneBusinessDate)->Unit(benchmark::kMillisecond);

void DiscountCurve(benchmark::State& state) {
  const cch::BusinessDate date_of_curve = as_of();
  const std::vector<OisQuote> ois = ois_quotes();
  for (auto _ : state) {
    auto built = cch::pricing::build_discount_curve(date_of_curve, ois);
    benchmark::DoNotOptimize(built);
  }
}
BENCHMARK(DiscountCurve)->Unit(benchmark::kMillisecond);

void ForwardCurve(benchmark::State& state) {
  const std::vector<PeriodQuote> quotes = product_quotes(3);
  const cch::BusinessDate first = first_day();
  const cch::BusinessDate last = last_day();
  for (auto _ : state) {
    auto built = cch::pricing::build_forward_curve(first, last, kTickSize, quotes);
    if (!built) {
      state.SkipWithError(built.error().detail.c_str());
      return;
    }
    benchmark::DoNotOptimize(built);
  }
}
BENCHMARK(ForwardCurve)->Unit(benchmark::kMillisecond);

struct LegOfProduct {
  cch::pricing::Leg leg;
  std::size_t product_index;
};

std::vector<LegOfProduct> make_legs(std::size_t count) {
  std::mt19937_64 random(20261201);
  constexpr std::int64_t kHour = 3'600'000'000;
  const std::int64_t curve_start = first_day().start_of_day().unix_microseconds();
  const std::int64_t curve_hours = (cch::days_between(first_day(), last_day()) + 1) * 24;
  constexpr std::int64_t kLegHoursMax = std::int64_t{90} * 24;
  std::uniform_int_distribution<std::int64_t> length_hours(1, kLegHoursMax);
  std::uniform_int_distribution<std::int64_t> start_hour(-72, curve_hours - kLegHoursMax);
  std::uniform_int_distribution<std::int64_t> gpus(1, 512);
  std::uniform_int_distribution<std::int64_t> price(15000, 30000);
  std::uniform_int_distribution<std::size_t> product(0, kProducts - 1);
  std::vector<LegOfProduct> legs;
  legs.reserve(count);
  for (std::size_t index = 0; index < count; ++index) {
    const std::int64_t start = curve_start + start_hour(random) * kHour;
    const std::int64_t end = start + length_hours(random) * kHour;
    const cch::BusinessDate payment = *cch::BusinessDate::containing(cch::UtcTimestamp(end)).add_days(2);
    legs.push_back(
        {cch::pricing::Leg{static_cast<std::int64_t>(index + 1),
                           index % 2 == 0 ? cch::pricing::Side::buy : cch::pricing::Side::sell,
                           index % 3 == 0 ? cch::pricing::ContractKind::future : cch::pricing::ContractKind::forward,
                           cch::UtcTimestamp(start), cch::UtcTimestamp(end), gpus(random), price(random), payment},
         product(random)});
  }
  return legs;
}

void MarkOneMillionLegs(benchmark::State& state) {
  const auto set = cch::pricing::build_curve_set(as_of(), ois_quotes(), all_products(), inputs());
  if (!set) {
    state.SkipWithError(set.error().detail.c_str());
    return;
  }
  std::vector<const cch::pricing::ForwardCurve*> curves;
  for (const auto& [product_id, curve] : set->forwards) {
    curves.push_back(&curve);
  }
  const std::vector<LegOfProduct> legs = make_legs(kLegs);
  const cch::BusinessDate date_of_marks = as_of();
  std::vector<cch::pricing::LegMark> marks(legs.size());
  std::size_t refused = 0;
  for (auto _ : state) {
    std::int64_t total_minor = 0;
    refused = 0;
    for (std::size_t index = 0; index < legs.size(); ++index) {
      const auto mark =
          cch::pricing::mark_leg(legs[index].leg, date_of_marks, *curves[legs[index].product_index], set->discount);
      if (!mark) {
        ++refused;
        continue;
      }
      marks[index] = *mark;
      total_minor += mark->pv_minor;
    }
    benchmark::DoNotOptimize(total_minor);
    benchmark::ClobberMemory();
  }
  if (refused != 0) {
    state.SkipWithError("some legs were refused");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(legs.size()));
}
BENCHMARK(MarkOneMillionLegs)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
