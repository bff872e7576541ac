// Initial margin against a real PostgreSQL: a date's model built from two years of (synthetic)
// stored market data, rebuilt to the same hash; a margin run over cleared trades whose figures a
// member recomputes independently from the published model alone; the run verified; the flat
// book; and the figure before a trade equal to the figure recomputed after it.
#include "cch/risk/margin.hpp"
#include "cch/risk/what_if.hpp"

#include "cch/margin/exposure.hpp"
#include "cch/margin_store/run_stress.hpp"
#include "cch/market/csv_import.hpp"
#include "cch/market/synthetic_history.hpp"
#include "cch/risk/curve_sets.hpp"
#include "cch/settlement/collateral.hpp"
#include "cch/settlement/margin_calls.hpp"
#include "registration_fixture.hpp"

#include <pqxx/result>

#include <algorithm>
#include <array>
#include <map>
#include <atomic>
#include <thread>

namespace cch::risk {
namespace {

BusinessDate date(std::string_view text) { return BusinessDate::parse(text).value(); }

class Margin : public registry::fixture::Registration {
 protected:
  const BusinessDate kDate = date("2026-12-30");  // the last date of the history
  const BusinessCalendar kCalendar = make_calendar("united_states_settlement").value();

  void SetUp() override {
    Registration::SetUp();
    market::SyntheticHistoryOptions generate;
    std::vector<market::ProductTerms> products;
    run([&](pqxx::transaction_base& tx) {
      const auto found = registry::find_product(tx, product).value();
      generate.products = {{found.spec.code, "H100", found.spec.tick_size_ticks, std::nullopt}};
      products = {{product, found.spec.code, found.spec.tick_size_ticks, std::nullopt}};
    });
    generate.from = date("2025-01-02");
    generate.to = kDate;
    const auto history = market::synthetic_history(generate);
    ASSERT_TRUE(history);
    const auto rules = market::market_rules("united_states_settlement", "1M,1Y", BusinessDate::containing(registry::fixture::kNow));
    run([&](pqxx::transaction_base& tx) {
      const auto imported = market::import_csv(tx, history->csv, "ops", rules, products, forward_curve_consistency());
      ASSERT_TRUE(imported) << imported.error().error.detail;
      const auto curves = build_curve_set(tx, {kDate, kCalendar, BusinessDate::containing(registry::fixture::kNow), "risk", std::nullopt});
      ASSERT_TRUE(curves) << curves.error().detail;
    });
  }

  BuiltModel build_model() {
    return run([&](pqxx::transaction_base& tx) {
      auto built = build_margin_model(tx, {kDate, std::nullopt, "risk", std::nullopt});
      EXPECT_TRUE(built) << built.error().detail;
      return std::move(*built);
    });
  }

  MarginRunOutcome margin_run(std::optional<std::vector<MemberId>> members = std::nullopt) {
    return run([&](pqxx::transaction_base& tx) {
      auto outcome = run_margin(tx, {std::nullopt, members, "on_demand", "risk", std::nullopt}, kCalendar);
      EXPECT_TRUE(outcome) << outcome.error().detail;
      return std::move(*outcome);
    });
  }
};

// A member's margin recomputed from the published model alone, as docs/margin.md tells a member
// to: its factor lines' exposures times the moves, the mean of the k worst losses of each part,
// weighted 75 / 25, rounded up to the cent. No library function of the engine is used.
std::int64_t recompute_class(const margin::PublishedModel& model, const std::vector<margin::FactorLine>& lines,
                             margin::MarginClass c) {
  const auto& scenarios = model.model.scenarios.of(c);
  const std::size_t n = scenarios.scenario_count();
  std::vector<Int128> pnl(n, 0);
  for (const auto& line : lines) {
    if (line.margin_class != c) continue;
    const std::size_t f = *model.index_of(line.product) * margin::kBucketCount + static_cast<std::size_t>(line.bucket);
    for (std::size_t s = 0; s < n; ++s) pnl[s] += static_cast<Int128>(line.exposure_cents) * scenarios.moves_ppb[f * n + s];
  }
  const auto worst = [&](std::size_t first, std::size_t count, std::int32_t confidence_bp) {
    std::vector<Int128> losses;
    for (std::size_t s = first; s < first + count; ++s) losses.push_back(-pnl[s]);
    std::sort(losses.rbegin(), losses.rend());
    const std::size_t k = std::max<std::size_t>(1, (count * static_cast<std::size_t>(10'000 - confidence_bp) + 9'999) / 10'000);
    Int128 sum = 0;
    for (std::size_t i = 0; i < k; ++i) sum += losses[i];
    return std::pair<Int128, Int128>{sum, static_cast<Int128>(k)};
  };
  const auto confidence = model.model.parameters.of(c).confidence_bp;
  const auto [sa, ka] = worst(0, scenarios.filtered_count(), confidence);
  const auto [sb, kb] = worst(scenarios.filtered_count(), scenarios.stressed_count(), confidence);
  // (0.75 x sa / ka + 0.25 x sb / kb) nanocents, rounded up to the cent
  const Int128 numerator = 7'500 * sa * kb + 2'500 * sb * ka;
  const Int128 denominator = Int128{10'000} * ka * kb * 1'000'000'000;
  Int128 cents = numerator / denominator;
  if (numerator % denominator > 0) ++cents;
  return std::max<std::int64_t>(0, static_cast<std::int64_t>(cents));
}

TEST_F(Margin, ADatesModelIsBuiltFromStoredMarketDataOnceAndRebuildsToTheSameHash) {
  const BuiltModel first = build_model();
  EXPECT_TRUE(first.created);
  EXPECT_EQ(first.record.version, 1);
  EXPECT_EQ(first.record.parameter_version, 1);  // the defaults, stored on first use
  EXPECT_EQ(first.record.history_last, kDate);
  EXPECT_EQ(first.record.history_first, date("2025-01-02"));
  EXPECT_GT(first.record.history_dates, 480);
  EXPECT_EQ(first.record.factor_snapshot_ids.size(), static_cast<std::size_t>(first.record.history_dates));
  const BuiltModel again = build_model();
  EXPECT_FALSE(again.created);
  EXPECT_EQ(again.record.model_id, first.record.model_id);
  run([&](pqxx::transaction_base& tx) {
    const auto model = margin::load_model(tx, first.record.model_id);
    ASSERT_TRUE(model);
    EXPECT_EQ(margin::model_content_hash(*model), first.record.content_hash);  // stored and read back exactly
    // Scenarios: every filtered date of the history's look-back (2-day windows for futures, 5 for
    // forwards) and the stressed twelve months.
    const auto& future = model->model.scenarios.of(margin::MarginClass::future);
    EXPECT_EQ(future.filtered_count(), static_cast<std::size_t>(first.record.history_dates - 2));
    EXPECT_EQ(model->model.scenarios.of(margin::MarginClass::forward).filtered_count(),
              static_cast<std::size_t>(first.record.history_dates - 5));
    EXPECT_GE(model->model.scenarios.stress_last.days_since_epoch() - model->model.scenarios.stress_first.days_since_epoch(), 364);
    const auto verified = verify_margin_model(tx, first.record.model_id);
    ASSERT_TRUE(verified) << verified.error().detail;
    EXPECT_TRUE(verified->matches) << verified->stored_hash << " " << verified->rebuilt_hash;
  });
  // A stored move changed behind the library's back is found.
  as_superuser("SET session_replication_role = replica; UPDATE margin.model_class SET moves_ppb[7] = moves_ppb[7] + 1 "
               "WHERE margin_class = 'future'; SET session_replication_role = origin");
  run([&](pqxx::transaction_base& tx) {
    const auto verified = verify_margin_model(tx, first.record.model_id);
    ASSERT_TRUE(verified);
    EXPECT_FALSE(verified->matches);
  });
}

TEST_F(Margin, AMemberRecomputesItsMarginFromThePublishedModelToTheCent) {
  // A forward: alpha buys 256 GPUs for March 2027 from bravo. A future: bravo buys 96 GPUs of
  // the 2027-Q2 series from charlie.
  ASSERT_TRUE(clear_trade(march(a, b, 256, 21'450), "FWD-1"));
  auto quarter = march(b, c, 96, 20'900);
  quarter.series_label = "2027-Q2";
  ASSERT_TRUE(clear_trade(quarter, "FUT-1"));
  const BuiltModel built = build_model();
  const MarginRunOutcome outcome = margin_run();
  EXPECT_EQ(outcome.run.members, 3);
  EXPECT_EQ(outcome.run.legs, 4);
  EXPECT_EQ(outcome.legs_interim, 0);
  run([&](pqxx::transaction_base& tx) {
    const auto model = margin::load_model(tx, built.record.model_id);
    ASSERT_TRUE(model);
    std::map<std::pair<int, std::size_t>, std::int64_t> book;  // (class, factor) -> sum over members
    for (const MemberId member : {a, b, c}) {
      SCOPED_TRACE(member.to_string());
      const auto stored = margin::member_margin(tx, member, outcome.run.run_id);
      ASSERT_TRUE(stored);
      const auto& figures = stored->result.figures;
      for (const auto margin_class : {margin::MarginClass::future, margin::MarginClass::forward}) {
        EXPECT_EQ(recompute_class(*model, stored->result.factors, margin_class),
                  figures.of(margin_class).expected_shortfall_cents);
      }
      // One GPU model: no generation basis.
      EXPECT_EQ(figures.of(margin::MarginClass::forward).benefit_refused_cents, 0);
      EXPECT_EQ(figures.initial_margin_cents, figures.of(margin::MarginClass::future).requirement_cents +
                                                  figures.of(margin::MarginClass::forward).requirement_cents +
                                                  figures.concentration_cents + figures.liquidity_cents +
                                                  figures.interim_cents);
      for (const auto& line : stored->result.factors) {
        book[{static_cast<int>(line.margin_class), *model->index_of(line.product) * 100 + static_cast<std::size_t>(line.bucket)}] += line.exposure_cents;
      }
    }
    // Alpha: a forward only; its exposure in March's buckets is F x GPU-hours x DF by hand.
    const auto alpha = margin::member_margin(tx, a, outcome.run.run_id);
    EXPECT_GT(alpha->result.figures.of(margin::MarginClass::forward).requirement_cents, 0);
    EXPECT_EQ(alpha->result.figures.of(margin::MarginClass::future).requirement_cents, 0);
    std::int64_t alpha_exposure = 0;
    for (const auto& line : alpha->result.factors) alpha_exposure += line.exposure_cents;
    const auto& curve = model->forwards[0];
    const double df = model->discount.discount(pricing::forward_payment_date(
        registry::fixture::at("2027-04-01T00:00:00Z"), kDate, kCalendar));
    const double by_hand = curve.average(registry::fixture::at("2027-03-01T00:00:00Z"), registry::fixture::at("2027-04-01T00:00:00Z")) *
                           256 * 744 * df * 100;
    EXPECT_NEAR(static_cast<double>(alpha_exposure), by_hand, 2.0);  // each bucket rounded to the cent
    // Half the spread (200 ticks) on alpha's GPU-hours: 256 x 744 x 0.01 USD.
    EXPECT_EQ(alpha->result.figures.liquidity_cents, 256 * 744);
    // The clearinghouse's book is flat: every factor's exposures sum to zero over the members.
    for (const auto& [factor, sum] : book) EXPECT_EQ(sum, 0) << factor.first << " " << factor.second;

    const auto verified = verify_margin_run(tx, outcome.run.run_id, kCalendar);
    ASSERT_TRUE(verified) << verified.error().detail;
    EXPECT_EQ(verified->members, 3);
    EXPECT_TRUE(verified->matches);
  });
}

// The four stress scenarios' moves of a bucket of an H100 product, by hand from stress.hpp's
// definitions (parts per 10^9).
std::int64_t h100_stress_move(margin::StressScenario scenario, std::int32_t bucket) {
  switch (scenario) {
    case margin::StressScenario::h100_halves: return -500'000'000;
    case margin::StressScenario::b200_launch: return -400'000'000;  // H100 is older than B200
    case margin::StressScenario::curve_twist: return 200'000'000 - 40'000'000 * bucket;
    case margin::StressScenario::power_price_spike: {
      static constexpr std::array<std::int64_t, 11> spike = {300'000'000, 200'000'000, 100'000'000, 100'000'000,
                                                             50'000'000,  50'000'000,  50'000'000,  0, 0, 0, 0};
      return spike.at(static_cast<std::size_t>(bucket));
    }
  }
  return 0;
}

TEST_F(Margin, EveryRunStressesEachMembersWholeBookAgainstItsMarginAndNamesCover2) {
  ASSERT_TRUE(clear_trade(march(a, b, 256, 21'450), "FWD-1"));
  auto quarter = march(b, c, 96, 20'900);
  quarter.series_label = "2027-Q2";
  ASSERT_TRUE(clear_trade(quarter, "FUT-1"));
  build_model();
  const MarginRunOutcome outcome = margin_run();
  run([&](pqxx::transaction_base& tx) {
    const auto stored_run = margin::find_run(tx, outcome.run.run_id);
    ASSERT_TRUE(stored_run);
    EXPECT_EQ(stored_run->stress_scenarios,
              (std::vector<std::string>{"h100_halves", "b200_launch", "curve_twist", "power_price_spike"}));
    std::vector<std::pair<std::int64_t, std::int64_t>> worst;  // (uncovered, member id) of each member's worst
    for (const MemberId member : {a, b, c}) {
      SCOPED_TRACE(member.to_string());
      const auto stored = margin::member_margin(tx, member, outcome.run.run_id);
      ASSERT_TRUE(stored);
      ASSERT_EQ(stored->result.stress.size(), margin::kStressScenarioCount);
      std::pair<std::int64_t, std::int64_t> member_worst{-1, 0};
      std::int64_t worst_loss = 0;
      for (std::size_t s = 0; s < margin::kStressScenarioCount; ++s) {
        const auto scenario = margin::kStressScenarios[s];
        // The loss: minus the whole book's (both classes') exposure times the move, rounded up.
        Int128 pnl = 0;
        for (const auto& line : stored->result.factors) {
          pnl += static_cast<Int128>(line.exposure_cents) * h100_stress_move(scenario, line.bucket);
        }
        Int128 loss = -pnl / 1'000'000'000;
        if (-pnl % 1'000'000'000 > 0) ++loss;
        const auto& got = stored->result.stress[s];
        EXPECT_EQ(got.scenario, scenario);
        EXPECT_EQ(got.loss_cents, static_cast<std::int64_t>(loss)) << margin::to_string(scenario);
        EXPECT_EQ(got.uncovered_cents, std::max<std::int64_t>(0, got.loss_cents - stored->result.figures.initial_margin_cents));
        if (got.uncovered_cents > member_worst.first || (got.uncovered_cents == member_worst.first && got.loss_cents > worst_loss)) {
          member_worst = {got.uncovered_cents, member.value()};
          worst_loss = got.loss_cents;
        }
      }
      worst.push_back(member_worst);
    }
    // Alpha is long March: halving H100 loses it more than its margin.
    EXPECT_GT(margin::member_margin(tx, a, outcome.run.run_id)->result.stress[0].uncovered_cents, 0);
    // Cover-2: the two largest worst uncovered losses (equal ones by member id).
    std::sort(worst.begin(), worst.end(), [](const auto& x, const auto& y) {
      return x.first != y.first ? x.first > y.first : x.second < y.second;
    });
    const auto cover = margin::run_cover_2(tx, outcome.run.run_id);
    ASSERT_TRUE(cover);
    ASSERT_EQ(cover->members.size(), 2U);
    EXPECT_EQ(cover->members[0].member.value(), worst[0].second);
    EXPECT_EQ(cover->members[1].member.value(), worst[1].second);
    EXPECT_EQ(cover->uncovered_cents, worst[0].first + worst[1].first);
    // The run verifies with its stress results; a stress loss changed behind its back does not.
    EXPECT_TRUE(verify_margin_run(tx, outcome.run.run_id, kCalendar)->matches);
  });
  as_superuser("SET session_replication_role = replica; UPDATE margin.member_margin SET stress_loss_cents[2] = "
               "stress_loss_cents[2] + 1 WHERE member_id = " + std::to_string(b.value()) +
               "; SET session_replication_role = origin");
  run([&](pqxx::transaction_base& tx) {
    const auto verified = verify_margin_run(tx, outcome.run.run_id, kCalendar);
    ASSERT_TRUE(verified);
    EXPECT_EQ(verified->figures_differing, 1);
    EXPECT_FALSE(verified->matches);
  });
}

TEST_F(Margin, ABacktestTestsEachMembersPortfolioOfARunOnItsModelsHistoryOnce) {
  ASSERT_TRUE(clear_trade(march(a, b, 256, 21'450), "FWD-1"));
  auto quarter = march(b, c, 96, 20'900);
  quarter.series_label = "2027-Q2";
  ASSERT_TRUE(clear_trade(quarter, "FUT-1"));
  build_model();
  const MarginRunOutcome outcome = margin_run();
  const auto first = run([&](pqxx::transaction_base& tx) {
    auto got = backtest_margin_run(tx, {outcome.run.run_id, 120, "risk", std::nullopt});
    EXPECT_TRUE(got) << got.error().detail;
    return std::move(*got);
  });
  EXPECT_TRUE(first.created);
  EXPECT_EQ(first.record.run_id, outcome.run.run_id);
  EXPECT_EQ(first.record.members, 3);
  run([&](pqxx::transaction_base& tx) {
    const auto rows = margin::backtest_members(tx, first.record.backtest_id, std::nullopt, true);
    // Alpha: forwards only; bravo: both classes; charlie: futures only.
    std::vector<std::pair<std::int64_t, std::string>> keys;
    for (const auto& row : rows) keys.emplace_back(row.member.value(), std::string(margin::to_string(row.margin_class)));
    EXPECT_EQ(keys, (std::vector<std::pair<std::int64_t, std::string>>{
                        {a.value(), "forward"}, {b.value(), "future"}, {b.value(), "forward"}, {c.value(), "future"}}));
    std::map<std::string, std::map<BusinessDate, std::int64_t>> loss_sum;  // class -> date -> sum of losses
    std::map<std::string, std::size_t> members_in_class;
    for (const auto& row : rows) {
      SCOPED_TRACE(row.member.to_string() + " " + std::string(margin::to_string(row.margin_class)));
      ASSERT_FALSE(row.refusal.has_value()) << row.refusal_detail;
      EXPECT_EQ(row.observation_count + row.skipped, 120);
      EXPECT_EQ(row.observations.size(), static_cast<std::size_t>(row.observation_count));
      EXPECT_EQ(row.mpor_days, row.margin_class == margin::MarginClass::future ? 2 : 5);
      // The stored report is backtest.hpp's report of the stored observations.
      const auto report = margin::backtest(row.observations, row.confidence_bp);
      ASSERT_TRUE(report);
      EXPECT_EQ(report->exceptions, row.report.exceptions);
      EXPECT_EQ(report->largest_exception_cents, row.report.largest_exception_cents);
      EXPECT_EQ(report->traffic_light.zone, row.report.traffic_light.zone);
      EXPECT_EQ(report->kupiec.likelihood_ratio, row.report.kupiec.likelihood_ratio);
      EXPECT_EQ(row.observations.back().date, row.report.last_date);
      for (const auto& o : row.observations) {
        EXPECT_GE(o.margin_cents, 0);
        loss_sum[std::string(margin::to_string(row.margin_class))][o.date] += o.realised_loss_cents;
      }
      ++members_in_class[std::string(margin::to_string(row.margin_class))];
    }
    // The book is flat in each class, so the members' realised losses cancel: each member's is
    // rounded up, so their sum lies in [0, members - 1].
    for (const auto& [margin_class, by_date] : loss_sum) {
      EXPECT_EQ(by_date.size(), 120U - static_cast<std::size_t>(rows.front().skipped));
      for (const auto& [day, sum] : by_date) {
        EXPECT_GE(sum, 0) << margin_class << " " << day.format();
        EXPECT_LT(sum, static_cast<std::int64_t>(members_in_class[margin_class])) << margin_class << " " << day.format();
      }
    }
    EXPECT_EQ(margin::latest_backtest_of_member(tx, a)->backtest_id, first.record.backtest_id);
    // Computed once: asked again, the same backtest.
    const auto again = backtest_margin_run(tx, {outcome.run.run_id, 120, "risk", std::nullopt});
    ASSERT_TRUE(again);
    EXPECT_FALSE(again->created);
    EXPECT_EQ(again->record.backtest_id, first.record.backtest_id);
    const auto unknown = backtest_margin_run(tx, {outcome.run.run_id + 1000, 120, "risk", std::nullopt});
    ASSERT_FALSE(unknown);
    EXPECT_EQ(unknown.error().refusal, MarginRefusal::unknown_model);
  });
}

TEST_F(Margin, TheFigureBeforeATradeIsTheFigureRecomputedAfterIt) {
  ASSERT_TRUE(clear_trade(march(a, b, 256, 21'450), "FWD-1"));
  const BuiltModel built = build_model();
  margin_run();
  // Before the next trade: alpha's figures with the new legs added, from its current position.
  auto terms = march(a, c, 64, 21'500);
  terms.delivery_end = registry::fixture::at("2027-03-15T00:00:00Z");
  const auto expected = run([&](pqxx::transaction_base& tx) {
    const auto model = margin::load_model(tx, built.record.model_id);
    auto position = member_position(tx, *model, a, kCalendar);
    EXPECT_TRUE(position);
    const margin::MemberMargin before(model->model, position->position);
    const pricing::Leg leg{.leg_id = 0,
                           .side = pricing::Side::buy,
                           .kind = pricing::ContractKind::forward,
                           .delivery_start = terms.delivery_start,
                           .delivery_end = terms.delivery_end,
                           .gpus = terms.gpus,
                           .price_ticks = terms.price.price_ticks,
                           .payment_date = pricing::forward_payment_date(terms.delivery_end, kDate, kCalendar)};
    const auto exposure = margin::leg_exposure(leg, 0, model->forwards[0], model->discount);
    EXPECT_TRUE(exposure);
    const std::vector<margin::LegExposure> legs = {*exposure};
    return before.with(legs);
  });
  ASSERT_TRUE(clear_trade(terms, "FWD-2"));
  const MarginRunOutcome after = margin_run(std::vector<MemberId>{a, c});
  EXPECT_EQ(after.run.members, 2);
  run([&](pqxx::transaction_base& tx) {
    const auto stored = margin::member_margin(tx, a, after.run.run_id);
    ASSERT_TRUE(stored);
    EXPECT_EQ(stored->result.figures, expected);
    EXPECT_GT(expected.initial_margin_cents, 0);
  });
}

}  // namespace
}  // namespace cch::risk

namespace cch::risk {
namespace {

// The registry's pre-trade check against a published model: the figure it keeps per member is
// the risk service's full recompute, to the cent; its limit holds exactly under concurrency; a
// trade that lowers a member's margin is never refused; a newer model rebuilds the state.
class PreTradeMargin : public Margin {
 protected:
  std::int64_t state_margin(MemberId member) {
    return scalar("SELECT initial_margin_cents FROM cch.member_margin_state WHERE member_id = " + member.to_string());
  }
  std::int64_t run_margin_of(MemberId member) {
    const auto outcome = margin_run(std::vector<MemberId>{member});
    return run([&](pqxx::transaction_base& tx) {
      return margin::member_margin(tx, member, outcome.run.run_id)->result.figures.initial_margin_cents;
    });
  }
  void set_limit(MemberId member, std::int64_t cents) {
    run([&](pqxx::transaction_base& tx) {
      ASSERT_TRUE(registry::set_credit_limit(tx, member, Money{cents, Currency::usd()}, "risk"));
    });
  }
  registry::TradeTerms window(MemberId buyer, MemberId seller, std::int64_t gpus, const char* start, const char* end,
                              std::int64_t ticks = 21'000) {
    auto terms = march(buyer, seller, gpus, ticks);
    terms.delivery_start = registry::fixture::at(start);
    terms.delivery_end = registry::fixture::at(end);
    return terms;
  }
};

TEST_F(PreTradeMargin, TheCheckedFigureIsTheFullRecomputeAfterEveryTrade) {
  build_model();
  // Forwards of several windows and sizes, both directions, and a future.
  std::vector<registry::TradeTerms> trades = {
      window(a, b, 64, "2027-02-01T00:00:00Z", "2027-03-01T00:00:00Z"),
      window(b, a, 16, "2027-02-10T00:00:00Z", "2027-02-20T00:00:00Z"),
      window(a, c, 128, "2027-05-01T00:00:00Z", "2027-08-01T00:00:00Z", 20'500),
      window(c, b, 8, "2027-01-20T00:00:00Z", "2027-01-21T00:00:00Z"),
      window(c, a, 40, "2027-06-01T00:00:00Z", "2027-12-01T00:00:00Z", 20'000),
  };
  auto future = march(b, c, 96, 20'900);
  future.series_label = "2027-Q2";
  trades.push_back(future);
  int n = 0;
  for (const auto& terms : trades) {
    SCOPED_TRACE(n);
    const auto cleared = clear_trade(terms, "T-" + std::to_string(n++));
    ASSERT_TRUE(cleared) << registry::to_string(cleared.error().refusal) << ": " << cleared.error().detail;
    for (const MemberId member : {terms.buyer, terms.seller}) {
      EXPECT_EQ(state_margin(member), run_margin_of(member)) << member;
    }
  }
  EXPECT_GT(state_margin(a), 0);
  // The model's figures, not the interim rule's: no leg outside the model.
  EXPECT_EQ(scalar("SELECT sum(interim_cents) FROM cch.member_margin_state"), 0);
}

TEST_F(PreTradeMargin, ATradesRunFromTheKeptStatesIsTheRunFromEveryLeg) {
  build_model();
  const std::vector<registry::TradeTerms> trades = {
      window(a, b, 64, "2027-02-01T00:00:00Z", "2027-03-01T00:00:00Z"),
      window(b, a, 16, "2027-02-10T00:00:00Z", "2027-02-20T00:00:00Z"),
      window(a, c, 128, "2027-05-01T00:00:00Z", "2027-08-01T00:00:00Z", 20'500),
      window(c, a, 40, "2027-06-01T00:00:00Z", "2027-12-01T00:00:00Z", 20'000),
  };
  int n = 0;
  for (const auto& terms : trades) ASSERT_TRUE(clear_trade(terms, "K-" + std::to_string(n++)));
  const std::vector<MemberId> members = {a, b, c};
  const auto run_of = [&](bool from_kept_states) {
    return run([&](pqxx::transaction_base& tx) {
      MarginRunRequest request{std::nullopt, members, "trade.cleared", "risk", std::nullopt};
      request.from_kept_states = from_kept_states;
      auto outcome = run_margin(tx, request, kCalendar);
      EXPECT_TRUE(outcome) << outcome.error().detail;
      return std::move(*outcome);
    });
  };
  const auto expect_same_runs = [&](const MarginRunOutcome& legs, const MarginRunOutcome& kept) {
    EXPECT_EQ(kept.run.legs, legs.run.legs);
    EXPECT_EQ(kept.run.members, legs.run.members);
    run([&](pqxx::transaction_base& tx) {
      for (const MemberId member : members) {
        SCOPED_TRACE(member.to_string());
        const auto x = margin::member_margin(tx, member, legs.run.run_id);
        const auto y = margin::member_margin(tx, member, kept.run.run_id);
        ASSERT_TRUE(x && y);
        EXPECT_EQ(y->result.figures, x->result.figures);
        EXPECT_EQ(y->result.factors, x->result.factors);
        EXPECT_EQ(y->result.stress, x->result.stress);
        EXPECT_EQ(y->result.legs, x->result.legs);
      }
      EXPECT_TRUE(verify_margin_run(tx, kept.run.run_id, kCalendar)->matches);
    });
  };
  const auto from_legs = run_of(false);
  expect_same_runs(from_legs, run_of(true));
  // The kept run reads the states, not the legs: a state's count changed behind its back shows.
  as_superuser("UPDATE cch.member_margin_state SET legs = legs + 1000 WHERE member_id = " + a.to_string());
  EXPECT_EQ(run_of(true).run.legs, from_legs.run.legs + 1000);
  as_superuser("UPDATE cch.member_margin_state SET legs = legs - 1000 WHERE member_id = " + a.to_string());
  // A newer model: the kept states are under the old one, so the run values the legs (and the
  // figures are still the legs' own).
  run([&](pqxx::transaction_base& tx) {
    auto wider = registry::fixture::test_margin_parameters();
    wider.spread_ticks_default = 1'000;
    ASSERT_TRUE(margin::store_parameters(tx, wider, "wider spreads", "risk", std::nullopt));
  });
  ASSERT_TRUE(build_model().created);
  expect_same_runs(run_of(false), run_of(true));
}

TEST_F(PreTradeMargin, ConcurrentTradesHoldTheMarginLimitExactlyAndEveryTradeBelowItClears) {
  build_model();
  // One trade's leg for alpha; its initial margin with k such legs, from the engine.
  const auto terms = window(a, b, 32, "2027-03-01T00:00:00Z", "2027-04-01T00:00:00Z");
  const std::vector<std::int64_t> after = run([&](pqxx::transaction_base& tx) {
    const auto model = margin::load_model(tx, margin::latest_model_record(tx)->model_id);
    const pricing::Leg leg{.leg_id = 0, .side = pricing::Side::buy, .kind = pricing::ContractKind::forward,
                           .delivery_start = terms.delivery_start, .delivery_end = terms.delivery_end,
                           .gpus = terms.gpus, .price_ticks = terms.price.price_ticks, .payment_date = kDate};
    const auto exposure = margin::exposure_under(&*model, model->model.parameters, product, leg, kCalendar);
    margin::MemberMargin member(model->model, margin::MemberPosition::empty(model->model));
    std::vector<std::int64_t> figures;
    for (int k = 1; k <= 12; ++k) {
      const std::vector<margin::LegExposure> one = {exposure};
      member.add(one);
      figures.push_back(member.figures().initial_margin_cents);
    }
    return figures;
  });
  constexpr int kFit = 7;
  // A limit between the margin of 7 legs and of 8.
  set_limit(a, (after[kFit - 1] + after[kFit]) / 2);
  ASSERT_LT(after[kFit - 1], after[kFit]);
  std::vector<TradeId> pending;
  for (int i = 0; i < 12; ++i) {
    const auto submitted = submit(b, terms, "RACE-" + std::to_string(i));
    ASSERT_TRUE(submitted);
    pending.push_back(submitted->trade.trade_id);
  }
  std::atomic<int> cleared{0}, refused{0}, other{0};
  std::vector<std::thread> threads;
  for (const TradeId trade : pending) {
    threads.emplace_back([&, trade] {
      const auto outcome = affirm(a, trade);
      if (outcome) {
        ++cleared;
      } else if (outcome.error().refusal == registry::TradeRefusal::initial_margin_exceeds_credit_limit) {
        ++refused;
      } else {
        ++other;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(cleared.load(), kFit);
  EXPECT_EQ(refused.load(), 12 - kFit);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(state_margin(a), after[kFit - 1]);
  EXPECT_EQ(state_margin(a), run_margin_of(a));
}

TEST_F(PreTradeMargin, ATradeThatLowersAMembersMarginClearsEvenAboveItsLimit) {
  build_model();
  ASSERT_TRUE(clear_trade(window(a, b, 64, "2027-03-01T00:00:00Z", "2027-04-01T00:00:00Z"), "LONG"));
  const std::int64_t long_only = state_margin(a);
  set_limit(a, long_only / 2);  // the market moved, say: alpha is now over its limit
  // Adding to the position is refused...
  const auto more = clear_trade(window(a, c, 8, "2027-03-01T00:00:00Z", "2027-04-01T00:00:00Z"), "MORE");
  ASSERT_FALSE(more);
  // Charlie affirmed: it is told its counterparty refused; the trade records why.
  EXPECT_EQ(more.error().refusal, registry::TradeRefusal::counterparty_refused);
  run([&](pqxx::transaction_base& tx) {
    EXPECT_EQ(tx.exec("SELECT last_refusal FROM cch.trade WHERE submitter_reference = 'MORE'")[0][0].as<std::string>(),
              "initial_margin_exceeds_credit_limit");
  });
  // ... selling half of it back is not.
  ASSERT_TRUE(clear_trade(window(c, a, 32, "2027-03-01T00:00:00Z", "2027-04-01T00:00:00Z"), "LESS"));
  EXPECT_LT(state_margin(a), long_only);
  EXPECT_EQ(state_margin(a), run_margin_of(a));
}

TEST_F(PreTradeMargin, AWithdrawalThatWouldLeaveAShortfallAgainstInitialMarginIsRefusedAndPostsNothing) {
  build_model();
  ASSERT_TRUE(clear_trade(window(a, b, 64, "2027-03-01T00:00:00Z", "2027-04-01T00:00:00Z"), "LONG"));
  const std::int64_t initial_margin = state_margin(a);
  ASSERT_GT(initial_margin, 0);
  const std::int64_t held = 50'000'000;  // the fixture's deposit
  const auto request = [&](std::int64_t cents, const std::string& key) {
    return run([&](pqxx::transaction_base& tx) {
      return settlement::request_withdrawal(
          tx, {a, Money{cents, Currency::usd()}, "alpha", key, RequestId::parse("req-" + key).value(),
               Money{kAmountMinorMax, Currency::usd()}});
    });
  };
  const std::int64_t journals = scalar("SELECT count(*) FROM ledger.journal");
  const auto refused = request(held - initial_margin + 1, "too-much");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), settlement::CollateralRefusal::insufficient_collateral);
  EXPECT_EQ(scalar("SELECT count(*) FROM cch.collateral_withdrawal"), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM ledger.journal"), journals);
  // Exactly what the initial margin leaves free may be requested.
  ASSERT_TRUE(request(held - initial_margin, "just-enough"));
  EXPECT_EQ(scalar("SELECT count(*) FROM cch.collateral_withdrawal WHERE status = 'requested'"), 1);
}

TEST_F(PreTradeMargin, AWithdrawalIsCheckedAgainstTheLatestModelsMarginNotTheOneTheLastTradeWasPricedWith) {
  build_model();
  ASSERT_TRUE(clear_trade(window(a, b, 64, "2027-03-01T00:00:00Z", "2027-04-01T00:00:00Z"), "LONG"));
  const std::int64_t before = state_margin(a);
  // The risk desk widens the spreads: a new parameter version, the date's model again with it.
  // Alpha's kept state is still the first model's until something brings it up to date.
  run([&](pqxx::transaction_base& tx) {
    auto wider = registry::fixture::test_margin_parameters();
    wider.spread_ticks_default = 10'000;
    ASSERT_TRUE(margin::store_parameters(tx, wider, "wider spreads", "risk", std::nullopt));
  });
  const BuiltModel second = build_model();
  ASSERT_TRUE(second.created);
  EXPECT_EQ(state_margin(a), before);
  const std::int64_t after = run_margin_of(a);  // what the new model asks
  ASSERT_GT(after, before);
  const std::int64_t held = 50'000'000;  // the fixture's deposit
  ASSERT_GT(held, after);
  const auto request = [&](std::int64_t cents, const std::string& key) {
    return run([&](pqxx::transaction_base& tx) {
      settlement::WithdrawalRequest asked{a, Money{cents, Currency::usd()}, "alpha", key,
                                          RequestId::parse("req-" + key).value(), Money{kAmountMinorMax, Currency::usd()}};
      asked.margin_policy = &policy;
      return settlement::request_withdrawal(tx, asked);
    });
  };
  // What the first model's margin would leave free is more than the new one does: refused.
  const auto refused = request(held - before, "stale");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), settlement::CollateralRefusal::insufficient_collateral);
  EXPECT_EQ(scalar("SELECT count(*) FROM cch.collateral_withdrawal"), 0);
  // The check brought the state under the new model: the figure a full run gives, to the cent.
  EXPECT_EQ(state_margin(a), after);
  EXPECT_EQ(run([&](pqxx::transaction_base& tx) { return registry::margin_used(tx, a).model_id; }),
            std::optional<std::int64_t>(second.record.model_id));
  ASSERT_FALSE(request(held - after + 1, "a-cent-more"));
  ASSERT_TRUE(request(held - after, "just-enough"));
}

TEST_F(PreTradeMargin, AShortfallAfterARunIsCalledAndADepositMeetsTheCall) {
  build_model();
  ASSERT_TRUE(clear_trade(window(a, b, 64, "2027-03-01T00:00:00Z", "2027-04-01T00:00:00Z"), "LONG"));
  const std::int64_t first = state_margin(a);
  const std::int64_t held = 50'000'000;  // the fixture's deposit
  // Alpha asks back everything its initial margin leaves free: its collateral is now exactly it.
  ASSERT_TRUE(run([&](pqxx::transaction_base& tx) {
    return settlement::request_withdrawal(tx, {a, Money{held - first, Currency::usd()}, "alpha", "free",
                                               RequestId::parse("req-free").value(),
                                               Money{kAmountMinorMax, Currency::usd()}});
  }));
  // A risk officer widens the liquidity spread (200 -> 2,000 ticks) and the next model is built:
  // alpha's margin rises by its liquidity add-on (now 0.10 USD on each of its 64 x 744 GPU-hours)
  // and a concentration add-on (the new model measures the open interest: alpha holds all of it).
  run([&](pqxx::transaction_base& tx) {
    margin::MarginParameters wider = registry::fixture::test_margin_parameters();
    wider.spread_ticks_default = 2'000;
    ASSERT_TRUE(margin::store_parameters(tx, wider, "wider spreads", "risk", std::nullopt));
  });
  const BuiltModel second = build_model();
  EXPECT_EQ(second.record.version, 2);
  const MarginRunOutcome outcome = margin_run();
  const auto figures = run([&](pqxx::transaction_base& tx) {
    return margin::member_margin(tx, a, outcome.run.run_id)->result.figures;
  });
  const std::int64_t raised = figures.initial_margin_cents;
  EXPECT_EQ(figures.liquidity_cents, 10 * 64 * 744);
  EXPECT_GT(figures.concentration_cents, 0);
  EXPECT_GT(raised, first);
  const UtcTimestamp now = registry::fixture::kNow;
  const auto calls = run([&](pqxx::transaction_base& tx) {
    return settlement::issue_margin_calls(tx, outcome.run.run_id, std::chrono::minutes(60), now);
  });
  EXPECT_EQ(calls.issued, 1);  // alpha only: bravo and charlie hold far more than their margins
  const auto call = run([&](pqxx::transaction_base& tx) {
    auto open = settlement::list_margin_calls(tx, a, std::nullopt, std::nullopt, 10);
    EXPECT_EQ(open.size(), 1u);
    return open.front();
  });
  EXPECT_EQ(call.state, settlement::CallState::issued);
  EXPECT_EQ(call.amount.amount_minor, raised - first);
  EXPECT_EQ(call.requirement.amount_minor, raised);
  EXPECT_EQ(call.collateral.amount_minor, first);
  // The same run again issues nothing new: the open call stands.
  EXPECT_EQ(run([&](pqxx::transaction_base& tx) {
              return settlement::issue_margin_calls(tx, outcome.run.run_id, std::chrono::minutes(60), now).issued;
            }),
            0);
  // Past its deadline it is overdue, and still open.
  const UtcTimestamp later = UtcTimestamp::from_unix_microseconds(now.unix_microseconds() + 61LL * 60'000'000).value();
  EXPECT_EQ(run([&](pqxx::transaction_base& tx) { return settlement::mark_overdue_margin_calls(tx, later); }), 1);
  const auto deposit = [&](std::int64_t cents, const std::string& reference) {
    run([&](pqxx::transaction_base& tx) {
      ASSERT_TRUE(settlement::record_deposit(tx, {a, Money{cents, Currency::usd()}, reference, kDate, std::nullopt,
                                                  Money{kAmountMinorMax, Currency::usd()}}));
    });
  };
  const auto state_of_call = [&] {
    return run([&](pqxx::transaction_base& tx) { return settlement::find_margin_call(tx, call.call_id)->state; });
  };
  deposit(call.amount.amount_minor - 1, "short-by-a-cent");
  EXPECT_EQ(state_of_call(), settlement::CallState::overdue);
  deposit(1, "the-last-cent");
  EXPECT_EQ(state_of_call(), settlement::CallState::met);
  EXPECT_EQ(scalar("SELECT count(*) FROM cch.margin_call_event WHERE call_id = " + std::to_string(call.call_id)), 3);
  // A met call is final.
  EXPECT_ANY_THROW(as_superuser("UPDATE cch.margin_call SET state = 'issued', closed_at = NULL WHERE call_id = " +
                                std::to_string(call.call_id)));
}

TEST_F(PreTradeMargin, AWhatIfGivesTheMarginBeforeAndAfterAndChangesNothing) {
  build_model();
  ASSERT_TRUE(clear_trade(window(a, b, 64, "2027-03-01T00:00:00Z", "2027-04-01T00:00:00Z"), "LONG"));
  const auto counts = [&] {
    return std::vector<std::int64_t>{scalar("SELECT count(*) FROM margin.run"), scalar("SELECT count(*) FROM cch.trade"),
                                     scalar("SELECT sum(initial_margin_cents) FROM cch.member_margin_state"),
                                     scalar("SELECT count(*) FROM cch.outbox")};
  };
  const auto before_counts = counts();
  const auto terms = window(a, c, 32, "2027-05-01T00:00:00Z", "2027-06-01T00:00:00Z", 20'800);
  const std::vector<HypotheticalTrade> hypothetical = {
      {product, true, false, terms.delivery_start, terms.delivery_end, terms.gpus, terms.price.price_ticks}};
  const WhatIf answer = run([&](pqxx::transaction_base& tx) {
    auto result = what_if(tx, a, hypothetical, kCalendar);
    EXPECT_TRUE(result) << result.error().detail;
    return *result;
  });
  EXPECT_EQ(counts(), before_counts);  // nothing written
  EXPECT_EQ(answer.open_legs, 1);
  EXPECT_EQ(answer.before.initial_margin_cents, state_margin(a));
  EXPECT_GT(answer.after.initial_margin_cents, answer.before.initial_margin_cents);
  // The trade itself: the pre-trade check's figure after it is the what-if's.
  ASSERT_TRUE(clear_trade(terms, "MAY"));
  EXPECT_EQ(state_margin(a), answer.after.initial_margin_cents);
  // Refusals.
  run([&](pqxx::transaction_base& tx) {
    std::vector<HypotheticalTrade> bad = hypothetical;
    bad[0].gpus = 0;
    EXPECT_EQ(what_if(tx, a, bad, kCalendar).error().refusal, WhatIfRefusal::invalid_trade);
    const std::vector<HypotheticalTrade> many(kWhatIfTradesMax + 1, hypothetical[0]);
    EXPECT_EQ(what_if(tx, a, many, kCalendar).error().refusal, WhatIfRefusal::too_many_trades);
  });
}

TEST_F(PreTradeMargin, BeforeAnyModelTheInterimRuleAppliesAndANewModelRebuildsTheState) {
  ASSERT_TRUE(clear_trade(march(a, b, 8, 21'000), "EARLY"));
  // 8 GPUs x 744 h x 2.1000 = 12,499.20 USD; the fixture's interim rate, 10 %: 1,249.92 USD.
  EXPECT_EQ(state_margin(a), 124'992);
  EXPECT_EQ(scalar("SELECT count(*) FROM cch.member_margin_state WHERE model_id IS NULL"), 2);
  build_model();
  // The next check of alpha rebuilds its state under the model: the figure is the model's.
  ASSERT_TRUE(clear_trade(window(a, c, 8, "2027-02-01T00:00:00Z", "2027-02-02T00:00:00Z"), "LATER"));
  EXPECT_EQ(scalar("SELECT count(*) FROM cch.member_margin_state WHERE model_id IS NOT NULL AND member_id = " +
                   a.to_string()),
            1);
  EXPECT_EQ(scalar("SELECT interim_cents FROM cch.member_margin_state WHERE member_id = " + a.to_string()), 0);
  EXPECT_EQ(state_margin(a), run_margin_of(a));
}

}  // namespace
}  // namespace cch::risk

#include "cch/db/migrate.hpp"
#include "cch/sql/migrations.hpp"
#include "cch/testing/scratch_database.hpp"

#include <pqxx/nontransaction>

namespace cch::risk {
namespace {

// A database with runs made before factor lines moved into their members' rows: migration 0024
// moves each member's lines into its row in the order the code reads them (class future then
// forward, the model's product index, bucket), and drops the table.
TEST(MarginMigration, FactorLinesOfEarlierRunsMoveIntoTheirMembersRowsInOrder) {
  testing::ScratchDatabase database;
  pqxx::connection connection(database.url());
  std::vector<std::pair<std::string_view, std::string_view>> before;
  std::vector<std::pair<std::string_view, std::string_view>> all;
  for (const auto& file : sql::migration_files()) {
    all.push_back(file);
    if (file.first < std::string_view("0024")) before.push_back(file);
  }
  ASSERT_TRUE(db::migrate(connection, db::make_migrations(before).value()));
  {
    pqxx::nontransaction tx(connection);
    // Rows as a run stored them then (foreign keys aside: what they point at is not the point).
    tx.exec("SET session_replication_role = replica");
    tx.exec("INSERT INTO margin.model_product (model_id, product_index, product_id, gpu_model, generation, "
            "open_interest_gpu_hours, spread_ticks, first_day, daily_prices, sigma_today, sigma_mean, sigma_used) "
            "VALUES (7, 0, 30, 'H200', 1, 0, 0, '2027-01-01', '{2.0}', '{}', '{}', '{}'), "
            "(7, 1, 20, 'H100', 0, 0, 0, '2027-01-01', '{2.0}', '{}', '{}', '{}')");
    tx.exec("INSERT INTO margin.run (run_id, model_id, business_date, scope, cause, members, legs, started_at, "
            "requested_by) OVERRIDING SYSTEM VALUE VALUES (5, 7, '2026-12-01', 'all', 'on_demand', 2, 4, now(), 'risk')");
    for (const int member : {1, 2}) {
      tx.exec("INSERT INTO margin.member_margin (run_id, member_id, model_id, legs, es_filtered_cents, "
              "es_stressed_cents, expected_shortfall_cents, generations_alone_cents, benefit_cents, "
              "benefit_taken_cents, benefit_refused_cents, requirement_cents, concentration_cents, liquidity_cents, "
              "interim_cents, initial_margin_cents) VALUES (5, " + std::to_string(member) +
              ", 7, 2, '{0,0}', '{0,0}', '{0,0}', '{0,0}', '{0,0}', '{0,0}', '{0,0}', '{0,0}', 0, 0, 0, 0)");
    }
    // Member 1: in no order; product 30 has index 0, product 20 index 1.
    tx.exec("INSERT INTO margin.member_factor VALUES "
            "(5, 1, 'forward', 20, 3, 111, 1, 11), (5, 1, 'future', 20, 0, 222, 2, 22), "
            "(5, 1, 'forward', 30, 9, 333, 3, 33), (5, 1, 'future', 30, 4, 444, 4, 44), "
            "(5, 1, 'future', 30, 1, 555, 5, 55)");
    tx.exec("SET session_replication_role = origin");
  }
  ASSERT_TRUE(db::migrate(connection, db::make_migrations(all).value()));
  pqxx::nontransaction tx(connection);
  const auto rows = tx.exec(
      "SELECT member_id, line_class::text, line_product_id::text, line_bucket::text, line_exposure_cents::text, "
      "line_net_gpu_hours::text, line_contribution_cents::text FROM margin.member_margin ORDER BY member_id");
  ASSERT_EQ(rows.size(), 2U);
  EXPECT_EQ(rows[0][1].as<std::string>(), "{0,0,0,1,1}");
  EXPECT_EQ(rows[0][2].as<std::string>(), "{30,30,20,30,20}");
  EXPECT_EQ(rows[0][3].as<std::string>(), "{1,4,0,9,3}");
  EXPECT_EQ(rows[0][4].as<std::string>(), "{555,444,222,333,111}");
  EXPECT_EQ(rows[0][5].as<std::string>(), "{5,4,2,3,1}");
  EXPECT_EQ(rows[0][6].as<std::string>(), "{55,44,22,33,11}");
  EXPECT_EQ(rows[1][1].as<std::string>(), "{}");  // a member without lines
  EXPECT_EQ(tx.exec("SELECT to_regclass('margin.member_factor') IS NULL")[0][0].as<bool>(), true);
  // The rows are records again.
  EXPECT_THROW(tx.exec("UPDATE margin.member_margin SET legs = 3"), pqxx::sql_error);
}

}  // namespace
}  // namespace cch::risk
