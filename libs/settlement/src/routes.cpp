#include "cch/settlement/routes.hpp"

#include "cch/core/decimal.hpp"
#include "cch/core/log.hpp"
#include "cch/db/transaction.hpp"
#include "cch/http/json_input.hpp"
#include "cch/ledger/journal.hpp"
#include "cch/runtime/internal.hpp"
#include "cch/settlement/margin_calls.hpp"

#include <stdexcept>

namespace cch::settlement {
namespace {

std::optional<MemberId> path_member(const http::Request& request) {
  const auto id = request.path_id("member_id");
  return id ? std::optional<MemberId>(MemberId(*id)) : std::nullopt;
}

http::Response not_found() { return http::problem(404, "not_found", "Not found", "no such object"); }

// The largest single deposit or withdrawal (a setting).
Money movement_max(const runtime::ServiceContext& context) {
  return context.config.money("settlement.collateral_movement_max");
}

http::Response staff_only() {
  return http::problem(403, "forbidden", "Forbidden", "only operators record collateral movements");
}

}  // namespace

nlohmann::json withdrawal_json(const Withdrawal& withdrawal) {
  nlohmann::json json = {{"withdrawal_id", std::to_string(withdrawal.withdrawal_id)},
                         {"member_id", withdrawal.member.to_string()},
                         {"amount", format_amount(withdrawal.amount)},
                         {"currency", std::string(withdrawal.amount.currency.code())},
                         {"status", withdrawal.status},
                         {"requested_at", withdrawal.requested_at.format()},
                         {"requested_by", withdrawal.requested_by},
                         {"decided_at", nullptr},
                         {"decided_by", nullptr},
                         {"decision_note", nullptr},
                         {"journal_id", nullptr}};
  if (withdrawal.decided_at) json["decided_at"] = withdrawal.decided_at->format();
  if (withdrawal.decided_by) json["decided_by"] = *withdrawal.decided_by;
  if (withdrawal.decision_note) json["decision_note"] = *withdrawal.decision_note;
  if (withdrawal.journal_id) json["journal_id"] = withdrawal.journal_id->to_string();
  return json;
}

nlohmann::json margin_call_json(const MarginCall& call) {
  return {{"call_id", std::to_string(call.call_id)},
          {"member_id", call.member.to_string()},
          {"run_id", std::to_string(call.run_id)},
          {"business_date", call.business_date.format()},
          {"requirement", format_amount(call.requirement)},
          {"collateral", format_amount(call.collateral)},
          {"amount", format_amount(call.amount)},
          {"currency", std::string(call.amount.currency.code())},
          {"issued_at", call.issued_at.format()},
          {"deadline", call.deadline.format()},
          {"state", std::string(to_string(call.state))},
          {"closed_at", call.closed_at ? nlohmann::json(call.closed_at->format()) : nlohmann::json(nullptr)}};
}

std::string margin_calls_csv(std::span<const MarginCall> calls) {
  std::string out =
      "call_id,member_id,run_id,business_date,requirement,collateral,amount,currency,issued_at,deadline,state,"
      "closed_at\n";
  for (const MarginCall& call : calls) {
    out += std::to_string(call.call_id) + "," + call.member.to_string() + "," + std::to_string(call.run_id) + "," +
           call.business_date.format() + "," + format_amount(call.requirement) + "," + format_amount(call.collateral) +
           "," + format_amount(call.amount) + "," + std::string(call.amount.currency.code()) + "," +
           call.issued_at.format() + "," + call.deadline.format() + "," + std::string(to_string(call.state)) + "," +
           (call.closed_at ? call.closed_at->format() : std::string()) + "\n";
  }
  return out;
}

http::Response refusal_response(CollateralRefusal refusal) {
  switch (refusal) {
    case CollateralRefusal::unknown_member:
    case CollateralRefusal::withdrawal_not_found:
      return http::problem(404, to_string(refusal), "Not found", "no such object");
    case CollateralRefusal::bank_reference_reused:
      return http::problem(409, to_string(refusal), "Bank reference reused",
                           "this bank reference was recorded for another member or amount");
    case CollateralRefusal::withdrawal_already_decided:
      return http::problem(409, to_string(refusal), "Withdrawal already decided",
                           "only a requested withdrawal may be approved, rejected or cancelled");
    case CollateralRefusal::insufficient_collateral:
      return http::problem(422, to_string(refusal), "Insufficient collateral",
                           "the amount exceeds the collateral held less the withdrawals already requested");
    case CollateralRefusal::member_not_active:
      return http::problem(422, to_string(refusal), "Member not active", "the member is suspended or closed");
    case CollateralRefusal::amount_too_large:
      return http::problem(422, to_string(refusal), "Amount too large",
                           "the amount is more than the largest collateral movement");
    case CollateralRefusal::balance_limit_exceeded:
      return http::problem(422, to_string(refusal), "Balance limit exceeded",
                           "the movement would take an account of the ledger beyond the largest balance, " +
                               format_amount(Money{ledger::kBalanceMinorMax, Currency::usd()}) + " USD");
    case CollateralRefusal::invalid_amount:
    case CollateralRefusal::invalid_bank_reference:
    case CollateralRefusal::invalid_note:
      break;
  }
  return http::problem(422, to_string(refusal), "Invalid request");
}

http::Response record_deposit_command(runtime::ServiceContext& context, const http::Request& request) {
  const auto caller = runtime::internal_caller(request);
  if (!caller) return caller.error();
  if (caller->principal.role != access::Role::operator_) return staff_only();
  const auto member = path_member(request);
  if (!member) return not_found();
  auto body = http::BodyReader::open(request, {"amount", "currency", "bank_reference", "business_date"},
                                     {"member_id", "journal_id", "status", "balance", "collateral_held"});
  if (!body) return body.error();
  const Money largest = movement_max(context);
  const auto amount = body->positive_money("amount", "currency", largest.amount_minor);
  const auto reference = body->text("bank_reference", kBankReferenceLengthMax);
  const BusinessDate business_date =
      body->date("business_date", /*required=*/false).value_or(BusinessDate::containing(UtcTimestamp::now()));
  if (body->failed()) return body->failure();

  const DepositRequest deposit{*member, *amount, *reference, business_date, caller->request_id, largest};
  return runtime::answer_command(context, request, *caller, [&](pqxx::transaction_base& tx) {
    const auto recorded = record_deposit(tx, deposit);
    if (!recorded) return refusal_response(recorded.error());
    nlohmann::json json = {{"member_id", member->to_string()},
                           {"amount", format_amount(*amount)},
                           {"currency", std::string(amount->currency.code())},
                           {"bank_reference", *reference},
                           {"business_date", business_date.format()},
                           {"journal_id", recorded->journal_id.to_string()},
                           {"collateral_held", format_amount(recorded->collateral_held)},
                           {"replayed", recorded->replayed}};
    return http::json_response(recorded->replayed ? 200 : 201, json);
  });
}

http::Response request_withdrawal_command(runtime::ServiceContext& context, const http::Request& request,
                                          const registry::RegistrationPolicy* margin_policy) {
  const auto caller = runtime::internal_caller(request);
  if (!caller) return caller.error();
  const auto member = path_member(request);
  // Only the member itself asks for its money back; anyone else sees no such member.
  if (!member || caller->principal.role != access::Role::member || caller->principal.member != *member) {
    return not_found();
  }
  const auto key = request.header("Idempotency-Key");
  if (!key) {
    return http::problem(400, "idempotency_key_required", "Idempotency-Key required",
                         "every POST carries an Idempotency-Key header");
  }
  auto body = http::BodyReader::open(request, {"amount", "currency"},
                                     {"member_id", "withdrawal_id", "status", "journal_id", "requested_by",
                                      "requested_at", "decided_at", "decided_by", "balance", "collateral_held"});
  if (!body) return body.error();
  const Money largest = movement_max(context);
  const auto amount = body->positive_money("amount", "currency", largest.amount_minor);
  if (body->failed()) return body->failure();
  const WithdrawalRequest withdrawal{*member,           *amount, caller->principal.name, std::string(*key),
                                     caller->request_id, largest, margin_policy};
  return runtime::answer_command(context, request, *caller, [&](pqxx::transaction_base& tx) {
    const auto created = request_withdrawal(tx, withdrawal);
    if (!created) return refusal_response(created.error());
    http::Response response = http::json_response(201, withdrawal_json(*created));
    response.headers.emplace_back("Location", "/v1/collateral-withdrawals/" + std::to_string(created->withdrawal_id));
    return response;
  });
}

http::Response decide_withdrawal_command(runtime::ServiceContext& context, const http::Request& request,
                                         std::string_view decision) {
  const auto caller = runtime::internal_caller(request);
  if (!caller) return caller.error();
  const auto withdrawal_id = request.path_id("withdrawal_id");
  if (!withdrawal_id) return not_found();
  const bool by_member = decision == "cancel";
  if (by_member != (caller->principal.role == access::Role::member)) {
    if (caller->principal.role == access::Role::member) return not_found();
    return http::problem(403, "forbidden", "Forbidden",
                         by_member ? "only the member cancels its request" : "only operators decide withdrawals");
  }
  if (!by_member && caller->principal.role != access::Role::operator_) return staff_only();
  auto body = http::BodyReader::open(request, {"note"}, {"status", "decided_by", "decided_at", "journal_id", "amount"},
                                     /*allow_empty_body=*/true);
  if (!body) return body.error();
  const auto note = body->text("note", kDecisionNoteLengthMax, /*required=*/decision == "reject");
  if (body->failed()) return body->failure();
  const Decision decided{*withdrawal_id, caller->principal.name, note, BusinessDate::containing(UtcTimestamp::now()),
                         caller->request_id};
  return runtime::answer_command(context, request, *caller, [&](pqxx::transaction_base& tx) {
    const auto result = [&]() -> Result<Withdrawal, CollateralRefusal> {
      if (decision == "approve") return approve_withdrawal(tx, decided);
      if (decision == "reject") return reject_withdrawal(tx, decided);
      return cancel_withdrawal(tx, decided, *caller->principal.member);
    }();
    if (!result) return refusal_response(result.error());
    return http::json_response(200, withdrawal_json(*result));
  });
}

namespace {

std::string usd(std::int64_t cents) { return format_amount(Money{cents, Currency::usd()}); }
nlohmann::json optional_id(const std::optional<std::int64_t>& id) {
  return id ? nlohmann::json(std::to_string(*id)) : nlohmann::json(nullptr);
}

}  // namespace

nlohmann::json settlement_run_json(const SettlementRun& run) {
  nlohmann::json steps = nlohmann::json::array();
  for (const StepRecord& step : run.steps) {
    steps.push_back({{"step", std::string(to_string(step.step))},
                     {"started_at", step.started_at.format()},
                     {"finished_at", step.finished_at.format()},
                     {"duration_ms", (step.finished_at.unix_microseconds() - step.started_at.unix_microseconds()) / 1000},
                     {"counts", nlohmann::json::parse(step.counts)}});
  }
  nlohmann::json fallbacks = nlohmann::json::array();
  for (const RunPriceFallback& fallback : run.price_fallbacks) {
    nlohmann::json days = nlohmann::json::array();
    for (const DayRange& range : fallback.days) {
      days.push_back({{"first_day", range.first_day.format()}, {"last_day", range.last_day.format()}});
    }
    fallbacks.push_back({{"product_id", fallback.product.to_string()},
                         {"fallback_id", std::to_string(fallback.fallback_id)},
                         {"days", std::move(days)},
                         {"day_count", fallback.day_count},
                         {"legs", fallback.legs}});
  }
  return {{"run_id", std::to_string(run.run_id)},
          {"business_date", run.business_date.format()},
          {"attempt", run.attempt},
          {"state", std::string(to_string(run.state))},
          {"curve_set_id", std::to_string(run.curve_set_id)},
          {"previous_run_id", optional_id(run.previous_run_id)},
          {"previous_curve_set_id", optional_id(run.previous_curve_set_id)},
          {"ois_snapshot_id", std::to_string(run.ois_snapshot_id)},
          {"overnight_tenor", run.overnight_tenor},
          {"overnight_rate", format_scaled_decimal(run.overnight_rate_e8, 8)},
          {"interest_days", run.interest_days},
          {"interest_rate", format_scaled_decimal(run.interest_rate_e8, 8)},
          {"cut_off", run.cut_off.format()},
          {"started_at", run.started_at.format()},
          {"started_by", run.started_by},
          {"request_id", run.request_id ? nlohmann::json(*run.request_id) : nlohmann::json(nullptr)},
          {"completed_at", run.completed_at ? nlohmann::json(run.completed_at->format()) : nlohmann::json(nullptr)},
          {"reversed_at", run.reversed_at ? nlohmann::json(run.reversed_at->format()) : nlohmann::json(nullptr)},
          {"reversed_by", run.reversed_by ? nlohmann::json(*run.reversed_by) : nlohmann::json(nullptr)},
          {"reversal_reason", run.reversal_reason ? nlohmann::json(*run.reversal_reason) : nlohmann::json(nullptr)},
          {"steps", std::move(steps)},
          {"price_fallbacks", std::move(fallbacks)}};
}

nlohmann::json price_fallback_json(const PriceFallback& fallback) {
  return {{"fallback_id", std::to_string(fallback.fallback_id)},
          {"product_id", fallback.product.to_string()},
          {"business_date", fallback.business_date.format()},
          {"method", std::string(to_string(fallback.method))},
          {"reason", fallback.reason},
          {"approved_by", fallback.approved_by},
          {"approved_at", fallback.approved_at.format()},
          {"request_id", fallback.request_id ? nlohmann::json(*fallback.request_id) : nlohmann::json(nullptr)}};
}

nlohmann::json member_variation_margin_json(const MemberVariationMargin& member) {
  return {{"member_id", member.member.to_string()},
          {"variation_margin", usd(member.vm_minor)},
          {"forward_variation_margin", usd(member.forward_vm_minor)},
          {"cumulative_forward_variation_margin", usd(member.cumulative_forward_vm_minor)},
          {"price_alignment_interest", usd(member.pai_minor)},
          {"total", usd(member.total_minor)},
          {"currency", "USD"},
          {"journal_id", member.journal ? nlohmann::json(member.journal->to_string()) : nlohmann::json(nullptr)}};
}

namespace {

// A member's figures as CSV fields, from member_id to journal_id, with the line's end.
std::string figures_csv(const MemberVariationMargin& member) {
  return member.member.to_string() + "," + usd(member.vm_minor) + "," + usd(member.forward_vm_minor) + "," +
         usd(member.cumulative_forward_vm_minor) + "," + usd(member.pai_minor) + "," + usd(member.total_minor) +
         ",USD," + (member.journal ? member.journal->to_string() : std::string()) + "\n";
}
constexpr const char* kFiguresCsvHeader =
    "member_id,variation_margin,forward_variation_margin,cumulative_forward_variation_margin,"
    "price_alignment_interest,total,currency,journal_id\n";

}  // namespace

std::string member_variation_margin_csv(std::span<const MemberVariationMargin> members, std::int64_t run_id,
                                        BusinessDate business_date) {
  std::string out = std::string("run_id,business_date,") + kFiguresCsvHeader;
  for (const MemberVariationMargin& member : members) {
    out += std::to_string(run_id) + "," + business_date.format() + "," + figures_csv(member);
  }
  return out;
}

std::string member_variation_margin_history_csv(std::span<const MemberRunVariationMargin> rows) {
  std::string out = std::string("run_id,business_date,run_state,") + kFiguresCsvHeader;
  for (const MemberRunVariationMargin& row : rows) {
    out += std::to_string(row.run_id) + "," + row.business_date.format() + "," +
           std::string(to_string(row.state)) + "," + figures_csv(row.figures);
  }
  return out;
}

nlohmann::json product_variation_margin_json(const ProductVariationMargin& product) {
  return {{"product_id", product.product.to_string()},
          {"kind", product.kind},
          {"legs", product.legs},
          {"previous_legs", product.previous_legs},
          {"mark", usd(product.pv_minor)},
          {"previous_mark", usd(product.previous_pv_minor)},
          {"variation_margin", usd(product.vm_minor)}};
}

nlohmann::json leg_variation_margin_json(const LegVariationMargin& leg) {
  return {{"trade_id", leg.trade.to_string()},
          {"side", leg.side},
          {"product_id", leg.product.to_string()},
          {"kind", leg.kind},
          {"mark", usd(leg.pv_minor)},
          {"previous_mark", usd(leg.previous_pv_minor)},
          {"variation_margin", usd(leg.vm_minor)}};
}

http::Response settle_refusal(const SettleError& error) {
  const std::string reason(to_string(error.refusal));
  switch (error.refusal) {
    case SettleRefusal::settlement_run_in_progress:
      return http::problem(409, reason, "Settlement run in progress", error.detail);
    case SettleRefusal::earlier_run_unfinished:
    case SettleRefusal::later_date_settled:
      return http::problem(409, reason, "Business dates settle in order", error.detail);
    case SettleRefusal::settlement_prices_missing:
      return http::problem(422, reason, "Settlement prices missing", error.detail);
    case SettleRefusal::date_reversed_without_correction:
      return http::problem(409, reason, "The date's run was reversed", error.detail);
    case SettleRefusal::unknown_run:
      return http::problem(404, "not_found", "Not found", "no such object");
    case SettleRefusal::run_already_reversed:
      return http::problem(409, reason, "Run already reversed", error.detail);
    case SettleRefusal::invalid_reason:
      return http::problem(422, reason, "A reason is required", error.detail);
    case SettleRefusal::index_fixings_missing:
      return http::problem(422, reason, "Index fixings missing", error.detail);
    case SettleRefusal::buy_in_price_missing:
      return http::problem(422, reason, "Buy-in price missing", error.detail);
    case SettleRefusal::disputes_decided_since:
      return http::problem(409, reason, "A dispute the run settled was decided since", error.detail);
    case SettleRefusal::unknown_product:
      return http::problem(404, "not_found", "Not found", "no such object");
    case SettleRefusal::fallback_already_approved:
      return http::problem(409, reason, "A fallback is approved already", error.detail);
    case SettleRefusal::not_a_business_date:
    case SettleRefusal::business_date_in_future:
    case SettleRefusal::no_curve_set:
    case SettleRefusal::marks_refused:
      break;
  }
  return http::problem(422, reason, "Cannot settle the date", error.detail);
}

http::Response settle_command(runtime::ServiceContext& context, const http::Request& request,
                              const BusinessCalendar& clearing_calendar) {
  const auto caller = runtime::internal_caller(request);
  if (!caller) return caller.error();
  if (caller->principal.role != access::Role::operator_) {
    return http::problem(403, "forbidden", "Forbidden", "only operators run settlement");
  }
  auto body = http::BodyReader::open(request, {"business_date"}, {"run_id", "state", "attempt", "steps"});
  if (!body) return body.error();
  const auto date = body->date("business_date");
  if (body->failed()) return body->failure();
  const auto settled = settle(context.pool, {*date, clearing_calendar, UtcTimestamp::now(), caller->principal.name,
                                             caller->request_id.value(), {},
                                             static_cast<std::int32_t>(
                                                 context.config.integer("settlement.buy_in_penalty_bps")),
                                             context.config.integer("settlement.delivery_fee_ticks_per_gpu_hour")});
  // The effect is the run's own (idempotent by date): the answer is recorded after it.
  return runtime::answer_command(context, request, *caller, [&](pqxx::transaction_base&) {
    if (!settled) return settle_refusal(settled.error());
    nlohmann::json json = settlement_run_json(settled->run);
    json["created"] = settled->created;
    json["resumed"] = settled->resumed;
    http::Response response = http::json_response(settled->created || settled->resumed ? 201 : 200, json);
    response.headers.emplace_back("Location", "/v1/settlement/runs/" + std::to_string(settled->run.run_id));
    return response;
  });
}

http::Response reverse_command(runtime::ServiceContext& context, const http::Request& request) {
  const auto caller = runtime::internal_caller(request);
  if (!caller) return caller.error();
  if (caller->principal.role != access::Role::operator_) {
    return http::problem(403, "forbidden", "Forbidden", "only operators reverse settlement runs");
  }
  const auto run_id = request.path_id("run_id");
  if (!run_id) return not_found();
  auto body = http::BodyReader::open(request, {"reason"}, {"state", "reversed_at", "reversed_by", "run_id"});
  if (!body) return body.error();
  const auto reason = body->text("reason", kReversalReasonLengthMax);
  if (body->failed()) return body->failure();
  const auto reversed = reverse_run(context.pool, {*run_id, *reason, caller->principal.name,
                                                   caller->request_id.value(), UtcTimestamp::now()});
  return runtime::answer_command(context, request, *caller, [&](pqxx::transaction_base&) {
    if (!reversed) return settle_refusal(reversed.error());
    return http::json_response(200, settlement_run_json(*reversed));
  });
}

http::Response price_fallback_command(runtime::ServiceContext& context, const http::Request& request) {
  const auto caller = runtime::internal_caller(request);
  if (!caller) return caller.error();
  if (caller->principal.role != access::Role::operator_ && caller->principal.role != access::Role::risk_officer) {
    return http::problem(403, "forbidden", "Forbidden", "operators and risk officers approve settlement price fallbacks");
  }
  const auto product_id = request.path_id("product_id");
  if (!product_id) return not_found();
  auto body = http::BodyReader::open(request, {"business_date", "method", "reason"},
                                     {"fallback_id", "product_id", "approved_by", "approved_at", "request_id"});
  if (!body) return body.error();
  const auto date = body->date("business_date");
  const auto method_text = body->text("method", 16);
  const auto reason = body->text("reason", kFallbackReasonLengthMax);
  std::optional<FallbackMethod> method;
  if (method_text) {
    method = fallback_method_of(*method_text);
    if (!method) body->refuse("method", "must be curve");
  }
  if (body->failed()) return body->failure();
  return runtime::answer_command(context, request, *caller, [&](pqxx::transaction_base& tx) {
    const auto approved = approve_price_fallback(
        tx, {ProductId(*product_id), *date, *method, *reason, caller->principal.name, caller->request_id.value()});
    if (!approved) return settle_refusal(approved.error());
    http::Response response = http::json_response(201, price_fallback_json(*approved));
    response.headers.emplace_back("Location", "/v1/products/" + std::to_string(*product_id) +
                                                  "/settlement-price-fallbacks");
    return response;
  });
}

namespace {

struct SettlementRoutesState {
  explicit SettlementRoutesState(BusinessCalendar calendar) : clearing_calendar(std::move(calendar)) {
    margin_policy.margin_models = &models;
    margin_policy.clearing_calendar = &clearing_calendar;
  }
  SettlementRoutesState(const SettlementRoutesState&) = delete;
  SettlementRoutesState& operator=(const SettlementRoutesState&) = delete;

  std::shared_ptr<runtime::OutboxConsumer> margin_calls;
  // What a withdrawal's check needs to bring a member's margin state under the latest model.
  margin::ModelCache models;
  BusinessCalendar clearing_calendar;
  registry::RegistrationPolicy margin_policy;
};

void require(const Result<runtime::TaskHandle, runtime::TaskRefusal>& added, std::string_view task) {
  if (!added) {
    throw std::logic_error("cannot add the background task " + std::string(task) + ": " +
                           std::string(runtime::to_string(added.error())));
  }
}

}  // namespace

void issue_calls_of_runs(pqxx::transaction_base& tx, std::span<const runtime::OutboxEvent> events,
                         std::chrono::minutes deadline) {
  for (const auto& event : events) {
    const auto payload = nlohmann::json::parse(event.payload, nullptr, false);
    if (payload.is_discarded() || !payload.contains("run_id")) {
      log::warn("margin_run_event_unreadable", {{"aggregate_id", event.aggregate_id}});
      continue;
    }
    const std::int64_t run_id = std::stoll(payload["run_id"].get<std::string>());
    // Calls already issued for this run's shortfalls stand (issue_margin_calls leaves an open call
    // with the same requirement): a repeated event changes nothing.
    const CallsOfRun calls = issue_margin_calls(tx, run_id, deadline, UtcTimestamp::now());
    log::info("margin_calls_of_run", {{"run_id", run_id}, {"issued", calls.issued}, {"met", calls.met},
                                      {"superseded", calls.superseded}});
  }
}

runtime::TaskDefinition overdue_calls_task(db::ConnectionPool& pool, const db::RetryPolicy& retry_policy,
                                           std::chrono::milliseconds interval) {
  runtime::TaskDefinition task;
  task.name = "margin_calls_overdue";
  task.interval = interval;
  task.run_duration_max = std::chrono::seconds(60);
  task.run = [&pool, retry_policy](runtime::TaskControl&) {
    const auto overdue = db::run_transaction(pool, db::Isolation::read_committed, retry_policy,
                                             [&](pqxx::transaction_base& tx) {
                                               return mark_overdue_margin_calls(tx, UtcTimestamp::now());
                                             });
    if (overdue > 0) log::info("margin_calls_overdue", {{"count", overdue}});
  };
  return task;
}

runtime::TaskDefinition scheduled_settlement_task(db::ConnectionPool& pool, BusinessCalendar clearing_calendar,
                                                  int run_minute_utc, std::int32_t buy_in_penalty_bps,
                                                  std::int64_t delivery_fee_ticks_per_gpu_hour) {
  runtime::TaskDefinition task;
  task.name = "settlement_schedule";
  task.interval = std::chrono::minutes(1);
  task.run_duration_max = std::chrono::minutes(30);
  task.run = [&pool, calendar = std::move(clearing_calendar), run_minute_utc,
              buy_in_penalty_bps, delivery_fee_ticks_per_gpu_hour](runtime::TaskControl&) {
    const auto done = settle_on_schedule(pool, calendar, UtcTimestamp::now(), run_minute_utc, buy_in_penalty_bps,
                                         delivery_fee_ticks_per_gpu_hour);
    if (!done) return;
    if (!*done) {
      log::warn("settlement_schedule_refused", {{"reason", std::string(to_string(done->error().refusal))},
                                                {"detail", done->error().detail}});
      return;
    }
    log::info("settlement_schedule_settled", {{"run_id", std::to_string((*done)->run.run_id)},
                                              {"business_date", (*done)->run.business_date.format()},
                                              {"resumed", (*done)->resumed ? "true" : "false"}});
  };
  return task;
}

void add_settlement_routes(http::Router& router, runtime::ServiceContext& context) {
  const std::string prefix(runtime::kInternalPrefix);
  auto state =
      std::make_shared<SettlementRoutesState>(make_calendar(context.config.text("market.business_calendar")).value());
  if (context.config.boolean("settlement.margin_calls")) {
    const std::chrono::minutes deadline(context.config.integer("settlement.margin_call_deadline_minutes"));
    state->margin_calls = std::make_shared<runtime::OutboxConsumer>(
        context.pool, context.metrics,
        runtime::outbox_consumer_options(context.config, "settlement_margin_calls", {"margin.run_completed"}),
        [deadline](pqxx::transaction_base& tx, std::span<const runtime::OutboxEvent> events) {
          issue_calls_of_runs(tx, events, deadline);
        });
    require(runtime::add_outbox_consumer(context.tasks, state->margin_calls), "outbox_settlement_margin_calls");
    require(context.tasks.add(overdue_calls_task(
                context.pool, context.retry_policy,
                std::chrono::milliseconds(context.config.integer("settlement.margin_call_check_interval_ms")))),
            "margin_calls_overdue");
  }
  if (const auto minute = context.config.integer("settlement.daily_run_minute_utc"); minute >= 0) {
    require(context.tasks.add(scheduled_settlement_task(
                context.pool, state->clearing_calendar, static_cast<int>(minute),
                static_cast<std::int32_t>(context.config.integer("settlement.buy_in_penalty_bps")),
                context.config.integer("settlement.delivery_fee_ticks_per_gpu_hour"))),
            "settlement_schedule");
  }
  context.routes_state = state;
  router.add("POST", prefix + "/v1/members/{member_id}/collateral-deposits",
             [&context](const http::Request& request) { return record_deposit_command(context, request); });
  router.add("POST", prefix + "/v1/members/{member_id}/collateral-withdrawals",
             [&context, policy = &state->margin_policy](const http::Request& request) {
               return request_withdrawal_command(context, request, policy);
             });
  router.add("POST", prefix + "/v1/trades/{trade_id}/deliveries",
             [&context](const http::Request& request) { return delivery_command(context, request, "report"); });
  for (const std::string_view action : {"confirm", "dispute", "decision"}) {
    router.add("POST", prefix + "/v1/trades/{trade_id}/deliveries/{delivery_day}/" + std::string(action),
               [&context, action](const http::Request& request) { return delivery_command(context, request, action); });
  }
  router.add("POST", prefix + "/v1/products/{product_id}/settlement-price-fallbacks",
             [&context](const http::Request& request) { return price_fallback_command(context, request); });
  router.add("POST", prefix + "/v1/products/{product_id}/buy-in-index",
             [&context](const http::Request& request) { return buy_in_index_command(context, request); });
  router.add("POST", prefix + "/v1/settlement/runs/{run_id}/reverse",
             [&context](const http::Request& request) { return reverse_command(context, request); });
  router.add("POST", prefix + "/v1/settlement/runs",
             [&context, calendar = &state->clearing_calendar](const http::Request& request) {
               return settle_command(context, request, *calendar);
             });
  for (const std::string_view decision : {"approve", "reject", "cancel"}) {
    router.add("POST", prefix + "/v1/collateral-withdrawals/{withdrawal_id}/" + std::string(decision),
               [&context, decision](const http::Request& request) {
                 return decide_withdrawal_command(context, request, decision);
               });
  }
}

}  // namespace cch::settlement
