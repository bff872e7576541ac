#include "cch/registry_routes/routes.hpp"

#include "cch/db/transaction.hpp"
#include "cch/http/json_input.hpp"
#include "cch/core/log.hpp"
#include "cch/runtime/internal.hpp"

#include <stdexcept>
#include <string>

namespace cch::registry {

http::Response register_member_command(runtime::ServiceContext& context, const http::Request& request) {
  const auto caller = runtime::internal_caller(request);
  if (!caller) return caller.error();
  if (caller->principal.role != access::Role::operator_) {
    return http::problem(403, "forbidden", "Forbidden", "only operators register members");
  }
  auto body = http::BodyReader::open(request, {"code", "legal_name"}, {"member_id", "status", "created_at"});
  if (!body) return body.error();
  const auto code = body->text("code", 63);
  const auto legal_name = body->text("legal_name", kLegalNameLengthMax);
  if (code && !is_valid_member_code(*code)) {
    body->refuse("code", "must be 2-63 characters of a-z, 0-9 and '-', starting with a letter or digit");
  }
  if (body->failed()) return body->failure();

  return runtime::answer_command(context, request, *caller, [&](pqxx::transaction_base& tx) {
        const auto registered = register_member(tx, *code, *legal_name);
        if (!registered) {
          if (registered.error() == MemberRefusal::code_taken) {
            return http::problem(409, to_string(registered.error()), "Member code taken",
                                 "a member with this code exists with another legal name");
          }
          return http::problem(422, to_string(registered.error()), "Invalid member");
        }
        http::Response response =
            http::json_response(registered->created ? 201 : 200, member_json(registered->member));
        response.headers.emplace_back("Location", "/v1/members/" + registered->member.member_id.to_string());
        return response;
      });
}

RegistryState::RegistryState(const config::Config& config)
    : clearing_calendar(make_calendar(config.text("market.business_calendar")).value()) {
  policy.affirmation_window = std::chrono::minutes(config.integer("registry.affirmation_window_minutes"));
  policy.price_band_bp = config.integer("registry.price_band_bp");
  policy.concentration_share_bp = config.integer("registry.concentration_share_bp");
  policy.concentration_floor_gpu_hours = config.integer("registry.concentration_floor_gpu_hours");
  policy.margin_models = &margin_models;
  policy.clearing_calendar = &clearing_calendar;
}

runtime::TaskDefinition expiry_sweep_task(db::ConnectionPool& pool, const db::RetryPolicy& retry_policy,
                                          std::chrono::milliseconds interval) {
  runtime::TaskDefinition task;
  task.name = "expiry_sweep";
  task.interval = interval;
  task.run_duration_max = std::chrono::seconds(60);
  task.run = [&pool, retry_policy](runtime::TaskControl& control) {
    constexpr std::size_t kBatch = 1000;
    constexpr int kBatchesPerRunMax = 100;  // the rest at the next run
    std::size_t expired = kBatch;
    for (int batch = 0; batch < kBatchesPerRunMax && expired == kBatch && !control.stop_requested(); ++batch) {
      expired = db::run_transaction(pool, db::Isolation::read_committed, retry_policy, [&](pqxx::transaction_base& tx) {
        return expire_due_trades(tx, UtcTimestamp::now(), kBatch);
      });
      if (expired > 0) log::info("trades_expired", {{"count", expired}});
    }
  };  // a failure is logged and counted by the task; the next interval tries again
  return task;
}

namespace {

void require(const Result<runtime::TaskHandle, runtime::TaskRefusal>& added, std::string_view task) {
  if (!added) {
    throw std::logic_error("cannot add the background task " + std::string(task) + ": " +
                           std::string(runtime::to_string(added.error())));
  }
}

}  // namespace

void add_registry_routes(http::Router& router, runtime::ServiceContext& context) {
  router.add("POST", std::string(runtime::kInternalPrefix) + "/v1/members",
             [&context](const http::Request& request) { return register_member_command(context, request); });
  auto state = std::make_shared<RegistryState>(context.config);
  const auto& config = context.config;
  state->affirmation_wait = std::chrono::milliseconds(config.integer("registry.affirmation_wait_ms"));
  state->affirmations = std::make_unique<AffirmationGroups>(
      context.pool, context.retry_policy, state->policy,
      GroupCommitLimits{static_cast<std::size_t>(config.integer("registry.affirmation_group_max")),
                        static_cast<std::size_t>(config.integer("registry.affirmation_queue_max")),
                        static_cast<std::size_t>(config.integer("registry.affirmation_workers"))},
      &context.metrics, affirmation_answer);
  const auto notify_interval_ms = config.integer("outbox.notify_interval_ms");
  if (notify_interval_ms > 0) {
    state->outbox_notifier = std::make_shared<runtime::OutboxNotifier>(context.pool, context.metrics,
                                                                       std::chrono::milliseconds(notify_interval_ms));
    require(runtime::add_outbox_notifier(context.tasks, state->outbox_notifier), "outbox_notify");
  }
  add_trade_routes(router, context, state);
  require(context.tasks.add(expiry_sweep_task(
              context.pool, context.retry_policy,
              std::chrono::milliseconds(config.integer("registry.expiry_sweep_interval_ms")))),
          "expiry_sweep");
  context.routes_state = state;
}

}  // namespace cch::registry
