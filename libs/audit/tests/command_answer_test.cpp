// A command's answer recorded with its effect: the reservation answered and the audit row written
// in the command's own transaction, or neither and no effect.
#include "cch/audit/command_answer.hpp"

#include "cch/db/transaction.hpp"
#include "ledger_fixture.hpp"

#include <pqxx/nontransaction>
#include <pqxx/transaction>

#include <gtest/gtest.h>

namespace cch::audit {
namespace {

access::Principal add_operator(const ledger::testing::LedgerFixture& fixture) {
  auto connection = fixture.superuser();
  pqxx::work tx(connection);
  const auto id = tx.exec1("INSERT INTO api.principal (name, role, created_by) VALUES ('ops', 'operator', 'test') "
                           "RETURNING principal_id")[0]
                      .as<std::int64_t>();
  tx.commit();
  return access::Principal{access::PrincipalId(id), "ops", access::Role::operator_, std::nullopt,
                           access::Credential::client_certificate};
}

struct Scene {
  ledger::testing::LedgerFixture fixture;
  access::Principal principal = add_operator(fixture);

  KeyRequest key(const std::string& idempotency_key, const std::string& request_id) const {
    return KeyRequest{.principal_id = principal.id.value(),
                      .idempotency_key = idempotency_key,
                      .method = "POST",
                      .path = "/v1/things",
                      .request_sha256 = std::string(64, 'a'),
                      .request_id = request_id};
  }

  ForwardedCommand command(const std::string& idempotency_key, const std::string& request_id) const {
    return ForwardedCommand{.principal = principal,
                            .request_id = request_id,
                            .idempotency_key = idempotency_key,
                            .method = "POST",
                            .route = "/v1/things",
                            .path = "/v1/things",
                            .received_at = UtcTimestamp::now(),
                            .remote_address = "192.0.2.7"};
  }

  Reservation reserve(const KeyRequest& request) {
    auto lease = fixture.pool->acquire();
    pqxx::nontransaction tx(*lease);
    return reserve_key(tx, request, std::chrono::milliseconds(60'000));
  }

  std::int64_t count(const std::string& sql) {
    auto connection = fixture.superuser();
    pqxx::nontransaction tx(connection);
    return tx.exec1(sql)[0].as<std::int64_t>();
  }
};

http::Response created(std::string body) {
  http::Response response = http::json_response(201, nlohmann::json::parse(body));
  response.headers.emplace_back("Location", "/v1/things/1");
  return response;
}

TEST(CommandAnswer, AnAnswerRecordedWithItsEffectIsWhatARetryUnderTheKeyGets) {
  Scene scene;
  ASSERT_EQ(scene.reserve(scene.key("k-1", "req-1")).state, Reservation::State::reserved);
  const auto command = scene.command("k-1", "req-1");
  const auto answer =
      answer_in_transaction(*scene.fixture.pool, db::RetryPolicy{}, command, [&](pqxx::transaction_base&) {
        return created(R"({"thing":1})");
      });
  EXPECT_EQ(answer.status, 201u);
  EXPECT_EQ(answer.header(kAnswerRecordedHeader), "true");

  // The api died before it could answer: a retry finds the answer, exactly as first given.
  const auto retry = scene.reserve(scene.key("k-1", "req-2"));
  ASSERT_EQ(retry.state, Reservation::State::answered);
  EXPECT_EQ(retry.answer->status, 201u);
  EXPECT_EQ(nlohmann::json::parse(retry.answer->body), nlohmann::json::parse(R"({"thing":1})"));
  EXPECT_EQ(retry.answer->header("Location"), "/v1/things/1");
  EXPECT_EQ(retry.answer->header("Idempotent-Replayed"), "true");
  EXPECT_FALSE(retry.answer->header(kAnswerRecordedHeader).has_value());
  // And the command has its audit row.
  EXPECT_EQ(scene.count("SELECT count(*) FROM api.request_log WHERE request_id = 'req-1' AND status = 201 AND "
                        "route = '/v1/things' AND principal_name = 'ops' AND remote_address = '192.0.2.7'"),
            1);
}

TEST(CommandAnswer, ACommandWhoseReservationIsNoLongerItsOwnHasNoEffect) {
  Scene scene;
  ASSERT_EQ(scene.reserve(scene.key("k-2", "req-1")).state, Reservation::State::reserved);
  {  // a retry took the stale reservation over
    auto lease = scene.fixture.pool->acquire();
    pqxx::nontransaction tx(*lease);
    ASSERT_TRUE(take_over(tx, scene.key("k-2", "req-2"), "req-1"));
  }
  const auto answer = answer_in_transaction(
      *scene.fixture.pool, db::RetryPolicy{}, scene.command("k-2", "req-1"), [&](pqxx::transaction_base& tx) {
        tx.exec("INSERT INTO api.principal (name, role, created_by) VALUES ('effect', 'auditor', 'test')");
        return created(R"({"thing":2})");
      });
  EXPECT_EQ(answer.status, 409u);
  EXPECT_EQ(problem_reason(answer), "idempotency_key_in_progress");
  EXPECT_EQ(scene.count("SELECT count(*) FROM api.principal WHERE name = 'effect'"), 0) << "the effect was undone";
  EXPECT_EQ(scene.count("SELECT count(*) FROM api.request_log"), 0);
  EXPECT_EQ(scene.count("SELECT count(*) FROM api.idempotency WHERE response_status IS NOT NULL"), 0);

  // A released reservation likewise (the api gave up on the forward and told the client 503).
  ASSERT_EQ(scene.reserve(scene.key("k-3", "req-3")).state, Reservation::State::reserved);
  {
    auto lease = scene.fixture.pool->acquire();
    pqxx::nontransaction tx(*lease);
    EXPECT_FALSE(release_key(tx, scene.key("k-3", "req-3")).has_value());
  }
  EXPECT_THROW(db::run_transaction(*scene.fixture.pool, db::Isolation::read_committed, db::RetryPolicy{},
                                   [&](pqxx::transaction_base& tx) {
                                     const auto command = scene.command("k-3", "req-3");
                                     const auto response = created(R"({"thing":3})");
                                     const CommandAnswer recorded{&command, &response};
                                     record_answers(tx, std::span<const CommandAnswer>(&recorded, 1));
                                     return 0;
                                   }),
               ReservationLost);
}

TEST(CommandAnswer, AfterA5xxTheApiLearnsTheAnswerTheServiceRecordedBeforeItFailed) {
  Scene scene;
  ASSERT_EQ(scene.reserve(scene.key("k-4", "req-4")).state, Reservation::State::reserved);
  (void)answer_in_transaction(*scene.fixture.pool, db::RetryPolicy{}, scene.command("k-4", "req-4"),
                              [&](pqxx::transaction_base&) { return created(R"({"thing":4})"); });
  auto lease = scene.fixture.pool->acquire();
  pqxx::nontransaction tx(*lease);
  const auto first = release_key(tx, scene.key("k-4", "req-4"));
  ASSERT_TRUE(first.has_value()) << "an answered reservation is not released";
  EXPECT_EQ(first->status, 201u);
  EXPECT_FALSE(first->header("Idempotent-Replayed").has_value()) << "the first answer, not a replay";
  EXPECT_EQ(scene.count("SELECT count(*) FROM api.idempotency WHERE response_status = 201"), 1);
}

TEST(CommandAnswer, ARefusalIsRecordedToo) {
  Scene scene;
  ASSERT_EQ(scene.reserve(scene.key("k-5", "req-5")).state, Reservation::State::reserved);
  const auto answer = answer_in_transaction(
      *scene.fixture.pool, db::RetryPolicy{}, scene.command("k-5", "req-5"), [&](pqxx::transaction_base&) {
        return http::problem(409, "trade_not_pending", "Conflict", "the trade is not pending");
      });
  EXPECT_EQ(answer.status, 409u);
  EXPECT_EQ(scene.count("SELECT count(*) FROM api.request_log WHERE request_id = 'req-5' AND status = 409 "
                        "AND reason = 'trade_not_pending'"),
            1);
  // A 5xx is never recorded: the api releases the key and a retry runs afresh.
  ASSERT_EQ(scene.reserve(scene.key("k-6", "req-6")).state, Reservation::State::reserved);
  const auto failed = answer_in_transaction(*scene.fixture.pool, db::RetryPolicy{}, scene.command("k-6", "req-6"),
                                            [&](pqxx::transaction_base&) {
                                              return http::problem(503, "busy", "Busy", "try again");
                                            });
  EXPECT_FALSE(failed.header(kAnswerRecordedHeader).has_value());
  EXPECT_EQ(scene.count("SELECT count(*) FROM api.request_log WHERE request_id = 'req-6'"), 0);
}

}  // namespace
}  // namespace cch::audit
