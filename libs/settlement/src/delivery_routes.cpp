// Deliveries through the api: the seller's report, the buyer's answer, a risk officer's decision
// (routes.hpp lists them), and the JSON and CSV forms the api's reads share.
#include "cch/settlement/routes.hpp"

#include "cch/core/money.hpp"
#include "cch/core/price.hpp"
#include "cch/http/json_input.hpp"
#include "cch/runtime/internal.hpp"

namespace cch::settlement {
namespace {

// A day's GPU-hours are at most 24 x the largest GPU count a trade has.
constexpr std::int64_t kDeliveryGpuHoursMax = 1'000'000'000;

std::string usd(std::int64_t cents) { return format_amount(Money{cents, Currency::usd()}); }
std::string price(std::int64_t ticks) { return PricePerGpuHour{ticks}.format(); }

http::Response not_found() { return http::problem(404, "not_found", "Not found", "no such object"); }

std::optional<BusinessDate> path_day(const http::Request& request) {
  const auto text = request.path_param("delivery_day");
  if (!text) return std::nullopt;
  const auto day = BusinessDate::parse(*text);
  if (!day) return std::nullopt;
  return *day;
}

DeliveryActor actor_of(const runtime::InternalCaller& caller) {
  return DeliveryActor{caller.principal.role == access::Role::member ? caller.principal.member : std::nullopt,
                       caller.principal.name, caller.request_id.value()};
}

}  // namespace

nlohmann::json delivery_day_json(const DeliveryDay& day) {
  nlohmann::json json{{"delivery_day", day.day.format()}, {"contract_gpu_hours", day.contract_gpu_hours}};
  json["report"] = day.reported_gpu_hours
                       ? nlohmann::json{{"delivered_gpu_hours", *day.reported_gpu_hours},
                                        {"reported_at", day.reported_at->format()}}
                       : nlohmann::json(nullptr);
  json["answer"] = day.answer
                       ? nlohmann::json{{"answer", *day.answer},
                                        {"buyer_gpu_hours", day.buyer_gpu_hours ? nlohmann::json(*day.buyer_gpu_hours)
                                                                                : nlohmann::json(nullptr)},
                                        {"reason", day.dispute_reason ? nlohmann::json(*day.dispute_reason)
                                                                      : nlohmann::json(nullptr)}}
                       : nlohmann::json(nullptr);
  json["decision"] =
      day.decided_gpu_hours
          ? nlohmann::json{{"delivered_gpu_hours", *day.decided_gpu_hours},
                           {"reason", *day.decision_reason},
                           {"decided_by", *day.decided_by},
                           {"journal_id", day.decision_journal ? nlohmann::json(day.decision_journal->to_string())
                                                               : nlohmann::json(nullptr)}}
          : nlohmann::json(nullptr);
  json["settlement"] =
      day.run_id ? nlohmann::json{{"run_id", std::to_string(*day.run_id)},
                                  {"basis", *day.basis},
                                  {"delivered_gpu_hours", day.delivered_gpu_hours},
                                  {"disputed_gpu_hours", day.disputed_gpu_hours},
                                  {"shortfall_gpu_hours", day.shortfall_gpu_hours},
                                  {"index_price", day.index_ticks ? nlohmann::json(price(*day.index_ticks))
                                                                  : nlohmann::json(nullptr)},
                                  {"escrow", usd(day.escrow_minor)}}
                 : nlohmann::json(nullptr);
  return json;
}

nlohmann::json trade_delivery_json(const TradeDelivery& d) {
  return {{"run_id", std::to_string(d.run_id)},
          {"trade_id", d.trade.to_string()},
          {"product_id", d.product.to_string()},
          {"buyer_member_id", d.buyer.to_string()},
          {"seller_member_id", d.seller.to_string()},
          {"settlement", d.settlement},
          {"price", price(d.price_ticks)},
          {"contract_gpu_hours", d.contract_gpu_hours},
          {"delivered_gpu_hours", d.delivered_gpu_hours},
          {"disputed_gpu_hours", d.disputed_gpu_hours},
          {"shortfall_gpu_hours", d.shortfall_gpu_hours},
          {"index_tick_gpu_hours", d.index_tick_gpu_hours ? nlohmann::json(*d.index_tick_gpu_hours)
                                                           : nlohmann::json(nullptr)},
          {"buy_in_index", d.buy_in_index ? nlohmann::json(*d.buy_in_index) : nlohmann::json(nullptr)},
          {"buy_in_penalty_bps", d.buy_in_penalty_bps},
          {"cash_settlement", usd(d.cash_settlement_minor)},
          {"payment", usd(d.payment_minor)},
          {"escrow", usd(d.escrow_minor)},
          {"buy_in", usd(d.buy_in_minor)},
          {"fee_per_gpu_hour", price(d.fee_ticks_per_gpu_hour)},
          {"fee", usd(d.fee_minor)}};
}

std::string trade_deliveries_csv(std::span<const TradeDelivery> deliveries) {
  std::string csv =
      "run_id,trade_id,product_id,buyer_member_id,seller_member_id,settlement,price,contract_gpu_hours,"
      "delivered_gpu_hours,disputed_gpu_hours,shortfall_gpu_hours,index_tick_gpu_hours,buy_in_index,"
      "buy_in_penalty_bps,cash_settlement,payment,escrow,buy_in,fee_per_gpu_hour,fee\n";
  for (const auto& d : deliveries) {
    csv += std::to_string(d.run_id) + "," + d.trade.to_string() + "," + d.product.to_string() + "," +
           d.buyer.to_string() + "," + d.seller.to_string() + "," + d.settlement + "," + price(d.price_ticks) + "," +
           std::to_string(d.contract_gpu_hours) + "," + std::to_string(d.delivered_gpu_hours) + "," +
           std::to_string(d.disputed_gpu_hours) + "," + std::to_string(d.shortfall_gpu_hours) + "," +
           d.index_tick_gpu_hours.value_or("") + "," + d.buy_in_index.value_or("") + "," +
           std::to_string(d.buy_in_penalty_bps) + "," + usd(d.cash_settlement_minor) + "," + usd(d.payment_minor) +
           "," + usd(d.escrow_minor) + "," + usd(d.buy_in_minor) + "," + price(d.fee_ticks_per_gpu_hour) + "," +
           usd(d.fee_minor) + "\n";
  }
  return csv;
}

http::Response delivery_refusal(const DeliveryError& error) {
  const std::string reason(to_string(error.refusal));
  switch (error.refusal) {
    case DeliveryRefusal::unknown_trade:
    case DeliveryRefusal::unknown_product: return not_found();
    case DeliveryRefusal::not_the_seller:
    case DeliveryRefusal::not_the_buyer: return http::problem(403, reason, "Not this party's to do", error.detail);
    case DeliveryRefusal::already_reported:
    case DeliveryRefusal::already_answered:
    case DeliveryRefusal::already_decided:
    case DeliveryRefusal::trade_settled: return http::problem(409, reason, "Already done", error.detail);
    case DeliveryRefusal::not_physically_settled:
    case DeliveryRefusal::day_outside_window:
    case DeliveryRefusal::day_not_begun:
    case DeliveryRefusal::delivered_exceeds_contract:
    case DeliveryRefusal::not_reported:
    case DeliveryRefusal::invalid_dispute:
    case DeliveryRefusal::not_disputed:
    case DeliveryRefusal::decision_out_of_range:
    case DeliveryRefusal::invalid_reason:
    case DeliveryRefusal::unknown_index: break;
  }
  return http::problem(422, reason, "Delivery refused", error.detail);
}

http::Response delivery_command(runtime::ServiceContext& context, const http::Request& request,
                                std::string_view action) {
  const auto caller = runtime::internal_caller(request);
  if (!caller) return caller.error();
  const auto trade_id = request.path_id("trade_id");
  if (!trade_id) return not_found();
  const TradeId trade(*trade_id);
  const bool by_member = action != "decision";
  if (by_member && caller->principal.role != access::Role::member) {
    return http::problem(403, "forbidden", "Forbidden", "the trade's parties report and answer deliveries");
  }
  if (!by_member && caller->principal.role != access::Role::risk_officer) {
    return http::problem(403, "forbidden", "Forbidden", "risk officers decide delivery disputes");
  }
  const DeliveryActor actor = actor_of(*caller);
  const UtcTimestamp now = UtcTimestamp::now();
  if (action == "report") {
    auto body = http::BodyReader::open(request, {"delivery_day", "delivered_gpu_hours"}, {"report", "settlement"});
    if (!body) return body.error();
    const auto day = body->date("delivery_day");
    const auto hours = body->integer("delivered_gpu_hours", 0, kDeliveryGpuHoursMax);
    if (body->failed()) return body->failure();
    return runtime::answer_command(context, request, *caller, [&](pqxx::transaction_base& tx) {
      const auto reported = report_delivery(tx, trade, *day, *hours, actor, now);
      if (!reported) return delivery_refusal(reported.error());
      http::Response response = http::json_response(201, delivery_day_json(*reported));
      response.headers.emplace_back("Location", "/v1/trades/" + trade.to_string() + "/deliveries");
      return response;
    });
  }
  const auto day = path_day(request);
  if (!day) return not_found();
  if (action == "confirm") {
    auto body = http::BodyReader::open(request, {}, {"answer", "report"}, /*allow_empty_body=*/true);
    if (!body) return body.error();
    return runtime::answer_command(context, request, *caller, [&](pqxx::transaction_base& tx) {
      const auto confirmed = confirm_delivery(tx, trade, *day, actor);
      if (!confirmed) return delivery_refusal(confirmed.error());
      return http::json_response(200, delivery_day_json(*confirmed));
    });
  }
  const bool dispute = action == "dispute";
  auto body = dispute ? http::BodyReader::open(request, {"buyer_gpu_hours", "reason"}, {"answer", "report"})
                      : http::BodyReader::open(request, {"delivered_gpu_hours", "reason"}, {"decision", "settlement"});
  if (!body) return body.error();
  const auto hours = body->integer(dispute ? "buyer_gpu_hours" : "delivered_gpu_hours", 0, kDeliveryGpuHoursMax);
  const auto reason = body->text("reason", kDeliveryReasonLengthMax);
  if (body->failed()) return body->failure();
  return runtime::answer_command(context, request, *caller, [&](pqxx::transaction_base& tx) {
    const auto answered = dispute ? dispute_delivery(tx, trade, *day, *hours, *reason, actor)
                                  : decide_dispute(tx, trade, *day, *hours, *reason, actor, now);
    if (!answered) return delivery_refusal(answered.error());
    return http::json_response(200, delivery_day_json(*answered));
  });
}

http::Response buy_in_index_command(runtime::ServiceContext& context, const http::Request& request) {
  const auto caller = runtime::internal_caller(request);
  if (!caller) return caller.error();
  if (caller->principal.role != access::Role::operator_ && caller->principal.role != access::Role::risk_officer) {
    return http::problem(403, "forbidden", "Forbidden", "operators and risk officers set buy-in indices");
  }
  const auto product_id = request.path_id("product_id");
  if (!product_id) return not_found();
  auto body = http::BodyReader::open(request, {"index"}, {"product_id", "version"});
  if (!body) return body.error();
  const auto index = body->text("index", 64);
  if (body->failed()) return body->failure();
  return runtime::answer_command(context, request, *caller, [&](pqxx::transaction_base& tx) {
    const auto version = set_buy_in_index(tx, ProductId(*product_id), *index, caller->principal.name);
    if (!version) return delivery_refusal(version.error());
    return http::json_response(
        200, {{"product_id", std::to_string(*product_id)}, {"index", *index}, {"version", *version}});
  });
}

}  // namespace cch::settlement
