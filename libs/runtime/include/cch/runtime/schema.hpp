#pragma once
// The schema this build carries: sql/migrations/, embedded and validated.

#include "cch/db/migrate.hpp"

#include <vector>

namespace cch::runtime {

// The embedded migrations, in order. A malformed set (bad names, gaps) is a build defect and
// asserts; a test checks the set.
const std::vector<db::Migration>& schema_migrations();

}  // namespace cch::runtime
