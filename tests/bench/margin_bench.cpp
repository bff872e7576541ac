// cch-margin-bench: the margin engine's kernels in memory (Google Benchmark; not run by ctest).
// Build and run the release tree (tests/bench/margin-benchmark runs it first):
//     cmake --preset release && cmake --build --preset release -j2 --target cch-margin-bench
//     build/release/tests/cch-margin-bench --benchmark_repetitions=5
//
// The model: 20 products x 11 buckets (220 factors), four GPU generations (product p is of
// generation p mod 4), 1,000 filtered and 250 stressed scenarios per class (k = 10 and 3 for
// futures at 99 %, 5 and 2 for forwards at 99.5 %). Moves are made up but shaped like the real
// ones: a market shock, a generation shock, a product shock and a bucket's own, the near buckets
// moving more than the far ones, the stressed scenarios larger and skewed down.
//
// The books (exposures from legs of 8 to 512 GPUs, 1 to 3 adjacent buckets each):
//   trader   a member trading 6 of the products (all four generations): 120 legs, 56 non-zero
//            factors of futures and 45 of forwards; what a pre-trade check holds
//   run      a member of the full run's size: 1,000 legs over all 20 products and every bucket
//            (218 and 217 of the 220 factors non-zero)
// The trades: 1,024 single legs (one product, one class, 1 to 3 buckets, either side), three in
// four on the book's own products, cycled through so that each call sees another trade.
//
// Benchmarks:
//   IncrementalMargin/<book>   MemberMargin::with(one trade's legs): the pre-trade check. Each
//                              call is timed alone; the counters mean_us, p50_us, p99_us and max_us
//                              are over every call of the run (target: p99 under 50 us)
//   MemberMarginFromPosition/<book>  constructing a MemberMargin from a position: a cache miss
//   MarginOf/<book>            margin_of: a member's figures from its position in one call
//   Contributions/<book>       contributions() of both classes, as a margin run stores them
// The incremental figure is checked against a full recompute before timing (the benchmark stops
// with an error if they differ).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "cch/margin/engine.hpp"
#include "cch/margin/scenarios.hpp"

namespace {

using namespace cch;
using namespace cch::margin;

constexpr std::size_t kProducts = 20;
constexpr std::int32_t kGenerations = 4;
constexpr std::size_t kFiltered = 1'000;
constexpr std::size_t kStressed = 250;
constexpr std::size_t kTrades = 1'024;

BusinessDate date(int y, int m, int d) {
  return BusinessDate::from_year_month_day(y, m, d).value();
}

// Normal deviates from a fixed generator (Box-Muller): the same model on every platform.
class Normal {
 public:
  explicit Normal(std::uint64_t seed) : random_(seed) {}
  double operator()() {
    const double u1 = (static_cast<double>(random_() >> 11) + 0.5) * 0x1.0p-53;
    const double u2 = static_cast<double>(random_() >> 11) * 0x1.0p-53;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  std::mt19937_64& engine() { return random_; }

 private:
  std::mt19937_64 random_;
};

MarginModel make_model() {
  MarginModel model;
  for (std::size_t p = 0; p < kProducts; ++p) {
    model.products.push_back(ModelProduct{ProductId::from_value(static_cast<std::int64_t>(p + 1)).value(),
                                          static_cast<std::int32_t>(p % kGenerations), 400'000'000, 200});
  }
  model.generation_count = kGenerations;
  model.scenarios.as_of = date(2026, 12, 1);
  model.scenarios.factor_count = model.factor_count();
  Normal normal(20261203);
  for (std::size_t ci = 0; ci < kMarginClassCount; ++ci) {
    ClassScenarios& c = model.scenarios.classes[ci];
    c.margin_class = static_cast<MarginClass>(ci);
    c.mpor_days = model.parameters.of(c.margin_class).mpor_days;
    for (std::size_t s = 0; s < kFiltered; ++s)
      c.filtered_dates.push_back(date(2023, 1, 1).add_days(static_cast<std::int64_t>(s)).value());
    for (std::size_t s = 0; s < kStressed; ++s)
      c.stressed_dates.push_back(date(2025, 6, 1).add_days(static_cast<std::int64_t>(s)).value());
    const std::size_t n = c.scenario_count();
    const double horizon = std::sqrt(static_cast<double>(c.mpor_days));
    c.moves_ppb.assign(model.factor_count() * n, 0);
    for (std::size_t s = 0; s < n; ++s) {
      const bool stressed = s >= kFiltered;
      const double scale = (stressed ? 0.045 : 0.02) * horizon;
      const double drift = stressed ? -0.01 * horizon : 0.0;
      const double market = normal();
      std::array<double, kGenerations> generation{};
      for (double& g : generation)
        g = normal();
      for (std::size_t p = 0; p < kProducts; ++p) {
        const double product = normal();
        for (std::size_t b = 0; b < kBucketCount; ++b) {
          const double near = 1.0 - 0.05 * static_cast<double>(b);  // the far buckets move less
          const double x =
              drift +
              scale * near * (0.6 * market + 0.5 * generation[p % kGenerations] + 0.4 * product + 0.3 * normal());
          c.moves_ppb[(p * kBucketCount + b) * n + s] = move_ppb(x);
        }
      }
    }
  }
  check_model(model);
  return model;
}

// A leg of `gpus` GPUs on `product`, over buckets [first, first + width), a price about 2 USD
// per GPU-hour (200 cents), forwards discounted a little.
LegExposure make_leg(MarginClass c, std::size_t product, std::size_t first, std::size_t width, std::int64_t gpus,
                     bool buy, std::mt19937_64& random) {
  LegExposure leg;
  leg.margin_class = c;
  leg.product_index = product;
  const std::int64_t side = buy ? 1 : -1;
  for (std::size_t b = first; b < std::min(kBucketCount, first + width); ++b) {
    const std::int64_t days = kTenorBuckets[b].end_day - kTenorBuckets[b].first_day;
    const std::int64_t hours = side * gpus * 24 * std::min<std::int64_t>(days, 31);
    const std::int64_t cents_per_hour = std::uniform_int_distribution<std::int64_t>(150, 260)(random);
    leg.net_gpu_hours[b] = hours;
    leg.exposure_cents[b] = hours * cents_per_hour * (c == MarginClass::forward ? 97 : 100) / 100;
  }
  return leg;
}

LegExposure random_leg(const std::vector<std::size_t>& products, std::mt19937_64& random) {
  std::uniform_int_distribution<std::size_t> pick(0, products.size() - 1);
  std::uniform_int_distribution<std::size_t> bucket(0, kBucketCount - 1);
  std::uniform_int_distribution<std::size_t> width(1, 3);
  std::uniform_int_distribution<std::int64_t> gpus(1, 64);
  std::bernoulli_distribution coin(0.5);
  const MarginClass c = coin(random) ? MarginClass::future : MarginClass::forward;
  return make_leg(c, products[pick(random)], bucket(random), width(random), 8 * gpus(random), coin(random), random);
}

struct Book {
  MemberPosition position;
  std::vector<std::vector<LegExposure>> trades;
};

// book 0: the trader (6 products, 120 legs); book 1: the run's member (20 products, 1,000 legs).
const Book& book(const MarginModel& model, int which) {
  static const std::array<Book, 2> books = [&] {
    std::array<Book, 2> out;
    std::mt19937_64 random(42);
    const std::vector<std::size_t> trader_products = {0, 1, 2, 5, 7, 10};
    std::vector<std::size_t> all_products(kProducts);
    for (std::size_t p = 0; p < kProducts; ++p)
      all_products[p] = p;
    for (int b = 0; b < 2; ++b) {
      Book& it = out[static_cast<std::size_t>(b)];
      it.position = MemberPosition::empty(model);
      const auto& products = b == 0 ? trader_products : all_products;
      const int legs = b == 0 ? 120 : 1'000;
      for (int i = 0; i < legs; ++i)
        it.position.add(random_leg(products, random));
      std::bernoulli_distribution own(0.75);
      for (std::size_t t = 0; t < kTrades; ++t) {
        it.trades.push_back({random_leg(own(random) ? products : all_products, random)});
      }
    }
    return out;
  }();
  return books[static_cast<std::size_t>(which)];
}

const MarginModel& model() {
  static const MarginModel m = make_model();
  return m;
}

std::size_t non_zero_factors(const MemberPosition& position, std::size_t ci) {
  return static_cast<std::size_t>(std::count_if(position.exposure_cents[ci].begin(), position.exposure_cents[ci].end(),
                                                [](std::int64_t e) { return e != 0; }));
}

void set_book_counters(benchmark::State& state, const Book& b) {
  state.counters["future_factors"] = static_cast<double>(non_zero_factors(b.position, 0));
  state.counters["forward_factors"] = static_cast<double>(non_zero_factors(b.position, 1));
}

void IncrementalMargin(benchmark::State& state) {
  const MarginModel& m = model();
  const Book& b = book(m, static_cast<int>(state.range(0)));
  const MemberMargin member(m, b.position);
  // The figure before a trade is the figure recomputed after it.
  for (std::size_t t = 0; t < 64; ++t) {
    MemberPosition after = b.position;
    for (const LegExposure& leg : b.trades[t])
      after.add(leg);
    if (member.with(b.trades[t]) != margin_of(m, after)) {
      state.SkipWithError("the incremental figure differs from a full recompute");
      return;
    }
  }
  std::vector<double> samples;
  samples.reserve(1 << 20);
  std::size_t t = 0;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    MarginFigures figures = member.with(b.trades[t]);
    benchmark::DoNotOptimize(figures);
    const auto end = std::chrono::steady_clock::now();
    samples.push_back(std::chrono::duration<double, std::micro>(end - start).count());
    t = (t + 1) % kTrades;
  }
  std::sort(samples.begin(), samples.end());
  const auto at = [&](double q) {
    return samples[std::min(samples.size() - 1, static_cast<std::size_t>(q * static_cast<double>(samples.size())))];
  };
  double sum = 0;
  for (const double s : samples)
    sum += s;
  state.counters["mean_us"] = sum / static_cast<double>(samples.size());
  state.counters["p50_us"] = at(0.50);
  state.counters["p99_us"] = at(0.99);
  state.counters["max_us"] = samples.back();
  set_book_counters(state, b);
}
BENCHMARK(IncrementalMargin)->ArgName("book")->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

// The bound the registry clears most trades with (MemberMargin::initial_margin_bound): no pass over
// the scenarios, so its cost is the legs' columns and the add-ons over the factors.
void MarginBound(benchmark::State& state) {
  const MarginModel& m = model();
  const Book& b = book(m, static_cast<int>(state.range(0)));
  const MemberMargin member(m, b.position);
  const MoveRanges ranges = move_ranges(m);
  for (std::size_t t = 0; t < 64; ++t) {
    if (member.initial_margin_bound(b.trades[t], ranges) < member.with(b.trades[t]).initial_margin_cents) {
      state.SkipWithError("the bound is below the figure");
      return;
    }
  }
  std::size_t t = 0;
  for (auto _ : state) {
    std::int64_t bound = member.initial_margin_bound(b.trades[t], ranges);
    benchmark::DoNotOptimize(bound);
    t = (t + 1) % kTrades;
  }
  set_book_counters(state, b);
}
BENCHMARK(MarginBound)->ArgName("book")->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

// A member's state kept after a trade clears (MemberMargin::add, as the registry applies each
// trade it checked): the legs' columns added to the kept P&Ls, the tails deferred and taken once
// every 40 adds, as for a venue batch of 40. Each iteration adds a trade and then its reverse, so
// that the book stays the same size.
void AddTradeAndItsReverse(benchmark::State& state) {
  const MarginModel& m = model();
  const Book& b = book(m, static_cast<int>(state.range(0)));
  MemberMargin member(m, b.position);
  std::vector<std::vector<LegExposure>> reverse;
  for (const auto& trade : b.trades) {
    std::vector<LegExposure> legs = trade;
    for (LegExposure& leg : legs) {
      for (std::size_t i = 0; i < kBucketCount; ++i) {
        leg.exposure_cents[i] = -leg.exposure_cents[i];
        leg.net_gpu_hours[i] = -leg.net_gpu_hours[i];
      }
    }
    reverse.push_back(std::move(legs));
  }
  // Added and taken away, the state is the one built from the position again.
  for (std::size_t t = 0; t < 64; ++t) {
    member.add(b.trades[t]);
    member.add(reverse[t]);
  }
  if (member.figures() != margin_of(m, b.position)) {
    state.SkipWithError("the state kept through added trades differs from a full recompute");
    return;
  }
  // As the registry adds a batch's trades: the tails deferred (bounds kept), taken once per 40.
  const MoveRanges ranges = move_ranges(m);
  std::size_t t = 0;
  for (auto _ : state) {
    member.add(b.trades[t], &ranges);
    member.add(reverse[t], &ranges);
    if (t % 20 == 19) benchmark::DoNotOptimize(member.figures());
    t = (t + 1) % kTrades;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * 2);
  set_book_counters(state, b);
}
BENCHMARK(AddTradeAndItsReverse)->ArgName("book")->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

void MemberMarginFromPosition(benchmark::State& state) {
  const MarginModel& m = model();
  const Book& b = book(m, static_cast<int>(state.range(0)));
  for (auto _ : state) {
    MemberMargin member(m, b.position);
    benchmark::DoNotOptimize(member);
  }
  set_book_counters(state, b);
}
BENCHMARK(MemberMarginFromPosition)->ArgName("book")->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

void MarginOf(benchmark::State& state) {
  const MarginModel& m = model();
  const Book& b = book(m, static_cast<int>(state.range(0)));
  for (auto _ : state) {
    MarginFigures figures = margin_of(m, b.position);
    benchmark::DoNotOptimize(figures);
  }
  set_book_counters(state, b);
}
BENCHMARK(MarginOf)->ArgName("book")->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

void Contributions(benchmark::State& state) {
  const MarginModel& m = model();
  const Book& b = book(m, static_cast<int>(state.range(0)));
  const MemberMargin member(m, b.position);
  for (auto _ : state) {
    for (const MarginClass c : {MarginClass::future, MarginClass::forward}) {
      auto parts = contributions(m, member, c);
      benchmark::DoNotOptimize(parts);
    }
  }
  set_book_counters(state, b);
}
BENCHMARK(Contributions)->ArgName("book")->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
