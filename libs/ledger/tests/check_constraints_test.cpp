// Migration 0008 rewrote the hot tables' text checks (a bounded repetition such as {1,64} is slow
// in PostgreSQL's regular expressions) as an unbounded class plus a length. This test holds the
// rewrite to its promise: each constraint as the migrated schema has it accepts exactly the values
// the original pattern accepted, over boundary lengths and characters on either side of each class.
#include "ledger_fixture.hpp"

#include <pqxx/nontransaction>
#include <pqxx/result>

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

struct Rewritten {
  std::string table;
  std::string constraint;
  std::string column;
  std::string original_pattern;
};

const std::vector<Rewritten> kRewritten = {
    {"api.request_log", "request_log_request_id_check", "request_id", "^[A-Za-z0-9._-]{1,64}$"},
    {"api.idempotency", "idempotency_idempotency_key_check", "idempotency_key", "^[\\x21-\\x7e]{1,200}$"},
    {"api.idempotency", "idempotency_request_sha256_check", "request_sha256", "^[0-9a-f]{64}$"},
    {"ledger.journal", "journal_request_id_check", "request_id", "^[A-Za-z0-9._-]{1,64}$"},
    {"cch.collateral_withdrawal", "collateral_withdrawal_idempotency_key_check", "idempotency_key",
     "^[\\x21-\\x7e]{1,200}$"},
    {"cch.trade", "trade_submitter_reference_check", "submitter_reference", "^[\\x21-\\x7e]{1,64}$"},
    {"cch.trade", "trade_counterparty_reference_check", "counterparty_reference", "^[\\x21-\\x7e]{1,64}$"},
    {"cch.trade", "trade_last_refusal_check", "last_refusal", "^[a-z_]{1,64}$"},
    {"cch.outbox", "outbox_topic_check", "topic", "^[a-z][a-z_.]{1,63}$"},
};

// Values on both sides of every rule above: lengths 0, 1, 2, 63, 64, 65, 199, 200, 201; characters
// just inside and outside each class; whitespace, control and non-ASCII characters.
std::vector<std::string> samples() {
  std::vector<std::string> values = {"", "a", "ab", "A", "z", "Z", "0", "9", "_", ".", "-", "a.b_c-d", "a b", " a",
                                     "a ", "a\tb", "a\nb", "\n", "!", "~", "\x7f", "é", "aé", "trade.cleared",
                                     "Trade.cleared", "_x", ".x", "1abc", "price_outside_band", "g"};
  for (const std::size_t length : {63U, 64U, 65U, 199U, 200U, 201U}) {
    values.push_back(std::string(length, 'a'));
    values.push_back(std::string(length, '!'));
    values.push_back(std::string(length, 'f'));
    values.push_back(std::string(length - 1, '0') + "g");
  }
  return values;
}

TEST(CheckConstraints, EachRewrittenCheckAcceptsExactlyWhatItsOriginalPatternAccepted) {
  cch::ledger::testing::LedgerFixture fixture;
  auto connection = fixture.superuser();
  pqxx::nontransaction tx(connection);
  const auto values = samples();
  for (const auto& rule : kRewritten) {
    const auto found = tx.exec_params(
        "SELECT pg_get_expr(conbin, conrelid) FROM pg_constraint WHERE conrelid = $1::regclass AND conname = $2",
        rule.table, rule.constraint);
    ASSERT_EQ(found.size(), 1U) << rule.constraint;
    const std::string expression = found[0][0].as<std::string>();
    EXPECT_EQ(expression.find('{'), std::string::npos) << rule.constraint << " still repeats boundedly: " << expression;
    int accepted = 0;
    for (const auto& value : values) {
      // The migrated expression evaluated over the sample in place of its column.
      const auto row = tx.exec_params("SELECT (" + expression + ") IS TRUE, $1::text ~ $2 FROM (SELECT $1::text AS " +
                                          tx.quote_name(rule.column) + ") AS sample",
                                      value, rule.original_pattern)[0];
      EXPECT_EQ(row[0].as<bool>(), row[1].as<bool>())
          << rule.constraint << " disagrees with " << rule.original_pattern << " on \"" << value << "\" (length "
          << value.size() << ")";
      if (row[1].as<bool>()) ++accepted;
    }
    EXPECT_GT(accepted, 0) << rule.constraint << ": the samples never reach the accepting side";
    EXPECT_LT(accepted, static_cast<int>(values.size())) << rule.constraint << ": nor the refusing side";
  }
}

}  // namespace
