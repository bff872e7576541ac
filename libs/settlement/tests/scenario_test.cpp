// The settlement scenario file (tests/scenarios/two_business_days.json): trades over two business
// days with prices chosen so that every member's variation margin and price alignment interest is
// computed by hand in the file; the runs must match it to the cent, and each member's collateral
// must move by exactly its total.
#include "cch/pricing/marks.hpp"
#include "cch/risk/curve_sets.hpp"
#include "settlement_fixture.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <iomanip>
#include <map>

namespace cch::settlement {
namespace {

using fixture::date;
using fixture::SettlementRuns;

nlohmann::json load_scenario() {
  std::ifstream in(std::string(CCH_SETTLEMENT_SCENARIOS) + "/two_business_days.json");
  EXPECT_TRUE(in.good()) << "the scenario file is readable";
  return nlohmann::json::parse(in);
}

std::int64_t cents(const nlohmann::json& text) {
  return parse_money(text.get<std::string>(), Currency::usd()).value().amount_minor;
}
std::int64_t ticks(const nlohmann::json& text) {
  return PricePerGpuHour::parse(text.get<std::string>()).value().price_ticks;
}

TEST_F(SettlementRuns, TheScenarioFilesHandComputedFiguresAreTheRunsToTheCent) {
  const nlohmann::json scenario = load_scenario();
  const std::map<std::string, MemberId> members{{"alpha", a}, {"bravo", b}, {"charlie", c}};
  ASSERT_EQ(scenario["members"].size(), members.size());
  for (const auto& trade : scenario["trades"]) {
    auto terms = march(members.at(trade["buyer"]), members.at(trade["seller"]), trade["gpus"].get<std::int64_t>(),
                       ticks(trade["price"]));
    if (trade.contains("series")) {
      terms.series_label = trade["series"].get<std::string>();
    } else {
      const auto month = parse_period_label(trade["delivery"].get<std::string>()).value();
      terms.delivery_start = month.start();
      terms.delivery_end = month.end();
    }
    const auto cleared = clear_on(terms, trade["reference"].get<std::string>());
    ASSERT_TRUE(cleared) << trade["reference"] << ": " << cleared.error().detail;
  }
  for (const auto& day : scenario["days"]) {
    const BusinessDate business_date = date(day["date"].get<std::string>());
    const auto& prices = day["prices"];
    enter_market_data(business_date, ticks(prices["march"]), ticks(prices["second_quarter"]), ticks(prices["others"]));
    std::map<std::int64_t, std::int64_t> before;
    for (const auto& [name, member] : members) before[member.value()] = collateral(member);
    const auto settled = settle_day(business_date);
    ASSERT_TRUE(settled) << business_date.format() << ": " << settled.error().detail;
    // The discount factors the file's forwards are marked with are the curve set's.
    run([&](pqxx::transaction_base& tx) {
      const auto curves = risk::load_curves(tx, settled->run.curve_set_id);
      for (const auto& [reference, expected] : day["discount_factors"].items()) {
        const auto& trade = *std::find_if(scenario["trades"].begin(), scenario["trades"].end(),
                                          [&](const auto& t) { return t["reference"] == reference; });
        const auto month = parse_period_label(trade["delivery"].get<std::string>()).value();
        const BusinessDate payment = pricing::forward_payment_date(month.end(), business_date, kCalendar);
        const double df = curves->discount.discount(payment);
        EXPECT_NEAR(df, std::stod(expected.get<std::string>()), 5e-10)
            << business_date.format() << " " << reference << " pays on " << payment.format() << ": DF "
            << std::setprecision(12) << df;
      }
    });
    // The fixture's overnight quote is the file's rate.
    EXPECT_EQ(settled->run.overnight_rate_e8, ticks(day["overnight_rate"]) * 10'000) << business_date.format();
    const auto figures = run([&](pqxx::transaction_base& tx) {
      return member_variation_margin(tx, settled->run.run_id, std::nullopt);
    });
    ASSERT_EQ(figures.size(), members.size()) << business_date.format();
    std::int64_t total = 0;
    for (const auto& [name, member] : members) {
      const auto& expected = day["members"][name];
      const auto found = std::find_if(figures.begin(), figures.end(), [&](const auto& f) { return f.member == member; });
      ASSERT_NE(found, figures.end()) << name;
      const std::string where = business_date.format() + " " + name + " (" + expected["by_hand"].get<std::string>() + ")";
      EXPECT_EQ(found->vm_minor, cents(expected["variation_margin"])) << where;
      EXPECT_EQ(found->pai_minor, cents(expected["price_alignment_interest"])) << where;
      EXPECT_EQ(found->total_minor, cents(expected["total"])) << where;
      EXPECT_EQ(collateral(member) - before[member.value()], found->total_minor) << where;
      total += found->vm_minor;
    }
    EXPECT_EQ(total, 0) << "the clearinghouse's book is flat: variation margin sums to zero";
  }
}

}  // namespace
}  // namespace cch::settlement
