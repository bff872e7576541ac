#include "cch/margin/engine.hpp"

#include <algorithm>
#include <limits>
#include <numeric>
#include <vector>

#include "cch/core/check.hpp"

namespace cch::margin {

namespace {

constexpr Int128 kNanoPerCent = 1'000'000'000;

std::int64_t ceil_cents_at_least_zero(Int128 numerator, Int128 denominator) {
  auto rounded = divide_rounded(numerator, denominator, Rounding::ceiling);
  CCH_CHECK(rounded.has_value(), "a margin figure fits in 64 bits within the model's bounds");
  return std::max<std::int64_t>(0, rounded.value());
}

Int128 abs128(Int128 value) { return value < 0 ? -value : value; }

struct Tail {
  Int128 sum = 0;
  std::size_t k = 1;
};

// Tails of up to this many scenarios are selected while the P&Ls are streamed (below); longer
// ones (a confidence far below the regulatory floor) by a selection over a copy.
constexpr std::size_t kStreamedTailMax = 64;

// The k smallest of the values pushed, kept sorted ascending (k <= kStreamedTailMax). Their sum
// is the same whichever of equal values are kept, so the order values come in does not matter.
// A value at or above threshold() cannot be among them: callers compare with it first, so that
// the common case is one comparison.
class SmallestK {
 public:
  SmallestK() = default;
  explicit SmallestK(std::size_t k) : k_(k) {}
  [[nodiscard]] Int128 threshold() const { return threshold_; }
  // Precondition: value < threshold().
  void push(Int128 value) {
    if (size_ == k_) --size_;  // the largest kept gives way
    std::size_t i = size_;
    for (; i > 0 && kept_[i - 1] > value; --i) kept_[i] = kept_[i - 1];
    kept_[i] = value;
    ++size_;
    if (size_ == k_) threshold_ = kept_[size_ - 1];
  }
  [[nodiscard]] Int128 sum() const {
    Int128 out = 0;
    for (std::size_t i = 0; i < size_; ++i) out += kept_[i];
    return out;
  }

 private:
  static constexpr Int128 kInt128Max = static_cast<Int128>(~static_cast<UInt128>(0) >> 1);
  std::array<Int128, kStreamedTailMax> kept_;
  std::size_t k_ = 1;
  std::size_t size_ = 0;
  Int128 threshold_ = kInt128Max;
};

// One factor's part of a P&L: its exposure (cents) and its moves (ppb), one per scenario.
struct Column {
  std::int64_t exposure_cents = 0;
  const std::int64_t* moves = nullptr;
};

// The columns' exposure x move of scenario s, summed exactly; C columns (the count known when
// compiling, so that the loop over the scenarios keeps them in registers) or any number (C = 0).
template <std::size_t C>
inline Int128 delta_at(const Column* columns, std::size_t count, std::size_t s) {
  Int128 delta = 0;
  if constexpr (C > 0) {
    for (std::size_t i = 0; i < C; ++i) delta += static_cast<Int128>(columns[i].exposure_cents) * columns[i].moves[s];
  } else {
    for (std::size_t i = 0; i < count; ++i) delta += static_cast<Int128>(columns[i].exposure_cents) * columns[i].moves[s];
  }
  return delta;
}

// A class's two tails (its filtered and its stressed scenarios) of a P&L.
struct ClassTails {
  Tail filtered;
  Tail stressed;
};

// The tails of each of B P&Ls base[b] + the columns, in one pass over the scenarios: the P&Ls are
// never stored, and the columns' part is computed once for all of them (a trade's legs move the
// portfolio and their generation alike).
template <std::size_t B, std::size_t C>
void streamed_tails(const ClassScenarios& scenarios, std::size_t k_filtered, std::size_t k_stressed,
                    const std::array<const Int128*, B>& bases, std::span<const Column> columns,
                    std::array<ClassTails, B>& out) {
  const Column* const cols = columns.data();
  const std::size_t count = columns.size();
  const std::size_t filtered = scenarios.filtered_count();
  const std::size_t n = scenarios.scenario_count();
  const auto part = [&](std::size_t first, std::size_t end, std::size_t k, Tail ClassTails::*tail) {
    std::array<SmallestK, B> smallest;
    for (SmallestK& one : smallest) one = SmallestK(k);
    // Spelled out for one and two P&Ls so that the thresholds stay in registers.
    const Int128* const base0 = bases[0];
    Int128 threshold0 = smallest[0].threshold();
    if constexpr (B == 1) {
      for (std::size_t s = first; s < end; ++s) {
        const Int128 value = base0[s] + delta_at<C>(cols, count, s);
        if (value < threshold0) [[unlikely]] {
          smallest[0].push(value);
          threshold0 = smallest[0].threshold();
        }
      }
    } else {
      static_assert(B == 2, "one or two P&Ls a pass");
      const Int128* const base1 = bases[1];
      Int128 threshold1 = smallest[1].threshold();
      for (std::size_t s = first; s < end; ++s) {
        const Int128 delta = delta_at<C>(cols, count, s);
        const Int128 value0 = base0[s] + delta;
        const Int128 value1 = base1[s] + delta;
        if (value0 < threshold0) [[unlikely]] {
          smallest[0].push(value0);
          threshold0 = smallest[0].threshold();
        }
        if (value1 < threshold1) [[unlikely]] {
          smallest[1].push(value1);
          threshold1 = smallest[1].threshold();
        }
      }
    }
    for (std::size_t b = 0; b < B; ++b) out[b].*tail = Tail{-smallest[b].sum(), k};
  };
  part(0, filtered, k_filtered, &ClassTails::filtered);
  part(filtered, n, k_stressed, &ClassTails::stressed);
}

// The tails of B P&Ls base[b] + the columns.
template <std::size_t B>
std::array<ClassTails, B> class_tails(const ClassScenarios& scenarios, std::int32_t confidence,
                                      const std::array<const Int128*, B>& bases, std::span<const Column> columns) {
  const std::size_t filtered = scenarios.filtered_count();
  const std::size_t n = scenarios.scenario_count();
  const std::size_t k_filtered = tail_count(filtered, confidence);
  const std::size_t k_stressed = tail_count(n - filtered, confidence);
  std::array<ClassTails, B> out;
  if (k_filtered > kStreamedTailMax || k_stressed > kStreamedTailMax) {
    // A long tail: the P&L materialised, and a selection over it.
    thread_local std::vector<Int128> pnl;
    pnl.resize(n);
    for (std::size_t b = 0; b < B; ++b) {
      for (std::size_t s = 0; s < n; ++s) pnl[s] = bases[b][s] + delta_at<0>(columns.data(), columns.size(), s);
      const std::span<const Int128> all(pnl);
      out[b].filtered = Tail{tail_loss_sum(all.first(filtered), k_filtered), k_filtered};
      out[b].stressed = Tail{tail_loss_sum(all.subspan(filtered), k_stressed), k_stressed};
    }
    return out;
  }
  switch (columns.size()) {
    case 0: streamed_tails<B, 0>(scenarios, k_filtered, k_stressed, bases, columns, out); break;
    case 1: streamed_tails<B, 1>(scenarios, k_filtered, k_stressed, bases, columns, out); break;
    case 2: streamed_tails<B, 2>(scenarios, k_filtered, k_stressed, bases, columns, out); break;
    case 3: streamed_tails<B, 3>(scenarios, k_filtered, k_stressed, bases, columns, out); break;
    default: streamed_tails<B, 0>(scenarios, k_filtered, k_stressed, bases, columns, out); break;
  }
  return out;
}

// A class's three expected shortfalls (filtered, stressed, after APC), in cents.
struct ClassShortfall {
  std::int64_t filtered = 0;
  std::int64_t stressed = 0;
  std::int64_t combined = 0;
};

ClassShortfall class_shortfall(const MarginParameters& p, const ClassTails& tails) {
  const Tail& filtered = tails.filtered;
  const Tail& stressed = tails.stressed;
  ClassShortfall out;
  out.filtered = ceil_cents_at_least_zero(filtered.sum, static_cast<Int128>(filtered.k) * kNanoPerCent);
  out.stressed = ceil_cents_at_least_zero(stressed.sum, static_cast<Int128>(stressed.k) * kNanoPerCent);
  if (p.apc_mode == ApcMode::stress_weight) {
    const Int128 w = p.apc_stress_weight_bp;
    const Int128 numerator = (10'000 - w) * filtered.sum * static_cast<Int128>(stressed.k) +
                             w * stressed.sum * static_cast<Int128>(filtered.k);
    const Int128 denominator =
        Int128{10'000} * static_cast<Int128>(filtered.k) * static_cast<Int128>(stressed.k) * kNanoPerCent;
    out.combined = ceil_cents_at_least_zero(numerator, denominator);
  } else {
    const Int128 factor = p.apc_buffer_released ? 10'000 : 10'000 + static_cast<Int128>(p.apc_buffer_bp);
    out.combined = ceil_cents_at_least_zero(filtered.sum * factor,
                                            static_cast<Int128>(filtered.k) * 10'000 * kNanoPerCent);
  }
  return out;
}

// The shortfalls of one P&L, base + columns.
ClassShortfall class_shortfall(const MarginModel& model, MarginClass c, const Int128* base,
                               std::span<const Column> columns) {
  return class_shortfall(model.parameters,
                         class_tails<1>(model.scenarios.of(c), model.parameters.of(c).confidence_bp, {base}, columns)[0]);
}

// A class's tail lengths: among its filtered scenarios and among its stressed ones.
std::pair<std::size_t, std::size_t> tail_counts(const MarginModel& model, MarginClass c) {
  const ClassScenarios& scenarios = model.scenarios.of(c);
  const std::int32_t confidence = model.parameters.of(c).confidence_bp;
  return {tail_count(scenarios.filtered_count(), confidence),
          tail_count(scenarios.scenario_count() - scenarios.filtered_count(), confidence)};
}

// pnl[s] += the columns' exposure x move of scenario s, exact. Columns are taken in runs whose
// gross exposure times the largest move a model may hold (kMovePpbMax) stays within 63 bits:
// every product and partial sum of such a run fits a 64-bit integer, so the run is summed in 64
// bits (half the work and memory of 128) and added to the 128-bit P&L once. A column too large
// for that on its own is added in 128 bits. Four columns a pass: the sum is read and written once
// per four factors.
void add_columns(std::vector<Int128>& pnl, std::span<const Column> columns) {
  constexpr UInt128 kRunGrossMax = static_cast<UInt128>(std::numeric_limits<std::int64_t>::max()) / kMovePpbMax;
  const std::size_t n = pnl.size();
  Int128* const out = pnl.data();
  thread_local std::vector<std::int64_t> run;
  std::size_t c = 0;
  while (c < columns.size()) {
    std::size_t end = c;
    UInt128 gross = 0;
    while (end < columns.size()) {
      const auto e = static_cast<UInt128>(abs128(columns[end].exposure_cents));
      if (gross + e > kRunGrossMax) break;
      gross += e;
      ++end;
    }
    if (end == c) {
      const Int128 e = columns[c].exposure_cents;
      const std::int64_t* m = columns[c].moves;
      for (std::size_t s = 0; s < n; ++s) out[s] += e * m[s];
      ++c;
      continue;
    }
    run.assign(n, 0);
    std::int64_t* const sum = run.data();
    for (; c + 4 <= end; c += 4) {
      const std::int64_t e0 = columns[c].exposure_cents, e1 = columns[c + 1].exposure_cents;
      const std::int64_t e2 = columns[c + 2].exposure_cents, e3 = columns[c + 3].exposure_cents;
      const std::int64_t* m0 = columns[c].moves;
      const std::int64_t* m1 = columns[c + 1].moves;
      const std::int64_t* m2 = columns[c + 2].moves;
      const std::int64_t* m3 = columns[c + 3].moves;
      for (std::size_t s = 0; s < n; ++s) sum[s] += e0 * m0[s] + e1 * m1[s] + e2 * m2[s] + e3 * m3[s];
    }
    for (; c < end; ++c) {
      const std::int64_t e = columns[c].exposure_cents;
      const std::int64_t* m = columns[c].moves;
      for (std::size_t s = 0; s < n; ++s) sum[s] += e * m[s];
    }
    for (std::size_t s = 0; s < n; ++s) out[s] += sum[s];
  }
}

// a[s] += d and b[s] += d for d the columns' exposure x move of scenario s, exact, in one pass
// (a trade's legs move the portfolio's P&L and their generation's alike).
template <std::size_t C>
void add_delta_to_both(Int128* a, Int128* b, std::size_t n, std::span<const Column> columns) {
  for (std::size_t s = 0; s < n; ++s) {
    const Int128 d = delta_at<C>(columns.data(), columns.size(), s);
    a[s] += d;
    b[s] += d;
  }
}

void add_columns_to_both(std::vector<Int128>& a, std::vector<Int128>& b, std::span<const Column> columns) {
  CCH_CHECK(a.size() == b.size(), "two P&Ls of one class");
  switch (columns.size()) {
    case 1: add_delta_to_both<1>(a.data(), b.data(), a.size(), columns); break;
    case 2: add_delta_to_both<2>(a.data(), b.data(), a.size(), columns); break;
    case 3: add_delta_to_both<3>(a.data(), b.data(), a.size(), columns); break;
    default: add_delta_to_both<0>(a.data(), b.data(), a.size(), columns); break;
  }
}

std::int64_t concentration_cents(const MarginModel& model, const MemberPosition& position) {
  const MarginParameters& p = model.parameters;
  std::int64_t total = 0;
  for (std::size_t i = 0; i < model.products.size(); ++i) {
    const std::int64_t oi = model.products[i].open_interest_gpu_hours;
    if (oi <= 0) continue;
    Int128 net_hours = 0;
    Int128 exposure = 0;
    for (std::size_t b = 0; b < kBucketCount; ++b) {
      const std::size_t f = i * kBucketCount + b;
      for (std::size_t ci = 0; ci < kMarginClassCount; ++ci) {
        net_hours += position.net_gpu_hours[ci][f];
        exposure += position.exposure_cents[ci][f];
      }
    }
    const Int128 held = std::min<Int128>(abs128(net_hours), oi);
    const Int128 excess_numerator = held * 10'000 - static_cast<Int128>(p.concentration_threshold_bp) * oi;
    if (excess_numerator <= 0) continue;
    // excess share in parts per 10^9, rounded up
    auto excess_ppb = divide_rounded(excess_numerator * 1'000'000'000, static_cast<Int128>(oi) * 10'000, Rounding::ceiling);
    CCH_CHECK(excess_ppb.has_value(), "a share fits");
    const Int128 numerator = abs128(exposure) * p.concentration_rate_bp * excess_ppb.value();
    total += ceil_cents_at_least_zero(numerator, Int128{10'000} * 1'000'000'000);
  }
  return total;
}

std::int64_t liquidity_cents(const MarginModel& model, const MemberPosition& position) {
  Int128 ticks = 0;
  for (std::size_t i = 0; i < model.products.size(); ++i) {
    for (std::size_t b = 0; b < kBucketCount; ++b) {
      const std::size_t f = i * kBucketCount + b;
      ticks += abs128(static_cast<Int128>(position.net_gpu_hours[0][f]) + position.net_gpu_hours[1][f]) *
               model.products[i].spread_ticks;
    }
  }
  return ceil_cents_at_least_zero(ticks, 200);
}

}  // namespace

std::size_t tail_count(std::size_t scenarios, std::int32_t confidence_bp) {
  CCH_CHECK(scenarios >= 1 && confidence_bp > 0 && confidence_bp < 10'000, "a tail needs scenarios and a confidence below 100 %");
  const std::size_t k = (scenarios * static_cast<std::size_t>(10'000 - confidence_bp) + 9'999) / 10'000;
  return std::max<std::size_t>(1, k);
}

Int128 tail_loss_sum(std::span<const Int128> pnl, std::size_t k) {
  CCH_CHECK(k >= 1 && k <= pnl.size(), "the tail is within the scenarios");
  if (k <= kStreamedTailMax) {
    SmallestK smallest(k);
    for (const Int128 value : pnl) {
      if (value < smallest.threshold()) smallest.push(value);
    }
    return -smallest.sum();
  }
  thread_local std::vector<Int128> scratch;
  scratch.assign(pnl.begin(), pnl.end());
  // The k smallest P&Ls are the k largest losses.
  std::nth_element(scratch.begin(), scratch.begin() + static_cast<std::ptrdiff_t>(k - 1), scratch.end());
  Int128 sum = 0;
  for (std::size_t i = 0; i < k; ++i) sum -= scratch[i];
  return sum;
}

std::int64_t expected_shortfall_cents(const MarginParameters& parameters, const ClassScenarios& scenarios,
                                      std::span<const Int128> pnl) {
  CCH_CHECK(pnl.size() == scenarios.scenario_count(), "a P&L per scenario of the class");
  const auto tails = class_tails<1>(scenarios, parameters.of(scenarios.margin_class).confidence_bp, {pnl.data()}, {});
  return class_shortfall(parameters, tails[0]).combined;
}

void check_model(const MarginModel& model) {
  const std::size_t factors = model.factor_count();
  CCH_CHECK(model.scenarios.factor_count == factors, "the scenarios' factors are the products' buckets");
  CCH_CHECK(model.generation_count >= 1, "at least one generation");
  for (const ModelProduct& product : model.products) {
    CCH_CHECK(product.generation >= 0 && product.generation < model.generation_count, "a product's generation is in range");
    CCH_CHECK(product.open_interest_gpu_hours >= 0 && product.spread_ticks >= 0 && product.spread_ticks <= kSpreadTicksMax,
              "open interest and spread in range");
  }
  for (const ClassScenarios& c : model.scenarios.classes) {
    CCH_CHECK(c.filtered_count() >= 1 && c.stressed_count() >= 1, "each class has filtered and stressed scenarios");
    CCH_CHECK(c.moves_ppb.size() == factors * c.scenario_count(), "a move per factor and scenario");
    for (const std::int64_t move : c.moves_ppb) {
      CCH_CHECK(move > -1'000'000'000 && move <= kMovePpbMax, "a move is within its bounds");
    }
  }
}

MemberPosition MemberPosition::empty(const MarginModel& model) {
  MemberPosition position;
  for (auto& by_class : position.exposure_cents) by_class.assign(model.factor_count(), 0);
  for (auto& by_class : position.net_gpu_hours) by_class.assign(model.factor_count(), 0);
  return position;
}

void MemberPosition::add(const LegExposure& leg) {
  interim_cents += leg.interim_cents;
  if (leg.interim_cents != 0) return;  // a leg outside the model: no exposure in it
  auto& exposure = exposure_cents[static_cast<std::size_t>(leg.margin_class)];
  auto& hours = net_gpu_hours[static_cast<std::size_t>(leg.margin_class)];
  const std::size_t base = leg.product_index * kBucketCount;
  CCH_CHECK(base + kBucketCount <= hours.size(), "a leg's product is in the model");
  for (std::size_t b = 0; b < kBucketCount; ++b) {
    exposure[base + b] += leg.exposure_cents[b];
    hours[base + b] += leg.net_gpu_hours[b];
  }
}

bool MemberPosition::is_flat() const {
  const auto zero = [](const std::vector<std::int64_t>& v) {
    return std::all_of(v.begin(), v.end(), [](std::int64_t x) { return x == 0; });
  };
  return zero(exposure_cents[0]) && zero(exposure_cents[1]) && zero(net_gpu_hours[0]) && zero(net_gpu_hours[1]) &&
         interim_cents == 0;
}

namespace {

void check_gross(const MemberPosition& position) {
  Int128 gross = 0;
  for (const auto& by_class : position.exposure_cents) {
    for (const std::int64_t e : by_class) gross += abs128(e);
  }
  CCH_CHECK(gross <= kGrossExposureCentsMax, "a member's gross exposure is within the margin model's bound");
}

// A class's figures from its portfolio's shortfalls and the sum of its generations' alone.
ClassFigures class_figures(const MarginModel& model, const ClassShortfall& portfolio, std::int64_t alone) {
  ClassFigures figures;
  figures.es_filtered_cents = portfolio.filtered;
  figures.es_stressed_cents = portfolio.stressed;
  figures.expected_shortfall_cents = portfolio.combined;
  figures.generations_alone_cents = alone;
  figures.diversification_benefit_cents = std::max<std::int64_t>(0, alone - portfolio.combined);
  figures.benefit_refused_cents = ceil_cents_at_least_zero(
      static_cast<Int128>(figures.diversification_benefit_cents) * (10'000 - model.parameters.generation_offset_bp),
      10'000);
  figures.benefit_taken_cents = figures.diversification_benefit_cents - figures.benefit_refused_cents;
  figures.requirement_cents = portfolio.combined + figures.benefit_refused_cents;
  return figures;
}

}  // namespace

MemberMargin::MemberMargin(const MarginModel& model, MemberPosition position)
    : model_(&model), position_(std::move(position)) {
  const std::size_t factors = model.factor_count();
  CCH_CHECK(position_.net_gpu_hours[0].size() == factors && position_.net_gpu_hours[1].size() == factors &&
                position_.exposure_cents[0].size() == factors && position_.exposure_cents[1].size() == factors,
            "a position has the model's factors");
  check_gross(position_);
  const auto generations = static_cast<std::size_t>(model.generation_count);
  thread_local std::vector<std::vector<Column>> by_generation;
  by_generation.resize(std::max(by_generation.size(), generations));
  for (std::size_t ci = 0; ci < kMarginClassCount; ++ci) {
    const auto c = static_cast<MarginClass>(ci);
    const ClassScenarios& scenarios = model.scenarios.of(c);
    const std::size_t n = scenarios.scenario_count();
    for (std::size_t g = 0; g < generations; ++g) by_generation[g].clear();
    for (std::size_t f = 0; f < factors; ++f) {
      const std::int64_t exposure = position_.exposure_cents[ci][f];
      if (exposure == 0) continue;
      const auto g = static_cast<std::size_t>(model.products[f / kBucketCount].generation);
      by_generation[g].push_back(Column{exposure, scenarios.moves_of(f)});
    }
    // Each factor's P&L goes into its generation's; the portfolio's is their sum (integers:
    // exactly the sum over all factors). A generation without exposure has a P&L of zeros, and
    // tails of zero.
    total_[ci].assign(n, 0);
    generation_[ci].resize(generations);
    generation_es_[ci].assign(generations, 0);
    generation_tails_[ci].assign(generations, TailSums{});
    generation_deferred_[ci].assign(generations, 0);
    for (std::size_t g = 0; g < generations; ++g) {
      std::vector<Int128>& pnl = generation_[ci][g];
      pnl.assign(n, 0);
      if (by_generation[g].empty()) continue;
      add_columns(pnl, by_generation[g]);
      for (std::size_t s = 0; s < n; ++s) total_[ci][s] += pnl[s];
      generation_deferred_[ci][g] = 1;
    }
    class_deferred_[ci] = true;
  }
  figures_deferred_ = true;
  take_deferred_tails();
}

// The tails of each deferred generation and of each deferred class's portfolio, and the figures
// from them.
void MemberMargin::take_deferred_tails() const {
  if (!figures_deferred_) {
    tail_bounds_kept_ = true;  // the tails are exact
    return;
  }
  const MarginModel& model = *model_;
  const auto generations = static_cast<std::size_t>(model.generation_count);
  const auto sums = [](const ClassTails& tails) { return TailSums{tails.filtered.sum, tails.stressed.sum}; };
  std::int64_t classes_total = 0;
  for (std::size_t ci = 0; ci < kMarginClassCount; ++ci) {
    const auto c = static_cast<MarginClass>(ci);
    if (class_deferred_[ci]) {
      const ClassScenarios& scenarios = model.scenarios.of(c);
      const std::int32_t confidence = model.parameters.of(c).confidence_bp;
      const auto deferred = static_cast<std::size_t>(
          std::count(generation_deferred_[ci].begin(), generation_deferred_[ci].end(), 1));
      ClassTails portfolio;
      if (deferred == 1) {
        // The common case: the portfolio's tails and its one generation's in one pass.
        const auto g = static_cast<std::size_t>(
            std::find(generation_deferred_[ci].begin(), generation_deferred_[ci].end(), 1) - generation_deferred_[ci].begin());
        const auto tails = class_tails<2>(scenarios, confidence, {total_[ci].data(), generation_[ci][g].data()}, {});
        portfolio = tails[0];
        generation_tails_[ci][g] = sums(tails[1]);
        generation_es_[ci][g] = class_shortfall(model.parameters, tails[1]).combined;
        generation_deferred_[ci][g] = 0;
      } else {
        for (std::size_t g = 0; g < generations; ++g) {
          if (generation_deferred_[ci][g] == 0) continue;
          const auto tails = class_tails<1>(scenarios, confidence, {generation_[ci][g].data()}, {})[0];
          generation_tails_[ci][g] = sums(tails);
          generation_es_[ci][g] = class_shortfall(model.parameters, tails).combined;
          generation_deferred_[ci][g] = 0;
        }
        portfolio = class_tails<1>(scenarios, confidence, {total_[ci].data()}, {})[0];
      }
      portfolio_tails_[ci] = sums(portfolio);
      std::int64_t alone = 0;
      for (std::size_t g = 0; g < generations; ++g) alone += generation_es_[ci][g];
      figures_.classes[ci] = class_figures(model, class_shortfall(model.parameters, portfolio), alone);
      class_deferred_[ci] = false;
    }
    classes_total += figures_.classes[ci].requirement_cents;
  }
  figures_.concentration_cents = concentration_cents(model, position_);
  figures_.liquidity_cents = liquidity_cents(model, position_);
  figures_.interim_cents = position_.interim_cents;
  figures_.initial_margin_cents =
      classes_total + figures_.concentration_cents + figures_.liquidity_cents + figures_.interim_cents;
  figures_deferred_ = false;
  tail_bounds_kept_ = true;
}

const MarginFigures& MemberMargin::figures() const {
  take_deferred_tails();
  return figures_;
}

MarginFigures MemberMargin::with(std::span<const LegExposure> legs) const {
  take_deferred_tails();
  const MarginModel& model = *model_;
  // The position after the legs, in a buffer this thread keeps (no allocation once it has the
  // model's size): only the add-ons need it.
  thread_local MemberPosition position;
  position = position_;
  for (const LegExposure& leg : legs) position.add(leg);
  check_gross(position);
  const auto generations = static_cast<std::size_t>(model.generation_count);
  thread_local std::vector<Column> columns;        // the legs' exposures in one class
  thread_local std::vector<Column> of_generation;  // those of one generation
  thread_local std::vector<std::int32_t> column_generation;
  thread_local std::vector<char> generation_touched;
  MarginFigures out = figures_;
  std::int64_t classes_total = 0;
  for (std::size_t ci = 0; ci < kMarginClassCount; ++ci) {
    const auto c = static_cast<MarginClass>(ci);
    const ClassScenarios& scenarios = model.scenarios.of(c);
    columns.clear();
    column_generation.clear();
    generation_touched.assign(generations, 0);
    for (const LegExposure& leg : legs) {
      if (index(leg.margin_class) != ci) continue;
      for (std::size_t b = 0; b < kBucketCount; ++b) {
        if (leg.exposure_cents[b] == 0) continue;
        const std::int32_t g = model.products[leg.product_index].generation;
        columns.push_back(Column{leg.exposure_cents[b], scenarios.moves_of(leg.product_index * kBucketCount + b)});
        column_generation.push_back(g);
        generation_touched[static_cast<std::size_t>(g)] = 1;
      }
    }
    if (columns.empty()) {
      classes_total += out.classes[ci].requirement_cents;
      continue;
    }
    const auto touched = static_cast<std::size_t>(std::count(generation_touched.begin(), generation_touched.end(), 1));
    if (touched == 1) {
      // The common case (one product, or products of one GPU model): the portfolio's P&L and the
      // generation's moved by the same columns, in one pass.
      const auto g = static_cast<std::size_t>(column_generation.front());
      const auto tails = class_tails<2>(scenarios, model.parameters.of(c).confidence_bp,
                                        {total_[ci].data(), generation_[ci][g].data()}, columns);
      const ClassShortfall portfolio = class_shortfall(model.parameters, tails[0]);
      std::int64_t alone = 0;
      for (std::size_t other = 0; other < generations; ++other) {
        alone += other == g ? class_shortfall(model.parameters, tails[1]).combined : generation_es_[ci][other];
      }
      out.classes[ci] = class_figures(model, portfolio, alone);
      classes_total += out.classes[ci].requirement_cents;
      continue;
    }
    const ClassShortfall portfolio = class_shortfall(model, c, total_[ci].data(), columns);
    std::int64_t alone = 0;
    for (std::size_t g = 0; g < generations; ++g) {
      if (generation_touched[g] == 0) {
        alone += generation_es_[ci][g];
        continue;
      }
      of_generation.clear();
      for (std::size_t i = 0; i < columns.size(); ++i) {
        if (static_cast<std::size_t>(column_generation[i]) == g) of_generation.push_back(columns[i]);
      }
      alone += class_shortfall(model, c, generation_[ci][g].data(), of_generation).combined;
    }
    out.classes[ci] = class_figures(model, portfolio, alone);
    classes_total += out.classes[ci].requirement_cents;
  }
  out.concentration_cents = concentration_cents(model, position);
  out.liquidity_cents = liquidity_cents(model, position);
  out.interim_cents = position.interim_cents;
  out.initial_margin_cents = classes_total + out.concentration_cents + out.liquidity_cents + out.interim_cents;
  return out;
}

namespace {

// The largest loss (10^-9 cent) the legs' columns in class ci can make in any filtered scenario
// and in any stressed one, per generation (by_generation, resized and zeroed) and in all: per
// column, the exposure times the end of its factor's move range that loses (a long loses on the
// lowest move). False when no leg is in the class.
bool legs_loss_max(const MarginModel& model, const MoveRanges& ranges, std::size_t ci,
                   std::span<const LegExposure> legs, std::vector<std::array<Int128, 2>>& by_generation,
                   std::array<Int128, 2>& all) {
  by_generation.assign(static_cast<std::size_t>(model.generation_count), {0, 0});
  all = {0, 0};
  bool touched = false;
  for (const LegExposure& leg : legs) {
    if (static_cast<std::size_t>(leg.margin_class) != ci || leg.interim_cents != 0) continue;  // as MemberPosition::add
    touched = true;
    const auto g = static_cast<std::size_t>(model.products[leg.product_index].generation);
    for (std::size_t b = 0; b < kBucketCount; ++b) {
      const Int128 e = leg.exposure_cents[b];
      if (e == 0) continue;
      const std::size_t f = leg.product_index * kBucketCount + b;
      const MoveRange& filtered = ranges.filtered[ci][f];
      const MoveRange& stressed = ranges.stressed[ci][f];
      const Int128 loss_filtered = e > 0 ? -e * filtered.low : -e * filtered.high;
      const Int128 loss_stressed = e > 0 ? -e * stressed.low : -e * stressed.high;
      by_generation[g][0] += loss_filtered;
      by_generation[g][1] += loss_stressed;
      all[0] += loss_filtered;
      all[1] += loss_stressed;
    }
  }
  return touched;
}

}  // namespace

MoveRanges move_ranges(const MarginModel& model) {
  MoveRanges out;
  const std::size_t factors = model.factor_count();
  for (std::size_t ci = 0; ci < kMarginClassCount; ++ci) {
    const ClassScenarios& scenarios = model.scenarios.of(static_cast<MarginClass>(ci));
    const std::size_t filtered = scenarios.filtered_count();
    const std::size_t n = scenarios.scenario_count();
    out.filtered[ci].resize(factors);
    out.stressed[ci].resize(factors);
    for (std::size_t f = 0; f < factors; ++f) {
      const std::int64_t* moves = scenarios.moves_of(f);
      const auto [fl, fh] = std::minmax_element(moves, moves + filtered);
      const auto [sl, sh] = std::minmax_element(moves + filtered, moves + n);
      out.filtered[ci][f] = MoveRange{*fl, *fh};
      out.stressed[ci][f] = MoveRange{*sl, *sh};
    }
  }
  return out;
}

void MemberMargin::add(std::span<const LegExposure> legs, const MoveRanges* ranges) {
  const MarginModel& model = *model_;
  // The P&Ls are sums of exposure x move over the factors, exact in integers: adding the legs'
  // columns to the kept P&Ls gives exactly the P&Ls a member built from the new position has,
  // and only the tails of the classes and generations the legs touch need taking again, which is
  // deferred until figures are next needed. (A rebuild on every trade was most of the pre-trade
  // check's CPU.) The deferred tails' bounds rise by each leg's largest loss.
  MemberPosition position = position_;
  for (const LegExposure& leg : legs) position.add(leg);
  check_gross(position);
  position_ = std::move(position);
  figures_deferred_ = true;  // the add-ons and the interim requirement too, whatever the legs touch
  const auto generations = static_cast<std::size_t>(model.generation_count);
  thread_local std::vector<std::vector<Column>> by_generation;
  by_generation.resize(std::max(by_generation.size(), generations));
  for (std::size_t ci = 0; ci < kMarginClassCount; ++ci) {
    const ClassScenarios& scenarios = model.scenarios.of(static_cast<MarginClass>(ci));
    for (std::size_t g = 0; g < generations; ++g) by_generation[g].clear();
    for (const LegExposure& leg : legs) {
      // As MemberPosition::add: a leg outside the model has no exposure in it.
      if (index(leg.margin_class) != ci || leg.interim_cents != 0) continue;
      const auto g = static_cast<std::size_t>(model.products[leg.product_index].generation);
      for (std::size_t b = 0; b < kBucketCount; ++b) {
        if (leg.exposure_cents[b] == 0) continue;
        by_generation[g].push_back(Column{leg.exposure_cents[b], scenarios.moves_of(leg.product_index * kBucketCount + b)});
      }
    }
    for (std::size_t g = 0; g < generations; ++g) {
      if (by_generation[g].empty()) continue;
      add_columns_to_both(generation_[ci][g], total_[ci], by_generation[g]);
      generation_deferred_[ci][g] = 1;
      class_deferred_[ci] = true;
    }
  }
  // The figures are taken again when next needed (figures(), with()); meanwhile the tails' loss
  // sums are bounds, raised by k x the legs' largest loss, for initial_margin_bound().
  if (ranges == nullptr) {
    tail_bounds_kept_ = false;  // the next bound takes the tails first
    return;
  }
  if (!tail_bounds_kept_) return;
  thread_local std::vector<std::array<Int128, 2>> loss_by_generation;
  for (std::size_t ci = 0; ci < kMarginClassCount; ++ci) {
    const auto c = static_cast<MarginClass>(ci);
    std::array<Int128, 2> all{};
    if (!legs_loss_max(model, *ranges, ci, legs, loss_by_generation, all)) continue;
    const auto [k_filtered, k_stressed] = tail_counts(model, c);
    const auto raise = [&](TailSums& sums, const std::array<Int128, 2>& loss) {
      sums.filtered += static_cast<Int128>(k_filtered) * loss[0];
      sums.stressed += static_cast<Int128>(k_stressed) * loss[1];
    };
    raise(portfolio_tails_[ci], all);
    for (std::size_t g = 0; g < generations; ++g) raise(generation_tails_[ci][g], loss_by_generation[g]);
  }
}

std::int64_t MemberMargin::initial_margin_bound(std::span<const LegExposure> legs, const MoveRanges& ranges) const {
  if (!tail_bounds_kept_) take_deferred_tails();
  const MarginModel& model = *model_;
  CCH_CHECK(ranges.filtered[0].size() == model.factor_count() && ranges.filtered[1].size() == model.factor_count() &&
                ranges.stressed[0].size() == model.factor_count() && ranges.stressed[1].size() == model.factor_count(),
            "move ranges of this member's model");
  const auto generations = static_cast<std::size_t>(model.generation_count);
  // The position after the legs, for the add-ons, in a buffer this thread keeps.
  thread_local MemberPosition position;
  position = position_;
  for (const LegExposure& leg : legs) position.add(leg);
  thread_local std::vector<std::array<Int128, 2>> loss_by_generation;
  std::int64_t classes_total = 0;
  for (std::size_t ci = 0; ci < kMarginClassCount; ++ci) {
    const auto c = static_cast<MarginClass>(ci);
    std::array<Int128, 2> all{};
    const bool touched = legs_loss_max(model, ranges, ci, legs, loss_by_generation, all);
    if (!touched && !class_deferred_[ci]) {
      classes_total += figures_.classes[ci].requirement_cents;  // exact, and unchanged by the legs
      continue;
    }
    const auto [k_filtered, k_stressed] = tail_counts(model, c);
    const auto shortfall = [&](const TailSums& sums, const std::array<Int128, 2>& loss) {
      return class_shortfall(model.parameters,
                             ClassTails{Tail{sums.filtered + static_cast<Int128>(k_filtered) * loss[0], k_filtered},
                                        Tail{sums.stressed + static_cast<Int128>(k_stressed) * loss[1], k_stressed}});
    };
    const ClassShortfall portfolio = shortfall(portfolio_tails_[ci], all);
    std::int64_t alone = 0;
    for (std::size_t g = 0; g < generations; ++g) alone += shortfall(generation_tails_[ci][g], loss_by_generation[g]).combined;
    classes_total += class_figures(model, portfolio, alone).requirement_cents;
  }
  return classes_total + concentration_cents(model, position) + liquidity_cents(model, position) + position.interim_cents;
}

MarginFigures interim_only(std::int64_t interim_cents) {
  CCH_CHECK(interim_cents >= 0, "an interim requirement is not negative");
  MarginFigures figures;
  figures.interim_cents = interim_cents;
  figures.initial_margin_cents = interim_cents;
  return figures;
}

MarginFigures margin_of(const MarginModel& model, const MemberPosition& position) {
  return MemberMargin(model, position).figures();
}

std::vector<FactorContribution> contributions(const MarginModel& model, const MemberMargin& member, MarginClass c) {
  const ClassScenarios& scenarios = model.scenarios.of(c);
  const std::span<const Int128> pnl = member.pnl(c);
  const std::int32_t confidence = model.parameters.of(c).confidence_bp;
  // The k scenarios of [first, first + count) with the smallest P&L, the lower index first among
  // equal ones.
  const auto tail_indices = [&](std::size_t first, std::size_t count) {
    const std::size_t k = tail_count(count, confidence);
    std::vector<std::size_t> order;
    if (k > kStreamedTailMax) {
      order.resize(count);
      std::iota(order.begin(), order.end(), first);
      std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                        [&](std::size_t a, std::size_t b) { return pnl[a] != pnl[b] ? pnl[a] < pnl[b] : a < b; });
      order.resize(k);
      return order;
    }
    // Streamed in index order: a scenario displaces the largest kept only when its P&L is
    // strictly smaller (among equal P&Ls the one kept has the lower index), and goes after the
    // kept ones with a P&L not above its own.
    order.reserve(k + 1);
    for (std::size_t s = first; s < first + count; ++s) {
      if (order.size() == k) {
        if (pnl[s] >= pnl[order.back()]) continue;
        order.pop_back();
      }
      auto at = order.end();
      while (at != order.begin() && pnl[*(at - 1)] > pnl[s]) --at;
      order.insert(at, s);
    }
    return order;
  };
  const auto filtered = tail_indices(0, scenarios.filtered_count());
  const auto stressed = tail_indices(scenarios.filtered_count(), scenarios.stressed_count());
  const Int128 ka = static_cast<Int128>(filtered.size());
  const Int128 kb = static_cast<Int128>(stressed.size());
  const MarginParameters& p = model.parameters;
  std::vector<FactorContribution> out;
  const auto& exposures = member.position().exposure_cents[static_cast<std::size_t>(c)];
  for (std::size_t f = 0; f < exposures.size(); ++f) {
    if (exposures[f] == 0) continue;
    const std::int64_t* moves = scenarios.moves_of(f);
    Int128 sum_a = 0;
    for (const std::size_t s : filtered) sum_a += moves[s];
    Int128 sum_b = 0;
    for (const std::size_t s : stressed) sum_b += moves[s];
    Int128 numerator = 0;
    Int128 denominator = 0;
    if (p.apc_mode == ApcMode::stress_weight) {
      const Int128 w = p.apc_stress_weight_bp;
      numerator = -static_cast<Int128>(exposures[f]) * ((10'000 - w) * kb * sum_a + w * ka * sum_b);
      denominator = Int128{10'000} * ka * kb * kNanoPerCent;
    } else {
      const Int128 factor = p.apc_buffer_released ? 10'000 : 10'000 + static_cast<Int128>(p.apc_buffer_bp);
      numerator = -static_cast<Int128>(exposures[f]) * factor * sum_a;
      denominator = ka * 10'000 * kNanoPerCent;
    }
    auto cents = divide_rounded(numerator, denominator, Rounding::half_away_from_zero);
    CCH_CHECK(cents.has_value(), "a contribution fits");
    out.push_back(FactorContribution{f, exposures[f], cents.value()});
  }
  return out;
}

}  // namespace cch::margin
