// Initial margin through the api, end to end: thirteen months of (synthetic) market history, the
// day's curves built, trades cleared by members, a margin model built and margins run through the
// api; then a member reads its margin and recomputes every figure of it from what the api
// publishes (the model, its parameters and the scenario moves of its factors), to the cent. And
// cch-risk's own consumer: a curve set built runs every member, a cleared trade its two members,
// and a curve set without enough history behind it does not stop it. A member's what-if margin
// is the figure a margin run gives once the trades clear; a shortfall after a run is called, the
// call read by the member, and a deposit meets it. A settlement run of the day pays each member's
// variation margin, which the member reads leg by leg.
#include "api_harness.hpp"

#include "cch/core/calendar.hpp"
#include "cch/core/decimal.hpp"
#include "cch/db/transaction.hpp"
#include "cch/registry/products.hpp"
#include "cch/risk/marks.hpp"
#include "cch/risk/what_if.hpp"
#include "cch/risk_routes/margin_routes.hpp"

#include <gtest/gtest.h>
#include <pqxx/result>

#include <algorithm>
#include <map>
#include <set>
#include <thread>

namespace cch::api::testing {
namespace {

nlohmann::json json_of(const http::Response& response) { return nlohmann::json::parse(response.body); }

std::string reason_of(const http::Response& response) {
  const auto body = nlohmann::json::parse(response.body, nullptr, false);
  return body.is_object() && body.contains("reason") ? body["reason"].get<std::string>() : std::string();
}

// "-1234.56" -> -123456: the api's money as cents.
std::int64_t cents_of(const nlohmann::json& amount) {
  const auto parsed = parse_scaled_decimal(amount.get<std::string>(), 2);
  EXPECT_TRUE(parsed) << amount;
  return parsed ? *parsed : 0;
}

// ceil(numerator / denominator) for a positive denominator, not below zero.
std::int64_t ceil_at_least_zero(Int128 numerator, Int128 denominator) {
  Int128 quotient = numerator / denominator;
  if (numerator % denominator > 0) ++quotient;
  return quotient < 0 ? 0 : static_cast<std::int64_t>(quotient);
}

std::int64_t count(ApiHarness& harness, const std::string& sql) {
  return db::run_transaction(*harness.fixture.pool, db::Isolation::read_committed, {},
                             [&](pqxx::transaction_base& tx) { return tx.exec(sql)[0][0].as<std::int64_t>(); });
}

class ApiMargin : public ::testing::Test {
 protected:
  // A harness whose cch-risk builds models and runs margins by itself (background) or only when
  // asked; two products of two GPU generations, both members funded and authorised, and
  // thirteen months of history up to the latest business date.
  void prepare(bool background, bool history = true) {
    harness = std::make_unique<ApiHarness>(
        ApiHarness::test_options(), std::chrono::milliseconds(10'000), [background](std::string_view name) {
          const bool margin = name == "CCH_RISK_MARGIN_ON_CURVE_SET" || name == "CCH_RISK_MARGIN_ON_TRADE_CLEARED";
          return margin && !background ? std::optional<std::string>("false") : std::optional<std::string>();
        });
    a = harness->member_a.to_string();
    b = harness->member_b.to_string();
    h100 = create_product("h100-sxm-margin", "H100");
    h200 = create_product("h200-sxm-margin", "H200");
    for (const auto& member : {a, b}) {
      ASSERT_EQ(harness->post(harness->operator_caller, "/v1/members/" + member + "/collateral-deposits",
                              R"({"amount":"1000000.00","currency":"USD","bank_reference":"wire-)" + member + "\"}")
                    .status,
                201u);
      for (const auto& product : {h100, h200}) {
        ASSERT_EQ(harness->post(harness->operator_caller, "/v1/members/" + member + "/product-authorisations",
                                R"({"product_id":")" + product + "\"}")
                      .status,
                  201u);
      }
      ASSERT_EQ(harness->post(harness->risk_caller, "/v1/members/" + member + "/credit-limit",
                              R"({"credit_limit":"5000000.00","currency":"USD"})")
                    .status,
                200u);
    }
    date = latest_business_date();
    if (history) {
      import_history(*harness, {ProductId::parse(h100).value(), ProductId::parse(h200).value()},
                     date.add_days(-400).value(), date);
    }
    month = registry::next_period(registry::next_period(
        registry::period_containing(registry::PeriodKind::month, BusinessDate::containing(UtcTimestamp::now()))));
  }

  std::string create_product(const std::string& code, const std::string& gpu_model) {
    const auto product = harness->post(
        harness->operator_caller, "/v1/products",
        R"({"code":")" + code + R"(","gpu_model":")" + gpu_model +
            R"(","form_factor":"sxm","min_interconnect":"infiniband-400g","region":"us-east","node_block_gpus":8,)"
            R"("settlement":"physical","tick_size":"0.0050","listing_horizon_days":365,)"
            R"("position_limit_gpu_hours":5000000,"clearing_fee_per_gpu_hour":"0.0025"})");
    EXPECT_EQ(product.status, 201u) << product.body;
    return json_of(product)["product_id"].get<std::string>();
  }

  // The product's latest settlement price of the month (the pre-trade band's reference).
  std::string reference_price(const std::string& product) {
    const auto prices = json_of(harness->call(harness->risk_caller, "GET", "/v1/products/" + product + "/settlement-prices"));
    for (const auto& price : prices["prices"]) {
      if (price["period"] == month->label) return price["price"].get<std::string>();
    }
    ADD_FAILURE() << "no settlement price of " << month->label << ": " << prices.dump();
    return "2.0000";
  }

  // A trade of the month, submitted by the buyer and affirmed by the seller through the api;
  // naming the month's series makes it a future.
  std::string clear(const Caller& buyer, const Caller& seller, const std::string& product, int gpus, bool future,
                    std::int64_t off_reference_ticks = 0) {
    const std::string window = future ? R"("series":")" + month->label + "\""
                                      : R"("delivery_start":")" + month->start().format() +
                                            R"(","delivery_end":")" + month->end().format() + "\"";
    const std::string body = R"({"product_id":")" + product + R"(","buyer_member_id":")" +
                             buyer.member->to_string() + R"(","seller_member_id":")" + seller.member->to_string() +
                             "\"," + window + R"(,"gpus":)" + std::to_string(gpus) + R"(,"price":")" +
                             format_scaled_decimal(*parse_scaled_decimal(reference_price(product), 4) + off_reference_ticks, 4) +
                             R"(","reference":")" + harness->unique("margin") + "\"}";
    const auto submitted = harness->post(buyer, "/v1/trades", body);
    EXPECT_EQ(submitted.status, 201u) << submitted.body << " " << body;
    const std::string trade = json_of(submitted)["trade_id"].get<std::string>();
    const auto affirmed = harness->post(seller, "/v1/trades/" + trade + "/affirm", "{}");
    EXPECT_EQ(affirmed.status, 200u) << affirmed.body;
    EXPECT_EQ(json_of(affirmed)["state"], "cleared") << affirmed.body;
    return trade;
  }

  // A run of a business date settles the trades cleared before its cut-off (the next day's start,
  // or now): the trades cleared here are dated at the start of `business_date`, as if cleared that day
  // (the latest business date is yesterday at a weekend), out of band.
  void cleared_on(BusinessDate business_date) {
    auto connection = harness->fixture.superuser();
    pqxx::work tx(connection);
    tx.exec("SET session_replication_role = replica");
    tx.exec_params("UPDATE cch.trade SET decided_at = $1::timestamptz WHERE state = 'cleared'",
                   business_date.start_of_day().format());
    tx.exec("SET session_replication_role = origin");
    tx.commit();
  }

  http::Response build_curves(BusinessDate business_date) {
    return harness->post(harness->risk_caller, "/v1/curve-sets",
                         R"({"business_date":")" + business_date.format() + R"("})");
  }

  // Polls a read until `done` holds (at most 30 s).
  template <class Done>
  nlohmann::json wait_for(const Caller& caller, const std::string& target, Done done) {
    nlohmann::json last;
    for (int attempt = 0; attempt < 300; ++attempt) {
      const auto response = harness->call(caller, "GET", target);
      if (response.status == 200) {
        last = json_of(response);
        if (done(last)) return last;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "not within 30 s: " << target << " " << last.dump();
    return last;
  }

  std::unique_ptr<ApiHarness> harness;
  std::string a, b, h100, h200;
  BusinessDate date = BusinessDate::from_days_since_epoch(0).value();
  std::optional<registry::DeliveryPeriod> month;
};

// What a member recomputes from the published model alone (docs/margin.md, "Recomputing your
// own margin"): each class's expected shortfall from its factor lines' exposures and the
// scenario moves the api serves, the generation basis, the concentration and liquidity add-ons;
// and their sum. No library function of the engine is used.
struct Recomputed {
  std::map<std::string, std::int64_t> expected_shortfall;  // by class
  std::map<std::string, std::int64_t> requirement;
  std::int64_t concentration = 0;
  std::int64_t liquidity = 0;
};

Recomputed recompute(ApiHarness& harness, const Caller& member, const nlohmann::json& margin) {
  const std::string model_id = margin["model_id"];
  const auto model = json_of(harness.call(member, "GET", "/v1/margin/models/" + model_id));
  const auto& parameters = model["parameters"];
  std::map<std::string, nlohmann::json> products;  // by product id
  for (const auto& product : model["products"]) products[product["product_id"].get<std::string>()] = product;
  Recomputed out;
  for (const std::string margin_class : {"future", "forward"}) {
    std::vector<nlohmann::json> lines;
    for (const auto& line : margin["factors"]) {
      if (line["margin_class"] == margin_class) lines.push_back(line);
    }
    // The scenarios of each product the member holds (its eleven factors).
    std::map<std::int64_t, std::vector<std::int64_t>> moves;  // factor -> moves
    std::size_t filtered = 0;
    std::size_t stressed = 0;
    std::int32_t confidence = 0;
    std::set<std::string> held;
    for (const auto& line : lines) held.insert(line["product_id"].get<std::string>());
    for (const auto& product : held) {
      const auto page = harness.call(member, "GET", "/v1/margin/models/" + model_id + "/scenarios?class=" +
                                                        margin_class + "&product_id=" + product);
      EXPECT_EQ(page.status, 200u) << page.body;
      const auto json = json_of(page);
      filtered = json["filtered_count"].get<std::size_t>();
      stressed = json["stressed_count"].get<std::size_t>();
      confidence = json["confidence_bp"].get<std::int32_t>();
      EXPECT_EQ(json["scenarios"].size(), filtered + stressed);
      for (const auto& factor : json["factors"]) {
        moves[factor["factor"].get<std::int64_t>()] = factor["moves_ppb"].get<std::vector<std::int64_t>>();
      }
    }
    // The expected shortfall of some of the lines: P&L per scenario in 10^-9 cent (exact), the
    // mean of the k largest losses of each set, weighted 75 / 25, rounded up to the cent.
    const auto shortfall = [&](const std::vector<nlohmann::json>& of) -> std::int64_t {
      if (of.empty()) return 0;
      std::vector<Int128> pnl(filtered + stressed, 0);
      for (const auto& line : of) {
        const auto& m = moves.at(line["factor"].get<std::int64_t>());
        const Int128 exposure = cents_of(line["exposure"]);
        for (std::size_t s = 0; s < pnl.size(); ++s) pnl[s] += exposure * m[s];
      }
      const auto worst = [&](std::size_t first, std::size_t n) {
        std::vector<Int128> losses;
        for (std::size_t s = first; s < first + n; ++s) losses.push_back(-pnl[s]);
        std::sort(losses.rbegin(), losses.rend());
        const std::size_t k =
            std::max<std::size_t>(1, (n * static_cast<std::size_t>(10'000 - confidence) + 9'999) / 10'000);
        Int128 sum = 0;
        for (std::size_t i = 0; i < k; ++i) sum += losses[i];
        return std::pair<Int128, Int128>{sum, static_cast<Int128>(k)};
      };
      const auto [sf, kf] = worst(0, filtered);
      const auto [ss, ks] = worst(filtered, stressed);
      const Int128 w = parameters["apc_stress_weight_bp"].get<std::int64_t>();
      return ceil_at_least_zero((10'000 - w) * sf * ks + w * ss * kf, Int128{10'000} * kf * ks * 1'000'000'000);
    };
    const std::int64_t portfolio = shortfall(lines);
    std::map<std::int64_t, std::vector<nlohmann::json>> by_generation;
    for (const auto& line : lines) {
      by_generation[products.at(line["product_id"].get<std::string>())["generation"].get<std::int64_t>()].push_back(line);
    }
    std::int64_t alone = 0;
    for (const auto& [generation, of] : by_generation) alone += shortfall(of);
    const std::int64_t benefit = std::max<std::int64_t>(0, alone - portfolio);
    const std::int64_t refused =
        ceil_at_least_zero(Int128{benefit} * (10'000 - parameters["generation_offset_bp"].get<std::int64_t>()), 10'000);
    out.expected_shortfall[margin_class] = portfolio;
    out.requirement[margin_class] = portfolio + refused;
  }
  // Concentration: per product, the share of its open interest above the threshold.
  std::map<std::string, std::pair<Int128, Int128>> per_product;  // net GPU-hours, exposure
  std::map<std::int64_t, Int128> per_factor;                     // net GPU-hours, both classes
  for (const auto& line : margin["factors"]) {
    auto& [hours, exposure] = per_product[line["product_id"].get<std::string>()];
    hours += line["net_gpu_hours"].get<std::int64_t>();
    exposure += cents_of(line["exposure"]);
    per_factor[line["factor"].get<std::int64_t>()] += line["net_gpu_hours"].get<std::int64_t>();
  }
  for (const auto& [product, sums] : per_product) {
    const Int128 oi = products.at(product)["open_interest_gpu_hours"].get<std::int64_t>();
    if (oi <= 0) continue;
    const Int128 held = std::min<Int128>(sums.first < 0 ? -sums.first : sums.first, oi);
    const Int128 over = held * 10'000 - parameters["concentration_threshold_bp"].get<std::int64_t>() * oi;
    if (over <= 0) continue;
    const Int128 excess_ppb = ceil_at_least_zero(over * 1'000'000'000, oi * 10'000);
    const Int128 exposure = sums.second < 0 ? -sums.second : sums.second;
    out.concentration += ceil_at_least_zero(exposure * parameters["concentration_rate_bp"].get<std::int64_t>() * excess_ppb,
                                            Int128{10'000} * 1'000'000'000);
  }
  // Liquidity: half the spread on each factor's net GPU-hours.
  Int128 ticks = 0;
  for (const auto& [factor, hours] : per_factor) {
    const auto& product = model["products"][static_cast<std::size_t>(factor / 11)];
    ticks += (hours < 0 ? -hours : hours) * product["spread_ticks"].get<std::int64_t>();
  }
  out.liquidity = ceil_at_least_zero(ticks, 200);
  return out;
}

TEST_F(ApiMargin, AMemberRecomputesItsInitialMarginFromWhatTheApiPublishes) {
  prepare(/*background=*/false);
  // A is long an H100 forward and short an H200 forward (two generations in one class) and
  // short an H200 future; B holds the other sides.
  clear(harness->member_a_caller, harness->member_b_caller, h100, 64, /*future=*/false);
  clear(harness->member_b_caller, harness->member_a_caller, h200, 32, /*future=*/false);
  clear(harness->member_b_caller, harness->member_a_caller, h200, 16, /*future=*/true);
  ASSERT_EQ(build_curves(date).status, 201u);

  // No model yet: nothing to run against.
  const auto early = harness->post(harness->risk_caller, "/v1/margin/runs", "{}");
  EXPECT_EQ(early.status, 404u) << early.body;
  EXPECT_EQ(reason_of(early), "unknown_model");

  const auto built = harness->post(harness->risk_caller, "/v1/margin/models",
                                   R"({"business_date":")" + date.format() + R"("})");
  ASSERT_EQ(built.status, 201u) << built.body;
  const auto model = json_of(built);
  const std::string model_id = model["model_id"];
  EXPECT_EQ(built.header("Location"), "/v1/margin/models/" + model_id);
  EXPECT_EQ(model["created"], true);
  EXPECT_EQ(model["business_date"], date.format());
  EXPECT_EQ(model["parameter_version"], 1);  // the defaults, stored on first use
  EXPECT_EQ(model["factor_count"], 22);
  EXPECT_EQ(model["products"].size(), 2u);
  EXPECT_NE(model["products"][0]["generation"], model["products"][1]["generation"]);
  EXPECT_GT(model["history"]["dates"].get<int>(), 250);
  EXPECT_EQ(model["classes"][0]["margin_class"], "future");
  EXPECT_EQ(model["classes"][0]["mpor_days"], 2);
  EXPECT_EQ(model["classes"][1]["confidence_bp"], 9950);
  // The same inputs again: the same model.
  const auto again = harness->post(harness->operator_caller, "/v1/margin/models",
                                   R"({"business_date":")" + date.format() + R"("})");
  ASSERT_EQ(again.status, 200u) << again.body;
  EXPECT_EQ(json_of(again)["model_id"], model_id);
  EXPECT_EQ(json_of(again)["created"], false);
  // Refusals, each with its reason.
  const auto no_curves = harness->post(harness->risk_caller, "/v1/margin/models",
                                       R"({"business_date":")" + date.add_days(-1).value().format() + R"("})");
  EXPECT_EQ(no_curves.status, 422u) << no_curves.body;
  EXPECT_EQ(reason_of(no_curves), "no_curve_set");
  const auto no_version = harness->post(harness->risk_caller, "/v1/margin/models",
                                        R"({"business_date":")" + date.format() + R"(","parameter_version":99})");
  EXPECT_EQ(no_version.status, 422u) << no_version.body;
  EXPECT_EQ(reason_of(no_version), "unknown_parameter_version");
  const auto not_a_date =
      harness->post(harness->risk_caller, "/v1/margin/models", R"({"business_date":"yesterday"})");
  EXPECT_EQ(not_a_date.status, 422u);
  EXPECT_EQ(reason_of(not_a_date), "invalid_field");
  EXPECT_EQ(harness->post(harness->member_a_caller, "/v1/margin/models", R"({"business_date":"2026-01-02"})").status,
            403u);

  // The run: both members, every leg.
  const auto ran = harness->post(harness->risk_caller, "/v1/margin/runs", "{}");
  ASSERT_EQ(ran.status, 201u) << ran.body;
  const auto run = json_of(ran);
  const std::string run_id = run["run_id"];
  EXPECT_EQ(run["model_id"], model_id);
  EXPECT_EQ(run["cause"], "on_demand");
  EXPECT_EQ(run["scope"], "all");
  EXPECT_EQ(run["members"], 2);
  EXPECT_EQ(run["legs"], 6);
  EXPECT_EQ(run["legs_interim"], 0);
  EXPECT_EQ(harness->post(harness->risk_caller, "/v1/margin/runs", R"({"members":["999999"]})").status, 404u);
  EXPECT_EQ(reason_of(harness->post(harness->risk_caller, "/v1/margin/runs", R"({"model_id":"999999"})")),
            "unknown_model");
  EXPECT_EQ(reason_of(harness->post(harness->risk_caller, "/v1/margin/runs", R"({"members":[7]})")), "invalid_field");

  // A's margin, as A reads it.
  const auto read = harness->call(harness->member_a_caller, "GET", "/v1/members/" + a + "/margin");
  ASSERT_EQ(read.status, 200u) << read.body;
  const auto margin = json_of(read);
  EXPECT_EQ(margin["run_id"], run_id);
  EXPECT_EQ(margin["model_id"], model_id);
  EXPECT_EQ(margin["business_date"], date.format());
  EXPECT_EQ(margin["parameter_version"], 1);
  EXPECT_EQ(margin["curve_set_id"], model["curve_set_id"]);
  EXPECT_EQ(margin["model_content_hash"], model["content_hash"]);
  EXPECT_EQ(margin["legs"], 3);
  std::int64_t sum = cents_of(margin["concentration"]) + cents_of(margin["liquidity"]) + cents_of(margin["interim"]);
  for (const auto& c : margin["classes"]) sum += cents_of(c["requirement"]);
  const std::int64_t initial_margin = cents_of(margin["initial_margin"]);
  EXPECT_GT(initial_margin, 0);
  EXPECT_EQ(initial_margin, sum) << "the initial margin is the sum of its components";
  // A's forward class offsets an H100 against an H200 (a benefit, half of it refused); it holds
  // all of the H100's open interest (a concentration add-on).
  const auto& forward = margin["classes"][1];
  EXPECT_GT(cents_of(forward["diversification_benefit"]), 0) << margin.dump();
  EXPECT_GT(cents_of(forward["benefit_refused"]), 0);
  EXPECT_GT(cents_of(margin["concentration"]), 0);
  EXPECT_GT(cents_of(margin["classes"][0]["requirement"]), 0);
  EXPECT_EQ(forward["margin_class"], "forward");
  EXPECT_EQ(cents_of(forward["requirement"]), cents_of(forward["expected_shortfall"]) + cents_of(forward["benefit_refused"]));
  EXPECT_EQ(cents_of(forward["diversification_benefit"]),
            cents_of(forward["benefit_taken"]) + cents_of(forward["benefit_refused"]));

  // ... and as A recomputes it from the published model and scenarios.
  const Recomputed recomputed = recompute(*harness, harness->member_a_caller, margin);
  for (const auto& c : margin["classes"]) {
    SCOPED_TRACE(c["margin_class"].get<std::string>());
    const std::string margin_class = c["margin_class"];
    EXPECT_EQ(recomputed.expected_shortfall.at(margin_class), cents_of(c["expected_shortfall"]));
    EXPECT_EQ(recomputed.requirement.at(margin_class), cents_of(c["requirement"]));
  }
  EXPECT_EQ(recomputed.concentration, cents_of(margin["concentration"]));
  EXPECT_EQ(recomputed.liquidity, cents_of(margin["liquidity"]));
  EXPECT_EQ(recomputed.requirement.at("future") + recomputed.requirement.at("forward") + recomputed.concentration +
                recomputed.liquidity,
            initial_margin);

  // The factor lines as CSV: a header and a line each.
  const auto csv = harness->call(harness->member_a_caller, "GET", "/v1/members/" + a + "/margin?format=csv");
  ASSERT_EQ(csv.status, 200u);
  EXPECT_EQ(csv.content_type, "text/csv; charset=utf-8");
  EXPECT_EQ(std::count(csv.body.begin(), csv.body.end(), '\n'), static_cast<long>(margin["factors"].size()) + 1);
  // B does not see A's margin; the history has A's run.
  EXPECT_EQ(harness->call(harness->member_b_caller, "GET", "/v1/members/" + a + "/margin").status, 404u);
  const auto history = json_of(harness->call(harness->member_a_caller, "GET", "/v1/members/" + a + "/margin/history"));
  ASSERT_EQ(history["items"].size(), 1u);
  EXPECT_EQ(history["items"][0]["run_id"], run_id);
  EXPECT_EQ(history["items"][0]["initial_margin"], margin["initial_margin"]);

  // The scenario file: the first page of a class; a range; CSV with a line per scenario.
  const auto first_page = json_of(harness->call(harness->member_a_caller, "GET",
                                                "/v1/margin/models/" + model_id + "/scenarios?class=forward"));
  EXPECT_EQ(first_page["factors"].size(), 22u);
  EXPECT_TRUE(first_page["next_factors"].is_null());
  const auto one = json_of(harness->call(harness->member_a_caller, "GET",
                                         "/v1/margin/models/" + model_id + "/scenarios?class=forward&factors=12-12"));
  ASSERT_EQ(one["factors"].size(), 1u);
  EXPECT_EQ(one["factors"][0]["moves_ppb"], first_page["factors"][12]["moves_ppb"]);
  EXPECT_EQ(one["factors"][0]["bucket_label"], "M1");
  EXPECT_EQ(one["next_factors"], "13-13");
  const auto scenario_csv =
      harness->call(harness->member_a_caller, "GET", "/v1/margin/models/" + model_id + "/scenarios?class=forward",
                    "", {{"Accept", "text/csv"}});
  ASSERT_EQ(scenario_csv.status, 200u);
  EXPECT_EQ(std::count(scenario_csv.body.begin(), scenario_csv.body.end(), '\n'),
            static_cast<long>(first_page["scenarios"].size()) + 1);
  EXPECT_EQ(scenario_csv.body.substr(0, scenario_csv.body.find(',', 18)), "scenario,date,set," + h100 + ":prompt");
  for (const auto& [query, detail] : std::vector<std::pair<std::string, std::string>>{
           {"", "class"}, {"class=swap", "class"}, {"class=future&factors=0-110", "factors"},
           {"class=future&factors=22-30", "factors"}, {"class=future&product_id=999999", "product_id"}}) {
    const auto refused = harness->call(harness->member_a_caller, "GET",
                                       "/v1/margin/models/" + model_id + "/scenarios?" + query);
    EXPECT_EQ(refused.status, 400u) << query;
    EXPECT_NE(json_of(refused)["detail"].get<std::string>().find(detail), std::string::npos) << refused.body;
  }

  // Every member's figures in the run; the run and the model verified.
  const auto members = json_of(harness->call(harness->auditor_caller, "GET", "/v1/margin/runs/" + run_id + "/members"));
  ASSERT_EQ(members["items"].size(), 2u);
  std::int64_t total = 0;
  for (const auto& item : members["items"]) total += cents_of(item["initial_margin"]);
  EXPECT_EQ(cents_of(json_of(harness->call(harness->auditor_caller, "GET", "/v1/margin/runs/" + run_id))["total_initial_margin"]),
            total);
  EXPECT_EQ(cents_of(run["total_initial_margin"]), total);
  const auto members_csv = harness->call(harness->auditor_caller, "GET", "/v1/margin/runs/" + run_id + "/members?format=csv");
  EXPECT_EQ(std::count(members_csv.body.begin(), members_csv.body.end(), '\n'), 3);
  EXPECT_EQ(json_of(harness->call(harness->auditor_caller, "GET", "/v1/margin/models/" + model_id + "/verification"))["verified"],
            true);
  EXPECT_EQ(json_of(harness->call(harness->auditor_caller, "GET", "/v1/margin/runs/" + run_id + "/verification"))["verified"],
            true);
  EXPECT_EQ(harness->call(harness->member_a_caller, "GET", "/v1/margin/runs/" + run_id).status, 403u);
}

TEST_F(ApiMargin, ParametersAreVersionedAndARefusalNamesTheParameter) {
  prepare(/*background=*/false, /*history=*/false);
  const auto list = json_of(harness->call(harness->member_a_caller, "GET", "/v1/margin/parameters"));
  EXPECT_EQ(list["items"].size(), 0u);
  nlohmann::json parameters = {{"future.mpor_days", 2},          {"future.confidence_bp", 9900},
                               {"forward.mpor_days", 5},         {"forward.confidence_bp", 9950},
                               {"ewma_lambda_e4", 9700},         {"vol_floor_bp", 7500},
                               {"lookback_days", 2610},          {"stress_first", "auto"},
                               {"stress_last", "auto"},          {"apc_mode", "stress_weight"},
                               {"apc_stress_weight_bp", 3000},   {"apc_buffer_bp", 2500},
                               {"apc_buffer_released", false},   {"generation_offset_bp", 5000},
                               {"concentration_threshold_bp", 2500}, {"concentration_rate_bp", 10000},
                               {"spread_ticks_default", 200},    {"interim_rate_bp", 1500},
                               {"spread_ticks." + h200, 300}};
  const auto body = [&](const nlohmann::json& p) { return nlohmann::json{{"parameters", p}, {"reason", "review"}}.dump(); };
  const auto stored = harness->post(harness->risk_caller, "/v1/margin/parameters", body(parameters));
  ASSERT_EQ(stored.status, 201u) << stored.body;
  EXPECT_EQ(json_of(stored)["version"], 1);
  EXPECT_EQ(json_of(stored)["created"], true);
  EXPECT_EQ(json_of(stored)["parameters"], parameters);
  EXPECT_NE(json_of(stored)["text"].get<std::string>().find("apc_stress_weight_bp=3000\n"), std::string::npos);
  EXPECT_EQ(stored.header("Location"), "/v1/margin/parameters/1");
  const auto repeated = harness->post(harness->risk_caller, "/v1/margin/parameters", body(parameters));
  EXPECT_EQ(repeated.status, 200u);
  EXPECT_EQ(json_of(repeated)["created"], false);
  EXPECT_EQ(json_of(harness->call(harness->member_b_caller, "GET", "/v1/margin/parameters/1"))["parameters"], parameters);
  EXPECT_EQ(harness->post(harness->operator_caller, "/v1/margin/parameters", body(parameters)).status, 403u);

  struct Case {
    std::string name;
    nlohmann::json parameters;
    std::string field;
  };
  auto below = parameters;
  below["forward.confidence_bp"] = 9900;
  auto missing = parameters;
  missing.erase("interim_rate_bp");
  auto unknown = parameters;
  unknown["margin_multiplier"] = 2;
  auto fraction = parameters;
  fraction["vol_floor_bp"] = 7500.5;
  auto text = parameters;
  text["apc_mode"] = "stress_weight\nvol_floor_bp=1";
  auto short_stress = parameters;
  short_stress["stress_first"] = "2025-06-01";
  short_stress["stress_last"] = "2025-12-01";
  for (const auto& test : std::vector<Case>{{"bilateral forwards below 99.5 %", below, "parameters.forward.confidence_bp"},
                                            {"a name missing", missing, "parameters.interim_rate_bp"},
                                            {"an unknown name", unknown, "parameters.margin_multiplier"},
                                            {"a fraction", fraction, "parameters.vol_floor_bp"},
                                            {"a line break", text, "parameters.apc_mode"},
                                            {"a stressed period under a year", short_stress, "parameters.stress_last"}}) {
    SCOPED_TRACE(test.name);
    const auto refused = harness->post(harness->risk_caller, "/v1/margin/parameters", body(test.parameters));
    EXPECT_EQ(refused.status, 422u) << refused.body;
    EXPECT_EQ(reason_of(refused), "invalid_parameter");
    EXPECT_EQ(json_of(refused)["field"], test.field) << refused.body;
  }
  EXPECT_EQ(reason_of(harness->post(harness->risk_caller, "/v1/margin/parameters", R"({"reason":"r"})")),
            "missing_field");
  EXPECT_EQ(count(*harness, "SELECT count(*) FROM margin.parameter_set"), 1);
}

// cch-risk's consumer: a curve set of a date without a year of history before it is refused a
// model (logged) and passed over; the next curve set builds the model and runs every member; a
// cleared trade runs its two members against it.
TEST_F(ApiMargin, CurveSetsBuiltAndTradesClearedRunMarginsWithoutBeingAsked) {
  prepare(/*background=*/true);
  clear(harness->member_a_caller, harness->member_b_caller, h100, 64, /*future=*/false);
  const auto calendar = make_calendar("united_states_settlement").value();
  BusinessDate early = date.add_days(-390).value();
  while (!calendar.is_business_day(early)) early = early.add_days(1).value();
  ASSERT_EQ(build_curves(early).status, 201u);
  ASSERT_EQ(build_curves(date).status, 201u);
  const auto margin = wait_for(harness->member_a_caller, "/v1/members/" + a + "/margin",
                               [](const nlohmann::json&) { return true; });
  EXPECT_EQ(margin["business_date"], date.format());
  EXPECT_GT(cents_of(margin["initial_margin"]), 0);
  const auto runs = json_of(harness->call(harness->risk_caller, "GET", "/v1/margin/runs"));
  ASSERT_EQ(runs["items"].size(), 1u) << runs.dump();
  EXPECT_EQ(runs["items"][0]["cause"], "curve_set.built");
  EXPECT_EQ(runs["items"][0]["scope"], "all");
  EXPECT_EQ(runs["items"][0]["members"], 2);
  EXPECT_EQ(json_of(harness->call(harness->risk_caller, "GET", "/v1/margin/models"))["items"].size(), 1u)
      << "the early date's model was refused";
  // The day's run is backtested by itself, after it (risk.margin_backtest_observations, 250).
  const std::string day_run = runs["items"][0]["run_id"];
  const auto backtests = wait_for(harness->risk_caller, "/v1/margin/backtests",
                                  [](const nlohmann::json& list) { return !list["items"].empty(); });
  ASSERT_EQ(backtests["items"].size(), 1u);
  EXPECT_EQ(backtests["items"][0]["run_id"], day_run);
  EXPECT_EQ(backtests["items"][0]["observations_requested"], 250);
  EXPECT_EQ(backtests["items"][0]["requested_by"], "cch-risk");

  clear(harness->member_b_caller, harness->member_a_caller, h200, 32, /*future=*/false);
  const auto later = wait_for(harness->risk_caller, "/v1/margin/runs", [](const nlohmann::json& list) {
    return !list["items"].empty() && list["items"][0]["cause"] == "trade.cleared";
  });
  EXPECT_EQ(later["items"][0]["scope"], "members");
  EXPECT_EQ(later["items"][0]["members"], 2);
  EXPECT_EQ(later["items"][0]["legs"], 4);
  const auto history = json_of(harness->call(harness->member_b_caller, "GET", "/v1/members/" + b + "/margin/history"));
  EXPECT_EQ(history["items"].size(), 2u);
  // A run of the members of a trade is not the day's: it is not backtested.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(json_of(harness->call(harness->risk_caller, "GET", "/v1/margin/backtests"))["items"].size(), 1u);
}

// The figures a what-if and the member margin report share: classes, add-ons, initial margin.
nlohmann::json figures_of(const nlohmann::json& json) {
  return {{"classes", json["classes"]},           {"concentration", json["concentration"]},
          {"liquidity", json["liquidity"]},       {"interim", json["interim"]},
          {"initial_margin", json["initial_margin"]}, {"currency", json["currency"]}};
}

TEST_F(ApiMargin, AWhatIfIsTheFigureAMarginRunGivesOnceTheTradesClearAndChangesNothing) {
  prepare(/*background=*/false);
  clear(harness->member_a_caller, harness->member_b_caller, h100, 64, /*future=*/false);
  const std::string target = "/v1/members/" + a + "/margin/what-if";
  const std::string h100_price = reference_price(h100);
  const std::string h200_price = reference_price(h200);
  // A buys 32 more H100s over the month (a forward) and sells 16 H200s of the month's series (a
  // future); no Idempotency-Key: it is a question, not a command.
  const nlohmann::json trades = {
      {{"product_id", h100}, {"side", "buy"}, {"delivery_start", month->start().format()},
       {"delivery_end", month->end().format()}, {"gpus", 32}, {"price", h100_price}},
      {{"product_id", h200}, {"side", "sell"}, {"series", month->label}, {"gpus", 16}, {"price", h200_price}}};
  const std::string body = nlohmann::json{{"trades", trades}}.dump();
  const auto ask = [&](const Caller& caller, const std::string& text) {
    return harness->call(caller, "POST", target, text);
  };
  // Before any model there is nothing to ask against.
  const auto early = ask(harness->member_a_caller, body);
  EXPECT_EQ(early.status, 404u) << early.body;
  EXPECT_EQ(reason_of(early), "unknown_model");

  ASSERT_EQ(build_curves(date).status, 201u);
  ASSERT_EQ(harness->post(harness->risk_caller, "/v1/margin/models", R"({"business_date":")" + date.format() + R"("})")
                .status,
            201u);
  ASSERT_EQ(harness->post(harness->risk_caller, "/v1/margin/runs", "{}").status, 201u);
  const auto now = json_of(harness->call(harness->member_a_caller, "GET", "/v1/members/" + a + "/margin"));

  const auto counts = [&] {
    return std::vector<std::int64_t>{
        count(*harness, "SELECT count(*) FROM margin.run"), count(*harness, "SELECT count(*) FROM cch.trade"),
        count(*harness, "SELECT coalesce(sum(initial_margin_cents), 0) FROM cch.member_margin_state"),
        count(*harness, "SELECT count(*) FROM cch.outbox"), count(*harness, "SELECT count(*) FROM api.idempotency")};
  };
  const auto before_counts = counts();
  const auto answered = ask(harness->member_a_caller, body);
  ASSERT_EQ(answered.status, 200u) << answered.body;
  const auto what_if = json_of(answered);
  EXPECT_EQ(counts(), before_counts) << "a what-if writes nothing";
  EXPECT_EQ(what_if["member_id"], a);
  EXPECT_EQ(what_if["model_id"], now["model_id"]);
  EXPECT_EQ(what_if["business_date"], date.format());
  EXPECT_EQ(what_if["open_legs"], 1);
  EXPECT_EQ(what_if["trades"], 2);
  EXPECT_EQ(figures_of(what_if["before"]), figures_of(now)) << "before: the member's margin report, every component";
  EXPECT_GT(cents_of(what_if["after"]["initial_margin"]), cents_of(what_if["before"]["initial_margin"]));
  EXPECT_EQ(cents_of(what_if["initial_margin_change"]),
            cents_of(what_if["after"]["initial_margin"]) - cents_of(what_if["before"]["initial_margin"]));
  EXPECT_GT(cents_of(what_if["after"]["classes"][0]["requirement"]), 0) << "the future sold is in the future class";
  // The same question again (a key, which is ignored, or none): the same answer.
  EXPECT_EQ(json_of(harness->call(harness->member_a_caller, "POST", target, body, {{"Idempotency-Key", "k"}})), what_if);
  // Staff may ask for any member; an auditor may not ask; another member's answers 404.
  EXPECT_EQ(json_of(ask(harness->risk_caller, body)), what_if);
  EXPECT_EQ(json_of(ask(harness->operator_caller, body)), what_if);
  EXPECT_EQ(ask(harness->auditor_caller, body).status, 403u);
  const auto other = ask(harness->member_b_caller, body);
  EXPECT_EQ(other.status, 404u);
  EXPECT_EQ(reason_of(other), "not_found");
  EXPECT_EQ(reason_of(harness->call(harness->risk_caller, "POST", "/v1/members/999999/margin/what-if", body)),
            "not_found");

  // The trades themselves, cleared, and A's margin run: the what-if's figures, to the cent.
  const auto clear_as = [&](const Caller& buyer, const Caller& seller, const nlohmann::json& terms) {
    nlohmann::json submission = terms;
    submission.erase("side");
    submission["buyer_member_id"] = buyer.member->to_string();
    submission["seller_member_id"] = seller.member->to_string();
    submission["reference"] = harness->unique("what-if");
    const auto submitted = harness->post(buyer, "/v1/trades", submission.dump());
    ASSERT_EQ(submitted.status, 201u) << submitted.body;
    const auto affirmed = harness->post(seller, "/v1/trades/" + json_of(submitted)["trade_id"].get<std::string>() + "/affirm", "{}");
    ASSERT_EQ(json_of(affirmed)["state"], "cleared") << affirmed.body;
  };
  clear_as(harness->member_a_caller, harness->member_b_caller, trades[0]);
  clear_as(harness->member_b_caller, harness->member_a_caller, trades[1]);
  ASSERT_EQ(harness->post(harness->risk_caller, "/v1/margin/runs", R"({"members":[")" + a + "\"]}").status, 201u);
  const auto after = json_of(harness->call(harness->member_a_caller, "GET", "/v1/members/" + a + "/margin"));
  EXPECT_EQ(after["legs"], 3);
  EXPECT_EQ(figures_of(after), figures_of(what_if["after"])) << after.dump() << "\n" << what_if.dump();
}

TEST_F(ApiMargin, AWhatIfRefusesBadTradesNamingTheTradeAndTheField) {
  prepare(/*background=*/false, /*history=*/false);
  const std::string target = "/v1/members/" + a + "/margin/what-if";
  const nlohmann::json good = {{"product_id", h100}, {"side", "buy"}, {"delivery_start", month->start().format()},
                               {"delivery_end", month->end().format()}, {"gpus", 8}, {"price", "2.1000"}};
  struct Case {
    std::string name;
    nlohmann::json body;
    std::string reason;
    std::string field;
  };
  const auto with = [&](const char* name, nlohmann::json value) {
    nlohmann::json trade = good;
    if (value.is_null()) {
      trade.erase(name);
    } else {
      trade[name] = std::move(value);
    }
    return nlohmann::json{{"trades", {good, trade}}};
  };
  nlohmann::json series_and_window = good;
  series_and_window["series"] = month->label;
  const std::vector<Case> cases = {
      {"no trades", {{"trades", nlohmann::json::array()}}, "invalid_field", "trades"},
      {"not an array", {{"trades", good}}, "invalid_field", "trades"},
      {"none at all", nlohmann::json::object(), "missing_field", "trades"},
      {"an unknown field", {{"trades", {good}}, {"when", "now"}}, "unknown_field", "when"},
      {"too many", {{"trades", std::vector<nlohmann::json>(risk::kWhatIfTradesMax + 1, good)}}, "too_many_trades", "trades"},
      {"a trade not an object", {{"trades", {good, 7}}}, "invalid_field", "trades[1]"},
      {"GPUs below one", with("gpus", -8), "invalid_field", "trades[1].gpus"},
      {"no GPUs", with("gpus", 0), "invalid_field", "trades[1].gpus"},
      {"GPUs off the node block", with("gpus", 4), "invalid_gpus", "trades[1].gpus"},
      {"a price off the tick", with("price", "2.1003"), "price_off_tick", "trades[1].price"},
      {"a price of zero", with("price", "0.0000"), "invalid_price", "trades[1].price"},
      {"a price as a number", with("price", 2.1), "invalid_field", "trades[1].price"},
      {"a side that is not one", with("side", "long"), "invalid_field", "trades[1].side"},
      {"no side", with("side", nullptr), "missing_field", "trades[1].side"},
      {"an unknown product", with("product_id", "999999"), "unknown_product", "trades[1].product_id"},
      {"a window off the hour", with("delivery_end", "2031-01-01T00:30:00Z"), "invalid_window", "trades[1].delivery_end"},
      {"an empty window", with("delivery_end", month->start().format()), "invalid_window", "trades[1].delivery_end"},
      {"a window of more than 26,328 hours", with("delivery_end", "2040-01-01T00:00:00Z"), "invalid_window",
       "trades[1].delivery_end"},
      {"a series and a window", {{"trades", {series_and_window}}}, "invalid_field", "trades[0].delivery_start"},
      {"the parties", with("buyer_member_id", a), "field_not_settable", "trades[1].buyer_member_id"},
  };
  for (const auto& test : cases) {
    SCOPED_TRACE(test.name);
    const auto refused = harness->call(harness->member_a_caller, "POST", target, test.body.dump());
    EXPECT_EQ(refused.status, 422u) << refused.body;
    EXPECT_EQ(reason_of(refused), test.reason) << refused.body;
    EXPECT_EQ(json_of(refused)["field"], test.field) << refused.body;
  }
  nlohmann::json unknown_series = good;
  unknown_series.erase("delivery_start");
  unknown_series.erase("delivery_end");
  unknown_series["series"] = "2027-13";
  const auto refused = harness->call(harness->member_a_caller, "POST", target,
                                     nlohmann::json{{"trades", {unknown_series}}}.dump());
  EXPECT_EQ(reason_of(refused), "unknown_series") << refused.body;
  EXPECT_EQ(json_of(refused)["field"], "trades[0].series");
  // A body over the what-if's limit.
  const std::string large = R"({"trades":[{"product_id":")" + h100 + R"(","side":")" +
                            std::string(risk::kWhatIfBodyBytesMax, 'b') + R"("}]})";
  const auto too_large = harness->call(harness->member_a_caller, "POST", target, large);
  EXPECT_EQ(too_large.status, 413u) << too_large.body.substr(0, 200);
  EXPECT_EQ(reason_of(too_large), "body_too_large");
}

// The risk service's handler, called as a plain function with the principal the api forwards.
TEST_F(ApiMargin, TheWhatIfHandlerAnswersOnlyTheMemberItselfAndStaffOfTheRisk) {
  prepare(/*background=*/false, /*history=*/false);
  const auto request = [&](std::optional<access::Principal> principal, const std::string& member) {
    http::Request r;
    r.method = "POST";
    r.target = r.path = "/internal/v1/members/" + member + "/margin/what-if";
    r.path_params = {{"member_id", member}};
    r.body = R"({"trades":[{"product_id":")" + h100 + R"(","side":"sell","series":")" + month->label +
             R"(","gpus":8,"price":"2.1000"}]})";
    r.headers = {{"Content-Type", "application/json"}, {"X-Request-Id", "what-if-handler"}};
    r.request_id = "what-if-handler";
    if (principal) {
      for (auto& header : access::forwarded_principal_headers(*principal)) r.headers.push_back(std::move(header));
    }
    return risk::what_if_query(harness->risk_context, r);
  };
  const access::Principal member_a{access::PrincipalId(900), "member-a-system", access::Role::member,
                                   harness->member_a, access::Credential::client_certificate};
  const access::Principal auditor{access::PrincipalId(901), "audit", access::Role::auditor, std::nullopt,
                                  access::Credential::client_certificate};
  const access::Principal risk_officer{access::PrincipalId(902), "risk", access::Role::risk_officer, std::nullopt,
                                       access::Credential::client_certificate};
  EXPECT_EQ(reason_of(request(std::nullopt, a)), "missing_forwarded_principal");
  EXPECT_EQ(request(auditor, a).status, 403u);
  EXPECT_EQ(reason_of(request(member_a, b)), "not_found") << "a member asks only about itself";
  // Its own, and a risk officer's for it: no model has been built yet.
  EXPECT_EQ(reason_of(request(member_a, a)), "unknown_model");
  EXPECT_EQ(reason_of(request(risk_officer, a)), "unknown_model");
  EXPECT_EQ(reason_of(request(risk_officer, "999999")), "not_found");
}

// A margin call through the api: a member whose collateral is exactly its initial margin (it
// asked back everything else, and no more may be asked) is called when the next model raises its
// margin; it reads the call (issued), a deposit meets it (met). Staff list every member's calls.
TEST_F(ApiMargin, AShortfallIsCalledTheMemberReadsItsCallAndADepositMeetsIt) {
  prepare(/*background=*/false);
  clear(harness->member_a_caller, harness->member_b_caller, h100, 64, /*future=*/false);
  ASSERT_EQ(build_curves(date).status, 201u);
  ASSERT_EQ(harness->post(harness->risk_caller, "/v1/margin/models", R"({"business_date":")" + date.format() + R"("})")
                .status,
            201u);
  // A trade after the model: the pre-trade check takes A's margin under it (before, its figure
  // was the interim rule's), the figure a withdrawal leaves in place.
  clear(harness->member_a_caller, harness->member_b_caller, h100, 8, /*future=*/false);
  ASSERT_EQ(harness->post(harness->risk_caller, "/v1/margin/runs", "{}").status, 201u);
  const std::string calls_of_a = "/v1/members/" + a + "/margin-calls";
  // A asks back all that its margin leaves free; a cent more is refused.
  const auto collateral = json_of(harness->call(harness->member_a_caller, "GET", "/v1/members/" + a + "/collateral"));
  const std::int64_t initial_margin = cents_of(collateral["committed_to_trades"]);
  EXPECT_EQ(initial_margin,
            cents_of(json_of(harness->call(harness->member_a_caller, "GET", "/v1/members/" + a + "/margin"))["initial_margin"]));
  const auto free = harness->post(harness->member_a_caller, "/v1/members/" + a + "/collateral-withdrawals",
                                  R"({"amount":")" + collateral["available"].get<std::string>() + R"(","currency":"USD"})");
  ASSERT_EQ(free.status, 201u) << free.body;
  const auto more = harness->post(harness->member_a_caller, "/v1/members/" + a + "/collateral-withdrawals",
                                  R"({"amount":"0.01","currency":"USD"})");
  EXPECT_EQ(more.status, 422u);
  EXPECT_EQ(reason_of(more), "insufficient_collateral");
  // A run at the same margin calls no one.
  ASSERT_EQ(harness->post(harness->risk_caller, "/v1/margin/runs", "{}").status, 201u);
  // Wider spreads: the next model's liquidity add-on raises A's margin above its collateral.
  nlohmann::json parameters = json_of(harness->call(harness->risk_caller, "GET", "/v1/margin/parameters/1"))["parameters"];
  parameters["spread_ticks_default"] = 2000;
  const auto stored = harness->post(harness->risk_caller, "/v1/margin/parameters",
                                    nlohmann::json{{"parameters", parameters}, {"reason", "wider spreads"}}.dump());
  ASSERT_EQ(stored.status, 201u) << stored.body;
  ASSERT_EQ(harness->post(harness->risk_caller, "/v1/margin/models",
                          R"({"business_date":")" + date.format() + R"(","parameter_version":2})")
                .status,
            201u);
  ASSERT_EQ(harness->post(harness->risk_caller, "/v1/margin/runs", "{}").status, 201u);
  const std::int64_t raised =
      cents_of(json_of(harness->call(harness->member_a_caller, "GET", "/v1/members/" + a + "/margin"))["initial_margin"]);
  EXPECT_GT(raised, initial_margin);
  // cch-settlement's consumer issues the call; A reads it.
  const auto listed = wait_for(harness->member_a_caller, calls_of_a,
                               [](const nlohmann::json& page) { return !page["items"].empty(); });
  ASSERT_EQ(listed["items"].size(), 1u) << listed.dump();
  EXPECT_EQ(listed["member_id"], a);
  EXPECT_TRUE(listed["next_cursor"].is_null());
  const auto call = listed["items"][0];
  const std::string call_id = call["call_id"];
  EXPECT_EQ(call["state"], "issued");
  EXPECT_EQ(call["member_id"], a);
  EXPECT_EQ(cents_of(call["requirement"]), raised);
  EXPECT_EQ(cents_of(call["collateral"]), initial_margin);
  EXPECT_EQ(cents_of(call["amount"]), raised - initial_margin);
  EXPECT_EQ(call["currency"], "USD");
  EXPECT_TRUE(call["closed_at"].is_null());
  EXPECT_EQ(json_of(harness->call(harness->member_a_caller, "GET", "/v1/margin-calls/" + call_id)), call);
  // B sees neither A's calls nor the call; A may not list every member's.
  for (const std::string& target : {calls_of_a, "/v1/margin-calls/" + call_id}) {
    const auto denied = harness->call(harness->member_b_caller, "GET", target);
    EXPECT_EQ(denied.status, 404u) << target;
    EXPECT_EQ(reason_of(denied), "not_found");
  }
  EXPECT_EQ(harness->call(harness->member_a_caller, "GET", "/v1/margin-calls").status, 403u);
  EXPECT_EQ(harness->call(harness->member_b_caller, "GET", "/v1/margin-calls/999999").status, 404u);
  // Staff: every member's, or one's, by state; CSV.
  const auto all = json_of(harness->call(harness->risk_caller, "GET", "/v1/margin-calls?state=issued"));
  ASSERT_EQ(all["items"].size(), 1u);
  EXPECT_EQ(all["items"][0], call);
  EXPECT_EQ(json_of(harness->call(harness->auditor_caller, "GET", "/v1/margin-calls?member_id=" + b))["items"].size(), 0u);
  EXPECT_EQ(json_of(harness->call(harness->operator_caller, "GET", "/v1/margin-calls?state=met"))["items"].size(), 0u);
  const auto csv = harness->call(harness->member_a_caller, "GET", calls_of_a, "", {{"Accept", "text/csv"}});
  ASSERT_EQ(csv.status, 200u);
  EXPECT_EQ(csv.content_type, "text/csv; charset=utf-8");
  EXPECT_EQ(csv.body.substr(0, csv.body.find('\n')),
            "call_id,member_id,run_id,business_date,requirement,collateral,amount,currency,issued_at,deadline,state,"
            "closed_at");
  EXPECT_EQ(csv.body.substr(csv.body.find('\n') + 1, call_id.size() + 1), call_id + ",");
  EXPECT_EQ(std::count(csv.body.begin(), csv.body.end(), '\n'), 2);
  for (const std::string query : {"state=open", "limit=501", "cursor=x", "format=xml", "member_id=1"}) {
    const auto refused = harness->call(harness->member_a_caller, "GET", calls_of_a + "?" + query);
    EXPECT_EQ(refused.status, 400u) << query << " " << refused.body;
  }
  // A deposit of the amount meets it.
  ASSERT_EQ(harness->post(harness->operator_caller, "/v1/members/" + a + "/collateral-deposits",
                          R"({"amount":")" + call["amount"].get<std::string>() +
                              R"(","currency":"USD","bank_reference":"wire-call-a"})")
                .status,
            201u);
  const auto met = json_of(harness->call(harness->member_a_caller, "GET", "/v1/margin-calls/" + call_id));
  EXPECT_EQ(met["state"], "met");
  EXPECT_FALSE(met["closed_at"].is_null());
  EXPECT_EQ(json_of(harness->call(harness->member_a_caller, "GET", calls_of_a + "?state=met"))["items"][0]["call_id"],
            call_id);
  EXPECT_EQ(json_of(harness->call(harness->member_a_caller, "GET", calls_of_a + "?state=issued"))["items"].size(), 0u);
}

std::size_t lines_of(const std::string& text) { return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')); }

TEST_F(ApiMargin, StressResultsBacktestsAndTheRiskReportAcrossMembers) {
  prepare(/*background=*/false);
  clear(harness->member_a_caller, harness->member_b_caller, h100, 64, /*future=*/false);
  clear(harness->member_b_caller, harness->member_a_caller, h200, 32, /*future=*/false);
  clear(harness->member_b_caller, harness->member_a_caller, h200, 16, /*future=*/true);
  ASSERT_EQ(build_curves(date).status, 201u);
  ASSERT_EQ(harness->post(harness->risk_caller, "/v1/margin/models", R"({"business_date":")" + date.format() + R"("})")
                .status,
            201u);
  const auto ran = harness->post(harness->risk_caller, "/v1/margin/runs", "{}");
  ASSERT_EQ(ran.status, 201u) << ran.body;
  const std::string run_id = json_of(ran)["run_id"];
  const std::int64_t total = cents_of(json_of(ran)["total_initial_margin"]);

  // Stress: each member's results are those its margin report shows; Cover-2 takes the two worst.
  const auto stress = harness->call(harness->risk_caller, "GET", "/v1/margin/runs/" + run_id + "/stress");
  ASSERT_EQ(stress.status, 200u) << stress.body;
  const auto stressed = json_of(stress);
  ASSERT_EQ(stressed["items"].size(), 2u);
  std::int64_t worst_sum = 0;
  for (const auto& item : stressed["items"]) {
    const std::string member = item["member_id"];
    const auto own = json_of(harness->call(harness->risk_caller, "GET", "/v1/members/" + member + "/margin?run_id=" + run_id));
    EXPECT_EQ(item["results"], own["stress"]);
    ASSERT_EQ(item["results"].size(), 4u);
    std::int64_t worst = 0;
    for (const auto& result : item["results"]) {
      const std::int64_t loss = cents_of(result["loss"]);
      EXPECT_EQ(cents_of(result["uncovered"]), std::max<std::int64_t>(0, loss - cents_of(own["initial_margin"])));
      worst = std::max(worst, cents_of(result["uncovered"]));
    }
    EXPECT_EQ(cents_of(item["worst"]["uncovered"]), worst);
    worst_sum += worst;
  }
  // Two members: both are Cover-2's.
  ASSERT_EQ(stressed["cover_2"]["members"].size(), 2u);
  EXPECT_NE(stressed["cover_2"]["members"][0]["member_id"], stressed["cover_2"]["members"][1]["member_id"]);
  EXPECT_EQ(cents_of(stressed["cover_2"]["uncovered"]), worst_sum);
  const auto stress_csv = harness->call(harness->auditor_caller, "GET", "/v1/margin/runs/" + run_id + "/stress?format=csv");
  ASSERT_EQ(stress_csv.status, 200u);
  EXPECT_EQ(lines_of(stress_csv.body), 3u);
  EXPECT_EQ(harness->call(harness->member_a_caller, "GET", "/v1/margin/runs/" + run_id + "/stress").status, 403u);

  // A backtest of the run: computed once, then the same.
  const auto bad = harness->post(harness->risk_caller, "/v1/margin/runs/" + run_id + "/backtests", R"({"observations":0})");
  EXPECT_EQ(bad.status, 422u) << bad.body;
  EXPECT_EQ(reason_of(bad), "invalid_field");
  EXPECT_EQ(harness->post(harness->risk_caller, "/v1/margin/runs/999999/backtests", "{}").status, 404u);
  const auto tested = harness->post(harness->risk_caller, "/v1/margin/runs/" + run_id + "/backtests", R"({"observations":60})");
  ASSERT_EQ(tested.status, 201u) << tested.body;
  const auto backtest = json_of(tested);
  const std::string backtest_id = backtest["backtest_id"];
  EXPECT_EQ(tested.header("Location"), "/v1/margin/backtests/" + backtest_id);
  EXPECT_EQ(backtest["members"], 2);
  const auto again = harness->post(harness->operator_caller, "/v1/margin/runs/" + run_id + "/backtests", R"({"observations":60})");
  ASSERT_EQ(again.status, 200u) << again.body;
  EXPECT_EQ(json_of(again)["backtest_id"], backtest_id);
  const auto read = json_of(harness->call(harness->risk_caller, "GET", "/v1/margin/backtests/" + backtest_id));
  // A: both classes (H100 and H200 forwards, an H200 future); B likewise.
  ASSERT_EQ(read["results"].size(), 4u);
  int zoned = 0;
  for (const auto& result : read["results"]) {
    ASSERT_TRUE(result["refusal"].is_null()) << result.dump();
    EXPECT_EQ(result["observations"].get<int>() + result["skipped"].get<int>(), 60);
    EXPECT_LE(result["exceptions"].get<int>(), result["observations"].get<int>());
    ++zoned;
  }
  EXPECT_EQ(read["zones"]["green"].get<int>() + read["zones"]["yellow"].get<int>() + read["zones"]["red"].get<int>(), zoned);
  EXPECT_EQ(lines_of(harness->call(harness->risk_caller, "GET", "/v1/margin/backtests/" + backtest_id + "?format=csv").body), 5u);
  // A member reads its own results with every day's figures, and not another's.
  const auto own = harness->call(harness->member_a_caller, "GET", "/v1/members/" + a + "/margin/backtest");
  ASSERT_EQ(own.status, 200u) << own.body;
  const auto own_results = json_of(own)["results"];
  EXPECT_EQ(own_results.size(), 2u);
  for (const auto& result : own_results) {
    EXPECT_EQ(result["member_id"], a);
    ASSERT_EQ(result["daily"].size(), result["observations"].get<std::size_t>());
    int exceptions = 0;
    for (const auto& day : result["daily"]) {
      const bool exception = cents_of(day["realised_loss"]) > cents_of(day["margin"]);
      EXPECT_EQ(day["exception"], exception);
      exceptions += exception ? 1 : 0;
    }
    EXPECT_EQ(result["exceptions"], exceptions);
  }
  EXPECT_EQ(harness->call(harness->member_a_caller, "GET", "/v1/members/" + b + "/margin/backtest").status, 404u);
  const auto own_csv = harness->call(harness->member_a_caller, "GET", "/v1/members/" + a + "/margin/backtest?format=csv");
  EXPECT_EQ(own_csv.status, 200u);
  std::size_t days = 0;
  for (const auto& result : own_results) days += result["daily"].size();
  EXPECT_GT(days, 0u);
  EXPECT_EQ(lines_of(own_csv.body), 1 + days);

  // The report: totals over every member, the ranking largest first, Cover-2 and the backtest.
  const auto report = harness->call(harness->risk_caller, "GET", "/v1/margin/report");
  ASSERT_EQ(report.status, 200u) << report.body;
  const auto r = json_of(report);
  EXPECT_EQ(r["run"]["run_id"], run_id);
  EXPECT_EQ(cents_of(r["totals"]["initial_margin"]), total);
  EXPECT_EQ(cents_of(r["totals"]["future_requirement"]) + cents_of(r["totals"]["forward_requirement"]) +
                cents_of(r["totals"]["concentration"]) + cents_of(r["totals"]["liquidity"]) +
                cents_of(r["totals"]["interim"]),
            total);
  ASSERT_EQ(r["ranking"].size(), 2u);
  EXPECT_GE(cents_of(r["ranking"][0]["initial_margin"]), cents_of(r["ranking"][1]["initial_margin"]));
  std::int64_t shares = 0;
  for (const auto& row : r["ranking"]) {
    const std::int64_t im = cents_of(row["initial_margin"]);
    EXPECT_EQ(row["limit_use_bp"], im * 10'000 / 500'000'000);  // of a 5,000,000.00 limit
    EXPECT_EQ(cents_of(row["collateral"]), 100'000'000);
    EXPECT_EQ(cents_of(row["shortfall"]), std::max<std::int64_t>(0, im - 100'000'000));
    EXPECT_TRUE(row["open_call"].is_null());
    shares += row["share_bp"].get<std::int64_t>();
  }
  EXPECT_GE(shares, 9'999);
  EXPECT_EQ(r["cover_2"], stressed["cover_2"]);
  EXPECT_EQ(r["backtest"]["backtest_id"], backtest_id);
  EXPECT_EQ(r["margin_calls_open"]["issued"], 0);
  const auto top = json_of(harness->call(harness->risk_caller, "GET", "/v1/margin/report?limit=1&run_id=" + run_id));
  ASSERT_EQ(top["ranking"].size(), 1u);
  EXPECT_EQ(top["totals"], r["totals"]);
  EXPECT_EQ(lines_of(harness->call(harness->auditor_caller, "GET", "/v1/margin/report?format=csv").body), 3u);
  EXPECT_EQ(harness->call(harness->member_a_caller, "GET", "/v1/margin/report").status, 403u);
  EXPECT_EQ(harness->call(harness->risk_caller, "GET", "/v1/margin/report?run_id=999999").status, 404u);
}

}  // namespace
}  // namespace cch::api::testing

namespace cch::api::testing {
namespace {

TEST_F(ApiMargin, ASettlementRunPaysEachMembersVariationMarginWhichTheMemberReadsLegByLeg) {
  prepare(/*background=*/false);
  // Alpha buys a forward from bravo 0.0500 above the day's price; bravo buys a future from alpha
  // 0.0500 below it: both trades are worth something to someone at the day's prices.
  clear(harness->member_a_caller, harness->member_b_caller, h100, 64, /*future=*/false, 500);
  clear(harness->member_b_caller, harness->member_a_caller, h100, 32, /*future=*/true, -500);
  cleared_on(date);
  ASSERT_EQ(build_curves(date).status, 201u);
  const auto collateral = [&](const std::string& member) {
    return count(*harness, "SELECT COALESCE(-sum(p.amount_minor), 0) FROM ledger.posting p JOIN ledger.account x "
                           "USING (account_id) WHERE x.kind = 'collateral' AND x.member_id = " + member);
  };
  const std::int64_t a_before = collateral(a), b_before = collateral(b);

  const std::string body = R"({"business_date":")" + date.format() + R"("})";
  const auto settled = harness->post(harness->operator_caller, "/v1/settlement/runs", body);
  ASSERT_EQ(settled.status, 201u) << settled.body;
  const auto run = json_of(settled);
  EXPECT_EQ(run["state"], "completed");
  EXPECT_EQ(run["business_date"], date.format());
  EXPECT_TRUE(run["created"].get<bool>());
  ASSERT_EQ(run["steps"].size(), 5u);
  EXPECT_EQ(run["steps"][1]["counts"]["legs_marked"], 4);
  EXPECT_EQ(run["steps"][2]["counts"]["members"], 2);
  const std::string run_id = run["run_id"];
  // Settling the date again answers the run and posts nothing.
  const auto again = harness->post(harness->operator_caller, "/v1/settlement/runs", body);
  EXPECT_EQ(again.status, 200u) << again.body;
  EXPECT_EQ(json_of(again)["run_id"], run_id);
  EXPECT_FALSE(json_of(again)["created"].get<bool>());
  EXPECT_EQ(count(*harness, "SELECT count(*) FROM ledger.journal WHERE kind = 'variation_margin'"), 2);

  // Each member's variation margin is the sum of its legs' marks in the day's curve set (the first
  // run: from zero), as the curve set's own mark run values them (cch-risk marks it by itself, in
  // its time: marked here if not yet), and they sum to zero; the collateral moved by each total.
  db::run_transaction(*harness->fixture.pool, db::Isolation::read_committed, {}, [&](pqxx::transaction_base& tx) {
    ASSERT_TRUE(risk::mark_open_legs(tx, std::stoll(run["curve_set_id"].get<std::string>()),
                                     make_calendar("united_states_settlement").value()));
  });
  const auto members =
      json_of(harness->call(harness->auditor_caller, "GET", "/v1/settlement/runs/" + run_id + "/members"));
  ASSERT_EQ(members["items"].size(), 2u) << members.dump();
  std::map<std::string, std::int64_t> total;
  for (const auto& member : members["items"]) {
    const std::string id = member["member_id"];
    const std::int64_t marks = count(*harness, "SELECT COALESCE(sum(pv_minor), 0) FROM risk.member_mark WHERE "
                                               "curve_set_id = " + run["curve_set_id"].get<std::string>() +
                                                   " AND member_id = " + id);
    EXPECT_EQ(cents_of(member["variation_margin"]), marks);
    EXPECT_NE(marks, 0);
    EXPECT_EQ(cents_of(member["price_alignment_interest"]), 0) << "no earlier run: no interest";
    total[id] = cents_of(member["total"]);
  }
  EXPECT_EQ(total[a] + total[b], 0);
  EXPECT_EQ(collateral(a) - a_before, total[a]);
  EXPECT_EQ(collateral(b) - b_before, total[b]);

  // Alpha reads its own, by product and leg by leg; its journal names the run.
  const auto own = json_of(harness->call(harness->member_a_caller, "GET",
                                         "/v1/members/" + a + "/variation-margin/" + run_id));
  EXPECT_EQ(cents_of(own["total"]), total[a]);
  ASSERT_EQ(own["legs"].size(), 2u) << own.dump();
  EXPECT_EQ(own["products"].size(), 2u);
  EXPECT_EQ(cents_of(own["legs"][0]["variation_margin"]) + cents_of(own["legs"][1]["variation_margin"]), total[a]);
  const auto journal =
      json_of(harness->call(harness->member_a_caller, "GET", "/v1/journals/" + own["journal_id"].get<std::string>()));
  EXPECT_EQ(journal["kind"], "variation_margin");
  EXPECT_EQ(journal["cause"]["kind"], "settlement_run");
  EXPECT_EQ(journal["cause"]["reference"], run_id);
  const auto history = harness->call(harness->member_a_caller, "GET", "/v1/members/" + a + "/variation-margin?format=csv");
  EXPECT_EQ(history.status, 200u);
  EXPECT_NE(history.body.find("\n" + run_id + "," + date.format() + ",completed," + a + ","), std::string::npos)
      << history.body;
  // Another member's figures answer 404, as a member that does not exist; runs are staff's.
  EXPECT_EQ(harness->call(harness->member_b_caller, "GET", "/v1/members/" + a + "/variation-margin/" + run_id).status,
            404u);
  EXPECT_EQ(harness->call(harness->member_b_caller, "GET", "/v1/members/" + a + "/variation-margin").status, 404u);
  EXPECT_EQ(harness->call(harness->member_a_caller, "GET", "/v1/settlement/runs/" + run_id).status, 403u);
  EXPECT_EQ(harness->call(harness->risk_caller, "GET", "/v1/settlement/runs/999999").status, 404u);

  // Refusals name their reason and post nothing: a Saturday, a later date already settled.
  BusinessDate saturday = date;
  while (saturday.weekday() != Weekday::saturday) saturday = saturday.add_days(-1).value();
  const auto weekend = harness->post(harness->operator_caller, "/v1/settlement/runs",
                                     R"({"business_date":")" + saturday.format() + R"("})");
  EXPECT_EQ(weekend.status, 422u);
  EXPECT_EQ(reason_of(weekend), "not_a_business_date");
  const auto bad = harness->post(harness->operator_caller, "/v1/settlement/runs", R"({"business_date":"2026-13-01"})");
  EXPECT_EQ(bad.status, 422u);
  EXPECT_EQ(reason_of(bad), "invalid_field");
  const auto settable = harness->post(harness->operator_caller, "/v1/settlement/runs",
                                      R"({"business_date":")" + date.format() + R"(","state":"completed"})");
  EXPECT_EQ(reason_of(settable), "field_not_settable");
  EXPECT_EQ(count(*harness, "SELECT count(*) FROM settlement.run"), 1);
  EXPECT_EQ(count(*harness, "SELECT count(*) FROM ledger.journal WHERE kind = 'variation_margin'"), 2);
}

}  // namespace
}  // namespace cch::api::testing

namespace cch::api::testing {
namespace {

TEST_F(ApiMargin, ASettlementRunHasEveryMembersMarginRunAgainAgainstTheCollateralAfterIt) {
  prepare(/*background=*/true);
  clear(harness->member_a_caller, harness->member_b_caller, h100, 64, /*future=*/false, 500);
  cleared_on(date);
  ASSERT_EQ(build_curves(date).status, 201u);
  wait_for(harness->risk_caller, "/v1/margin/runs", [](const nlohmann::json& list) {
    return !list["items"].empty() && list["items"][0]["cause"] == "curve_set.built";
  });
  const auto settled = harness->post(harness->operator_caller, "/v1/settlement/runs",
                                     R"({"business_date":")" + date.format() + R"("})");
  ASSERT_EQ(settled.status, 201u) << settled.body;
  const auto runs = wait_for(harness->risk_caller, "/v1/margin/runs", [](const nlohmann::json& list) {
    return !list["items"].empty() && list["items"][0]["cause"] == "settlement.run_completed";
  });
  EXPECT_EQ(runs["items"][0]["scope"], "all");
  EXPECT_EQ(runs["items"][0]["members"], 2);
}

}  // namespace
}  // namespace cch::api::testing
