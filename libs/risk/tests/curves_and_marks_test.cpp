// Curve sets and marks against a real PostgreSQL: versions, reproducibility (rebuilt from the
// stored snapshots: the same hash, the same marks), tampering found, marks of a forward and a
// future against hand-computed values, once per curve set, a flat book.
#include "cch/risk/curve_sets.hpp"
#include "cch/risk/marks.hpp"

#include "cch/market/csv_import.hpp"
#include "cch/market/market_data.hpp"
#include "cch/market/synthetic_history.hpp"
#include "cch/pricing/marks.hpp"
#include "registration_fixture.hpp"

#include <pqxx/result>

#include <cmath>

namespace cch::risk {
namespace {

using registry::fixture::at;
using registry::fixture::kNow;

BusinessDate date(std::string_view text) { return BusinessDate::parse(text).value(); }

class CurvesAndMarks : public registry::fixture::Registration {
 protected:
  const BusinessDate kDate = date("2027-01-14");  // a Thursday, the day before kNow
  const BusinessCalendar kCalendar = make_calendar("united_states_settlement").value();

  void enter_market_data(std::int64_t march_ticks, std::optional<std::string> correction = std::nullopt) {
    run([&](pqxx::transaction_base& tx) {
      const auto rules = market::market_rules("united_states_settlement", "1M,1Y", BusinessDate::containing(kNow));
      market::Provenance provenance{"test", "test", kNow, "ops", std::nullopt, std::nullopt};
      std::vector<market::OisQuote> ois;
      for (const auto& [tenor, rate] : std::vector<std::pair<std::string, std::int64_t>>{
               {"1M", 4'300'000}, {"3M", 4'250'000}, {"6M", 4'150'000}, {"1Y", 4'000'000}, {"2Y", 3'800'000}}) {
        ois.push_back({market::parse_tenor(tenor).value(), rate});
      }
      ASSERT_TRUE(market::store_ois_quotes(tx, kDate, ois, provenance, rules));
      provenance.correction_reason = correction;
      const auto found = registry::find_product(tx, product).value();
      const market::ProductTerms terms{product, found.spec.code, found.spec.tick_size_ticks, std::nullopt};
      std::vector<market::PeriodPrice> prices;
      for (const char* label : {"2027-02", "2027-04", "2027-05", "2027-06", "2027-Q3", "2027-Q4"}) {
        prices.push_back({parse_period_label(label).value(), PricePerGpuHour{21'000}});
      }
      prices.push_back({parse_period_label("2027-03").value(), PricePerGpuHour{march_ticks}});
      const auto stored = market::store_settlement_prices(tx, terms, kDate, prices, provenance, rules);
      ASSERT_TRUE(stored) << stored.error().detail;
    });
  }

  BuiltCurveSet build() {
    return run([&](pqxx::transaction_base& tx) {
      auto built = build_curve_set(tx, {kDate, kCalendar, BusinessDate::containing(kNow), "risk", std::nullopt});
      EXPECT_TRUE(built) << built.error().detail;
      return std::move(*built);
    });
  }
};

TEST_F(CurvesAndMarks, ACurveSetIsVersionedByItsContentAndRebuildsToTheSameHash) {
  enter_market_data(21'500);
  const auto first = build();
  EXPECT_TRUE(first.created);
  EXPECT_EQ(first.record.version, 1);
  EXPECT_EQ(first.record.input_snapshots.size(), 2u);  // the OIS quotes and the product's prices
  ASSERT_EQ(first.record.products.size(), 1u);
  EXPECT_EQ(first.record.products[0], product);
  EXPECT_EQ(first.record.inputs.front().rfind("ois:SOFR:2027-01-14:v1:", 0), 0u);
  // The forward curve's average over March is March's price.
  const auto& forward = first.curves.forwards.at(product);
  EXPECT_NEAR(forward.average(at("2027-03-01T00:00:00Z"), at("2027-04-01T00:00:00Z")), 2.15, 1e-9);
  EXPECT_EQ(forward.first_day(), date("2027-01-15"));

  // The same inputs again: the same curve set.
  const auto again = build();
  EXPECT_FALSE(again.created);
  EXPECT_EQ(again.record.curve_set_id, first.record.curve_set_id);

  // A corrected price: the next version, another hash; the first still verifies.
  enter_market_data(21'550, "March corrected");
  const auto second = build();
  EXPECT_TRUE(second.created);
  EXPECT_EQ(second.record.version, 2);
  EXPECT_NE(second.record.content_hash, first.record.content_hash);
  run([&](pqxx::transaction_base& tx) {
    for (const auto id : {first.record.curve_set_id, second.record.curve_set_id}) {
      const auto verified = verify_curve_set(tx, id);
      ASSERT_TRUE(verified) << verified.error().detail;
      EXPECT_TRUE(verified->same()) << verified->stored_hash << " " << verified->rebuilt_hash << " "
                                    << verified->stored_curves_hash;
    }
    // The stored curves read back are the curves built, to the bit.
    EXPECT_EQ(pricing::content_hash(*load_curves(tx, first.record.curve_set_id)), first.record.content_hash);
    // One outbox event per version built.
    EXPECT_EQ(tx.exec("SELECT count(*) FROM cch.outbox WHERE topic = 'curve_set.built'")[0][0].as<int>(), 2);
  });

  // A stored curve value changed behind the library's back is found.
  as_superuser("SET session_replication_role = replica; UPDATE risk.forward_curve SET daily_prices[10] = "
               "daily_prices[10] + 1e-12 WHERE curve_set_id = " +
               std::to_string(first.record.curve_set_id) + "; SET session_replication_role = origin");
  run([&](pqxx::transaction_base& tx) {
    const auto verified = verify_curve_set(tx, first.record.curve_set_id);
    ASSERT_TRUE(verified);
    EXPECT_FALSE(verified->same());
    EXPECT_EQ(verified->rebuilt_hash, verified->stored_hash);  // the inputs still give the recorded curves
    EXPECT_NE(verified->stored_curves_hash, verified->stored_hash);
  });
}

TEST_F(CurvesAndMarks, RefusalsNameTheirReason) {
  run([&](pqxx::transaction_base& tx) {
    const auto saturday = build_curve_set(tx, {date("2027-01-09"), kCalendar, BusinessDate::containing(kNow), "r", {}});
    ASSERT_FALSE(saturday);
    EXPECT_EQ(saturday.error().refusal, CurveSetRefusal::not_a_business_date);
    const auto nothing = build_curve_set(tx, {kDate, kCalendar, BusinessDate::containing(kNow), "r", {}});
    ASSERT_FALSE(nothing);
    EXPECT_EQ(nothing.error().refusal, CurveSetRefusal::no_ois_quotes);
    const auto later = build_curve_set(tx, {date("2027-01-19"), kCalendar, BusinessDate::containing(kNow), "r", {}});
    ASSERT_FALSE(later);
    EXPECT_EQ(later.error().refusal, CurveSetRefusal::business_date_in_future);
  });
}

TEST_F(CurvesAndMarks, AForwardIsMarkedDiscountedAndAFutureUndiscountedOncePerCurveSet) {
  // A forward: alpha buys 256 GPUs for all of March 2027 at 2.1450 from bravo. A future: bravo
  // buys 100 GPUs of the 2027-Q2 series at 2.0900 from charlie.
  ASSERT_TRUE(clear_trade(march(a, b, 256, 21'450), "FWD-1"));
  auto quarter = march(b, c, 96, 20'900);
  quarter.series_label = "2027-Q2";
  const auto future = clear_trade(quarter, "FUT-1");
  ASSERT_TRUE(future) << registry::to_string(future.error().refusal) << ": " << future.error().detail;
  enter_market_data(21'500);
  const auto curves = build();

  const auto outcome = run([&](pqxx::transaction_base& tx) {
    auto marked = mark_open_legs(tx, curves.record.curve_set_id, kCalendar);
    EXPECT_TRUE(marked) << marked.error().detail;
    return std::move(*marked);
  });
  EXPECT_TRUE(outcome.created);
  EXPECT_EQ(outcome.run.legs_marked, 4);
  EXPECT_EQ(outcome.run.legs_unmarked, 0);
  EXPECT_EQ(outcome.run.pv_total_minor, 0);  // a flat book

  // By hand. The forward: F is March's price (the curve's average over a quoted period is its
  // quote), 2.1500; K 2.1450; Q = 256 x 744 hours; paid T+2 after 1 April 2027, i.e. Monday
  // 5 April (Good Friday 26 March is no US settlement holiday); DF from the stored curve.
  const double df = curves.curves.discount.discount(date("2027-04-05"));
  // About the 3M OIS rate's simple discount over the 81 days: 1 / (1 + 4.25 % x 81 / 360).
  EXPECT_NEAR(df, 1.0 / (1.0 + 0.0425 * 81.0 / 360.0), 1e-4);
  const double forward_usd = (2.15 - 2.145) * 256 * 744 * df;
  // The future: F is the curve's average over April-June (April, May and June quoted at 2.1000),
  // K 2.0900, Q = 96 x 2184 hours, not discounted.
  const double future_usd = (2.10 - 2.09) * 96 * 2184;
  run([&](pqxx::transaction_base& tx) {
    const auto alpha = member_marks(tx, curves.record.curve_set_id, a);
    ASSERT_EQ(alpha.size(), 1u);
    EXPECT_EQ(alpha[0].legs, 1);
    EXPECT_EQ(alpha[0].gpu_hours, 256 * 744);
    EXPECT_NEAR(static_cast<double>(alpha[0].pv_minor), forward_usd * 100, 1.0);
    const auto charlie = member_marks(tx, curves.record.curve_set_id, c);
    ASSERT_EQ(charlie.size(), 1u);
    EXPECT_EQ(charlie[0].gpu_hours, -96 * 2184);  // sold
    EXPECT_NEAR(static_cast<double>(charlie[0].pv_minor), -future_usd * 100, 1.0);
    // Bravo sold the forward and bought the future: its sum is the two marks.
    const auto bravo = member_marks(tx, curves.record.curve_set_id, b);
    ASSERT_EQ(bravo.size(), 1u);
    EXPECT_EQ(bravo[0].legs, 2);
    EXPECT_EQ(bravo[0].pv_minor, -alpha[0].pv_minor - charlie[0].pv_minor);
  });

  // Once per curve set.
  const auto again = run([&](pqxx::transaction_base& tx) { return *mark_open_legs(tx, curves.record.curve_set_id, kCalendar); });
  EXPECT_FALSE(again.created);
  EXPECT_EQ(again.run.legs_marked, 4);
  EXPECT_EQ(scalar("SELECT count(*) FROM risk.leg_mark"), 4);

  // Reproducible: the curves rebuilt from the stored snapshots mark every leg to the same cent.
  run([&](pqxx::transaction_base& tx) {
    ASSERT_TRUE(verify_curve_set(tx, curves.record.curve_set_id)->same());
    const auto rebuilt = load_curves(tx, curves.record.curve_set_id);
    for (const auto& row : tx.exec("SELECT l.trade_id, l.side, (extract(epoch FROM l.delivery_start) * 1000000)::bigint, "
                                   "(extract(epoch FROM l.delivery_end) * 1000000)::bigint, l.gpus, l.price_ticks, "
                                   "t.series_label IS NOT NULL, m.pv_minor FROM cch.trade_leg l JOIN cch.trade t "
                                   "USING (trade_id) JOIN risk.leg_mark m ON m.trade_id = l.trade_id AND m.side = l.side")) {
      pricing::Leg leg{.leg_id = row[0].as<std::int64_t>(),
                       .side = row[1].as<std::string>() == "buy" ? pricing::Side::buy : pricing::Side::sell,
                       .kind = row[6].as<bool>() ? pricing::ContractKind::future : pricing::ContractKind::forward,
                       .delivery_start = UtcTimestamp::from_unix_microseconds(row[2].as<std::int64_t>()).value(),
                       .delivery_end = UtcTimestamp::from_unix_microseconds(row[3].as<std::int64_t>()).value(),
                       .gpus = row[4].as<std::int64_t>(),
                       .price_ticks = row[5].as<std::int64_t>(),
                       .payment_date = date("2027-04-05")};
      if (leg.kind == pricing::ContractKind::future) leg.payment_date = kDate;
      const auto mark = pricing::mark_leg(leg, kDate, rebuilt->forwards.at(product), rebuilt->discount);
      ASSERT_TRUE(mark);
      EXPECT_EQ(mark->pv_minor, row[7].as<std::int64_t>());
    }
  });
}

// The synthetic history passes the rules an operator's file must, pricing's consistency rule
// included (overlapping quotes agree within half a tick), over two years with a launch and the
// stress period, and every day's quotes build a curve set.
TEST_F(CurvesAndMarks, TwoYearsOfSyntheticHistoryImportAndBuildCurves) {
  market::SyntheticHistoryOptions generate;
  std::vector<market::ProductTerms> products;
  run([&](pqxx::transaction_base& tx) {
    const auto found = registry::find_product(tx, product).value();
    generate.products = {{found.spec.code, "H100", found.spec.tick_size_ticks, std::nullopt}};
    products = {{product, found.spec.code, found.spec.tick_size_ticks, std::nullopt}};
  });
  generate.from = date("2025-01-02");
  generate.to = date("2026-12-30");  // the fixture entered 31 December's
  const auto history = market::synthetic_history(generate);
  ASSERT_TRUE(history);
  const auto rules = market::market_rules("united_states_settlement", "1M,1Y", BusinessDate::containing(kNow));
  run([&](pqxx::transaction_base& tx) {
    const auto imported = market::import_csv(tx, history->csv, "ops", rules, products, forward_curve_consistency());
    ASSERT_TRUE(imported) << imported.error().error.detail;
    EXPECT_EQ(imported->snapshots_created, history->settlement_snapshots + history->ois_snapshots);
  });
  for (const char* day : {"2025-03-03", "2025-08-01", "2026-12-30"}) {
    SCOPED_TRACE(day);
    run([&](pqxx::transaction_base& tx) {
      const auto built = build_curve_set(tx, {date(day), kCalendar, BusinessDate::containing(kNow), "risk", std::nullopt});
      ASSERT_TRUE(built) << built.error().detail;
      EXPECT_TRUE(verify_curve_set(tx, built->record.curve_set_id)->same());
    });
  }
}

TEST_F(CurvesAndMarks, SettlementPricesWhoseOverlappingPeriodsDisagreeAreRefusedAndNamed) {
  run([&](pqxx::transaction_base& tx) {
    const auto found = registry::find_product(tx, product).value();
    const market::ProductTerms terms{product, found.spec.code, found.spec.tick_size_ticks, std::nullopt};
    const auto rules = market::market_rules("united_states_settlement", "", BusinessDate::containing(kNow));
    const market::Provenance provenance{"test", "test", kNow, "ops", std::nullopt, std::nullopt};
    // The second quarter at 2.1100 while its three months are each 2.1000: more than half a tick
    // (0.0025) apart.
    std::vector<market::PeriodPrice> prices;
    for (const char* label : {"2027-04", "2027-05", "2027-06"}) {
      prices.push_back({parse_period_label(label).value(), PricePerGpuHour{21'000}});
    }
    prices.push_back({parse_period_label("2027-Q2").value(), PricePerGpuHour{21'100}});
    const auto refused =
        market::store_settlement_prices(tx, terms, kDate, prices, provenance, rules, forward_curve_consistency());
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().refusal, market::MarketRefusal::inconsistent_prices);
    EXPECT_NE(refused.error().detail.find("2027-Q2"), std::string::npos) << refused.error().detail;
    EXPECT_NE(refused.error().detail.find("2027-05"), std::string::npos) << refused.error().detail;
    // Within half a tick it agrees.
    prices.back().price = PricePerGpuHour{21'000};
    EXPECT_TRUE(market::store_settlement_prices(tx, terms, kDate, prices, provenance, rules, forward_curve_consistency()));
  });
}

}  // namespace
}  // namespace cch::risk
