// The list of every setting: its key, kind, default and meaning. docs/configuration.md is
// generated from this list; change both together (a test compares them).
#include "cch/config/config.hpp"

#include <array>

namespace cch::config {
namespace {

SettingSpec integer_setting(std::string key, std::int64_t default_value, std::int64_t minimum,
                            std::int64_t maximum, std::string description) {
  SettingSpec spec;
  spec.key = std::move(key);
  spec.kind = Kind::integer;
  spec.default_value = std::to_string(default_value);
  spec.minimum = minimum;
  spec.maximum = maximum;
  spec.description = std::move(description);
  return spec;
}

// An amount of USD, bounds in cents. The default is decimal text ("1000000000.00").
SettingSpec money_setting(std::string key, std::string default_value, std::int64_t minimum_minor,
                          std::int64_t maximum_minor, std::string description) {
  SettingSpec spec;
  spec.key = std::move(key);
  spec.kind = Kind::money;
  spec.default_value = std::move(default_value);
  spec.minimum = minimum_minor;
  spec.maximum = maximum_minor;
  spec.description = std::move(description);
  return spec;
}

SettingSpec string_setting(std::string key, std::string default_value, std::string description) {
  SettingSpec spec;
  spec.key = std::move(key);
  spec.kind = Kind::string;
  spec.default_value = std::move(default_value);
  spec.description = std::move(description);
  return spec;
}

SettingSpec boolean_setting(std::string key, bool default_value, std::string description) {
  SettingSpec spec;
  spec.key = std::move(key);
  spec.kind = Kind::boolean;
  spec.default_value = default_value ? "true" : "false";
  spec.description = std::move(description);
  return spec;
}

SettingSpec choice_setting(std::string key, std::string default_value, std::vector<std::string> choices,
                           std::string description) {
  SettingSpec spec;
  spec.key = std::move(key);
  spec.kind = Kind::choice;
  spec.default_value = std::move(default_value);
  spec.choices = std::move(choices);
  spec.description = std::move(description);
  return spec;
}

constexpr std::array<std::string_view, 4> kServiceNames = {"api", "registry", "risk", "settlement"};

struct ServiceDefaults {
  std::int64_t port;
  bool tls;
  std::string role;
};

ServiceDefaults defaults_for(std::string_view service) {
  if (service == "api") return {8443, true, "the public REST API (HTTPS)"};
  if (service == "registry") return {8081, false, "the registration service (internal)"};
  if (service == "risk") return {8082, false, "the risk service (internal)"};
  return {8083, false, "the settlement service (internal)"};
}

std::vector<SettingSpec> build_settings() {
  constexpr std::int64_t kMinute_ms = 60'000;
  constexpr std::int64_t kHour_ms = 60 * kMinute_ms;
  std::vector<SettingSpec> list;
  list.push_back(string_setting("database.url", "postgresql://cch@127.0.0.1:5432/cch",
                                "PostgreSQL connection URL (libpq syntax) of the shared ledger database. For a highly available "
                                "cluster, name every node and ask for the writable one: "
                                "postgresql://user@host1:5432,host2:5432,host3:5432/cch?target_session_attrs=read-write."));
  list.push_back(string_setting("database.read_url", "",
                                "Where the auditor's reports (trial balance, ledger verification, the request audit "
                                "log) may be read: a replica, e.g. every node with "
                                "target_session_attrs=prefer-standby. Their answers say where they were read and up "
                                "to when they are complete (Cch-Read-From, Cch-Data-As-Of). Empty: the primary."));
  list.push_back(integer_setting("database.pool_size", 8, 1, 256,
                                 "Most connections one process keeps open to PostgreSQL."));
  list.push_back(integer_setting("database.acquire_timeout_ms", 2000, 1, kMinute_ms,
                                 "Longest wait for a free pooled connection before the request fails."));
  list.push_back(integer_setting("database.connect_timeout_s", 5, 1, 60,
                                 "Longest wait for a new PostgreSQL connection to open."));
  list.push_back(integer_setting("database.statement_timeout_ms", 30000, 1, kHour_ms,
                                 "PostgreSQL statement_timeout for every pooled connection."));
  list.push_back(integer_setting("database.tcp_user_timeout_ms", 10000, 1000, kMinute_ms,
                                 "Longest that data sent to PostgreSQL may go unacknowledged before the connection "
                                 "counts as broken (libpq tcp_user_timeout; keepalives probe idle connections every "
                                 "few seconds): a server lost without closing its connections is noticed in seconds."));
  list.push_back(integer_setting("database.max_transaction_attempts", 5, 1, 50,
                                 "Attempts of one unit of work on serialization failure or deadlock."));
  list.push_back(boolean_setting("database.migrate_on_start", false,
                                 "Apply pending migrations at start (needs the schema owner's rights; safe when "
                                 "several start at once). Off: only check that they are applied."));

  list.push_back(choice_setting("log.level", "info", {"debug", "info", "warn", "error"}, "Lowest level logged."));
  list.push_back(choice_setting("log.format", "json", {"json", "text"},
                                "One JSON object per line (json) or human-readable lines (text), on standard error. "
                                "Warnings and errors are written at once, info and debug lines within 100 ms and at "
                                "exit: a crash may lose the last 100 ms of them (the request audit log is the durable "
                                "record of requests)."));

  list.push_back(integer_setting("http.io_threads", 2, 1, 64, "Threads doing network input and output."));
  list.push_back(integer_setting("http.worker_threads", 8, 1, 256,
                                 "Threads running request handlers (handlers may wait on PostgreSQL)."));
  list.push_back(integer_setting("http.body_limit_bytes", 1 << 20, 1024, 64 << 20,
                                 "Largest request body; a larger one gets 413."));
  list.push_back(integer_setting("http.header_limit_bytes", 16 << 10, 1024, 1 << 20,
                                 "Largest request header block; a larger one gets 431."));
  list.push_back(integer_setting("http.read_timeout_ms", 10000, 10, 10 * kMinute_ms,
                                 "Longest time to receive one whole request; a slower client is cut off."));
  list.push_back(integer_setting("http.write_timeout_ms", 10000, 10, 10 * kMinute_ms,
                                 "Longest time to send one whole response."));
  list.push_back(integer_setting("http.idle_timeout_ms", 60000, 10, kHour_ms,
                                 "Longest wait for the next request on a keep-alive connection."));
  list.push_back(integer_setting("http.handshake_timeout_ms", 5000, 10, kMinute_ms, "Longest TLS handshake."));
  list.push_back(integer_setting("http.max_connections", 1024, 1, 100000,
                                 "Most concurrent connections; further ones are closed at once."));
  list.push_back(integer_setting("http.max_queued_requests", 1024, 1, 100000,
                                 "Most requests waiting for a handler thread; further ones get 503."));
  list.push_back(integer_setting("http.shutdown_grace_ms", 10000, 0, 10 * kMinute_ms,
                                 "On SIGTERM, longest wait for requests in progress to finish."));

  list.push_back(integer_setting("tasks.stop_grace_ms", 5000, 0, 10 * kMinute_ms,
                                 "On SIGTERM, after the requests: longest wait for the background tasks (the expiry "
                                 "sweep, outbox consumers) to finish their run in progress; a task still running "
                                 "then ends the process with status 5."));
  list.push_back(integer_setting("outbox.notify_interval_ms", 5, 0, kMinute_ms,
                                 "Producing services (the registry): shortest time between two wake-ups of the "
                                 "outbox consumers (NOTIFY cch_outbox, sent after commits that wrote events, outside "
                                 "them); 0 sends none, and consumers find events by polling."));
  list.push_back(integer_setting("outbox.poll_interval_ms", 1000, 10, kHour_ms,
                                 "Outbox consumers: longest time between two reads of cch.outbox without a wake-up "
                                 "(the safety net for a lost NOTIFY)."));

  list.push_back(string_setting("tls.certificate_file", "", "PEM server certificate chain (services with tls = true)."));
  list.push_back(string_setting("tls.private_key_file", "", "PEM private key of the server certificate."));
  list.push_back(string_setting("tls.client_ca_file", "", "PEM CA certificates that sign client certificates."));
  list.push_back(choice_setting("tls.client_certificate", "optional", {"none", "optional", "required"},
                                "Whether TLS clients must present a certificate signed by tls.client_ca_file."));

  for (const std::string_view service : kServiceNames) {
    const ServiceDefaults defaults = defaults_for(service);
    const std::string section(service);
    list.push_back(string_setting(section + ".listen_address", "127.0.0.1",
                                  "Address " + defaults.role + " listens on."));
    list.push_back(integer_setting(section + ".port", defaults.port, 0, 65535,
                                   "TCP port of " + defaults.role + " (0 picks a free port)."));
    list.push_back(boolean_setting(section + ".tls", defaults.tls, "Serve HTTPS (true) or plain HTTP (false)."));
  }

  list.push_back(integer_setting("api.rate_limit_per_second", 100, 1, 1'000'000,
                                 "Requests per second each principal may make on average (token bucket refill)."));
  list.push_back(integer_setting("api.rate_limit_burst", 200, 1, 1'000'000,
                                 "Requests a principal may make at once above its average (token bucket size)."));
  list.push_back(integer_setting("api.auth_failure_burst", 20, 1, 100'000,
                                 "Failed authentication attempts a remote address may make before it is throttled "
                                 "(one more is allowed per second)."));
  list.push_back(integer_setting("api.audit_log_capacity", 10000, 10, 10'000'000,
                                 "Requests in progress or awaiting their audit-log row; beyond it requests get 503."));
  list.push_back(integer_setting("api.api_key_hash_iterations", 100000, 1000, 10'000'000,
                                 "PBKDF2-SHA256 iterations for new API keys (about 70 ms of CPU at 100,000)."));
  list.push_back(integer_setting("api.credential_cache_ttl_s", 30, 1, 3600,
                                 "Seconds a process remembers a credential's principal; a revocation made through "
                                 "another process takes effect within this time."));
  list.push_back(integer_setting("api.forward_timeout_ms", 10000, 10, 10 * kMinute_ms,
                                 "Longest wait for the owning service to answer a forwarded command."));
  list.push_back(integer_setting("registry.affirmation_window_minutes", 60, 1, 7 * 24 * 60,
                                 "Minutes a submitted trade waits for its counterparty's affirmation before it "
                                 "expires."));
  list.push_back(integer_setting("registry.expiry_sweep_interval_ms", 1000, 10, kHour_ms,
                                 "How often the registry expires trades past their affirmation window."));
  list.push_back(integer_setting("registry.affirmation_group_max", 64, 1, 256,
                                 "Group commit: most affirmations decided in one transaction."));
  list.push_back(integer_setting("registry.affirmation_queue_max", 1024, 1, 100000,
                                 "Group commit: most affirmations waiting for a group; more are answered 503."));
  list.push_back(integer_setting("registry.affirmation_workers", 1, 1, 16,
                                 "Group commit: groups decided at once. One is best when groups share members "
                                 "(they would wait for each other's locks); while it commits, the next group "
                                 "gathers."));
  list.push_back(integer_setting("registry.affirmation_wait_ms", 10000, 10, kHour_ms,
                                 "Longest wait for a queued affirmation's answer; after it the request is answered "
                                 "503 affirmation_outcome_unknown."));
  list.push_back(integer_setting("registry.price_band_bp", 2000, 1, 10000,
                                 "Fat-finger guard: the largest distance of a trade's price from the reference "
                                 "price, in basis points of the reference price."));
  list.push_back(integer_setting("registry.concentration_share_bp", 5000, 1, 10000,
                                 "Largest net position of one member in a product and delivery month, in basis "
                                 "points of that month's open interest ..."));
  list.push_back(integer_setting("registry.concentration_floor_gpu_hours", 1'000'000, 1, 1'000'000'000'000,
                                 "... applied once the open interest is at least this many GPU-hours."));
  list.push_back(boolean_setting("risk.mark_built_curve_sets", true,
                                 "cch-risk marks every open leg against each curve set built (an outbox consumer); "
                                 "false: only when asked (POST /v1/curve-sets/{id}/mark-run)."));
  list.push_back(boolean_setting("risk.margin_on_curve_set", true,
                                 "cch-risk builds the margin model of each curve set's business date and runs "
                                 "every member's initial margin against it, and again after each settlement run "
                                 "(an outbox consumer); false: only when asked (POST /v1/margin/models, "
                                 "POST /v1/margin/runs)."));
  list.push_back(boolean_setting("risk.margin_on_trade_cleared", true,
                                 "cch-risk runs the initial margin of both members of each cleared trade against "
                                 "the latest margin model (an outbox consumer, one run per batch of trades); "
                                 "false: only when asked."));
  list.push_back(integer_setting("risk.margin_trade_run_interval_ms", 1000, 0, kMinute_ms,
                                 "The runs on cleared trades are at least this far apart: the trades cleared "
                                 "meanwhile wait and are run together (the pre-trade check is exact without them; "
                                 "docs/margin.md); 0: a run as soon as trades clear."));
  list.push_back(integer_setting("risk.margin_backtest_observations", 250, 0, 2610,
                                 "After each day's margin run on a new curve set, cch-risk backtests every member's "
                                 "portfolio of the run over this many of the model's latest history dates (250: a "
                                 "year); 0: only when asked (POST /v1/margin/runs/{id}/backtests)."));
  list.push_back(choice_setting("market.business_calendar", "united_states_settlement",
                                {"weekends_only", "united_states_settlement", "united_states_sofr",
                                 "united_states_nyse", "united_kingdom", "target"},
                                "The clearing calendar: the business dates settlement prices are published for."));
  list.push_back(string_setting("market.ois_required_tenors", "1M,3M,6M,1Y,2Y,3Y",
                                "Tenors every day's SOFR OIS quotes must include (comma-separated, e.g. 1W,3M,2Y): "
                                "the discount curve reaches the longest of them."));
  list.push_back(money_setting("settlement.collateral_movement_max", "1000000000.00", 1, kAmountMinorMax,
                               "Largest single collateral deposit or withdrawal; a larger one is refused 422 "
                               "amount_too_large. At most the largest amount cch holds in an account."));
  list.push_back(boolean_setting("settlement.margin_calls", true,
                                 "cch-settlement issues margin calls from every margin run (an outbox consumer of "
                                 "margin.run_completed) and marks calls past their deadline overdue."));
  list.push_back(integer_setting("settlement.margin_call_deadline_minutes", 120, 1, 10080,
                                 "How long a member has to meet a margin call from its issue."));
  list.push_back(integer_setting("settlement.daily_run_minute_utc", -1, -1, 1439,
                                 "The minute of the day (UTC) after which cch-settlement settles each business day "
                                 "by itself, e.g. 1320 for 22:00 (checked every minute, retried until the day's "
                                 "prices are in); -1: only when asked (POST /v1/settlement/runs, cch-admin settle)."));
  list.push_back(integer_setting("settlement.buy_in_penalty_bps", 1000, 0, 10000,
                                 "The penalty a seller pays on GPU-hours it failed to deliver, in basis points of the "
                                 "day's buy-in index fixing, on top of the index's excess over the contract price."));
  list.push_back(integer_setting("settlement.delivery_fee_ticks_per_gpu_hour", 0, 0, 10000,
                                 "The settlement fee each side of a trade pays when a settlement run settles it, per "
                                 "GPU-hour settled (all of a cash-settled contract's, those delivered of a physical "
                                 "one), in price ticks (10 = 0.0010 USD)."));
  list.push_back(integer_setting("settlement.margin_call_check_interval_ms", 10000, 100, 3600000,
                                 "How often cch-settlement marks margin calls past their deadline overdue."));
  list.push_back(string_setting("internal.ca_file", "",
                                "PEM CA of internal services' certificates (when a service sets tls = true)."));
  list.push_back(string_setting("internal.client_certificate_file", "",
                                "PEM client certificate the api presents to internal services over TLS."));
  list.push_back(string_setting("internal.client_key_file", "", "PEM key of internal.client_certificate_file."));

  list.push_back(string_setting("admin.ca_file", "", "cch-admin: PEM CA that signed the services' certificates."));
  list.push_back(string_setting("admin.client_certificate_file", "",
                                "cch-admin: PEM client certificate presented to HTTPS services."));
  list.push_back(string_setting("admin.client_key_file", "", "cch-admin: PEM key of admin.client_certificate_file."));
  list.push_back(integer_setting("admin.request_timeout_ms", 5000, 10, 10 * kMinute_ms,
                                 "cch-admin: longest wait for one service to answer."));
  return list;
}

}  // namespace

std::span<const SettingSpec> all_settings() {
  static const std::vector<SettingSpec> settings = build_settings();
  return settings;
}

std::span<const std::string_view> service_names() { return kServiceNames; }

}  // namespace cch::config
