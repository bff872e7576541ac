#pragma once
// cch-admin: the operators' command-line tool.
//
//   cch-admin [--config FILE] migrate         apply pending migrations, print what was applied
//   cch-admin [--config FILE] status [--wait S] ask every service's /readyz; exit 0 if all ready
//   cch-admin [--config FILE] config check    validate, print every effective value and its origin
//   cch-admin config docs                     print the settings table of docs/configuration.md
//   cch-admin member add --code C --name N      register a member (idempotent by code)
//   cch-admin collateral deposit --member C --amount A --reference R [--business-date D]
//                                              record cash collateral received (idempotent by R)
//   cch-admin margin model --date D [--parameter-version N]           build a business date's margin model
//   cch-admin margin run [--date D] [--member ID ...]                 run members' initial margin
//   cch-admin ledger verify [--checkpoint F] [--write-checkpoint F]   recompute the hash chains
//   cch-admin ledger trial-balance [--as-of T]                        balances per currency and kind
//   cch-admin ledger history --account ID [--cursor C] [--limit N]    one account's postings (CSV)
//   cch-admin ledger export --from T --to T [--output F]              postings written in [from, to) (CSV)
//
// Exit status: 0 success, 1 the command ran and found a problem (a service not ready), 2 bad
// usage or configuration, 3 database failure. Errors are one line on standard error.
// The ledger commands are read-only; an auditor runs them with a database.url of role cch_auditor.

#include "cch/config/config.hpp"

#include <chrono>
#include <iosfwd>
#include <string>
#include <vector>

namespace cch::admin {

int run_admin(int argc, char** argv);

struct ServiceStatus {
  std::string service;
  std::string url;      // base URL, e.g. https://127.0.0.1:8443
  bool ready = false;
  std::string detail;   // the /readyz body, or the connection error
};

// Asks each service's /readyz once.
std::vector<ServiceStatus> service_statuses(const config::Config& config);

// Prints one line per service; returns true if all are ready.
bool print_statuses(const std::vector<ServiceStatus>& statuses, std::ostream& out);

}  // namespace cch::admin
