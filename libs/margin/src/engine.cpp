#include "cch/margin/engine.hpp"

#include <algorithm>
#include <numeric>

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

Tail tail_of(std::span<const Int128> pnl, std::int32_t confidence_bp) {
  const std::size_t k = tail_count(pnl.size(), confidence_bp);
  return Tail{tail_loss_sum(pnl, k), k};
}

// A class's three expected shortfalls (filtered, stressed, after APC), in cents.
struct ClassShortfall {
  std::int64_t filtered = 0;
  std::int64_t stressed = 0;
  std::int64_t combined = 0;
};

ClassShortfall class_shortfall(const MarginParameters& p, std::int32_t confidence, const ClassScenarios& scenarios,
                               std::span<const Int128> pnl) {
  CCH_CHECK(pnl.size() == scenarios.scenario_count(), "a P&L per scenario of the class");
  const Tail filtered = tail_of(pnl.first(scenarios.filtered_count()), confidence);
  const Tail stressed = tail_of(pnl.subspan(scenarios.filtered_count()), confidence);
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

ClassShortfall class_shortfall(const MarginModel& model, MarginClass c, std::span<const Int128> pnl) {
  return class_shortfall(model.parameters, model.parameters.of(c).confidence_bp, model.scenarios.of(c), pnl);
}

void add_column(std::vector<Int128>& pnl, std::int64_t exposure_cents, const std::int64_t* moves) {
  const Int128 exposure = exposure_cents;
  const std::size_t n = pnl.size();
  for (std::size_t s = 0; s < n; ++s) pnl[s] += exposure * moves[s];
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
  return class_shortfall(parameters, parameters.of(scenarios.margin_class).confidence_bp, scenarios, pnl).combined;
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

}  // namespace

MemberMargin::MemberMargin(const MarginModel& model, MemberPosition position)
    : model_(&model), position_(std::move(position)) {
  const std::size_t factors = model.factor_count();
  CCH_CHECK(position_.net_gpu_hours[0].size() == factors && position_.net_gpu_hours[1].size() == factors &&
                position_.exposure_cents[0].size() == factors && position_.exposure_cents[1].size() == factors,
            "a position has the model's factors");
  check_gross(position_);
  for (std::size_t ci = 0; ci < kMarginClassCount; ++ci) {
    const auto c = static_cast<MarginClass>(ci);
    const ClassScenarios& scenarios = model.scenarios.of(c);
    const std::size_t n = scenarios.scenario_count();
    total_[ci].assign(n, 0);
    generation_[ci].assign(static_cast<std::size_t>(model.generation_count), std::vector<Int128>(n, 0));
    generation_es_[ci].assign(static_cast<std::size_t>(model.generation_count), 0);
    for (std::size_t f = 0; f < factors; ++f) {
      const std::int64_t exposure = position_.exposure_cents[ci][f];
      if (exposure == 0) continue;
      const auto g = static_cast<std::size_t>(model.products[f / kBucketCount].generation);
      add_column(total_[ci], exposure, scenarios.moves_of(f));
      add_column(generation_[ci][g], exposure, scenarios.moves_of(f));
    }
  }
  // figures_
  std::int64_t classes_total = 0;
  for (std::size_t ci = 0; ci < kMarginClassCount; ++ci) {
    const auto c = static_cast<MarginClass>(ci);
    const ClassShortfall portfolio = class_shortfall(model, c, total_[ci]);
    ClassFigures& figures = figures_.classes[ci];
    figures.es_filtered_cents = portfolio.filtered;
    figures.es_stressed_cents = portfolio.stressed;
    figures.expected_shortfall_cents = portfolio.combined;
    std::int64_t alone = 0;
    for (std::size_t g = 0; g < generation_[ci].size(); ++g) {
      generation_es_[ci][g] = class_shortfall(model, c, generation_[ci][g]).combined;
      alone += generation_es_[ci][g];
    }
    figures.generations_alone_cents = alone;
    figures.diversification_benefit_cents = std::max<std::int64_t>(0, alone - portfolio.combined);
    figures.benefit_refused_cents = ceil_cents_at_least_zero(
        static_cast<Int128>(figures.diversification_benefit_cents) * (10'000 - model.parameters.generation_offset_bp),
        10'000);
    figures.benefit_taken_cents = figures.diversification_benefit_cents - figures.benefit_refused_cents;
    figures.requirement_cents = portfolio.combined + figures.benefit_refused_cents;
    classes_total += figures.requirement_cents;
  }
  figures_.concentration_cents = concentration_cents(model, position_);
  figures_.liquidity_cents = liquidity_cents(model, position_);
  figures_.interim_cents = position_.interim_cents;
  figures_.initial_margin_cents =
      classes_total + figures_.concentration_cents + figures_.liquidity_cents + figures_.interim_cents;
}

MarginFigures MemberMargin::with(std::span<const LegExposure> legs) const {
  const MarginModel& model = *model_;
  MemberPosition position = position_;
  std::array<bool, kMarginClassCount> class_touched{};
  std::array<std::vector<bool>, kMarginClassCount> generation_touched;
  for (auto& touched : generation_touched) touched.assign(static_cast<std::size_t>(model.generation_count), false);
  for (const LegExposure& leg : legs) {
    position.add(leg);
    const auto ci = index(leg.margin_class);
    if (std::any_of(leg.exposure_cents.begin(), leg.exposure_cents.end(), [](std::int64_t e) { return e != 0; })) {
      class_touched[ci] = true;
      generation_touched[ci][static_cast<std::size_t>(model.products[leg.product_index].generation)] = true;
    }
  }
  check_gross(position);
  MarginFigures out = figures_;
  std::int64_t classes_total = 0;
  thread_local std::vector<Int128> scratch;
  for (std::size_t ci = 0; ci < kMarginClassCount; ++ci) {
    if (!class_touched[ci]) {
      classes_total += out.classes[ci].requirement_cents;
      continue;
    }
    const auto c = static_cast<MarginClass>(ci);
    const ClassScenarios& scenarios = model.scenarios.of(c);
    // The legs' exposure per factor of this class.
    std::vector<std::pair<std::size_t, std::int64_t>> delta;
    for (const LegExposure& leg : legs) {
      if (index(leg.margin_class) != ci) continue;
      for (std::size_t b = 0; b < kBucketCount; ++b) {
        if (leg.exposure_cents[b] != 0) delta.emplace_back(leg.product_index * kBucketCount + b, leg.exposure_cents[b]);
      }
    }
    scratch = total_[ci];
    for (const auto& [f, e] : delta) add_column(scratch, e, scenarios.moves_of(f));
    const ClassShortfall portfolio = class_shortfall(model, c, scratch);
    std::int64_t alone = 0;
    for (std::size_t g = 0; g < generation_[ci].size(); ++g) {
      if (!generation_touched[ci][g]) {
        alone += generation_es_[ci][g];
        continue;
      }
      scratch = generation_[ci][g];
      for (const auto& [f, e] : delta) {
        if (static_cast<std::size_t>(model.products[f / kBucketCount].generation) == g) {
          add_column(scratch, e, scenarios.moves_of(f));
        }
      }
      alone += class_shortfall(model, c, scratch).combined;
    }
    ClassFigures& figures = out.classes[ci];
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
    classes_total += figures.requirement_cents;
  }
  out.concentration_cents = concentration_cents(model, position);
  out.liquidity_cents = liquidity_cents(model, position);
  out.interim_cents = position.interim_cents;
  out.initial_margin_cents = classes_total + out.concentration_cents + out.liquidity_cents + out.interim_cents;
  return out;
}

void MemberMargin::add(std::span<const LegExposure> legs) {
  MemberPosition position = position_;
  for (const LegExposure& leg : legs) position.add(leg);
  *this = MemberMargin(*model_, std::move(position));
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
  const auto tail_indices = [&](std::size_t first, std::size_t count) {
    std::vector<std::size_t> order(count);
    std::iota(order.begin(), order.end(), first);
    const std::size_t k = tail_count(count, confidence);
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                      [&](std::size_t a, std::size_t b) { return pnl[a] != pnl[b] ? pnl[a] < pnl[b] : a < b; });
    order.resize(k);
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
