#include "api_harness.hpp"

#include "cch/access/api_key.hpp"
#include "cch/api/credentials.hpp"
#include "cch/db/transaction.hpp"
#include "cch/http/observability.hpp"
#include "cch/market/csv_import.hpp"
#include "cch/market/synthetic_history.hpp"
#include "cch/registry/members.hpp"
#include "cch/registry/catalog.hpp"
#include "cch/risk/curve_sets.hpp"
#include "cch/registry_routes/routes.hpp"
#include "cch/risk_routes/market_routes.hpp"
#include "cch/settlement/routes.hpp"

#include "cch/core/calendar.hpp"

#include <nlohmann/json.hpp>

#include <future>
#include <random>
#include <stdexcept>

namespace cch::api::testing {
namespace {

config::Config default_config(const config::Environment& environment) {
  auto loaded = config::Config::load(std::nullopt, environment ? environment : [](std::string_view) {
    return std::optional<std::string>();
  });
  if (!loaded) throw std::runtime_error(loaded.error().message);
  return std::move(loaded.value());
}

}  // namespace

BusinessDate latest_business_date(std::string_view calendar_name, int back) {
  const auto calendar = make_calendar(calendar_name).value();
  BusinessDate date = BusinessDate::containing(UtcTimestamp::now());
  if (!calendar.is_business_day(date)) date = calendar.previous_business_day(date).value();
  for (int i = 0; i < back; ++i) date = calendar.previous_business_day(date).value();
  return date;
}

std::string settlement_prices_body(const std::string& product_id, const std::vector<std::string>& periods,
                                   const std::string& price, BusinessDate date,
                                   std::optional<std::string> correction_reason) {
  nlohmann::json prices = nlohmann::json::array();
  for (const auto& period : periods) prices.push_back({{"period", period}, {"price", price}});
  nlohmann::json body = {{"business_date", date.format()}, {"product_id", product_id}, {"prices", prices},
                         {"source", "cch price committee"}, {"publisher", "cch market operations"},
                         {"published_at", date.start_of_day().format()}};
  if (correction_reason) body["correction_reason"] = *correction_reason;
  return body.dump();
}

void import_history(ApiHarness& harness, const std::vector<ProductId>& products, BusinessDate from, BusinessDate to,
                    bool settlement_only) {
  market::SyntheticHistoryOptions generate;
  generate.from = from;
  generate.to = to;
  db::run_transaction(*harness.fixture.pool, db::Isolation::read_committed, {}, [&](pqxx::transaction_base& tx) {
    for (const ProductId id : products) {
      const auto product = registry::find_product(tx, id).value();
      generate.products.push_back(
          {product.spec.code, product.spec.gpu_model, product.spec.tick_size_ticks, product.spec.cash_index});
    }
  });
  std::string why;
  const auto history = market::synthetic_history(generate, &why);
  if (!history) throw std::runtime_error("synthetic_history: " + why);
  std::string csv;
  std::size_t start = 0;
  while (start < history->csv.size()) {
    std::size_t end = history->csv.find('\n', start);
    if (end == std::string::npos) end = history->csv.size();
    const std::string_view line = std::string_view(history->csv).substr(start, end - start + 1);
    if (start == 0 || !settlement_only || line.starts_with("settlement,")) csv += line;
    start = end + 1;
  }
  db::run_transaction(*harness.fixture.pool, db::Isolation::read_committed, {}, [&](pqxx::transaction_base& tx) {
    const auto rules = market::market_rules(harness.config.text("market.business_calendar"), "1M,1Y",
                                            BusinessDate::containing(UtcTimestamp::now()));
    const auto imported =
        market::import_csv(tx, csv, "setup", rules, risk::product_terms(tx), risk::forward_curve_consistency());
    if (!imported) {
      throw std::runtime_error("import_csv: line " + std::to_string(imported.error().line) + ": " +
                               imported.error().error.detail);
    }
  });
}

std::string random_fingerprint() {
  static thread_local std::mt19937_64 random{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string text(64, '0');
  for (char& c : text) c = kHex[random() % 16];
  return text;
}

ApiOptions ApiHarness::test_options() {
  ApiOptions options;
  options.api_key_hash_iterations = access::kApiKeyHashIterationsMin;
  options.audit_flush_interval = std::chrono::milliseconds(5);
  return options;
}

static db::PoolOptions writer_pool(const std::string& url, std::chrono::milliseconds acquire_timeout) {
  db::PoolOptions pool_options;
  pool_options.url = url;
  pool_options.size = 8;
  pool_options.acquire_timeout = acquire_timeout;
  return pool_options;
}

ApiHarness::ApiHarness(ApiOptions options, std::chrono::milliseconds api_pool_acquire_timeout,
                       const config::Environment& environment)
    : config(default_config(environment)),
      api_pool(std::make_unique<db::ConnectionPool>(writer_pool(fixture.writer_url, api_pool_acquire_timeout))),
      context{config, *api_pool, metrics, api_tasks, db::RetryPolicy{}, {}, {}, nullptr},
      services_pool(std::make_unique<db::ConnectionPool>(
          writer_pool(fixture.writer_url, std::chrono::milliseconds(10'000)))),
      services_context{config, *services_pool, metrics, services_tasks, db::RetryPolicy{}, {}, {}, nullptr},
      risk_context{config, *services_pool, risk_metrics, risk_tasks, db::RetryPolicy{}, {}, {}, nullptr},
      member_a(fixture.add_member("member-a")),
      member_b(fixture.add_member("member-b")) {
  registry::add_registry_routes(registry_router, services_context);
  settlement::add_settlement_routes(settlement_router, services_context);
  risk::add_risk_routes(risk_router, risk_context);
  services_tasks.start();
  risk_tasks.start();
  Forward forward = [this](Executor service, const http::Request& forwarded) {
    if (fail_forwards) {
      http::Response response = http::problem(503, "owning_service_unavailable", "Service unavailable", "test");
      response.headers.emplace_back("Retry-After", "1");
      return response;
    }
    http::Request copy = forwarded;
    auto answer = service == Executor::registry ? registry_router.dispatch(copy)
                  : service == Executor::risk   ? risk_router.dispatch(copy)
                                                : settlement_router.dispatch(copy);
    switch (lose_answers.load()) {
      case AnswerLoss::none: break;
      case AnswerLoss::connection_broke: {
        http::Response broke = http::problem(503, "owning_service_unavailable", "Service unavailable", "test");
        broke.headers.emplace_back("Retry-After", "1");
        return broke;
      }
      case AnswerLoss::api_died: throw ApiDied();
    }
    return answer;
  };
  api = add_api_routes(router, context, options, std::move(forward));
  http::add_observability_routes(router, metrics, [] { return http::ReadinessReport{}; }, context.protect_metrics);

  operator_caller = add_caller("ops", access::Role::operator_);
  venue_caller = add_caller("auction-house", access::Role::venue);
  auditor_caller = add_caller("audit", access::Role::auditor);
  risk_caller = add_caller("risk", access::Role::risk_officer);
  member_a_caller = add_caller("member-a-system", access::Role::member, member_a);
  member_b_caller = add_caller("member-b-system", access::Role::member, member_b);
}

std::string ApiHarness::unique(const std::string& prefix) { return prefix + "-" + std::to_string(++counter_); }

Caller ApiHarness::add_caller(const std::string& name, access::Role role, std::optional<MemberId> member) {
  Caller caller{name, role, member, random_fingerprint(), {}};
  db::run_transaction(*fixture.pool, db::Isolation::read_committed, {}, [&](pqxx::transaction_base& tx) {
    const auto created = create_principal(tx, name, access::to_string(role), member, "test-setup");
    if (!created) throw std::runtime_error("create_principal: " + created.error().reason);
    const auto registered = register_certificate(tx, created->principal.id, caller.fingerprint, "test-setup");
    if (!registered) throw std::runtime_error("register_certificate: " + registered.error().reason);
  });
  return caller;
}

http::Response ApiHarness::call(const Caller& caller, std::string method, std::string target, std::string body,
                                std::vector<http::NameValue> headers) {
  http::Request request;
  request.method = std::move(method);
  if (!http::parse_target(target, request)) throw std::invalid_argument("bad target " + target);
  request.target = target;
  request.body = std::move(body);
  request.headers = std::move(headers);
  request.request_id = RequestId::generate().value();
  request.remote_address = "127.0.0.1";
  if (!caller.bearer.empty()) {
    request.headers.emplace_back("Authorization", "Bearer " + caller.bearer);
  } else if (!caller.fingerprint.empty()) {
    request.client_certificate = http::ClientCertificate{caller.name, "01", "cch test CA", caller.fingerprint};
  }
  if (!request.body.empty() && !request.header("Content-Type")) {
    request.headers.emplace_back("Content-Type", "application/json");
  }
  // As the server does: the route's fast handler first (it answers from another thread), then,
  // if it declines, the handler.
  std::promise<http::Response> answered;
  auto answer = answered.get_future();
  if (offer_fast && router.try_fast(request, [&answered](http::Response response) { answered.set_value(std::move(response)); })) {
    ++fast_answers;
    return answer.get();
  }
  return router.dispatch(request);
}

http::Response ApiHarness::post(const Caller& caller, std::string target, std::string body) {
  return call(caller, "POST", std::move(target), std::move(body), {{"Idempotency-Key", unique("key")}});
}

http::Response ApiHarness::anonymous(std::string method, std::string target) {
  return call(Caller{"anonymous", access::Role::auditor, std::nullopt, {}, {}}, std::move(method), std::move(target));
}

}  // namespace cch::api::testing
