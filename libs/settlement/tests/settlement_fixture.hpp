#pragma once
// The settlement tests' world: the registration fixture's members and product, two business days
// of market data whose marks are computed by hand (SOFR OIS quotes at 0 % but for a 1D overnight
// rate of 4 %, settlement prices per month), a forward and a future between the members, and
// settle() of a date as the service would call it.
#include "cch/market/market_data.hpp"
#include "cch/risk/curve_sets.hpp"
#include "cch/settlement/runs.hpp"
#include "registration_fixture.hpp"

#include <pqxx/result>

#include <functional>
#include <string_view>

namespace cch::settlement::fixture {

using registry::fixture::kNow;

inline BusinessDate date(std::string_view text) { return BusinessDate::parse(text).value(); }

class SettlementRuns : public registry::fixture::Registration {
 protected:
  const BusinessDate kDay1 = date("2027-01-13");  // a Wednesday
  const BusinessDate kDay2 = date("2027-01-14");  // the Thursday after
  const BusinessCalendar kCalendar = make_calendar("united_states_settlement").value();

  // The day's SOFR OIS quotes: 1D at 4 % (the overnight rate), every other tenor at 0 %, so that
  // the discount factors of the forwards' payment dates (between the 1M and 1Y pillars) are within
  // 0.1 % of 1 and the marks are computed by hand from them; and the product's settlement prices,
  // every month at `others` except March and the second quarter's months, from February 2027 to
  // the end of the year; and `extra` periods (label, price), e.g. a day of January.
  void enter_market_data(BusinessDate day, std::int64_t march, std::int64_t second_quarter, std::int64_t others,
                         std::optional<std::string> correction = std::nullopt,
                         const std::vector<std::pair<std::string, std::int64_t>>& extra = {}) {
    run([&](pqxx::transaction_base& tx) {
      const auto rules = market::market_rules("united_states_settlement", "1M,1Y", BusinessDate::containing(kNow));
      const market::Provenance provenance{"test", "test", kNow, "ops", std::nullopt, std::nullopt};
      std::vector<market::OisQuote> ois;
      for (const auto& [tenor, rate] : std::vector<std::pair<std::string, std::int64_t>>{
               {"1D", 4'000'000}, {"1M", 0}, {"3M", 0}, {"6M", 0}, {"1Y", 0}, {"2Y", 0}}) {
        ois.push_back({market::parse_tenor(tenor).value(), rate});
      }
      const auto stored_ois = market::store_ois_quotes(tx, day, ois, provenance, rules);
      ASSERT_TRUE(stored_ois) << stored_ois.error().detail;
      const auto found = registry::find_product(tx, product).value();
      const market::ProductTerms terms{product, found.spec.code, found.spec.tick_size_ticks, std::nullopt};
      std::vector<market::PeriodPrice> prices;
      for (const auto& [label, price] : extra) {
        prices.push_back({parse_period_label(label).value(), PricePerGpuHour{price}});
      }
      prices.push_back({parse_period_label("2027-02").value(), PricePerGpuHour{others}});
      prices.push_back({parse_period_label("2027-03").value(), PricePerGpuHour{march}});
      for (const char* label : {"2027-04", "2027-05", "2027-06"}) {
        prices.push_back({parse_period_label(label).value(), PricePerGpuHour{second_quarter}});
      }
      for (const char* label : {"2027-Q3", "2027-Q4"}) {
        prices.push_back({parse_period_label(label).value(), PricePerGpuHour{others}});
      }
      market::Provenance corrected = provenance;
      corrected.correction_reason = correction;
      const auto stored = market::store_settlement_prices(tx, terms, day, prices, corrected, rules);
      ASSERT_TRUE(stored) << stored.error().detail;
      auto built = risk::build_curve_set(tx, {day, kCalendar, BusinessDate::containing(kNow), "risk", std::nullopt});
      ASSERT_TRUE(built) << built.error().detail;
    });
  }

  // Bravo buys 256 GPUs of March 2027 (190,464 GPU-hours) from charlie at 2.1450, a forward; alpha
  // buys 96 GPUs of the 2027-Q2 future (209,664 GPU-hours) from bravo at 2.0900. Both cleared on
  // the Tuesday before day 1, so that day 1's run settles them.
  void trade() {
    ASSERT_TRUE(clear_on(march(b, c, 256, 21'450), "FWD-1"));
    auto quarter = march(a, b, 96, 20'900);
    quarter.series_label = "2027-Q2";
    ASSERT_TRUE(clear_on(quarter, "FUT-1"));
  }
  // Alpha buys from charlie 64 GPUs for 14 and 15 January 2027 and 16 GPUs for 14 January alone,
  // at 2.2000: days no quoted period of the prices above (February onwards) covers.
  void clear_january_legs() {
    auto two_days = march(a, c, 64, 22'000);
    two_days.delivery_start = registry::fixture::at("2027-01-14T00:00:00Z");
    two_days.delivery_end = registry::fixture::at("2027-01-16T00:00:00Z");
    ASSERT_TRUE(clear_on(two_days, "JAN-2"));
    auto one_day = two_days;
    one_day.gpus = 16;
    one_day.delivery_end = registry::fixture::at("2027-01-15T00:00:00Z");
    ASSERT_TRUE(clear_on(one_day, "JAN-1"));
  }
  // Submits as the buyer and affirms as the seller, on the Tuesday before day 1.
  Result<registry::Trade, registry::TradeError> clear_on(const registry::TradeTerms& terms,
                                                         const std::string& reference) {
    const UtcTimestamp tuesday = registry::fixture::at("2027-01-12T15:00:00Z");
    const auto submitted = submit(terms.buyer, terms, reference, tuesday);
    if (!submitted) return fail(submitted.error());
    return affirm(terms.seller, submitted->trade.trade_id, tuesday);
  }

  SettleRequest request(BusinessDate day) {
    return SettleRequest{day, kCalendar, kNow, "ops", std::nullopt, {}};
  }

  Result<SettleOutcome, SettleError> settle_day(BusinessDate day, std::function<void(RunStep)> before_commit = {}) {
    auto wanted = request(day);
    wanted.before_commit = std::move(before_commit);
    return settle(*fixture.pool, wanted);
  }

  std::int64_t collateral(MemberId member) {
    return scalar("SELECT COALESCE(-sum(p.amount_minor), 0) FROM ledger.posting p JOIN ledger.account a USING "
                  "(account_id) WHERE a.kind = 'collateral' AND a.member_id = " +
                  member.to_string());
  }
};

}  // namespace cch::settlement::fixture
