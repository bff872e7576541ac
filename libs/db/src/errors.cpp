#include "cch/db/errors.hpp"

namespace cch::db {

std::string sqlstate(const pqxx::sql_error& error) {
  if (!error.sqlstate().empty()) {
    return error.sqlstate();
  }
  if (dynamic_cast<const pqxx::insufficient_privilege*>(&error) != nullptr) return "42501";
  if (dynamic_cast<const pqxx::check_violation*>(&error) != nullptr) return "23514";
  if (dynamic_cast<const pqxx::foreign_key_violation*>(&error) != nullptr) return "23503";
  if (dynamic_cast<const pqxx::unique_violation*>(&error) != nullptr) return "23505";
  if (dynamic_cast<const pqxx::not_null_violation*>(&error) != nullptr) return "23502";
  if (dynamic_cast<const pqxx::undefined_table*>(&error) != nullptr) return "42P01";
  if (dynamic_cast<const pqxx::undefined_column*>(&error) != nullptr) return "42703";
  if (dynamic_cast<const pqxx::undefined_function*>(&error) != nullptr) return "42883";
  if (dynamic_cast<const pqxx::syntax_error*>(&error) != nullptr) return "42601";
  return "";
}

}  // namespace cch::db
