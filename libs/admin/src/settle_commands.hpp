#pragma once
// cch-admin settle: an operator runs (or resumes, or reads back) a business date's settlement
// with the settlement service's own library (libs/settlement runs.hpp), as the service would:
//   settle --date D    settle business date D: a run left unfinished is resumed from its first
//                      step not done, a date already settled answers its run (nothing posted)
// Prints the run (id, date, attempt, state, curve set, previous run, interest), each step with its
// duration and counts, and each member's variation margin, interest and total.
// Exit statuses: 0 done, 1 refused (the reason and its detail on standard error), 2 usage,
// 3 database.

#include "cch/config/config.hpp"

#include <string>

namespace cch::admin {

int settle(const config::Config& config, const std::string& date);

}  // namespace cch::admin
