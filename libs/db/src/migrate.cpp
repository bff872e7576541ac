#include "cch/db/migrate.hpp"

#include "cch/core/sha256.hpp"

#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/transaction>

#include <algorithm>
#include <charconv>
#include <map>
#include <optional>

namespace cch::db {
namespace {

// An arbitrary constant that names the migration lock among cch's advisory locks.
constexpr long long kMigrationLockKey = 0x63636800'00000001LL;

constexpr const char* kCreateTable =
    "CREATE TABLE IF NOT EXISTS cch_schema_migrations ("
    " version integer PRIMARY KEY,"
    " name text NOT NULL,"
    " checksum_sha256 text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT clock_timestamp())";

struct Applied {
  std::string name;
  std::string checksum;
};

std::map<int, Applied> read_applied(pqxx::transaction_base& tx) {
  std::map<int, Applied> applied;
  const auto exists = tx.exec("SELECT to_regclass('cch_schema_migrations') IS NOT NULL");
  if (!exists[0][0].as<bool>()) {
    return applied;
  }
  for (const auto& row : tx.exec("SELECT version, name, checksum_sha256 FROM cch_schema_migrations ORDER BY version")) {
    applied.emplace(row[0].as<int>(), Applied{row[1].as<std::string>(), row[2].as<std::string>()});
  }
  return applied;
}

// Compares what the database has applied with what this build carries.
std::optional<MigrationError> compare(const std::map<int, Applied>& applied, std::span<const Migration> migrations) {
  for (const auto& [version, record] : applied) {
    const auto it = std::find_if(migrations.begin(), migrations.end(),
                                 [version = version](const Migration& m) { return m.version == version; });
    if (it == migrations.end()) {
      return MigrationError{MigrationErrorKind::unknown_applied,
                            "the database has migration " + record.name +
                                " which this build does not know (is the binary older than the schema?)"};
    }
    if (it->checksum() != record.checksum) {
      return MigrationError{MigrationErrorKind::checksum_mismatch,
                            "migration " + it->name +
                                " was changed after it was applied (checksum differs); add a new migration instead"};
    }
  }
  return std::nullopt;
}

class AdvisoryLock {
 public:
  explicit AdvisoryLock(pqxx::connection& connection) : connection_(connection) {
    pqxx::nontransaction tx(connection_);
    tx.exec_params("SELECT pg_advisory_lock($1)", kMigrationLockKey);
  }
  ~AdvisoryLock() {
    try {
      pqxx::nontransaction tx(connection_);
      tx.exec_params("SELECT pg_advisory_unlock($1)", kMigrationLockKey);
    } catch (const pqxx::failure&) {
      // The lock is a session lock: a broken connection has released it already.
    }
  }
  AdvisoryLock(const AdvisoryLock&) = delete;
  AdvisoryLock& operator=(const AdvisoryLock&) = delete;

 private:
  pqxx::connection& connection_;
};

}  // namespace

std::string Migration::checksum() const { return sha256_hex(sql); }

Result<std::vector<Migration>, MigrationError> make_migrations(
    std::span<const std::pair<std::string_view, std::string_view>> files) {
  std::vector<Migration> list;
  for (const auto& [file_name, text] : files) {
    const bool shaped = file_name.size() > 9 && file_name.substr(file_name.size() - 4) == ".sql" &&
                        file_name[4] == '_' &&
                        std::all_of(file_name.begin(), file_name.begin() + 4, [](char c) { return c >= '0' && c <= '9'; });
    if (!shaped) {
      return fail(MigrationError{MigrationErrorKind::bad_file_name,
                                 "migration file " + std::string(file_name) + " is not named NNNN_name.sql"});
    }
    Migration migration;
    std::from_chars(file_name.data(), file_name.data() + 4, migration.version);
    migration.name = std::string(file_name.substr(0, file_name.size() - 4));
    migration.sql = std::string(text);
    list.push_back(std::move(migration));
  }
  std::sort(list.begin(), list.end(), [](const Migration& a, const Migration& b) { return a.version < b.version; });
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (i > 0 && list[i].version == list[i - 1].version) {
      return fail(MigrationError{MigrationErrorKind::duplicate_version,
                                 "migrations " + list[i - 1].name + " and " + list[i].name + " share a version"});
    }
    if (list[i].version != static_cast<int>(i) + 1) {
      return fail(MigrationError{MigrationErrorKind::version_gap,
                                 "migration " + list[i].name + " should be numbered " + std::to_string(i + 1)});
    }
  }
  return list;
}

Result<MigrationReport, MigrationError> migrate(pqxx::connection& connection, std::span<const Migration> migrations) {
  AdvisoryLock lock(connection);
  {
    // Created only when missing, so a role without CREATE privilege can still check and find
    // nothing to do.
    pqxx::nontransaction tx(connection);
    if (!tx.exec("SELECT to_regclass('cch_schema_migrations') IS NOT NULL")[0][0].as<bool>()) {
      tx.exec(kCreateTable);
    }
  }
  MigrationReport report;
  std::map<int, Applied> applied;
  {
    pqxx::read_transaction tx(connection);
    applied = read_applied(tx);
  }
  if (auto error = compare(applied, migrations)) {
    return fail(std::move(*error));
  }
  for (const Migration& migration : migrations) {
    if (applied.count(migration.version) != 0) {
      continue;
    }
    pqxx::work tx(connection);
    tx.exec(migration.sql);
    tx.exec_params("INSERT INTO cch_schema_migrations (version, name, checksum_sha256) VALUES ($1, $2, $3)",
                   migration.version, migration.name, migration.checksum());
    tx.commit();
    report.applied_now.push_back(migration.name);
  }
  report.schema_version = migrations.empty() ? 0 : migrations.back().version;
  return report;
}

Result<MigrationReport, MigrationError> check_migrations(pqxx::connection& connection,
                                                         std::span<const Migration> migrations) {
  pqxx::read_transaction tx(connection);
  const std::map<int, Applied> applied = read_applied(tx);
  if (auto error = compare(applied, migrations)) {
    return fail(std::move(*error));
  }
  MigrationReport report;
  for (const Migration& migration : migrations) {
    if (applied.count(migration.version) == 0) {
      return fail(MigrationError{MigrationErrorKind::not_applied, "migration " + migration.name + " is not applied"});
    }
  }
  report.schema_version = applied.empty() ? 0 : applied.rbegin()->first;
  return report;
}

}  // namespace cch::db
