#pragma once
// Schema migrations: sql/migrations/NNNN_name.sql, applied in order, each exactly once.
//
// Each applied migration is recorded in cch_schema_migrations with its SHA-256 checksum. migrate()
// refuses to run if an applied migration's text has changed since, or if the database holds a
// version this build does not know (a newer schema than the binary). All of it runs under a
// PostgreSQL advisory lock, so several services starting at once apply each migration once and
// the others wait and then find nothing to do. Each migration runs in its own transaction
// together with its record, so a crash leaves it wholly applied or absent.
//
// Thread safety: the functions take a connection the caller owns; concurrent callers on
// distinct connections serialise on the advisory lock.

#include "cch/core/result.hpp"

#include <pqxx/connection>

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cch::db {

struct Migration {
  int version = 0;       // NNNN from the file name
  std::string name;      // the file name without .sql
  std::string sql;
  [[nodiscard]] std::string checksum() const;  // SHA-256 hex of sql
};

enum class MigrationErrorKind {
  bad_file_name,       // not NNNN_name.sql
  duplicate_version,   // two files with the same NNNN
  version_gap,         // versions must be 1, 2, 3, ... without holes
  checksum_mismatch,   // an applied migration's text changed
  unknown_applied,     // the database has a version this build lacks
  not_applied,         // (check only) a migration is pending
};

struct MigrationError {
  MigrationErrorKind kind;
  std::string message;  // one line, names the migration
};

// Builds the ordered list from (file name, text) pairs and validates names and numbering.
Result<std::vector<Migration>, MigrationError> make_migrations(
    std::span<const std::pair<std::string_view, std::string_view>> files);

struct MigrationReport {
  std::vector<std::string> applied_now;  // names applied by this call, in order
  int schema_version = 0;                // highest applied version afterwards
};

// Applies what is pending. Database failures propagate as pqxx exceptions.
Result<MigrationReport, MigrationError> migrate(pqxx::connection& connection, std::span<const Migration> migrations);

// Checks without changing anything that every migration is applied with the same checksum.
Result<MigrationReport, MigrationError> check_migrations(pqxx::connection& connection,
                                                         std::span<const Migration> migrations);

}  // namespace cch::db
