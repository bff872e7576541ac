#pragma once
// cch-admin ledger ...: the auditor's tools. Each connects with database.url, which for an
// auditor is a login in role cch_auditor (read-only).

#include "cch/config/config.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace cch::admin {

struct VerifyOptions {
  std::optional<std::string> checkpoint_file;        // start from these checkpoints
  std::optional<std::string> write_checkpoint_file;  // write where this run ended
};
int ledger_verify(const config::Config& config, const VerifyOptions& options);

int ledger_trial_balance(const config::Config& config, const std::optional<std::string>& as_of);

int ledger_history(const config::Config& config, std::int64_t account_id, const std::optional<std::string>& cursor,
                   std::size_t limit);

int ledger_export(const config::Config& config, const std::string& from, const std::string& to,
                  const std::optional<std::string>& output_file);

}  // namespace cch::admin
