#include "cch/admin/admin.hpp"

#include "exit_status.hpp"
#include "ledger_commands.hpp"
#include "margin_commands.hpp"
#include "market_commands.hpp"
#include "operator_commands.hpp"
#include "settle_commands.hpp"

#include "cch/db/migrate.hpp"
#include "cch/db/pool.hpp"
#include "cch/http/client.hpp"
#include "cch/runtime/schema.hpp"
#include "cch/runtime/service.hpp"

#include <CLI/CLI.hpp>

#include <climits>
#include <cstdint>
#include <iomanip>
#include <iostream>
#include <optional>
#include <thread>

#ifndef CCH_VERSION
#define CCH_VERSION "0.0.0"
#endif

namespace cch::admin {
namespace {

int command_migrate(const config::Config& config) {
  try {
    db::ConnectionPool pool(runtime::pool_options_from(config, "cch-admin"));
    auto lease = pool.acquire();
    const auto report = db::migrate(*lease, runtime::schema_migrations());
    if (!report) {
      return error_line(report.error().message, kExitDatabase);
    }
    for (const std::string& name : report->applied_now) {
      std::cout << "applied " << name << "\n";
    }
    std::cout << "schema at version " << report->schema_version << " (" << report->applied_now.size()
              << " applied now)" << std::endl;
    return 0;
  } catch (const std::exception& error) {
    std::string message = error.what();
    return error_line(message.substr(0, message.find('\n')), kExitDatabase);
  }
}

int command_config_check(const config::Config& config) {
  for (const config::SettingSpec& spec : config::all_settings()) {
    std::string value;
    switch (spec.kind) {
      case config::Kind::integer: value = std::to_string(config.integer(spec.key)); break;
      case config::Kind::boolean: value = config.boolean(spec.key) ? "true" : "false"; break;
      case config::Kind::string:
      case config::Kind::choice: value = config.text(spec.key); break;
      case config::Kind::money: value = format_amount(config.money(spec.key)); break;
    }
    if (spec.key == "database.url") {
      value = db::redact_url(value);
    }
    std::cout << std::left << std::setw(34) << spec.key << " " << std::setw(12) << config.origin(spec.key) << " "
              << value << "\n";
  }
  std::cout << "configuration is valid" << std::endl;
  return 0;
}

http::ClientOptions client_options_for(const config::Config& config, const std::string& service) {
  http::ClientTlsOptions tls;
  tls.ca_file = config.text("admin.ca_file");
  tls.certificate_file = config.text("admin.client_certificate_file");
  tls.private_key_file = config.text("admin.client_key_file");
  return runtime::service_client_options(
      config, service, static_cast<std::uint32_t>(config.integer("admin.request_timeout_ms")), tls);
}

}  // namespace

std::vector<ServiceStatus> service_statuses(const config::Config& config) {
  std::vector<ServiceStatus> statuses;
  for (const std::string_view name : config::service_names()) {
    const std::string service(name);
    const http::ClientOptions options = client_options_for(config, service);
    ServiceStatus status;
    status.service = service;
    status.url = std::string(options.tls ? "https://" : "http://") + options.host + ":" + std::to_string(options.port);
    try {
      http::Client client(options);
      const auto response = client.request("GET", "/readyz");
      if (response) {
        status.ready = response->status == 200;
        status.detail = response->body;
      } else {
        status.detail = response.error().message;
      }
    } catch (const std::exception& error) {
      status.detail = error.what();
    }
    statuses.push_back(std::move(status));
  }
  return statuses;
}

bool print_statuses(const std::vector<ServiceStatus>& statuses, std::ostream& out) {
  bool all_ready = true;
  for (const ServiceStatus& status : statuses) {
    all_ready = all_ready && status.ready;
    std::string detail = status.detail.substr(0, status.detail.find('\n'));
    out << std::left << std::setw(12) << status.service << std::setw(28) << status.url
        << (status.ready ? "ready    " : "NOT READY") << "  " << detail << "\n";
  }
  out.flush();
  return all_ready;
}

int run_admin(int argc, char** argv) {
  CLI::App app{"cch-admin: operate a cch clearinghouse"};
  app.set_version_flag("--version", CCH_VERSION);
  app.require_subcommand(1);
  std::optional<std::string> config_path;
  app.add_option("-c,--config", config_path, "TOML configuration file (default: built-in defaults)")
      ->envname("CCH_CONFIG");

  auto* migrate = app.add_subcommand("migrate", "Apply pending schema migrations");
  auto* status = app.add_subcommand("status", "Ask every service whether it is ready");
  int wait_seconds = 0;
  status->add_option("--wait", wait_seconds, "Keep asking for up to this many seconds until all are ready")
      ->check(CLI::Range(0, 3600));
  auto* config_command = app.add_subcommand("config", "Configuration");
  config_command->require_subcommand(1);
  auto* config_check = config_command->add_subcommand("check", "Validate and print the effective configuration");
  auto* config_docs = config_command->add_subcommand("docs", "Print the settings table of docs/configuration.md");

  auto* member_command = app.add_subcommand("member", "Members (operator)");
  member_command->require_subcommand(1);
  auto* member_add_command = member_command->add_subcommand("add", "Register a member (idempotent by code)");
  std::string member_code;
  std::string member_name;
  member_add_command->add_option("--code", member_code, "Short code, e.g. aurora-labs")->required();
  member_add_command->add_option("--name", member_name, "Legal name")->required();
  auto* collateral_command = app.add_subcommand("collateral", "Collateral movements (operator)");
  collateral_command->require_subcommand(1);
  auto* deposit_command =
      collateral_command->add_subcommand("deposit", "Record cash collateral received (idempotent by --reference)");
  DepositOptions deposit;
  deposit_command->add_option("--member", deposit.member_code, "Member code")->required();
  deposit_command->add_option("--amount", deposit.amount, "USD amount, e.g. 1000000.00")->required();
  deposit_command->add_option("--reference", deposit.reference, "The payment's bank reference")->required();
  deposit_command->add_option("--business-date", deposit.business_date, "YYYY-MM-DD (default: today, UTC)");

  auto* principal_command = app.add_subcommand("principal", "API principals (operator)");
  principal_command->require_subcommand(1);
  auto* principal_add_command =
      principal_command->add_subcommand("add", "Create an API principal, optionally with its client certificate");
  PrincipalOptions principal;
  principal_add_command->add_option("--name", principal.name, "Principal name, e.g. ops-desk")->required();
  principal_add_command->add_option("--role", principal.role, "member, risk_officer, auditor, operator or venue")->required();
  principal_add_command->add_option("--member", principal.member_code, "Member code (role member only)");
  principal_add_command->add_option("--certificate", principal.certificate_file,
                                    "PEM client certificate whose SHA-256 fingerprint authenticates the principal");
  auto* api_key_command = app.add_subcommand("api-key", "API keys (operator)");
  api_key_command->require_subcommand(1);
  auto* api_key_issue_command = api_key_command->add_subcommand("issue", "Issue an API key; prints its token once");
  std::string key_principal;
  std::string key_label = "issued with cch-admin";
  api_key_issue_command->add_option("--principal", key_principal, "Principal name")->required();
  api_key_issue_command->add_option("--label", key_label, "What the key is for");

  auto* api_command = app.add_subcommand("api", "API housekeeping (operator)");
  api_command->require_subcommand(1);
  auto* purge_command = api_command->add_subcommand(
      "purge-idempotency", "Delete stored idempotent responses older than --older-than-hours (never under 24)");
  int purge_hours = 48;
  purge_command->add_option("--older-than-hours", purge_hours, "Age in hours (at least 24)")->check(CLI::Range(24, 24 * 3650));

  auto* market_command = app.add_subcommand("market", "Market data (operator)");
  market_command->require_subcommand(1);
  std::string import_file;
  auto* market_import_command =
      market_command->add_subcommand("import", "Import a CSV file of market data: the whole file or nothing");
  market_import_command->add_option("file", import_file, "The CSV file (docs/market-data.md)")->required();
  std::optional<std::string> calendar_name, on_or_before;
  auto* business_date_command = market_command->add_subcommand(
      "business-date", "Print the latest business date on or before a date (default: today, UTC)");
  business_date_command->add_option("--calendar", calendar_name, "A calendar (default: market.business_calendar)");
  business_date_command->add_option("--on-or-before", on_or_before, "YYYY-MM-DD (default: today, UTC)");
  DemoHistoryOptions demo_history;
  auto* demo_history_command = market_command->add_subcommand(
      "demo-history", "Write SYNTHETIC market data history (CSV) for the products in the database");
  demo_history_command->add_option("--from", demo_history.from, "First business date, YYYY-MM-DD")->required();
  demo_history_command->add_option("--to", demo_history.to, "Last business date (default: yesterday, UTC)");
  demo_history_command->add_option("--output", demo_history.output, "File to write (default: standard output)");
  demo_history_command->add_option("--seed", demo_history.seed, "The generator's seed");

  auto* margin_command = app.add_subcommand("margin", "Initial margin (risk officer, operator)");
  margin_command->require_subcommand(1);
  std::string margin_date;
  std::optional<std::int32_t> margin_parameter_version;
  auto* margin_model_command =
      margin_command->add_subcommand("model", "Build a business date's margin model (or show the one built)");
  margin_model_command->add_option("--date", margin_date, "The business date, YYYY-MM-DD")->required();
  margin_model_command->add_option("--parameter-version", margin_parameter_version,
                                   "The parameter version (default: the latest)")
      ->check(CLI::Range(1, 100000));
  std::optional<std::string> margin_run_date;
  std::vector<std::int64_t> margin_members;
  auto* margin_run_command = margin_command->add_subcommand(
      "run", "Run members' initial margin (building the date's model first if needed)");
  margin_run_command->add_option("--date", margin_run_date,
                                 "Against this business date's model, built if needed (default: the latest model)");
  margin_run_command->add_option("--member", margin_members, "A member id (repeat; default: every member with an open leg)")
      ->check(CLI::Range(std::int64_t{1}, INT64_MAX));

  std::string settle_date;
  auto* settle_command = app.add_subcommand(
      "settle", "Settle a business date (or resume its run, or show it when settled): variation margin (operator)");
  settle_command->add_option("--date", settle_date, "The business date, YYYY-MM-DD")->required();

  auto* ledger_command = app.add_subcommand("ledger", "Auditor tools (read-only)");
  ledger_command->require_subcommand(1);
  auto* ledger_verify_command = ledger_command->add_subcommand("verify", "Recompute the hash chains; exit 1 at a break");
  VerifyOptions verify_options;
  ledger_verify_command->add_option("--checkpoint", verify_options.checkpoint_file,
                                    "Start from the checkpoints in this file (written by --write-checkpoint)");
  ledger_verify_command->add_option("--write-checkpoint", verify_options.write_checkpoint_file,
                                    "Write where this run verified up to, for the next incremental run");
  auto* ledger_trial_command = ledger_command->add_subcommand("trial-balance", "Balances per currency and account kind");
  std::optional<std::string> as_of;
  ledger_trial_command->add_option("--as-of", as_of, "ISO 8601 UTC instant (default: now)");
  auto* ledger_history_command = ledger_command->add_subcommand("history", "One account's postings, newest first (CSV)");
  std::int64_t account_id = 0;
  std::optional<std::string> cursor;
  std::size_t limit = 100;
  ledger_history_command->add_option("--account", account_id, "Account id")->required();
  ledger_history_command->add_option("--cursor", cursor, "Continue after this cursor (printed at the end of a page)");
  ledger_history_command->add_option("--limit", limit, "Postings per page (1 to 1000)")->check(CLI::Range(1, 1000));
  auto* ledger_export_command = ledger_command->add_subcommand("export", "Postings written in [from, to) as CSV");
  std::string export_from;
  std::string export_to;
  std::optional<std::string> export_output;
  ledger_export_command->add_option("--from", export_from, "ISO 8601 UTC instant, inclusive")->required();
  ledger_export_command->add_option("--to", export_to, "ISO 8601 UTC instant, exclusive")->required();
  ledger_export_command->add_option("--output", export_output, "File to write (default: standard output)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }

  if (config_docs->parsed()) {
    std::cout << config::settings_markdown();
    return 0;
  }
  const auto loaded = config::Config::load(config_path, config::process_environment());
  if (!loaded) {
    return error_line(loaded.error().message, kExitUsage);
  }
  const config::Config& config = loaded.value();
  if (config_check->parsed()) {
    return command_config_check(config);
  }
  if (migrate->parsed()) {
    return command_migrate(config);
  }
  if (member_add_command->parsed()) {
    return member_add(config, member_code, member_name);
  }
  if (deposit_command->parsed()) {
    return collateral_deposit(config, deposit);
  }
  if (principal_add_command->parsed()) {
    return principal_add(config, principal);
  }
  if (api_key_issue_command->parsed()) {
    return api_key_issue(config, key_principal, key_label);
  }
  if (purge_command->parsed()) {
    return purge_idempotency(config, purge_hours);
  }
  if (market_import_command->parsed()) {
    return market_import(config, import_file);
  }
  if (business_date_command->parsed()) {
    return market_business_date(config, calendar_name, on_or_before);
  }
  if (demo_history_command->parsed()) {
    return market_demo_history(config, demo_history);
  }
  if (margin_model_command->parsed()) {
    return margin_model(config, margin_date, margin_parameter_version);
  }
  if (settle_command->parsed()) return settle(config, settle_date);
  if (margin_run_command->parsed()) {
    return margin_run(config, margin_run_date, margin_members);
  }
  if (ledger_verify_command->parsed()) {
    return ledger_verify(config, verify_options);
  }
  if (ledger_trial_command->parsed()) {
    return ledger_trial_balance(config, as_of);
  }
  if (ledger_history_command->parsed()) {
    return ledger_history(config, account_id, cursor, limit);
  }
  if (ledger_export_command->parsed()) {
    return ledger_export(config, export_from, export_to, export_output);
  }
  if (status->parsed()) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(wait_seconds);
    for (;;) {
      const auto statuses = service_statuses(config);
      const bool all_ready =
          std::all_of(statuses.begin(), statuses.end(), [](const ServiceStatus& s) { return s.ready; });
      if (all_ready || std::chrono::steady_clock::now() >= deadline) {
        return print_statuses(statuses, std::cout) ? 0 : kExitFound;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
  }
  return kExitUsage;
}

}  // namespace cch::admin
