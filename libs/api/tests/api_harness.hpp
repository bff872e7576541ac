#pragma once
// The whole api in one process, without sockets: a migrated scratch database, the api's routes
// in a Router, and the registry's and settlement's internal routes behind a Forward that
// dispatches into their own Routers. Callers are principals with registered certificates
// (their requests carry a verified ClientCertificate as the TLS layer would set it).

#include "cch/access/principal.hpp"
#include "cch/api/routes.hpp"
#include "cch/config/config.hpp"
#include "cch/http/metrics.hpp"
#include "cch/http/router.hpp"
#include "cch/runtime/service.hpp"
#include "ledger_fixture.hpp"

#include <atomic>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace cch::api::testing {

// The latest business date on or before today of the calendar (the clearing calendar by
// default), and `back` business dates before it: dates market data may be entered for.
BusinessDate latest_business_date(std::string_view calendar = "united_states_settlement", int back = 0);
// A body for POST /v1/market/settlement-prices: the product's prices of the periods, each at
// `price`, on `date`.
std::string settlement_prices_body(const std::string& product_id, const std::vector<std::string>& periods,
                                   const std::string& price, BusinessDate date,
                                   std::optional<std::string> correction_reason = std::nullopt);


class ApiHarness;
// SYNTHETIC market history (cch/market/synthetic_history.hpp) of the products for the business
// dates [from, to], imported in one transaction as cch-admin market import does; with
// settlement_only, only their settlement prices (a test that enters its own OIS quotes).
void import_history(ApiHarness& harness, const std::vector<ProductId>& products, BusinessDate from, BusinessDate to,
                    bool settlement_only = false);

struct Caller {
  std::string name;
  access::Role role = access::Role::auditor;
  std::optional<MemberId> member;
  std::string fingerprint;  // registered client certificate
  std::string bearer;       // or an API key token
};

class ApiHarness {
 public:
  // `environment` overrides settings as CCH_* variables would (none by default).
  explicit ApiHarness(ApiOptions options = test_options(),
                      std::chrono::milliseconds api_pool_acquire_timeout = std::chrono::milliseconds(10'000),
                      const config::Environment& environment = {});

  static ApiOptions test_options();

  http::Response call(const Caller& caller, std::string method, std::string target, std::string body = {},
                      std::vector<http::NameValue> headers = {});
  // A POST with a fresh Idempotency-Key and a JSON body.
  http::Response post(const Caller& caller, std::string target, std::string body);
  http::Response anonymous(std::string method, std::string target);

  // A principal with a registered certificate (created directly in the database).
  Caller add_caller(const std::string& name, access::Role role, std::optional<MemberId> member = std::nullopt);
  std::string unique(const std::string& prefix);

  void flush_audit() { flush_audit_log(*api); }

  ledger::testing::LedgerFixture fixture;
  config::Config config;
  http::Metrics metrics;
  std::unique_ptr<db::ConnectionPool> api_pool;  // the api process's own pool
  runtime::BackgroundTasks api_tasks{metrics};
  runtime::ServiceContext context;
  // The owning services are separate processes in a deployment, each with its own pool.
  std::unique_ptr<db::ConnectionPool> services_pool;
  runtime::BackgroundTasks services_tasks{metrics};  // started, as run_service starts a service's
  runtime::ServiceContext services_context;
  // cch-risk's own metrics, tasks and context (its background tasks are named as the registry's).
  http::Metrics risk_metrics;
  runtime::BackgroundTasks risk_tasks{risk_metrics};
  runtime::ServiceContext risk_context;
  http::Router registry_router;
  http::Router settlement_router;
  http::Router risk_router;
  http::Router router;
  std::shared_ptr<Api> api;
  // While set, every forward answers 503 owning_service_unavailable without reaching the service.
  std::atomic<bool> fail_forwards{false};
  // What happens to a forwarded command's answer: the service runs the command, then its answer
  // is lost on the way back because the connection broke (the forward answers 503
  // owning_service_unavailable, as the api's client does) or because the api died (the forward
  // throws ApiDied and the api's request ends without an answer stored or a key released).
  enum class AnswerLoss { none, connection_broke, api_died };
  std::atomic<AnswerLoss> lose_answers{AnswerLoss::none};
  struct ApiDied : std::runtime_error {
    ApiDied() : std::runtime_error("the api died mid-forward (test)") {}
  };
  // Calls a route's fast handler answered: call() offers it every request first, as the server
  // does, unless offer_fast is cleared (then every request takes the worker path).
  std::atomic<int> fast_answers{0};
  std::atomic<bool> offer_fast{true};

  MemberId member_a;
  MemberId member_b;
  Caller operator_caller, auditor_caller, risk_caller, member_a_caller, member_b_caller, venue_caller;

 private:
  std::atomic<int> counter_{0};
};

// A random lower-case hex SHA-256 fingerprint.
std::string random_fingerprint();

}  // namespace cch::api::testing
