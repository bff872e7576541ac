// The api, registry and settlement binaries as a deployment runs them: commands travel from the
// api over mutual TLS to their owning service over internal HTTP and back; TLS refusals
// (expired certificate); the internal services' own guards.
#include "cch/http/client.hpp"
#include "cch/testing/process.hpp"
#include "cch/testing/scratch_database.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/connection>
#include <pqxx/nontransaction>
#include <signal.h>

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <functional>
#include <cstdio>
#include <memory>
#include <thread>

namespace {

using namespace std::chrono_literals;

struct Pki {
  std::string directory;
  explicit Pki(const std::string& clients) : directory(cch::testing::make_temporary_directory()) {
    const std::string command = std::string(CCH_PKI_SCRIPT) + " " + directory + " " + clients;
    if (std::system(command.c_str()) != 0) throw std::runtime_error("PKI script failed: " + command);
  }
  [[nodiscard]] std::string file(const std::string& name) const { return directory + "/" + name; }
};

// SHA-256 fingerprint of a PEM certificate as the api registers it (lower-case hex, no colons).
std::string fingerprint(const std::string& pem) {
  const std::string command = "openssl x509 -in " + pem + " -noout -fingerprint -sha256";
  const std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), &pclose);
  std::array<char, 256> buffer{};
  std::string text;
  while (pipe && std::fgets(buffer.data(), buffer.size(), pipe.get()) != nullptr) text += buffer.data();
  std::string hex;
  for (const char c : text.substr(text.find('=') + 1)) {
    if (std::isxdigit(static_cast<unsigned char>(c))) hex += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return hex;
}

class Deployment {
 public:
  Deployment()
      : pki("ops member-one member-two member-old@expired"),
        api_port(cch::testing::free_tcp_port()),
        registry_port(cch::testing::free_tcp_port()),
        settlement_port(cch::testing::free_tcp_port()) {
    config = cch::testing::write_temporary_file(
        "cch.toml", "[database]\nurl = \"" + database.url() + "\"\nmigrate_on_start = true\n\n[log]\nformat = \"text\"\n" +
                        "\n[api]\nport = " + std::to_string(api_port) + "\napi_key_hash_iterations = 1000\n" +
                        // A reservation left by a request killed before its command took effect goes
                        // stale after the forward timeout and 5 s: 7 s, within a client's 10 s.
                        "forward_timeout_ms = 2000\n" +
                        // The load and its retries come from one principal, as fast as they can.
                        "rate_limit_per_second = 100000\nrate_limit_burst = 100000\n" +
                        "\n[registry]\nport = " + std::to_string(registry_port) + "\n\n[settlement]\nport = " +
                        std::to_string(settlement_port) + "\n\n[tls]\ncertificate_file = \"" + pki.file("server.pem") +
                        "\"\nprivate_key_file = \"" + pki.file("server.key") + "\"\nclient_ca_file = \"" +
                        pki.file("ca.pem") + "\"\nclient_certificate = \"required\"\n");
    registry = start(CCH_REGISTRY_BINARY, registry_port, false);
    settlement = start(CCH_SETTLEMENT_BINARY, settlement_port, false);
    // The first operator comes from the operator's hand tool; everything else goes through the api.
    cch::testing::ChildProcess admin(CCH_ADMIN_BINARY,
                                     {"--config", config, "principal", "add", "--name", "ops", "--role", "operator",
                                      "--certificate", pki.file("ops.pem")});
    const auto status = admin.wait_for_exit(60s);
    if (status != 0) throw std::runtime_error("cch-admin principal add failed: " + admin.standard_error());
    api = start(CCH_API_BINARY, api_port, true);
  }

  std::unique_ptr<cch::testing::ChildProcess> start(const char* binary, unsigned short port, bool tls) {
    auto process = std::make_unique<cch::testing::ChildProcess>(binary, std::vector<std::string>{"--config", config});
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (std::chrono::steady_clock::now() < deadline && process->running()) {
      try {
        cch::http::Client client(tls ? client_options("ops") : plain(port));
        const auto ready = client.request("GET", "/readyz");
        if (ready && ready->status == 200) return process;
      } catch (const std::exception&) {
      }
      std::this_thread::sleep_for(100ms);
    }
    throw std::runtime_error(std::string(binary) + " did not become ready: " + process->standard_error());
  }

  cch::http::ClientOptions plain(unsigned short port) const {
    cch::http::ClientOptions options;
    options.port = port;
    options.timeout_ms = 10'000;
    return options;
  }

  cch::http::ClientOptions client_options(const std::string& name) const {
    cch::http::ClientOptions options = plain(api_port);
    cch::http::ClientTlsOptions tls;
    tls.ca_file = pki.file("ca.pem");
    tls.certificate_file = pki.file(name + ".pem");
    tls.private_key_file = pki.file(name + ".key");
    options.tls = tls;
    return options;
  }

  cch::testing::ScratchDatabase database;
  Pki pki;
  unsigned short api_port, registry_port, settlement_port;
  std::string config;
  std::unique_ptr<cch::testing::ChildProcess> registry, settlement, api;
};

struct Answer {
  unsigned status = 0;
  nlohmann::json body;
};

Answer send(cch::http::Client& client, const std::string& method, const std::string& target,
            const std::string& body = {}, const std::string& key = {}) {
  std::vector<cch::http::NameValue> headers;
  if (!body.empty()) headers.emplace_back("Content-Type", "application/json");
  if (!key.empty()) headers.emplace_back("Idempotency-Key", key);
  const auto response = client.request(method, target, body, headers);
  if (!response) return {0, nlohmann::json(response.error().message)};
  return {response->status, nlohmann::json::parse(response->body, nullptr, false)};
}

TEST(ApiDeployment, CommandsTravelToTheirOwningServicesAndBack) {
  Deployment deployment;
  cch::http::Client ops(deployment.client_options("ops"));

  const auto member = send(ops, "POST", "/v1/members", R"({"code":"member-one","legal_name":"Member One Ltd"})", "m1");
  ASSERT_EQ(member.status, 201u) << member.body;
  const std::string member_id = member.body["member_id"];
  const auto again = send(ops, "POST", "/v1/members", R"({"code":"member-one","legal_name":"Member One Ltd"})", "m1");
  EXPECT_EQ(again.body, member.body) << "a replay answers the first response";

  const auto principal = send(ops, "POST", "/v1/principals",
                              R"({"name":"member-one-system","role":"member","member_id":")" + member_id + "\"}", "p1");
  ASSERT_EQ(principal.status, 201u) << principal.body;
  const std::string principal_id = principal.body["principal_id"];
  const auto registered =
      send(ops, "POST", "/v1/principals/" + principal_id + "/certificates",
           R"({"sha256_fingerprint":")" + fingerprint(deployment.pki.file("member-one.pem")) + "\"}", "c1");
  ASSERT_EQ(registered.status, 201u) << registered.body;

  const auto deposit = send(ops, "POST", "/v1/members/" + member_id + "/collateral-deposits",
                            R"({"amount":"1000.00","currency":"USD","bank_reference":"WIRE-1"})", "d1");
  ASSERT_EQ(deposit.status, 201u) << deposit.body;
  EXPECT_EQ(deposit.body["collateral_held"], "1000.00");

  cch::http::Client member_one(deployment.client_options("member-one"));
  const auto me = send(member_one, "GET", "/v1/me");
  ASSERT_EQ(me.status, 200u) << me.body;
  EXPECT_EQ(me.body["member_id"], member_id);
  const auto withdrawal = send(member_one, "POST", "/v1/members/" + member_id + "/collateral-withdrawals",
                               R"({"amount":"400.00","currency":"USD"})", "w1");
  ASSERT_EQ(withdrawal.status, 201u) << withdrawal.body;
  const std::string withdrawal_id = withdrawal.body["withdrawal_id"];
  const auto too_much = send(member_one, "POST", "/v1/members/" + member_id + "/collateral-withdrawals",
                             R"({"amount":"600.01","currency":"USD"})", "w2");
  EXPECT_EQ(too_much.status, 422u);
  EXPECT_EQ(too_much.body["reason"], "insufficient_collateral");

  const auto approved = send(ops, "POST", "/v1/collateral-withdrawals/" + withdrawal_id + "/approve", "{}", "a1");
  ASSERT_EQ(approved.status, 200u) << approved.body;
  EXPECT_EQ(approved.body["status"], "paid");
  const auto collateral = send(member_one, "GET", "/v1/members/" + member_id + "/collateral");
  EXPECT_EQ(collateral.body["held"], "600.00");
  EXPECT_EQ(collateral.body["available"], "600.00");

  // A certificate from the clearinghouse CA that no principal holds: 401.
  cch::http::Client member_two(deployment.client_options("member-two"));
  const auto stranger = send(member_two, "GET", "/v1/me");
  EXPECT_EQ(stranger.status, 401u);
  EXPECT_EQ(stranger.body["reason"], "invalid_credentials");

  // The owning service down: 503, and the same key works once it is back (nothing was recorded).
  deployment.settlement->send_signal(SIGTERM);
  ASSERT_EQ(deployment.settlement->wait_for_exit(30s), 0);
  const auto unavailable = send(ops, "POST", "/v1/members/" + member_id + "/collateral-deposits",
                                R"({"amount":"5.00","currency":"USD","bank_reference":"WIRE-2"})", "d2");
  EXPECT_EQ(unavailable.status, 503u);
  EXPECT_EQ(unavailable.body["reason"], "owning_service_unavailable");
  deployment.settlement = deployment.start(CCH_SETTLEMENT_BINARY, deployment.settlement_port, false);
  const auto retried = send(ops, "POST", "/v1/members/" + member_id + "/collateral-deposits",
                            R"({"amount":"5.00","currency":"USD","bank_reference":"WIRE-2"})", "d2");
  EXPECT_EQ(retried.status, 201u) << retried.body;
}

// A command load of collateral deposits from several clients; each request's key, request id and
// answer (status 0: none came back).
struct Sent {
  std::string key;
  std::string request_id;
  std::string body;
  unsigned status = 0;
  std::string answer;
};

// A command of the load: where it goes, and its body for a key (each key names a new object).
struct LoadCommand {
  std::string target;
  std::function<std::string(const std::string& key)> body;
};

std::vector<Sent> command_load(Deployment& deployment, const LoadCommand& command, const std::string& tag,
                               std::chrono::milliseconds duration, const std::function<void()>& midway) {
  constexpr int kClients = 4;
  std::vector<std::vector<Sent>> per_client(kClients);
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      cch::http::Client ops(deployment.client_options("ops"));
      for (int i = 0; !stop; ++i) {
        Sent sent;
        sent.key = tag + "-" + std::to_string(c) + "-" + std::to_string(i);
        sent.request_id = "req-" + sent.key;
        sent.body = command.body(sent.key);
        try {
          const auto response = ops.request("POST", command.target, sent.body,
                                            {{"Content-Type", "application/json"},
                                             {"Idempotency-Key", sent.key},
                                             {"X-Request-Id", sent.request_id}});
          if (response) {
            sent.status = response->status;
            sent.answer = response->body;
          }
        } catch (const std::exception&) {
        }
        per_client[static_cast<std::size_t>(c)].push_back(sent);
        if (sent.status == 0) break;  // the api is gone: this client stops
      }
    });
  }
  std::this_thread::sleep_for(duration);
  midway();
  std::this_thread::sleep_for(500ms);
  stop = true;
  for (auto& client : clients) client.join();
  std::vector<Sent> all;
  for (auto& sent : per_client) all.insert(all.end(), sent.begin(), sent.end());
  return all;
}

std::int64_t count_rows(const Deployment& deployment, const std::string& sql) {
  pqxx::connection connection(deployment.database.url());
  pqxx::nontransaction tx(connection);
  return tx.exec1(sql)[0].as<std::int64_t>();
}

TEST(ApiDeployment, KillNineOfTheApiOrTheOwningServiceLosesNoAuditRowAndARetryGetsTheFirstAnswer) {
  Deployment deployment;
  cch::http::Client ops(deployment.client_options("ops"));
  const auto member = send(ops, "POST", "/v1/members", R"({"code":"member-one","legal_name":"Member One Ltd"})", "m1");
  ASSERT_EQ(member.status, 201u) << member.body;
  const std::string member_id = member.body["member_id"];

  const LoadCommand deposit{"/v1/members/" + member_id + "/collateral-deposits", [](const std::string& key) {
                               return R"({"amount":"1.00","currency":"USD","bank_reference":")" + key + "\"}";
                             }};
  const LoadCommand registration{"/v1/members", [](const std::string& key) {
                                   return R"({"code":")" + key + R"(","legal_name":"Load )" + key + "\"}";
                                 }};
  for (const std::string victim : {"api", "settlement", "registry"}) {
    SCOPED_TRACE(victim);
    auto& process = victim == "api" ? deployment.api : victim == "settlement" ? deployment.settlement : deployment.registry;
    const LoadCommand& command = victim == "registry" ? registration : deposit;
    const auto sent = command_load(deployment, command, victim, 1000ms, [&] { process->send_signal(SIGKILL); });
    ASSERT_EQ(process->wait_for_exit(30s), 128 + SIGKILL);
    process = victim == "api"          ? deployment.start(CCH_API_BINARY, deployment.api_port, true)
              : victim == "settlement" ? deployment.start(CCH_SETTLEMENT_BINARY, deployment.settlement_port, false)
                                       : deployment.start(CCH_REGISTRY_BINARY, deployment.registry_port, false);

    std::size_t answered = 0;
    for (const auto& request : sent) {
      if (request.status == 0) continue;
      ++answered;
      EXPECT_EQ(count_rows(deployment, "SELECT count(*) FROM api.request_log WHERE request_id = '" +
                                           request.request_id + "'"),
                1)
          << "answered " << request.status << " without an audit row: " << request.key;
    }
    EXPECT_GT(answered, 10u) << "the load ran before the kill";
    // Every request again under its key: an answered one gets its first answer; one whose answer
    // was lost gets its first answer if the command took effect, or takes effect now. Never twice.
    cch::http::Client retry_client(deployment.client_options("ops"));
    for (const auto& request : sent) {
      const auto retried = retry_client.request("POST", command.target, request.body,
                                                {{"Content-Type", "application/json"}, {"Idempotency-Key", request.key}});
      ASSERT_TRUE(retried.has_value());
      // 0 or 503: its answer was lost.
      const bool lost = request.status == 0 || request.status == 503;
      if (lost) {
        EXPECT_EQ(retried->status, 201u) << request.key << ": " << retried->body;
      } else {
        EXPECT_EQ(retried->status, request.status) << request.key;
        EXPECT_EQ(retried->body, request.answer) << request.key;
      }
    }
    EXPECT_EQ(count_rows(deployment, victim == "registry"
                                         ? "SELECT count(*) FROM cch.member WHERE code LIKE 'registry-%'"
                                         : "SELECT count(*) FROM ledger.journal WHERE kind = 'collateral_deposit' "
                                           "AND cause_reference LIKE '" + victim + "-%'"),
              static_cast<std::int64_t>(sent.size()))
        << "one effect per request, whatever was killed";
  }
}

TEST(ApiDeployment, AnExpiredCertificateIsRefusedAtTheHandshake) {
  Deployment deployment;
  bool refused = false;
  try {
    cch::http::Client old(deployment.client_options("member-old"));
    refused = !old.request("GET", "/healthz").has_value();
  } catch (const std::exception&) {
    refused = true;
  }
  EXPECT_TRUE(refused) << "an expired client certificate must not get an answer";
}

TEST(ApiDeployment, InternalServicesRefuseCallsWithoutAForwardedPrincipal) {
  Deployment deployment;
  cch::http::Client direct(deployment.plain(deployment.registry_port));
  const auto answer = send(direct, "POST", "/internal/v1/members", R"({"code":"sneaky","legal_name":"S"})");
  EXPECT_EQ(answer.status, 401u);
  EXPECT_EQ(answer.body["reason"], "missing_forwarded_principal");
}

TEST(ApiDeployment, AnInternalServiceRefusesToListenBeyondLoopbackWithoutMutualTls) {
  cch::testing::ChildProcess registry(CCH_REGISTRY_BINARY, {"--check-config"},
                                      {{"CCH_REGISTRY_LISTEN_ADDRESS", "0.0.0.0"}});
  EXPECT_EQ(registry.wait_for_exit(30s), 2);
  EXPECT_NE(registry.standard_error().find("registry.listen_address 0.0.0.0 is not a loopback address"),
            std::string::npos)
      << registry.standard_error();
}

}  // namespace
