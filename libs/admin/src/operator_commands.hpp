#pragma once
// cch-admin member / collateral / principal / api-key: the operator's hand tools. They connect
// with database.url as a cch_writer login and call the same libraries as the services
// (libs/registry, libs/settlement, libs/api), so they obey every rule the services obey.
// `principal add` is how the first operator principal comes to exist (everything after that
// can go through the REST API).

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

struct PrincipalOptions {
  std::string name;
  std::string role;                              // member, risk_officer, auditor, operator
  std::optional<std::string> member_code;        // required for role member
  std::optional<std::string> certificate_file;   // PEM; its SHA-256 fingerprint is registered
};
int principal_add(const config::Config& config, const PrincipalOptions& options);

// Issues an API key for the principal and prints its token once.
int api_key_issue(const config::Config& config, const std::string& principal_name, const std::string& label);

// Deletes stored idempotent responses older than `hours` (the database never deletes younger
// than 24 hours, whatever is asked) and prints how many.
int purge_idempotency(const config::Config& config, int hours);

// The SHA-256 fingerprint (lower-case hex) of the DER encoding of the first certificate in a PEM
// file; nullopt if it cannot be read.
std::optional<std::string> certificate_fingerprint(const std::string& pem_file);

}  // namespace cch::admin
