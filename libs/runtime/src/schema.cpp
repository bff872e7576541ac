#include "cch/runtime/schema.hpp"

#include "cch/sql/migrations.hpp"

#include <cstdlib>
#include <iostream>

namespace cch::runtime {

const std::vector<db::Migration>& schema_migrations() {
  static const std::vector<db::Migration> migrations = [] {
    auto list = db::make_migrations(sql::migration_files());
    if (!list) {
      std::cerr << "cch: embedded migrations are malformed: " << list.error().message << "\n";
      std::abort();
    }
    return std::move(list).value();
  }();
  return migrations;
}

}  // namespace cch::runtime
