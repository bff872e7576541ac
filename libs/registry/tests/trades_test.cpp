// Registration against a real scratch database: submission, affirmation with every pre-trade
// check, novation (legs, positions, fees, outbox), the lifecycle's refusals, idempotent and
// matching submissions, and a race on one member's credit limit.
#include "cch/registry/catalog.hpp"
#include "cch/registry/trades.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <pqxx/result>
#include <pqxx/transaction>

#include <algorithm>
#include <atomic>
#include <map>
#include <thread>

#include "cch/db/transaction.hpp"
#include "cch/ledger/post.hpp"
#include "cch/ledger/queries.hpp"
#include "registration_fixture.hpp"

namespace cch::registry {
namespace {

using fixture::at;
using fixture::kNow;
using fixture::publish_months;
using fixture::Registration;


TEST(MonthSlices, SplitAWindowAtUtcMonthBoundaries) {
  const auto slices = month_slices(at("2027-01-31T22:00:00Z"), at("2027-03-01T03:00:00Z"));
  ASSERT_EQ(slices.size(), 3U);
  EXPECT_EQ(slices[0].month.format(), "2027-01-01");
  EXPECT_EQ(slices[0].hours, 2);
  EXPECT_EQ(slices[1].month.format(), "2027-02-01");
  EXPECT_EQ(slices[1].hours, 28 * 24);
  EXPECT_EQ(slices[2].month.format(), "2027-03-01");
  EXPECT_EQ(slices[2].hours, 3);
  EXPECT_EQ(month_slices(at("2027-03-01T00:00:00Z"), at("2027-04-01T00:00:00Z")).size(), 1U);
}

TEST_F(Registration, AffirmationNovatesIntoLegsPositionsFeesAndAnOutboxEvent) {
  const auto submitted = submit(a, march(a, b), "A-1");
  ASSERT_TRUE(submitted) << submitted.error().detail;
  EXPECT_TRUE(submitted->created);
  EXPECT_EQ(submitted->trade.state, TradeState::pending_affirmation);
  EXPECT_EQ(submitted->trade.gpu_hours, 256 * 744);
  // 190,464 GPU-hours x 2.1450 = 408,545.28 USD
  EXPECT_EQ(submitted->trade.notional, (Money{40'854'528, Currency::usd()}));

  const auto cleared = affirm(b, submitted->trade.trade_id);
  ASSERT_TRUE(cleared) << cleared.error().detail;
  EXPECT_EQ(cleared->state, TradeState::cleared);
  ASSERT_TRUE(cleared->fee_journal.has_value());
  ASSERT_TRUE(cleared->clearing_fee.has_value());
  EXPECT_EQ(cleared->clearing_fee->amount_minor, 47'616);

  const auto id = cleared->trade_id.to_string();
  EXPECT_EQ(scalar("SELECT count(*) FROM cch.trade_leg WHERE trade_id = " + id), 2);
  EXPECT_EQ(scalar("SELECT count(*) FROM cch.outbox WHERE topic = 'trade.cleared' AND aggregate_id = " + id), 1);
  EXPECT_EQ(scalar("SELECT net_gpu_hours FROM cch.position WHERE member_id = " + a.to_string()), 190'464);
  EXPECT_EQ(scalar("SELECT net_gpu_hours FROM cch.position WHERE member_id = " + b.to_string()), -190'464);
  // 190,464 GPU-hours x 0.0025 = 476.16 USD per side, to the clearinghouse's fee income.
  EXPECT_EQ(scalar("SELECT sum(amount_minor) FROM ledger.posting WHERE journal_id = " +
                   cleared->fee_journal->to_string()),
            0);
  EXPECT_EQ(scalar("SELECT amount_minor FROM ledger.posting p JOIN ledger.account a USING (account_id) "
                   "WHERE journal_id = " + cleared->fee_journal->to_string() + " AND a.kind = 'fee_income'"),
            -2 * 47'616);
  // 10 % of the notional, rounded up to the cent, on each side.
  EXPECT_EQ(scalar("SELECT initial_margin_cents FROM cch.member_margin_state WHERE member_id = " + a.to_string()), 4'085'453);
  const auto events = run([&](pqxx::transaction_base& tx) { return trade_events(tx, cleared->trade_id); });
  ASSERT_EQ(events.size(), 2U);
  EXPECT_EQ(events[0].action, "submit");
  EXPECT_EQ(events[1].action, "affirm");
  EXPECT_EQ(events[1].to_state, "cleared");
}

TEST_F(Registration, PositionsOfAllMembersSumToZeroPerProductAndMonthAfterManyTrades) {
  const MemberId members[] = {a, b, c};
  int cleared = 0;
  for (int i = 0; i < 12; ++i) {
    const MemberId buyer = members[i % 3];
    const MemberId seller = members[(i + 1 + (i / 3) % 2) % 3];  // never the buyer
    TradeTerms terms = march(buyer, seller, 8 * (1 + i % 4), 21'000 + 50 * (i % 5));
    // Windows crossing month boundaries put volume in several months.
    terms.delivery_start = at("2027-02-20T00:00:00Z").add_microseconds(std::int64_t{3'600'000'000} * 7 * i).value();
    terms.delivery_end = at("2027-03-10T00:00:00Z").add_microseconds(std::int64_t{3'600'000'000} * 13 * i).value();
    const auto trade = clear_trade(terms, "R-" + std::to_string(i));
    ASSERT_TRUE(trade) << trade.error().detail;
    ++cleared;
  }
  EXPECT_EQ(cleared, 12);
  EXPECT_EQ(scalar("SELECT count(*) FROM (SELECT product_id, delivery_month FROM cch.position "
                   "GROUP BY 1, 2 HAVING sum(net_gpu_hours) <> 0 OR sum(bought_gpu_hours) <> sum(sold_gpu_hours)) x"),
            0);
  EXPECT_GE(scalar("SELECT count(DISTINCT delivery_month) FROM cch.position"), 2);
  // The clearinghouse's legs: it sold to every buyer and bought from every seller, so its own net
  // per product and month (the members' net, negated) is zero too.
  EXPECT_EQ(scalar("SELECT count(*) FROM (SELECT trade_id FROM cch.trade_leg GROUP BY trade_id "
                   "HAVING count(*) <> 2 OR sum(CASE side WHEN 'buy' THEN gpus ELSE -gpus END) <> 0) x"),
            0);
  EXPECT_EQ(scalar("SELECT count(*) FROM (SELECT journal_id FROM ledger.posting GROUP BY journal_id "
                   "HAVING sum(amount_minor) <> 0) x"),
            0);
}

TEST_F(Registration, TheSameReferenceTwiceAnswersTheFirstTrade) {
  const auto first = submit(a, march(a, b), "A-7");
  ASSERT_TRUE(first);
  const auto again = submit(a, march(a, b), "A-7");
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->trade.trade_id, first->trade.trade_id);
  const auto other_terms = submit(a, march(a, b, 512), "A-7");
  ASSERT_FALSE(other_terms);
  EXPECT_EQ(other_terms.error().refusal, TradeRefusal::reference_reused);
  // References are per member: B may use "A-7" for its own submissions.
  const auto bs = submit(b, march(c, b), "A-7");
  ASSERT_TRUE(bs);
  EXPECT_TRUE(bs->created);
  EXPECT_EQ(scalar("SELECT count(*) FROM cch.trade"), 2);
}

TEST_F(Registration, TwoMatchingSubmissionsClearOneTrade) {
  const auto from_buyer = submit(a, march(a, b), "BUY-1");
  ASSERT_TRUE(from_buyer);
  const auto from_seller = submit(b, march(a, b), "SELL-9");
  ASSERT_TRUE(from_seller) << from_seller.error().detail;
  EXPECT_TRUE(from_seller->matched);
  EXPECT_EQ(from_seller->trade.trade_id, from_buyer->trade.trade_id);
  EXPECT_EQ(from_seller->trade.state, TradeState::cleared);
  EXPECT_EQ(from_seller->trade.counterparty_reference, "SELL-9");
  // The seller's reference now names the trade too.
  const auto replay = submit(b, march(a, b), "SELL-9");
  ASSERT_TRUE(replay);
  EXPECT_EQ(replay->trade.trade_id, from_buyer->trade.trade_id);
  EXPECT_EQ(scalar("SELECT count(*) FROM cch.trade"), 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM cch.trade_leg"), 2);
}

TEST_F(Registration, SubmissionsThatAreNotWellFormedAreRefusedWithTheirReason) {
  const auto refused = [&](MemberId by, TradeTerms terms, std::string reference) {
    const auto outcome = submit(by, terms, reference);
    return outcome ? std::string("accepted") : std::string(to_string(outcome.error().refusal));
  };
  EXPECT_EQ(refused(a, march(a, b), ""), "invalid_reference");
  EXPECT_EQ(refused(a, march(a, b), "has space"), "invalid_reference");
  EXPECT_EQ(refused(a, march(a, a), "x1"), "same_member_both_sides");
  EXPECT_EQ(refused(c, march(a, b), "x2"), "not_a_party");
  TradeTerms unknown = march(a, b);
  unknown.product = ProductId(999'999);
  EXPECT_EQ(refused(a, unknown, "x3"), "unknown_product");
  TradeTerms stranger = march(a, MemberId(999'999));
  EXPECT_EQ(refused(a, stranger, "x4"), "unknown_member");
  TradeTerms half_hour = march(a, b);
  half_hour.delivery_end = at("2027-03-31T23:30:00Z");
  EXPECT_EQ(refused(a, half_hour, "x5"), "invalid_window");
  TradeTerms backwards = march(a, b);
  std::swap(backwards.delivery_start, backwards.delivery_end);
  EXPECT_EQ(refused(a, backwards, "x6"), "invalid_window");
  EXPECT_EQ(refused(a, march(a, b, 12), "x7"), "invalid_gpus");  // not a multiple of the node block of 8
  EXPECT_EQ(refused(a, march(a, b, 0), "x8"), "invalid_gpus");
  EXPECT_EQ(refused(a, march(a, b, 256, 0), "x9"), "invalid_price");
  EXPECT_EQ(refused(a, march(a, b, 256, 21'451), "x10"), "price_off_tick");
  TradeTerms series = march(a, b);
  series.series_label = "2027-13";
  EXPECT_EQ(refused(a, series, "x11"), "unknown_series");
  series.series_label = "2027-W53";  // 2027 has 52 ISO weeks
  EXPECT_EQ(refused(a, series, "x12"), "unknown_series");
  EXPECT_EQ(scalar("SELECT count(*) FROM cch.trade"), 0);
}

TEST_F(Registration, PricesWindowsAndLimitsHaveDocumentedMaxima) {
  const auto submitted = [&](TradeTerms terms, std::string reference) {
    const auto outcome = submit(a, terms, reference);
    return outcome ? std::string("accepted") : std::string(to_string(outcome.error().refusal));
  };
  // At most 1,000.0000 USD per GPU-hour.
  EXPECT_EQ(submitted(march(a, b, 256, 10'000'050), "p1"), "invalid_price");
  EXPECT_EQ(submitted(march(a, b, 256, 9'223'372'036'854'775'800), "p2"), "invalid_price");
  EXPECT_EQ(submitted(march(a, b, 256, 10'000'000), "p3"), "accepted");
  // A window of at most (1,096 + 1) days: longer ones could never clear.
  TradeTerms longest = march(a, b);
  longest.delivery_end = longest.delivery_start.add_microseconds(std::int64_t{3'600'000'000} * 1097 * 24).value();
  EXPECT_EQ(submitted(longest, "w1"), "accepted");
  TradeTerms too_long = longest;
  too_long.delivery_end = too_long.delivery_end.add_microseconds(std::int64_t{3'600'000'000}).value();
  EXPECT_EQ(submitted(too_long, "w2"), "invalid_window");
  TradeTerms centuries = march(a, b);
  centuries.delivery_end = at("9999-01-01T00:00:00Z");
  EXPECT_EQ(submitted(centuries, "w3"), "invalid_window");
  // The largest trade's notional and fee fit easily: 1,000,000 GPUs x 26,328 hours x 1,000 USD.
  TradeTerms largest = longest;
  largest.gpus = 1'000'000;
  largest.price = PricePerGpuHour{10'000'000};
  const auto big = submit(a, largest, "big");
  ASSERT_TRUE(big) << big.error().detail;
  EXPECT_EQ(big->trade.gpu_hours, 1'000'000LL * 1097 * 24);
  EXPECT_EQ(big->trade.notional.amount_minor, 1'000'000LL * 1097 * 24 * 1000 * 100);

  run([&](pqxx::transaction_base& tx) {
    // Settlement prices (the reference prices) at most 1,000.0000 USD per GPU-hour, too.
    const auto found = find_product(tx, product).value();
    const market::ProductTerms terms{product, found.spec.code, found.spec.tick_size_ticks, std::nullopt};
    const auto rules = market::market_rules("united_states_settlement", "", BusinessDate::containing(kNow));
    const market::Provenance provenance{"test", "test", kNow, "ops", std::nullopt, std::nullopt};
    const DeliveryPeriod march_2027 = parse_period_label("2027-03").value();
    const BusinessDate friday = BusinessDate::from_year_month_day(2027, 1, 15).value();
    const auto too_dear = market::store_settlement_prices(tx, terms, friday, {{march_2027, PricePerGpuHour{10'000'050}}},
                                                          provenance, rules);
    ASSERT_FALSE(too_dear);
    EXPECT_EQ(too_dear.error().refusal, market::MarketRefusal::invalid_price);
    EXPECT_TRUE(market::store_settlement_prices(tx, terms, friday, {{march_2027, PricePerGpuHour{10'000'000}}},
                                                provenance, rules));
    // A credit limit of at most 10,000,000,000,000.00 USD (10^15 cents).
    const auto too_much = set_credit_limit(tx, c, Money{1'000'000'000'000'001, Currency::usd()}, "risk");
    ASSERT_FALSE(too_much);
    EXPECT_EQ(too_much.error().reason, "invalid_limit");
    EXPECT_TRUE(set_credit_limit(tx, c, Money{1'000'000'000'000'000, Currency::usd()}, "risk"));
  });
}

TEST_F(Registration, AFuturesTradeNamesAListedSeriesWhosePeriodIsItsWindow) {
  TradeTerms terms = march(a, b);
  terms.series_label = "2027-Q2";
  terms.delivery_start = kNow;  // ignored: the series decides
  terms.delivery_end = kNow;
  const auto trade = clear_trade(terms, "F-1");
  ASSERT_TRUE(trade) << trade.error().detail;
  EXPECT_EQ(trade->terms.delivery_start, at("2027-04-01T00:00:00Z"));
  EXPECT_EQ(trade->terms.delivery_end, at("2027-07-01T00:00:00Z"));
  EXPECT_EQ(scalar("SELECT count(*) FROM cch.position WHERE member_id = " + a.to_string()), 3);  // April-June
  TradeTerms week = march(a, b);
  week.series_label = "2027-W10";
  const auto weekly = clear_trade(week, "F-2");
  ASSERT_TRUE(weekly) << weekly.error().detail;
  EXPECT_EQ(weekly->terms.delivery_start, at("2027-03-08T00:00:00Z"));  // Monday of ISO week 10
}

// Every pre-trade check refuses once, with its reason; the trade stays pending with the refusal
// recorded, and nothing is novated.
TEST_F(Registration, EveryPreTradeCheckRefusesWithItsReasonAndLeavesTheTradePending) {
  struct Case {
    std::string name;
    std::function<void()> arrange;
    std::function<TradeTerms()> terms;
    std::string expected;
    UtcTimestamp affirm_at = kNow;
  };
  const auto plain = [&] { return march(a, b); };
  const std::vector<Case> cases = {
      {"member_not_active", [&] { as_superuser("UPDATE cch.member SET status = 'suspended' WHERE code = 'alpha'"); },
       plain, "member_not_active"},
      {"product_not_authorised", [&] { as_superuser("DELETE FROM cch.member_product WHERE member_id = " + a.to_string()); },
       plain, "product_not_authorised"},
      {"product_not_trading", [&] { run([&](auto& tx) { ASSERT_TRUE(set_trading_status(tx, product, TradingStatus::halted)); }); },
       plain, "product_not_trading"},
      {"window_started", [&] { policy.affirmation_window = std::chrono::hours(24); },
       [&] {
         TradeTerms terms = march(a, b);
         terms.delivery_start = at("2027-01-15T11:00:00Z");
         terms.delivery_end = at("2027-01-16T00:00:00Z");
         return terms;
       },
       "window_started", at("2027-01-15T12:00:00Z")},
      {"window_beyond_horizon", [] {},
       [&] {
         TradeTerms terms = march(a, b);
         terms.delivery_start = at("2028-03-01T00:00:00Z");
         terms.delivery_end = at("2028-04-01T00:00:00Z");
         return terms;
       },
       "window_beyond_horizon"},
      {"series_not_listed", [] {},
       [&] {
         TradeTerms terms = march(a, b);
         terms.series_label = "2027-01";  // January 2027 is in progress on 15 January
         return terms;
       },
       "series_not_listed"},
      {"no_reference_price", [&] { run([&](auto& tx) { publish_months(tx, product, 21'000, 3); }); },
       plain, "no_reference_price"},
      {"price_outside_band", [] {}, [&] { return march(a, b, 256, 26'000); }, "price_outside_band"},  // +23.8 %
      {"position_limit_exceeded",
       [&] { run([&](auto& tx) { ASSERT_TRUE(set_position_limit(tx, a, product, 190'000, "risk")); }); }, plain,
       "position_limit_exceeded"},
      {"concentration_limit_exceeded",
       [&] { policy.concentration_floor_gpu_hours = 1; }, plain, "concentration_limit_exceeded"},
      {"initial_margin_exceeds_credit_limit",
       [&] { run([&](auto& tx) { ASSERT_TRUE(set_credit_limit(tx, a, Money{4'000'000, Currency::usd()}, "risk")); }); },
       plain, "initial_margin_exceeds_credit_limit"},
      {"insufficient_collateral", [&] { policy.concentration_floor_gpu_hours = 1'000'000'000'000; },
       [&] { return march(a, b, 256 * 13, 21'450); }, "insufficient_collateral"},
  };
  int index = 0;
  for (const auto& test : cases) {
    SCOPED_TRACE(test.name);
    // A fresh world per case: undo the previous case's arrangement.
    as_superuser("UPDATE cch.member SET status = 'active'; "
                 "INSERT INTO cch.member_product (member_id, product_id, authorised_by) SELECT member_id, " +
                 product.to_string() + ", 'ops' FROM cch.member ON CONFLICT DO NOTHING; "
                 "UPDATE cch.product SET trading_status = 'active'; "
                 "DELETE FROM cch.position_limit; UPDATE cch.member_limit SET credit_limit_minor = 100000000");
    run([&](auto& tx) { publish_months(tx, product, 21'000); });
    policy.concentration_floor_gpu_hours = 1'000'000;
    policy.affirmation_window = std::chrono::minutes(60);
    test.arrange();
    const auto submitted = submit(b, test.terms(), "case-" + std::to_string(++index));
    ASSERT_TRUE(submitted) << submitted.error().detail;
    const auto affirmed = affirm(a, submitted->trade.trade_id, test.affirm_at);
    ASSERT_FALSE(affirmed);
    EXPECT_EQ(to_string(affirmed.error().refusal), test.expected) << affirmed.error().detail;
    const auto stored = run([&](pqxx::transaction_base& tx) { return find_trade(tx, submitted->trade.trade_id); });
    EXPECT_EQ(stored->state, TradeState::pending_affirmation);
    EXPECT_EQ(stored->last_refusal, test.expected);
  }
  EXPECT_EQ(scalar("SELECT count(*) FROM cch.trade_leg"), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM cch.position"), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM cch.trade_event WHERE action = 'refuse'"),
            static_cast<std::int64_t>(cases.size()));
}

TEST_F(Registration, ARefusalCausedByTheOtherMemberIsToldAsCounterpartyRefused) {
  run([&](pqxx::transaction_base& tx) { ASSERT_TRUE(set_credit_limit(tx, a, Money{0, Currency::usd()}, "risk")); });
  const auto submitted = submit(a, march(a, b), "A-1");
  ASSERT_TRUE(submitted);
  const auto affirmed = affirm(b, submitted->trade.trade_id);
  ASSERT_FALSE(affirmed);
  EXPECT_EQ(affirmed.error().refusal, TradeRefusal::counterparty_refused);
  EXPECT_EQ(affirmed.error().detail.find("credit"), std::string::npos) << "no detail of the other member's state";
  const auto stored = run([&](pqxx::transaction_base& tx) { return find_trade(tx, submitted->trade.trade_id); });
  EXPECT_EQ(stored->last_refusal, "initial_margin_exceeds_credit_limit");
  EXPECT_EQ(stored->last_refused_member, a);
  // Once the limit is raised the same trade clears.
  run([&](pqxx::transaction_base& tx) {
    ASSERT_TRUE(set_credit_limit(tx, a, Money{100'000'000, Currency::usd()}, "risk"));
  });
  ASSERT_TRUE(affirm(b, submitted->trade.trade_id));
}

TEST_F(Registration, LifecycleRefusalsRejectCancelAndExpiry) {
  const auto one = submit(a, march(a, b), "L-1");
  ASSERT_TRUE(one);
  const auto id = one->trade.trade_id;
  const auto own = affirm(a, id);
  ASSERT_FALSE(own);
  EXPECT_EQ(own.error().refusal, TradeRefusal::own_submission);
  const auto outsider = affirm(c, id);
  ASSERT_FALSE(outsider);
  EXPECT_EQ(outsider.error().refusal, TradeRefusal::trade_not_found);
  const auto rejected =
      run([&](pqxx::transaction_base& tx) { return reject_trade(tx, actor(b), id, "wrong price", kNow); });
  ASSERT_TRUE(rejected);
  EXPECT_EQ(rejected->state, TradeState::rejected);
  const auto again = affirm(b, id);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().refusal, TradeRefusal::trade_not_pending);

  const auto two = submit(a, march(a, b), "L-2");
  ASSERT_TRUE(two);
  const auto cancelled =
      run([&](pqxx::transaction_base& tx) { return cancel_trade(tx, actor(a), two->trade.trade_id, "", kNow); });
  ASSERT_TRUE(cancelled);
  EXPECT_EQ(cancelled->state, TradeState::cancelled);

  const auto three = submit(a, march(a, b), "L-3");
  ASSERT_TRUE(three);
  const UtcTimestamp later = three->trade.expires_at;
  const auto late = affirm(b, three->trade.trade_id, later);
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().refusal, TradeRefusal::trade_expired);
  EXPECT_EQ(run([&](pqxx::transaction_base& tx) { return expire_due_trades(tx, kNow, 100); }), 0U);
  EXPECT_EQ(run([&](pqxx::transaction_base& tx) { return expire_due_trades(tx, later, 100); }), 1U);
  const auto expired = run([&](pqxx::transaction_base& tx) { return find_trade(tx, three->trade.trade_id); });
  EXPECT_EQ(expired->state, TradeState::expired);
  const auto events = run([&](pqxx::transaction_base& tx) { return trade_events(tx, three->trade.trade_id); });
  ASSERT_EQ(events.size(), 2U);  // submit, expire: a late affirmation changes nothing
  EXPECT_EQ(events[1].action, "expire");
}

// Many concurrent trades of one member that together would use more credit than its limit: the
// limit holds exactly, and every trade that fits is cleared.
TEST_F(Registration, ConcurrentTradesNeverJointlyBreachACreditLimit) {
  constexpr int kTrades = kRaceTrades;
  constexpr std::int64_t kPerTrade = kRacePerTrade;
  constexpr int kFit = kRaceFit;
  const std::vector<TradeId> pending = pending_race_trades("RACE-");
  ASSERT_EQ(pending.size(), static_cast<std::size_t>(kTrades));
  std::atomic<int> cleared{0};
  std::atomic<int> refused_for_credit{0};
  std::atomic<int> other{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kTrades; ++i) {
    threads.emplace_back([&, i] {
      const auto affirmed = affirm(i % 2 == 0 ? b : c, pending[static_cast<std::size_t>(i)]);
      if (affirmed) {
        ++cleared;
      } else if (affirmed.error().refusal == TradeRefusal::counterparty_refused) {
        ++refused_for_credit;
      } else {
        ++other;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(cleared.load(), kFit);
  EXPECT_EQ(refused_for_credit.load(), kTrades - kFit);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(scalar("SELECT initial_margin_cents FROM cch.member_margin_state WHERE member_id = " + a.to_string()),
            kPerTrade * kFit);
  EXPECT_EQ(scalar("SELECT count(*) FROM cch.trade WHERE last_refusal = 'initial_margin_exceeds_credit_limit'"), kTrades - kFit);
}

TEST_F(Registration, ConcurrentSubmissionsOfOneReferenceMakeOneTrade) {
  std::vector<std::thread> threads;
  std::atomic<int> created{0};
  std::atomic<int> replays{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      const auto outcome = submit(a, march(a, b), "SAME");
      if (outcome && outcome->created) ++created;
      if (outcome && !outcome->created) ++replays;
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(created.load(), 1);
  EXPECT_EQ(replays.load(), 7);
  EXPECT_EQ(scalar("SELECT count(*) FROM cch.trade"), 1);
}


TEST_F(Registration, AVenueBatchClearsItsGoodTradesRefusesTheBadOnesAndWritesNothingForThem) {
  const VenueActor venue = venue_authorised_by("auction-house", {a, b, c});
  TradeTerms unknown = march(a, b);
  unknown.product = ProductId(999'999);
  const std::vector<VenueTrade> batch = {
      {march(a, b), "V-1"},
      {march(b, c, 256, 30'000), "V-2"},  // 43 % over the reference price
      {unknown, "V-3"},
      {march(c, a, 64), "V-4"},
      {march(a, b), "bad reference"},
  };
  const auto run_batch = [&] {
    return run([&](pqxx::transaction_base& tx) { return register_venue_batch(tx, policy, venue, batch, kNow); });
  };
  const auto outcomes = run_batch();
  ASSERT_EQ(outcomes.size(), batch.size());
  ASSERT_TRUE(outcomes[0].trade) << outcomes[0].trade.error().detail;
  EXPECT_EQ(outcomes[0].trade->state, TradeState::cleared);
  EXPECT_TRUE(outcomes[0].trade->venue.has_value());
  EXPECT_FALSE(outcomes[0].trade->submitter.has_value());
  ASSERT_FALSE(outcomes[1].trade);
  EXPECT_EQ(outcomes[1].trade.error().refusal, TradeRefusal::price_outside_band);
  ASSERT_FALSE(outcomes[2].trade);
  EXPECT_EQ(outcomes[2].trade.error().refusal, TradeRefusal::unknown_product);
  ASSERT_TRUE(outcomes[3].trade) << outcomes[3].trade.error().detail;
  ASSERT_FALSE(outcomes[4].trade);
  EXPECT_EQ(outcomes[4].trade.error().refusal, TradeRefusal::invalid_reference);
  // Nothing of the refused trades: no row, no event, no position.
  EXPECT_EQ(scalar("SELECT count(*) FROM cch.trade"), 2);
  EXPECT_EQ(scalar("SELECT count(*) FROM cch.trade_leg"), 4);
  EXPECT_EQ(scalar("SELECT count(*) FROM cch.trade_event WHERE action = 'register'"), 2);
  EXPECT_EQ(scalar("SELECT count(*) FROM (SELECT product_id, delivery_month FROM cch.position "
                   "GROUP BY 1, 2 HAVING sum(net_gpu_hours) <> 0) x"),
            0);
  // The same batch again: the good trades are replayed, nothing new is written.
  const auto again = run_batch();
  ASSERT_TRUE(again[0].trade);
  EXPECT_TRUE(again[0].replayed);
  EXPECT_EQ(again[0].trade->trade_id, outcomes[0].trade->trade_id);
  EXPECT_TRUE(again[3].replayed);
  EXPECT_FALSE(again[1].trade);
  EXPECT_EQ(scalar("SELECT count(*) FROM cch.trade"), 2);
  // A member may not act on a venue's trade as if it were pending.
  const auto cancel =
      run([&](pqxx::transaction_base& tx) { return cancel_trade(tx, actor(a), outcomes[0].trade->trade_id, "", kNow); });
  ASSERT_FALSE(cancel);
  EXPECT_EQ(cancel.error().refusal, TradeRefusal::trade_not_pending);
}

// The trades cleared together share one clearing-fee journal: one debit per member of its fees,
// one credit to the fee income. Each trade records its fee per side, so an auditor reconciles the
// journal with the trades that name it, member by member.
TEST_F(Registration, TradesClearedTogetherShareOneFeeJournalThatReconcilesWithEachTradesFee) {
  const VenueActor venue = venue_authorised_by("fee-venue", {a, b, c});
  const std::vector<VenueTrade> batch = {
      {march(a, b), "F-1"},                // 190,464 GPU-hours: 476.16 per side
      {march(b, c, 64), "F-2"},            // 47,616: 119.04
      {march(c, a, 8), "F-3"},             // 5,952: 14.88
      {march(a, b, 256, 30'000), "F-4"},   // outside the price band: refused, no fee
  };
  const auto outcomes =
      run([&](pqxx::transaction_base& tx) { return register_venue_batch(tx, policy, venue, batch, kNow); });
  ASSERT_EQ(outcomes.size(), batch.size());
  const std::int64_t fees[] = {47'616, 11'904, 1'488};
  for (std::size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(outcomes[i].trade) << outcomes[i].trade.error().detail;
    ASSERT_TRUE(outcomes[i].trade->clearing_fee.has_value());
    EXPECT_EQ(outcomes[i].trade->clearing_fee->amount_minor, fees[i]);
    ASSERT_TRUE(outcomes[i].trade->fee_journal.has_value());
    EXPECT_EQ(outcomes[i].trade->fee_journal, outcomes[0].trade->fee_journal);
  }
  ASSERT_FALSE(outcomes[3].trade);
  const std::string journal = outcomes[0].trade->fee_journal->to_string();
  EXPECT_EQ(scalar("SELECT count(*) FROM ledger.journal WHERE kind = 'clearing_fee'"), 1);
  const auto posted = [&](const std::string& owner) {
    return scalar("SELECT amount_minor FROM ledger.posting p JOIN ledger.account x USING (account_id) "
                  "WHERE p.journal_id = " + journal + " AND " + owner);
  };
  EXPECT_EQ(posted("x.member_id = " + a.to_string()), 47'616 + 1'488);
  EXPECT_EQ(posted("x.member_id = " + b.to_string()), 47'616 + 11'904);
  EXPECT_EQ(posted("x.member_id = " + c.to_string()), 11'904 + 1'488);
  EXPECT_EQ(posted("x.kind = 'fee_income'"), -2 * (47'616 + 11'904 + 1'488));
  // What the trades read back from the database says the same.
  EXPECT_EQ(run([&](pqxx::transaction_base& tx) { return find_trade(tx, outcomes[1].trade->trade_id); })
                ->clearing_fee->amount_minor,
            11'904);

  // One affirmation more: a journal of its own. Then the auditor's reconciliation over every
  // clearing-fee journal: each member's posting is the sum of its sides' fees in the trades that
  // name the journal, the fee income's is minus twice the sum of those trades' fees.
  const auto submitted = submit(a, march(a, c, 16), "F-5");
  ASSERT_TRUE(submitted) << submitted.error().detail;
  const auto cleared = affirm(c, submitted->trade.trade_id);
  ASSERT_TRUE(cleared) << cleared.error().detail;
  EXPECT_EQ(cleared->clearing_fee->amount_minor, 2'976);
  EXPECT_NE(cleared->fee_journal, outcomes[0].trade->fee_journal);
  EXPECT_EQ(scalar("SELECT count(*) FROM ledger.journal WHERE kind = 'clearing_fee'"), 2);
  EXPECT_EQ(scalar("SELECT count(*) FROM ledger.posting p JOIN ledger.account x USING (account_id) "
                   "JOIN ledger.journal j USING (journal_id) WHERE j.kind = 'clearing_fee' AND p.amount_minor IS "
                   "DISTINCT FROM (SELECT CASE WHEN x.kind = 'fee_income' THEN -2 * sum(t.clearing_fee_minor) "
                   "ELSE sum(t.clearing_fee_minor) END FROM cch.trade t WHERE t.fee_journal_id = p.journal_id "
                   "AND (x.kind = 'fee_income' OR x.member_id IN (t.buyer_member_id, t.seller_member_id)))"),
            0);
  EXPECT_EQ(scalar("SELECT count(*) FROM ledger.posting p JOIN ledger.journal j USING (journal_id) "
                   "WHERE j.kind = 'clearing_fee'"),
            4 + 3);
}

// A batch whose trades are all new and all pass is written before the members' locks; any other
// is decided checks first. The outcomes and the records are the same either way.
TEST_F(Registration, ABatchIsWrittenFirstWhenEveryTradePassesAndChecksFirstOtherwiseWithTheSameRecords) {
  const VenueActor venue = venue_authorised_by("two-paths", {a, b, c});
  const auto register_batch = [&](const std::vector<VenueTrade>& batch, VenueBatchPath& path) {
    return run([&](pqxx::transaction_base& tx) { return register_venue_batch(tx, policy, venue, batch, kNow, &path); });
  };
  VenueBatchPath path = VenueBatchPath::checked_first;
  const auto first = register_batch({{march(a, b), "W-1"}, {march(b, c, 64), "W-2"}}, path);
  EXPECT_EQ(path, VenueBatchPath::written_first);
  ASSERT_TRUE(first[0].trade && first[1].trade);
  EXPECT_EQ(first[0].trade->state, TradeState::cleared);
  EXPECT_EQ(first[0].trade->fee_journal, first[1].trade->fee_journal);

  // A refusal: decided checks first, and the refused trade writes nothing.
  path = VenueBatchPath::written_first;
  const auto second = register_batch({{march(a, b), "W-3"}, {march(b, c, 256, 30'000), "W-4"}}, path);
  EXPECT_EQ(path, VenueBatchPath::checked_first);
  ASSERT_TRUE(second[0].trade);
  ASSERT_FALSE(second[1].trade);
  EXPECT_EQ(second[1].trade.error().refusal, TradeRefusal::price_outside_band);

  // A reference used before: the attempt meets it in the unique index and is undone; checks
  // first, it replays, and the new trade clears once.
  path = VenueBatchPath::written_first;
  const auto third = register_batch({{march(a, b), "W-1"}, {march(c, a, 8), "W-5"}}, path);
  EXPECT_EQ(path, VenueBatchPath::checked_first);
  ASSERT_TRUE(third[0].trade && third[1].trade);
  EXPECT_TRUE(third[0].replayed);
  EXPECT_EQ(third[0].trade->trade_id, first[0].trade->trade_id);
  EXPECT_FALSE(third[1].replayed);

  // W-1 (written first) and W-3 (checked first) have the same terms: their records match.
  const auto record = [&](TradeId trade) {
    const std::string id = trade.to_string();
    return run([&](pqxx::transaction_base& tx) {
      std::string text;
      for (const auto& row : tx.exec(
               "SELECT state || ' ' || clearing_fee_minor || ' ' || (fee_journal_id IS NOT NULL) || ' ' || "
               "decided_at || ' ' || submitted_by FROM cch.trade WHERE trade_id = " + id +
               " UNION ALL (SELECT member_id || ' ' || side || ' ' || gpus || ' ' || price_ticks FROM cch.trade_leg "
               "WHERE trade_id = " + id + " ORDER BY side) "
               " UNION ALL SELECT event_sequence || ' ' || action || ' ' || actor || ' ' || coalesce(from_state, '-') "
               "|| ' ' || to_state FROM cch.trade_event WHERE trade_id = " + id +
               " UNION ALL SELECT topic || ' ' || (payload - 'trade_id')::text FROM cch.outbox WHERE aggregate_id = " + id)) {
        text += row[0].as<std::string>() + "\n";
      }
      return text;
    });
  };
  EXPECT_EQ(record(first[0].trade->trade_id), record(second[0].trade->trade_id));
  EXPECT_NE(record(first[0].trade->trade_id), "");
  EXPECT_EQ(scalar("SELECT count(*) FROM cch.trade"), 4);
  EXPECT_EQ(scalar("SELECT count(*) FROM cch.trade_leg"), 8);
  EXPECT_EQ(scalar("SELECT count(*) FROM cch.outbox WHERE topic = 'trade.cleared'"), 4);
  EXPECT_EQ(scalar("SELECT count(*) FROM (SELECT product_id, delivery_month FROM cch.position "
                   "GROUP BY 1, 2 HAVING sum(net_gpu_hours) <> 0) x"),
            0);
  EXPECT_EQ(scalar("SELECT count(*) FROM ledger.journal WHERE kind = 'clearing_fee'"), 3);
}

// Concurrent batches that together would breach one member's credit limit: written first or not,
// the limit holds exactly. The batches queue on the member's lock, so the first four (eight
// trades) pass whole and are written first, the fifth has room for one trade and is decided
// checks first, and the rest are refused.
TEST_F(Registration, ConcurrentBatchesNeverJointlyBreachACreditLimit) {
  run([&](pqxx::transaction_base& tx) {
    EXPECT_TRUE(set_credit_limit(tx, a, Money{kRacePerTrade * kRaceFit + kRacePerTrade / 2, Currency::usd()}, "risk"));
  });
  const VenueActor venue = venue_authorised_by("race-venue", {a, b, c});
  constexpr int kBatches = kRaceTrades / 2;
  std::atomic<int> cleared{0}, refused_for_credit{0}, other{0}, written_first{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kBatches; ++i) {
    threads.emplace_back([&, i] {
      const std::vector<VenueTrade> batch = {{march(a, b, 8, 21'000), "RB-" + std::to_string(i) + "-b"},
                                             {march(a, c, 8, 21'000), "RB-" + std::to_string(i) + "-c"}};
      VenueBatchPath path = VenueBatchPath::checked_first;
      const auto outcomes = run([&](pqxx::transaction_base& tx) {
        return register_venue_batch(tx, policy, venue, batch, kNow, &path);
      });
      if (path == VenueBatchPath::written_first) ++written_first;
      for (const auto& outcome : outcomes) {
        if (outcome.trade) {
          ++cleared;
        } else if (outcome.trade.error().refusal == TradeRefusal::initial_margin_exceeds_credit_limit) {
          ++refused_for_credit;
        } else {
          ++other;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(cleared.load(), kRaceFit);
  EXPECT_EQ(refused_for_credit.load(), kRaceTrades - kRaceFit);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(written_first.load(), kRaceFit / 2);
  EXPECT_EQ(scalar("SELECT initial_margin_cents FROM cch.member_margin_state WHERE member_id = " + a.to_string()),
            kRacePerTrade * kRaceFit);
  EXPECT_EQ(scalar("SELECT count(*) FROM cch.trade"), kRaceFit);
  EXPECT_EQ(scalar("SELECT count(*) FROM cch.trade_leg"), 2 * kRaceFit);
  EXPECT_EQ(scalar("SELECT count(*) FROM (SELECT product_id, delivery_month FROM cch.position "
                   "GROUP BY 1, 2 HAVING sum(net_gpu_hours) <> 0) x"),
            0);
}

// A venue registers trades only for members that authorised it and have not revoked that: the
// check holds each side, writes nothing for a refused trade, and follows revocation and renewal.
TEST_F(Registration, AVenueRegistersTradesOnlyForMembersThatAuthorisedIt) {
  const VenueActor venue = venue_authorised_by("auction-two", {a, b});
  const auto register_batch = [&](const std::vector<VenueTrade>& batch) {
    return run([&](pqxx::transaction_base& tx) { return register_venue_batch(tx, policy, venue, batch, kNow); });
  };
  // C never authorised it: a trade with C on either side is refused; A against B clears.
  auto outcomes = register_batch({{march(a, b), "C-1"}, {march(a, c), "C-2"}, {march(c, b), "C-3"}});
  ASSERT_TRUE(outcomes[0].trade) << outcomes[0].trade.error().detail;
  ASSERT_FALSE(outcomes[1].trade);
  EXPECT_EQ(outcomes[1].trade.error().refusal, TradeRefusal::venue_not_authorised);
  EXPECT_NE(outcomes[1].trade.error().detail.find("seller"), std::string::npos) << outcomes[1].trade.error().detail;
  ASSERT_FALSE(outcomes[2].trade);
  EXPECT_EQ(outcomes[2].trade.error().refusal, TradeRefusal::venue_not_authorised);
  EXPECT_NE(outcomes[2].trade.error().detail.find("buyer"), std::string::npos) << outcomes[2].trade.error().detail;
  EXPECT_EQ(scalar("SELECT count(*) FROM cch.trade"), 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM cch.position WHERE member_id = " + c.to_string()), 0);

  // Another venue's authorisation is not this one's.
  venue_authorised_by("elsewhere", {c});
  EXPECT_FALSE(register_batch({{march(a, c), "C-4"}})[0].trade);

  // B revokes: A against B is refused from then on; revoking again changes nothing.
  const auto revoked = run([&](pqxx::transaction_base& tx) { return revoke_venue(tx, b, venue.principal_id, "b-desk"); });
  ASSERT_TRUE(revoked);
  EXPECT_TRUE(revoked->changed);
  EXPECT_EQ(revoked->authorisation.revoked_by, "b-desk");
  ASSERT_TRUE(revoked->authorisation.revoked_at.has_value());
  const auto again = run([&](pqxx::transaction_base& tx) { return revoke_venue(tx, b, venue.principal_id, "b-desk"); });
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->changed);
  outcomes = register_batch({{march(a, b), "C-5"}});
  ASSERT_FALSE(outcomes[0].trade);
  EXPECT_EQ(outcomes[0].trade.error().refusal, TradeRefusal::venue_not_authorised);
  // The trade cleared before the revocation stays, and replays as before.
  outcomes = register_batch({{march(a, b), "C-1"}});
  ASSERT_TRUE(outcomes[0].trade);
  EXPECT_TRUE(outcomes[0].replayed);

  // B authorises it again: live once more, the revocation cleared, and A against B clears.
  const auto renewed = run([&](pqxx::transaction_base& tx) { return authorise_venue(tx, b, venue.principal_id, "b-desk"); });
  ASSERT_TRUE(renewed);
  EXPECT_TRUE(renewed->changed);
  EXPECT_FALSE(renewed->authorisation.revoked_at.has_value());
  const auto unchanged = run([&](pqxx::transaction_base& tx) { return authorise_venue(tx, b, venue.principal_id, "x"); });
  ASSERT_TRUE(unchanged);
  EXPECT_FALSE(unchanged->changed);
  EXPECT_EQ(unchanged->authorisation.authorised_by, "b-desk");
  EXPECT_TRUE(register_batch({{march(a, b), "C-6"}})[0].trade);

  // What cannot be authorised or revoked: a principal that is not a venue, a member that does
  // not exist, an authorisation that was never given.
  const std::int64_t auditor = scalar(
      "INSERT INTO api.principal (name, role, created_by) VALUES ('not-a-venue', 'auditor', 'test') RETURNING principal_id");
  run([&](pqxx::transaction_base& tx) {
    const auto not_venue = authorise_venue(tx, a, auditor, "x");
    ASSERT_FALSE(not_venue);
    EXPECT_EQ(not_venue.error().refusal, CatalogRefusal::unknown_venue);
    const auto no_member = authorise_venue(tx, MemberId(999'999), venue.principal_id, "x");
    ASSERT_FALSE(no_member);
    EXPECT_EQ(no_member.error().refusal, CatalogRefusal::unknown_member);
    const auto never = revoke_venue(tx, c, venue.principal_id, "x");
    ASSERT_FALSE(never);
    EXPECT_EQ(never.error().refusal, CatalogRefusal::venue_authorisation_absent);
  });
  const auto listed = run([&](pqxx::transaction_base& tx) { return venue_authorisations(tx, c); });
  ASSERT_EQ(listed.size(), 1U);
  EXPECT_EQ(listed[0].venue_name, "elsewhere");
}

TEST_F(Registration, TradesOfOneBatchSeeEachOtherWhenTheirLimitsAreChecked) {
  const VenueActor venue = venue_authorised_by("broker-one", {a, b, c});
  // Each trade uses 1,249.92 USD of A's credit (8 GPUs x 744 h x 2.1000 x 10 %); room for three.
  run([&](pqxx::transaction_base& tx) {
    ASSERT_TRUE(set_credit_limit(tx, a, Money{124'992 * 3 + 100, Currency::usd()}, "risk"));
  });
  std::vector<VenueTrade> batch;
  for (int i = 0; i < 6; ++i) batch.push_back({march(a, i % 2 == 0 ? b : c, 8, 21'000), "B-" + std::to_string(i)});
  const auto outcomes = run([&](pqxx::transaction_base& tx) {
    return register_venue_batch(tx, policy, venue, batch, kNow);
  });
  int cleared = 0;
  for (const auto& outcome : outcomes) {
    if (outcome.trade) {
      ++cleared;
    } else {
      EXPECT_EQ(outcome.trade.error().refusal, TradeRefusal::initial_margin_exceeds_credit_limit);
    }
  }
  EXPECT_EQ(cleared, 3);
  EXPECT_EQ(scalar("SELECT initial_margin_cents FROM cch.member_margin_state WHERE member_id = " + a.to_string()),
            124'992 * 3);
}

TEST_F(Registration, AReferenceUsedTwiceInOneBatchAnswersAsItsFirstUse) {
  const VenueActor venue = venue_authorised_by("broker-two", {a, b, c});
  const auto register_batch = [&](const std::vector<VenueTrade>& batch) {
    return run([&](pqxx::transaction_base& tx) { return register_venue_batch(tx, policy, venue, batch, kNow); });
  };
  // R-1 twice with the same terms, then with other terms; R-2 refused (fat finger), then again.
  const std::vector<VenueTrade> batch{{march(a, b), "R-1"},
                                      {march(a, b), "R-1"},
                                      {march(a, c), "R-1"},
                                      {march(b, c, 256, 30'000), "R-2"},
                                      {march(b, c, 256, 30'000), "R-2"}};
  const auto outcomes = register_batch(batch);
  ASSERT_EQ(outcomes.size(), 5U);
  ASSERT_TRUE(outcomes[0].trade);
  EXPECT_FALSE(outcomes[0].replayed);
  ASSERT_TRUE(outcomes[1].trade);
  EXPECT_TRUE(outcomes[1].replayed);
  EXPECT_EQ(outcomes[1].trade->trade_id, outcomes[0].trade->trade_id);
  ASSERT_FALSE(outcomes[2].trade);
  EXPECT_EQ(outcomes[2].trade.error().refusal, TradeRefusal::reference_reused);
  ASSERT_FALSE(outcomes[3].trade);
  EXPECT_EQ(outcomes[3].trade.error().refusal, TradeRefusal::price_outside_band);
  ASSERT_FALSE(outcomes[4].trade);
  EXPECT_EQ(outcomes[4].trade.error().refusal, TradeRefusal::price_outside_band);
  EXPECT_EQ(scalar("SELECT count(*) FROM cch.trade"), 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM cch.trade_leg"), 2);
  // Sent again in a later batch: R-1 replays the cleared trade; R-2 is decided afresh.
  const auto again = register_batch({{march(a, b), "R-1"}, {march(b, c), "R-2"}});
  ASSERT_TRUE(again[0].trade);
  EXPECT_TRUE(again[0].replayed);
  EXPECT_EQ(again[0].trade->trade_id, outcomes[0].trade->trade_id);
  ASSERT_TRUE(again[1].trade);
  EXPECT_FALSE(again[1].replayed);
  EXPECT_EQ(scalar("SELECT count(*) FROM cch.trade WHERE state = 'cleared'"), 2);
}

TEST_F(Registration, TradesAreListedByMemberStateAndProductPageByPage) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(submit(a, march(a, i % 2 == 0 ? b : c), "P-" + std::to_string(i)));
  ASSERT_TRUE(submit(b, march(c, b), "P-B"));
  const auto page = [&](TradeFilter filter, std::optional<TradeId> after, std::size_t limit) {
    return run([&](pqxx::transaction_base& tx) { return list_trades(tx, filter, after, limit); });
  };
  EXPECT_EQ(page({}, std::nullopt, 100).size(), 6U);
  EXPECT_EQ(page({.member = a, .state = std::nullopt, .product = std::nullopt}, std::nullopt, 100).size(), 5U);
  EXPECT_EQ(page({.member = b, .state = std::nullopt, .product = std::nullopt}, std::nullopt, 100).size(), 4U);
  EXPECT_EQ(page({.member = std::nullopt, .state = TradeState::cleared, .product = std::nullopt}, std::nullopt, 100)
                .size(),
            0U);
  // Following the cursor visits every one of A's trades once, in id order.
  std::vector<TradeId> seen;
  std::optional<TradeId> after;
  for (int pages = 0; pages < 10; ++pages) {
    const auto trades = page({.member = a, .state = std::nullopt, .product = std::nullopt}, after, 2);
    for (const auto& trade : trades) seen.push_back(trade.trade_id);
    if (trades.size() < 2) break;
    after = trades.back().trade_id;
  }
  ASSERT_EQ(seen.size(), 5U);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
}

// Each cleared trade leaves one `trade.cleared` event whose payload carries its terms, whether a
// member affirmed it or a venue registered it.
TEST_F(Registration, AClearedTradeLeavesOneOutboxEventWithItsTerms) {
  const auto affirmed = clear_trade(march(a, b, 64, 21'050), "A-1");
  ASSERT_TRUE(affirmed);
  const VenueActor venue = venue_authorised_by("event-venue", {a, c});
  const auto registered = run([&](pqxx::transaction_base& tx) {
    return register_venue_batch(tx, policy, venue, {{march(c, a, 8), "E-1"}}, kNow);
  });
  ASSERT_TRUE(registered.at(0).trade);
  for (const Trade& trade : {*affirmed, *registered[0].trade}) {
    const auto rows = run([&](pqxx::transaction_base& tx) {
      return tx.exec("SELECT payload::text FROM cch.outbox WHERE topic = 'trade.cleared' AND aggregate_id = " +
                     trade.trade_id.to_string());
    });
    ASSERT_EQ(rows.size(), 1U) << trade.trade_id;
    ASSERT_TRUE(trade.decided_at);
    const nlohmann::json expected = {{"trade_id", trade.trade_id.to_string()},
                                     {"product_id", trade.terms.product.to_string()},
                                     {"buyer_member_id", trade.terms.buyer.to_string()},
                                     {"seller_member_id", trade.terms.seller.to_string()},
                                     {"delivery_start", trade.terms.delivery_start.format()},
                                     {"delivery_end", trade.terms.delivery_end.format()},
                                     {"gpus", trade.terms.gpus},
                                     {"price", trade.terms.price.format()},
                                     {"gpu_hours", trade.gpu_hours},
                                     {"cleared_at", trade.decided_at->format()}};
    EXPECT_EQ(nlohmann::json::parse(rows[0][0].as<std::string>()), expected);
  }
  EXPECT_EQ(scalar("SELECT count(*) FROM cch.outbox"), 2);
}

TEST_F(Registration, DecidedTradesLegsAndEventsCannotBeEditedOrRemovedEvenByASuperuser) {
  ASSERT_TRUE(clear_trade(march(a, b), "A-1"));
  for (const std::string sql : {"UPDATE cch.trade_leg SET gpus = 1", "DELETE FROM cch.trade_leg",
                                "TRUNCATE cch.trade_leg", "UPDATE cch.trade_event SET reason = 'x'",
                                "DELETE FROM cch.trade_event", "TRUNCATE cch.trade_event",
                                "UPDATE cch.trade SET gpus = 16"}) {
    EXPECT_THROW(as_superuser(sql), pqxx::sql_error) << sql;
  }
  EXPECT_EQ(scalar("SELECT count(*) FROM cch.trade_leg"), 2);
  EXPECT_EQ(scalar("SELECT count(*) FROM cch.trade_event"), 2);
  // A trade's own rule refuses its removal, not only the keys of its events: the legs have no
  // key to their trade (sql/migrations/0014).
  for (const std::string sql : {"DELETE FROM cch.trade", "TRUNCATE cch.trade"}) {
    auto connection = fixture.superuser();
    pqxx::work tx(connection);
    // Every key to the trade dropped (its events', and other libraries' tables'), so that only
    // the trade's own rule stands in the way.
    tx.exec("DO $$ DECLARE r record; BEGIN FOR r IN SELECT conrelid::regclass AS t, conname FROM pg_constraint "
            "WHERE confrelid = 'cch.trade'::regclass AND contype = 'f' LOOP "
            "EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', r.t, r.conname); END LOOP; END $$");
    try {
      tx.exec(sql);
      ADD_FAILURE() << sql << " was accepted";
    } catch (const pqxx::sql_error& e) {
      EXPECT_NE(std::string(e.what()).find("rows of trade are never removed"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(scalar("SELECT count(*) FROM cch.trade"), 1);
}

TEST_F(Registration, ALegThatDoesNotAgreeWithItsClearedTradeIsRefusedEvenForASuperuser) {
  const auto trade = clear_trade(march(a, b), "A-1");
  ASSERT_TRUE(trade);
  const auto pending = submit(a, march(a, b), "A-2");
  ASSERT_TRUE(pending);
  // A second sell leg built from a trade's row with one column changed, written where the legs'
  // (trade, side) uniqueness is set aside and never committed: only the agreement can refuse it.
  const auto try_leg = [&](TradeId trade_id, const std::string& columns) -> std::string {
    auto connection = fixture.superuser();
    pqxx::work tx(connection);
    tx.exec("ALTER TABLE cch.trade_leg DROP CONSTRAINT trade_leg_pkey");
    try {
      tx.exec("INSERT INTO cch.trade_leg (trade_id, member_id, side, product_id, delivery_start, delivery_end, gpus, "
              "price_ticks, future, cleared_at) SELECT trade_id, seller_member_id, 'sell', product_id, delivery_start, "
              "delivery_end, gpus, price_ticks, future, cleared_at FROM (SELECT trade_id, " + columns +
              " FROM cch.trade WHERE trade_id = " + trade_id.to_string() + ") t");
      return "accepted";
    } catch (const pqxx::sql_error& e) {
      return e.what();
    }
  };
  const std::string same = "seller_member_id, product_id, delivery_start, delivery_end, gpus, price_ticks, "
                           "series_label IS NOT NULL AS future, decided_at AS cleared_at";
  EXPECT_EQ(try_leg(trade->trade_id, same), "accepted");
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"seller_member_id", "buyer_member_id AS seller_member_id"},
           {"product_id", "product_id + 1000 AS product_id"},
           {"delivery_end", "delivery_end + interval '1 hour' AS delivery_end"},
           {"gpus", "gpus + 1 AS gpus"},
           {"price_ticks", "price_ticks - 1 AS price_ticks"},
           {"series_label IS NOT NULL AS future", "series_label IS NULL AS future"},
           {"decided_at AS cleared_at", "decided_at - interval '1 second' AS cleared_at"}}) {
    std::string changed = same;
    changed.replace(changed.find(from), from.size(), to);
    EXPECT_NE(try_leg(trade->trade_id, changed).find("does not agree with a cleared trade"), std::string::npos)
        << changed;
  }
  // A trade not cleared (no decision: the leg says it cleared now).
  std::string undecided = same;
  undecided.replace(undecided.find("decided_at AS cleared_at"), 24, "now() AS cleared_at");
  EXPECT_NE(try_leg(pending->trade.trade_id, undecided).find("does not agree with a cleared trade"),
            std::string::npos);
  // A leg whose trade does not exist (the legs have no foreign key to their trade: this check is
  // what ties them to it).
  const auto orphan = [&] {
    try {
      as_superuser("INSERT INTO cch.trade_leg (trade_id, member_id, side, product_id, delivery_start, delivery_end, "
                   "gpus, price_ticks, future, cleared_at) SELECT trade_id + 1000, seller_member_id, 'sell', "
                   "product_id, delivery_start, delivery_end, gpus, price_ticks, series_label IS NOT NULL, decided_at "
                   "FROM cch.trade WHERE trade_id = " + trade->trade_id.to_string());
      return std::string("accepted");
    } catch (const pqxx::sql_error& e) {
      return std::string(e.what());
    }
  };
  EXPECT_NE(orphan().find("does not agree with a cleared trade"), std::string::npos);
  EXPECT_EQ(scalar("SELECT count(*) FROM cch.trade_leg"), 2);
}

}  // namespace
}  // namespace cch::registry
