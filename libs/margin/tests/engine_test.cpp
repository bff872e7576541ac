// The margin engine: expected shortfall, anti-procyclicality, the generation basis and the
// add-ons on scenario sets small enough to compute by hand; then properties over random books.
#include "cch/margin/engine.hpp"
#include "cch/margin/exposure.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace cch::margin {
namespace {

BusinessDate date(int y, int m, int d) { return BusinessDate::from_year_month_day(y, m, d).value(); }

// A model whose classes both have the given moves ([factor][scenario]), filtered then stressed.
MarginModel model_with(std::vector<ModelProduct> products, std::int32_t generations, std::size_t filtered,
                       std::size_t stressed, const std::function<std::int64_t(std::size_t, std::size_t)>& move) {
  MarginModel model;
  model.products = std::move(products);
  model.generation_count = generations;
  model.scenarios.as_of = date(2026, 12, 1);
  model.scenarios.factor_count = model.factor_count();
  for (std::size_t ci = 0; ci < kMarginClassCount; ++ci) {
    ClassScenarios& c = model.scenarios.classes[ci];
    c.margin_class = static_cast<MarginClass>(ci);
    c.mpor_days = model.parameters.of(c.margin_class).mpor_days;
    for (std::size_t s = 0; s < filtered; ++s) c.filtered_dates.push_back(date(2020, 1, 1).add_days(static_cast<std::int64_t>(s)).value());
    for (std::size_t s = 0; s < stressed; ++s) c.stressed_dates.push_back(date(2019, 1, 1).add_days(static_cast<std::int64_t>(s)).value());
    c.moves_ppb.resize(model.factor_count() * c.scenario_count());
    for (std::size_t f = 0; f < model.factor_count(); ++f) {
      for (std::size_t s = 0; s < c.scenario_count(); ++s) c.moves_ppb[f * c.scenario_count() + s] = move(f, s);
    }
  }
  check_model(model);
  return model;
}

constexpr std::size_t kM1 = 1;  // the M1 bucket of product 0

// 200 filtered scenarios moving every factor by (s - 100)% / 10 (from -10 % to +9.9 %) and 100
// stressed ones moving it by -0.2 x s % (from 0 to -19.8 %).
std::int64_t ramp(std::size_t, std::size_t s) {
  return s < 200 ? (static_cast<std::int64_t>(s) - 100) * 1'000'000 : -static_cast<std::int64_t>(s - 200) * 2'000'000;
}

MemberPosition long_m1(const MarginModel& model, MarginClass c, std::int64_t cents) {
  MemberPosition position = MemberPosition::empty(model);
  position.exposure_cents[static_cast<std::size_t>(c)][kM1] = cents;
  return position;
}

TEST(ExpectedShortfall, TheMeanOfTheKLargestLossesWithKRoundedUp) {
  EXPECT_EQ(tail_count(1'000, 9'900), 10u);
  EXPECT_EQ(tail_count(1'000, 9'950), 5u);
  EXPECT_EQ(tail_count(200, 9'900), 2u);
  EXPECT_EQ(tail_count(250, 9'900), 3u);   // 2.5 rounded up
  EXPECT_EQ(tail_count(50, 9'950), 1u);    // 0.25 rounded up: at least one
  const std::vector<Int128> pnl = {5, -7, 3, -7, -1, 0};
  EXPECT_EQ(tail_loss_sum(pnl, 1), 7);
  EXPECT_EQ(tail_loss_sum(pnl, 2), 14);  // a tie: both sevens, whichever is "first"
  EXPECT_EQ(tail_loss_sum(pnl, 3), 15);
  EXPECT_EQ(tail_loss_sum(pnl, 6), 7);  // every loss: 7 + 7 + 1 + 0 - 3 - 5
}

TEST(MarginEngine, ALongPositionsShortfallWithStressWeightAndBufferByHand) {
  MarginModel model = model_with({{ProductId::from_value(1).value(), 0, 0, 0}}, 1, 200, 100, ramp);
  // 10,000 USD of exposure to product 0's M1. Filtered: k = ceil(200 x 1 %) = 2; the worst two
  // moves are -10 % and -9.9 %: losses 100,000 and 99,000 cents, ES 99,500. Stressed: k = 1,
  // the worst move -19.8 %: 198,000 cents.
  const MemberPosition position = long_m1(model, MarginClass::future, 1'000'000);
  MarginFigures figures = margin_of(model, position);
  const ClassFigures& future = figures.of(MarginClass::future);
  EXPECT_EQ(future.es_filtered_cents, 99'500);
  EXPECT_EQ(future.es_stressed_cents, 198'000);
  // 25 % on the stressed: 0.75 x 99,500 + 0.25 x 198,000 = 74,625 + 49,500.
  EXPECT_EQ(future.expected_shortfall_cents, 124'125);
  EXPECT_EQ(future.requirement_cents, 124'125);
  EXPECT_EQ(figures.of(MarginClass::forward).requirement_cents, 0);
  EXPECT_EQ(figures.initial_margin_cents, 124'125);

  model.parameters.apc_mode = ApcMode::buffer;  // 99,500 x 1.25
  EXPECT_EQ(margin_of(model, position).initial_margin_cents, 124'375);
  model.parameters.apc_buffer_released = true;  // in stress: the buffer is released
  EXPECT_EQ(margin_of(model, position).initial_margin_cents, 99'500);

  // The forward class at 99.5 %: k = 1 of 200; the worst filtered move alone, 100,000 cents.
  model.parameters.apc_mode = ApcMode::stress_weight;
  const ClassFigures forward = margin_of(model, long_m1(model, MarginClass::forward, 1'000'000)).of(MarginClass::forward);
  EXPECT_EQ(forward.es_filtered_cents, 100'000);
  EXPECT_EQ(forward.expected_shortfall_cents, 124'500);  // 0.75 x 100,000 + 0.25 x 198,000
}

TEST(MarginEngine, FiguresAreRoundedUpToTheCentAndNeverBelowZero) {
  const MarginModel model = model_with({{ProductId::from_value(1).value(), 0, 0, 0}}, 1, 200, 100, ramp);
  // One cent of exposure: the worst loss is 0.1 cent; 0.75 x 0.0995 + 0.25 x 0.198 = 0.124125 -> 1 cent.
  EXPECT_EQ(margin_of(model, long_m1(model, MarginClass::future, 1)).initial_margin_cents, 1);
  // A short position gains in every stressed scenario: its stressed shortfall is 0, not negative.
  const ClassFigures short_position = margin_of(model, long_m1(model, MarginClass::future, -1'000'000)).of(MarginClass::future);
  EXPECT_EQ(short_position.es_stressed_cents, 0);
  EXPECT_EQ(short_position.es_filtered_cents, 98'500);  // moves +9.9 % and +9.8 %
  EXPECT_EQ(short_position.expected_shortfall_cents, 73'875);  // 0.75 x 98,500
}

TEST(MarginEngine, OffsetsBetweenGpuGenerationsAreCappedAtTheirShareOfTheBenefit) {
  // Two products of different generations, the same moves: a long and an equal short offset
  // exactly in every scenario.
  const MarginModel model = model_with({{ProductId::from_value(1).value(), 0, 0, 0}, {ProductId::from_value(2).value(), 1, 0, 0}},
                                       2, 200, 100, ramp);
  MemberPosition position = MemberPosition::empty(model);
  position.exposure_cents[0][kM1] = 1'000'000;
  position.exposure_cents[0][kBucketCount + kM1] = -1'000'000;
  const ClassFigures figures = margin_of(model, position).of(MarginClass::future);
  EXPECT_EQ(figures.expected_shortfall_cents, 0);
  EXPECT_EQ(figures.generations_alone_cents, 124'125 + 73'875);  // the long and the short alone
  EXPECT_EQ(figures.diversification_benefit_cents, 198'000);
  EXPECT_EQ(figures.benefit_refused_cents, 99'000);  // generation_offset_bp 5,000: half refused
  EXPECT_EQ(figures.benefit_taken_cents, 99'000);
  EXPECT_EQ(figures.requirement_cents, 99'000);

  // Within one generation the offset is whole.
  const MarginModel same = model_with({{ProductId::from_value(1).value(), 0, 0, 0}, {ProductId::from_value(2).value(), 0, 0, 0}},
                                      1, 200, 100, ramp);
  const ClassFigures within = margin_of(same, position).of(MarginClass::future);
  EXPECT_EQ(within.diversification_benefit_cents, 0);
  EXPECT_EQ(within.requirement_cents, 0);
}

TEST(MarginEngine, ConcentrationAndLiquidityAddOnsByHand) {
  MarginModel model = model_with({{ProductId::from_value(1).value(), 0, 1'000'000, 200}}, 1, 200, 100,
                                 [](std::size_t, std::size_t) { return 0; });
  MemberPosition position = MemberPosition::empty(model);
  position.exposure_cents[1][kM1] = 1'000'000;
  position.net_gpu_hours[1][kM1] = 400'000;  // 40 % of the open interest
  MarginFigures figures = margin_of(model, position);
  // 40 % - 25 % = 15 % above the threshold, at rate 100 %: 15 % of 1,000,000 cents.
  EXPECT_EQ(figures.concentration_cents, 150'000);
  // Half of 200 ticks (0.01 USD) on 400,000 GPU-hours: 4,000 USD.
  EXPECT_EQ(figures.liquidity_cents, 400'000);
  EXPECT_EQ(figures.initial_margin_cents, 550'000);

  // Below the threshold: none. A short offsets in the same bucket, not across buckets.
  position.net_gpu_hours[1][kM1] = 250'000;
  EXPECT_EQ(margin_of(model, position).concentration_cents, 0);
  position.net_gpu_hours[1][kM1] = 150'001;
  position.net_gpu_hours[1][kM1 + 1] = -150'001;
  model.products[0].spread_ticks = 3;
  // 300,002 GPU-hours x 1.5 ticks = 450,003 x 10^-4 USD = 4,500.03 cents, rounded up.
  EXPECT_EQ(margin_of(model, position).liquidity_cents, 4'501);
  // The share above the threshold is capped at the whole open interest.
  position.net_gpu_hours[1][kM1] = 3'000'000;
  position.net_gpu_hours[1][kM1 + 1] = 0;
  EXPECT_EQ(margin_of(model, position).concentration_cents, 750'000);
}

// Properties over random books on a random model.
class RandomBooks : public ::testing::Test {
 protected:
  RandomBooks()
      : model_(model_with({{ProductId::from_value(1).value(), 0, 5'000'000, 150},
                           {ProductId::from_value(2).value(), 0, 3'000'000, 200},
                           {ProductId::from_value(3).value(), 1, 2'000'000, 400}},
                          2, 1'000, 250, [this](std::size_t, std::size_t) { return move_(random_); })) {}

  LegExposure random_leg() {
    LegExposure leg;
    leg.margin_class = coin_(random_) ? MarginClass::future : MarginClass::forward;
    leg.product_index = std::uniform_int_distribution<std::size_t>(0, 2)(random_);
    const std::size_t first = std::uniform_int_distribution<std::size_t>(0, kBucketCount - 1)(random_);
    const std::size_t last = std::min(kBucketCount - 1, first + std::uniform_int_distribution<std::size_t>(0, 2)(random_));
    const std::int64_t sign = coin_(random_) ? 1 : -1;
    for (std::size_t b = first; b <= last; ++b) {
      const std::int64_t hours = std::uniform_int_distribution<std::int64_t>(1, 200'000)(random_);
      leg.net_gpu_hours[b] = sign * hours;
      leg.exposure_cents[b] = sign * hours * std::uniform_int_distribution<std::int64_t>(100, 400)(random_);
    }
    return leg;
  }

  MemberPosition random_position(int legs) {
    MemberPosition position = MemberPosition::empty(model_);
    for (int i = 0; i < legs; ++i) position.add(random_leg());
    return position;
  }

  std::mt19937_64 random_{20261203};
  std::uniform_int_distribution<std::int64_t> move_{-200'000'000, 200'000'000};
  std::bernoulli_distribution coin_{0.5};
  MarginModel model_;
};

TEST_F(RandomBooks, TheEmptyBookNeedsNoMargin) {
  const MarginFigures figures = margin_of(model_, MemberPosition::empty(model_));
  EXPECT_EQ(figures, MarginFigures{});
}

TEST_F(RandomBooks, ScalingEveryPositionByKScalesTheShortfallByK) {
  for (int round = 0; round < 50; ++round) {
    const MemberPosition position = random_position(5);
    const std::int64_t k = std::uniform_int_distribution<std::int64_t>(2, 50)(random_);
    MemberPosition scaled = position;
    for (auto& by_class : scaled.exposure_cents) {
      for (auto& e : by_class) e *= k;
    }
    for (auto& by_class : scaled.net_gpu_hours) {
      for (auto& h : by_class) h *= k;
    }
    const MemberMargin one(model_, position);
    const MemberMargin many(model_, scaled);
    for (const MarginClass c : {MarginClass::future, MarginClass::forward}) {
      const auto& scenarios = model_.scenarios.of(c);
      const auto tail = [&](const MemberMargin& m) {
        return tail_loss_sum(m.pnl(c).first(scenarios.filtered_count()), tail_count(scenarios.filtered_count(), 9'900));
      };
      // Exactly, before rounding to the cent...
      EXPECT_EQ(tail(many), k * tail(one));
      // ... and to the cent, within the k cents that rounding each up can differ by.
      const std::int64_t a = one.figures().of(c).es_filtered_cents;
      const std::int64_t b = many.figures().of(c).es_filtered_cents;
      EXPECT_LE(b, k * a);
      EXPECT_GT(b, k * a - k);
    }
  }
}

TEST_F(RandomBooks, ExpectedShortfallIsSubadditive) {
  for (int round = 0; round < 200; ++round) {
    const MemberPosition a = random_position(3);
    const MemberPosition b = random_position(3);
    MemberPosition sum = a;
    for (std::size_t ci = 0; ci < kMarginClassCount; ++ci) {
      for (std::size_t f = 0; f < model_.factor_count(); ++f) sum.exposure_cents[ci][f] += b.exposure_cents[ci][f];
    }
    const MemberMargin ma(model_, a);
    const MemberMargin mb(model_, b);
    const MemberMargin ms(model_, sum);
    for (const MarginClass c : {MarginClass::future, MarginClass::forward}) {
      const std::size_t n = model_.scenarios.of(c).scenario_count();
      const std::size_t k = tail_count(n, 9'900);
      EXPECT_LE(tail_loss_sum(ms.pnl(c), k), tail_loss_sum(ma.pnl(c), k) + tail_loss_sum(mb.pnl(c), k));
      EXPECT_LE(ms.figures().of(c).expected_shortfall_cents,
                ma.figures().of(c).expected_shortfall_cents + mb.figures().of(c).expected_shortfall_cents);
    }
  }
}

TEST_F(RandomBooks, TheIncrementalFigureEqualsAFullRecomputeAfterEveryOneOfAThousandTrades) {
  MemberMargin member(model_, MemberPosition::empty(model_));
  std::vector<LegExposure> all;
  for (int trade = 0; trade < 1'000; ++trade) {
    std::vector<LegExposure> legs = {random_leg()};
    if (coin_(random_)) legs.push_back(random_leg());
    const MarginFigures before = member.with(legs);
    member.add(legs);
    ASSERT_EQ(before, member.figures()) << "trade " << trade;
    // add() moves the kept P&Ls by the legs alone: they and the figures are those of the member
    // built again from its whole position.
    const MemberMargin rebuilt(model_, member.position());
    ASSERT_EQ(rebuilt.figures(), member.figures()) << "trade " << trade;
    for (const MarginClass c : {MarginClass::future, MarginClass::forward}) {
      ASSERT_TRUE(std::ranges::equal(rebuilt.pnl(c), member.pnl(c))) << "trade " << trade;
    }
    all.insert(all.end(), legs.begin(), legs.end());
  }
  // The same position summed in the reverse order: the same figures, to the cent.
  MemberPosition reversed = MemberPosition::empty(model_);
  for (auto leg = all.rbegin(); leg != all.rend(); ++leg) reversed.add(*leg);
  EXPECT_EQ(margin_of(model_, reversed), member.figures());
  EXPECT_GT(member.figures().initial_margin_cents, 0);
}

// The bound the pre-trade check clears most trades with: never below the exact figure, whether
// the member's tails are exact or deferred through any number of trades added since.
TEST_F(RandomBooks, TheMarginBoundIsNeverBelowTheExactFigureWithTailsExactOrDeferred) {
  const MoveRanges ranges = move_ranges(model_);
  MemberMargin member(model_, random_position(4));
  MemberMargin exact(model_, member.position());
  std::int64_t slack_total = 0;
  for (int trade = 0; trade < 2'000; ++trade) {
    std::vector<LegExposure> legs = {random_leg()};
    if (coin_(random_)) legs.push_back(random_leg());
    const std::int64_t bound = member.initial_margin_bound(legs, ranges);
    const MarginFigures after = exact.with(legs);
    ASSERT_GE(bound, after.initial_margin_cents) << "trade " << trade;
    slack_total += bound - after.initial_margin_cents;
    // Tails deferred through runs of up to five trades, then taken by asking for the figures.
    member.add(legs, &ranges);
    exact.add(legs);
    if (trade % 5 == 4) {
      ASSERT_EQ(member.figures(), exact.figures()) << "trade " << trade;
    }
  }
  EXPECT_EQ(member.figures(), MemberMargin(model_, member.position()).figures());
  EXPECT_GT(slack_total, 0);  // a bound, not the figure itself
  // Added without ranges, the next bound takes the tails first: still a bound.
  const std::vector<LegExposure> legs = {random_leg()};
  member.add(legs);
  const std::vector<LegExposure> next = {random_leg()};
  EXPECT_GE(member.initial_margin_bound(next, ranges), member.with(next).initial_margin_cents);
}

// Each factor's move range is the lowest and highest of its moves in each part.
TEST(MoveRanges, EachFactorsLowestAndHighestMoveInEachPart) {
  const MarginModel model = model_with({{ProductId::from_value(1).value(), 0, 0, 0}}, 1, 200, 100, ramp);
  const MoveRanges ranges = move_ranges(model);
  for (const MarginClass c : {MarginClass::future, MarginClass::forward}) {
    const ClassScenarios& scenarios = model.scenarios.of(c);
    const auto ci = static_cast<std::size_t>(c);
    for (std::size_t f = 0; f < model.factor_count(); ++f) {
      const std::int64_t* moves = scenarios.moves_of(f);
      const std::span<const std::int64_t> filtered(moves, scenarios.filtered_count());
      const std::span<const std::int64_t> stressed(moves + scenarios.filtered_count(), scenarios.stressed_count());
      EXPECT_EQ(ranges.filtered[ci][f].low, *std::ranges::min_element(filtered));
      EXPECT_EQ(ranges.filtered[ci][f].high, *std::ranges::max_element(filtered));
      EXPECT_EQ(ranges.stressed[ci][f].low, *std::ranges::min_element(stressed));
      EXPECT_EQ(ranges.stressed[ci][f].high, *std::ranges::max_element(stressed));
    }
  }
}

TEST_F(RandomBooks, ContributionsAddUpToTheShortfall) {
  for (int round = 0; round < 20; ++round) {
    const MemberMargin member(model_, random_position(6));
    for (const MarginClass c : {MarginClass::future, MarginClass::forward}) {
      const auto parts = contributions(model_, member, c);
      std::int64_t sum = 0;
      for (const auto& part : parts) sum += part.contribution_cents;
      const std::int64_t es = member.figures().of(c).expected_shortfall_cents;
      // Each part rounded to the nearest cent, the total rounded up (and floored at zero).
      if (es > 0) {
        EXPECT_LE(std::abs(sum - es), static_cast<std::int64_t>(parts.size()) + 1) << "round " << round;
      }
    }
  }
}

}  // namespace
}  // namespace cch::margin

namespace cch::margin {
namespace {

TEST(InterimRule, ALegOutsideTheModelIsMarginedAtItsShareOfNotionalWithoutOffset) {
  // 8 GPUs for March 2027 (744 hours) at 2.1000: notional 21,000 ticks x 5,952 GPU-hours / 100
  // = 1,249,920 cents; 15 % of it is 187,488 cents.
  const pricing::Leg leg{.leg_id = 1,
                         .side = pricing::Side::buy,
                         .kind = pricing::ContractKind::forward,
                         .delivery_start = UtcTimestamp::parse("2027-03-01T00:00:00Z").value(),
                         .delivery_end = UtcTimestamp::parse("2027-04-01T00:00:00Z").value(),
                         .gpus = 8,
                         .price_ticks = 21'000,
                         .payment_date = BusinessDate::from_year_month_day(2027, 4, 5).value()};
  const LegExposure interim = interim_exposure(leg, 1'500);
  EXPECT_EQ(interim.interim_cents, 187'488);
  // 7 bp: 1,249,920 x 0.0007 = 874.944, rounded up.
  EXPECT_EQ(interim_exposure(leg, 7).interim_cents, 875);
  // A buy and a sell of it do not offset: each pays.
  pricing::Leg sold = leg;
  sold.side = pricing::Side::sell;
  const MarginModel model = model_with({{ProductId::from_value(1).value(), 0, 0, 0}}, 1, 200, 100, ramp);
  MemberMargin member(model, MemberPosition::empty(model));
  const std::vector<LegExposure> both = {interim, interim_exposure(sold, 1'500)};
  const MarginFigures figures = member.with(both);
  EXPECT_EQ(figures.interim_cents, 2 * 187'488);
  EXPECT_EQ(figures.initial_margin_cents, 2 * 187'488);
  member.add(both);
  EXPECT_EQ(member.figures(), figures);
  EXPECT_EQ(interim_only(5).initial_margin_cents, 5);
}

}  // namespace
}  // namespace cch::margin
