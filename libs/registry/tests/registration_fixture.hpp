#pragma once
// The registration tests' world: three members (alpha, bravo, charlie) authorised for one H100
// product with reference prices for 2027, credit limits of 1,000,000 USD and 500,000 USD of
// collateral each, on a scratch database (LedgerFixture); helpers to submit and affirm.
#include "cch/margin_store/models.hpp"
#include "cch/registry/catalog.hpp"
#include "cch/registry/trades.hpp"
#include "cch/market/market_data.hpp"

#include <gtest/gtest.h>
#include <pqxx/transaction>

#include <string>
#include <string_view>
#include <vector>

#include "cch/db/transaction.hpp"
#include "cch/ledger/post.hpp"
#include "ledger_fixture.hpp"

namespace cch::registry::fixture {

using ledger::testing::LedgerFixture;


inline UtcTimestamp at(std::string_view text) { return UtcTimestamp::parse(text).value(); }

inline const UtcTimestamp kNow = UtcTimestamp::parse("2027-01-15T10:00:00Z").value();
// The margin check's parameters here: before any margin model, the interim rule at 10 % of
// notional, stored as the first parameter version in SetUp.
inline margin::MarginParameters test_margin_parameters() {
  margin::MarginParameters parameters;
  parameters.interim_rate_bp = 1'000;
  return parameters;
}

// The settlement prices of 31 December 2026 (a business day before kNow) for each month of 2027
// at `ticks`, but `without`: registration's reference prices (the latest settlement prices). A
// correction when the product's prices of that day differ already.
inline void publish_months(pqxx::transaction_base& tx, ProductId product, std::int64_t ticks,
                           std::optional<int> without = std::nullopt) {
  const auto found = find_product(tx, product).value();
  const market::ProductTerms terms{product, found.spec.code, found.spec.tick_size_ticks, found.spec.cash_index};
  std::vector<market::PeriodPrice> prices;
  for (int month = 1; month <= 12; ++month) {
    if (month == without) continue;
    prices.push_back({period_containing(PeriodKind::month, BusinessDate::from_year_month_day(2027, month, 1).value()),
                      PricePerGpuHour{ticks}});
  }
  const auto rules = market::market_rules("united_states_settlement", "", BusinessDate::containing(kNow));
  const BusinessDate date = BusinessDate::from_year_month_day(2026, 12, 31).value();
  market::Provenance provenance{"test", "test", kNow, "ops", std::nullopt, std::nullopt};
  auto stored = market::store_settlement_prices(tx, terms, date, prices, provenance, rules);
  if (!stored && stored.error().refusal == market::MarketRefusal::market_data_exists) {
    provenance.correction_reason = "test arrangement";
    stored = market::store_settlement_prices(tx, terms, date, prices, provenance, rules);
  }
  ASSERT_TRUE(stored) << stored.error().detail;
}

class Registration : public ::testing::Test {
 protected:
  template <class Work>
  auto run(Work&& work) {
    return db::run_transaction(*fixture.pool, db::Isolation::read_committed, {}, std::forward<Work>(work));
  }

  void SetUp() override {
    policy.margin_models = &margin_models;
    policy.clearing_calendar = &clearing_calendar;
    run([&](pqxx::transaction_base& tx) {
      ASSERT_TRUE(margin::store_parameters(tx, test_margin_parameters(), "tests: interim 10 %", "risk", std::nullopt));
    });
    a = fixture.add_member("alpha");
    b = fixture.add_member("bravo");
    c = fixture.add_member("charlie");
    product = make_product("h100-sxm-us-east", 8);
    run([&](pqxx::transaction_base& tx) {
      for (const MemberId member : {a, b, c}) {
        ASSERT_TRUE(authorise_member(tx, member, product, "ops"));
        ASSERT_TRUE(set_credit_limit(tx, member, Money{100'000'000, Currency::usd()}, "risk"));  // 1,000,000 USD
      }
      publish_months(tx, product, 21'000);
    });
    for (const MemberId member : {a, b, c}) deposit(member, 50'000'000);  // 500,000 USD
  }

  ProductId make_product(const std::string& code, int node_block) {
    NewProduct wanted;
    wanted.spec.code = code;
    wanted.spec.gpu_model = "H100";
    wanted.spec.form_factor = "sxm";
    wanted.spec.min_interconnect = "infiniband-400g";
    wanted.spec.region = "us-east";
    wanted.spec.node_block_gpus = node_block;
    wanted.spec.tick_size_ticks = 50;  // 0.0050 USD per GPU-hour
    wanted.spec.listing_horizon_days = 365;
    wanted.position_limit_gpu_hours = 10'000'000;
    wanted.fee_per_gpu_hour = PricePerGpuHour{25};  // 0.0025 USD per GPU-hour
    wanted.created_by = "ops";
    return run([&](pqxx::transaction_base& tx) { return create_product(tx, wanted).value().product.product_id; });
  }

  void deposit(MemberId member, std::int64_t amount_minor) {
    const auto collateral = fixture.member_account(member, ledger::AccountKind::collateral);
    const auto bank = fixture.house_account(ledger::AccountKind::settlement_bank);
    run([&](pqxx::transaction_base& tx) {
      ASSERT_TRUE(ledger::post(tx, ledger::testing::transfer("deposit:" + member.to_string() + ":" +
                                                                 std::to_string(amount_minor) + ":" +
                                                                 std::to_string(++deposits_),
                                                             bank, collateral, amount_minor,
                                                             ledger::JournalKind::collateral_deposit)));
    });
  }

  // 256 GPUs for all of March 2027 (744 hours) at 2.1450.
  TradeTerms march(MemberId buyer, MemberId seller, std::int64_t gpus = 256, std::int64_t price_ticks = 21'450) {
    return TradeTerms{.product = product,
                      .series_label = std::nullopt,
                      .buyer = buyer,
                      .seller = seller,
                      .delivery_start = at("2027-03-01T00:00:00Z"),
                      .delivery_end = at("2027-04-01T00:00:00Z"),
                      .gpus = gpus,
                      .price = PricePerGpuHour{price_ticks}};
  }

  static TradeActor actor(MemberId member) { return TradeActor{member, "member-" + member.to_string(), std::nullopt}; }

  Result<Submitted, TradeError> submit(MemberId by, const TradeTerms& terms, const std::string& reference,
                                       UtcTimestamp now = kNow) {
    return run([&](pqxx::transaction_base& tx) { return submit_trade(tx, policy, actor(by), terms, reference, now); });
  }
  Result<Trade, TradeError> affirm(MemberId by, TradeId trade, UtcTimestamp now = kNow) {
    return run([&](pqxx::transaction_base& tx) { return affirm_trade(tx, policy, actor(by), trade, now); });
  }
  // Submits as the buyer and affirms as the seller.
  Result<Trade, TradeError> clear_trade(const TradeTerms& terms, const std::string& reference) {
    const auto submitted = submit(terms.buyer, terms, reference);
    if (!submitted) return fail(submitted.error());
    return affirm(terms.seller, submitted->trade.trade_id);
  }

  // The credit race's world: alpha's credit limit has room for 9.5 trades of 1,249.92 USD
  // (8 GPUs x 744 h x 2.1000 = 12,499.20 USD notional; 10 % of it), and 24 such trades wait for
  // bravo's or charlie's affirmation (even i: bravo). Answers their ids.
  static constexpr int kRaceTrades = 24;
  static constexpr std::int64_t kRacePerTrade = 124'992;
  static constexpr int kRaceFit = 9;
  std::vector<TradeId> pending_race_trades(const std::string& prefix) {
    run([&](pqxx::transaction_base& tx) {
      EXPECT_TRUE(set_credit_limit(tx, a, Money{kRacePerTrade * kRaceFit + kRacePerTrade / 2, Currency::usd()}, "risk"));
    });
    std::vector<TradeId> pending;
    for (int i = 0; i < kRaceTrades; ++i) {
      const auto submitted = submit(a, march(a, i % 2 == 0 ? b : c, 8, 21'000), prefix + std::to_string(i));
      EXPECT_TRUE(submitted);
      if (submitted) pending.push_back(submitted->trade.trade_id);
    }
    return pending;
  }

  // Out-of-band changes the services may not make (tests arrange their world with them).
  void as_superuser(const std::string& sql) {
    auto connection = fixture.superuser();
    pqxx::work tx(connection);
    tx.exec(sql);
    tx.commit();
  }

  // A venue principal, authorised by each of `members` to register their trades.
  VenueActor venue_authorised_by(const std::string& name, std::initializer_list<MemberId> members) {
    const std::int64_t id = scalar("INSERT INTO api.principal (name, role, created_by) VALUES ('" + name +
                                   "', 'venue', 'test') RETURNING principal_id");
    run([&](pqxx::transaction_base& tx) {
      for (const MemberId member : members) EXPECT_TRUE(authorise_venue(tx, member, id, "test"));
    });
    return VenueActor{id, name, std::nullopt};
  }

  std::int64_t scalar(const std::string& sql) {
    return run([&](pqxx::transaction_base& tx) { return tx.exec(sql)[0][0].as<std::int64_t>(); });
  }

  LedgerFixture fixture{/*generic_plans=*/true};  // as cch-registry runs
  margin::ModelCache margin_models;
  BusinessCalendar clearing_calendar = make_calendar("united_states_settlement").value();
  RegistrationPolicy policy;
  MemberId a = MemberId(1);
  MemberId b = MemberId(1);
  MemberId c = MemberId(1);
  ProductId product = ProductId(1);
  int deposits_ = 0;
};

}  // namespace cch::registry::fixture
