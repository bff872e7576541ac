// kill -9 in each step of a run in turn, each time started again: the run resumes at the step that
// died, ends complete with each step recorded once, and its journals are those of an uninterrupted
// run, one per member with the figures computed by hand, none twice; the hash chains verify and
// the trial balance is zero. Then the next day, killed again in every step. Twice: a process
// running the library's entry point that kills itself just before each step's commit
// (cch-settle-crash), and the cch-settlement service itself, killed from outside while its
// connection waits inside the step's transaction.
#include "cch/access/principal.hpp"
#include "cch/http/client.hpp"
#include "cch/ledger/queries.hpp"
#include "cch/ledger/verify.hpp"
#include "cch/settlement/deliveries.hpp"
#include "cch/testing/process.hpp"
#include "settlement_fixture.hpp"

#include <pqxx/result>
#include <pqxx/nontransaction>
#include <pqxx/transaction>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <future>
#include <thread>

namespace cch::settlement {
namespace {

using fixture::SettlementRuns;

class SettlementCrash : public SettlementRuns {
 protected:
  // Settles `day` in a process of its own; answers its exit status.
  int settle_in_process(BusinessDate day, std::string_view kill_in) {
    std::vector<std::string> arguments{"--url", fixture.writer_url, "--date", day.format(), "--now",
                                       fixture::kNow.format()};
    if (!kill_in.empty()) {
      arguments.emplace_back("--kill-in");
      arguments.emplace_back(kill_in);
    }
    cch::testing::ChildProcess process(CCH_SETTLE_CRASH_BINARY, arguments);
    const auto status = process.wait_for_exit(std::chrono::seconds(60));
    EXPECT_TRUE(status.has_value()) << "cch-settle-crash did not end";
    if (status && *status != 0 && *status != 128 + SIGKILL) ADD_FAILURE() << process.standard_error();
    return status.value_or(-1);
  }

  // Every journal of a kind as text: its key, date, cause and postings (account: amount).
  std::string journals(const std::string& kind = "variation_margin") {
    std::string text;
    run([&](pqxx::transaction_base& tx) {
      for (const auto& row : tx.exec(
               "SELECT j.idempotency_key, j.business_date, j.cause_kind, j.cause_reference, "
               "(SELECT string_agg(p.account_id || ':' || p.amount_minor, ',' ORDER BY p.line_number) "
               " FROM ledger.posting p WHERE p.journal_id = j.journal_id) "
               "FROM ledger.journal j WHERE j.kind = '" + kind + "' ORDER BY j.idempotency_key")) {
        for (const auto& field : row) text += std::string(field.c_str()) + " ";
        text += "\n";
      }
    });
    return text;
  }

  // The journals an uninterrupted run of `run_id` posts: each member's total against its
  // collateral and the house's clearing account, keyed by run and member (variation margin, or
  // with "settlement-delivery" and "delivery_clearing" the deliveries').
  std::string expected_journals(std::int64_t run_id, BusinessDate day,
                                const std::vector<std::pair<MemberId, std::int64_t>>& totals,
                                const std::string& key = "settlement-vm",
                                const std::string& clearing_kind = "variation_margin_clearing") {
    const auto account = [&](const std::string& where) {
      return std::to_string(scalar("SELECT account_id FROM ledger.account WHERE " + where));
    };
    const std::string clearing = account("owner_kind = 'house' AND kind = '" + clearing_kind + "'");
    std::vector<std::string> lines;
    for (const auto& [member, total] : totals) {
      if (total == 0) continue;
      lines.push_back(key + ":" + std::to_string(run_id) + ":" + member.to_string() + " " + day.format() +
                      " settlement_run " + std::to_string(run_id) + " " +
                      account("kind = 'collateral' AND member_id = " + member.to_string()) + ":" +
                      std::to_string(-total) + "," + clearing + ":" + std::to_string(total) + " \n");
    }
    std::sort(lines.begin(), lines.end());
    std::string text;
    for (const auto& line : lines) text += line;
    return text;
  }

  std::int64_t forward_mark(BusinessDate day, double forward_minus_price) {
    return run([&](pqxx::transaction_base& tx) {
      const double df = risk::load_curves(tx, risk::latest_curve_set(tx, day)->curve_set_id)
                            ->discount.discount(fixture::date("2027-04-05"));
      return static_cast<std::int64_t>(std::llround(forward_minus_price * 190'464 * df * 100));
    });
  }

  void expect_books_verify() {
    run([&](pqxx::transaction_base& tx) {
      const auto verified = ledger::verify_chains(tx);
      EXPECT_TRUE(verified.ok()) << "the hash chains verify";
      EXPECT_TRUE(ledger::trial_balance(tx, std::nullopt).balanced()) << "the trial balance is zero";
    });
  }

  // Two business days' trades and market data, and a one-day delivery that day 1's run settles.
  void prepare_two_days() {
    trade();
    // And a delivery settled by day 1's run: charlie sells alpha 8 GPUs for 13 January alone at
    // 2.1000 (never marked: it ends with the day) and reports all 192 GPU-hours delivered.
    auto one_day = march(a, c, 8, 21'000);
    one_day.delivery_start = registry::fixture::at("2027-01-13T00:00:00Z");
    one_day.delivery_end = registry::fixture::at("2027-01-14T00:00:00Z");
    const auto delivered = clear_on(one_day, "DAY-1");
    ASSERT_TRUE(delivered) << delivered.error().detail;
    run([&](pqxx::transaction_base& tx) {
      ASSERT_TRUE(report_delivery(tx, delivered->trade_id, kDay1, 192, {c, "charlie", std::nullopt}, fixture::kNow));
    });
    enter_market_data(kDay1, 21'500, 21'000, 21'000);
    enter_market_data(kDay2, 21'600, 21'200, 21'000);
  }

  // After both days settled through every kill: each date one run, complete, every step once; its
  // members' journals exactly those of an uninterrupted run; the books verify.
  void expect_two_days_settled_once() {
    // Each date: one run, complete, every step once; its members' journals exactly once.
    EXPECT_EQ(scalar("SELECT count(*) FROM settlement.run"), 2);
    EXPECT_EQ(scalar("SELECT count(*) FROM settlement.run WHERE state = 'completed'"), 2);
    EXPECT_EQ(scalar("SELECT count(*) FROM settlement.run_step"), 10);
    EXPECT_EQ(scalar("SELECT count(*) FROM cch.outbox WHERE topic = 'settlement.run_completed'"), 2);
    const std::int64_t run1 = scalar("SELECT run_id FROM settlement.run WHERE business_date = '2027-01-13'");
    const std::int64_t run2 = scalar("SELECT run_id FROM settlement.run WHERE business_date = '2027-01-14'");
    // By hand (runs_test.cpp has the arithmetic): day 1 from zero, day 2 the change and bravo's
    // interest on its forward's day-1 mark at 4 % for one day.
    const std::int64_t fwd1 = forward_mark(kDay1, 0.0050);
    const std::int64_t fwd2 = forward_mark(kDay2, 0.0150);
    const std::int64_t pai = -((fwd1 * 4 * 2 + 36'000) / (36'000 * 2));
    const std::string expected =
        expected_journals(run1, kDay1, {{a, 209'664}, {b, fwd1 - 209'664}, {c, -fwd1}}) +
        expected_journals(run2, kDay2, {{a, 419'328}, {b, fwd2 - fwd1 - 419'328 + pai}, {c, -(fwd2 - fwd1) - pai}});
    // Keys sort by run then member here (one-digit ids), as the expectation is built.
    EXPECT_EQ(journals(), expected);
    // The delivery: 192 x 2.1000 = 403.20 USD from alpha to charlie, once.
    EXPECT_EQ(journals("delivery_settlement"),
              expected_journals(run1, kDay1, {{a, -40'320}, {c, 40'320}}, "settlement-delivery", "delivery_clearing"));
    expect_books_verify();
  }
};

TEST_F(SettlementCrash, KilledInEachStepInTurnTheRunResumesToTheJournalsOfAnUninterruptedRun) {
  prepare_two_days();
  for (const BusinessDate day : {kDay1, kDay2}) {
    for (const RunStep step : kRunSteps) {
      EXPECT_EQ(settle_in_process(day, to_string(step)), 128 + SIGKILL) << to_string(step);
      EXPECT_EQ(scalar("SELECT count(*) FROM settlement.run_step s JOIN settlement.run r USING (run_id) WHERE "
                       "r.business_date = '" + day.format() + "' AND s.step = '" + std::string(to_string(step)) + "'"),
                0)
          << "a step killed before its commit left nothing: " << to_string(step);
    }
    EXPECT_EQ(settle_in_process(day, ""), 0);
  }
  expect_two_days_settled_once();
}

// The service as deployed: cch-settlement started from a config file, the run asked of it on its
// internal route as cch-api forwards an operator's request. The fixture's dates are in 2027, so the
// service runs under libfaketime with its clock starting at kNow (the run refuses a date after
// today). To kill it inside a step, the test holds, in a transaction of its own, a lock that one
// statement of the step needs, waits until PostgreSQL shows the service's connection waiting on
// it, and sends SIGKILL; then it lets the lock go. The dead service's transaction never commits.
class SettlementServiceCrash : public SettlementCrash {
 protected:
  std::unique_ptr<cch::testing::ChildProcess> start_service(unsigned short port) {
    const std::string config = cch::testing::write_temporary_file(
        "cch.toml", "[database]\nurl = \"" + fixture.writer_url +
                        "\"\n\n[settlement]\nport = " + std::to_string(port) +
                        "\nmargin_calls = false\n\n[log]\nformat = \"json\"\nlevel = \"warn\"\n");
    auto process = std::make_unique<cch::testing::ChildProcess>(
        CCH_SETTLEMENT_BINARY, std::vector<std::string>{"--config", config},
        std::map<std::string, std::string>{{"LD_PRELOAD", CCH_FAKETIME_LIBRARY},
                                           {"FAKETIME", "@" + fixture::kNow.format().substr(0, 10) + " " +
                                                            fixture::kNow.format().substr(11, 8)},
                                           {"FAKETIME_DONT_FAKE_MONOTONIC", "1"},
                                           {"DONT_FAKE_MONOTONIC", "1"},
                                           {"TZ", "UTC"},
                                           // the sanitizers' runtime need not come first with it preloaded
                                           {"ASAN_OPTIONS", asan_options()}});
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline && process->running()) {
      http::Client client(client_options(port));
      const auto ready = client.request("GET", "/readyz");
      if (ready && ready->status == 200) return process;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "cch-settlement did not become ready: " << process->standard_error();
    return process;
  }

  static std::string asan_options() {
    const char* inherited = std::getenv("ASAN_OPTIONS");
    return (inherited != nullptr && *inherited != '\0' ? std::string(inherited) + ":" : std::string()) +
           "verify_asan_link_order=0";
  }

  static http::ClientOptions client_options(unsigned short port) {
    http::ClientOptions options;
    options.port = port;
    options.timeout_ms = 120'000;
    return options;
  }

  // POST /internal/v1/settlement/runs for `day` as an operator, as cch-api forwards it.
  static Result<http::ClientResponse, http::ClientError> ask_to_settle(unsigned short port, BusinessDate day) {
    const access::Principal operator_principal{access::PrincipalId(1), "ops", access::Role::operator_, std::nullopt,
                                               access::Credential::client_certificate};
    auto headers = access::forwarded_principal_headers(operator_principal);
    headers.push_back({"Content-Type", "application/json"});
    http::Client client(client_options(port));
    return client.request("POST", "/internal/v1/settlement/runs",
                          "{\"business_date\": \"" + day.format() + "\"}", headers);
  }

  // The service's connections: how many are open, and how many wait on a lock.
  std::int64_t service_connections(const std::string& where = "true") {
    pqxx::connection connection(fixture.database.url());
    pqxx::nontransaction tx(connection);
    return tx.exec1("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'cch-settlement' AND " + where)[0]
        .as<std::int64_t>();
  }

  // Starts the service, asks it to settle `day` while `blocker` (SQL run in an open transaction)
  // holds what `step` needs, kills it with SIGKILL once its connection waits on that lock, lets
  // the lock go and waits until PostgreSQL has ended the dead service's sessions.
  void kill_service_in(BusinessDate day, RunStep step, const std::string& blocker) {
    pqxx::connection holder(fixture.database.url());
    pqxx::work hold(holder);
    hold.exec(blocker);
    const unsigned short port = cch::testing::free_tcp_port();
    auto service = start_service(port);
    auto answer = std::async(std::launch::async, [port, day] { return ask_to_settle(port, day); });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    // (Stops early if the service answers: it did not need the lock.)
    while (service_connections("wait_event_type = 'Lock'") == 0 && std::chrono::steady_clock::now() < deadline &&
           answer.wait_for(std::chrono::milliseconds(0)) != std::future_status::ready) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_EQ(service_connections("wait_event_type = 'Lock'"), 1)
        << "the service waits on the lock held in step " << to_string(step) << ": " << service->standard_error();
    service->send_signal(SIGKILL);
    EXPECT_EQ(service->wait_for_exit(std::chrono::seconds(30)), 128 + SIGKILL);
    EXPECT_FALSE(answer.get()) << "a killed service answers nothing";
    hold.abort();
    while (service_connections() > 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_EQ(service_connections(), 0) << "PostgreSQL ended the killed service's sessions";
  }

  std::int64_t steps_of(BusinessDate day, const std::string& step) {
    return scalar("SELECT count(*) FROM settlement.run_step s JOIN settlement.run r USING (run_id) WHERE "
                  "r.business_date = '" + day.format() + "' AND s.step = '" + step + "'");
  }
};

TEST_F(SettlementServiceCrash, TheServiceKilledInEachStepInTurnResumesToTheJournalsOfAnUninterruptedRun) {
  prepare_two_days();
  for (const BusinessDate day : {kDay1, kDay2}) {
    for (const RunStep step : kRunSteps) {
      // The statement each step waits on: prices the run's row, marks the COPY of its sums per
      // member and product (after its million marks), and the later steps (the run exists by
      // then) their own step row, the step's last statement.
      std::string blocker;
      switch (step) {
        case RunStep::prices: blocker = "LOCK TABLE settlement.run IN SHARE MODE"; break;
        case RunStep::marks: blocker = "LOCK TABLE settlement.member_product_vm IN SHARE MODE"; break;
        default:
          blocker = "INSERT INTO settlement.run_step (run_id, step, started_at, counts) SELECT run_id, '" +
                    std::string(to_string(step)) + "', now(), '{}' FROM settlement.run WHERE business_date = '" +
                    day.format() + "' AND state = 'running'";
      }
      kill_service_in(day, step, blocker);
      if (HasFatalFailure()) return;
      EXPECT_EQ(steps_of(day, std::string(to_string(step))), 0)
          << "a step killed before its commit left nothing: " << to_string(step);
      if (step != RunStep::prices) {
        EXPECT_EQ(steps_of(day, "prices"), 1) << "the run resumed after its first step: " << to_string(step);
      }
    }
    const unsigned short port = cch::testing::free_tcp_port();
    auto service = start_service(port);
    const auto resumed = ask_to_settle(port, day);
    ASSERT_TRUE(resumed) << resumed.error().message;
    EXPECT_EQ(resumed->status, 201U) << resumed->body;
    EXPECT_NE(resumed->body.find("\"resumed\":true"), std::string::npos) << resumed->body;
    const auto again = ask_to_settle(port, day);
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_EQ(again->status, 200U) << "settled before: " << again->body;
  }
  expect_two_days_settled_once();
}

}  // namespace
}  // namespace cch::settlement
