// Daily settlement runs against a real PostgreSQL: two business days of variation margin and
// price alignment interest computed by hand to the cent, one journal per member and run, a run
// started again answering the first, a concurrent start refused, a stop before any step's commit
// resumed to the same figures and journals, and refusals that post nothing.
#include "cch/settlement/deliveries.hpp"
#include "settlement_fixture.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/result>

#include <cmath>
#include <future>
#include <stdexcept>

namespace cch::settlement {
namespace {

using fixture::date;
using fixture::SettlementRuns;

// Thrown from a step's before_commit: the step's transaction is abandoned, as by a crash.
struct Stopped : std::runtime_error {
  using std::runtime_error::runtime_error;
};

TEST_F(SettlementRuns, PriceAlignmentInterestIsExactAndRoundsHalfAwayFromZero) {
  // 95,232 cents at 4 % for a day: 95,232 x 0.04 / 360 = 10.5813... cents.
  EXPECT_EQ(price_alignment_interest(95'232, 4'000'000, 1), -11);
  EXPECT_EQ(price_alignment_interest(-95'232, 4'000'000, 1), 11);
  // 9,000 cents at 4 % for 1 day is exactly 1 cent; 4,500 cents is half a cent: away from zero.
  EXPECT_EQ(price_alignment_interest(9'000, 4'000'000, 1), -1);
  EXPECT_EQ(price_alignment_interest(4'500, 4'000'000, 1), -1);
  EXPECT_EQ(price_alignment_interest(-4'500, 4'000'000, 1), 1);
  EXPECT_EQ(price_alignment_interest(4'499, 4'000'000, 1), 0);
  // Over a weekend (3 days), a negative rate, nothing held, the largest amounts.
  EXPECT_EQ(price_alignment_interest(1'000'000, 4'000'000, 3), -333);  // 333.33
  EXPECT_EQ(price_alignment_interest(1'000'000, -500'000, 1), 14);     // 13.89
  EXPECT_EQ(price_alignment_interest(0, 4'000'000, 3), 0);
  EXPECT_EQ(price_alignment_interest(kAmountMinorMax, 100'000'000, 366), -1'016'666'666'666'667);  // 10^15 x 366/360
}

TEST_F(SettlementRuns, TwoDaysOfVariationMarginAndInterestAreTheHandComputedFiguresToTheCent) {
  trade();
  const std::int64_t a0 = collateral(a), b0 = collateral(b), c0 = collateral(c);
  // Day 1: March 2.1500, the second quarter 2.1000.
  enter_market_data(kDay1, 21'500, 21'000, 21'000);
  const auto first = settle_day(kDay1);
  ASSERT_TRUE(first) << first.error().detail;
  EXPECT_TRUE(first->created);
  EXPECT_EQ(first->run.state, RunState::completed);
  ASSERT_EQ(first->run.steps.size(), 5u);
  EXPECT_FALSE(first->run.previous_run_id.has_value());
  EXPECT_EQ(first->run.overnight_tenor, "1D");
  EXPECT_EQ(first->run.overnight_rate_e8, 4'000'000);
  EXPECT_EQ(first->run.interest_days, 0);
  // Bravo's forward: (2.1500 - 2.1450) x 190,464 GPU-hours = 952.32 USD, discounted from its
  // payment date (Monday 5 April 2027, two business days after its window ends) with the day's
  // discount factor (the 1D rate's first days: within 0.1 % of 1), to the nearest cent; charlie the
  // opposite. Alpha's future: (2.1000 - 2.0900) x 209,664 = 2,096.64 USD, undiscounted, bravo the
  // opposite. From zero: all of it.
  const auto forward_mark = [&](const SettleOutcome& outcome, double forward_minus_price) {
    return run([&](pqxx::transaction_base& tx) {
      const double df = risk::load_curves(tx, outcome.run.curve_set_id)->discount.discount(date("2027-04-05"));
      EXPECT_NEAR(df, 1.0, 1e-3);
      return static_cast<std::int64_t>(std::llround(forward_minus_price * 190'464 * df * 100));
    });
  };
  const std::int64_t fwd1 = forward_mark(*first, 0.0050);
  EXPECT_LE(std::abs(fwd1 - 95'232), 100);
  run([&](pqxx::transaction_base& tx) {
    const auto members = member_variation_margin(tx, first->run.run_id, std::nullopt);
    ASSERT_EQ(members.size(), 3u);
    EXPECT_EQ(members[0].member, a);
    EXPECT_EQ(members[0].vm_minor, 209'664);
    EXPECT_EQ(members[0].forward_vm_minor, 0);
    EXPECT_EQ(members[0].pai_minor, 0);
    EXPECT_EQ(members[1].vm_minor, fwd1 - 209'664);
    EXPECT_EQ(members[1].forward_vm_minor, fwd1);
    EXPECT_EQ(members[1].cumulative_forward_vm_minor, fwd1);
    EXPECT_EQ(members[2].vm_minor, -fwd1);
    EXPECT_EQ(members[2].cumulative_forward_vm_minor, -fwd1);
    for (const auto& member : members) {
      EXPECT_EQ(member.total_minor, member.vm_minor + member.pai_minor);
      EXPECT_TRUE(member.journal.has_value());
    }
  });
  EXPECT_EQ(collateral(a) - a0, 209'664);
  EXPECT_EQ(collateral(b) - b0, fwd1 - 209'664);
  EXPECT_EQ(collateral(c) - c0, -fwd1);

  // Day 2: March 2.1600, the second quarter 2.1200. Bravo's forward is worth 0.0150 x 190,464 =
  // 2,856.96 USD before discounting. Alpha's future 0.0300 x 209,664 = 6,289.92 USD: 4,193.28
  // more. Interest for the day (1 calendar day at day 1's overnight rate, 4 %) on the forwards'
  // variation margin received so far: bravo about 952 USD x 0.04 / 360 = 0.1058 USD, paid: -0.11;
  // charlie receives 0.11.
  enter_market_data(kDay2, 21'600, 21'200, 21'000);
  const auto second = settle_day(kDay2);
  ASSERT_TRUE(second) << second.error().detail;
  EXPECT_EQ(second->run.previous_run_id, first->run.run_id);
  EXPECT_EQ(second->run.interest_days, 1);
  EXPECT_EQ(second->run.interest_rate_e8, 4'000'000);
  const std::int64_t fwd2 = forward_mark(*second, 0.0150);
  EXPECT_LE(std::abs(fwd2 - 285'696), 300);
  const std::int64_t pai = -((fwd1 * 4 * 2 + 36'000) / (36'000 * 2));  // fwd1 x 4 % / 360, half away from zero
  EXPECT_EQ(pai, -11);
  run([&](pqxx::transaction_base& tx) {
    const auto members = member_variation_margin(tx, second->run.run_id, std::nullopt);
    ASSERT_EQ(members.size(), 3u);
    EXPECT_EQ(members[0].vm_minor, 419'328);
    EXPECT_EQ(members[0].pai_minor, 0);  // futures earn no interest
    EXPECT_EQ(members[1].vm_minor, fwd2 - fwd1 - 419'328);
    EXPECT_EQ(members[1].pai_minor, pai);
    EXPECT_EQ(members[1].total_minor, fwd2 - fwd1 - 419'328 + pai);
    EXPECT_EQ(members[1].cumulative_forward_vm_minor, fwd2);
    EXPECT_EQ(members[2].vm_minor, -(fwd2 - fwd1));
    EXPECT_EQ(members[2].pai_minor, -pai);
    // By product and kind, and leg by leg.
    const auto bravo = product_variation_margin(tx, second->run.run_id, b);
    ASSERT_EQ(bravo.size(), 2u);
    EXPECT_EQ(bravo[0].kind, "forward");
    EXPECT_EQ(bravo[0].pv_minor, fwd2);
    EXPECT_EQ(bravo[0].previous_pv_minor, fwd1);
    EXPECT_EQ(bravo[1].kind, "future");
    EXPECT_EQ(bravo[1].vm_minor, -419'328);
    const auto legs = leg_variation_margin(tx, second->run.run_id, b, std::nullopt, 100);
    ASSERT_EQ(legs.size(), 2u);
    EXPECT_EQ(legs[0].vm_minor + legs[1].vm_minor, fwd2 - fwd1 - 419'328);
  });
  EXPECT_EQ(collateral(a) - a0, 209'664 + 419'328);
  EXPECT_EQ(collateral(b) - b0, fwd1 - 209'664 + fwd2 - fwd1 - 419'328 + pai);
  EXPECT_EQ(collateral(c) - c0, -fwd1 - (fwd2 - fwd1) - pai);
  // One journal per member and run, caused by the run; the clearing account is flat (the
  // interest nets out here).
  EXPECT_EQ(scalar("SELECT count(*) FROM ledger.journal WHERE kind = 'variation_margin'"), 6);
  EXPECT_EQ(scalar("SELECT count(DISTINCT cause_reference) FROM ledger.journal WHERE kind = 'variation_margin' "
                   "AND cause_kind = 'settlement_run'"),
            2);
  EXPECT_EQ(scalar("SELECT COALESCE(sum(p.amount_minor), 0) FROM ledger.posting p JOIN ledger.account a "
                   "USING (account_id) WHERE a.kind = 'variation_margin_clearing'"),
            0);
  EXPECT_EQ(scalar("SELECT count(*) FROM cch.outbox WHERE topic = 'settlement.run_completed'"), 2);

  // Settling a date again answers its run and posts nothing.
  const auto again = settle_day(kDay2);
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->run.run_id, second->run.run_id);
  EXPECT_EQ(scalar("SELECT count(*) FROM ledger.journal WHERE kind = 'variation_margin'"), 6);
  // An earlier date after a later one is refused.
  enter_market_data(date("2027-01-12"), 21'500, 21'000, 21'000);
  const auto earlier = settle_day(date("2027-01-12"));
  ASSERT_FALSE(earlier);
  EXPECT_EQ(earlier.error().refusal, SettleRefusal::later_date_settled);
}

TEST_F(SettlementRuns, ALegDeliveredSinceThePreviousRunGivesBackItsMarkAndIsNoLongerMarked) {
  // Alpha buys from charlie 64 GPUs for Thursday 14 January 2027 alone at 2.2000: open on day 1 (it
  // ends after the day after), delivered by day 2.
  auto day = march(a, c, 64, 22'000);
  day.delivery_start = registry::fixture::at("2027-01-14T00:00:00Z");
  day.delivery_end = registry::fixture::at("2027-01-15T00:00:00Z");
  const auto cleared = clear_on(day, "DAY-1");
  ASSERT_TRUE(cleared) << registry::to_string(cleared.error().refusal) << ": " << cleared.error().detail;
  // Day 1's prices quote the day it delivers on (day 2 needs it no longer).
  enter_market_data(kDay1, 21'500, 21'000, 21'000, std::nullopt, {{"2027-01-14", 22'100}});
  enter_market_data(kDay2, 21'600, 21'200, 21'000);
  const auto first = settle_day(kDay1);
  ASSERT_TRUE(first) << first.error().detail;
  // Charlie delivers all of it (64 x 24 GPU-hours), reported before day 2's run settles the trade.
  run([&](pqxx::transaction_base& tx) {
    ASSERT_TRUE(report_delivery(tx, cleared->trade_id, kDay2, 1'536, {c, "charlie", std::nullopt}, fixture::kNow));
  });
  const std::int64_t a0 = collateral(a);
  const auto second = settle_day(kDay2);
  ASSERT_TRUE(second) << second.error().detail;
  const auto first_marks = nlohmann::json::parse(first->run.steps[1].counts);
  EXPECT_EQ(first_marks["legs_marked"], 2);
  EXPECT_EQ(first_marks["previous_legs"], 0);
  const auto second_marks = nlohmann::json::parse(second->run.steps[1].counts);
  EXPECT_EQ(second_marks["legs_marked"], 0);
  EXPECT_EQ(second_marks["previous_legs"], 2);
  run([&](pqxx::transaction_base& tx) {
    const auto day1 = leg_variation_margin(tx, first->run.run_id, a, std::nullopt, 10);
    ASSERT_EQ(day1.size(), 1u);
    EXPECT_NE(day1[0].pv_minor, 0);
    EXPECT_EQ(day1[0].vm_minor, day1[0].pv_minor);
    const auto day2 = leg_variation_margin(tx, second->run.run_id, a, std::nullopt, 10);
    ASSERT_EQ(day2.size(), 1u);
    EXPECT_EQ(day2[0].pv_minor, 0);
    EXPECT_EQ(day2[0].previous_pv_minor, day1[0].pv_minor);
    EXPECT_EQ(day2[0].vm_minor, -day1[0].pv_minor);
    // Over its life its variation margin came to nothing: delivery settles it at its price.
    const auto members = member_variation_margin(tx, second->run.run_id, a);
    ASSERT_EQ(members.size(), 1u);
    EXPECT_EQ(members[0].vm_minor, -day1[0].pv_minor);
    EXPECT_EQ(members[0].cumulative_forward_vm_minor, 0);
  });
  EXPECT_EQ(scalar("SELECT count(*) FROM settlement.leg_mark WHERE run_id = " + std::to_string(second->run.run_id)), 0);
  // Each run's marks are its own partition, attached with its key once they were written.
  for (const std::int64_t run_id : {first->run.run_id, second->run.run_id}) {
    const std::string table = "settlement.leg_mark_" + std::to_string(run_id);
    EXPECT_EQ(scalar("SELECT count(*) FROM pg_inherits WHERE inhparent = 'settlement.leg_mark'::regclass AND "
                     "inhrelid = '" + table + "'::regclass"),
              1);
    EXPECT_EQ(scalar("SELECT count(*) FROM pg_index WHERE indrelid = '" + table + "'::regclass AND indisprimary"), 1);
  }
  EXPECT_THROW(scalar("SELECT settlement.attach_leg_mark_partition(" + std::to_string(second->run.run_id) + ")"),
               std::exception);
  // Delivered: alpha pays 1,536 x 2.2000 = 3,379.20 USD, besides its variation margin (its day 1
  // mark given back, with a day's interest on it).
  const std::int64_t vm = scalar("SELECT total_minor FROM settlement.member_vm WHERE member_id = " + a.to_string() +
                                 " AND run_id = " + std::to_string(second->run.run_id));
  EXPECT_EQ(collateral(a) - a0, -337'920 + vm);
}

TEST_F(SettlementRuns, LegsOnDaysNoSettlementPriceCoversStopTheRunUntilTheCurveIsApprovedAsTheirFallback) {
  trade();
  clear_january_legs();
  enter_market_data(kDay1, 21'500, 21'000, 21'000);
  const std::int64_t a0 = collateral(a);

  // Refused at the marks step, naming the product, the days and the legs; nothing marked or posted.
  const auto stopped = settle_day(kDay1);
  ASSERT_FALSE(stopped);
  EXPECT_EQ(stopped.error().refusal, SettleRefusal::settlement_prices_missing);
  const std::string& detail = stopped.error().detail;
  EXPECT_NE(detail.find("h100-sxm-us-east (product " + product.to_string() + "): 2027-01-14..2027-01-15 (4 legs)"),
            std::string::npos)
      << detail;
  const std::int64_t stopped_run = scalar("SELECT run_id FROM settlement.run");
  EXPECT_EQ(scalar("SELECT count(*) FROM settlement.run_step"), 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM settlement.leg_mark"), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM ledger.journal WHERE kind = 'variation_margin'"), 0);
  // Starting again changes nothing while no one approved a fallback.
  const auto again = settle_day(kDay1);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().refusal, SettleRefusal::settlement_prices_missing);

  // Approvals: a reason, a product that exists, once per product and date.
  const auto approve = [&](ProductId which, std::string reason) {
    return run([&](pqxx::transaction_base& tx) {
      return approve_price_fallback(tx, {which, kDay1, FallbackMethod::curve, std::move(reason), "risk", "req-1"});
    });
  };
  EXPECT_EQ(approve(product, "").error().refusal, SettleRefusal::invalid_reason);
  EXPECT_EQ(approve(ProductId(999'999), "no quote").error().refusal, SettleRefusal::unknown_product);
  const auto approved = approve(product, "no January quote from the publisher");
  ASSERT_TRUE(approved) << approved.error().detail;
  EXPECT_EQ(approved->approved_by, "risk");
  EXPECT_EQ(approved->business_date, kDay1);
  EXPECT_EQ(approved->request_id, "req-1");
  EXPECT_EQ(approve(product, "twice").error().refusal, SettleRefusal::fallback_already_approved);
  run([&](pqxx::transaction_base& tx) {
    EXPECT_EQ(price_fallbacks(tx, product, std::nullopt, 10).size(), 1u);
  });

  // The run resumes at its marks and records which approval marked which days of how many legs.
  const auto settled = settle_day(kDay1);
  ASSERT_TRUE(settled) << settled.error().detail;
  EXPECT_TRUE(settled->resumed);
  EXPECT_EQ(settled->run.run_id, stopped_run);
  ASSERT_EQ(settled->run.price_fallbacks.size(), 1u);
  const RunPriceFallback& used = settled->run.price_fallbacks[0];
  EXPECT_EQ(used.product, product);
  EXPECT_EQ(used.fallback_id, approved->fallback_id);
  ASSERT_EQ(used.days.size(), 1u);
  EXPECT_EQ(used.days[0].first_day, date("2027-01-14"));
  EXPECT_EQ(used.days[0].last_day, date("2027-01-15"));
  EXPECT_EQ(used.day_count, 2);
  EXPECT_EQ(used.legs, 4);
  const auto marks = nlohmann::json::parse(settled->run.steps[1].counts);
  EXPECT_EQ(marks["legs_marked"], 8);
  EXPECT_EQ(marks["fallback_products"], 1);
  EXPECT_EQ(marks["fallback_legs"], 4);
  // The January legs are marked off the curve there, both sides, and their variation margin posted.
  EXPECT_EQ(scalar("SELECT count(*) FROM settlement.leg_mark m JOIN cch.trade_leg l USING (trade_id, side) "
                   "WHERE m.run_id = " + std::to_string(settled->run.run_id) +
                   " AND l.delivery_start < '2027-02-01' AND m.pv_minor <> 0"),
            4);
  EXPECT_NE(collateral(a), a0);
}

TEST_F(SettlementRuns, ARunStoppedForDaysWithoutAPriceIsReversedAndTheDateSettlesAgainOnceThePricesAreEntered) {
  trade();
  clear_january_legs();
  enter_market_data(kDay1, 21'500, 21'000, 21'000);
  const auto stopped = settle_day(kDay1);
  ASSERT_FALSE(stopped);
  EXPECT_EQ(stopped.error().refusal, SettleRefusal::settlement_prices_missing);
  const std::int64_t stopped_run = scalar("SELECT run_id FROM settlement.run");
  EXPECT_NE(stopped.error().detail.find("reverse run " + std::to_string(stopped_run)), std::string::npos)
      << stopped.error().detail;
  // The unfinished run reversed (it posted nothing), the missing days quoted in a corrected version.
  const auto reversed = reverse_run(*fixture.pool, {stopped_run, "January days unquoted", "ops", std::nullopt,
                                                    fixture::kNow});
  ASSERT_TRUE(reversed) << reversed.error().detail;
  EXPECT_EQ(reversed->state, RunState::reversed);
  EXPECT_EQ(settle_day(kDay1).error().refusal, SettleRefusal::date_reversed_without_correction);
  enter_market_data(kDay1, 21'500, 21'000, 21'000, "January quoted",
                    {{"2027-01-14", 22'100}, {"2027-01-15", 22'200}});
  const auto settled = settle_day(kDay1);
  ASSERT_TRUE(settled) << settled.error().detail;
  EXPECT_EQ(settled->run.attempt, 2);
  EXPECT_TRUE(settled->run.price_fallbacks.empty());
  const auto marks = nlohmann::json::parse(settled->run.steps[1].counts);
  EXPECT_EQ(marks["legs_marked"], 8);
  EXPECT_EQ(marks["fallback_legs"], 0);
  // Alpha's one-day leg is marked at 14 January's quoted 2.2100 against its 2.2000: 16 GPUs x 24 h x
  // 0.0100 = 3.84 USD, discounted over the days to its payment (within a cent at these rates).
  const std::int64_t one_day = scalar(
      "SELECT m.pv_minor FROM settlement.leg_mark m JOIN cch.trade t USING (trade_id) WHERE m.run_id = " +
      std::to_string(settled->run.run_id) + " AND t.submitter_reference = 'JAN-1' AND m.side = 'buy'");
  EXPECT_NEAR(static_cast<double>(one_day), 384.0, 1.0);
}

TEST_F(SettlementRuns, AReversedRunIsUndoneByReversingJournalsAndTheDateSettlesAgainOnceItsPricesAreCorrected) {
  trade();
  const std::int64_t a0 = collateral(a), b0 = collateral(b), c0 = collateral(c);
  enter_market_data(kDay1, 21'500, 21'000, 21'000);
  const auto first = settle_day(kDay1);
  ASSERT_TRUE(first) << first.error().detail;
  const std::int64_t a1 = collateral(a), b1 = collateral(b), c1 = collateral(c);
  // Day 2 with March mistyped (2.1050 for 2.1600).
  enter_market_data(kDay2, 21'050, 21'200, 21'000);
  const auto wrong = settle_day(kDay2);
  ASSERT_TRUE(wrong) << wrong.error().detail;
  const std::int64_t wrong_journals = scalar("SELECT count(*) FROM settlement.member_vm WHERE run_id = " +
                                             std::to_string(wrong->run.run_id) + " AND journal_id IS NOT NULL");
  EXPECT_EQ(wrong_journals, 3);

  const auto reverse = [&](std::int64_t run_id, std::string reason) {
    return reverse_run(*fixture.pool, {run_id, std::move(reason), "ops", std::nullopt, fixture::kNow});
  };
  // Only the latest date's run, with a reason, once.
  const auto earlier = reverse(first->run.run_id, "wrong day");
  ASSERT_FALSE(earlier);
  EXPECT_EQ(earlier.error().refusal, SettleRefusal::later_date_settled);
  const auto no_reason = reverse(wrong->run.run_id, "");
  ASSERT_FALSE(no_reason);
  EXPECT_EQ(no_reason.error().refusal, SettleRefusal::invalid_reason);
  EXPECT_EQ(reverse(999'999, "nothing").error().refusal, SettleRefusal::unknown_run);
  const auto reversed = reverse(wrong->run.run_id, "March settlement price mistyped");
  ASSERT_TRUE(reversed) << reversed.error().detail;
  EXPECT_EQ(reversed->state, RunState::reversed);
  EXPECT_EQ(reversed->reversal_reason, "March settlement price mistyped");
  EXPECT_EQ(reversed->reversed_by, "ops");
  EXPECT_EQ(reverse(wrong->run.run_id, "again").error().refusal, SettleRefusal::run_already_reversed);
  // Each journal of the run reversed exactly, pointing at it; the collateral as after day 1.
  EXPECT_EQ(scalar("SELECT count(*) FROM ledger.journal r JOIN settlement.member_vm m ON m.journal_id = "
                   "r.reverses_journal_id WHERE r.kind = 'reversal' AND m.run_id = " +
                   std::to_string(wrong->run.run_id)),
            wrong_journals);
  EXPECT_EQ(collateral(a), a1);
  EXPECT_EQ(collateral(b), b1);
  EXPECT_EQ(collateral(c), c1);

  // The same prices again: refused, nothing posted.
  const auto unchanged = settle_day(kDay2);
  ASSERT_FALSE(unchanged);
  EXPECT_EQ(unchanged.error().refusal, SettleRefusal::date_reversed_without_correction);
  // Corrected (a new version of the day's prices and curve set): attempt 2, from day 1's run, the
  // figures of the uninterrupted two days.
  enter_market_data(kDay2, 21'600, 21'200, 21'000, "March mistyped: 2.1600");
  const auto again = settle_day(kDay2);
  ASSERT_TRUE(again) << again.error().detail;
  EXPECT_EQ(again->run.attempt, 2);
  EXPECT_EQ(again->run.previous_run_id, first->run.run_id);
  EXPECT_NE(again->run.curve_set_id, wrong->run.curve_set_id);
  run([&](pqxx::transaction_base& tx) {
    const auto members = member_variation_margin(tx, again->run.run_id, std::nullopt);
    ASSERT_EQ(members.size(), 3u);
    EXPECT_EQ(members[0].vm_minor, 419'328);
    // The member's history: day 1, the reversed run, the run again.
    const auto history = member_variation_margin_history(tx, b, std::nullopt, 10);
    ASSERT_EQ(history.size(), 3u);
    EXPECT_EQ(history[0].run_id, again->run.run_id);
    EXPECT_EQ(history[0].state, RunState::completed);
    EXPECT_EQ(history[1].run_id, wrong->run.run_id);
    EXPECT_EQ(history[1].state, RunState::reversed);
    EXPECT_EQ(history[2].run_id, first->run.run_id);
  });
  // The books: as if only the two right days had been settled (their totals sum to each member's
  // change), the original, reversal and new journals all there.
  run([&](pqxx::transaction_base& tx) {
    for (const auto& [member, before] : std::vector<std::pair<MemberId, std::int64_t>>{{a, a0}, {b, b0}, {c, c0}}) {
      std::int64_t totals = 0;
      for (const auto run_id : {first->run.run_id, again->run.run_id}) {
        const auto figures = member_variation_margin(tx, run_id, member);
        if (!figures.empty()) totals += figures[0].total_minor;
      }
      EXPECT_EQ(collateral(member) - before, totals) << member.to_string();
    }
  });
  EXPECT_EQ(scalar("SELECT count(*) FROM ledger.journal WHERE kind = 'variation_margin'"), 9);
  EXPECT_EQ(scalar("SELECT count(*) FROM ledger.journal WHERE kind = 'reversal'"), 3);
  EXPECT_EQ(scalar("SELECT count(*) FROM cch.outbox WHERE topic = 'settlement.run_reversed'"), 1);
}

TEST_F(SettlementRuns, TheDailyScheduleSettlesEachBusinessDayOnceAfterItsMinute) {
  const auto at = [](const char* text) { return registry::fixture::at(text); };
  // 22:00 UTC (minute 1320): not before, not on a Saturday, not on a holiday (Martin Luther King
  // Day, Monday 18 January 2027), never with -1.
  EXPECT_EQ(scheduled_business_date(at("2027-01-13T21:59:59Z"), 1320, kCalendar), std::nullopt);
  EXPECT_EQ(scheduled_business_date(at("2027-01-13T22:00:00Z"), 1320, kCalendar), kDay1);
  EXPECT_EQ(scheduled_business_date(at("2027-01-16T23:00:00Z"), 1320, kCalendar), std::nullopt);
  EXPECT_EQ(scheduled_business_date(at("2027-01-18T23:00:00Z"), 1320, kCalendar), std::nullopt);
  EXPECT_EQ(scheduled_business_date(at("2027-01-13T23:00:00Z"), -1, kCalendar), std::nullopt);

  trade();
  // Due, but the day's prices are not in yet: refused, and tried again at the next check.
  const auto early = settle_on_schedule(*fixture.pool, kCalendar, at("2027-01-13T22:01:00Z"), 1320, 1000, 0);
  ASSERT_TRUE(early.has_value());
  ASSERT_FALSE(*early);
  EXPECT_EQ(early->error().refusal, SettleRefusal::no_curve_set);
  enter_market_data(kDay1, 21'500, 21'000, 21'000);
  EXPECT_EQ(settle_on_schedule(*fixture.pool, kCalendar, at("2027-01-13T21:59:00Z"), 1320, 1000, 0), std::nullopt);
  const auto settled = settle_on_schedule(*fixture.pool, kCalendar, at("2027-01-13T22:02:00Z"), 1320, 1000, 0);
  ASSERT_TRUE(settled.has_value());
  ASSERT_TRUE(*settled) << (*settled).error().detail;
  EXPECT_EQ((*settled)->run.business_date, kDay1);
  EXPECT_EQ((*settled)->run.started_by, "cch-settlement (schedule)");
  EXPECT_EQ((*settled)->run.state, RunState::completed);
  // Settled: nothing more that day.
  EXPECT_EQ(settle_on_schedule(*fixture.pool, kCalendar, at("2027-01-13T22:03:00Z"), 1320, 1000, 0), std::nullopt);
  EXPECT_EQ(scalar("SELECT count(*) FROM settlement.run"), 1);
}

TEST_F(SettlementRuns, RefusalsNameTheirReasonAndPostNothing) {
  trade();
  // A Saturday, a date after today, a date without a curve set.
  const auto saturday = settle_day(date("2027-01-09"));
  ASSERT_FALSE(saturday);
  EXPECT_EQ(saturday.error().refusal, SettleRefusal::not_a_business_date);
  const auto future = settle_day(date("2027-01-19"));  // the Tuesday after (Monday is a holiday)
  ASSERT_FALSE(future);
  EXPECT_EQ(future.error().refusal, SettleRefusal::business_date_in_future);
  const auto no_curves = settle_day(kDay1);
  ASSERT_FALSE(no_curves);
  EXPECT_EQ(no_curves.error().refusal, SettleRefusal::no_curve_set);
  // A product with open legs and no price of the day: named.
  const ProductId other = make_product("b200-sxm-us-east", 8);
  run([&](pqxx::transaction_base& tx) {
    for (const MemberId member : {a, b}) ASSERT_TRUE(registry::authorise_member(tx, member, other, "ops"));
    registry::fixture::publish_months(tx, other, 30'000);
  });
  auto terms = march(a, b, 8, 30'000);
  terms.product = other;
  ASSERT_TRUE(clear_on(terms, "B200-1"));
  enter_market_data(kDay1, 21'500, 21'000, 21'000);
  const auto missing = settle_day(kDay1);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().refusal, SettleRefusal::settlement_prices_missing);
  EXPECT_NE(missing.error().detail.find("b200-sxm-us-east"), std::string::npos) << missing.error().detail;
  EXPECT_EQ(scalar("SELECT count(*) FROM settlement.run"), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM ledger.journal WHERE kind = 'variation_margin'"), 0);
}

TEST_F(SettlementRuns, AStopBeforeAnyStepCommitsLeavesThatStepUndoneAndSettlingAgainFinishesTheSameRun) {
  trade();
  enter_market_data(kDay1, 21'500, 21'000, 21'000);
  for (const RunStep stop_at : kRunSteps) {
    const auto stopped = [&] {
      try {
        const auto settled = settle_day(kDay1, [&](RunStep step) {
          if (step == stop_at) throw Stopped("stopped before the commit of " + std::string(to_string(step)));
        });
        if (!settled) ADD_FAILURE() << to_string(settled.error().refusal) << ": " << settled.error().detail;
      } catch (const Stopped&) {
        return true;
      }
      return false;
    }();
    EXPECT_TRUE(stopped) << to_string(stop_at);
    EXPECT_EQ(scalar("SELECT count(*) FROM settlement.run_step WHERE step = '" + std::string(to_string(stop_at)) + "'"),
              0)
        << "a step stopped before its commit is not recorded: " << to_string(stop_at);
  }
  // Settled without a stop: the same run (one), every step, one journal per member.
  const auto finished = settle_day(kDay1);
  ASSERT_TRUE(finished) << finished.error().detail;
  EXPECT_EQ(finished->run.state, RunState::completed);
  EXPECT_EQ(finished->run.steps.size(), 5u);
  EXPECT_EQ(scalar("SELECT count(*) FROM settlement.run"), 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM ledger.journal WHERE kind = 'variation_margin'"), 3);
  EXPECT_EQ(scalar("SELECT count(*) FROM cch.outbox WHERE topic = 'settlement.run_completed'"), 1);
  // The figures of an uninterrupted run (the test above), and each step recorded once.
  run([&](pqxx::transaction_base& tx) {
    const auto members = member_variation_margin(tx, finished->run.run_id, std::nullopt);
    ASSERT_EQ(members.size(), 3u);
    EXPECT_EQ(members[0].total_minor, 209'664);
    EXPECT_EQ(members[1].total_minor, -members[2].total_minor - 209'664);
    EXPECT_LE(std::abs(members[2].total_minor + 95'232), 100);
  });
  EXPECT_EQ(scalar("SELECT count(*) FROM settlement.run_step"), 5);
  EXPECT_EQ(scalar("SELECT count(*) FROM settlement.member_product_vm"), 4);
}

TEST_F(SettlementRuns, AConcurrentSettlementOfTheSameDateIsRefusedAndOnlyOneRunPosts) {
  trade();
  enter_market_data(kDay1, 21'500, 21'000, 21'000);
  std::promise<void> inside;
  std::promise<void> go_on;
  auto go = go_on.get_future().share();
  auto holder = std::async(std::launch::async, [&] {
    return settle_day(kDay1, [&](RunStep step) {
      if (step == RunStep::variation_margin) {
        inside.set_value();
        go.wait();
      }
    });
  });
  inside.get_future().wait();
  const auto concurrent = settle_day(kDay1);
  ASSERT_FALSE(concurrent);
  EXPECT_EQ(concurrent.error().refusal, SettleRefusal::settlement_run_in_progress);
  go_on.set_value();
  const auto held = holder.get();
  ASSERT_TRUE(held) << held.error().detail;
  EXPECT_EQ(held->run.state, RunState::completed);
  EXPECT_EQ(scalar("SELECT count(*) FROM settlement.run"), 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM ledger.journal WHERE kind = 'variation_margin'"), 3);
}

}  // namespace
}  // namespace cch::settlement

#include "cch/db/migrate.hpp"
#include "cch/sql/migrations.hpp"
#include "cch/testing/scratch_database.hpp"

#include <pqxx/nontransaction>

namespace cch::settlement {
namespace {

// A database with runs stored before the marks were partitioned by run (migration 0028): each
// run gets its partition, its marks move into it, each product's sums count the legs each run
// marked, the old table is gone, and the partitions refuse changes as the table did.
TEST(SettlementMigration, EarlierRunsMarksMoveIntoAPartitionEachAndTheirSumsCountEachRunsLegs) {
  testing::ScratchDatabase database;
  pqxx::connection connection(database.url());
  std::vector<std::pair<std::string_view, std::string_view>> before;
  std::vector<std::pair<std::string_view, std::string_view>> all;
  for (const auto& file : sql::migration_files()) {
    all.push_back(file);
    if (file.first < std::string_view("0028")) before.push_back(file);
  }
  ASSERT_TRUE(db::migrate(connection, db::make_migrations(before).value()));
  {
    pqxx::nontransaction tx(connection);
    // Rows as two runs stored them then (foreign keys aside: what they point at is not the point).
    tx.exec("SET session_replication_role = replica");
    tx.exec("INSERT INTO settlement.run (run_id, business_date, attempt, state, curve_set_id, previous_run_id, "
            "previous_curve_set_id, ois_snapshot_id, overnight_tenor, overnight_rate_e8, interest_days, "
            "interest_rate_e8, cut_off, started_by, completed_at) OVERRIDING SYSTEM VALUE VALUES "
            "(5, '2027-01-13', 1, 'completed', 1, NULL, NULL, 1, '1D', 0, 0, 0, '2027-01-14', 'ops', now()), "
            "(6, '2027-01-14', 1, 'completed', 2, 5, 1, 1, '1D', 0, 1, 0, '2027-01-15', 'ops', now())");
    // Run 5 marked trades 1 and 2; run 6 trade 1 again and trade 3 (trade 2 ended).
    tx.exec("INSERT INTO settlement.leg_mark VALUES "
            "(5, 1, 'buy', 10, 20, 'forward', 100), (5, 1, 'sell', 11, 20, 'forward', -100), "
            "(5, 2, 'buy', 10, 20, 'forward', 40), (5, 2, 'sell', 11, 20, 'forward', -40), "
            "(6, 1, 'buy', 10, 20, 'forward', 130), (6, 1, 'sell', 11, 20, 'forward', -130), "
            "(6, 3, 'buy', 11, 20, 'forward', 7), (6, 3, 'sell', 10, 20, 'forward', -7)");
    // The sums then counted the legs of either run.
    tx.exec("INSERT INTO settlement.member_product_vm VALUES "
            "(5, 10, 20, 'forward', 2, 140, 0, 140), (5, 11, 20, 'forward', 2, -140, 0, -140), "
            "(6, 10, 20, 'forward', 3, 123, 140, -17), (6, 11, 20, 'forward', 3, -123, -140, 17)");
    tx.exec("SET session_replication_role = origin");
  }
  ASSERT_TRUE(db::migrate(connection, db::make_migrations(all).value()));
  pqxx::nontransaction tx(connection);
  const auto count = [&](const std::string& sql) { return tx.exec1(sql)[0].as<std::int64_t>(); };
  EXPECT_EQ(count("SELECT count(*) FROM settlement.leg_mark_5"), 4);
  EXPECT_EQ(count("SELECT count(*) FROM settlement.leg_mark_6"), 4);
  EXPECT_EQ(count("SELECT sum(pv_minor) FROM settlement.leg_mark WHERE run_id = 6 AND member_id = 10"), 123);
  EXPECT_EQ(count("SELECT count(*) FROM pg_inherits WHERE inhparent = 'settlement.leg_mark'::regclass"), 2);
  EXPECT_TRUE(tx.exec1("SELECT to_regclass('settlement.leg_mark_unpartitioned') IS NULL")[0].as<bool>());
  const auto sums = tx.exec(
      "SELECT run_id, member_id, legs, previous_legs FROM settlement.member_product_vm ORDER BY run_id, member_id");
  ASSERT_EQ(sums.size(), 4U);
  const std::vector<std::array<std::int64_t, 4>> expected{{5, 10, 2, 0}, {5, 11, 2, 0}, {6, 10, 2, 2}, {6, 11, 2, 2}};
  for (std::size_t i = 0; i < sums.size(); ++i) {
    for (std::size_t j = 0; j < 4; ++j) EXPECT_EQ(sums[i][static_cast<int>(j)].as<std::int64_t>(), expected[i][j]);
  }
  // Records still: through the table or its partition.
  EXPECT_THROW(tx.exec("UPDATE settlement.leg_mark SET pv_minor = 0 WHERE run_id = 5"), pqxx::sql_error);
  EXPECT_THROW(tx.exec("DELETE FROM settlement.leg_mark_6"), pqxx::sql_error);
  EXPECT_THROW(tx.exec("TRUNCATE settlement.leg_mark_5"), pqxx::sql_error);
  EXPECT_THROW(tx.exec("UPDATE settlement.member_product_vm SET legs = 9"), pqxx::sql_error);
  // A run that is not running gets no table, nor has one attached; a mark of a run without a
  // partition goes nowhere.
  EXPECT_THROW(tx.exec("SELECT settlement.add_leg_mark_partition(6)"), pqxx::sql_error);
  EXPECT_THROW(tx.exec("SELECT settlement.attach_leg_mark_partition(6)"), pqxx::sql_error);
  EXPECT_THROW(tx.exec("INSERT INTO settlement.leg_mark VALUES (7, 1, 'buy', 10, 20, 'forward', 1)"), pqxx::sql_error);
}

}  // namespace
}  // namespace cch::settlement
