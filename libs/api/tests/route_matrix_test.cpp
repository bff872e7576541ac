// The role x route matrix, generated from route_table(): every role (and no credentials at
// all) on every public route gets exactly the status the table implies. A route added to the
// table without a sample request here fails the test.
#include "api_harness.hpp"

#include "cch/api/credentials.hpp"
#include "cch/db/transaction.hpp"
#include "cch/ledger/accounts.hpp"
#include "cch/settlement/collateral.hpp"

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
  }

  // A new requested withdrawal of member A, made directly in the database.
  std::string fresh_withdrawal() {
    return std::to_string(db::run_transaction(
        *harness.fixture.pool, db::Isolation::read_committed, {}, [&](pqxx::transaction_base& tx) {
          const auto made = settlement::request_withdrawal(
              tx, {harness.member_a, Money{100, Currency::usd()}, "setup", harness.unique("setup-key"),
                   RequestId::generate()});
          return made.value().withdrawal_id;
        }));
  }

  std::string fresh_principal() {
    return db::run_transaction(*harness.fixture.pool, db::Isolation::read_committed, {},
                               [&](pqxx::transaction_base& tx) {
                                 return create_principal(tx, harness.unique("p"), "auditor", std::nullopt, "setup")
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

  ApiHarness harness;
  std::string deposit_journal;
  std::string collateral_account;
  std::string standing_withdrawal;
};

TEST_F(RouteMatrix, EveryRoleOnEveryRouteGetsExactlyTheExpectedStatus) {
  const std::vector<std::pair<std::string, const Caller*>> callers = {
      {"member", &harness.member_a_caller},
      {"risk_officer", &harness.risk_caller},
      {"auditor", &harness.auditor_caller},
      {"operator", &harness.operator_caller},
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
  EXPECT_EQ(checked, static_cast<int>(route_table().size()) * 5);
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
