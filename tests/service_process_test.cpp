// The service binaries as a deployment starts them: clear one-line failures at start-up, limits
// on a live socket, HTTPS with client certificates, graceful stop on SIGTERM; cch-admin's commands.
#include "cch/core/calendar.hpp"
#include "cch/db/transaction.hpp"
#include "cch/http/client.hpp"
#include "cch/registry/catalog.hpp"
#include "cch/risk/curve_sets.hpp"
#include "cch/ledger/post.hpp"
#include "ledger_fixture.hpp"
#include "cch/testing/process.hpp"
#include "cch/testing/scratch_database.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pqxx/transaction>

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <map>
#include <cstdlib>
#include <thread>

namespace {

using namespace std::chrono_literals;

int count_lines(const std::string& text) { return static_cast<int>(std::count(text.begin(), text.end(), '\n')); }

// The failure is one line, the last one; lines before it are the service's ordinary logs.
std::string last_line(const std::string& text) {
  const std::string trimmed = text.substr(0, text.find_last_not_of('\n') + 1);
  return trimmed.substr(trimmed.find_last_of('\n') == std::string::npos ? 0 : trimmed.find_last_of('\n') + 1);
}

int count_error_lines(const std::string& text, const std::string& program) {
  int count = 0;
  std::size_t at = 0;
  while ((at = text.find(program + ": error:", at)) != std::string::npos) {
    ++count;
    ++at;
  }
  return count;
}

// A config file for one service on `port`, with extra TOML appended.
std::string config_file(const std::string& database_url, const std::string& service, unsigned short port,
                        const std::string& extra = "") {
  return cch::testing::write_temporary_file(
      "cch.toml", "[database]\nurl = \"" + database_url + "\"\nmigrate_on_start = true\n\n[" + service + "]\nport = " + std::to_string(port) +
                      "\n\n[log]\nformat = \"text\"\n" + extra);
}

// Polls GET /readyz until 200 or the bound; false if the service never became ready.
bool wait_until_ready(const cch::http::ClientOptions& options, cch::testing::ChildProcess& process) {
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < deadline && process.running()) {
    try {
      cch::http::Client client(options);
      const auto response = client.request("GET", "/readyz");
      if (response && response->status == 200) {
        return true;
      }
    } catch (const std::exception&) {
      // not listening yet
    }
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

cch::http::ClientOptions plain_client(unsigned short port) {
  cch::http::ClientOptions options;
  options.host = "127.0.0.1";
  options.port = port;
  options.timeout_ms = 5000;
  return options;
}

struct Pki {
  std::string directory;
  explicit Pki(const std::string& clients) : directory(cch::testing::make_temporary_directory()) {
    const std::string command = std::string(CCH_PKI_SCRIPT) + " " + directory + " " + clients;
    if (std::system(command.c_str()) != 0) {
      throw std::runtime_error("PKI script failed: " + command);
    }
  }
  [[nodiscard]] std::string file(const std::string& name) const { return directory + "/" + name; }
};

}  // namespace

TEST(ServiceStartup, MalformedConfigurationExitsWithOneClearLine) {
  const std::string path = cch::testing::write_temporary_file("bad.toml", "[database]\npool_size = \"many\n");
  cch::testing::ChildProcess process(CCH_REGISTRY_BINARY, {"--config", path});
  const auto status = process.wait_for_exit(30s);
  ASSERT_TRUE(status.has_value()) << "the service must exit";
  EXPECT_EQ(*status, 2);
  const std::string error = process.standard_error();
  EXPECT_EQ(count_lines(error), 1) << error;
  EXPECT_EQ(error.rfind("cch-registry: error: " + path + ":2:", 0), 0U) << error;
}

TEST(ServiceStartup, UnknownSettingExitsWithOneClearLine) {
  cch::testing::ChildProcess process(CCH_REGISTRY_BINARY, {}, {{"CCH_DATABASE_POOL_SIZE", "0"}});
  const auto status = process.wait_for_exit(30s);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(*status, 2);
  EXPECT_EQ(process.standard_error(),
            "cch-registry: error: environment CCH_DATABASE_POOL_SIZE: database.pool_size must be an integer from 1 "
            "to 256, got \"0\"\n");
}

TEST(ServiceStartup, UnreachableDatabaseExitsWithOneClearLine) {
  const std::string path =
      config_file("postgresql://cch:hunter2@127.0.0.1:1/cch", "registry", cch::testing::free_tcp_port());
  cch::testing::ChildProcess process(CCH_REGISTRY_BINARY, {"--config", path});
  const auto status = process.wait_for_exit(30s);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(*status, 3);
  const std::string error = process.standard_error();
  EXPECT_EQ(count_lines(error), 1) << error;
  EXPECT_EQ(error.rfind("cch-registry: error: cannot connect to database postgresql://cch:***@127.0.0.1:1/cch", 0), 0U)
      << error;
  EXPECT_EQ(error.find("hunter2"), std::string::npos) << "the password must not be printed";
}

TEST(ServiceStartup, BusyPortExitsWithOneClearLine) {
  cch::testing::ScratchDatabase database;
  const int holder = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(holder, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(holder, 1), 0);
  socklen_t length = sizeof address;
  ::getsockname(holder, reinterpret_cast<sockaddr*>(&address), &length);
  const unsigned short port = ntohs(address.sin_port);

  cch::testing::ChildProcess process(CCH_REGISTRY_BINARY, {"--config", config_file(database.url(), "registry", port)});
  const auto status = process.wait_for_exit(30s);
  ::close(holder);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(*status, 4);
  const std::string error = process.standard_error();
  EXPECT_EQ(count_error_lines(error, "cch-registry"), 1) << error;
  EXPECT_EQ(last_line(error).rfind("cch-registry: error: cannot listen on 127.0.0.1:" + std::to_string(port), 0), 0U)
      << error;
  EXPECT_NE(last_line(error).find("in use"), std::string::npos) << error;
}

TEST(ServiceLifecycle, ServesHealthReadinessMetricsAndStopsGracefullyOnSigterm) {
  cch::testing::ScratchDatabase database;
  const unsigned short port = cch::testing::free_tcp_port();
  cch::testing::ChildProcess process(CCH_REGISTRY_BINARY, {"--config", config_file(database.url(), "registry", port)});
  ASSERT_TRUE(wait_until_ready(plain_client(port), process)) << process.standard_error();

  cch::http::Client client(plain_client(port));
  const auto health = client.request("GET", "/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200U);
  const auto metrics = client.request("GET", "/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("cch_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"} 1"),
            std::string::npos)
      << metrics->body;
  const auto missing = client.request("GET", "/v1/nothing");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404U);
  EXPECT_NE(missing->body.find("\"reason\":\"not_found\""), std::string::npos) << missing->body;

  process.send_signal(SIGTERM);
  const auto status = process.wait_for_exit(30s);
  ASSERT_TRUE(status.has_value()) << "SIGTERM must stop the service";
  EXPECT_EQ(*status, 0) << process.standard_error();
  EXPECT_NE(process.standard_error().find("service_stopped"), std::string::npos);
}

TEST(ServiceLimits, OversizedBodyGets413AndASlowClientIsCutOffWhileOthersAreServed) {
  cch::testing::ScratchDatabase database;
  const unsigned short port = cch::testing::free_tcp_port();
  cch::testing::ChildProcess process(
      CCH_REGISTRY_BINARY,
      {"--config", config_file(database.url(), "registry", port,
                               "\n[http]\nbody_limit_bytes = 1024\nread_timeout_ms = 300\n")});
  ASSERT_TRUE(wait_until_ready(plain_client(port), process)) << process.standard_error();

  cch::http::Client client(plain_client(port));
  const auto too_large = client.request("POST", "/healthz", std::string(4096, 'x'), {{"Content-Type", "text/plain"}});
  ASSERT_TRUE(too_large);
  EXPECT_EQ(too_large->status, 413U);
  EXPECT_NE(too_large->body.find("\"reason\":\"body_too_large\""), std::string::npos) << too_large->body;

  // A client that sends half a request line and then nothing.
  const int slow = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  ASSERT_EQ(::connect(slow, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  const std::string partial = "GET /healthz HT";
  ASSERT_EQ(::send(slow, partial.data(), partial.size(), 0), static_cast<ssize_t>(partial.size()));
  timeval receive_timeout{10, 0};
  ::setsockopt(slow, SOL_SOCKET, SO_RCVTIMEO, &receive_timeout, sizeof receive_timeout);
  char buffer[512];
  const auto started = std::chrono::steady_clock::now();
  ssize_t received = 0;
  do {
    received = ::recv(slow, buffer, sizeof buffer, 0);
  } while (received > 0);
  const auto waited = std::chrono::steady_clock::now() - started;
  ::close(slow);
  EXPECT_LT(waited, 9s) << "the server must close the slow connection itself, well before our 10 s guard";

  cch::http::Client after(plain_client(port));
  const auto health = after.request("GET", "/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200U);
  EXPECT_TRUE(process.running());
}

TEST(ServiceTls, ApiOverHttpsRequiresAClientCertificateFromTheClearinghouseCa) {
  cch::testing::ScratchDatabase database;
  const Pki pki("member-one");
  const Pki foreign("member-one");
  const unsigned short port = cch::testing::free_tcp_port();
  const std::string tls = "\n[tls]\ncertificate_file = \"" + pki.file("server.pem") + "\"\nprivate_key_file = \"" +
                          pki.file("server.key") + "\"\nclient_ca_file = \"" + pki.file("ca.pem") +
                          "\"\nclient_certificate = \"required\"\n";
  cch::testing::ChildProcess process(CCH_API_BINARY, {"--config", config_file(database.url(), "api", port, tls)});

  auto member_options = plain_client(port);
  cch::http::ClientTlsOptions member_tls;
  member_tls.ca_file = pki.file("ca.pem");
  member_tls.certificate_file = pki.file("member-one.pem");
  member_tls.private_key_file = pki.file("member-one.key");
  member_options.tls = member_tls;
  ASSERT_TRUE(wait_until_ready(member_options, process)) << process.standard_error();

  cch::http::Client member(member_options);
  const auto ok = member.request("GET", "/healthz");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200U);

  auto anonymous_options = member_options;
  anonymous_options.tls->certificate_file.clear();
  anonymous_options.tls->private_key_file.clear();
  bool anonymous_refused = false;
  try {
    cch::http::Client anonymous(anonymous_options);
    const auto response = anonymous.request("GET", "/healthz");
    anonymous_refused = !response.has_value();
  } catch (const std::exception&) {
    anonymous_refused = true;
  }
  EXPECT_TRUE(anonymous_refused) << "a client without a certificate must not get an answer";

  auto foreign_options = member_options;
  foreign_options.tls->certificate_file = foreign.file("member-one.pem");
  foreign_options.tls->private_key_file = foreign.file("member-one.key");
  bool foreign_refused = false;
  try {
    cch::http::Client stranger(foreign_options);
    const auto response = stranger.request("GET", "/healthz");
    foreign_refused = !response.has_value();
  } catch (const std::exception&) {
    foreign_refused = true;
  }
  EXPECT_TRUE(foreign_refused) << "a certificate from another CA must be refused";

  auto plain = plain_client(port);
  bool plain_refused = false;
  try {
    cch::http::Client plain_client_on_tls_port(plain);
    const auto response = plain_client_on_tls_port.request("GET", "/healthz");
    plain_refused = !response.has_value() || response->status >= 400;
  } catch (const std::exception&) {
    plain_refused = true;
  }
  EXPECT_TRUE(plain_refused) << "plain HTTP on the HTTPS port must not be served";
  EXPECT_TRUE(process.running());
}

TEST(AdminTool, MigrateIsIdempotentAndTheLedgerOfAnEmptySchemaVerifies) {
  cch::testing::ScratchDatabase database;
  const std::map<std::string, std::string> environment = {{"CCH_DATABASE_URL", database.url()}};
  cch::testing::ChildProcess first(CCH_ADMIN_BINARY, {"migrate"}, environment);
  ASSERT_EQ(first.wait_for_exit(60s), std::optional<int>(0)) << first.standard_error();
  EXPECT_NE(first.standard_output().find("applied 0001_foundation"), std::string::npos) << first.standard_output();
  cch::testing::ChildProcess second(CCH_ADMIN_BINARY, {"migrate"}, environment);
  ASSERT_EQ(second.wait_for_exit(60s), std::optional<int>(0)) << second.standard_error();
  EXPECT_NE(second.standard_output().find("(0 applied now)"), std::string::npos) << second.standard_output();

  cch::testing::ChildProcess verify(CCH_ADMIN_BINARY, {"ledger", "verify"}, environment);
  ASSERT_EQ(verify.wait_for_exit(60s), std::optional<int>(0)) << verify.standard_error();
  EXPECT_NE(verify.standard_output().find("ok: 0 links and 0 journals verified in 8 chains"), std::string::npos)
      << verify.standard_output();
  cch::testing::ChildProcess trial(CCH_ADMIN_BINARY, {"ledger", "trial-balance"}, environment);
  ASSERT_EQ(trial.wait_for_exit(60s), std::optional<int>(0)) << trial.standard_error();
  EXPECT_NE(trial.standard_output().find("balanced"), std::string::npos);
}

TEST(AdminTool, StatusReportsEachServiceAndFailsUnlessAllAreReady) {
  cch::testing::ScratchDatabase database;
  const unsigned short registry_port = cch::testing::free_tcp_port();
  const std::string path = config_file(database.url(), "registry", registry_port,
                                       "\n[api]\nport = " + std::to_string(cch::testing::free_tcp_port()) +
                                           "\ntls = false\n[risk]\nport = " +
                                           std::to_string(cch::testing::free_tcp_port()) + "\n[settlement]\nport = " +
                                           std::to_string(cch::testing::free_tcp_port()) + "\n");
  cch::testing::ChildProcess registry(CCH_REGISTRY_BINARY, {"--config", path});
  ASSERT_TRUE(wait_until_ready(plain_client(registry_port), registry)) << registry.standard_error();
  cch::testing::ChildProcess status(CCH_ADMIN_BINARY, {"--config", path, "status"});
  const auto exit_status = status.wait_for_exit(60s);
  ASSERT_TRUE(exit_status.has_value());
  EXPECT_EQ(*exit_status, 1) << "three services are down";
  const std::string out = status.standard_output();
  EXPECT_NE(out.find("registry    http://127.0.0.1:" + std::to_string(registry_port)), std::string::npos) << out;
  EXPECT_NE(out.find("ready"), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 4) << out;
  EXPECT_NE(out.find("NOT READY"), std::string::npos) << out;
}

TEST(AdminTool, AMalformedCommandLineOrConfigurationIsRefusedWithStatus2) {
  cch::testing::ChildProcess unknown(CCH_ADMIN_BINARY, {"frobnicate"});
  const auto unknown_status = unknown.wait_for_exit(30s);
  ASSERT_TRUE(unknown_status.has_value());
  EXPECT_NE(*unknown_status, 0);
  cch::testing::ChildProcess bad_config(CCH_ADMIN_BINARY, {"config", "check"}, {{"CCH_LOG_LEVEL", "chatty"}});
  EXPECT_EQ(bad_config.wait_for_exit(30s), std::optional<int>(2));
  EXPECT_NE(bad_config.standard_error().find("log.level must be one of"), std::string::npos);
}

TEST(AdminTool, LedgerCommandsExportHistoryAndNameABrokenLink) {
  cch::ledger::testing::LedgerFixture fixture;
  const cch::AccountId bank = fixture.house_account(cch::ledger::AccountKind::settlement_bank);
  const cch::AccountId collateral =
      fixture.member_account(fixture.add_member("alpha-labs"), cch::ledger::AccountKind::collateral);
  std::vector<cch::ledger::JournalDraft> drafts;
  for (int i = 1; i <= 3; ++i) {
    auto draft = cch::ledger::testing::transfer("deposit-" + std::to_string(i), bank, collateral, 100 * i,
                                                cch::ledger::JournalKind::collateral_deposit);
    draft.cause.reference = "needs, \"quoting\"";
    drafts.push_back(draft);
  }
  const auto posted = cch::ledger::post_batch(*fixture.pool, {}, drafts);
  ASSERT_TRUE(posted[2]);
  const std::map<std::string, std::string> auditor = {{"CCH_DATABASE_URL", fixture.auditor_url}};

  cch::testing::ChildProcess history(CCH_ADMIN_BINARY,
                                     {"ledger", "history", "--account", std::to_string(bank.value()), "--limit", "2"},
                                     auditor);
  ASSERT_EQ(history.wait_for_exit(60s), std::optional<int>(0)) << history.standard_error();
  const std::string page = history.standard_output();
  EXPECT_NE(page.find(",3.00,USD"), std::string::npos) << page;
  EXPECT_NE(page.find(",2.00,USD"), std::string::npos) << page;
  EXPECT_EQ(page.find(",1.00,USD"), std::string::npos) << "page size 2";
  EXPECT_NE(page.find("# next page: --cursor "), std::string::npos) << page;

  const std::string csv_path = cch::testing::make_temporary_directory() + "/ledger.csv";
  cch::testing::ChildProcess exporter(
      CCH_ADMIN_BINARY, {"ledger", "export", "--from", "2000-01-01T00:00:00Z", "--to", "2100-01-01T00:00:00Z",
                         "--output", csv_path},
      auditor);
  ASSERT_EQ(exporter.wait_for_exit(60s), std::optional<int>(0)) << exporter.standard_error();
  std::ifstream csv(csv_path);
  std::stringstream buffer;
  buffer << csv.rdbuf();
  const std::string content = buffer.str();
  EXPECT_EQ(std::count(content.begin(), content.end(), '\n'), 7) << "a header and six postings";
  EXPECT_NE(content.find("\"needs, \"\"quoting\"\"\""), std::string::npos) << content;

  {
    auto connection = fixture.superuser();
    pqxx::work tx(connection);
    tx.exec("SET LOCAL session_replication_role = replica");
    tx.exec_params("UPDATE ledger.posting SET amount_minor = amount_minor + 1 WHERE journal_id = $1 AND line_number = 1",
                   posted[1]->journal_id.value());
    tx.commit();
  }
  cch::testing::ChildProcess verify(CCH_ADMIN_BINARY, {"ledger", "verify"}, auditor);
  ASSERT_EQ(verify.wait_for_exit(60s), std::optional<int>(1)) << verify.standard_error();
  EXPECT_NE(verify.standard_output().find("BROKEN chain"), std::string::npos) << verify.standard_output();
  EXPECT_NE(verify.standard_output().find("journal " + std::to_string(posted[1]->journal_id.value()) +
                                          ": journal_content_changed"),
            std::string::npos)
      << verify.standard_output();
}

TEST(AdminTool, AnOperatorRegistersAMemberAndRecordsADepositOnce) {
  cch::ledger::testing::LedgerFixture fixture;
  const std::map<std::string, std::string> writer = {{"CCH_DATABASE_URL", fixture.writer_url}};
  auto run = [&](std::vector<std::string> arguments) {
    auto process = std::make_unique<cch::testing::ChildProcess>(CCH_ADMIN_BINARY, arguments, writer);
    const auto status = process->wait_for_exit(60s);
    return std::tuple{status.value_or(-1), process->standard_output(), process->standard_error()};
  };
  const auto [added, added_out, added_err] = run({"member", "add", "--code", "aurora-labs", "--name", "Aurora Labs"});
  EXPECT_EQ(added, 0) << added_err;
  EXPECT_NE(added_out.find("created"), std::string::npos) << added_out;
  const auto [again, again_out, again_err] = run({"member", "add", "--code", "aurora-labs", "--name", "Aurora Labs"});
  EXPECT_EQ(again, 0) << again_err;
  EXPECT_NE(again_out.find("already existed"), std::string::npos) << again_out;

  const std::vector<std::string> deposit = {"collateral", "deposit", "--member", "aurora-labs", "--amount",
                                            "2500000.50", "--reference", "BANK-0001", "--business-date", "2026-11-23"};
  const auto [first, first_out, first_err] = run(deposit);
  EXPECT_EQ(first, 0) << first_err;
  EXPECT_NE(first_out.find("collateral deposit of 2500000.50 USD for aurora-labs: journal "), std::string::npos)
      << first_out;
  const auto [second, second_out, second_err] = run(deposit);
  EXPECT_EQ(second, 0) << second_err;
  EXPECT_NE(second_out.find("(already recorded)"), std::string::npos) << second_out;

  const auto [bad_amount, bad_amount_out, bad_amount_err] =
      run({"collateral", "deposit", "--member", "aurora-labs", "--amount", "1e6", "--reference", "BANK-0002"});
  EXPECT_EQ(bad_amount, 2);
  EXPECT_NE(bad_amount_err.find("--amount must be a positive USD amount"), std::string::npos) << bad_amount_err;
  const auto [unknown, unknown_out, unknown_err] =
      run({"collateral", "deposit", "--member", "nobody", "--amount", "1.00", "--reference", "BANK-0003"});
  EXPECT_EQ(unknown, 1);
  EXPECT_NE(unknown_err.find("no member with code nobody"), std::string::npos) << unknown_err;

  pqxx::connection connection(fixture.auditor_url);
  pqxx::read_transaction tx(connection);
  EXPECT_EQ(tx.exec("SELECT count(*) FROM ledger.journal")[0][0].as<int>(), 1);
  EXPECT_EQ(tx.exec("SELECT balance_minor FROM ledger_audit.account WHERE member_code = 'aurora-labs' "
                    "AND kind = 'collateral'")[0][0]
                .as<std::int64_t>(),
            -250000050);
}

TEST(AdminTool, TheRiskDeskBuildsADatesMarginModelAndRunsMembersMargins) {
  cch::ledger::testing::LedgerFixture fixture;
  const std::map<std::string, std::string> writer = {{"CCH_DATABASE_URL", fixture.writer_url}};
  auto run = [&](std::vector<std::string> arguments) {
    auto process = std::make_unique<cch::testing::ChildProcess>(CCH_ADMIN_BINARY, arguments, writer);
    const auto status = process->wait_for_exit(120s);
    return std::tuple{status.value_or(-1), process->standard_output(), process->standard_error()};
  };
  const cch::MemberId member = fixture.add_member("aurora-labs");
  cch::registry::NewProduct wanted;
  wanted.spec.code = "h100-sxm-us-east";
  wanted.spec.gpu_model = "H100";
  wanted.spec.form_factor = "sxm";
  wanted.spec.min_interconnect = "infiniband-400g";
  wanted.spec.region = "us-east";
  wanted.spec.tick_size_ticks = 50;
  wanted.position_limit_gpu_hours = 1'000'000;
  wanted.created_by = "setup";
  cch::db::run_transaction(*fixture.pool, cch::db::Isolation::read_committed, {},
                           [&](pqxx::transaction_base& tx) { ASSERT_TRUE(cch::registry::create_product(tx, wanted)); });
  // Thirteen months of SYNTHETIC history up to the business date, as an operator imports it.
  const std::string history = cch::testing::make_temporary_directory() + "/history.csv";
  const auto [generated, generated_out, generated_err] =
      run({"market", "demo-history", "--from", "2025-05-01", "--to", "2026-06-01", "--output", history});
  ASSERT_EQ(generated, 0) << generated_err;
  const auto [imported, imported_out, imported_err] = run({"market", "import", history});
  ASSERT_EQ(imported, 0) << imported_err;
  const auto date = cch::BusinessDate::parse("2026-06-01").value();
  cch::db::run_transaction(*fixture.pool, cch::db::Isolation::read_committed, {}, [&](pqxx::transaction_base& tx) {
    const auto built = cch::risk::build_curve_set(tx, {date, cch::make_calendar("united_states_settlement").value(),
                                                       cch::BusinessDate::containing(cch::UtcTimestamp::now()),
                                                       "setup", std::nullopt});
    ASSERT_TRUE(built) << built.error().detail;
  });

  const auto [no_model, no_model_out, no_model_err] = run({"margin", "run"});
  EXPECT_EQ(no_model, 1);
  EXPECT_NE(no_model_err.find("cch-admin: error: unknown_model: "), std::string::npos) << no_model_err;
  const auto [sunday, sunday_out, sunday_err] = run({"margin", "model", "--date", "2026-05-31"});
  EXPECT_EQ(sunday, 1);
  EXPECT_NE(sunday_err.find("no_curve_set"), std::string::npos) << sunday_err;

  const auto [built, built_out, built_err] = run({"margin", "model", "--date", "2026-06-01"});
  ASSERT_EQ(built, 0) << built_err;
  EXPECT_NE(built_out.find(" of 2026-06-01 (version 1, parameter version 1, curve set "), std::string::npos) << built_out;
  EXPECT_NE(built_out.find("1 products, 11 factors"), std::string::npos) << built_out;
  EXPECT_NE(built_out.find("; built\n"), std::string::npos) << built_out;
  EXPECT_NE(built_out.find("  forward: "), std::string::npos) << built_out;
  const auto [again, again_out, again_err] = run({"margin", "model", "--date", "2026-06-01"});
  ASSERT_EQ(again, 0) << again_err;
  EXPECT_NE(again_out.find("; built before\n"), std::string::npos) << again_out;

  const auto [ran, ran_out, ran_err] =
      run({"margin", "run", "--date", "2026-06-01", "--member", std::to_string(member.value())});
  ASSERT_EQ(ran, 0) << ran_err;
  EXPECT_NE(ran_out.find("; built before\n"), std::string::npos) << ran_out;
  EXPECT_NE(ran_out.find("margin run "), std::string::npos) << ran_out;
  EXPECT_NE(ran_out.find(" of 2026-06-01: 1 members, 0 legs (0 under the interim rule), total initial margin 0.00 USD"),
            std::string::npos)
      << ran_out;
  EXPECT_NE(ran_out.find("  member " + std::to_string(member.value()) + ": 0.00 USD (0 legs)"), std::string::npos)
      << ran_out;
  const auto [unknown, unknown_out, unknown_err] = run({"margin", "run", "--member", "999999"});
  EXPECT_EQ(unknown, 1);
  EXPECT_NE(unknown_err.find("unknown_member"), std::string::npos) << unknown_err;
  const auto [bad_date, bad_date_out, bad_date_err] = run({"margin", "model", "--date", "June"});
  EXPECT_EQ(bad_date, 2);
}
