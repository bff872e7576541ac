#pragma once
// cch-admin margin: initial margin by hand (risk officer or operator), with the risk service's
// own library (libs/risk margin.hpp), as the risk service would build and run it:
//   model --date D [--parameter-version N]   build the margin model of business date D (the
//                                            date's latest curve set; the latest parameter
//                                            version unless one is named); a model the same
//                                            inputs built already is answered, not built again
//   run [--date D] [--member ID ...]         build D's model if needed (as above), then run the
//                                            initial margin of the members named (every member
//                                            with an open leg when none) against it; without
//                                            --date, against the latest model
// Each prints what it did: the model's id, date, parameter version, curve set, products and
// scenarios; the run's id, members, legs and total initial margin, and each member's figure.
// The model is built in a transaction of its own, then the run in another.
// Exit statuses: 0 done, 1 refused (the reason and its detail on standard error), 2 usage,
// 3 database.

#include "cch/config/config.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cch::admin {

int margin_model(const config::Config& config, const std::string& date, std::optional<std::int32_t> parameter_version);

int margin_run(const config::Config& config, const std::optional<std::string>& date,
               const std::vector<std::int64_t>& members);

}  // namespace cch::admin
