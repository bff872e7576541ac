#pragma once
// The migrations of sql/migrations/, embedded at build time: (file name, SQL text), in file-name
// order. Feed them to cch::db::make_migrations().

#include <span>
#include <string_view>
#include <utility>

namespace cch::sql {

std::span<const std::pair<std::string_view, std::string_view>> migration_files();

}  // namespace cch::sql
