// The risk service's internal routes for curve sets and marks.
#include "cch/risk_routes/curve_routes.hpp"

#include "cch/core/log.hpp"
#include "cch/core/money.hpp"
#include "cch/http/json_input.hpp"
#include "cch/runtime/internal.hpp"

#include <cmath>
#include <stdexcept>

namespace cch::risk {
namespace {

using access::Role;

template <class Handler>
http::Response staff_command(const http::Request& request, Handler&& handler) {
  const auto caller = runtime::internal_caller(request);
  if (!caller) return caller.error();
  if (caller->principal.role != Role::operator_ && caller->principal.role != Role::risk_officer) {
    return http::problem(403, "forbidden", "Forbidden", "only operators and risk officers build curves and marks");
  }
  return handler(*caller);
}

BusinessCalendar clearing_calendar(const runtime::ServiceContext& context) {
  return make_calendar(context.config.text("market.business_calendar")).value();
}

std::string cents(std::int64_t minor) { return format_amount(Money{minor, Currency::usd()}); }

}  // namespace

nlohmann::json curve_set_json(const CurveSetRecord& record) {
  nlohmann::json snapshots = nlohmann::json::array();
  for (const auto id : record.input_snapshots) snapshots.push_back(std::to_string(id));
  nlohmann::json products = nlohmann::json::array();
  for (const auto product : record.products) products.push_back(product.to_string());
  return {{"curve_set_id", std::to_string(record.curve_set_id)},
          {"business_date", record.business_date.format()},
          {"version", record.version},
          {"method_version", record.method_version},
          {"content_hash", record.content_hash},
          {"inputs", record.inputs},
          {"input_snapshot_ids", std::move(snapshots)},
          {"product_ids", std::move(products)},
          {"built_at", record.built_at.format()},
          {"built_by", record.built_by},
          {"request_id", record.request_id ? nlohmann::json(*record.request_id) : nlohmann::json(nullptr)},
          {"build_microseconds", record.build_microseconds}};
}

nlohmann::json curve_set_detail_json(const CurveSetRecord& record, const pricing::CurveSet& curves) {
  nlohmann::json json = curve_set_json(record);
  nlohmann::json nodes = nlohmann::json::array();
  for (const auto& node : curves.discount.nodes()) {
    const double years = static_cast<double>(days_between(record.business_date, node.date)) / 365.0;
    nlohmann::json item = {{"date", node.date.format()}, {"discount_factor", node.discount_factor}};
    item["zero_rate"] = years > 0 ? nlohmann::json(-std::log(node.discount_factor) / years) : nlohmann::json(nullptr);
    nodes.push_back(std::move(item));
  }
  json["discount_curve"] = {{"curve", "SOFR OIS"}, {"interpolation", "log-linear in the discount factor"},
                            {"nodes", std::move(nodes)}};
  nlohmann::json forwards = nlohmann::json::array();
  for (const auto& [product, curve] : curves.forwards) {
    forwards.push_back({{"product_id", product.to_string()},
                        {"first_day", curve.first_day().format()},
                        {"last_day", curve.last_day().format()}});
  }
  json["forward_curves"] = std::move(forwards);
  return json;
}

nlohmann::json forward_curve_json(const CurveSetRecord& record, ProductId product, const pricing::ForwardCurve& curve,
                                  BusinessDate from, BusinessDate to) {
  from = std::max(from, curve.first_day());
  to = std::min(to, curve.last_day());
  nlohmann::json points = nlohmann::json::array();
  for (BusinessDate day = from; day <= to; day = day.add_days(1).value()) {
    points.push_back({{"day", day.format()}, {"price", curve.price(day)}});
  }
  return {{"curve_set_id", std::to_string(record.curve_set_id)},
          {"business_date", record.business_date.format()},
          {"product_id", product.to_string()},
          {"first_day", curve.first_day().format()},
          {"last_day", curve.last_day().format()},
          {"price_unit", "USD per GPU-hour"},
          {"points", std::move(points)}};
}

nlohmann::json mark_run_json(const MarkRun& run) {
  nlohmann::json unmarked = nlohmann::json::array();
  for (const auto product : run.unmarked_products) unmarked.push_back(product.to_string());
  return {{"curve_set_id", std::to_string(run.curve_set_id)},
          {"business_date", run.business_date.format()},
          {"legs_marked", run.legs_marked},
          {"legs_unmarked", run.legs_unmarked},
          {"unmarked_product_ids", std::move(unmarked)},
          {"total_mark", cents(run.pv_total_minor)},
          {"currency", "USD"},
          {"started_at", run.started_at.format()},
          {"finished_at", run.finished_at.format()}};
}

nlohmann::json member_marks_json(const CurveSetRecord& record, MemberId member, const std::vector<MemberMark>& marks) {
  nlohmann::json items = nlohmann::json::array();
  Int128 total = 0;
  for (const auto& mark : marks) {
    items.push_back({{"product_id", mark.product.to_string()},
                     {"legs", mark.legs},
                     {"net_gpu_hours", mark.gpu_hours},
                     {"mark", cents(mark.pv_minor)}});
    total += mark.pv_minor;
  }
  return {{"member_id", member.to_string()},
          {"curve_set_id", std::to_string(record.curve_set_id)},
          {"business_date", record.business_date.format()},
          {"content_hash", record.content_hash},
          {"currency", "USD"},
          {"items", std::move(items)},
          {"total_mark", cents(static_cast<std::int64_t>(total))}};
}

nlohmann::json verification_json(const Verification& verification) {
  return {{"curve_set_id", std::to_string(verification.curve_set_id)},
          {"stored_hash", verification.stored_hash},
          {"rebuilt_hash", verification.rebuilt_hash},
          {"stored_curves_hash", verification.stored_curves_hash},
          {"verified", verification.same()}};
}

http::Response curve_set_refusal(const CurveSetError& error) {
  const std::string reason(to_string(error.refusal));
  if (error.refusal == CurveSetRefusal::unknown_curve_set) return http::problem(404, reason, "Not found", error.detail);
  return http::problem(422, reason, "Curve set refused", error.detail);
}

http::Response build_curve_set_command(runtime::ServiceContext& context, const http::Request& request,
                                       runtime::OutboxNotifier* notifier) {
  return staff_command(request, [&](const runtime::InternalCaller& caller) {
    auto body = http::BodyReader::open(request, {"business_date"},
                                       {"curve_set_id", "version", "content_hash", "inputs", "built_at", "built_by"});
    if (!body) return body.error();
    const auto date = body->date("business_date");
    if (body->failed()) return body->failure();
    const BuildRequest build{*date, clearing_calendar(context), BusinessDate::containing(UtcTimestamp::now()),
                             caller.principal.name, caller.request_id.value()};
    bool created = false;
    auto answer = runtime::answer_command(context, request, caller, [&](pqxx::transaction_base& tx) {
      const auto built = build_curve_set(tx, build);
      created = built && built->created;
      if (!built) return curve_set_refusal(built.error());
      nlohmann::json json = curve_set_detail_json(built->record, built->curves);
      json["created"] = built->created;
      http::Response response = http::json_response(built->created ? 201 : 200, json);
      response.headers.emplace_back("Location", "/v1/curve-sets/" + std::to_string(built->record.curve_set_id));
      return response;
    });
    if (created && answer.status == 201 && notifier != nullptr) notifier->events_committed();
    return answer;
  });
}

http::Response mark_run_command(runtime::ServiceContext& context, const http::Request& request) {
  return staff_command(request, [&](const runtime::InternalCaller& caller) {
    const auto id = request.path_id("curve_set_id");
    if (!id) return curve_set_refusal({CurveSetRefusal::unknown_curve_set, "no such curve set"});
    auto body = http::BodyReader::open(request, {}, {"curve_set_id", "legs_marked"}, /*allow_empty_body=*/true);
    if (!body) return body.error();
    const auto calendar = clearing_calendar(context);
    return runtime::answer_command(context, request, caller, [&](pqxx::transaction_base& tx) {
      const auto marked = mark_open_legs(tx, *id, calendar);
      if (!marked) {
        if (marked.error().refusal == MarkRefusal::unknown_curve_set) {
          return curve_set_refusal({CurveSetRefusal::unknown_curve_set, marked.error().detail});
        }
        return http::problem(422, std::string(to_string(marked.error().refusal)), "Mark run refused",
                             marked.error().detail);
      }
      nlohmann::json json = mark_run_json(marked->run);
      json["created"] = marked->created;
      return http::json_response(marked->created ? 201 : 200, json);
    });
  });
}

void mark_built_curve_sets(pqxx::transaction_base& tx, std::span<const runtime::OutboxEvent> events,
                           const BusinessCalendar& clearing_calendar) {
  for (const auto& event : events) {
    const auto marked = mark_open_legs(tx, event.aggregate_id, clearing_calendar);
    if (marked) {
      if (marked->created) {
        log::info("mark_run_done", {{"curve_set_id", std::to_string(event.aggregate_id)},
                                    {"legs_marked", std::to_string(marked->run.legs_marked)},
                                    {"legs_unmarked", std::to_string(marked->run.legs_unmarked)}});
      }
    } else {
      // Deterministic: the same event would be refused again; an operator sees why with POST .../mark-run.
      log::error("mark_run_refused", {{"curve_set_id", std::to_string(event.aggregate_id)},
                                      {"reason", std::string(to_string(marked.error().refusal))},
                                      {"detail", marked.error().detail}});
    }
  }
}

namespace {

struct CurveRoutesState {
  std::shared_ptr<runtime::OutboxNotifier> notifier;
  std::shared_ptr<runtime::OutboxConsumer> marks;
};

void require(const Result<runtime::TaskHandle, runtime::TaskRefusal>& added, std::string_view task) {
  if (!added) {
    throw std::logic_error("cannot add the background task " + std::string(task) + ": " +
                           std::string(runtime::to_string(added.error())));
  }
}

}  // namespace

void add_curve_routes(http::Router& router, runtime::ServiceContext& context) {
  auto state = std::make_shared<CurveRoutesState>();
  const auto notify_interval_ms = context.config.integer("outbox.notify_interval_ms");
  if (notify_interval_ms > 0) {
    state->notifier = std::make_shared<runtime::OutboxNotifier>(context.pool, context.metrics,
                                                                std::chrono::milliseconds(notify_interval_ms));
    require(runtime::add_outbox_notifier(context.tasks, state->notifier), "outbox_notify");
  }
  if (context.config.boolean("risk.mark_built_curve_sets")) {
    const auto calendar = clearing_calendar(context);
    state->marks = std::make_shared<runtime::OutboxConsumer>(
        context.pool, context.metrics,
        runtime::outbox_consumer_options(context.config, "risk_marks", {"curve_set.built"}),
        [calendar](pqxx::transaction_base& tx, std::span<const runtime::OutboxEvent> events) {
          mark_built_curve_sets(tx, events, calendar);
        });
    require(runtime::add_outbox_consumer(context.tasks, state->marks), "outbox_risk_marks");
  }
  context.routes_state = state;

  const std::string prefix(runtime::kInternalPrefix);
  runtime::OutboxNotifier* notifier = state->notifier.get();
  router.add("POST", prefix + "/v1/curve-sets", [&context, notifier](const http::Request& request) {
    return build_curve_set_command(context, request, notifier);
  });
  router.add("POST", prefix + "/v1/curve-sets/{curve_set_id}/mark-run",
             [&context](const http::Request& request) { return mark_run_command(context, request); });
}

}  // namespace cch::risk
