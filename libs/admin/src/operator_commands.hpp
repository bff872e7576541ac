#pragma once
// cch-admin member / collateral: the operator's hand tools until the REST routes of issue 4
// exist. They connect with database.url as a cch_writer login and post through libs/ledger, so
// they obey every rule the services obey (idempotency keys included).

#include "cch/config/config.hpp"

#include <optional>
#include <string>

namespace cch::admin {

int member_add(const config::Config& config, const std::string& code, const std::string& legal_name);

struct DepositOptions {
  std::string member_code;
  std::string amount;     // decimal USD, e.g. "1000000.00"
  std::string reference;  // the bank's reference; names the deposit, so re-running it is harmless
  std::optional<std::string> business_date;  // YYYY-MM-DD; default: today (UTC)
};
int collateral_deposit(const config::Config& config, const DepositOptions& options);

}  // namespace cch::admin
