// A command whose answer was lost after its owning service carried it out (the api died
// mid-forward, or the connection to the service broke) is answered, when retried under its
// Idempotency-Key, exactly as the first answer would have been; and every answered command has its
// row in the request audit log.
#include "api_harness.hpp"

#include "cch/db/transaction.hpp"
#include "cch/registry/products.hpp"

#include <gtest/gtest.h>
#include <pqxx/transaction>

namespace cch::api::testing {
namespace {

using AnswerLoss = ApiHarness::AnswerLoss;

nlohmann::json json_of(const http::Response& response) { return nlohmann::json::parse(response.body); }

ApiOptions quick_takeover() {
  ApiOptions options = ApiHarness::test_options();
  // Without the answer recorded with the effect, a retry would take the dead request's reservation
  // over at once and run the command again.
  options.reservation_stale_after = std::chrono::milliseconds(0);
  // The buffered part of the audit log (reads, refusals before a command runs) is not written
  // within a test: a command's row must not depend on it.
  options.audit_flush_interval = std::chrono::milliseconds(60'000);
  return options;
}

class CommandRetry : public ::testing::TestWithParam<AnswerLoss> {
 protected:
  CommandRetry() : harness(quick_takeover()) {}

  // POSTs with a fixed key: once with the answer lost, then again with the same key.
  struct Attempts {
    http::Response first;
    http::Response retry;
  };
  Attempts lost_then_retried(const Caller& caller, const std::string& target, const std::string& body) {
    const std::vector<http::NameValue> key{{"Idempotency-Key", harness.unique("retry-key")}};
    harness.lose_answers = GetParam();
    Attempts attempts{harness.call(caller, "POST", target, body, key), {}};
    harness.lose_answers = AnswerLoss::none;
    attempts.retry = harness.call(caller, "POST", target, body, key);
    if (GetParam() == AnswerLoss::connection_broke) {
      // The api learnt the recorded answer at once: the client never saw the lost connection.
      EXPECT_EQ(attempts.first.status, attempts.retry.status) << target;
      EXPECT_EQ(attempts.first.body, attempts.retry.body) << target;
    }
    EXPECT_EQ(attempts.retry.header("Idempotent-Replayed"), "true") << target << ": " << attempts.retry.body;
    return attempts;
  }

  std::int64_t count(const std::string& sql) {
    return db::run_transaction(*harness.fixture.pool, db::Isolation::read_committed, {},
                               [&](pqxx::transaction_base& tx) { return tx.exec1(sql)[0].as<std::int64_t>(); });
  }

  void post_ok(const Caller& caller, const std::string& target, const std::string& body) {
    const auto response = harness.post(caller, target, body);
    ASSERT_LT(response.status, 300u) << target << ": " << response.body;
  }

  // Two members with collateral and credit, one product they may clear, a venue they authorised.
  void set_up_trading() {
    a = harness.member_a.to_string();
    b = harness.member_b.to_string();
    const auto product = harness.post(
        harness.operator_caller, "/v1/products",
        R"({"code":"h100-retry","gpu_model":"H100","form_factor":"sxm","min_interconnect":"infiniband-400g",)"
        R"("region":"us-east","node_block_gpus":8,"settlement":"physical","tick_size":"0.0050",)"
        R"("listing_horizon_days":365,"position_limit_gpu_hours":50000000,"clearing_fee_per_gpu_hour":"0.0025"})");
    ASSERT_EQ(product.status, 201u) << product.body;
    product_id = json_of(product)["product_id"].get<std::string>();
    post_ok(harness.operator_caller, "/v1/market/settlement-prices",
            settlement_prices_body(product_id, {month.label}, "2.1000", latest_business_date()));
    const auto venue = harness.call(harness.venue_caller, "GET", "/v1/me");
    ASSERT_EQ(venue.status, 200u) << venue.body;
    const std::string venue_id = json_of(venue)["principal_id"].get<std::string>();
    for (const auto& [member, caller] : {std::pair{a, harness.member_a_caller}, std::pair{b, harness.member_b_caller}}) {
      post_ok(harness.operator_caller, "/v1/members/" + member + "/collateral-deposits",
              R"({"amount":"5000000.00","currency":"USD","bank_reference":"setup-)" + member + "\"}");
      post_ok(harness.operator_caller, "/v1/members/" + member + "/product-authorisations",
              R"({"product_id":")" + product_id + "\"}");
      post_ok(harness.risk_caller, "/v1/members/" + member + "/credit-limit",
              R"({"credit_limit":"2500000.00","currency":"USD"})");
      post_ok(caller, "/v1/members/" + member + "/venue-authorisations", R"({"venue_principal_id":")" + venue_id + "\"}");
    }
  }

  std::string trade_body(const std::string& reference) const {
    return R"({"product_id":")" + product_id + R"(","buyer_member_id":")" + a + R"(","seller_member_id":")" + b +
           R"(","delivery_start":")" + month.start().format() + R"(","delivery_end":")" + month.end().format() +
           R"(","gpus":8,"price":"2.1000","reference":")" + reference + "\"}";
  }

  std::string submitted_trade(const std::string& reference) {
    const auto submitted = harness.post(harness.member_a_caller, "/v1/trades", trade_body(reference));
    EXPECT_EQ(submitted.status, 201u) << submitted.body;
    return json_of(submitted)["trade_id"].get<std::string>();
  }

  ApiHarness harness;
  std::string a, b, product_id;
  // Two months ahead: inside every product's listing horizon, outside today's.
  registry::DeliveryPeriod month = registry::next_period(registry::next_period(
      registry::period_containing(registry::PeriodKind::month, BusinessDate::containing(UtcTimestamp::now()))));
};

TEST_P(CommandRetry, ATradeCommandRetriedAfterItsAnswerWasLostGetsItsFirstAnswer) {
  set_up_trading();

  const auto submitted = lost_then_retried(harness.member_a_caller, "/v1/trades", trade_body("LOST-SUBMIT"));
  EXPECT_EQ(submitted.retry.status, 201u) << "the first answer: created, " << submitted.retry.body;
  const std::string trade_id = json_of(submitted.retry)["trade_id"].get<std::string>();
  EXPECT_EQ(count("SELECT count(*) FROM cch.trade WHERE submitter_reference = 'LOST-SUBMIT'"), 1);

  const auto affirmed = lost_then_retried(harness.member_b_caller, "/v1/trades/" + trade_id + "/affirm", "{}");
  ASSERT_EQ(affirmed.retry.status, 200u) << affirmed.retry.body;
  EXPECT_EQ(json_of(affirmed.retry)["state"], "cleared");
  EXPECT_EQ(count("SELECT count(*) FROM cch.trade_leg WHERE trade_id = " + trade_id), 2) << "cleared once";

  const std::string to_reject = submitted_trade("LOST-REJECT");
  const auto rejected = lost_then_retried(harness.member_b_caller, "/v1/trades/" + to_reject + "/reject",
                                          R"({"reason":"wrong price"})");
  ASSERT_EQ(rejected.retry.status, 200u) << rejected.retry.body;
  EXPECT_EQ(json_of(rejected.retry)["state"], "rejected");

  const std::string to_cancel = submitted_trade("LOST-CANCEL");
  const auto cancelled = lost_then_retried(harness.member_a_caller, "/v1/trades/" + to_cancel + "/cancel",
                                           R"({"reason":"typo"})");
  ASSERT_EQ(cancelled.retry.status, 200u) << cancelled.retry.body;
  EXPECT_EQ(json_of(cancelled.retry)["state"], "cancelled");

  const std::string venue_trade = trade_body("LOST-VENUE");
  const auto batch = lost_then_retried(harness.venue_caller, "/v1/venue-batches", R"({"trades":[)" + venue_trade + "]}");
  ASSERT_EQ(batch.retry.status, 200u) << batch.retry.body;
  const auto result = json_of(batch.retry)["results"][0];
  EXPECT_EQ(result["status"], "cleared") << batch.retry.body;
  EXPECT_EQ(result["replayed"], false) << "the first answer: the trade was new then";

  // Every request named by a trade's history is in the audit log, the lost ones included.
  EXPECT_EQ(count("SELECT count(*) FROM cch.trade_event e WHERE e.request_id IS NOT NULL AND NOT EXISTS "
                  "(SELECT 1 FROM api.request_log l WHERE l.request_id = e.request_id)"),
            0);
}

TEST_P(CommandRetry, ACollateralCommandRetriedAfterItsAnswerWasLostGetsItsFirstAnswer) {
  const std::string a_id = harness.member_a.to_string();
  const auto deposited = lost_then_retried(harness.operator_caller, "/v1/members/" + a_id + "/collateral-deposits",
                                           R"({"amount":"1000.00","currency":"USD","bank_reference":"LOST-WIRE"})");
  EXPECT_EQ(deposited.retry.status, 201u) << "the first answer: recorded now, " << deposited.retry.body;
  EXPECT_EQ(json_of(deposited.retry)["replayed"], false);

  const auto requested = lost_then_retried(harness.member_a_caller, "/v1/members/" + a_id + "/collateral-withdrawals",
                                           R"({"amount":"100.00","currency":"USD"})");
  ASSERT_EQ(requested.retry.status, 201u) << requested.retry.body;
  const std::string withdrawal = json_of(requested.retry)["withdrawal_id"].get<std::string>();
  EXPECT_EQ(count("SELECT count(*) FROM cch.collateral_withdrawal"), 1);

  const auto approved = lost_then_retried(harness.operator_caller,
                                          "/v1/collateral-withdrawals/" + withdrawal + "/approve", "{}");
  ASSERT_EQ(approved.retry.status, 200u) << approved.retry.body;
  EXPECT_EQ(json_of(approved.retry)["status"], "paid");

  const auto second = harness.post(harness.member_a_caller, "/v1/members/" + a_id + "/collateral-withdrawals",
                                   R"({"amount":"50.00","currency":"USD"})");
  ASSERT_EQ(second.status, 201u) << second.body;
  const std::string second_id = json_of(second)["withdrawal_id"].get<std::string>();
  const auto rejected = lost_then_retried(harness.operator_caller, "/v1/collateral-withdrawals/" + second_id + "/reject",
                                          R"({"note":"wrong account"})");
  ASSERT_EQ(rejected.retry.status, 200u) << rejected.retry.body;
  EXPECT_EQ(json_of(rejected.retry)["status"], "rejected");

  // Every journal a request caused names a request in the audit log.
  EXPECT_EQ(count("SELECT count(*) FROM ledger.journal j WHERE j.request_id IS NOT NULL AND NOT EXISTS "
                  "(SELECT 1 FROM api.request_log l WHERE l.request_id = j.request_id)"),
            0);
}

INSTANTIATE_TEST_SUITE_P(AnswerLost, CommandRetry,
                         ::testing::Values(AnswerLoss::api_died, AnswerLoss::connection_broke),
                         [](const ::testing::TestParamInfo<AnswerLoss>& loss) {
                           return loss.param == AnswerLoss::api_died ? std::string("ApiDied")
                                                                     : std::string("ConnectionBroke");
                         });

// Every command answered has its audit row before its answer leaves: no flush of the buffered
// log is needed to find it.
TEST(CommandAudit, EveryAnsweredCommandHasItsRowBeforeTheAnswerLeaves) {
  ApiHarness harness(quick_takeover());
  const std::string a_id = harness.member_a.to_string();
  const std::int64_t before = db::run_transaction(
      *harness.fixture.pool, db::Isolation::read_committed, {},
      [](pqxx::transaction_base& tx) { return tx.exec1("SELECT count(*) FROM api.request_log")[0].as<std::int64_t>(); });
  std::vector<http::Response> answers;
  answers.push_back(harness.post(harness.operator_caller, "/v1/members/" + a_id + "/collateral-deposits",
                                 R"({"amount":"10.00","currency":"USD","bank_reference":"AUDIT-1"})"));  // 201
  answers.push_back(harness.post(harness.operator_caller, "/v1/members/" + a_id + "/collateral-deposits",
                                 R"({"amount":"-1","currency":"USD","bank_reference":"AUDIT-2"})"));  // 422, no effect
  answers.push_back(harness.call(harness.operator_caller, "POST", "/v1/members/" + a_id + "/collateral-deposits",
                                 R"({"amount":"10.00","currency":"USD","bank_reference":"AUDIT-3"})"));  // no key
  answers.push_back(harness.post(harness.operator_caller, "/v1/principals",
                                 R"({"name":"audit-row","role":"auditor"})"));  // the api's own command
  EXPECT_EQ(answers[0].status, 201u);
  EXPECT_EQ(answers[1].status, 422u);
  EXPECT_EQ(answers[2].status, 400u);
  EXPECT_EQ(answers[3].status, 201u);
  const std::int64_t after = db::run_transaction(
      *harness.fixture.pool, db::Isolation::read_committed, {},
      [](pqxx::transaction_base& tx) { return tx.exec1("SELECT count(*) FROM api.request_log")[0].as<std::int64_t>(); });
  EXPECT_EQ(after - before, 4) << "each command's row was written before its answer, without a flush";
}

}  // namespace
}  // namespace cch::api::testing
