#pragma once
// A member's initial margin from its bucketed exposures and a day's scenarios: expected
// shortfall with anti-procyclicality, the GPU-generation basis cap and the add-ons, exact to the
// cent, and the same figure again after adding candidate legs (the pre-trade check).
//
// Units. An exposure is in cents (the present value of a net position's delivery inside one
// bucket: exposure.hpp); a move in parts per 10^9 (scenarios.hpp); a scenario's P&L is their
// product summed over factors, exact, in 10^-9 cent (Int128), so adding a trade's P&L to a
// member's is exact and a pre-trade figure equals the figure recomputed after the trade.
//
// Expected shortfall of N scenario P&Ls at confidence c: with k = ceil(N x (1 - c)) (at least 1),
// the mean of the k largest losses (loss = -P&L). Ties need no rule: the mean of the k largest
// values is the same whichever of equal values are taken. For N = 1,000 at 99 %: k = 10; at
// 99.5 %: k = 5.
//
// A class's expected shortfall (parameters.hpp), in 10^-9 cent before rounding:
//   stress_weight  ((10,000 - w) x ES(filtered) + w x ES(stressed)) / 10,000
//   buffer         ES(filtered) x (10,000 + b) / 10,000, or ES(filtered) when released
// rounded up to the cent, and never below zero (a book whose worst scenarios still gain needs
// no margin).
//
// Generation basis. Products of different GPU models (generations) offset each other in the
// scenarios, but a new generation's launch breaks their correlation. Per class:
//   alone      = the sum over generations of each generation's own expected shortfall
//   benefit    = max(0, alone - the portfolio's expected shortfall)
//   refused    = ceil(benefit x (10,000 - generation_offset_bp) / 10,000); taken = benefit - refused
//   requirement = the portfolio's expected shortfall + refused
// With generation_offset_bp = 10,000 the model's diversification is taken whole; with 0 none is
// taken across generations (each generation margined alone).
//
// Concentration add-on, per product: N = the member's net GPU-hours in it (all buckets), OI = the
// product's open interest (GPU-hours bought, all members, as of the scenario set: fixed for the
// day so a pre-trade figure and a recompute agree), E = |the member's net exposure to it| (cents,
// both classes). When |N| > threshold x OI: excess = min(|N|, OI) / OI - threshold, rounded up to
// parts per 10^9; add-on = ceil(E x rate x excess). A product without open interest has none.
//
// Liquidity add-on: half the bid-ask spread on each bucket's net GPU-hours (both classes; no
// offset between buckets or products), ceil(sum over factors of |net GPU-hours| x spread ticks /
// 200) cents
// (a tick is 10^-4 USD, 10^-2 cent; half of it).
//
// Interim add-on: the legs of products the model does not cover, each at interim_rate_bp of its
// notional (exposure.hpp: interim_exposure), summed without offset.
//
// Initial margin = the classes' requirements + concentration + liquidity + interim.
//
// Bounds (asserted, they guard money): a member's gross exposure (sum of |exposure| over every
// class and factor) at most kGrossExposureCentsMax, moves within scenarios.hpp's bounds. Within
// them no intermediate overflows Int128.
//
// Thread safety: a MarginModel is immutable once built and may be shared by threads; a
// MemberMargin is a value used by one thread at a time.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "cch/core/decimal.hpp"
#include "cch/core/ids.hpp"
#include "cch/margin/buckets.hpp"
#include "cch/margin/parameters.hpp"
#include "cch/margin/scenarios.hpp"

namespace cch::margin {

inline constexpr std::int64_t kGrossExposureCentsMax = 100'000'000'000'000'000;  // 10^17 cents

// k for n scenarios at a confidence in basis points: ceil(n x (10,000 - c) / 10,000), >= 1.
std::size_t tail_count(std::size_t scenarios, std::int32_t confidence_bp);

// The sum of the k largest losses (-pnl) of pnl. Preconditions: 1 <= k <= pnl.size().
Int128 tail_loss_sum(std::span<const Int128> pnl, std::size_t k);

// A class's expected shortfall after anti-procyclicality (above) of a portfolio's scenario P&Ls
// (10^-9 cent, one per scenario of the class: the filtered, then the stressed), in cents, rounded
// up, at least 0: ClassFigures::expected_shortfall_cents, for any factor layout (the scenarios'
// class names the confidence). Preconditions: pnl.size() == scenarios.scenario_count(), each part
// at least one scenario (checked).
std::int64_t expected_shortfall_cents(const MarginParameters& parameters, const ClassScenarios& scenarios,
                                      std::span<const Int128> pnl);

struct ModelProduct {
  ProductId product;
  std::int32_t generation = 0;            // 0-based group: products of one GPU model share it
  std::int64_t open_interest_gpu_hours = 0;
  std::int64_t spread_ticks = 0;
  friend bool operator==(const ModelProduct&, const ModelProduct&) = default;
};

// What a member's margin is computed against: the parameters, the products (their index is the
// factor's product index, factor = index x kBucketCount + bucket) and the scenarios.
struct MarginModel {
  MarginParameters parameters;
  std::vector<ModelProduct> products;
  ScenarioSet scenarios;
  std::int32_t generation_count = 1;

  [[nodiscard]] std::size_t factor_count() const { return products.size() * kBucketCount; }
};

// Asserts that the model is consistent (factor counts, generations in range, moves in bounds).
void check_model(const MarginModel& model);

// One leg's (or trade's) contribution to a member's position: in one class and one product, per
// bucket its exposure in cents and its net GPU-hours (buy positive).
struct LegExposure {
  MarginClass margin_class = MarginClass::forward;
  std::size_t product_index = 0;
  std::array<std::int64_t, kBucketCount> exposure_cents{};
  std::array<std::int64_t, kBucketCount> net_gpu_hours{};
  std::int64_t interim_cents = 0;  // a leg outside the model: its interim requirement, nothing else
};

// A member's bucketed position: the sum of its legs' LegExposures.
struct MemberPosition {
  std::array<std::vector<std::int64_t>, kMarginClassCount> exposure_cents;  // [class][factor]
  std::array<std::vector<std::int64_t>, kMarginClassCount> net_gpu_hours;   // [class][factor]
  std::int64_t interim_cents = 0;

  static MemberPosition empty(const MarginModel& model);
  void add(const LegExposure& leg);
  [[nodiscard]] bool is_flat() const;
  friend bool operator==(const MemberPosition&, const MemberPosition&) = default;
};

struct ClassFigures {
  std::int64_t es_filtered_cents = 0;   // ES of the filtered scenarios alone, rounded up, >= 0
  std::int64_t es_stressed_cents = 0;   // ES of the stressed scenarios alone, rounded up, >= 0
  std::int64_t expected_shortfall_cents = 0;  // after anti-procyclicality (above)
  std::int64_t generations_alone_cents = 0;
  std::int64_t diversification_benefit_cents = 0;
  std::int64_t benefit_taken_cents = 0;
  std::int64_t benefit_refused_cents = 0;
  std::int64_t requirement_cents = 0;
  friend bool operator==(const ClassFigures&, const ClassFigures&) = default;
};

struct MarginFigures {
  std::array<ClassFigures, kMarginClassCount> classes;
  std::int64_t concentration_cents = 0;
  std::int64_t liquidity_cents = 0;
  std::int64_t interim_cents = 0;
  std::int64_t initial_margin_cents = 0;

  [[nodiscard]] const ClassFigures& of(MarginClass c) const { return classes[static_cast<std::size_t>(c)]; }
  friend bool operator==(const MarginFigures&, const MarginFigures&) = default;
};

// The range of each factor's moves over a class's filtered scenarios and over its stressed ones:
// what bounds a leg's loss in every scenario without a pass over them
// (MemberMargin::initial_margin_bound). Computed once per model.
struct MoveRange {
  std::int64_t low = 0;
  std::int64_t high = 0;
};
struct MoveRanges {
  std::array<std::vector<MoveRange>, kMarginClassCount> filtered;  // [class][factor]
  std::array<std::vector<MoveRange>, kMarginClassCount> stressed;  // [class][factor]
};
MoveRanges move_ranges(const MarginModel& model);

// A member's margin with its scenario P&L vectors, kept so that adding legs costs one pass over
// the scenarios of the classes and generations they touch.
//
// add() moves the P&Ls at once but takes their tails (the expected shortfalls) again only when
// figures or with() next need them, so that the trades of a batch that a bound clears cost one
// pass each and the tails are taken once per batch. Not for concurrent use (figures() may take
// the deferred tails); one thread at a time, as the registry holds each member's under its lock.
class MemberMargin {
 public:
  // Preconditions (asserted): the position is the model's shape; gross exposure within bounds.
  MemberMargin(const MarginModel& model, MemberPosition position);

  [[nodiscard]] const MarginFigures& figures() const;
  [[nodiscard]] const MemberPosition& position() const { return position_; }
  // The P&L of each scenario of a class (filtered, then stressed), in 10^-9 cent.
  [[nodiscard]] std::span<const Int128> pnl(MarginClass c) const { return total_[index(c)]; }

  // The figures with these legs added, this member unchanged.
  [[nodiscard]] MarginFigures with(std::span<const LegExposure> legs) const;
  // Adds the legs: afterwards figures() is what with(legs) gave before. With ranges (move_ranges
  // of this member's model) the deferred tails keep bounds, so initial_margin_bound() needs no pass
  // over the scenarios; without, the next bound takes the tails first.
  void add(std::span<const LegExposure> legs, const MoveRanges* ranges = nullptr);

  // An upper bound of with(legs).initial_margin_cents without a pass over the scenarios. Each
  // tail's loss sum (exact, or itself a bound while tails are deferred) is raised by k times the
  // legs' largest loss in any scenario of its part, from the factors' move ranges: the sum of the
  // k largest losses of a P&L moved by d rises by at most k x max(-d). The shortfalls, the
  // generation basis (never lower when the shortfalls it weighs are higher) and the add-ons
  // (exact, from the position with the legs) follow. ranges: move_ranges of this member's model.
  [[nodiscard]] std::int64_t initial_margin_bound(std::span<const LegExposure> legs, const MoveRanges& ranges) const;

 private:
  // The loss sums of a P&L's k largest losses among its filtered scenarios and among its
  // stressed ones (10^-9 cent): exact when taken, an upper bound while deferred.
  struct TailSums {
    Int128 filtered = 0;
    Int128 stressed = 0;
  };
  static std::size_t index(MarginClass c) { return static_cast<std::size_t>(c); }
  void take_deferred_tails() const;

  const MarginModel* model_;
  MemberPosition position_;
  std::array<std::vector<Int128>, kMarginClassCount> total_;                    // [class][scenario]
  std::array<std::vector<std::vector<Int128>>, kMarginClassCount> generation_;  // [class][generation][scenario]
  // What the tails give, kept exact by take_deferred_tails() (const: the figures are a function
  // of the position; only when they are worked out changes).
  mutable std::array<std::vector<std::int64_t>, kMarginClassCount> generation_es_;  // [class][generation], cents
  mutable std::array<TailSums, kMarginClassCount> portfolio_tails_;                // [class]
  mutable std::array<std::vector<TailSums>, kMarginClassCount> generation_tails_;  // [class][generation]
  mutable std::array<std::vector<char>, kMarginClassCount> generation_deferred_;   // [class][generation]
  mutable std::array<bool, kMarginClassCount> class_deferred_{};
  mutable bool figures_deferred_ = false;  // legs added since the figures were taken
  mutable bool tail_bounds_kept_ = true;  // the tails' sums are exact or bounds of them
  mutable MarginFigures figures_;
};

// The figures of a member while there is no model at all: the interim rule alone.
MarginFigures interim_only(std::int64_t interim_cents);

// Margin of a position in one call (a MemberMargin's figures).
MarginFigures margin_of(const MarginModel& model, const MemberPosition& position);

// How each factor contributes to a class's expected shortfall (an Euler allocation: the
// exposure times minus the mean move over the tail scenarios that make the figure, weighted as
// the APC rule weighs them). Cents, rounded to the nearest (ties away from zero), so they sum to
// the class's unrounded expected shortfall within half a cent per factor. Tail scenarios are
// the k largest losses, the lower scenario index first among equal losses.
struct FactorContribution {
  std::size_t factor = 0;
  std::int64_t exposure_cents = 0;
  std::int64_t contribution_cents = 0;
};
std::vector<FactorContribution> contributions(const MarginModel& model, const MemberMargin& member, MarginClass c);

}  // namespace cch::margin
