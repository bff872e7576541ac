#include "ledger_fixture.hpp"

#include "cch/db/migrate.hpp"
#include "cch/db/transaction.hpp"
#include "cch/runtime/schema.hpp"

#include <pqxx/nontransaction>
#include <pqxx/result>

#include <stdexcept>

namespace cch::ledger::testing {
namespace {

// Login roles are cluster-wide; parallel test processes may race to create them.
void ensure_login_role(pqxx::connection& connection, const std::string& login, const std::string& group) {
  pqxx::nontransaction tx(connection);
  tx.exec("DO $$ BEGIN CREATE ROLE " + login + " LOGIN IN ROLE " + group +
          "; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$");
}

}  // namespace

std::string url_with_user(const std::string& url, const std::string& user) {
  const auto scheme_end = url.find("://");
  const auto at = url.find('@', scheme_end + 3);
  if (scheme_end == std::string::npos || at == std::string::npos) {
    throw std::runtime_error("test database URL must look like postgresql://user@host:port/db");
  }
  return url.substr(0, scheme_end + 3) + user + url.substr(at);
}

LedgerFixture::LedgerFixture(bool generic_plans) {
  {
    pqxx::connection connection(database.url());
    const auto migrated = db::migrate(connection, runtime::schema_migrations());
    if (!migrated) {
      throw std::runtime_error(migrated.error().message);
    }
    ensure_login_role(connection, "cch_test_writer", "cch_writer");
    ensure_login_role(connection, "cch_test_auditor", "cch_auditor");
  }
  writer_url = url_with_user(database.url(), "cch_test_writer");
  auditor_url = url_with_user(database.url(), "cch_test_auditor");
  db::PoolOptions options;
  options.url = writer_url;
  options.size = 8;
  options.acquire_timeout = std::chrono::milliseconds(10000);
  options.generic_plans = generic_plans;
  pool = std::make_unique<db::ConnectionPool>(options);
}

MemberId LedgerFixture::add_member(const std::string& code) {
  return db::run_transaction(*pool, db::Isolation::read_committed, {}, [&](pqxx::transaction_base& tx) {
    return MemberId(tx.exec_params("INSERT INTO cch.member (code, legal_name) VALUES ($1, $1) RETURNING member_id", code)[0][0]
                        .as<std::int64_t>());
  });
}

AccountId LedgerFixture::member_account(MemberId member, AccountKind kind) {
  return db::run_transaction(*pool, db::Isolation::read_committed, {}, [&](pqxx::transaction_base& tx) {
    return open_member_account(tx, member, kind, Currency::usd());
  });
}

AccountId LedgerFixture::house_account(AccountKind kind) {
  return db::run_transaction(*pool, db::Isolation::read_committed, {}, [&](pqxx::transaction_base& tx) {
    return open_house_account(tx, kind, Currency::usd());
  });
}

JournalDraft transfer(std::string key, AccountId to, AccountId from, std::int64_t amount_minor, JournalKind kind) {
  JournalDraft draft;
  draft.idempotency_key = std::move(key);
  draft.business_date = BusinessDate::parse("2026-11-23").value();
  draft.kind = kind;
  draft.cause = Cause{CauseKind::operator_action, "test"};
  draft.postings = {PostingLine{to, Money{amount_minor, Currency::usd()}},
                    PostingLine{from, Money{-amount_minor, Currency::usd()}}};
  return draft;
}

}  // namespace cch::ledger::testing
