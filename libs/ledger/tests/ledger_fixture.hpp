#pragma once
// A migrated scratch database and a pool that connects as a cch_writer login, as the services do.

#include "cch/db/pool.hpp"
#include "cch/ledger/accounts.hpp"
#include "cch/ledger/journal.hpp"
#include "cch/testing/scratch_database.hpp"

#include <pqxx/connection>

#include <memory>
#include <string>

namespace cch::ledger::testing {

class LedgerFixture {
 public:
  // generic_plans: the pool's connections as db::PoolOptions::generic_plans (as cch-registry's).
  explicit LedgerFixture(bool generic_plans = false);

  cch::testing::ScratchDatabase database;
  std::string writer_url;    // login in role cch_writer
  std::string auditor_url;   // login in role cch_auditor
  std::unique_ptr<db::ConnectionPool> pool;  // as the writer

  MemberId add_member(const std::string& code);
  AccountId member_account(MemberId member, AccountKind kind);
  AccountId house_account(AccountKind kind);

  // A superuser connection to the scratch database (out-of-band edits in tamper tests).
  pqxx::connection superuser() const { return pqxx::connection(database.url()); }
};

// A two-line journal moving amount_minor USD from `from` (credited) to `to` (debited).
JournalDraft transfer(std::string key, AccountId to, AccountId from, std::int64_t amount_minor,
                      JournalKind kind = JournalKind::adjustment);

// The URL with its user replaced.
std::string url_with_user(const std::string& url, const std::string& user);

}  // namespace cch::ledger::testing
