// The api's promises other than the role matrix: object-level authorisation, idempotency,
// strict bodies, rate limits, API keys, the audit log, and 401 for unknown paths.
#include "api_harness.hpp"

#include "cch/db/transaction.hpp"
#include "cch/ledger/accounts.hpp"
#include "cch/registry/products.hpp"

#include <gtest/gtest.h>
#include <pqxx/result>
#include <pqxx/transaction>

#include <chrono>
#include <ctime>
#include <set>
#include <thread>

namespace cch::api::testing {
namespace {

nlohmann::json json_of(const http::Response& response) { return nlohmann::json::parse(response.body); }

std::string reason_of(const http::Response& response) {
  const auto body = nlohmann::json::parse(response.body, nullptr, false);
  return body.is_object() && body.contains("reason") ? body["reason"].get<std::string>() : std::string();
}

std::int64_t count(ApiHarness& harness, const std::string& sql) {
  return db::run_transaction(*harness.fixture.pool, db::Isolation::read_committed, {},
                             [&](pqxx::transaction_base& tx) { return tx.exec(sql)[0][0].as<std::int64_t>(); });
}

class ApiBehaviour : public ::testing::Test {
 protected:
  std::string deposit(MemberId member, const std::string& amount, const std::string& reference) {
    const auto response = harness.post(harness.operator_caller, "/v1/members/" + member.to_string() + "/collateral-deposits",
                                       R"({"amount":")" + amount + R"(","currency":"USD","bank_reference":")" +
                                           reference + "\"}");
    EXPECT_EQ(response.status, 201u) << response.body;
    return json_of(response)["journal_id"].get<std::string>();
  }

  // The member's USD collateral account's id.
  std::string collateral_account(MemberId member) {
    return db::run_transaction(*harness.fixture.pool, db::Isolation::read_committed, {},
                               [&](pqxx::transaction_base& tx) {
                                 return ledger::open_member_account(tx, member, ledger::AccountKind::collateral,
                                                                    Currency::usd());
                               })
        .to_string();
  }

  ApiHarness harness;
};

TEST_F(ApiBehaviour, AMemberSeesAnotherMembersObjectsAsMissingAndTheAttemptIsAudited) {
  const std::string journal = deposit(harness.member_a, "500.00", "wire-1");
  const auto withdrawal = harness.post(harness.member_a_caller,
                                       "/v1/members/" + harness.member_a.to_string() + "/collateral-withdrawals",
                                       R"({"amount":"10.00","currency":"USD"})");
  ASSERT_EQ(withdrawal.status, 201u) << withdrawal.body;
  const std::string withdrawal_id = json_of(withdrawal)["withdrawal_id"];
  const std::string account = collateral_account(harness.member_a);
  const std::string a = harness.member_a.to_string();
  const std::vector<std::pair<std::string, std::string>> attempts = {
      {"GET", "/v1/members/" + a},
      {"GET", "/v1/members/" + a + "/accounts"},
      {"GET", "/v1/members/" + a + "/collateral"},
      {"GET", "/v1/members/" + a + "/collateral-withdrawals"},
      {"GET", "/v1/members/" + a + "/marks"},
      {"GET", "/v1/members/" + a + "/margin"},
      {"GET", "/v1/members/" + a + "/margin/history"},
      {"GET", "/v1/members/" + a + "/margin-calls"},
      {"POST", "/v1/members/" + a + "/margin/what-if"},
      {"GET", "/v1/members/" + a + "/statements/2027-01-14"},
      {"GET", "/v1/members/" + a + "/variation-margin"},
      {"GET", "/v1/accounts/" + account},
      {"GET", "/v1/accounts/" + account + "/history"},
      {"GET", "/v1/journals/" + journal},
      {"GET", "/v1/collateral-withdrawals/" + withdrawal_id},
      {"POST", "/v1/collateral-withdrawals/" + withdrawal_id + "/cancel"},
      {"POST", "/v1/members/" + a + "/collateral-withdrawals"},
  };
  for (const auto& [method, target] : attempts) {
    const auto response =
        method == "POST" ? harness.post(harness.member_b_caller, target, R"({"amount":"1.00","currency":"USD"})")
                         : harness.call(harness.member_b_caller, method, target);
    EXPECT_EQ(response.status, 404u) << method << " " << target;
    EXPECT_EQ(reason_of(response), "not_found") << method << " " << target;
    // The same answer as for an object that does not exist at all.
  }
  EXPECT_EQ(harness.call(harness.member_b_caller, "GET", "/v1/accounts/999999").status, 404u);
  // Member A itself sees them, and the withdrawal was not cancelled by B.
  EXPECT_EQ(json_of(harness.call(harness.member_a_caller, "GET", "/v1/collateral-withdrawals/" + withdrawal_id))["status"],
            "requested");
  harness.flush_audit();
  EXPECT_EQ(count(harness, "SELECT count(*) FROM api.request_log WHERE principal_name = 'member-b-system' "
                           "AND reason = 'object_access_denied' AND status = 404"),
            static_cast<std::int64_t>(attempts.size()));
}

TEST_F(ApiBehaviour, AnAccountReadsAsTheLedgerHoldsItInCompactJsonWithSortedKeys) {
  deposit(harness.member_a, "500.00", "wire-read");
  const auto [member_account, house_account] = db::run_transaction(
      *harness.fixture.pool, db::Isolation::read_committed, {}, [&](pqxx::transaction_base& tx) {
        const auto member = ledger::open_member_account(tx, harness.member_a, ledger::AccountKind::collateral,
                                                        Currency::usd());
        const auto house = tx.exec("SELECT min(account_id) FROM ledger.account WHERE member_id IS NULL AND currency = 'USD'")[0][0];
        return std::pair{member.to_string(), house.as<std::string>()};
      });
  const auto stored = [&](const std::string& account) {
    return db::run_transaction(*harness.fixture.pool, db::Isolation::read_committed, {}, [&](pqxx::transaction_base& tx) {
      const auto row = tx.exec_params(
          "SELECT a.kind, COALESCE(b.balance_minor, 0), COALESCE(b.version, 0) FROM ledger.account a "
          "LEFT JOIN ledger.account_balance b USING (account_id) WHERE a.account_id = $1::bigint",
          account)[0];
      return std::tuple{row[0].as<std::string>(), row[1].as<std::int64_t>(), row[2].as<std::int64_t>()};
    });
  };
  const auto read_as = [&](const Caller& caller, const std::string& account) {
    const auto response = harness.call(caller, "GET", "/v1/accounts/" + account);
    EXPECT_EQ(response.status, 200u) << response.body;
    EXPECT_EQ(response.content_type, "application/json");
    const auto body = json_of(response);
    EXPECT_EQ(body.dump(), response.body);  // compact, keys sorted: the bytes a JSON tree would give
    return body;
  };

  const auto [member_kind, member_minor, member_postings] = stored(member_account);
  const auto own = read_as(harness.member_a_caller, member_account);
  EXPECT_EQ(own["account_id"], member_account);
  EXPECT_EQ(own["member_id"], harness.member_a.to_string());
  EXPECT_EQ(own["kind"], member_kind);
  EXPECT_EQ(own["currency"], "USD");
  EXPECT_EQ(own["balance"], format_amount(Money{member_minor, Currency::usd()}));
  EXPECT_NE(member_minor, 0);
  EXPECT_EQ(own["posting_count"], member_postings);
  EXPECT_GE(member_postings, 1);

  const auto [house_kind, house_minor, house_postings] = stored(house_account);
  const auto house = read_as(harness.auditor_caller, house_account);
  EXPECT_TRUE(house["member_id"].is_null());
  EXPECT_EQ(house["kind"], house_kind);
  EXPECT_EQ(house["balance"], format_amount(Money{house_minor, Currency::usd()}));
  EXPECT_EQ(house["posting_count"], house_postings);
}

// The account read is answered on the server's I/O thread when it can be (the caller's
// credential is cached, an audit slot is free): the same answers as the worker path, refusals
// included, each recorded in the audit log.
TEST_F(ApiBehaviour, AnAccountReadAnswersAlikeOnTheFastPathAndTheWorkerPath) {
  deposit(harness.member_a, "250.00", "wire-fast");
  const std::string account = collateral_account(harness.member_a);
  const Caller owner = harness.add_caller("fast-owner", access::Role::member, harness.member_a);
  const Caller other = harness.add_caller("fast-other", access::Role::member, harness.member_b);
  const Caller venue = harness.add_caller("fast-venue", access::Role::venue);
  const std::vector<std::pair<const Caller*, std::string>> reads = {
      {&owner, "/v1/accounts/" + account},               // 200
      {&owner, "/v1/accounts/" + account + "?x=1"},      // 400 unknown parameter
      {&owner, "/v1/accounts/999999999"},                // 404 not_found
      {&other, "/v1/accounts/" + account},               // 404, audited as an attempt
      {&other, "/v1/accounts/" + account + "?x=1"},      // 404 too: ownership decides first
      {&venue, "/v1/accounts/" + account},               // 403
  };
  const auto answer = [&](const Caller& caller, const std::string& target) {
    const auto response = harness.call(caller, "GET", target);
    return std::tuple{response.status, response.content_type, response.body};
  };

  // A caller's first request authenticates through the database: the worker path.
  const int fast_before = harness.fast_answers.load();
  for (const Caller* caller : {&owner, &other, &venue}) {
    EXPECT_NE(std::get<0>(answer(*caller, "/v1/accounts/" + account)), 0u);
  }
  EXPECT_EQ(harness.fast_answers.load(), fast_before);

  // Now cached: each read is answered by the fast path, and alike by the worker path.
  std::vector<std::tuple<unsigned, std::string, std::string>> fast;
  for (const auto& [caller, target] : reads) fast.push_back(answer(*caller, target));
  EXPECT_EQ(harness.fast_answers.load(), fast_before + static_cast<int>(reads.size()));
  harness.offer_fast = false;
  for (std::size_t i = 0; i < reads.size(); ++i) {
    EXPECT_EQ(answer(*reads[i].first, reads[i].second), fast[i]) << reads[i].second;
  }
  harness.offer_fast = true;
  EXPECT_EQ(std::get<0>(fast[0]), 200u);
  // The ledger's signs: collateral the clearinghouse holds for a member is a credit balance.
  EXPECT_EQ(nlohmann::json::parse(std::get<2>(fast[0]))["balance"], "-250.00");
  const std::vector<unsigned> statuses = {200, 400, 404, 404, 404, 403};
  for (std::size_t i = 0; i < reads.size(); ++i) EXPECT_EQ(std::get<0>(fast[i]), statuses[i]) << reads[i].second;

  // Both paths recorded every request alike: 3 first reads, then 6 on each path.
  harness.flush_audit();
  const auto audited = [&](const std::string& name, const std::string& where) {
    return count(harness, "SELECT count(*) FROM api.request_log WHERE principal_name = '" + name +
                              "' AND route = '/v1/accounts/{account_id}' AND " + where);
  };
  EXPECT_EQ(audited("fast-owner", "status = 200"), 3);
  EXPECT_EQ(audited("fast-owner", "status = 400 AND reason = 'unknown_parameter'"), 2);
  EXPECT_EQ(audited("fast-owner", "status = 404 AND reason = 'not_found'"), 2);
  EXPECT_EQ(audited("fast-other", "status = 404 AND reason = 'object_access_denied'"), 5);
  EXPECT_EQ(audited("fast-venue", "status = 403 AND reason = 'forbidden'"), 3);
}

// A member decides which venues may register its trades: it authorises and revokes for itself
// only (an operator may act on its behalf), and the list shows who did what.
TEST_F(ApiBehaviour, AMemberAuthorisesAndRevokesAVenueForItselfOnly) {
  const std::string a = harness.member_a.to_string();
  const std::string venue = std::to_string(count(harness, "SELECT principal_id FROM api.principal WHERE name = 'auction-house'"));
  const std::string auditor = std::to_string(count(harness, "SELECT principal_id FROM api.principal WHERE role = 'auditor' LIMIT 1"));
  const std::string authorisations = "/v1/members/" + a + "/venue-authorisations";
  const std::string body = R"({"venue_principal_id":")" + venue + "\"}";

  const auto granted = harness.post(harness.member_a_caller, authorisations, body);
  ASSERT_EQ(granted.status, 201u) << granted.body;
  EXPECT_EQ(json_of(granted)["status"], "authorised");
  EXPECT_EQ(json_of(granted)["venue"], "auction-house");
  EXPECT_EQ(json_of(granted)["authorised_by"], harness.member_a_caller.name);
  EXPECT_TRUE(json_of(granted)["revoked_at"].is_null());
  EXPECT_EQ(harness.post(harness.member_a_caller, authorisations, body).status, 200u);  // already live

  // Another member may not act for A; what is not a venue cannot be authorised; nothing settable.
  EXPECT_EQ(harness.post(harness.member_b_caller, authorisations, body).status, 404u);
  const auto not_venue = harness.post(harness.member_a_caller, authorisations, R"({"venue_principal_id":")" + auditor + "\"}");
  EXPECT_EQ(not_venue.status, 422u);
  EXPECT_EQ(reason_of(not_venue), "unknown_venue");
  const auto settable =
      harness.post(harness.member_a_caller, authorisations, R"({"venue_principal_id":")" + venue + R"(","status":"revoked"})");
  EXPECT_EQ(settable.status, 422u);
  EXPECT_EQ(reason_of(settable), "field_not_settable");
  EXPECT_EQ(harness.call(harness.member_b_caller, "GET", authorisations).status, 404u);

  // An operator revokes on A's behalf; the member and risk officers see it revoked, and by whom.
  const auto revoked = harness.post(harness.operator_caller, authorisations + "/" + venue + "/revoke", "{}");
  ASSERT_EQ(revoked.status, 200u) << revoked.body;
  EXPECT_EQ(json_of(revoked)["status"], "revoked");
  EXPECT_EQ(json_of(revoked)["revoked_by"], harness.operator_caller.name);
  const auto listed = json_of(harness.call(harness.risk_caller, "GET", authorisations));
  ASSERT_EQ(listed["items"].size(), 1u);
  EXPECT_EQ(listed["items"][0]["status"], "revoked");
  EXPECT_EQ(json_of(harness.call(harness.member_a_caller, "GET", authorisations))["items"], listed["items"]);
  // Never authorised by B: nothing to revoke.
  EXPECT_EQ(harness.post(harness.member_b_caller, "/v1/members/" + harness.member_b.to_string() +
                                                      "/venue-authorisations/" + venue + "/revoke", "{}")
                .status,
            404u);
  // Renewed by A itself: live again.
  const auto renewed = harness.post(harness.member_a_caller, authorisations, body);
  EXPECT_EQ(renewed.status, 201u) << renewed.body;
  EXPECT_EQ(json_of(renewed)["status"], "authorised");
}

TEST_F(ApiBehaviour, AMemberSeesOnlyItsOwnAndTheHousesPostingsOfAJournal) {
  const std::string journal = deposit(harness.member_a, "20.00", "wire-2");
  const auto seen = json_of(harness.call(harness.member_a_caller, "GET", "/v1/journals/" + journal));
  ASSERT_EQ(seen["postings"].size(), 2u);
  for (const auto& posting : seen["postings"]) {
    EXPECT_TRUE(posting["member_id"].is_null() || posting["member_id"] == harness.member_a.to_string());
  }
}

TEST_F(ApiBehaviour, OneIdempotencyKeyReplayedConcurrentlyHasOneEffectAndIdenticalResponses) {
  const std::string target = "/v1/members/" + harness.member_a.to_string() + "/collateral-deposits";
  const std::string body = R"({"amount":"750.00","currency":"USD","bank_reference":"wire-concurrent"})";
  constexpr int kThreads = 8;
  std::vector<http::Response> responses(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      responses[static_cast<std::size_t>(i)] =
          harness.call(harness.operator_caller, "POST", target, body, {{"Idempotency-Key", "deposit-once"}});
    });
  }
  for (auto& thread : threads) thread.join();
  int replays = 0;
  for (const auto& response : responses) {
    EXPECT_EQ(response.status, 201u) << response.body;
    EXPECT_EQ(response.body, responses[0].body);
    replays += response.header("Idempotent-Replayed").has_value() ? 1 : 0;
  }
  EXPECT_EQ(replays, kThreads - 1);
  EXPECT_EQ(count(harness, "SELECT count(*) FROM ledger.journal WHERE kind = 'collateral_deposit'"), 1);

  // A member's withdrawal request, same key from many threads: one request.
  std::vector<std::thread> more;
  const std::string withdraw = "/v1/members/" + harness.member_a.to_string() + "/collateral-withdrawals";
  for (int i = 0; i < kThreads; ++i) {
    more.emplace_back([&, i] {
      responses[static_cast<std::size_t>(i)] = harness.call(harness.member_a_caller, "POST", withdraw,
                                                            R"({"amount":"5.00","currency":"USD"})",
                                                            {{"Idempotency-Key", "withdraw-once"}});
    });
  }
  for (auto& thread : more) thread.join();
  for (const auto& response : responses) EXPECT_EQ(response.body, responses[0].body);
  EXPECT_EQ(count(harness, "SELECT count(*) FROM cch.collateral_withdrawal"), 1);
}

// A forwarded command reserves its key, is forwarded holding no database connection, then stores
// its answer (migration 0009). Each way that can go, reached directly.
TEST(ApiIdempotency, AReservedKeyIsWaitedForAStaleOneTakenOverAndA5xxReleasesIt) {
  auto options = ApiHarness::test_options();
  options.reservation_stale_after = std::chrono::milliseconds(2'000);
  ApiHarness harness(options);
  const std::string target = "/v1/members/" + harness.member_a.to_string() + "/collateral-deposits";
  const auto body = [](const std::string& reference) {
    return R"({"amount":"10.00","currency":"USD","bank_reference":")" + reference + R"("})";
  };
  const auto deposits = [&] { return count(harness, "SELECT count(*) FROM ledger.journal WHERE kind = 'collateral_deposit'"); };
  const auto principal_id =
      count(harness, "SELECT principal_id FROM api.principal WHERE name = '" + harness.operator_caller.name + "'");
  // A reservation as another request of the same principal would have left it.
  const auto reserve = [&](const std::string& key, const std::string& reference, const std::string& age) {
    auto superuser = harness.fixture.superuser();
    pqxx::work tx(superuser);
    tx.exec_params(
        "INSERT INTO api.idempotency (principal_id, idempotency_key, method, path, request_sha256, reserved_by, "
        "created_at) VALUES ($1, $2, 'POST', $3, encode(sha256(convert_to('POST' || chr(10) || $3 || chr(10) || $4, "
        "'UTF8')), 'hex'), 'another-request', clock_timestamp() - $5::interval)",
        principal_id, key, target, body(reference), age);
    tx.commit();
  };
  const std::int64_t before = deposits();

  // 1. Reserved and fresh: the request waits, then answers what the other request stored.
  reserve("held", "wire-held", "0 seconds");
  http::Response waited;
  std::thread waiter([&] {
    waited = harness.call(harness.operator_caller, "POST", target, body("wire-held"), {{"Idempotency-Key", "held"}});
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  {
    pqxx::connection writer(harness.fixture.writer_url);
    pqxx::work tx(writer);
    tx.exec("UPDATE api.idempotency SET response_status = 201, response_content_type = 'application/json', "
            "response_body = '{\"answered\":\"elsewhere\"}' WHERE idempotency_key = 'held'");
    tx.commit();
  }
  waiter.join();
  EXPECT_EQ(waited.status, 201u) << waited.body;
  EXPECT_EQ(waited.body, R"({"answered":"elsewhere"})");
  EXPECT_TRUE(waited.header("Idempotent-Replayed").has_value());
  EXPECT_EQ(deposits(), before);  // it did not run the command itself

  // 2. Reserved an hour ago by a request that died: taken over, the command runs once.
  reserve("orphan", "wire-orphan", "1 hour");
  const auto taken = harness.call(harness.operator_caller, "POST", target, body("wire-orphan"),
                                  {{"Idempotency-Key", "orphan"}});
  EXPECT_EQ(taken.status, 201u) << taken.body;
  EXPECT_FALSE(taken.header("Idempotent-Replayed").has_value());
  EXPECT_EQ(deposits(), before + 1);
  EXPECT_EQ(count(harness, "SELECT count(*) FROM api.idempotency WHERE idempotency_key = 'orphan' "
                           "AND response_status = 201 AND reserved_by <> 'another-request'"),
            1);
  const auto again = harness.call(harness.operator_caller, "POST", target, body("wire-orphan"),
                                  {{"Idempotency-Key", "orphan"}});
  EXPECT_EQ(again.body, taken.body);
  EXPECT_EQ(deposits(), before + 1);

  // 3. The owning service fails (5xx): nothing is stored, so the retry runs afresh.
  harness.fail_forwards = true;
  const auto failed = harness.call(harness.operator_caller, "POST", target, body("wire-retry"),
                                   {{"Idempotency-Key", "retry-me"}});
  EXPECT_EQ(failed.status, 503u);
  EXPECT_EQ(count(harness, "SELECT count(*) FROM api.idempotency WHERE idempotency_key = 'retry-me'"), 0);
  harness.fail_forwards = false;
  const auto retried = harness.call(harness.operator_caller, "POST", target, body("wire-retry"),
                                    {{"Idempotency-Key", "retry-me"}});
  EXPECT_EQ(retried.status, 201u) << retried.body;
  EXPECT_FALSE(retried.header("Idempotent-Replayed").has_value());
  EXPECT_EQ(deposits(), before + 2);

  // An answered key never changes, even for the services' own role.
  pqxx::connection writer(harness.fixture.writer_url);
  pqxx::work tx(writer);
  EXPECT_THROW(tx.exec("UPDATE api.idempotency SET response_status = 200 WHERE idempotency_key = 'orphan'"),
               pqxx::sql_error);
}

TEST_F(ApiBehaviour, TheSameKeyWithAnotherBodyIsRefusedAndAKeyIsRequired) {
  const std::string target = "/v1/members/" + harness.member_a.to_string() + "/collateral-deposits";
  const auto first = harness.call(harness.operator_caller, "POST", target,
                                  R"({"amount":"1.00","currency":"USD","bank_reference":"w-k1"})",
                                  {{"Idempotency-Key", "k1"}});
  EXPECT_EQ(first.status, 201u);
  const auto other = harness.call(harness.operator_caller, "POST", target,
                                  R"({"amount":"2.00","currency":"USD","bank_reference":"w-k1"})",
                                  {{"Idempotency-Key", "k1"}});
  EXPECT_EQ(other.status, 422u);
  EXPECT_EQ(reason_of(other), "idempotency_key_reused");
  const auto missing = harness.call(harness.operator_caller, "POST", target,
                                    R"({"amount":"2.00","currency":"USD","bank_reference":"w-k2"})");
  EXPECT_EQ(missing.status, 400u);
  EXPECT_EQ(reason_of(missing), "idempotency_key_required");
  const auto bad_key = harness.call(harness.operator_caller, "POST", target,
                                    R"({"amount":"2.00","currency":"USD","bank_reference":"w-k2"})",
                                    {{"Idempotency-Key", "has space"}});
  EXPECT_EQ(reason_of(bad_key), "invalid_idempotency_key");
  // Keys are per principal: another operator may use "k1" for its own request.
  const Caller other_operator = harness.add_caller("ops-2", access::Role::operator_);
  EXPECT_EQ(harness.call(other_operator, "POST", target, R"({"amount":"3.00","currency":"USD","bank_reference":"w-k3"})",
                         {{"Idempotency-Key", "k1"}})
                .status,
            201u);
  EXPECT_EQ(count(harness, "SELECT count(*) FROM ledger.journal"), 2);
}

TEST_F(ApiBehaviour, FieldsACallerMayNotSetAreRefusedAndNothingChanges) {
  deposit(harness.member_a, "100.00", "wire-mass");
  const std::string target = "/v1/members/" + harness.member_a.to_string() + "/collateral-withdrawals";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"amount":"1.00","currency":"USD","status":"paid"})", "field_not_settable"},
      {R"({"amount":"1.00","currency":"USD","member_id":")" + harness.member_b.to_string() + "\"}", "field_not_settable"},
      {R"({"amount":"1.00","currency":"USD","balance":"1000000.00"})", "field_not_settable"},
      {R"({"amount":"1.00","currency":"USD","withdrawal_id":"1"})", "field_not_settable"},
      {R"({"amount":"1.00","currency":"USD","colour":"red"})", "unknown_field"},
      {R"({"amount":1.00,"currency":"USD"})", "invalid_field"},
      {R"({"amount":"1.001","currency":"USD"})", "invalid_field"},
      {R"({"amount":"-1.00","currency":"USD"})", "invalid_field"},
      {R"({"currency":"USD"})", "missing_field"},
      {R"({"amount":"1.00","currency":"EUR"})", "invalid_field"},
      {R"(["amount"])", "body_not_object"},
  };
  for (const auto& [body, reason] : cases) {
    const auto response = harness.post(harness.member_a_caller, target, body);
    EXPECT_EQ(response.status, 422u) << body;
    EXPECT_EQ(reason_of(response), reason) << body;
  }
  const auto duplicate = harness.post(harness.member_a_caller, target,
                                      R"({"amount":"1.00","currency":"USD","amount":"900.00"})");
  EXPECT_EQ(duplicate.status, 400u);
  EXPECT_EQ(reason_of(duplicate), "malformed_json");
  const auto principal = harness.post(harness.operator_caller, "/v1/principals",
                                      R"({"name":"sneaky","role":"auditor","status":"active"})");
  EXPECT_EQ(reason_of(principal), "field_not_settable");
  EXPECT_EQ(count(harness, "SELECT count(*) FROM cch.collateral_withdrawal"), 0);
  EXPECT_EQ(count(harness, "SELECT count(*) FROM api.principal WHERE name = 'sneaky'"), 0);
}

TEST_F(ApiBehaviour, PagesFollowTheirCursorsAndPageSizesAreBounded) {
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(harness.post(harness.operator_caller, "/v1/members",
                           R"({"code":"page-)" + std::to_string(i) + R"(","legal_name":"P"})")
                  .status,
              201u);
  }
  std::vector<std::string> codes;
  std::string target = "/v1/members?limit=2";
  for (int pages = 0; pages < 10; ++pages) {
    const auto page = json_of(harness.call(harness.auditor_caller, "GET", target));
    for (const auto& member : page["items"]) codes.push_back(member["code"]);
    if (page["next_cursor"].is_null()) break;
    target = "/v1/members?limit=2&cursor=" + page["next_cursor"].get<std::string>();
  }
  EXPECT_EQ(codes, (std::vector<std::string>{"member-a", "member-b", "page-0", "page-1", "page-2"}));
  for (const std::string query : {"limit=0", "limit=1001", "limit=x", "cursor=abc", "colour=red", "limit=1&limit=2"}) {
    const auto response = harness.call(harness.auditor_caller, "GET", "/v1/members?" + query);
    EXPECT_EQ(response.status, 400u) << query;
  }
  EXPECT_EQ(json_of(harness.call(harness.auditor_caller, "GET", "/v1/members?limit=1000"))["items"].size(), 5u);
}

TEST_F(ApiBehaviour, StoredResponsesAreKeptAtLeast24HoursWhateverThePurgeAsks) {
  deposit(harness.member_a, "1.00", "wire-old");
  deposit(harness.member_a, "2.00", "wire-new");
  {
    auto superuser = harness.fixture.superuser();
    pqxx::work tx(superuser);
    // Out of band: an answered key never changes (a trigger), so the clock is turned back with
    // triggers off, as only a superuser can.
    tx.exec("SET LOCAL session_replication_role = replica");
    tx.exec("UPDATE api.idempotency SET created_at = now() - interval '25 hours' "
            "WHERE response_body LIKE '%wire-old%'");
    tx.commit();
  }
  // Asking for "older than one minute" still keeps everything younger than 24 hours.
  const auto removed = db::run_transaction(*harness.fixture.pool, db::Isolation::read_committed, {},
                                           [&](pqxx::transaction_base& tx) {
                                             return tx.exec("SELECT api.purge_idempotency(interval '1 minute')")[0][0]
                                                 .as<std::int64_t>();
                                           });
  EXPECT_EQ(removed, 1);
  EXPECT_EQ(count(harness, "SELECT count(*) FROM api.idempotency WHERE response_body LIKE '%wire-new%'"), 1);
}

// The auditor's reports may be read from a replica (database.read_url); the answer says where it
// was read and up to when it is complete. A read pool that cannot connect (the replica away) leaves
// the report to the primary, which says so; a member's own reads never take the read pool.
TEST_F(ApiBehaviour, AReportSaysWhereItWasReadAndAsOfWhenAndTheReplicaAwayLeavesItToThePrimary) {
  deposit(harness.member_a, "75.00", "wire-report");
  db::PoolOptions reads = harness.api_pool->options();
  reads.size = 2;
  int read_connections = 0;
  reads.on_connect = [&read_connections, hook = reads.on_connect](pqxx::connection& connection) {
    ++read_connections;
    if (hook) hook(connection);
  };
  db::ConnectionPool read_pool(reads);  // the same server: a primary, so it answers "primary"
  harness.context.read_pool = &read_pool;
  const auto before = std::chrono::system_clock::now() - std::chrono::seconds(1);
  const auto report = harness.call(harness.auditor_caller, "GET", "/v1/ledger/trial-balance");
  ASSERT_EQ(report.status, 200u) << report.body;
  EXPECT_EQ(report.header("Cch-Read-From").value_or(""), "primary");
  const std::string as_of(report.header("Cch-Data-As-Of").value_or(""));
  ASSERT_EQ(as_of.size(), 27u) << as_of;  // YYYY-MM-DDTHH:MM:SS.uuuuuuZ
  {
    const std::time_t seconds = std::chrono::system_clock::to_time_t(before);
    std::tm parts{};
    gmtime_r(&seconds, &parts);
    char earliest[32];
    std::strftime(earliest, sizeof earliest, "%Y-%m-%dT%H:%M:%S", &parts);
    EXPECT_GE(as_of.substr(0, 19), std::string(earliest)) << "the as-of instant is the read's";
  }
  EXPECT_EQ(json_of(report)["balanced"], true);
  // Read on a primary through the read pool (as after a standby was promoted under its
  // connection): read once more on a new connection, which would be to a standby if one
  // answered, and that one dropped too.
  EXPECT_EQ(read_connections, 2) << "the report was not read through the read pool, or not again";
  EXPECT_EQ(read_pool.open_count(), 0u);
  const auto member_read = harness.call(harness.member_a_caller, "GET",
                                        "/v1/members/" + harness.member_a.to_string() + "/collateral");
  EXPECT_EQ(member_read.status, 200u);
  EXPECT_FALSE(member_read.header("Cch-Read-From").has_value());

  db::PoolOptions unreachable = reads;
  unreachable.url = "postgresql://cch@127.0.0.1:1/cch";  // nothing listens on port 1
  unreachable.connect_timeout_s = 1;
  db::ConnectionPool away(unreachable);
  harness.context.read_pool = &away;
  for (const char* report_path : {"/v1/ledger/trial-balance", "/v1/ledger/verification", "/v1/audit/requests"}) {
    const auto fallback = harness.call(harness.auditor_caller, "GET", report_path);
    EXPECT_EQ(fallback.status, 200u) << report_path << ": " << fallback.body;
    EXPECT_EQ(fallback.header("Cch-Read-From").value_or(""), "primary") << report_path;
    EXPECT_TRUE(fallback.header("Cch-Data-As-Of").has_value()) << report_path;
  }
  harness.context.read_pool = nullptr;
}

TEST(ApiDatabaseBusy, NoFreeConnectionAnswers503WithRetryAfterAndNothingChanges) {
  ApiHarness harness(ApiHarness::test_options(), std::chrono::milliseconds(200));
  {
    std::vector<db::ConnectionPool::Lease> held;
    for (int i = 0; i < 8; ++i) held.push_back(harness.api_pool->acquire());
    const auto read = harness.call(harness.auditor_caller, "GET", "/v1/ledger/trial-balance");
    EXPECT_EQ(read.status, 503u);
    EXPECT_EQ(reason_of(read), "database_busy");
    EXPECT_TRUE(read.header("Retry-After").has_value());
    const auto write = harness.post(harness.operator_caller, "/v1/members", R"({"code":"busy-co","legal_name":"B"})");
    EXPECT_EQ(write.status, 503u);
  }
  EXPECT_EQ(count(harness, "SELECT count(*) FROM cch.member WHERE code = 'busy-co'"), 0);
  // Once connections are free again the same request works.
  EXPECT_EQ(harness.call(harness.auditor_caller, "GET", "/v1/ledger/trial-balance").status, 200u);
}

TEST(ApiRateLimit, TheFloodingPrincipalGets429WhileAnotherStillSucceeds) {
  ApiOptions options = ApiHarness::test_options();
  options.rate_limit_per_second = 1;
  options.rate_limit_burst = 5;
  ApiHarness harness(options);
  int limited = 0;
  std::optional<std::string> retry_after;
  for (int i = 0; i < 20; ++i) {
    const auto response = harness.call(harness.member_a_caller, "GET", "/v1/me");
    if (response.status == 429) {
      ++limited;
      EXPECT_EQ(reason_of(response), "rate_limited");
      retry_after = std::string(response.header("Retry-After").value_or(""));
    } else {
      EXPECT_EQ(response.status, 200u);
    }
  }
  // At most the burst plus what refilled during the loop got through.
  EXPECT_GE(limited, 10);
  ASSERT_TRUE(retry_after.has_value());
  EXPECT_GE(std::stoi(*retry_after), 1);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(harness.call(harness.member_b_caller, "GET", "/v1/me").status, 200u);
}

TEST_F(ApiBehaviour, ApiKeysAuthenticateUntilRevokedAndAreShownOnce) {
  const auto principal = harness.post(harness.operator_caller, "/v1/principals",
                                      R"({"name":"member-a-bot","role":"member","member_id":")" +
                                          harness.member_a.to_string() + "\"}");
  ASSERT_EQ(principal.status, 201u) << principal.body;
  const std::string principal_id = json_of(principal)["principal_id"];
  const auto issue_target = "/v1/principals/" + principal_id + "/api-keys";
  const auto issued = harness.call(harness.operator_caller, "POST", issue_target, R"({"label":"batch jobs"})",
                                   {{"Idempotency-Key", "issue-1"}});
  ASSERT_EQ(issued.status, 201u) << issued.body;
  const std::string token = json_of(issued)["token"];
  const std::string key_id = json_of(issued)["key_id"];
  // The replay of the issuing request does not carry the secret: it is stored nowhere.
  const auto replay = harness.call(harness.operator_caller, "POST", issue_target, R"({"label":"batch jobs"})",
                                   {{"Idempotency-Key", "issue-1"}});
  EXPECT_TRUE(json_of(replay)["token"].is_null());
  EXPECT_EQ(count(harness, "SELECT count(*) FROM api.idempotency WHERE response_body LIKE '%" + token + "%'"), 0);
  EXPECT_EQ(count(harness, "SELECT count(*) FROM api.api_key WHERE secret_hash LIKE '%" + token.substr(21) + "%'"), 0);

  Caller bot{"member-a-bot", access::Role::member, harness.member_a, {}, token};
  const auto me = harness.call(bot, "GET", "/v1/me");
  ASSERT_EQ(me.status, 200u) << me.body;
  EXPECT_EQ(json_of(me)["credential"], "api_key");
  EXPECT_EQ(json_of(me)["member_id"], harness.member_a.to_string());
  EXPECT_EQ(harness.call(bot, "GET", "/v1/members/" + harness.member_b.to_string()).status, 404u);

  Caller wrong = bot;
  wrong.bearer = token.substr(0, 63) + (token.back() == 'A' ? "Q" : "A");
  EXPECT_EQ(harness.call(wrong, "GET", "/v1/me").status, 401u);

  EXPECT_EQ(harness.post(harness.operator_caller, "/v1/api-keys/" + key_id + "/revoke", "").status, 200u);
  const auto after = harness.call(bot, "GET", "/v1/me");
  EXPECT_EQ(after.status, 401u);
  EXPECT_EQ(reason_of(after), "invalid_credentials");
  EXPECT_EQ(reason_of(harness.post(harness.operator_caller, "/v1/api-keys/" + key_id + "/revoke", "")),
            "credential_already_revoked");
}

TEST_F(ApiBehaviour, RepeatedFailedAttemptsAreThrottledBeforeAnyHashRuns) {
  Caller forger{"forger", access::Role::member, std::nullopt, {}, "cch_0123456789abcdef_" + std::string(43, 'A')};
  int unauthorized = 0;
  int throttled = 0;
  for (int i = 0; i < 40; ++i) {
    const auto response = harness.call(forger, "GET", "/v1/me");
    unauthorized += response.status == 401 ? 1 : 0;
    throttled += response.status == 429 ? 1 : 0;
  }
  EXPECT_GE(unauthorized, 20);  // the burst
  EXPECT_GE(throttled, 10);
  EXPECT_EQ(unauthorized + throttled, 40);
}

// Behind a load balancer or a member's NAT every client shares one address: one client's failures
// must not lock the others out.
TEST_F(ApiBehaviour, AnAddressThrottledForFailuresStillAdmitsCredentialsThatVerify) {
  const auto principal = harness.post(harness.operator_caller, "/v1/principals",
                                      R"({"name":"member-b-bot","role":"member","member_id":")" +
                                          harness.member_b.to_string() + "\"}");
  ASSERT_EQ(principal.status, 201u) << principal.body;
  const auto issued = harness.post(harness.operator_caller,
                                   "/v1/principals/" + json_of(principal)["principal_id"].get<std::string>() +
                                       "/api-keys",
                                   R"({"label":"nat"})");
  ASSERT_EQ(issued.status, 201u) << issued.body;
  const std::string token = json_of(issued)["token"];
  const Caller bot{"member-b-bot", access::Role::member, harness.member_b, {}, token};
  const Caller fresh_certificate = harness.add_caller("member-a-desk", access::Role::member, harness.member_a);
  (void)harness.call(harness.member_a_caller, "GET", "/v1/me");  // a certificate the api has cached

  Caller forger{"forger", access::Role::member, std::nullopt, {}, "cch_0123456789abcdef_" + std::string(43, 'A')};
  for (int i = 0; i < 40; ++i) (void)harness.call(forger, "GET", "/v1/me");
  const auto throttled = harness.call(forger, "GET", "/v1/me");
  ASSERT_EQ(throttled.status, 429u) << "the address has failed too often";
  EXPECT_EQ(reason_of(throttled), "too_many_failed_attempts");
  EXPECT_TRUE(throttled.header("Retry-After").has_value());

  // From the same address: a cached certificate, a certificate not seen before, an API key whose
  // secret this process has never verified.
  EXPECT_EQ(harness.call(harness.member_a_caller, "GET", "/v1/me").status, 200u);
  EXPECT_EQ(harness.call(fresh_certificate, "GET", "/v1/me").status, 200u);
  const auto key_me = harness.call(bot, "GET", "/v1/me");
  EXPECT_EQ(key_me.status, 200u) << key_me.body;
  EXPECT_EQ(json_of(key_me)["credential"], "api_key");
  // A command too, and the failures go on being throttled.
  EXPECT_EQ(harness.post(harness.operator_caller, "/v1/members", R"({"code":"nat-member","legal_name":"N"})").status,
            201u);
  EXPECT_EQ(harness.call(forger, "GET", "/v1/me").status, 429u);

  // Wrong secrets for one real key from a throttled address: refused 429 without the slow hash
  // once the key's own budget is spent too; the key's secret, verified in memory, still works.
  const auto& hashes = harness.metrics.counter("cch_api_key_secret_hashes_total", "");
  const std::uint64_t hashes_before = hashes.value();
  Caller guesser{"guesser", access::Role::member, std::nullopt, {}, token.substr(0, 21) + std::string(43, 'A')};
  for (int i = 0; i < 60; ++i) EXPECT_EQ(harness.call(guesser, "GET", "/v1/me").status, 429u);
  EXPECT_LE(hashes.value() - hashes_before, 21u) << "at most the key's burst of guesses is hashed";
  EXPECT_GE(hashes.value() - hashes_before, 20u) << "the key's burst is hashed";
  EXPECT_EQ(harness.call(bot, "GET", "/v1/me").status, 200u);
}

TEST_F(ApiBehaviour, UnknownPathsAnswer401WithoutCredentialsAnd404With) {
  const auto anonymous = harness.anonymous("GET", "/v1/nothing-here");
  EXPECT_EQ(anonymous.status, 401u);
  EXPECT_EQ(reason_of(anonymous), "authentication_required");
  EXPECT_TRUE(anonymous.header("WWW-Authenticate").has_value());
  EXPECT_EQ(harness.anonymous("DELETE", "/v1/members").status, 401u);
  EXPECT_EQ(harness.call(harness.auditor_caller, "GET", "/v1/nothing-here").status, 404u);
  EXPECT_EQ(harness.call(harness.auditor_caller, "DELETE", "/v1/members").status, 405u);
  Caller stranger{"stranger", access::Role::operator_, std::nullopt, random_fingerprint(), {}};
  const auto unregistered = harness.call(stranger, "GET", "/v1/me");
  EXPECT_EQ(unregistered.status, 401u);
  EXPECT_EQ(reason_of(unregistered), "invalid_credentials");
}

TEST_F(ApiBehaviour, EveryRequestIsInTheAppendOnlyAuditLog) {
  const auto ok = harness.call(harness.auditor_caller, "GET", "/v1/ledger/trial-balance");
  const auto refused = harness.call(harness.member_a_caller, "GET", "/v1/ledger/trial-balance");
  const auto anonymous = harness.anonymous("GET", "/v1/me");
  harness.flush_audit();
  const auto rows = db::run_transaction(*harness.fixture.pool, db::Isolation::read_committed, {},
                                        [&](pqxx::transaction_base& tx) {
                                          return tx.exec(
                                              "SELECT coalesce(principal_name, '-'), role, credential, method, route, "
                                              "status, coalesce(reason, '-') FROM api.request_log ORDER BY request_log_id");
                                        });
  std::set<std::string> seen;
  for (const auto& row : rows) {
    seen.insert(row[0].as<std::string>() + " " + row[2].as<std::string>() + " " + row[3].as<std::string>() + " " +
                row[4].as<std::string>() + " " + row[5].as<std::string>() + " " + row[6].as<std::string>());
  }
  EXPECT_TRUE(seen.count("audit client_certificate GET /v1/ledger/trial-balance 200 -")) << ok.body;
  EXPECT_TRUE(seen.count("member-a-system client_certificate GET /v1/ledger/trial-balance 403 forbidden")) << refused.body;
  EXPECT_TRUE(seen.count("- none GET /v1/me 401 authentication_required")) << anonymous.body;

  // The auditor reads it through the API, newest first.
  const auto log = json_of(harness.call(harness.auditor_caller, "GET", "/v1/audit/requests?limit=2"));
  EXPECT_EQ(log["items"].size(), 2u);
  EXPECT_FALSE(log["next_cursor"].is_null());

  // Nobody rewrites it: the writer role has no such privilege, and a trigger refuses even a superuser.
  EXPECT_THROW(db::run_transaction(*harness.fixture.pool, db::Isolation::read_committed, {},
                                   [&](pqxx::transaction_base& tx) { tx.exec("DELETE FROM api.request_log"); }),
               std::exception);
  auto superuser = harness.fixture.superuser();
  pqxx::work tx(superuser);
  EXPECT_THROW(tx.exec("UPDATE api.request_log SET status = 200"), std::exception);
}

}  // namespace
}  // namespace cch::api::testing

namespace cch::api::testing {
namespace {

// A trade from product to positions, every step through the api as the roles would do it: the
// operator lists a product and publishes a reference price, the risk officer sets credit limits,
// member A submits, member B affirms; each member sees only what is its own.
TEST_F(ApiBehaviour, ATradeIsListedSubmittedAffirmedAndNovatedThroughTheApi) {
  const std::string a = harness.member_a.to_string();
  const std::string b = harness.member_b.to_string();
  for (const auto& member : {a, b}) {
    const auto deposit = harness.post(harness.operator_caller, "/v1/members/" + member + "/collateral-deposits",
                                      R"({"amount":"500000.00","currency":"USD","bank_reference":"wire-)" + member + "\"}");
    ASSERT_EQ(deposit.status, 201u) << deposit.body;
  }
  const auto product = harness.post(
      harness.operator_caller, "/v1/products",
      R"({"code":"h100-sxm-us-east","gpu_model":"H100","form_factor":"sxm","min_interconnect":"infiniband-400g",)"
      R"("region":"us-east","node_block_gpus":8,"settlement":"physical","tick_size":"0.0050",)"
      R"("listing_horizon_days":365,"position_limit_gpu_hours":5000000,"clearing_fee_per_gpu_hour":"0.0025"})");
  ASSERT_EQ(product.status, 201u) << product.body;
  const std::string product_id = json_of(product)["product_id"].get<std::string>();
  const auto month = registry::next_period(registry::next_period(
      registry::period_containing(registry::PeriodKind::month, BusinessDate::containing(UtcTimestamp::now()))));
  ASSERT_EQ(harness.post(harness.operator_caller, "/v1/market/settlement-prices",
                         settlement_prices_body(product_id, {month.label}, "2.1000", latest_business_date()))
                .status,
            201u);
  for (const auto& member : {a, b}) {
    ASSERT_EQ(harness.post(harness.operator_caller, "/v1/members/" + member + "/product-authorisations",
                           R"({"product_id":")" + product_id + "\"}")
                  .status,
              201u);
    ASSERT_EQ(harness.post(harness.risk_caller, "/v1/members/" + member + "/credit-limit",
                           R"({"credit_limit":"250000.00","currency":"USD"})")
                  .status,
              200u);
  }

  const std::string trade_body = R"({"product_id":")" + product_id + R"(","buyer_member_id":")" + a +
                                 R"(","seller_member_id":")" + b + R"(","delivery_start":")" +
                                 month.start().format() + R"(","delivery_end":")" + month.end().format() +
                                 R"(","gpus":256,"price":"2.1450","reference":"A-0001"})";
  const auto submitted = harness.post(harness.member_a_caller, "/v1/trades", trade_body);
  ASSERT_EQ(submitted.status, 201u) << submitted.body;
  const auto trade = json_of(submitted);
  const std::string trade_id = trade["trade_id"].get<std::string>();
  EXPECT_EQ(trade["state"], "pending_affirmation");
  EXPECT_EQ(trade["reference"], "A-0001");
  // The same reference under a new Idempotency-Key: the first trade again, nothing new.
  const auto again = harness.post(harness.member_a_caller, "/v1/trades", trade_body);
  ASSERT_EQ(again.status, 200u) << again.body;
  EXPECT_EQ(json_of(again)["trade_id"], trade_id);

  // B may not set what the clearinghouse decides.
  const auto forged = harness.post(harness.member_b_caller, "/v1/trades/" + trade_id + "/affirm",
                                   R"({"state":"cleared"})");
  EXPECT_EQ(forged.status, 422u);
  EXPECT_EQ(reason_of(forged), "field_not_settable");
  const auto own = harness.post(harness.member_a_caller, "/v1/trades/" + trade_id + "/affirm", "{}");
  EXPECT_EQ(own.status, 422u);
  EXPECT_EQ(reason_of(own), "own_submission");

  const auto affirmed = harness.post(harness.member_b_caller, "/v1/trades/" + trade_id + "/affirm", "{}");
  ASSERT_EQ(affirmed.status, 200u) << affirmed.body;
  EXPECT_EQ(json_of(affirmed)["state"], "cleared");
  EXPECT_TRUE(json_of(affirmed)["reference"].is_null()) << "B sees no reference of A's";

  const auto hours = month.hours() * 256;
  const auto a_positions = json_of(harness.call(harness.member_a_caller, "GET", "/v1/members/" + a + "/positions"));
  ASSERT_EQ(a_positions["items"].size(), 1u);
  EXPECT_EQ(a_positions["items"][0]["net_gpu_hours"], hours);
  const auto b_positions = json_of(harness.call(harness.member_b_caller, "GET", "/v1/members/" + b + "/positions"));
  EXPECT_EQ(b_positions["items"][0]["net_gpu_hours"], -hours);
  const auto limits = json_of(harness.call(harness.member_a_caller, "GET", "/v1/members/" + a + "/limits"));
  EXPECT_NE(limits["credit_used"], "0.00");

  // B is not A: A's positions and limits are missing for B, and the attempts are audited.
  EXPECT_EQ(harness.call(harness.member_b_caller, "GET", "/v1/members/" + a + "/positions").status, 404u);
  EXPECT_EQ(harness.call(harness.member_b_caller, "GET", "/v1/members/" + a + "/limits").status, 404u);
  // A third member is no party to the trade: it does not exist for it.
  const auto c_member = harness.post(harness.operator_caller, "/v1/members", R"({"code":"charlie","legal_name":"C"})");
  ASSERT_EQ(c_member.status, 201u);
  const Caller c =
      harness.add_caller("charlie-system", access::Role::member,
                         MemberId::parse(json_of(c_member)["member_id"].get<std::string>()).value());
  EXPECT_EQ(harness.call(c, "GET", "/v1/trades/" + trade_id).status, 404u);
  EXPECT_EQ(harness.post(c, "/v1/trades/" + trade_id + "/cancel", "{}").status, 404u);
  EXPECT_EQ(harness.call(c, "GET", "/v1/trades/" + trade_id + "/deliveries").status, 404u);
  EXPECT_EQ(harness.post(c, "/v1/trades/" + trade_id + "/deliveries",
                         R"({"delivery_day":"2027-01-13","delivered_gpu_hours":1})")
                .status,
            404u);
  // Its parties see its delivery days (none delivered yet, the window to come).
  const auto days = harness.call(harness.member_a_caller, "GET", "/v1/trades/" + trade_id + "/deliveries");
  ASSERT_EQ(days.status, 200u) << days.body;
  EXPECT_FALSE(json_of(days)["days"].empty());
  EXPECT_TRUE(json_of(days)["settlement"].is_null());
  EXPECT_EQ(json_of(harness.call(c, "GET", "/v1/trades"))["items"].size(), 0u);
  harness.flush_audit();
  EXPECT_GE(count(harness, "SELECT count(*) FROM api.request_log WHERE reason = 'object_access_denied'"), 4);

  // Collateral backing cleared trades cannot be withdrawn.
  const auto collateral = json_of(harness.call(harness.member_a_caller, "GET", "/v1/members/" + a + "/collateral"));
  EXPECT_EQ(collateral["committed_to_trades"], limits["credit_used"]);
  const auto too_much = harness.post(harness.member_a_caller, "/v1/members/" + a + "/collateral-withdrawals",
                                     R"({"amount":"450000.00","currency":"USD"})");
  EXPECT_EQ(too_much.status, 422u) << too_much.body;
  EXPECT_EQ(reason_of(too_much), "insufficient_collateral");
  EXPECT_EQ(harness.post(harness.member_a_caller, "/v1/members/" + a + "/collateral-withdrawals",
                         R"({"amount":")" + collateral["available"].get<std::string>() + R"(","currency":"USD"})")
                .status,
            201u);

  // Staff see both sides' references and the history.
  const auto staff_view = json_of(harness.call(harness.risk_caller, "GET", "/v1/trades/" + trade_id));
  EXPECT_EQ(staff_view["submitter_reference"], "A-0001");
  ASSERT_EQ(staff_view["events"].size(), 2u);
  EXPECT_EQ(staff_view["events"][1]["action"], "affirm");

  // A venue both members authorised registers batches; the registry counts how each was decided:
  // every trade passing, written before the members' locks; one refused, the members locked first.
  const std::string venue =
      std::to_string(count(harness, "SELECT principal_id FROM api.principal WHERE name = 'auction-house'"));
  for (const auto& [member, caller] : {std::pair{a, &harness.member_a_caller}, std::pair{b, &harness.member_b_caller}}) {
    ASSERT_EQ(harness.post(harness.operator_caller, "/v1/members/" + member + "/collateral-deposits",
                           R"({"amount":"500000.00","currency":"USD","bank_reference":"wire-more-)" + member + "\"}")
                  .status,
              201u);
    ASSERT_EQ(harness.post(*caller, "/v1/members/" + member + "/venue-authorisations",
                           R"({"venue_principal_id":")" + venue + "\"}")
                  .status,
              201u);
  }
  const auto venue_trade = [&](const std::string& price, const std::string& reference) {
    return R"({"product_id":")" + product_id + R"(","buyer_member_id":")" + a + R"(","seller_member_id":")" + b +
           R"(","delivery_start":")" + month.start().format() + R"(","delivery_end":")" + month.end().format() +
           R"(","gpus":8,"price":")" + price + R"(","reference":")" + reference + R"("})";
  };
  const auto counted = [&](const std::string& path) {
    const std::string name = "cch_registry_venue_batches_" + path + "_total ";
    const std::string text = harness.metrics.render();
    const auto at = text.find("\n" + name);
    if (at == std::string::npos) return std::string("absent");
    const auto value = at + 1 + name.size();
    return text.substr(value, text.find('\n', value) - value);
  };
  const auto clean = harness.post(harness.venue_caller, "/v1/venue-batches",
                                  R"({"trades":[)" + venue_trade("2.1400", "V-1") + "," + venue_trade("2.1500", "V-2") + "]}");
  ASSERT_EQ(clean.status, 200u) << clean.body;
  EXPECT_EQ(json_of(clean)["cleared"], 2);
  EXPECT_EQ(counted("written_first"), "1");
  EXPECT_EQ(counted("checked_first"), "0");
  const auto mixed = harness.post(harness.venue_caller, "/v1/venue-batches",
                                  R"({"trades":[)" + venue_trade("2.1400", "V-3") + "," + venue_trade("9.0000", "V-4") + "]}");
  ASSERT_EQ(mixed.status, 200u) << mixed.body;
  EXPECT_EQ(json_of(mixed)["cleared"], 1);
  EXPECT_EQ(json_of(mixed)["results"][1]["reason"], "price_outside_band");
  EXPECT_EQ(counted("written_first"), "1");
  EXPECT_EQ(counted("checked_first"), "1");
}


// The books as the ledger holds them, in one line: journals, postings, withdrawals and every
// balance that is not zero (a refused deposit may leave the member's collateral account opened,
// empty, as any refusal after the look-up of the account does).
std::string books_of(ApiHarness& harness) {
  return db::run_transaction(*harness.fixture.pool, db::Isolation::read_committed, {}, [&](pqxx::transaction_base& tx) {
    const auto row = tx.exec(
        "SELECT (SELECT count(*) FROM ledger.journal), (SELECT count(*) FROM ledger.posting), "
        "(SELECT count(*) FROM cch.collateral_withdrawal), "
        "(SELECT coalesce(string_agg(account_id || ':' || balance_minor, ',' ORDER BY account_id), '') "
        " FROM ledger.account_balance WHERE balance_minor <> 0)")[0];
    return row[0].as<std::string>() + "/" + row[1].as<std::string>() + "/" + row[2].as<std::string>() + "/" +
           row[3].as<std::string>();
  });
}

TEST_F(ApiBehaviour, AnAmountBeyondTheLargestCollateralMovementIsRefusedAndChangesNothing) {
  deposit(harness.member_a, "500.00", "wire-before");
  const std::string before = books_of(harness);
  const std::string deposits = "/v1/members/" + harness.member_a.to_string() + "/collateral-deposits";
  int reference = 0;
  // INT64_MAX cents, beyond int64, the tester's accepted 9 * 10^16 USD, and one cent over the
  // default settlement.collateral_movement_max of 1,000,000,000.00 USD.
  for (const std::string amount : {"92233720368547758.07", "92233720368547758.08", "90000000000000000.00",
                                   "1000000000.01"}) {
    const auto response = harness.post(harness.operator_caller, deposits,
                                       R"({"amount":")" + amount + R"(","currency":"USD","bank_reference":"huge-)" +
                                           std::to_string(++reference) + "\"}");
    EXPECT_EQ(response.status, 422u) << amount << ": " << response.body;
    EXPECT_EQ(reason_of(response), "amount_too_large") << amount;
  }
  const auto withdrawal = harness.post(harness.member_a_caller,
                                       "/v1/members/" + harness.member_a.to_string() + "/collateral-withdrawals",
                                       R"({"amount":"92233720368547758.07","currency":"USD"})");
  EXPECT_EQ(withdrawal.status, 422u) << withdrawal.body;
  EXPECT_EQ(reason_of(withdrawal), "amount_too_large");
  EXPECT_EQ(books_of(harness), before);
  // The maximum itself is an ordinary deposit.
  deposit(harness.member_a, "1000000000.00", "wire-at-the-maximum");
}

TEST(ApiLimits, DepositsThatWouldTakeTheHouseBankBeyondTheLargestBalanceAreRefusedNot500) {
  // The largest single movement raised to the largest amount (10^13 USD), so that two deposits
  // reach the settlement bank's bound.
  ApiHarness harness(ApiHarness::test_options(), std::chrono::milliseconds(10'000), [](std::string_view name) {
    return name == "CCH_SETTLEMENT_COLLATERAL_MOVEMENT_MAX" ? std::optional<std::string>("10000000000000.00")
                                                           : std::nullopt;
  });
  const auto deposit = [&](MemberId member, const std::string& amount, const std::string& reference) {
    return harness.post(harness.operator_caller, "/v1/members/" + member.to_string() + "/collateral-deposits",
                        R"({"amount":")" + amount + R"(","currency":"USD","bank_reference":")" + reference + "\"}");
  };
  const auto first = deposit(harness.member_a, "10000000000000.00", "big-1");
  ASSERT_EQ(first.status, 201u) << first.body;
  const std::string before = books_of(harness);
  for (const auto& [amount, reference] : {std::pair{"10000000000000.00", "big-2"}, std::pair{"0.01", "big-3"},
                                          std::pair{"5000000000000.00", "big-4"}}) {
    const auto refused = deposit(harness.member_b, amount, reference);
    EXPECT_EQ(refused.status, 422u) << amount << ": " << refused.body;
    EXPECT_EQ(reason_of(refused), "balance_limit_exceeded") << amount;
  }
  EXPECT_EQ(books_of(harness), before);
  const auto house = count(harness, "SELECT b.balance_minor FROM ledger.account a JOIN ledger.account_balance b "
                                    "USING (account_id) WHERE a.kind = 'settlement_bank'");
  EXPECT_EQ(house, 1'000'000'000'000'000);

  // Money paid out makes room again.
  const auto requested = harness.post(harness.member_a_caller,
                                      "/v1/members/" + harness.member_a.to_string() + "/collateral-withdrawals",
                                      R"({"amount":"1.00","currency":"USD"})");
  ASSERT_EQ(requested.status, 201u) << requested.body;
  const auto paid = harness.post(harness.operator_caller,
                                 "/v1/collateral-withdrawals/" + json_of(requested)["withdrawal_id"].get<std::string>() +
                                     "/approve",
                                 "{}");
  ASSERT_EQ(paid.status, 200u) << paid.body;
  EXPECT_EQ(deposit(harness.member_b, "1.00", "big-5").status, 201u);
}

TEST_F(ApiBehaviour, TextWithAControlCharacterIsRefusedAsInvalidTextAndNothingIsStored) {
  const auto refused_as_invalid_text = [](const http::Response& response, const std::string& field) {
    EXPECT_EQ(response.status, 422u) << response.body;
    EXPECT_EQ(reason_of(response), "invalid_text") << response.body;
    EXPECT_EQ(nlohmann::json::parse(response.body, nullptr, false).value("field", ""), field) << response.body;
  };
  // A member's legal name: cut at the NUL it would have been stored as "Evil Corp".
  refused_as_invalid_text(harness.post(harness.operator_caller, "/v1/members",
                                       R"json({"code":"evil-corp","legal_name":"Evil Corp\u0000 (sanctioned)"})json"),
                          "legal_name");
  refused_as_invalid_text(harness.post(harness.operator_caller, "/v1/members",
                                       R"json({"code":"evil-corp","legal_name":"Evil Corp\n(sanctioned)"})json"),
                          "legal_name");
  EXPECT_EQ(count(harness, "SELECT count(*) FROM cch.member WHERE code = 'evil-corp'"), 0);

  // A deposit's bank reference: it once answered 500 (a malformed array literal).
  const std::string before = books_of(harness);
  refused_as_invalid_text(harness.post(harness.operator_caller,
                                       "/v1/members/" + harness.member_a.to_string() + "/collateral-deposits",
                                       R"({"amount":"10.00","currency":"USD","bank_reference":"X\u0000Y"})"),
                          "bank_reference");
  EXPECT_EQ(books_of(harness), before);

  // A rejection's note: the withdrawal stays requested, with no note.
  deposit(harness.member_a, "100.00", "wire-for-notes");
  const auto requested = harness.post(harness.member_a_caller,
                                      "/v1/members/" + harness.member_a.to_string() + "/collateral-withdrawals",
                                      R"({"amount":"10.00","currency":"USD"})");
  ASSERT_EQ(requested.status, 201u) << requested.body;
  const std::string withdrawal = "/v1/collateral-withdrawals/" + json_of(requested)["withdrawal_id"].get<std::string>();
  refused_as_invalid_text(harness.post(harness.operator_caller, withdrawal + "/reject",
                                       R"({"note":"duplicate\u0000 of wire 7"})"),
                          "note");
  const auto unchanged = json_of(harness.call(harness.operator_caller, "GET", withdrawal));
  EXPECT_EQ(unchanged["status"], "requested");
  EXPECT_TRUE(unchanged["decision_note"].is_null());

  // A trade's cancel reason: the trade stays pending with its one event.
  const std::string a = harness.member_a.to_string();
  const auto product = harness.post(
      harness.operator_caller, "/v1/products",
      R"({"code":"h100-text","gpu_model":"H100","form_factor":"sxm","min_interconnect":"infiniband-400g",)"
      R"("region":"us-east","node_block_gpus":8,"settlement":"physical","tick_size":"0.0050",)"
      R"("listing_horizon_days":365,"position_limit_gpu_hours":5000000,"clearing_fee_per_gpu_hour":"0.0025"})");
  ASSERT_EQ(product.status, 201u) << product.body;
  const auto month = registry::next_period(registry::next_period(
      registry::period_containing(registry::PeriodKind::month, BusinessDate::containing(UtcTimestamp::now()))));
  const auto submitted = harness.post(
      harness.member_a_caller, "/v1/trades",
      R"({"product_id":")" + json_of(product)["product_id"].get<std::string>() + R"(","buyer_member_id":")" + a +
          R"(","seller_member_id":")" + harness.member_b.to_string() + R"(","delivery_start":")" +
          month.start().format() + R"(","delivery_end":")" + month.end().format() +
          R"(","gpus":8,"price":"2.1450","reference":"T-1"})");
  ASSERT_EQ(submitted.status, 201u) << submitted.body;
  const std::string trade = "/v1/trades/" + json_of(submitted)["trade_id"].get<std::string>();
  refused_as_invalid_text(harness.post(harness.member_a_caller, trade + "/cancel", R"({"reason":"fat\u0000 finger"})"),
                          "reason");
  const auto pending = json_of(harness.call(harness.member_a_caller, "GET", trade));
  EXPECT_EQ(pending["state"], "pending_affirmation");
  EXPECT_EQ(pending["events"].size(), 1u);
  // Without the NUL the same reason is stored exactly as sent.
  ASSERT_EQ(harness.post(harness.member_a_caller, trade + "/cancel", R"json({"reason":"fat finger (sanctioned)"})json").status,
            200u);
  const auto cancelled = json_of(harness.call(harness.member_a_caller, "GET", trade));
  ASSERT_EQ(cancelled["events"].size(), 2u);
  EXPECT_EQ(cancelled["events"][1]["reason"], "fat finger (sanctioned)");

  // Query and path parameters follow the same rule.
  const auto query = harness.call(harness.auditor_caller, "GET", "/v1/audit/requests?principal=ops%00x");
  EXPECT_EQ(query.status, 400u) << query.body;
  EXPECT_EQ(reason_of(query), "invalid_text");
  EXPECT_EQ(harness.call(harness.operator_caller, "GET", "/v1/members/1%00").status, 404u);
}

// The risk service marks every open leg against each curve set built, without being asked (its
// outbox consumer of curve_set.built); asking afterwards answers the run it made.
TEST_F(ApiBehaviour, ACurveSetBuiltIsMarkedWithoutBeingAsked) {
  const auto product = harness.post(
      harness.operator_caller, "/v1/products",
      R"({"code":"h100-marked","gpu_model":"H100","form_factor":"sxm","min_interconnect":"infiniband-400g",)"
      R"("region":"us-east","node_block_gpus":8,"settlement":"physical","tick_size":"0.0050",)"
      R"("listing_horizon_days":365,"position_limit_gpu_hours":5000000,"clearing_fee_per_gpu_hour":"0.0025"})");
  ASSERT_EQ(product.status, 201u) << product.body;
  const std::string product_id = json_of(product)["product_id"].get<std::string>();
  const BusinessDate date = latest_business_date();
  const auto month = registry::next_period(registry::next_period(
      registry::period_containing(registry::PeriodKind::month, BusinessDate::containing(UtcTimestamp::now()))));
  ASSERT_EQ(harness.post(harness.operator_caller, "/v1/market/settlement-prices",
                         settlement_prices_body(product_id, {month.label}, "2.1000", date))
                .status,
            201u);
  const auto ois = harness.post(
      harness.operator_caller, "/v1/market/ois-quotes",
      R"({"business_date":")" + latest_business_date("united_states_sofr").format() +
          R"(","quotes":[{"tenor":"1M","rate":"0.04300000"},{"tenor":"3M","rate":"0.04250000"},)"
          R"({"tenor":"6M","rate":"0.04200000"},{"tenor":"1Y","rate":"0.04100000"},)"
          R"({"tenor":"2Y","rate":"0.03900000"},{"tenor":"3Y","rate":"0.03800000"}],)"
          R"("source":"FRB NY","publisher":"ops","published_at":"2026-01-05T17:00:00Z"})");
  ASSERT_EQ(ois.status, 201u) << ois.body;
  const auto built = harness.post(harness.risk_caller, "/v1/curve-sets",
                                  R"({"business_date":")" + date.format() + R"("})");
  ASSERT_EQ(built.status, 201u) << built.body;
  const std::string curve_set = json_of(built)["curve_set_id"].get<std::string>();
  http::Response run;
  for (int attempt = 0; attempt < 100; ++attempt) {
    run = harness.call(harness.risk_caller, "GET", "/v1/curve-sets/" + curve_set + "/mark-run");
    if (run.status == 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(run.status, 200u) << "not marked within 10 s: " << run.body;
  EXPECT_EQ(json_of(run)["total_mark"], "0.00");
  const auto asked = harness.post(harness.risk_caller, "/v1/curve-sets/" + curve_set + "/mark-run", "");
  EXPECT_EQ(asked.status, 200u) << asked.body;
  EXPECT_EQ(json_of(asked)["created"], false);
}

// Each bad-market-data refusal through the api: its reason, and nothing stored.
TEST_F(ApiBehaviour, BadMarketDataIsRefusedWithItsReasonAndNothingIsStored) {
  const auto product = harness.post(
      harness.operator_caller, "/v1/products",
      R"({"code":"h100-refusals","gpu_model":"H100","form_factor":"sxm","min_interconnect":"infiniband-400g",)"
      R"("region":"us-east","node_block_gpus":8,"settlement":"physical","tick_size":"0.0050",)"
      R"("listing_horizon_days":365,"position_limit_gpu_hours":5000000,"clearing_fee_per_gpu_hour":"0.0025"})");
  ASSERT_EQ(product.status, 201u) << product.body;
  const std::string id = json_of(product)["product_id"].get<std::string>();
  const BusinessDate date = latest_business_date();
  const BusinessDate sofr = latest_business_date("united_states_sofr");
  const auto month = registry::next_period(
      registry::period_containing(registry::PeriodKind::month, BusinessDate::containing(UtcTimestamp::now())));
  const std::string provenance = R"("source":"s","publisher":"p","published_at":"2026-01-05T17:00:00Z")";
  const auto prices = [&](const std::string& business_date, const std::string& items) {
    return R"({"business_date":")" + business_date + R"(","product_id":")" + id + R"(","prices":[)" + items + "]," +
           provenance + "}";
  };
  const auto price = [](const std::string& period, const std::string& value) {
    return R"({"period":")" + period + R"(","price":")" + value + R"("})";
  };
  const std::string full_curve =
      R"({"tenor":"1M","rate":"0.043"},{"tenor":"3M","rate":"0.0425"},{"tenor":"6M","rate":"0.042"},)"
      R"({"tenor":"1Y","rate":"0.041"},{"tenor":"2Y","rate":"0.039"})";
  BusinessDate saturday = date;
  while (saturday.weekday() != Weekday::saturday) saturday = saturday.add_days(-1).value();
  struct Case {
    std::string name;
    std::string target;
    std::string body;
    unsigned status;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"a missing tenor (none given)", "/v1/market/ois-quotes",
       R"({"business_date":")" + sofr.format() + R"(","quotes":[{"rate":"0.043"}],)" + provenance + "}", 422,
       "missing_tenor"},
      {"a missing tenor (the curve needs 3Y)", "/v1/market/ois-quotes",
       R"({"business_date":")" + sofr.format() + R"(","quotes":[)" + full_curve + "]," + provenance + "}", 422,
       "missing_tenor"},
      {"a zero price", "/v1/market/settlement-prices", prices(date.format(), price(month.label, "0.0000")), 422,
       "non_positive_price"},
      {"a negative price", "/v1/market/settlement-prices", prices(date.format(), price(month.label, "-2.1000")), 422,
       "non_positive_price"},
      {"not a business date", "/v1/market/settlement-prices",
       prices(saturday.format(), price(month.label, "2.1000")), 422, "not_a_business_date"},
      {"a period that does not exist", "/v1/market/settlement-prices",
       prices(date.format(), price("2027-13", "2.1000")), 422, "unknown_period"},
      {"a price off the tick", "/v1/market/settlement-prices", prices(date.format(), price(month.label, "2.1010")),
       422, "price_off_tick"},
      {"an unknown product", "/v1/market/settlement-prices",
       R"({"business_date":")" + date.format() + R"(","product_id":"999999","prices":[)" +
           price(month.label, "2.1000") + "]," + provenance + "}",
       404, "unknown_product"},
      {"an unknown index", "/v1/market/index-fixings",
       R"({"business_date":")" + date.format() + R"(","index":"NO-SUCH-INDEX","value":"2.0000",)" + provenance + "}",
       422, "unknown_index"},
  };
  for (const auto& test : cases) {
    SCOPED_TRACE(test.name);
    const auto response = harness.post(harness.operator_caller, test.target, test.body);
    EXPECT_EQ(response.status, test.status) << response.body;
    EXPECT_EQ(reason_of(response), test.reason) << response.body;
  }
  EXPECT_EQ(count(harness, "SELECT count(*) FROM market.snapshot"), 0);
  EXPECT_EQ(count(harness, "SELECT (SELECT count(*) FROM market.ois_quote) + (SELECT count(*) FROM "
                           "market.settlement_price) + (SELECT count(*) FROM market.index_fixing)"),
            0);
}

}  // namespace
}  // namespace cch::api::testing


