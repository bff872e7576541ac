// The database refuses bad books on its own, whatever the client: these statements bypass
// libs/ledger and talk SQL directly as the services' role (cch_writer), or as a superuser.
#include "cch/ledger/post.hpp"
#include "cch/db/errors.hpp"
#include "ledger_fixture.hpp"

#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/transaction>

#include <gtest/gtest.h>

namespace {

using namespace cch;
using namespace cch::ledger;
using cch::ledger::testing::LedgerFixture;
using cch::ledger::testing::transfer;

// Runs `sql` in one transaction on `connection`; returns the SQLSTATE of the failure, or "" if
// it committed.
std::string sqlstate_of_transaction(pqxx::connection& connection, const std::string& sql) {
  try {
    pqxx::work tx(connection);
    tx.exec(sql);
    tx.commit();
    return "";
  } catch (const pqxx::sql_error& error) {
    return db::sqlstate(error);
  }
}

struct Books {
  LedgerFixture fixture;
  AccountId bank{1};
  AccountId collateral{1};
  JournalId posted{1};
  Books() {
    bank = fixture.house_account(AccountKind::settlement_bank);
    collateral = fixture.member_account(fixture.add_member("alpha-labs"), AccountKind::collateral);
    const auto result = ledger::post_batch(*fixture.pool, {}, std::vector{transfer("seed", bank, collateral, 700)});
    posted = result[0]->journal_id;
  }
  std::string counts() {
    pqxx::connection connection(fixture.writer_url);
    pqxx::nontransaction tx(connection);
    const auto row = tx.exec(
        "SELECT (SELECT count(*) FROM ledger.journal), (SELECT count(*) FROM ledger.posting), "
        "(SELECT count(*) FROM ledger.chain_link), (SELECT string_agg(balance_minor::text, ',' ORDER BY account_id) "
        "FROM ledger.account_balance)")[0];
    return row[0].as<std::string>() + "/" + row[1].as<std::string>() + "/" + row[2].as<std::string>() + "/" +
           row[3].as<std::string>();
  }
  // Runs `sql` as the writer in one transaction (claiming a chain link first, as libs/ledger
  // does) and returns the SQLSTATE of the failure, or "" if it committed.
  std::string writer_transaction(const std::string& sql) {
    pqxx::connection connection(fixture.writer_url);
    return sqlstate_of_transaction(connection, sql);
  }
  std::string journal_sql(const std::string& key, const std::string& postings, bool with_link = true) {
    std::string sql =
        "CREATE TEMP TABLE c AS SELECT * FROM ledger.claim_chain(); "
        "INSERT INTO ledger.journal (idempotency_key, business_date, kind, cause_kind, cause_reference, content_sha256, "
        "  chain_id, link_sequence) SELECT '" + key + "', '2026-11-23', 'adjustment', 'operator', 'test', "
        "  sha256('x'), chain_id, link_sequence + 1 FROM c; ";
    if (!postings.empty()) {
      sql += "INSERT INTO ledger.posting (journal_id, line_number, account_id, currency, amount_minor) VALUES " +
             postings + "; ";
    }
    if (with_link) {
      sql += "INSERT INTO ledger.chain_link (chain_id, link_sequence, previous_sha256, link_sha256, journal_count) "
             "SELECT chain_id, link_sequence + 1, link_sha256, sha256('y'), 1 FROM c;";
    }
    return sql;
  }
  std::string line(int number, AccountId account, std::int64_t amount, const std::string& currency = "USD") {
    return "((SELECT max(journal_id) FROM ledger.journal), " + std::to_string(number) + ", " +
           std::to_string(account.value()) + ", '" + currency + "', " + std::to_string(amount) + ")";
  }
};

constexpr const char* kCheckViolation = "23514";
constexpr const char* kForeignKeyViolation = "23503";
constexpr const char* kInsufficientPrivilege = "42501";

}  // namespace

TEST(LedgerInvariants, AWellFormedJournalWrittenInRawSqlIsAccepted) {
  Books books;
  const std::string before = books.counts();
  EXPECT_EQ(books.writer_transaction(books.journal_sql(
                "raw-ok", books.line(1, books.bank, 5) + ", " + books.line(2, books.collateral, -5))),
            "");
  EXPECT_NE(books.counts(), before);
}

TEST(LedgerInvariants, AnUnbalancedJournalIsRefusedAtCommitAndLeavesNothing) {
  Books books;
  const std::string before = books.counts();
  EXPECT_EQ(books.writer_transaction(books.journal_sql(
                "raw-unbalanced", books.line(1, books.bank, 5) + ", " + books.line(2, books.collateral, -4))),
            kCheckViolation);
  EXPECT_EQ(books.counts(), before);
}

TEST(LedgerInvariants, AJournalWithOnePostingOrNoneIsRefused) {
  Books books;
  const std::string before = books.counts();
  EXPECT_EQ(books.writer_transaction(books.journal_sql("raw-one", books.line(1, books.bank, 5))), kCheckViolation);
  EXPECT_EQ(books.writer_transaction(books.journal_sql("raw-none", "")), kCheckViolation);
  EXPECT_EQ(books.counts(), before);
}

TEST(LedgerInvariants, AZeroAmountIsRefused) {
  Books books;
  const std::string before = books.counts();
  EXPECT_EQ(books.writer_transaction(books.journal_sql(
                "raw-zero", books.line(1, books.bank, 0) + ", " + books.line(2, books.collateral, 0))),
            kCheckViolation);
  EXPECT_EQ(books.counts(), before);
}

TEST(LedgerInvariants, NoPostingOrBalanceGoesBeyondTheLargestAmountEvenInRawSql) {
  Books books;  // the bank at 700, the collateral at -700
  constexpr std::int64_t kLargest = 1'000'000'000'000'000;  // 10^15 minor units
  const std::string before = books.counts();
  // A posting beyond the largest amount.
  EXPECT_EQ(books.writer_transaction(books.journal_sql(
                "raw-huge", books.line(1, books.bank, kLargest + 1) + ", " + books.line(2, books.collateral, -kLargest - 1))),
            kCheckViolation);
  // Postings within it that would take a balance beyond it, alone or together.
  EXPECT_EQ(books.writer_transaction(books.journal_sql(
                "raw-beyond", books.line(1, books.bank, kLargest) + ", " + books.line(2, books.collateral, -kLargest))),
            kCheckViolation);
  EXPECT_EQ(books.writer_transaction(books.journal_sql(
                "raw-together", books.line(1, books.bank, kLargest / 2 + 1) + ", " + books.line(2, books.bank, kLargest / 2) +
                                    ", " + books.line(3, books.collateral, -kLargest / 2 - 1) + ", " +
                                    books.line(4, books.collateral, -kLargest / 2))),
            kCheckViolation);
  // Amounts whose sum with a balance would not fit in int64: the same refusal, not an overflow.
  EXPECT_EQ(books.writer_transaction(books.journal_sql(
                "raw-int64", books.line(1, books.bank, INT64_MAX - 1) + ", " + books.line(2, books.collateral, -(INT64_MAX - 1)))),
            kCheckViolation);
  EXPECT_EQ(books.counts(), before);
  // Up to the largest amount exactly.
  EXPECT_EQ(books.writer_transaction(books.journal_sql(
                "raw-at-the-bound", books.line(1, books.bank, kLargest - 700) + ", " + books.line(2, books.collateral, -(kLargest - 700)))),
            "");
}

TEST(LedgerInvariants, APostingInAnotherCurrencyThanItsAccountIsRefused) {
  Books books;
  {
    auto connection = books.fixture.superuser();
    pqxx::nontransaction tx(connection);
    tx.exec("INSERT INTO ledger.currency VALUES ('EUR', 2)");
  }
  const std::string before = books.counts();
  EXPECT_EQ(books.writer_transaction(books.journal_sql("raw-currency", books.line(1, books.bank, 5, "EUR") + ", " +
                                                                           books.line(2, books.collateral, -5, "EUR"))),
            kForeignKeyViolation);
  EXPECT_EQ(books.counts(), before);
}

TEST(LedgerInvariants, AJournalOutsideAChainLinkIsRefused) {
  Books books;
  const std::string before = books.counts();
  EXPECT_EQ(books.writer_transaction(books.journal_sql(
                "raw-unsealed", books.line(1, books.bank, 5) + ", " + books.line(2, books.collateral, -5), false)),
            kCheckViolation);
  EXPECT_EQ(books.counts(), before);
}

TEST(LedgerInvariants, PostingsCannotBeAddedToACommittedJournal) {
  Books books;
  const std::string before = books.counts();
  const std::string id = std::to_string(books.posted.value());
  EXPECT_EQ(books.writer_transaction("INSERT INTO ledger.posting VALUES (" + id + ", 3, " +
                                     std::to_string(books.bank.value()) + ", 'USD', 1), (" + id + ", 4, " +
                                     std::to_string(books.collateral.value()) + ", 'USD', -1)"),
            kInsufficientPrivilege);
  EXPECT_EQ(books.counts(), before);
}

TEST(LedgerInvariants, TheWriterCannotUpdateOrDeleteTheBooksOrTouchBalances) {
  Books books;
  const std::string before = books.counts();
  for (const std::string sql : {"UPDATE ledger.posting SET amount_minor = amount_minor * 2",
                                "DELETE FROM ledger.posting",
                                "UPDATE ledger.journal SET memo = 'edited'",
                                "DELETE FROM ledger.journal",
                                "TRUNCATE ledger.posting",
                                "UPDATE ledger.account_balance SET balance_minor = 0",
                                "UPDATE ledger.chain_head SET link_sequence = 0",
                                "DELETE FROM ledger.chain_link",
                                "ALTER TABLE ledger.posting DISABLE TRIGGER posting_append_only",
                                "DROP TABLE ledger.posting",
                                "CREATE TABLE ledger.shadow (id int)",
                                "CREATE TABLE public.shadow (id int)"}) {
    EXPECT_EQ(books.writer_transaction(sql), kInsufficientPrivilege) << sql;
  }
  EXPECT_EQ(books.counts(), before);
}

TEST(LedgerInvariants, EvenASuperuserCannotUpdateOrDeleteThroughTheTriggers) {
  Books books;
  const std::string before = books.counts();
  for (const std::string sql : {"UPDATE ledger.posting SET amount_minor = amount_minor * 2",
                                "DELETE FROM ledger.journal", "TRUNCATE ledger.chain_link CASCADE"}) {
    auto connection = books.fixture.superuser();
    EXPECT_EQ(sqlstate_of_transaction(connection, sql), kInsufficientPrivilege) << sql;
  }
  EXPECT_EQ(books.counts(), before);
}

TEST(LedgerInvariants, TheAuditorReadsViewsButWritesNothing) {
  Books books;
  pqxx::connection connection(books.fixture.auditor_url);
  {
    pqxx::nontransaction tx(connection);
    EXPECT_EQ(tx.exec("SELECT sum(balance_minor) FROM ledger_audit.trial_balance")[0][0].as<std::int64_t>(), 0);
    EXPECT_EQ(tx.exec_params("SELECT balance_after_minor FROM ledger_audit.account_statement WHERE account_id = $1",
                             books.bank.value())[0][0]
                  .as<std::int64_t>(),
              700);
  }
  for (const std::string sql : {"INSERT INTO cch.member (code, legal_name) VALUES ('x-y', 'x')",
                                "UPDATE ledger.journal SET memo = 'x'", "DELETE FROM ledger.posting"}) {
    EXPECT_EQ(sqlstate_of_transaction(connection, sql), kInsufficientPrivilege) << sql;
  }
}
