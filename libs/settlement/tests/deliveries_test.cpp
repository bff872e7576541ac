// Delivery and expiry against a real PostgreSQL: a physically settled trade delivered in full one
// day and short the next (pro rata, buy-in), one disputed and failed (escrow, buy-in, a risk
// officer's decision), a cash-settled one against the average of its index's fixings, every
// figure computed by hand to the cent; the reports' and answers' refusals; runs blocked by
// missing fixings; a reversal undoing the deliveries' journals.
#include "cch/settlement/deliveries.hpp"
#include "cch/settlement/statements.hpp"
#include "settlement_fixture.hpp"

#include <pqxx/result>

namespace cch::settlement {
namespace {

using fixture::date;
using registry::fixture::at;

constexpr const char* kIndex = "GPUIDX-H100";

class Deliveries : public fixture::SettlementRuns {
 protected:
  void SetUp() override {
    SettlementRuns::SetUp();
    registry::NewProduct wanted;
    wanted.spec.code = "h100-index-us-east";
    wanted.spec.gpu_model = "H100";
    wanted.spec.form_factor = "sxm";
    wanted.spec.min_interconnect = "infiniband-400g";
    wanted.spec.region = "us-east";
    wanted.spec.node_block_gpus = 8;
    wanted.spec.settlement = registry::SettlementType::cash;
    wanted.spec.cash_index = kIndex;
    wanted.spec.tick_size_ticks = 50;
    wanted.spec.listing_horizon_days = 365;
    wanted.position_limit_gpu_hours = 10'000'000;
    wanted.fee_per_gpu_hour = PricePerGpuHour{0};
    wanted.created_by = "ops";
    cash_product =
        run([&](pqxx::transaction_base& tx) { return registry::create_product(tx, wanted).value().product.product_id; });
    run([&](pqxx::transaction_base& tx) {
      for (const MemberId member : {a, b, c}) ASSERT_TRUE(registry::authorise_member(tx, member, cash_product, "ops"));
      registry::fixture::publish_months(tx, cash_product, 21'000);
    });
  }

  // 8 GPUs from 13 January 00:00 to 15 January 00:00 (192 GPU-hours a day), cleared on the 12th.
  TradeId two_days(ProductId of, MemberId buyer, MemberId seller, std::int64_t price, const std::string& reference) {
    registry::TradeTerms terms = march(buyer, seller, 8, price);
    terms.product = of;
    terms.delivery_start = at("2027-01-13T00:00:00Z");
    terms.delivery_end = at("2027-01-15T00:00:00Z");
    const auto cleared = clear_on(terms, reference);
    EXPECT_TRUE(cleared) << (cleared ? "" : cleared.error().detail);
    return cleared ? cleared->trade_id : TradeId(1);
  }

  void fixing(BusinessDate day, std::int64_t ticks) {
    run([&](pqxx::transaction_base& tx) {
      const auto rules = market::market_rules("united_states_settlement", "", BusinessDate::containing(fixture::kNow));
      const market::Provenance provenance{"test", "test", fixture::kNow, "ops", std::nullopt, std::nullopt};
      std::vector<market::ProductTerms> products;
      for (const ProductId id : {product, cash_product}) {
        const auto found = registry::find_product(tx, id).value();
        products.push_back({id, found.spec.code, found.spec.tick_size_ticks, found.spec.cash_index});
      }
      ASSERT_TRUE(market::store_index_fixing(tx, kIndex, day, PricePerGpuHour{ticks}, provenance, rules, products));
    });
  }

  DeliveryActor member(MemberId id) { return DeliveryActor{id, "member-" + id.to_string(), std::nullopt}; }
  static DeliveryActor risk_officer() { return DeliveryActor{std::nullopt, "risk", std::nullopt}; }

  Result<DeliveryDay, DeliveryError> report(TradeId trade, MemberId by, const char* day, std::int64_t hours) {
    return run([&](pqxx::transaction_base& tx) {
      return report_delivery(tx, trade, date(day), hours, member(by), fixture::kNow);
    });
  }

  std::int64_t frozen(MemberId id) {
    return scalar("SELECT COALESCE(-sum(p.amount_minor), 0) FROM ledger.posting p JOIN ledger.account a USING "
                  "(account_id) WHERE a.kind = 'delivery_settlement' AND a.member_id = " +
                  id.to_string());
  }

  ProductId cash_product = ProductId(1);
};

TEST_F(Deliveries, TradesEndingByTheCutOffSettleAtTheHandComputedFiguresAndADisputeIsDecidedLater) {
  // P1: bravo buys from charlie at 2.1000, delivered in full on the 13th (confirmed) and 144 of 192
  // GPU-hours on the 14th (an outage; unanswered: deemed confirmed).
  const TradeId p1 = two_days(product, b, c, 21'000, "P1");
  // P2: alpha buys from bravo at 2.1000; on the 13th bravo reports 180, alpha says 120 (disputed);
  // the 14th bravo never reports (failed).
  const TradeId p2 = two_days(product, a, b, 21'000, "P2");
  // C1: alpha buys the index's cash-settled contract from charlie at 2.3000.
  const TradeId c1 = two_days(cash_product, a, c, 23'000, "C1");

  ASSERT_TRUE(report(p1, c, "2027-01-13", 192));
  ASSERT_TRUE(report(p1, c, "2027-01-14", 144));
  ASSERT_TRUE(report(p2, b, "2027-01-13", 180));
  run([&](pqxx::transaction_base& tx) {
    ASSERT_TRUE(confirm_delivery(tx, p1, date("2027-01-13"), member(b)));
    const auto disputed = dispute_delivery(tx, p2, date("2027-01-13"), 120, "nodes unreachable for 7.5 hours", member(a));
    ASSERT_TRUE(disputed) << disputed.error().detail;
    EXPECT_EQ(disputed->answer, "disputed");
    EXPECT_EQ(disputed->buyer_gpu_hours, 120);
  });

  const std::int64_t a0 = collateral(a), b0 = collateral(b), c0 = collateral(c);
  enter_market_data(kDay2, 21'500, 21'000, 21'000);
  // Without fixings the run is refused and nothing is created: the cash trade needs both days'.
  const auto blocked = settle_day(kDay2);
  ASSERT_FALSE(blocked);
  EXPECT_EQ(blocked.error().refusal, SettleRefusal::index_fixings_missing);
  EXPECT_NE(blocked.error().detail.find("GPUIDX-H100 2027-01-13"), std::string::npos) << blocked.error().detail;
  EXPECT_EQ(scalar("SELECT count(*) FROM settlement.run"), 0);
  fixing(date("2027-01-13"), 22'000);
  fixing(date("2027-01-14"), 25'000);
  // The index names the physical product's buy-ins only once an operator sets it.
  const auto no_buy_in = settle_day(kDay2);
  ASSERT_FALSE(no_buy_in);
  EXPECT_EQ(no_buy_in.error().refusal, SettleRefusal::buy_in_price_missing);
  run([&](pqxx::transaction_base& tx) {
    EXPECT_EQ(set_buy_in_index(tx, product, "NO-SUCH-INDEX", "ops").error().refusal, DeliveryRefusal::unknown_index);
    EXPECT_EQ(set_buy_in_index(tx, cash_product, kIndex, "ops").error().refusal,
              DeliveryRefusal::not_physically_settled);
    EXPECT_EQ(set_buy_in_index(tx, product, kIndex, "ops").value(), 1);
  });

  const auto settled = settle_day(kDay2);
  ASSERT_TRUE(settled) << settled.error().detail;
  ASSERT_EQ(settled->run.steps.size(), 5u);
  EXPECT_EQ(settled->run.steps[3].step, RunStep::deliveries);
  const std::int64_t run_id = settled->run.run_id;

  const auto deliveries = run([&](pqxx::transaction_base& tx) { return trade_deliveries(tx, run_id, std::nullopt); });
  ASSERT_EQ(deliveries.size(), 3u);
  // P1: 336 GPU-hours delivered x 2.1000 = 705.60; 48 short on the 14th, index 2.5000: buy-in
  // 48 x ((2.5000 - 2.1000) + 10 % x 2.5000) = 48 x 0.6500 = 31.20.
  const TradeDelivery& d1 = deliveries[0];
  EXPECT_EQ(d1.trade, p1);
  EXPECT_EQ(d1.contract_gpu_hours, 384);
  EXPECT_EQ(d1.delivered_gpu_hours, 336);
  EXPECT_EQ(d1.shortfall_gpu_hours, 48);
  EXPECT_EQ(d1.payment_minor, 70'560);
  EXPECT_EQ(d1.buy_in_minor, 3'120);
  EXPECT_EQ(d1.escrow_minor, 0);
  EXPECT_EQ(member_amount(d1, b), -67'440);
  EXPECT_EQ(member_amount(d1, c), 67'440);
  // P2: 120 delivered (alpha's figure) x 2.1000 = 252.00; 60 disputed: 126.00 frozen; short 12
  // on the 13th (index 2.2000: 12 x (0.1000 + 0.2200) = 3.84) and 192 on the 14th (192 x (0.4000
  // + 0.2500) = 124.80): buy-in 128.64.
  const TradeDelivery& d2 = deliveries[1];
  EXPECT_EQ(d2.trade, p2);
  EXPECT_EQ(d2.delivered_gpu_hours, 120);
  EXPECT_EQ(d2.disputed_gpu_hours, 60);
  EXPECT_EQ(d2.shortfall_gpu_hours, 204);
  EXPECT_EQ(d2.payment_minor, 25'200);
  EXPECT_EQ(d2.escrow_minor, 12'600);
  EXPECT_EQ(d2.buy_in_minor, 12'864);
  EXPECT_EQ(d2.buy_in_penalty_bps, 1000);
  EXPECT_EQ(d2.buy_in_index, kIndex);
  // C1: 192 x (2.2000 - 2.3000) + 192 x (2.5000 - 2.3000) = 19.20 to alpha; the average fixing
  // is 2.3500 (hours x fixings 9,024,000 / 384).
  const TradeDelivery& d3 = deliveries[2];
  EXPECT_EQ(d3.trade, c1);
  EXPECT_EQ(d3.settlement, "cash");
  EXPECT_EQ(d3.cash_settlement_minor, 1'920);
  EXPECT_EQ(d3.index_tick_gpu_hours, "9024000");

  // Per member, one journal each: alpha -252.00 - 126.00 + 128.64 + 19.20 = -230.16 (and 126.00
  // frozen), bravo -705.60 + 31.20 + 252.00 - 128.64 = -551.04, charlie 705.60 - 31.20 - 19.20 =
  // 655.20.
  EXPECT_EQ(collateral(a) - a0, -23'016);
  EXPECT_EQ(collateral(b) - b0, -55'104);
  EXPECT_EQ(collateral(c) - c0, 65'520);
  EXPECT_EQ(frozen(a), 12'600);
  const auto members = run([&](pqxx::transaction_base& tx) { return member_deliveries(tx, run_id, std::nullopt); });
  ASSERT_EQ(members.size(), 3u);
  for (const auto& m : members) EXPECT_TRUE(m.journal.has_value());
  EXPECT_EQ(scalar("SELECT count(*) FROM ledger.journal WHERE kind = 'delivery_settlement' AND cause_reference = '" +
                   std::to_string(run_id) + "'"),
            3);
  EXPECT_EQ(scalar("SELECT COALESCE(sum(p.amount_minor), 0) FROM ledger.posting p JOIN ledger.account a USING "
                   "(account_id) WHERE a.kind = 'delivery_clearing'"),
            0);

  // The days as the parties see them, and what is closed now.
  const auto days = run([&](pqxx::transaction_base& tx) { return delivery_days(tx, p2, a).value(); });
  ASSERT_EQ(days.size(), 2u);
  EXPECT_EQ(days[0].basis, "disputed");
  EXPECT_EQ(days[0].escrow_minor, 12'600);
  EXPECT_EQ(days[0].index_ticks, 22'000);
  EXPECT_EQ(days[1].basis, "not_reported");
  EXPECT_EQ(days[1].shortfall_gpu_hours, 192);
  EXPECT_EQ(run([&](pqxx::transaction_base& tx) { return delivery_days(tx, p2, c); }).error().refusal,
            DeliveryRefusal::unknown_trade);
  EXPECT_EQ(report(p2, b, "2027-01-14", 10).error().refusal, DeliveryRefusal::trade_settled);

  // The risk officer decides 150 delivered: the seller gets 30 x 2.1000 = 63.00 of the escrow, the
  // buyer 63.00 back and the buy-in of 30 hours at 2.2000 (30 x 0.3200 = 9.60) from the seller.
  const std::int64_t a1 = collateral(a), b1 = collateral(b);
  run([&](pqxx::transaction_base& tx) {
    EXPECT_EQ(decide_dispute(tx, p2, date("2027-01-13"), 181, "logs", risk_officer(), fixture::kNow).error().refusal,
              DeliveryRefusal::decision_out_of_range);
    const auto decided =
        decide_dispute(tx, p2, date("2027-01-13"), 150, "monitoring shows 150 GPU-hours", risk_officer(), fixture::kNow);
    ASSERT_TRUE(decided) << decided.error().detail;
    EXPECT_TRUE(decided->decision_journal.has_value());
    EXPECT_EQ(decide_dispute(tx, p2, date("2027-01-13"), 150, "again", risk_officer(), fixture::kNow).error().refusal,
              DeliveryRefusal::already_decided);
  });
  EXPECT_EQ(collateral(a) - a1, 6'300 + 960);
  EXPECT_EQ(collateral(b) - b1, 6'300 - 960);
  EXPECT_EQ(frozen(a), 0);
  // The run's escrow has been moved: it can no longer be reversed on its own.
  const auto reversed = reverse_run(*fixture.pool, {run_id, "wrong fixings", "ops", std::nullopt, fixture::kNow});
  ASSERT_FALSE(reversed);
  EXPECT_EQ(reversed.error().refusal, SettleRefusal::disputes_decided_since);
  EXPECT_EQ(scalar("SELECT count(*) FROM ledger.journal WHERE kind = 'reversal'"), 0);
}

TEST_F(Deliveries, ReportsAndAnswersAreRefusedWithTheirReasons) {
  const TradeId p1 = two_days(product, b, c, 21'000, "P1");
  const TradeId c1 = two_days(cash_product, a, c, 23'000, "C1");
  EXPECT_EQ(report(p1, b, "2027-01-13", 10).error().refusal, DeliveryRefusal::not_the_seller);
  EXPECT_EQ(report(p1, a, "2027-01-13", 10).error().refusal, DeliveryRefusal::unknown_trade);
  EXPECT_EQ(report(p1, c, "2027-01-15", 10).error().refusal, DeliveryRefusal::day_outside_window);
  EXPECT_EQ(report(p1, c, "2027-01-13", 193).error().refusal, DeliveryRefusal::delivered_exceeds_contract);
  EXPECT_EQ(report(c1, c, "2027-01-13", 10).error().refusal, DeliveryRefusal::not_physically_settled);
  const auto early = run([&](pqxx::transaction_base& tx) {
    return report_delivery(tx, p1, date("2027-01-14"), 10, member(c), at("2027-01-13T12:00:00Z"));
  });
  EXPECT_EQ(early.error().refusal, DeliveryRefusal::day_not_begun);
  ASSERT_TRUE(report(p1, c, "2027-01-13", 100));
  EXPECT_EQ(report(p1, c, "2027-01-13", 100).error().refusal, DeliveryRefusal::already_reported);
  run([&](pqxx::transaction_base& tx) {
    EXPECT_EQ(confirm_delivery(tx, p1, date("2027-01-13"), member(c)).error().refusal, DeliveryRefusal::not_the_buyer);
    EXPECT_EQ(confirm_delivery(tx, p1, date("2027-01-14"), member(b)).error().refusal, DeliveryRefusal::not_reported);
    EXPECT_EQ(dispute_delivery(tx, p1, date("2027-01-13"), 100, "same", member(b)).error().refusal,
              DeliveryRefusal::invalid_dispute);
    EXPECT_EQ(dispute_delivery(tx, p1, date("2027-01-13"), 50, "", member(b)).error().refusal,
              DeliveryRefusal::invalid_reason);
    EXPECT_EQ(decide_dispute(tx, p1, date("2027-01-13"), 60, "x", risk_officer(), fixture::kNow).error().refusal,
              DeliveryRefusal::not_disputed);
  });
  run([&](pqxx::transaction_base& tx) { ASSERT_TRUE(confirm_delivery(tx, p1, date("2027-01-13"), member(b))); });
  run([&](pqxx::transaction_base& tx) {
    EXPECT_EQ(dispute_delivery(tx, p1, date("2027-01-13"), 50, "late", member(b)).error().refusal,
              DeliveryRefusal::already_answered);
  });
  // Nothing refused was written: one report, one answer.
  EXPECT_EQ(scalar("SELECT count(*) FROM settlement.delivery_report"), 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM settlement.delivery_answer"), 1);
}

TEST_F(Deliveries, ADisputeDecidedBeforeTheRunIsSettledOnTheDecisionAndAReversalUndoesTheDeliveries) {
  const TradeId p1 = two_days(product, b, c, 21'000, "P1");
  ASSERT_TRUE(report(p1, c, "2027-01-13", 192));
  ASSERT_TRUE(report(p1, c, "2027-01-14", 192));
  run([&](pqxx::transaction_base& tx) {
    ASSERT_TRUE(dispute_delivery(tx, p1, date("2027-01-14"), 100, "half the nodes were down", member(b)));
    const auto decided = decide_dispute(tx, p1, date("2027-01-14"), 180, "12 GPU-hours lost", risk_officer(),
                                        fixture::kNow);
    ASSERT_TRUE(decided) << decided.error().detail;
    EXPECT_FALSE(decided->decision_journal.has_value());  // nothing settled yet: the run uses it
    ASSERT_TRUE(set_buy_in_index(tx, product, kIndex, "ops"));
  });
  fixing(date("2027-01-14"), 20'000);  // below the contract price: the buy-in is the penalty alone
  const std::int64_t b0 = collateral(b), c0 = collateral(c);
  enter_market_data(kDay2, 21'500, 21'000, 21'000);
  // With a settlement fee of 0.0010 per GPU-hour settled.
  auto with_fee = request(kDay2);
  with_fee.delivery_fee_ticks_per_gpu_hour = 10;
  const auto settled = settle(*fixture.pool, with_fee);
  ASSERT_TRUE(settled) << settled.error().detail;
  // 372 GPU-hours x 2.1000 = 781.20; 12 short at 2.0000: 12 x 10 % x 2.0000 = 2.40; each side's
  // fee 372 x 0.0010 = 0.372, 0.37.
  EXPECT_EQ(collateral(b) - b0, -78'120 + 240 - 37);
  EXPECT_EQ(collateral(c) - c0, 78'120 - 240 - 37);
  EXPECT_EQ(scalar("SELECT COALESCE(-sum(p.amount_minor), 0) FROM ledger.posting p JOIN ledger.account a USING "
                   "(account_id) WHERE a.kind = 'fee_income' AND p.journal_id IN (SELECT journal_id FROM "
                   "settlement.member_delivery)"),
            74);
  run([&](pqxx::transaction_base& tx) {
    const auto members = member_deliveries(tx, settled->run.run_id, std::nullopt);
    ASSERT_EQ(members.size(), 2u);
    EXPECT_EQ(members[0].fees_minor, 37);
  });
  const auto days = run([&](pqxx::transaction_base& tx) { return delivery_days(tx, p1, std::nullopt).value(); });
  EXPECT_EQ(days[1].basis, "decided");
  EXPECT_EQ(days[1].delivered_gpu_hours, 180);
  // Reversed: the delivery journals are reversed with the run; the collateral as before.
  const auto reversed =
      reverse_run(*fixture.pool, {settled->run.run_id, "index fixing mistyped", "ops", std::nullopt, fixture::kNow});
  ASSERT_TRUE(reversed) << reversed.error().detail;
  EXPECT_EQ(collateral(b), b0);
  EXPECT_EQ(collateral(c), c0);
  EXPECT_EQ(scalar("SELECT COALESCE(sum(p.amount_minor), 0) FROM ledger.posting p JOIN ledger.account a USING "
                   "(account_id) WHERE a.kind = 'fee_income' AND p.journal_id IN (SELECT journal_id FROM "
                   "ledger.journal WHERE kind IN ('delivery_settlement', 'reversal'))"),
            0);
  EXPECT_EQ(scalar("SELECT count(*) FROM ledger.journal r JOIN settlement.member_delivery m ON m.journal_id = "
                   "r.reverses_journal_id WHERE r.kind = 'reversal'"),
            2);
  // No longer settled by a live run: the days read as unsettled again.
  const auto after = run([&](pqxx::transaction_base& tx) { return delivery_days(tx, p1, std::nullopt).value(); });
  EXPECT_FALSE(after[1].run_id.has_value());
}

TEST_F(Deliveries, AStatementShowsEachRunOfTheDateWithItsJournalsAndReconcilesTheCollateral) {
  const TradeId p1 = two_days(product, b, c, 21'000, "P1");
  ASSERT_TRUE(report(p1, c, "2027-01-13", 192));
  ASSERT_TRUE(report(p1, c, "2027-01-14", 192));
  enter_market_data(kDay2, 21'500, 21'000, 21'000);
  const auto first = settle_day(kDay2);
  ASSERT_TRUE(first) << first.error().detail;
  ASSERT_TRUE(reverse_run(*fixture.pool, {first->run.run_id, "prices mistyped", "ops", std::nullopt, fixture::kNow}));
  enter_market_data(kDay2, 21'600, 21'000, 21'000, "March corrected");
  const auto again = settle_day(kDay2);
  ASSERT_TRUE(again) << again.error().detail;
  EXPECT_EQ(again->run.attempt, 2);

  run([&](pqxx::transaction_base& tx) {
    EXPECT_FALSE(member_statement(tx, MemberId(999'999), kDay2).has_value());
    const auto statement = member_statement(tx, b, kDay2).value();
    // The original, reversed, with the journal that reversed its delivery journal; the run again.
    ASSERT_EQ(statement.runs.size(), 2u);
    EXPECT_EQ(statement.runs[0].run.state, RunState::reversed);
    ASSERT_TRUE(statement.runs[0].delivery_total.has_value());
    EXPECT_EQ(statement.runs[0].delivery_total->total_minor, -80'640);  // 384 x 2.1000
    ASSERT_TRUE(statement.runs[0].delivery_reversal.has_value());
    ASSERT_EQ(statement.runs[0].deliveries.size(), 1u);
    EXPECT_EQ(statement.runs[1].run.state, RunState::completed);
    EXPECT_FALSE(statement.runs[1].delivery_reversal.has_value());
    EXPECT_EQ(statement.runs[1].delivery_total->total_minor, -80'640);
    // The date's postings are the ledger's: both runs' delivery journals (the reversal is dated the
    // day it was made), and the collateral moved by exactly them.
    std::int64_t collateral_moved = 0;
    int delivery_journals = 0;
    for (const auto& posting : statement.postings) {
      if (posting.account_kind == "collateral") collateral_moved -= posting.amount.amount_minor;
      if (posting.kind == "delivery_settlement") ++delivery_journals;
      EXPECT_NE(posting.kind, "reversal");
    }
    EXPECT_EQ(delivery_journals, 2);
    EXPECT_FALSE(statement.postings_truncated);
    EXPECT_EQ(statement.closing_collateral_minor - statement.opening_collateral_minor, collateral_moved);
    EXPECT_EQ(collateral_moved, -2 * 80'640);
    // The day the trade cleared: its clearing fee, 384 GPU-hours x 0.0025 = 0.96 USD.
    const auto cleared = member_statement(tx, b, date("2027-01-12")).value();
    EXPECT_EQ(cleared.clearing_fees_minor, 96);
    EXPECT_TRUE(cleared.runs.empty());
    // Staff: every member's summary of the date, from the live run.
    const auto summaries = member_statement_summaries(tx, kDay2, std::nullopt, 100);
    ASSERT_EQ(summaries.size(), 3u);
    const auto& bravo = *std::find_if(summaries.begin(), summaries.end(), [&](const auto& s) { return s.member == b; });
    EXPECT_EQ(bravo.live_run_id, again->run.run_id);
    EXPECT_EQ(bravo.deliveries_minor, -80'640);
    EXPECT_EQ(bravo.closing_collateral_minor, statement.closing_collateral_minor);
  });
}

}  // namespace
}  // namespace cch::settlement
