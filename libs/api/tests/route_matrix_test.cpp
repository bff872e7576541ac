// The role x route matrix, generated from route_table(): every role (and no credentials at
// all) on every public route gets exactly the status the table implies. A route added to the
// table without a sample request here fails the test.
#include "api_harness.hpp"

#include "cch/api/credentials.hpp"
#include "cch/db/transaction.hpp"
#include "cch/ledger/accounts.hpp"
#include "cch/margin_store/models.hpp"
#include "cch/market/market_data.hpp"
#include "cch/risk/curve_sets.hpp"
#include "cch/risk/margin.hpp"
#include "cch/risk/marks.hpp"
#include "cch/registry/catalog.hpp"
#include "cch/registry/trades.hpp"
#include "cch/risk_routes/margin_routes.hpp"
#include "cch/settlement/collateral.hpp"
#include "cch/settlement/deliveries.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <map>

namespace cch::api::testing {
namespace {

struct Sample {
  std::string target;
  std::string body;
};

class RouteMatrix : public ::testing::Test {
 protected:
  void SetUp() override {
    // Member A holds collateral so that it may request withdrawals.
    const auto deposit = harness.post(harness.operator_caller,
                                      "/v1/members/" + harness.member_a.to_string() + "/collateral-deposits",
                                      R"({"amount":"1000000.00","currency":"USD","bank_reference":"wire-a-1"})");
    ASSERT_EQ(deposit.status, 201u) << deposit.body;
    deposit_journal = nlohmann::json::parse(deposit.body)["journal_id"].get<std::string>();
    collateral_account = db::run_transaction(*harness.fixture.pool, db::Isolation::read_committed, {},
                                             [&](pqxx::transaction_base& tx) {
                                               return ledger::open_member_account(tx, harness.member_a,
                                                                                  ledger::AccountKind::collateral,
                                                                                  Currency::usd());
                                             })
                             .to_string();
    standing_withdrawal = fresh_withdrawal();

    // Trading: member B holds collateral too; a product both may clear, with a reference price
    // for the month after next, and credit limits.
    const auto b_deposit = harness.post(harness.operator_caller,
                                        "/v1/members/" + harness.member_b.to_string() + "/collateral-deposits",
                                        R"({"amount":"1000000.00","currency":"USD","bank_reference":"wire-b-1"})");
    ASSERT_EQ(b_deposit.status, 201u) << b_deposit.body;
    const auto this_month =
        registry::period_containing(registry::PeriodKind::month, BusinessDate::containing(UtcTimestamp::now()));
    trading_month = registry::next_period(registry::next_period(this_month));
    product = fresh_product();
    // Thirteen months of its (synthetic) settlement prices, to build a margin model from.
    import_history(harness, {ProductId::parse(product).value()},
                   latest_business_date("united_states_settlement", 1).add_days(-400).value(),
                   latest_business_date("united_states_settlement", 3), /*settlement_only=*/true);
    db::run_transaction(*harness.fixture.pool, db::Isolation::read_committed, {}, [&](pqxx::transaction_base& tx) {
      for (const MemberId member : {harness.member_a, harness.member_b}) {
        ASSERT_TRUE(registry::authorise_member(tx, member, ProductId::parse(product).value(), "setup"));
        ASSERT_TRUE(registry::set_credit_limit(tx, member, Money{500'000'000, Currency::usd()}, "setup"));
      }
      // Settlement prices (the fat-finger band's reference) of the business date before the latest,
      // and OIS quotes of the latest SOFR business date.
      const auto found = registry::find_product(tx, ProductId::parse(product).value()).value();
      const auto rules = market::market_rules("united_states_settlement", "1M,1Y",
                                              BusinessDate::containing(UtcTimestamp::now()));
      const market::Provenance provenance{"setup", "setup", UtcTimestamp::now(), "setup", std::nullopt, std::nullopt};
      ASSERT_TRUE(market::store_settlement_prices(
          tx, {found.product_id, found.spec.code, found.spec.tick_size_ticks, std::nullopt}, latest_business_date("united_states_settlement", 1),
          {{*trading_month, PricePerGpuHour{21'000}}}, provenance, rules));
      ASSERT_TRUE(market::store_ois_quotes(tx, latest_business_date("united_states_sofr", 2),
                                           {{market::parse_tenor("1M").value(), 4'300'000},
                                            {market::parse_tenor("1Y").value(), 4'100'000}},
                                           provenance, rules));
      registry::NewProduct cash;
      cash.spec.code = harness.unique("gpu-cash");
      cash.spec.gpu_model = "H100";
      cash.spec.form_factor = "sxm";
      cash.spec.min_interconnect = "infiniband-400g";
      cash.spec.region = "us-east";
      cash.spec.settlement = registry::SettlementType::cash;
      cash.spec.cash_index = "GPUIDX-H100";
      cash.spec.tick_size_ticks = 50;
      cash.position_limit_gpu_hours = 1'000'000'000;
      cash.created_by = "setup";
      ASSERT_TRUE(registry::create_product(tx, cash));
      // A curve set of the business date before the latest, marked.
      const auto built = risk::build_curve_set(
          tx, {latest_business_date("united_states_settlement", 1), make_calendar("united_states_settlement").value(),
               BusinessDate::containing(UtcTimestamp::now()), "setup", std::nullopt});
      ASSERT_TRUE(built) << built.error().detail;
      curve_set = std::to_string(built->record.curve_set_id);
      ASSERT_TRUE(risk::mark_open_legs(tx, built->record.curve_set_id, make_calendar("united_states_settlement").value()));
      // Its margin model, and a margin run of both members against it.
      const auto model = risk::build_margin_model(
          tx, {latest_business_date("united_states_settlement", 1), std::nullopt, "setup", std::nullopt});
      ASSERT_TRUE(model) << model.error().detail;
      margin_model = std::to_string(model->record.model_id);
      const auto margins =
          risk::run_margin(tx, {model->record.model_id, std::vector<MemberId>{harness.member_a, harness.member_b},
                                "on_demand", "setup", std::nullopt},
                           make_calendar("united_states_settlement").value());
      ASSERT_TRUE(margins) << margins.error().detail;
      margin_run = std::to_string(margins->run.run_id);
      // A margin call of member A on that run (as settlement issues one), for the call's reads.
      margin_call = tx.exec1("INSERT INTO cch.margin_call (member_id, run_id, business_date, requirement_minor, "
                             "collateral_minor, amount_minor, issued_at, deadline, state) VALUES (" +
                             harness.member_a.to_string() + ", " + margin_run +
                             ", current_date, 300, 100, 200, now(), now() + interval '2 hours', 'issued') "
                             "RETURNING call_id")[0]
                        .as<std::string>();
      // Both members let the harness's venue register their trades.
      const auto venue = tx.exec("SELECT principal_id FROM api.principal WHERE name = 'auction-house'")[0][0];
      for (const MemberId member : {harness.member_a, harness.member_b}) {
        ASSERT_TRUE(registry::authorise_venue(tx, member, venue.as<std::int64_t>(), "setup"));
      }
    });
    standing_trade = fresh_trade(harness.member_a);
    // A cleared trade, a run with its legs, and the run's backtest (member a has a result in it).
    const std::string cleared = fresh_trade(harness.member_a);
    db::run_transaction(*harness.fixture.pool, db::Isolation::read_committed, {}, [&](pqxx::transaction_base& tx) {
      margin::ModelCache models;
      const BusinessCalendar calendar = make_calendar("united_states_settlement").value();
      registry::RegistrationPolicy policy;
      policy.margin_models = &models;
      policy.clearing_calendar = &calendar;
      ASSERT_TRUE(registry::affirm_trade(tx, policy, {harness.member_b, "setup", std::nullopt},
                                         TradeId::parse(cleared).value(), UtcTimestamp::now()));
    });
    db::run_transaction(*harness.fixture.pool, db::Isolation::read_committed, {}, [&](pqxx::transaction_base& tx) {
      const auto margins = risk::run_margin(tx, {std::nullopt, std::vector<MemberId>{harness.member_a, harness.member_b},
                                                 "on_demand", "setup", std::nullopt},
                                            make_calendar("united_states_settlement").value());
      ASSERT_TRUE(margins) << margins.error().detail;
      margin_run = std::to_string(margins->run.run_id);
      const auto tested = risk::backtest_margin_run(tx, {margins->run.run_id, 60, "setup", std::nullopt});
      ASSERT_TRUE(tested) << tested.error().detail;
      margin_backtest = std::to_string(tested->record.backtest_id);
    });
  }

  // A new version of the curve set two business dates ago: its product's prices corrected each
  // time. Answers the business date, and the curve set's id.
  std::pair<std::string, std::string> fresh_curve_set() {
    const BusinessDate date = latest_business_date("united_states_settlement", 2);
    return db::run_transaction(*harness.fixture.pool, db::Isolation::read_committed, {}, [&](pqxx::transaction_base& tx) {
      const auto found = registry::find_product(tx, ProductId::parse(product).value()).value();
      const auto rules = market::market_rules("united_states_settlement", "", BusinessDate::containing(UtcTimestamp::now()));
      market::Provenance provenance{"setup", "setup", UtcTimestamp::now(), "setup", std::nullopt, std::nullopt};
      if (corrections_++ > 0) provenance.correction_reason = "again";
      (void)market::store_settlement_prices(tx, {found.product_id, found.spec.code, found.spec.tick_size_ticks, std::nullopt},
                                            date, {{*trading_month, PricePerGpuHour{21'000 + 50 * corrections_}}},
                                            provenance, rules)
          .value();
      const auto built = risk::build_curve_set(tx, {date, make_calendar("united_states_settlement").value(),
                                                    BusinessDate::containing(UtcTimestamp::now()), "setup", std::nullopt});
      return std::pair{date.format(), std::to_string(built.value().record.curve_set_id)};
    });
  }

  // Margin parameters not stored yet: the defaults with a spread of their own.
  margin::MarginParameters fresh_parameters() {
    margin::MarginParameters parameters;
    parameters.spread_ticks_default = 300 + ++parameter_sets_;
    return parameters;
  }

  // A new parameter version, stored directly: a model built with it is a new model.
  std::string fresh_parameter_version() {
    return std::to_string(db::run_transaction(
        *harness.fixture.pool, db::Isolation::read_committed, {}, [&](pqxx::transaction_base& tx) {
          return margin::store_parameters(tx, fresh_parameters(), "matrix", "setup", std::nullopt)
              .value()
              .version.version;
        }));
  }

  std::string fresh_product() {
    registry::NewProduct wanted;
    wanted.spec.code = harness.unique("gpu");
    wanted.spec.gpu_model = "H100";
    wanted.spec.form_factor = "sxm";
    wanted.spec.min_interconnect = "infiniband-400g";
    wanted.spec.region = "us-east";
    wanted.spec.tick_size_ticks = 50;
    wanted.position_limit_gpu_hours = 1'000'000'000;
    wanted.fee_per_gpu_hour = PricePerGpuHour{25};
    wanted.created_by = "setup";
    return db::run_transaction(*harness.fixture.pool, db::Isolation::read_committed, {},
                               [&](pqxx::transaction_base& tx) {
                                 return registry::create_product(tx, wanted).value().product.product_id.to_string();
                               });
  }

  // A new pending trade, A buying from B, submitted by `submitter`. Each at its own price, so
  // that no two of them are matching submissions of one trade.
  // A pending trade of member A's from member B, submitted by `submitter` (one of them).
  std::string fresh_trade(MemberId submitter) {
    return submitted_trade(harness.member_a, harness.member_b, submitter).to_string();
  }
  TradeId submitted_trade(MemberId buyer, MemberId seller, MemberId submitter) {
    ++trades_made;
    const registry::TradeTerms terms{.product = ProductId::parse(product).value(),
                                     .series_label = std::nullopt,
                                     .buyer = buyer,
                                     .seller = seller,
                                     .delivery_start = trading_month->start(),
                                     .delivery_end = trading_month->end(),
                                     .gpus = 8,
                                     .price = PricePerGpuHour{20'000 + 50 * trades_made}};
    return db::run_transaction(*harness.fixture.pool, db::Isolation::read_committed, {},
                               [&](pqxx::transaction_base& tx) {
                                 return registry::submit_trade(tx, registration_policy(), {submitter, "setup", std::nullopt},
                                                               terms, harness.unique("ref"), UtcTimestamp::now())
                                     .value()
                                     .trade.trade_id;
                               });
  }
  const registry::RegistrationPolicy& registration_policy() {
    policy_.margin_models = &models_;
    policy_.clearing_calendar = &calendar_;
    return policy_;
  }
  margin::ModelCache models_;
  BusinessCalendar calendar_ = make_calendar("united_states_settlement").value();
  registry::RegistrationPolicy policy_;

  // A trade cleared between `buyer` and `seller` whose window is moved (out of band) to yesterday
  // (UTC), so that its delivery may be reported; with the seller's report of 10 GPU-hours and
  // the buyer's dispute (5) when asked.
  std::string delivered_trade(MemberId buyer, MemberId seller, bool reported = false, bool disputed = false) {
    const TradeId trade = submitted_trade(buyer, seller, buyer);
    db::run_transaction(*harness.fixture.pool, db::Isolation::read_committed, {}, [&](pqxx::transaction_base& tx) {
      EXPECT_TRUE(registry::affirm_trade(tx, registration_policy(), {seller, "setup", std::nullopt}, trade,
                                         UtcTimestamp::now()));
    });
    {
      auto connection = harness.fixture.superuser();
      pqxx::work tx(connection);
      tx.exec("SET session_replication_role = replica");
      const std::string start = yesterday().start_of_day().format(), end = yesterday().add_days(1).value().start_of_day().format();
      tx.exec_params("UPDATE cch.trade SET delivery_start = $2::timestamptz, delivery_end = $3::timestamptz, "
                     "gpu_hours = 192 WHERE trade_id = $1", trade.value(), start, end);
      tx.exec_params("UPDATE cch.trade_leg SET delivery_start = $2::timestamptz, delivery_end = $3::timestamptz "
                     "WHERE trade_id = $1", trade.value(), start, end);
      tx.exec("SET session_replication_role = origin");
      tx.commit();
    }
    db::run_transaction(*harness.fixture.pool, db::Isolation::read_committed, {}, [&](pqxx::transaction_base& tx) {
      if (reported) {
        EXPECT_TRUE(settlement::report_delivery(tx, trade, yesterday(), 10, {seller, "setup", std::nullopt},
                                                UtcTimestamp::now()));
      }
      if (disputed) {
        EXPECT_TRUE(settlement::dispute_delivery(tx, trade, yesterday(), 5, "short", {buyer, "setup", std::nullopt}));
      }
    });
    return trade.to_string();
  }
  static BusinessDate yesterday() { return BusinessDate::containing(UtcTimestamp::now()).add_days(-1).value(); }

  // A new requested withdrawal of member A, made directly in the database.
  std::string fresh_withdrawal() {
    return std::to_string(db::run_transaction(
        *harness.fixture.pool, db::Isolation::read_committed, {}, [&](pqxx::transaction_base& tx) {
          const auto made = settlement::request_withdrawal(
              tx, {harness.member_a, Money{100, Currency::usd()}, "setup", harness.unique("setup-key"),
                   RequestId::generate(), harness.config.money("settlement.collateral_movement_max")});
          return made.value().withdrawal_id;
        }));
  }

  std::string fresh_principal(const std::string& role = "auditor") {
    return db::run_transaction(*harness.fixture.pool, db::Isolation::read_committed, {},
                               [&](pqxx::transaction_base& tx) {
                                 return create_principal(tx, harness.unique("p"), role, std::nullopt, "setup")
                                     .value()
                                     .principal.id.to_string();
                               });
  }

  Sample sample(std::string_view method, std::string_view pattern) {
    const std::string a = harness.member_a.to_string();
    const std::map<std::string, std::function<Sample()>, std::less<>> samples = {
        {"GET /healthz", [] { return Sample{"/healthz", ""}; }},
        {"GET /readyz", [] { return Sample{"/readyz", ""}; }},
        {"GET /metrics", [] { return Sample{"/metrics", ""}; }},
        {"GET /v1/me", [] { return Sample{"/v1/me", ""}; }},
        {"GET /v1/members", [] { return Sample{"/v1/members?limit=10", ""}; }},
        {"POST /v1/members",
         [&] { return Sample{"/v1/members", R"({"code":")" + harness.unique("m") + R"(","legal_name":"New Co"})"}; }},
        {"GET /v1/members/{member_id}", [&] { return Sample{"/v1/members/" + a, ""}; }},
        {"GET /v1/members/{member_id}/accounts", [&] { return Sample{"/v1/members/" + a + "/accounts", ""}; }},
        {"GET /v1/members/{member_id}/collateral", [&] { return Sample{"/v1/members/" + a + "/collateral", ""}; }},
        {"POST /v1/members/{member_id}/collateral-deposits",
         [&] {
           return Sample{"/v1/members/" + a + "/collateral-deposits",
                         R"({"amount":"5.00","currency":"USD","bank_reference":")" + harness.unique("wire") + "\"}"};
         }},
        {"GET /v1/members/{member_id}/collateral-withdrawals",
         [&] { return Sample{"/v1/members/" + a + "/collateral-withdrawals", ""}; }},
        {"POST /v1/members/{member_id}/collateral-withdrawals",
         [&] { return Sample{"/v1/members/" + a + "/collateral-withdrawals", R"({"amount":"1.00","currency":"USD"})"}; }},
        {"GET /v1/collateral-withdrawals/{withdrawal_id}",
         [&] { return Sample{"/v1/collateral-withdrawals/" + standing_withdrawal, ""}; }},
        {"POST /v1/collateral-withdrawals/{withdrawal_id}/approve",
         [&] { return Sample{"/v1/collateral-withdrawals/" + fresh_withdrawal() + "/approve", "{}"}; }},
        {"POST /v1/collateral-withdrawals/{withdrawal_id}/reject",
         [&] {
           return Sample{"/v1/collateral-withdrawals/" + fresh_withdrawal() + "/reject", R"({"note":"no"})"};
         }},
        {"POST /v1/collateral-withdrawals/{withdrawal_id}/cancel",
         [&] { return Sample{"/v1/collateral-withdrawals/" + fresh_withdrawal() + "/cancel", "{}"}; }},
        {"GET /v1/accounts/{account_id}", [&] { return Sample{"/v1/accounts/" + collateral_account, ""}; }},
        {"GET /v1/accounts/{account_id}/history",
         [&] { return Sample{"/v1/accounts/" + collateral_account + "/history?limit=5", ""}; }},
        {"GET /v1/journals/{journal_id}", [&] { return Sample{"/v1/journals/" + deposit_journal, ""}; }},
        {"GET /v1/ledger/trial-balance", [] { return Sample{"/v1/ledger/trial-balance", ""}; }},
        {"GET /v1/ledger/verification", [] { return Sample{"/v1/ledger/verification", ""}; }},
        {"GET /v1/audit/requests", [] { return Sample{"/v1/audit/requests?limit=5", ""}; }},
        {"GET /v1/products", [] { return Sample{"/v1/products?limit=10", ""}; }},
        {"POST /v1/products",
         [&] {
           return Sample{"/v1/products", R"({"code":")" + harness.unique("gpu") +
                                             R"(","gpu_model":"H100","form_factor":"sxm","min_interconnect":"roce-400g",)"
                                             R"("region":"us-east","node_block_gpus":8,"settlement":"physical",)"
                                             R"("tick_size":"0.0050","listing_horizon_days":365,)"
                                             R"("position_limit_gpu_hours":1000000,"clearing_fee_per_gpu_hour":"0.0025"})"};
         }},
        {"GET /v1/products/{product_id}", [&] { return Sample{"/v1/products/" + product, ""}; }},
        {"POST /v1/products/{product_id}/trading-status",
         [&] { return Sample{"/v1/products/" + product + "/trading-status", R"({"trading_status":"active"})"}; }},
        {"POST /v1/products/{product_id}/settlement-price-fallbacks",
         [&] {
           // One approval per product and date: each allowed caller approves another date.
           const auto date = BusinessDate::parse("2030-01-01").value().add_days(fallbacks_made++).value();
           return Sample{"/v1/products/" + product + "/settlement-price-fallbacks",
                         R"({"business_date":")" + date.format() + R"(","method":"curve","reason":"no quote"})"};
         }},
        {"GET /v1/products/{product_id}/settlement-price-fallbacks",
         [&] { return Sample{"/v1/products/" + product + "/settlement-price-fallbacks", ""}; }},
        {"POST /v1/products/{product_id}/buy-in-index",
         [&] { return Sample{"/v1/products/" + product + "/buy-in-index", R"({"index":"GPUIDX-H100"})"}; }},
        {"GET /v1/products/{product_id}/series",
         [&] { return Sample{"/v1/products/" + product + "/series?kind=month", ""}; }},
        {"GET /v1/products/{product_id}/settlement-prices",
         [&] { return Sample{"/v1/products/" + product + "/settlement-prices", ""}; }},
        {"GET /v1/market/snapshots", [] { return Sample{"/v1/market/snapshots?kind=settlement", ""}; }},
        {"POST /v1/market/ois-quotes",
         [&] {
           return Sample{"/v1/market/ois-quotes",
                         R"({"business_date":")" + latest_business_date("united_states_sofr", 1).format() +
                             R"(","quotes":[{"tenor":"1M","rate":"0.04300000"},{"tenor":"3M","rate":"0.04250000"},)"
                             R"({"tenor":"6M","rate":"0.04200000"},{"tenor":"1Y","rate":"0.04100000"},)"
                             R"({"tenor":"2Y","rate":"0.03900000"},{"tenor":"3Y","rate":"0.03800000"}],)"
                             R"("source":"FRB NY","publisher":"ops","published_at":"2026-01-05T17:00:00Z"})"};
         }},
        {"GET /v1/market/ois-quotes/{business_date}",
         [&] { return Sample{"/v1/market/ois-quotes/" + latest_business_date("united_states_sofr", 2).format(), ""}; }},
        {"POST /v1/market/settlement-prices",
         [&] {
           return Sample{"/v1/market/settlement-prices",
                         settlement_prices_body(product, {trading_month->label}, "2.1000", latest_business_date())};
         }},
        {"POST /v1/market/index-fixings",
         [&] {
           return Sample{"/v1/market/index-fixings",
                         R"({"business_date":")" + latest_business_date().format() +
                             R"(","index":"GPUIDX-H100","value":"2.0850","source":"index provider","publisher":"ops",)"
                             R"("published_at":"2026-01-05T17:00:00Z"})"};
         }},
        {"GET /v1/market/index-fixings/{index}", [] { return Sample{"/v1/market/index-fixings/GPUIDX-H100", ""}; }},
        {"GET /v1/curve-sets", [] { return Sample{"/v1/curve-sets?limit=2", ""}; }},
        {"POST /v1/curve-sets",
         [&] {
           // A correction entered first, so that each allowed build makes a new version.
           const auto [date, ignored] = fresh_curve_set();
           (void)ignored;
           const BusinessDate day = BusinessDate::parse(date).value();
           db::run_transaction(*harness.fixture.pool, db::Isolation::read_committed, {}, [&](pqxx::transaction_base& tx) {
             const auto found = registry::find_product(tx, ProductId::parse(product).value()).value();
             const auto rules =
                 market::market_rules("united_states_settlement", "", BusinessDate::containing(UtcTimestamp::now()));
             const market::Provenance provenance{"setup", "setup", UtcTimestamp::now(), "setup", std::nullopt,
                                                 std::string("again")};
             (void)market::store_settlement_prices(
                 tx, {found.product_id, found.spec.code, found.spec.tick_size_ticks, std::nullopt}, day,
                 {{*trading_month, PricePerGpuHour{21'000 + 50 * ++corrections_}}}, provenance, rules)
                 .value();
           });
           return Sample{"/v1/curve-sets", R"({"business_date":")" + date + R"("})"};
         }},
        {"GET /v1/curve-sets/{curve_set_id}", [&] { return Sample{"/v1/curve-sets/" + curve_set, ""}; }},
        {"GET /v1/curve-sets/{curve_set_id}/forward-curves/{product_id}",
         [&] {
           return Sample{"/v1/curve-sets/" + curve_set + "/forward-curves/" + product + "?from=" +
                             trading_month->first_day.format() + "&to=" + trading_month->first_day.format(),
                         ""};
         }},
        {"GET /v1/curve-sets/{curve_set_id}/verification",
         [&] { return Sample{"/v1/curve-sets/" + curve_set + "/verification", ""}; }},
        {"POST /v1/curve-sets/{curve_set_id}/mark-run",
         [&] { return Sample{"/v1/curve-sets/" + fresh_curve_set().second + "/mark-run", ""}; }},
        {"GET /v1/curve-sets/{curve_set_id}/mark-run",
         [&] { return Sample{"/v1/curve-sets/" + curve_set + "/mark-run", ""}; }},
        {"GET /v1/members/{member_id}/marks",
         [&] { return Sample{"/v1/members/" + harness.member_a.to_string() + "/marks", ""}; }},
        {"GET /v1/margin/parameters", [] { return Sample{"/v1/margin/parameters?limit=5", ""}; }},
        {"POST /v1/margin/parameters",
         [&] {
           const nlohmann::json body = {{"parameters", risk::parameters_object_json(fresh_parameters())},
                                        {"reason", "matrix"}};
           return Sample{"/v1/margin/parameters", body.dump()};
         }},
        {"GET /v1/margin/parameters/{version}", [] { return Sample{"/v1/margin/parameters/1", ""}; }},
        {"GET /v1/margin/models", [] { return Sample{"/v1/margin/models?limit=5", ""}; }},
        {"POST /v1/margin/models",
         [&] {
           // A new parameter version first, so that each allowed build makes a new model.
           return Sample{"/v1/margin/models", R"({"business_date":")" +
                                                  latest_business_date("united_states_settlement", 1).format() +
                                                  R"(","parameter_version":)" + fresh_parameter_version() + "}"};
         }},
        {"GET /v1/margin/models/{model_id}", [&] { return Sample{"/v1/margin/models/" + margin_model, ""}; }},
        {"GET /v1/margin/models/{model_id}/scenarios",
         [&] { return Sample{"/v1/margin/models/" + margin_model + "/scenarios?class=future&factors=0-10", ""}; }},
        {"GET /v1/margin/models/{model_id}/verification",
         [&] { return Sample{"/v1/margin/models/" + margin_model + "/verification", ""}; }},
        {"GET /v1/margin/runs", [] { return Sample{"/v1/margin/runs?limit=5", ""}; }},
        {"POST /v1/margin/runs",
         [&] { return Sample{"/v1/margin/runs", R"({"model_id":")" + margin_model + R"(","members":[")" + a + "\"]}"}; }},
        {"GET /v1/margin/runs/{run_id}", [&] { return Sample{"/v1/margin/runs/" + margin_run, ""}; }},
        {"GET /v1/margin/runs/{run_id}/members",
         [&] { return Sample{"/v1/margin/runs/" + margin_run + "/members?limit=10", ""}; }},
        {"GET /v1/margin/runs/{run_id}/verification",
         [&] { return Sample{"/v1/margin/runs/" + margin_run + "/verification", ""}; }},
        {"GET /v1/members/{member_id}/margin", [&] { return Sample{"/v1/members/" + a + "/margin", ""}; }},
        {"GET /v1/members/{member_id}/margin/history",
         [&] { return Sample{"/v1/members/" + a + "/margin/history?limit=5", ""}; }},
        {"GET /v1/members/{member_id}/margin/backtest",
         [&] { return Sample{"/v1/members/" + a + "/margin/backtest", ""}; }},
        {"GET /v1/margin/runs/{run_id}/stress",
         [&] { return Sample{"/v1/margin/runs/" + margin_run + "/stress?limit=10", ""}; }},
        {"POST /v1/margin/runs/{run_id}/backtests",
         [&] {
           // Another length each time, so that each allowed request computes a new backtest.
           return Sample{"/v1/margin/runs/" + margin_run + "/backtests",
                         R"({"observations":)" + std::to_string(20 + backtests_made++) + "}"};
         }},
        {"GET /v1/margin/backtests", [] { return Sample{"/v1/margin/backtests?limit=5", ""}; }},
        {"GET /v1/margin/backtests/{backtest_id}",
         [&] { return Sample{"/v1/margin/backtests/" + margin_backtest, ""}; }},
        {"GET /v1/margin/report", [&] { return Sample{"/v1/margin/report?run_id=" + margin_run, ""}; }},
        {"POST /v1/members/{member_id}/margin/what-if",
         [&] {
           return Sample{"/v1/members/" + a + "/margin/what-if",
                         R"({"trades":[{"product_id":")" + product + R"(","side":"buy","delivery_start":")" +
                             trading_month->start().format() + R"(","delivery_end":")" + trading_month->end().format() +
                             R"(","gpus":8,"price":"2.1000"}]})"};
         }},
        {"GET /v1/members/{member_id}/margin-calls",
         [&] { return Sample{"/v1/members/" + a + "/margin-calls?state=issued&limit=5", ""}; }},
        {"GET /v1/margin-calls", [&] { return Sample{"/v1/margin-calls?member_id=" + a + "&format=csv", ""}; }},
        {"GET /v1/margin-calls/{call_id}", [&] { return Sample{"/v1/margin-calls/" + margin_call, ""}; }},
        {"GET /v1/settlement/runs", [] { return Sample{"/v1/settlement/runs?limit=5", ""}; }},
        {"POST /v1/settlement/runs",
         [&] {
           // The date of the curve set marked above (each allowed role's request settles it once).
           return Sample{"/v1/settlement/runs", R"({"business_date":")" +
                                                    latest_business_date("united_states_settlement", 1).format() +
                                                    "\"}"};
         }},
        {"GET /v1/settlement/runs/{run_id}", [&] { return Sample{"/v1/settlement/runs/" + settlement_run(), ""}; }},
        {"GET /v1/settlement/runs/{run_id}/members",
         [&] { return Sample{"/v1/settlement/runs/" + settlement_run() + "/members?format=csv", ""}; }},
        {"GET /v1/settlement/runs/{run_id}/deliveries",
         [&] { return Sample{"/v1/settlement/runs/" + settlement_run() + "/deliveries?format=csv", ""}; }},
        {"GET /v1/settlement/statements/{business_date}",
         [&] { return Sample{"/v1/settlement/statements/" + yesterday().format() + "?format=csv", ""}; }},
        {"POST /v1/settlement/runs/{run_id}/reverse",
         [&] { return Sample{"/v1/settlement/runs/" + settlement_run() + "/reverse", R"({"reason":"prices mistyped"})"}; }},
        {"GET /v1/members/{member_id}/variation-margin",
         [&] { return Sample{"/v1/members/" + a + "/variation-margin?limit=5", ""}; }},
        {"GET /v1/members/{member_id}/variation-margin/{run_id}",
         [&] { return Sample{"/v1/members/" + a + "/variation-margin/" + settlement_run() + "?limit=10", ""}; }},
        {"GET /v1/members/{member_id}/statements/{business_date}",
         [&] { return Sample{"/v1/members/" + a + "/statements/" + yesterday().format(), ""}; }},
        {"POST /v1/members/{member_id}/product-authorisations",
         [&] {
           return Sample{"/v1/members/" + a + "/product-authorisations", R"({"product_id":")" + fresh_product() + "\"}"};
         }},
        {"GET /v1/members/{member_id}/limits", [&] { return Sample{"/v1/members/" + a + "/limits", ""}; }},
        {"POST /v1/members/{member_id}/credit-limit",
         [&] {
           return Sample{"/v1/members/" + a + "/credit-limit", R"({"credit_limit":"5000000.00","currency":"USD"})"};
         }},
        {"POST /v1/members/{member_id}/position-limits",
         [&] {
           return Sample{"/v1/members/" + a + "/position-limits",
                         R"({"product_id":")" + product + R"(","max_gpu_hours":1000000000})"};
         }},
        {"GET /v1/members/{member_id}/positions", [&] { return Sample{"/v1/members/" + a + "/positions", ""}; }},
        {"GET /v1/members/{member_id}/venue-authorisations",
         [&] { return Sample{"/v1/members/" + a + "/venue-authorisations", ""}; }},
        {"POST /v1/members/{member_id}/venue-authorisations",
         [&] {
           return Sample{"/v1/members/" + a + "/venue-authorisations",
                         R"({"venue_principal_id":")" + fresh_principal("venue") + "\"}"};
         }},
        {"POST /v1/members/{member_id}/venue-authorisations/{venue_principal_id}/revoke",
         [&] {
           const std::string venue = fresh_principal("venue");
           db::run_transaction(*harness.fixture.pool, db::Isolation::read_committed, {}, [&](pqxx::transaction_base& tx) {
             ASSERT_TRUE(registry::authorise_venue(tx, harness.member_a, std::stoll(venue), "setup"));
           });
           return Sample{"/v1/members/" + a + "/venue-authorisations/" + venue + "/revoke", "{}"};
         }},
        {"GET /v1/trades", [] { return Sample{"/v1/trades?limit=5", ""}; }},
        {"POST /v1/trades",
         [&] {
           return Sample{"/v1/trades", R"({"product_id":")" + product + R"(","buyer_member_id":")" + a +
                                           R"(","seller_member_id":")" + harness.member_b.to_string() +
                                           R"(","delivery_start":")" + trading_month->start().format() +
                                           R"(","delivery_end":")" + trading_month->end().format() +
                                           R"(","gpus":8,"price":"2.1000","reference":")" + harness.unique("ref") +
                                           "\"}"};
         }},
        {"GET /v1/trades/{trade_id}", [&] { return Sample{"/v1/trades/" + standing_trade, ""}; }},
        {"POST /v1/trades/{trade_id}/affirm",
         [&] { return Sample{"/v1/trades/" + fresh_trade(harness.member_b) + "/affirm", "{}"}; }},
        {"POST /v1/trades/{trade_id}/reject",
         [&] { return Sample{"/v1/trades/" + fresh_trade(harness.member_b) + "/reject", R"({"reason":"no"})"}; }},
        {"GET /v1/trades/{trade_id}/deliveries",
         [&] {
           return Sample{"/v1/trades/" + delivered_trade(harness.member_a, harness.member_b, true) + "/deliveries", ""};
         }},
        {"POST /v1/trades/{trade_id}/deliveries",
         [&] {
           return Sample{"/v1/trades/" + delivered_trade(harness.member_b, harness.member_a) + "/deliveries",
                         R"({"delivery_day":")" + yesterday().format() + R"(","delivered_gpu_hours":10})"};
         }},
        {"POST /v1/trades/{trade_id}/deliveries/{delivery_day}/confirm",
         [&] {
           return Sample{"/v1/trades/" + delivered_trade(harness.member_a, harness.member_b, true) + "/deliveries/" +
                             yesterday().format() + "/confirm",
                         "{}"};
         }},
        {"POST /v1/trades/{trade_id}/deliveries/{delivery_day}/dispute",
         [&] {
           return Sample{"/v1/trades/" + delivered_trade(harness.member_a, harness.member_b, true) + "/deliveries/" +
                             yesterday().format() + "/dispute",
                         R"({"buyer_gpu_hours":5,"reason":"short"})"};
         }},
        {"POST /v1/trades/{trade_id}/deliveries/{delivery_day}/decision",
         [&] {
           return Sample{"/v1/trades/" + delivered_trade(harness.member_a, harness.member_b, true, true) +
                             "/deliveries/" + yesterday().format() + "/decision",
                         R"({"delivered_gpu_hours":7,"reason":"logs"})"};
         }},
        {"POST /v1/trades/{trade_id}/cancel",
         [&] { return Sample{"/v1/trades/" + fresh_trade(harness.member_a) + "/cancel", "{}"}; }},
        {"POST /v1/venue-batches",
         [&] {
           ++trades_made;
           return Sample{"/v1/venue-batches",
                         R"({"trades":[{"product_id":")" + product + R"(","buyer_member_id":")" + a +
                             R"(","seller_member_id":")" + harness.member_b.to_string() + R"(","delivery_start":")" +
                             trading_month->start().format() + R"(","delivery_end":")" + trading_month->end().format() +
                             R"(","gpus":8,"price":")" + PricePerGpuHour{20'000 + 50 * trades_made}.format() +
                             R"(","reference":")" + harness.unique("venue") + "\"}]}"};
         }},
        {"GET /v1/principals", [] { return Sample{"/v1/principals", ""}; }},
        {"POST /v1/principals",
         [&] { return Sample{"/v1/principals", R"({"name":")" + harness.unique("p") + R"(","role":"auditor"})"}; }},
        {"POST /v1/principals/{principal_id}/api-keys",
         [&] { return Sample{"/v1/principals/" + fresh_principal() + "/api-keys", R"({"label":"ci"})"}; }},
        {"POST /v1/api-keys/{key_id}/revoke",
         [&] {
           const std::string key_id = db::run_transaction(
               *harness.fixture.pool, db::Isolation::read_committed, {}, [&](pqxx::transaction_base& tx) {
                 return issue_api_key(tx, access::PrincipalId::parse(fresh_principal()).value(), "x", "setup", 1000)
                     .value()
                     .key_id;
               });
           return Sample{"/v1/api-keys/" + key_id + "/revoke", ""};
         }},
        {"POST /v1/principals/{principal_id}/certificates",
         [&] {
           return Sample{"/v1/principals/" + fresh_principal() + "/certificates",
                         R"({"sha256_fingerprint":")" + random_fingerprint() + "\"}"};
         }},
        {"POST /v1/certificates/{fingerprint}/revoke",
         [&] {
           const std::string fingerprint = random_fingerprint();
           db::run_transaction(*harness.fixture.pool, db::Isolation::read_committed, {},
                               [&](pqxx::transaction_base& tx) {
                                 (void)register_certificate(tx, access::PrincipalId::parse(fresh_principal()).value(),
                                                            fingerprint, "setup")
                                     .value();
                               });
           return Sample{"/v1/certificates/" + fingerprint + "/revoke", ""};
         }},
    };
    const auto found = samples.find(std::string(method) + " " + std::string(pattern));
    if (found == samples.end()) {
      ADD_FAILURE() << "no sample request for " << method << " " << pattern << ": add one to route_matrix_test.cpp";
      return {};
    }
    return found->second();
  }

  http::Response send(const Caller* caller, std::string_view method, const Sample& sample) {
    std::vector<http::NameValue> headers;
    if (method == "POST") headers.emplace_back("Idempotency-Key", harness.unique("matrix"));
    if (caller == nullptr) return harness.anonymous(std::string(method), sample.target);
    return harness.call(*caller, std::string(method), sample.target, sample.body, headers);
  }

  // Marks and margins only when asked: each sample's mark run must be its first (201), and no
  // background model build or margin run may race the samples'.
  ApiHarness harness{ApiHarness::test_options(), std::chrono::milliseconds(10'000), [](std::string_view name) {
                       const bool off = name == "CCH_RISK_MARK_BUILT_CURVE_SETS" ||
                                        name == "CCH_RISK_MARGIN_ON_CURVE_SET" ||
                                        name == "CCH_RISK_MARGIN_ON_TRADE_CLEARED";
                       return off ? std::optional<std::string>("false") : std::optional<std::string>();
                     }};
  std::string deposit_journal;
  std::string collateral_account;
  std::string standing_withdrawal;
  std::optional<registry::DeliveryPeriod> trading_month;
  std::string product;
  std::string standing_trade;
  std::string curve_set;
  std::string margin_model;
  std::string margin_run;
  std::string margin_backtest;
  int backtests_made = 0;
  std::string margin_call;
  // The latest settlement run (the POST's sample settles one before the reads that name it).
  std::string settlement_run() {
    return db::run_transaction(*harness.fixture.pool, db::Isolation::read_committed, {},
                               [](pqxx::transaction_base& tx) {
                                 const auto rows = tx.exec("SELECT max(run_id) FROM settlement.run");
                                 return rows[0][0].is_null() ? std::string("1") : rows[0][0].as<std::string>();
                               });
  }
  int trades_made = 0;
  int fallbacks_made = 0;
  int parameter_sets_ = 0;
  int corrections_ = 0;
};

TEST_F(RouteMatrix, EveryRoleOnEveryRouteGetsExactlyTheExpectedStatus) {
  const std::vector<std::pair<std::string, const Caller*>> callers = {
      {"member", &harness.member_a_caller},
      {"risk_officer", &harness.risk_caller},
      {"auditor", &harness.auditor_caller},
      {"operator", &harness.operator_caller},
      {"venue", &harness.venue_caller},
  };
  int checked = 0;
  for (const RouteSpec& route : route_table()) {
    const bool open = route.executor == Executor::observability && route.roles.empty();
    {
      const auto response = send(nullptr, route.method, sample(route.method, route.pattern));
      EXPECT_EQ(response.status, open ? route.success_status : 401u)
          << "no credentials on " << route.method << " " << route.pattern << ": " << response.body;
      ++checked;
    }
    for (const auto& [role_name, caller] : callers) {
      const bool allowed = open || route.roles.contains(caller->role);
      const auto response = send(caller, route.method, sample(route.method, route.pattern));
      EXPECT_EQ(response.status, allowed ? route.success_status : 403u)
          << role_name << " on " << route.method << " " << route.pattern << ": " << response.body;
      ++checked;
    }
  }
  EXPECT_EQ(checked, static_cast<int>(route_table().size()) * 6);
}

TEST_F(RouteMatrix, TheTableIsWhatTheRouterServes) {
  std::set<std::string> table;
  for (const RouteSpec& route : route_table()) table.insert(std::string(route.method) + " " + std::string(route.pattern));
  std::set<std::string> served;
  for (const auto& route : harness.router.routes()) served.insert(route.method + " " + route.pattern);
  EXPECT_EQ(table, served);
}

}  // namespace
}  // namespace cch::api::testing
