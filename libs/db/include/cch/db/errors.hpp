#pragma once
// The SQLSTATE of a PostgreSQL error as libpqxx 6.4 reports it.
//
// libpqxx 6.4 throws a specific subclass (check_violation, insufficient_privilege, ...) for many
// SQLSTATEs but leaves sql_error::sqlstate() empty for those; only the generic sql_error carries
// the code. sqlstate() recovers the code either way, so callers can switch on it.

#include <pqxx/except>

#include <string>

namespace cch::db {

std::string sqlstate(const pqxx::sql_error& error);

}  // namespace cch::db
