// Group commit against a real scratch database: a group of affirmations decided in one
// transaction answers exactly what the same affirmations answer one after another (a
// differential test on two identical worlds), and the service's queue groups concurrent
// affirmations, keeps a credit limit exact and refuses when it is full.
#include "cch/registry_routes/group_commit.hpp"

#include <gtest/gtest.h>
#include <pqxx/result>

#include <future>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "registration_fixture.hpp"

namespace cch::registry {
namespace {

using fixture::at;
using fixture::kNow;
using fixture::Registration;

// One world of the differential test: three members and a product of their own.
struct World {
  std::array<MemberId, 3> members{MemberId(1), MemberId(1), MemberId(1)};
  ProductId product = ProductId(1);
};

// What a request came to, comparable across worlds: "cleared" or the refusal's reason.
std::string answer_of(const Result<Trade, TradeError>& outcome) {
  return outcome ? std::string("cleared") : std::string(to_string(outcome.error().refusal));
}

class GroupCommit : public Registration {
 protected:
  World second_world() {
    World world;
    world.members = {fixture.add_member("alpha-2"), fixture.add_member("bravo-2"), fixture.add_member("charlie-2")};
    world.product = make_product("h100-sxm-us-west", 8);
    run([&](pqxx::transaction_base& tx) {
      for (const MemberId member : world.members) {
        ASSERT_TRUE(authorise_member(tx, member, world.product, "ops"));
        ASSERT_TRUE(set_credit_limit(tx, member, Money{100'000'000, Currency::usd()}, "risk"));
      }
      fixture::publish_months(tx, world.product, 21'000);
    });
    for (const MemberId member : world.members) deposit(member, 50'000'000);
    return world;
  }

  // Per member index, product-month: net, bought, sold; and the credit used.
  std::string book_of(const World& world) {
    std::string text;
    for (std::size_t i = 0; i < world.members.size(); ++i) {
      text += "member " + std::to_string(i) + ":";
      for (const auto& position : run([&](pqxx::transaction_base& tx) { return member_positions(tx, world.members[i]); })) {
        if (position.product != world.product) continue;
        text += " " + position.delivery_month.format() + "=" + std::to_string(position.net_gpu_hours) + "/" +
                std::to_string(position.bought_gpu_hours) + "/" + std::to_string(position.sold_gpu_hours);
      }
      text += " credit=" + std::to_string(scalar("SELECT COALESCE((SELECT initial_margin_cents FROM cch.member_margin_state "
                                                 "WHERE member_id = " + world.members[i].to_string() + "), 0)"));
      text += "\n";
    }
    return text;
  }
};

TEST_F(GroupCommit, AGroupOfAffirmationsAnswersExactlyWhatTheyWouldOneAfterAnother) {
  const World first{{a, b, c}, product};
  const World second = second_world();
  // Tight limits, the same in both worlds: alpha's credit has room for a few trades, bravo's
  // position in the product is capped.
  for (const World* world : {&first, &second}) {
    run([&](pqxx::transaction_base& tx) {
      ASSERT_TRUE(set_credit_limit(tx, world->members[0], Money{15'000'000, Currency::usd()}, "risk"));
      ASSERT_TRUE(set_position_limit(tx, world->members[1], world->product, 400'000, "risk"));
    });
  }

  // 40 trades from a fixed seed: pairs of members, sizes, windows across month ends, prices
  // near the reference and a few fat fingers.
  struct Drawn {
    std::size_t buyer, seller;
    std::int64_t gpus, price_ticks;
    std::string start, end;
    bool buyer_submits;
  };
  std::mt19937 random(20261122);
  const std::array<std::pair<const char*, const char*>, 4> windows{{{"2027-03-01T00:00:00Z", "2027-04-01T00:00:00Z"},
                                                                   {"2027-02-20T00:00:00Z", "2027-03-10T00:00:00Z"},
                                                                   {"2027-04-01T00:00:00Z", "2027-04-03T00:00:00Z"},
                                                                   {"2027-05-31T12:00:00Z", "2027-06-01T12:00:00Z"}}};
  std::vector<Drawn> drawn;
  for (int i = 0; i < 40; ++i) {
    const std::size_t buyer = random() % 3;
    const std::size_t seller = (buyer + 1 + random() % 2) % 3;
    const auto& window = windows[random() % windows.size()];
    const std::int64_t price = i % 13 == 7 ? 30'000 : 20'000 + 50 * static_cast<std::int64_t>(random() % 40);
    drawn.push_back({buyer, seller, 8 * static_cast<std::int64_t>(1 + random() % 32), price, window.first,
                     window.second, random() % 2 == 0});
  }

  // The same submissions in both worlds, then the same affirmation requests: each trade's other
  // side, with a few that must be refused by the lifecycle (the submitter itself, an outsider)
  // and one trade affirmed twice.
  const auto requests_in = [&](const World& world) {
    std::vector<Affirmation> requests;
    for (std::size_t i = 0; i < drawn.size(); ++i) {
      const Drawn& d = drawn[i];
      const MemberId buyer = world.members[d.buyer];
      const MemberId seller = world.members[d.seller];
      const TradeTerms terms{.product = world.product,
                             .series_label = std::nullopt,
                             .buyer = buyer,
                             .seller = seller,
                             .delivery_start = at(d.start),
                             .delivery_end = at(d.end),
                             .gpus = d.gpus,
                             .price = PricePerGpuHour{d.price_ticks}};
      const MemberId submitter = d.buyer_submits ? buyer : seller;
      const auto submitted = submit(submitter, terms, "DIFF-" + std::to_string(i));
      EXPECT_TRUE(submitted) << i;
      if (!submitted) continue;
      const TradeId id = submitted->trade.trade_id;
      const MemberId other = d.buyer_submits ? seller : buyer;
      if (i == 4) requests.push_back({actor(submitter), id});                     // own_submission
      if (i == 9) requests.push_back({actor(world.members[3 - d.buyer - d.seller]), id});  // an outsider
      requests.push_back({actor(other), id});
      if (i == 12) requests.push_back({actor(other), id});  // twice: trade_not_pending once cleared
    }
    return requests;
  };
  const auto one_by_one = requests_in(first);
  const auto grouped = requests_in(second);
  ASSERT_EQ(one_by_one.size(), grouped.size());

  std::vector<std::string> alone;
  for (const auto& request : one_by_one) alone.push_back(answer_of(affirm(request.actor.member, request.trade)));
  const auto together = run([&](pqxx::transaction_base& tx) { return affirm_trades(tx, policy, grouped, kNow); });
  ASSERT_EQ(together.size(), grouped.size());
  std::map<std::string, int> seen;
  for (std::size_t i = 0; i < together.size(); ++i) {
    EXPECT_EQ(answer_of(together[i]), alone[i]) << "request " << i;
    ++seen[alone[i]];
  }
  // The scenario reaches what it is meant to: clearings and each kind of refusal.
  EXPECT_GE(seen["cleared"], 10);
  EXPECT_GE(seen["counterparty_refused"] + seen["initial_margin_exceeds_credit_limit"], 1);
  EXPECT_GE(seen["position_limit_exceeded"] + seen["counterparty_refused"], 1);
  EXPECT_GE(seen["price_outside_band"], 1);
  EXPECT_EQ(seen["own_submission"], 1);
  EXPECT_EQ(seen["trade_not_found"], 1);
  EXPECT_EQ(seen["trade_not_pending"], 1);

  // The books are the same: positions per month, credit used; and each world's records agree.
  EXPECT_EQ(book_of(first), book_of(second));
  for (const World* world : {&first, &second}) {
    const std::string p = world->product.to_string();
    EXPECT_EQ(scalar("SELECT count(*) FROM cch.trade WHERE state = 'cleared' AND product_id = " + p),
              seen["cleared"]);
    EXPECT_EQ(scalar("SELECT count(*) FROM cch.trade_leg WHERE product_id = " + p), 2 * seen["cleared"]);
    EXPECT_EQ(scalar("SELECT count(*) FROM cch.trade t JOIN ledger.journal j ON j.journal_id = t.fee_journal_id "
                     "WHERE t.product_id = " + p),
              seen["cleared"]);
    EXPECT_EQ(scalar("SELECT count(*) FROM cch.outbox o JOIN cch.trade t ON t.trade_id = o.aggregate_id "
                     "WHERE o.topic = 'trade.cleared' AND t.product_id = " + p),
              seen["cleared"]);
    EXPECT_EQ(scalar("SELECT count(*) FROM (SELECT delivery_month FROM cch.position WHERE product_id = " + p +
                     " GROUP BY delivery_month HAVING sum(net_gpu_hours) <> 0) x"),
              0);
    // Every affirmation that reached the checks left an event: the refusals and the clearings.
    EXPECT_EQ(scalar("SELECT count(*) FROM cch.trade_event e JOIN cch.trade t USING (trade_id) "
                     "WHERE e.action IN ('affirm', 'refuse') AND t.product_id = " + p),
              static_cast<std::int64_t>(one_by_one.size()) - seen["own_submission"] - seen["trade_not_found"] -
                  seen["trade_not_pending"]);
  }
  EXPECT_EQ(scalar("SELECT count(*) FROM ledger.journal j WHERE NOT EXISTS (SELECT 1 FROM ledger.posting p "
                   "WHERE p.journal_id = j.journal_id GROUP BY p.journal_id HAVING sum(p.amount_minor) = 0)"),
            0);
}

TEST_F(GroupCommit, ConcurrentAffirmationsAreGroupedAndACreditLimitStillHoldsExactly) {
  // The race test's world: room for 9.5 trades of alpha's credit, 24 affirmations.
  constexpr int kTrades = kRaceTrades;
  constexpr std::int64_t kPerTrade = kRacePerTrade;
  constexpr int kFit = kRaceFit;
  const std::vector<TradeId> pending = pending_race_trades("GROUP-");
  ASSERT_EQ(pending.size(), static_cast<std::size_t>(kTrades));
  http::Metrics metrics;
  auto groups = std::make_unique<AffirmationGroups>(*fixture.pool, db::RetryPolicy{}, policy,
                                                    GroupCommitLimits{64, kTrades - 1, 1}, &metrics,
                                                    AnswerOf{}, [] { return kNow; });
  // Hold alpha's row so the worker blocks on the first affirmation while the others queue.
  auto holder = fixture.superuser();
  pqxx::work hold(holder);
  hold.exec("SELECT 1 FROM cch.member WHERE member_id = " + a.to_string() + " FOR UPDATE");

  const auto affirmation = [&](int i) {
    return Affirmation{actor(i % 2 == 0 ? b : c), pending[static_cast<std::size_t>(i)]};
  };
  std::vector<std::future<Result<Trade, TradeError>>> answers;
  answers.push_back(std::move(*groups->submit(affirmation(0))));
  auto& depth = metrics.gauge("cch_registry_affirmation_queue_depth", "");
  for (int wait = 0; wait < 500 && depth.value() != 0; ++wait) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(depth.value(), 0) << "the worker took the first affirmation";
  std::vector<std::thread> threads;
  std::mutex guard;
  for (int i = 1; i < kTrades; ++i) {
    threads.emplace_back([&, i] {
      auto queued = groups->submit(affirmation(i));
      ASSERT_TRUE(queued);
      const std::lock_guard lock(guard);
      answers.push_back(std::move(*queued));
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(depth.value(), kTrades - 1);
  EXPECT_FALSE(groups->submit(affirmation(0))) << "the queue is full";
  hold.commit();

  int cleared = 0;
  int refused = 0;
  for (auto& answer : answers) {
    ASSERT_EQ(answer.wait_for(std::chrono::seconds(30)), std::future_status::ready);
    const auto outcome = answer.get();
    if (outcome) {
      ++cleared;
    } else {
      EXPECT_EQ(outcome.error().refusal, TradeRefusal::counterparty_refused);
      ++refused;
    }
  }
  EXPECT_EQ(cleared, kFit);
  EXPECT_EQ(refused, kTrades - kFit);
  EXPECT_EQ(scalar("SELECT initial_margin_cents FROM cch.member_margin_state WHERE member_id = " + a.to_string()),
            kPerTrade * kFit);
  // One group for the first affirmation, one for the 23 that queued behind it.
  EXPECT_EQ(metrics.counter("cch_registry_affirmation_groups_total", "").value(), 2U);
  EXPECT_EQ(metrics.counter("cch_registry_affirmations_grouped_total", "").value(), static_cast<std::uint64_t>(kTrades));
  groups.reset();
}

}  // namespace
}  // namespace cch::registry
