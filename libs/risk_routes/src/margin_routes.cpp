// The risk service's internal routes for initial margin, its outbox consumer, and the JSON and
// CSV forms of the margin model's records.
#include "cch/risk_routes/margin_routes.hpp"

#include "cch/core/log.hpp"
#include "cch/core/money.hpp"
#include "cch/core/price.hpp"
#include "cch/db/transaction.hpp"
#include "cch/http/json_input.hpp"
#include "cch/margin/buckets.hpp"
#include "cch/registry/catalog.hpp"
#include "cch/registry/members.hpp"
#include "cch/registry/products.hpp"
#include "cch/registry/trades.hpp"
#include "cch/risk/curve_sets.hpp"
#include "cch/risk/what_if.hpp"
#include "cch/runtime/internal.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <stdexcept>

namespace cch::risk {
namespace {

using access::Role;

template <class Handler>
http::Response staff_command(const http::Request& request, Handler&& handler) {
  const auto caller = runtime::internal_caller(request);
  if (!caller) return caller.error();
  if (caller->principal.role != Role::operator_ && caller->principal.role != Role::risk_officer) {
    return http::problem(403, "forbidden", "Forbidden", "only operators and risk officers build margin models and runs");
  }
  return handler(*caller);
}

BusinessCalendar clearing_calendar(const runtime::ServiceContext& context) {
  return make_calendar(context.config.text("market.business_calendar")).value();
}

std::string cents(std::int64_t minor) { return format_amount(Money{minor, Currency::usd()}); }

// How a parameter's value travels in JSON.
enum class ValueKind { integer, text, boolean };

ValueKind kind_of(std::string_view name) {
  if (name == "stress_first" || name == "stress_last" || name == "apc_mode") return ValueKind::text;
  if (name == "apc_buffer_released") return ValueKind::boolean;
  return ValueKind::integer;
}

// The names of the canonical text (spread_ticks.<id> aside), in its order.
const std::vector<std::string>& parameter_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    const std::string text = margin::serialise(margin::MarginParameters{});
    std::size_t start = 0;
    while (start < text.size()) {
      const std::size_t end = text.find('\n', start);
      const std::string line = text.substr(start, end - start);
      out.push_back(line.substr(0, line.find('=')));
      start = end + 1;
    }
    return out;
  }();
  return names;
}

http::Response parameter_problem(const std::string& name, std::string_view detail) {
  return http::field_problem("invalid_parameter", name.empty() ? "parameters" : "parameters." + name, detail);
}

// The object form of a parameter set turned into its canonical text and read by the library.
Result<margin::MarginParameters, http::Response> parameters_from_json(const nlohmann::json& object) {
  std::string text;
  for (const auto& [name, value] : object.items()) {
    if (name.empty() || name.size() > 64 || http::has_control_character(name) ||
        name.find('=') != std::string::npos) {
      return fail(http::field_problem("invalid_parameter", "parameters",
                                      "a parameter name is 1 to 64 characters without '=' or a control character"));
    }
    const auto& names = parameter_names();
    const bool known = std::find(names.begin(), names.end(), name) != names.end() || name.starts_with("spread_ticks.");
    if (!known) return fail(parameter_problem(name, "no such parameter"));
    std::string written;
    switch (kind_of(name)) {
      case ValueKind::integer:
        if (!value.is_number_integer() || (value.is_number_unsigned() && value.get<std::uint64_t>() > INT64_MAX)) {
          return fail(parameter_problem(name, "must be an integer (a JSON number without a fraction)"));
        }
        written = std::to_string(value.get<std::int64_t>());
        break;
      case ValueKind::text:
        if (!value.is_string()) return fail(parameter_problem(name, "must be a string"));
        written = value.get<std::string>();
        if (http::has_control_character(written)) {
          return fail(parameter_problem(name, "must not hold a control character"));
        }
        break;
      case ValueKind::boolean:
        if (!value.is_boolean()) return fail(parameter_problem(name, "must be true or false"));
        written = value.get<bool>() ? "true" : "false";
        break;
    }
    text += name + "=" + written + "\n";
  }
  auto parsed = margin::parse_parameters(text);
  if (!parsed) return fail(parameter_problem(parsed.error().parameter, parsed.error().detail));
  return std::move(*parsed);
}

nlohmann::json figures_of_class(const margin::ClassFigures& figures, margin::MarginClass margin_class) {
  return {{"margin_class", std::string(margin::to_string(margin_class))},
          {"es_filtered", cents(figures.es_filtered_cents)},
          {"es_stressed", cents(figures.es_stressed_cents)},
          {"expected_shortfall", cents(figures.expected_shortfall_cents)},
          {"generations_alone", cents(figures.generations_alone_cents)},
          {"diversification_benefit", cents(figures.diversification_benefit_cents)},
          {"benefit_taken", cents(figures.benefit_taken_cents)},
          {"benefit_refused", cents(figures.benefit_refused_cents)},
          {"requirement", cents(figures.requirement_cents)}};
}

std::map<ProductId, std::int32_t> product_indexes(const margin::ModelSummary& model) {
  std::map<ProductId, std::int32_t> out;
  for (const auto& product : model.products) out[product.product] = product.product_index;
  return out;
}

std::string_view bucket_label(std::size_t bucket) {
  return bucket < margin::kBucketCount ? margin::kTenorBuckets[bucket].label : std::string_view("?");
}

}  // namespace

std::string format_cents(Int128 value) {
  const bool negative = value < 0;
  UInt128 magnitude = negative ? static_cast<UInt128>(-(value + 1)) + 1 : static_cast<UInt128>(value);
  const auto fraction = static_cast<unsigned>(magnitude % 100);
  magnitude /= 100;
  std::string digits;
  do {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(magnitude % 10)));
    magnitude /= 10;
  } while (magnitude > 0);
  return (negative ? "-" : "") + digits + "." + static_cast<char>('0' + fraction / 10) +
         static_cast<char>('0' + fraction % 10);
}

nlohmann::json parameters_object_json(const margin::MarginParameters& parameters) {
  nlohmann::json object = nlohmann::json::object();
  const std::string text = margin::serialise(parameters);
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    const std::size_t equals = line.find('=');
    const std::string name = line.substr(0, equals);
    const std::string value = line.substr(equals + 1);
    switch (kind_of(name)) {
      case ValueKind::integer: object[name] = std::stoll(value); break;
      case ValueKind::text: object[name] = value; break;
      case ValueKind::boolean: object[name] = value == "true"; break;
    }
  }
  return object;
}

nlohmann::json parameter_version_json(const margin::ParameterVersion& version) {
  return {{"version", version.version},
          {"parameters", parameters_object_json(version.parameters)},
          {"text", version.text},
          {"content_hash", version.content_hash},
          {"reason", version.reason},
          {"created_by", version.created_by},
          {"created_at", version.created_at.format()}};
}

nlohmann::json model_record_json(const margin::ModelRecord& record) {
  return {{"model_id", std::to_string(record.model_id)},
          {"business_date", record.business_date.format()},
          {"version", record.version},
          {"curve_set_id", std::to_string(record.curve_set_id)},
          {"parameter_version", record.parameter_version},
          {"history",
           {{"first_date", record.history_first.format()},
            {"last_date", record.history_last.format()},
            {"dates", record.history_dates},
            {"snapshots", record.factor_snapshot_ids.size()},
            {"hash", record.factor_history_hash}}},
          {"content_hash", record.content_hash},
          {"built_at", record.built_at.format()},
          {"built_by", record.built_by},
          {"build_microseconds", record.build_microseconds}};
}

nlohmann::json model_detail_json(const margin::ModelSummary& summary, const margin::ParameterVersion& parameters) {
  nlohmann::json json = model_record_json(summary.record);
  json["stress_period"] = {{"first_date", summary.stress_first.format()},
                           {"last_date", summary.stress_last.format()},
                           {"selected", summary.stress_selected}};
  json["parameters"] = parameters_object_json(parameters.parameters);
  nlohmann::json buckets = nlohmann::json::array();
  for (std::size_t b = 0; b < margin::kBucketCount; ++b) {
    buckets.push_back({{"bucket", b},
                       {"label", std::string(margin::kTenorBuckets[b].label)},
                       {"first_day", margin::kTenorBuckets[b].first_day},
                       {"end_day", margin::kTenorBuckets[b].end_day}});
  }
  json["buckets"] = std::move(buckets);
  nlohmann::json products = nlohmann::json::array();
  for (const auto& product : summary.products) {
    products.push_back({{"product_index", product.product_index},
                        {"product_id", product.product.to_string()},
                        {"gpu_model", product.gpu_model},
                        {"generation", product.generation},
                        {"open_interest_gpu_hours", product.open_interest_gpu_hours},
                        {"spread_ticks", product.spread_ticks},
                        {"first_factor", static_cast<std::size_t>(product.product_index) * margin::kBucketCount},
                        {"forward_curve", {{"first_day", product.first_day.format()}, {"days", product.curve_days}}}});
  }
  json["products"] = std::move(products);
  json["factor_count"] = summary.factor_count();
  nlohmann::json classes = nlohmann::json::array();
  for (const auto& c : summary.classes) {
    classes.push_back({{"margin_class", std::string(margin::to_string(c.margin_class))},
                       {"mpor_days", c.mpor_days},
                       {"confidence_bp", c.confidence_bp},
                       {"filtered_scenarios", c.filtered_count},
                       {"stressed_scenarios", c.stressed_count},
                       {"filtered_tail", margin::tail_count(static_cast<std::size_t>(c.filtered_count), c.confidence_bp)},
                       {"stressed_tail", margin::tail_count(static_cast<std::size_t>(c.stressed_count), c.confidence_bp)}});
  }
  json["classes"] = std::move(classes);
  return json;
}

nlohmann::json scenarios_json(const margin::ModelSummary& summary, const margin::ScenarioSlice& slice) {
  nlohmann::json scenarios = nlohmann::json::array();
  for (const auto& date : slice.filtered_dates) scenarios.push_back({{"date", date.format()}, {"set", "filtered"}});
  for (const auto& date : slice.stressed_dates) scenarios.push_back({{"date", date.format()}, {"set", "stressed"}});
  const std::size_t n = slice.scenario_count();
  nlohmann::json factors = nlohmann::json::array();
  for (std::size_t i = 0; i < slice.factor_count; ++i) {
    const std::size_t f = slice.first_factor + i;
    const auto& product = summary.products.at(f / margin::kBucketCount);
    const auto first = slice.moves_ppb.begin() + static_cast<std::ptrdiff_t>(i * n);
    factors.push_back({{"factor", f},
                       {"product_id", product.product.to_string()},
                       {"product_index", product.product_index},
                       {"bucket", f % margin::kBucketCount},
                       {"bucket_label", std::string(bucket_label(f % margin::kBucketCount))},
                       {"moves_ppb", std::vector<std::int64_t>(first, first + static_cast<std::ptrdiff_t>(n))}});
  }
  const std::size_t next = slice.first_factor + slice.factor_count;
  nlohmann::json next_factors = nullptr;
  if (slice.factor_count > 0 && next < summary.factor_count()) {
    next_factors = std::to_string(next) + "-" +
                   std::to_string(std::min(next + slice.factor_count, summary.factor_count()) - 1);
  }
  return {{"model_id", std::to_string(summary.record.model_id)},
          {"business_date", summary.record.business_date.format()},
          {"content_hash", summary.record.content_hash},
          {"margin_class", std::string(margin::to_string(slice.margin_class))},
          {"mpor_days", slice.mpor_days},
          {"confidence_bp", slice.confidence_bp},
          {"filtered_count", slice.filtered_dates.size()},
          {"stressed_count", slice.stressed_dates.size()},
          {"move_unit", "parts per 10^9 of the factor's level"},
          {"scenarios", std::move(scenarios)},
          {"factor_count", summary.factor_count()},
          {"first_factor", slice.first_factor},
          {"next_factors", std::move(next_factors)},
          {"factors", std::move(factors)}};
}

std::string scenarios_csv(const margin::ModelSummary& summary, const margin::ScenarioSlice& slice) {
  std::string out = "scenario,date,set";
  for (std::size_t i = 0; i < slice.factor_count; ++i) {
    const std::size_t f = slice.first_factor + i;
    out += "," + summary.products.at(f / margin::kBucketCount).product.to_string() + ":" +
           std::string(bucket_label(f % margin::kBucketCount));
  }
  out += "\n";
  const std::size_t n = slice.scenario_count();
  out.reserve(out.size() + n * (24 + 12 * slice.factor_count));
  for (std::size_t s = 0; s < n; ++s) {
    const bool filtered = s < slice.filtered_dates.size();
    out += std::to_string(s);
    out += ",";
    out += (filtered ? slice.filtered_dates[s] : slice.stressed_dates[s - slice.filtered_dates.size()]).format();
    out += filtered ? ",filtered" : ",stressed";
    for (std::size_t i = 0; i < slice.factor_count; ++i) {
      out += ",";
      out += std::to_string(slice.moves_ppb[i * n + s]);
    }
    out += "\n";
  }
  return out;
}

nlohmann::json model_verification_json(const ModelVerification& verification) {
  return {{"model_id", std::to_string(verification.model_id)},
          {"stored_hash", verification.stored_hash},
          {"rebuilt_hash", verification.rebuilt_hash},
          {"verified", verification.matches}};
}

nlohmann::json run_record_json(const margin::RunRecord& run) {
  return {{"run_id", std::to_string(run.run_id)},
          {"model_id", std::to_string(run.model_id)},
          {"business_date", run.business_date.format()},
          {"scope", std::string(margin::to_string(run.scope))},
          {"cause", run.cause},
          {"members", run.members},
          {"legs", run.legs},
          {"started_at", run.started_at.format()},
          {"finished_at", run.finished_at.format()},
          {"requested_by", run.requested_by}};
}

nlohmann::json run_verification_json(const RunVerification& verification) {
  return {{"run_id", std::to_string(verification.run_id)},
          {"members", verification.members},
          {"figures_differing", verification.figures_differing},
          {"positions_differing", verification.positions_differing},
          {"verified", verification.matches}};
}

nlohmann::json margin_figures_json(const margin::MarginFigures& figures) {
  nlohmann::json classes = nlohmann::json::array();
  for (const auto c : {margin::MarginClass::future, margin::MarginClass::forward}) {
    classes.push_back(figures_of_class(figures.of(c), c));
  }
  return {{"currency", "USD"},
          {"classes", std::move(classes)},
          {"concentration", cents(figures.concentration_cents)},
          {"liquidity", cents(figures.liquidity_cents)},
          {"interim", cents(figures.interim_cents)},
          {"initial_margin", cents(figures.initial_margin_cents)}};
}

nlohmann::json member_figures_json(const margin::StoredMemberMargin& stored) {
  nlohmann::json json = margin_figures_json(stored.result.figures);
  json["member_id"] = stored.result.member.to_string();
  json["legs"] = stored.result.legs;
  // Under each stress scenario against the initial margin; empty for a run made before stress
  // results were kept.
  json["stress"] = stress_results_json(stored.result.stress);
  return json;
}

std::string run_members_csv(std::span<const margin::StoredMemberMargin> members) {
  static constexpr std::string_view kClassColumns[] = {"es_filtered",       "es_stressed",           "expected_shortfall",
                                                       "generations_alone", "diversification_benefit", "benefit_taken",
                                                       "benefit_refused",   "requirement"};
  std::string out = "member_id,legs";
  for (const auto c : {margin::MarginClass::future, margin::MarginClass::forward}) {
    for (const auto column : kClassColumns) out += "," + std::string(margin::to_string(c)) + "_" + std::string(column);
  }
  out += ",concentration,liquidity,interim,initial_margin\n";
  for (const auto& stored : members) {
    const auto& figures = stored.result.figures;
    out += stored.result.member.to_string() + "," + std::to_string(stored.result.legs);
    for (const auto& f : figures.classes) {
      for (const std::int64_t value : {f.es_filtered_cents, f.es_stressed_cents, f.expected_shortfall_cents,
                                       f.generations_alone_cents, f.diversification_benefit_cents,
                                       f.benefit_taken_cents, f.benefit_refused_cents, f.requirement_cents}) {
        out += "," + cents(value);
      }
    }
    out += "," + cents(figures.concentration_cents) + "," + cents(figures.liquidity_cents) + "," +
           cents(figures.interim_cents) + "," + cents(figures.initial_margin_cents) + "\n";
  }
  return out;
}

nlohmann::json member_margin_json(const margin::StoredMemberMargin& stored, const margin::ModelSummary& model) {
  nlohmann::json json = member_figures_json(stored);
  json["run_id"] = std::to_string(stored.run_id);
  json["model_id"] = std::to_string(stored.model_id);
  json["business_date"] = stored.business_date.format();
  json["computed_at"] = stored.computed_at.format();
  json["parameter_version"] = model.record.parameter_version;
  json["curve_set_id"] = std::to_string(model.record.curve_set_id);
  json["model_content_hash"] = model.record.content_hash;
  const auto indexes = product_indexes(model);
  nlohmann::json factors = nlohmann::json::array();
  for (const auto& line : stored.result.factors) {
    const auto index = indexes.at(line.product);
    factors.push_back({{"margin_class", std::string(margin::to_string(line.margin_class))},
                       {"product_id", line.product.to_string()},
                       {"product_index", index},
                       {"bucket", line.bucket},
                       {"bucket_label", std::string(bucket_label(static_cast<std::size_t>(line.bucket)))},
                       {"factor", static_cast<std::int64_t>(index) * static_cast<std::int64_t>(margin::kBucketCount) +
                                      line.bucket},
                       {"exposure", cents(line.exposure_cents)},
                       {"net_gpu_hours", line.net_gpu_hours},
                       {"contribution", cents(line.contribution_cents)}});
  }
  json["factors"] = std::move(factors);
  return json;
}

std::string member_factors_csv(const margin::StoredMemberMargin& stored, const margin::ModelSummary& model) {
  const auto indexes = product_indexes(model);
  std::string out = "margin_class,product_id,product_index,bucket,bucket_label,factor,exposure,net_gpu_hours,contribution\n";
  for (const auto& line : stored.result.factors) {
    const auto index = indexes.at(line.product);
    out += std::string(margin::to_string(line.margin_class)) + "," + line.product.to_string() + "," +
           std::to_string(index) + "," + std::to_string(line.bucket) + "," +
           std::string(bucket_label(static_cast<std::size_t>(line.bucket))) + "," +
           std::to_string(static_cast<std::int64_t>(index) * static_cast<std::int64_t>(margin::kBucketCount) +
                          line.bucket) +
           "," + cents(line.exposure_cents) + "," + std::to_string(line.net_gpu_hours) + "," +
           cents(line.contribution_cents) + "\n";
  }
  return out;
}

nlohmann::json margin_history_entry_json(const margin::MemberMarginHistoryEntry& entry) {
  return {{"run_id", std::to_string(entry.run_id)},
          {"model_id", std::to_string(entry.model_id)},
          {"business_date", entry.business_date.format()},
          {"cause", entry.cause},
          {"computed_at", entry.computed_at.format()},
          {"legs", entry.legs},
          {"initial_margin", cents(entry.initial_margin_cents)},
          {"currency", "USD"}};
}

http::Response margin_refusal(const MarginError& error) {
  const std::string reason(to_string(error.refusal));
  if (error.refusal == MarginRefusal::unknown_model) return http::problem(404, reason, "Not found", error.detail);
  return http::problem(422, reason, "Margin refused", error.detail);
}

http::Response store_parameters_command(runtime::ServiceContext& context, const http::Request& request) {
  const auto caller = runtime::internal_caller(request);
  if (!caller) return caller.error();
  if (caller->principal.role != Role::risk_officer) {
    return http::problem(403, "forbidden", "Forbidden", "only risk officers set the margin parameters");
  }
  auto body = http::BodyReader::open(request, {"parameters", "reason"},
                                     {"version", "text", "content_hash", "created_by", "created_at"});
  if (!body) return body.error();
  const auto found = body->json().find("parameters");
  if (found == body->json().end() || found->is_null()) {
    return http::field_problem("missing_field", "parameters", "is required");
  }
  if (!found->is_object()) {
    return http::field_problem("invalid_field", "parameters", "must be an object of the parameters' names and values");
  }
  const auto reason = body->text("reason", 500);
  if (body->failed()) return body->failure();
  auto parameters = parameters_from_json(*found);
  if (!parameters) return parameters.error();
  return runtime::answer_command(context, request, *caller, [&](pqxx::transaction_base& tx) {
    const auto stored =
        margin::store_parameters(tx, *parameters, *reason, caller->principal.name, caller->request_id.value());
    if (!stored) return parameter_problem(stored.error().parameter, stored.error().detail);
    nlohmann::json json = parameter_version_json(stored->version);
    json["created"] = stored->created;
    http::Response response = http::json_response(stored->created ? 201 : 200, json);
    response.headers.emplace_back("Location", "/v1/margin/parameters/" + std::to_string(stored->version.version));
    return response;
  });
}

http::Response build_model_command(runtime::ServiceContext& context, const http::Request& request) {
  return staff_command(request, [&](const runtime::InternalCaller& caller) {
    auto body = http::BodyReader::open(request, {"business_date", "parameter_version"},
                                       {"model_id", "version", "curve_set_id", "content_hash", "built_at", "built_by"});
    if (!body) return body.error();
    const auto date = body->date("business_date");
    const auto version = body->integer("parameter_version", 1, 100'000, /*required=*/false);
    if (body->failed()) return body->failure();
    const ModelRequest build{*date,
                             version ? std::optional<std::int32_t>(static_cast<std::int32_t>(*version)) : std::nullopt,
                             caller.principal.name, caller.request_id.value()};
    return runtime::answer_command(context, request, caller, [&](pqxx::transaction_base& tx) {
      const auto built = build_margin_model(tx, build);
      if (!built) return margin_refusal(built.error());
      const auto summary = margin::model_summary(tx, built->record.model_id);
      const auto parameters = margin::find_parameters(tx, built->record.parameter_version);
      nlohmann::json json = model_detail_json(summary.value(), parameters.value());
      json["created"] = built->created;
      http::Response response = http::json_response(built->created ? 201 : 200, json);
      response.headers.emplace_back("Location", "/v1/margin/models/" + std::to_string(built->record.model_id));
      return response;
    });
  });
}

http::Response margin_run_command(runtime::ServiceContext& context, const http::Request& request,
                                  margin::ModelCache* models) {
  return staff_command(request, [&](const runtime::InternalCaller& caller) {
    auto body = http::BodyReader::open(request, {"model_id", "members"},
                                       {"run_id", "cause", "scope", "legs", "business_date", "requested_by"},
                                       /*allow_empty_body=*/true);
    if (!body) return body.error();
    const auto model_id = body->id("model_id", /*required=*/false);
    std::optional<std::vector<MemberId>> members;
    const auto listed = body->json().find("members");
    if (listed != body->json().end() && !listed->is_null()) {
      if (!listed->is_array() || listed->empty() || listed->size() > kMarginRunMembersMax) {
        body->refuse("members", "must be an array of 1 to " + std::to_string(kMarginRunMembersMax) + " member ids");
      } else {
        std::set<MemberId> unique;
        for (const auto& item : *listed) {
          std::optional<std::int64_t> id;
          if (item.is_string()) {
            if (const auto parsed = parse_id_value(item.get<std::string>())) id = *parsed;
          }
          if (!id) {
            body->refuse("members", "each must be a member id: a string of digits, e.g. \"42\"");
            break;
          }
          unique.insert(MemberId(*id));
        }
        members = std::vector<MemberId>(unique.begin(), unique.end());
      }
    }
    if (body->failed()) return body->failure();
    const auto calendar = clearing_calendar(context);
    return runtime::answer_command(context, request, caller, [&](pqxx::transaction_base& tx) {
      if (members) {
        for (const MemberId member : *members) {
          if (!registry::find_member(tx, member)) {
            return http::problem(404, "unknown_member", "Not found", "no member " + member.to_string());
          }
        }
      }
      const auto ran = run_margin(tx,
                                  {model_id, members, "on_demand", caller.principal.name, caller.request_id.value(),
                                   /*from_kept_states=*/false, models},
                                  calendar);
      if (!ran) return margin_refusal(ran.error());
      nlohmann::json json = run_record_json(ran->run);
      json["total_initial_margin"] = format_cents(margin::run_initial_margin_total(tx, ran->run.run_id));
      json["currency"] = "USD";
      json["legs_interim"] = ran->legs_interim;
      nlohmann::json interim = nlohmann::json::array();
      for (const auto product : ran->interim_products) interim.push_back(product.to_string());
      json["interim_product_ids"] = std::move(interim);
      http::Response response = http::json_response(201, json);
      response.headers.emplace_back("Location", "/v1/margin/runs/" + std::to_string(ran->run.run_id));
      return response;
    });
  });
}

http::Response backtest_command(runtime::ServiceContext& context, const http::Request& request) {
  return staff_command(request, [&](const runtime::InternalCaller& caller) {
    auto body = http::BodyReader::open(request, {"observations"},
                                       {"backtest_id", "run_id", "model_id", "members", "requested_by"},
                                       /*allow_empty_body=*/true);
    if (!body) return body.error();
    const auto observations = body->integer("observations", 1, static_cast<std::int64_t>(margin::kBacktestObservationsMax),
                                            /*required=*/false);
    if (body->failed()) return body->failure();
    const auto run_id = request.path_id("run_id");
    if (!run_id) return http::problem(404, "unknown_run", "Not found", "no such margin run");
    const BacktestRunRequest asked{*run_id, observations ? static_cast<std::int32_t>(*observations) : 250,
                                   caller.principal.name, caller.request_id.value()};
    return runtime::answer_command(context, request, caller, [&](pqxx::transaction_base& tx) {
      const auto done = backtest_margin_run(tx, asked);
      if (!done) return margin_refusal(done.error());
      nlohmann::json json = backtest_json(done->record, margin::backtest_members(tx, done->record.backtest_id,
                                                                                 std::nullopt, false));
      json["created"] = done->created;
      http::Response response = http::json_response(done->created ? 201 : 200, json);
      response.headers.emplace_back("Location", "/v1/margin/backtests/" + std::to_string(done->record.backtest_id));
      return response;
    });
  });
}

namespace {

constexpr std::string_view kConsumerActor = "cch-risk";

// The two members of a cleared trade: from the event's payload, or the trade's row.
std::optional<registry::TradeParties> parties_of(pqxx::transaction_base& tx, const runtime::OutboxEvent& event) {
  const auto payload = nlohmann::json::parse(event.payload, nullptr, false);
  const auto member = [&](const char* key) -> std::optional<MemberId> {
    if (!payload.is_object() || !payload.contains(key) || !payload[key].is_string()) return std::nullopt;
    const auto id = parse_id_value(payload[key].get<std::string>());
    return id ? std::optional<MemberId>(MemberId(*id)) : std::nullopt;
  };
  const auto buyer = member("buyer_member_id");
  const auto seller = member("seller_member_id");
  if (buyer && seller) return registry::TradeParties{*buyer, *seller};
  return registry::trade_parties(tx, TradeId(event.aggregate_id));
}

void log_run(std::string_view cause, const MarginRunOutcome& outcome) {
  log::info("margin_run_done", {{"cause", std::string(cause)},
                                {"run_id", std::to_string(outcome.run.run_id)},
                                {"model_id", std::to_string(outcome.run.model_id)},
                                {"members", std::to_string(outcome.run.members)},
                                {"legs", std::to_string(outcome.run.legs)},
                                {"legs_interim", std::to_string(outcome.legs_interim)},
                                {"model_us", std::to_string(outcome.timings.model_us)},
                                {"legs_us", std::to_string(outcome.timings.legs_us)},
                                {"compute_us", std::to_string(outcome.timings.compute_us)},
                                {"store_us", std::to_string(outcome.timings.store_us)}});
}

void log_run_refused(std::string_view cause, const MarginError& error) {
  // Deterministic: the same events would be refused again; POST /v1/margin/runs shows why.
  log::error("margin_run_refused", {{"cause", std::string(cause)},
                                    {"reason", std::string(to_string(error.refusal))},
                                    {"detail", error.detail}});
}

}  // namespace

void margin_on_events(pqxx::transaction_base& tx, std::span<const runtime::OutboxEvent> events,
                      const MarginConsumerOptions& options, const BusinessCalendar& clearing_calendar,
                      margin::ModelCache* models) {
  std::optional<std::int64_t> everyone_run_with;  // a model every member was run against in this batch
  std::set<MemberId> traded;
  for (const auto& event : events) {
    if (event.topic == "curve_set.built" && options.on_curve_set) {
      const auto curve_set = find_curve_set(tx, event.aggregate_id);
      if (!curve_set) {
        log::error("margin_curve_set_missing", {{"curve_set_id", std::to_string(event.aggregate_id)}});
        continue;
      }
      const std::string date = curve_set->business_date.format();
      const auto latest = margin::latest_model_record(tx);
      if (latest && curve_set->business_date < latest->business_date) {
        log::info("margin_model_passed_over", {{"curve_set_id", std::to_string(event.aggregate_id)},
                                               {"business_date", date},
                                               {"latest_model_date", latest->business_date.format()}});
        continue;
      }
      const auto built =
          build_margin_model(tx, {curve_set->business_date, std::nullopt, std::string(kConsumerActor), std::nullopt});
      if (!built) {
        // Deterministic (e.g. not enough history yet): handled, not retried.
        log::warn("margin_model_refused", {{"curve_set_id", std::to_string(event.aggregate_id)},
                                           {"business_date", date},
                                           {"reason", std::string(to_string(built.error().refusal))},
                                           {"detail", built.error().detail}});
        continue;
      }
      log::info("margin_model_built", {{"model_id", std::to_string(built->record.model_id)},
                                       {"business_date", date},
                                       {"created", built->created ? "true" : "false"},
                                       {"build_microseconds", std::to_string(built->record.build_microseconds)}});
      const auto ran = run_margin(tx,
                                  {built->record.model_id, std::nullopt, std::string(event.topic),
                                   std::string(kConsumerActor), std::nullopt, /*from_kept_states=*/false, models},
                                  clearing_calendar);
      if (!ran) {
        log_run_refused(event.topic, ran.error());
        continue;
      }
      log_run(event.topic, *ran);
      everyone_run_with = built->record.model_id;
    } else if ((event.topic == "settlement.run_completed" || event.topic == "settlement.run_reversed") &&
               options.on_curve_set) {
      // Variation margin (or its reversal) moved members' collateral: every member's margin again,
      // so that the margin calls (settlement's consumer of the run) weigh it against the collateral.
      const auto latest = margin::latest_model_record(tx);
      if (!latest || everyone_run_with == latest->model_id) continue;
      const auto ran = run_margin(tx,
                                  {latest->model_id, std::nullopt, std::string(event.topic), std::string(kConsumerActor),
                                   std::nullopt, /*from_kept_states=*/false, models},
                                  clearing_calendar);
      if (!ran) {
        log_run_refused(event.topic, ran.error());
        continue;
      }
      log_run(event.topic, *ran);
      everyone_run_with = latest->model_id;
    } else if (event.topic == "trade.cleared" && options.on_trade_cleared) {
      const auto parties = parties_of(tx, event);
      if (!parties) {
        log::error("margin_trade_missing", {{"trade_id", std::to_string(event.aggregate_id)}});
        continue;
      }
      traded.insert(parties->buyer);
      traded.insert(parties->seller);
    }
  }
  if (traded.empty()) return;
  const auto latest = margin::latest_model_record(tx);
  if (!latest) {
    log::info("margin_run_passed_over",
              {{"cause", "trade.cleared"}, {"members", std::to_string(traded.size())}, {"why", "no margin model yet"}});
    return;
  }
  if (everyone_run_with == latest->model_id) return;  // the batch's run of every member has them
  // The traded members' positions are the registry's kept states (the pre-trade check keeps each
  // one under the latest model, exact to the cent): valuing every open leg of busy members again
  // for each batch of trades cost more than the trades did.
  const auto ran = run_margin(tx,
                              {latest->model_id, std::vector<MemberId>(traded.begin(), traded.end()), "trade.cleared",
                               std::string(kConsumerActor), std::nullopt, /*from_kept_states=*/true, models},
                              clearing_calendar);
  if (!ran) {
    log_run_refused("trade.cleared", ran.error());
    return;
  }
  log_run("trade.cleared", *ran);
}

namespace {

struct MarginRoutesState {
  std::shared_ptr<void> before;  // what context.routes_state held
  std::shared_ptr<runtime::OutboxConsumer> consumer;
  std::shared_ptr<runtime::OutboxConsumer> backtests;
  // The latest model, read once per model: the what-if's, and the runs' (routes and consumer).
  std::shared_ptr<margin::ModelCache> models = std::make_shared<margin::ModelCache>();
};

}  // namespace

void backtest_on_events(pqxx::transaction_base& tx, std::span<const runtime::OutboxEvent> events,
                        std::int32_t observations) {
  for (const auto& event : events) {
    const auto payload = nlohmann::json::parse(event.payload, nullptr, false);
    if (!payload.is_object() || payload.value("cause", "") != "curve_set.built" || payload.value("scope", "") != "all") {
      continue;  // the day's run of every member is backtested; a run of some members is not the day's
    }
    // A run's backtest of a length is computed once: a repeated event answers the first.
    const auto tested =
        backtest_margin_run(tx, {event.aggregate_id, observations, std::string(kConsumerActor), std::nullopt});
    if (!tested) {
      log::warn("margin_backtest_refused", {{"run_id", std::to_string(event.aggregate_id)},
                                            {"reason", std::string(to_string(tested.error().refusal))},
                                            {"detail", tested.error().detail}});
      continue;
    }
    log::info("margin_backtest_done", {{"backtest_id", std::to_string(tested->record.backtest_id)},
                                       {"run_id", std::to_string(event.aggregate_id)},
                                       {"created", tested->created ? "true" : "false"},
                                       {"members", std::to_string(tested->record.members)},
                                       {"compute_microseconds", std::to_string(tested->record.compute_microseconds)}});
  }
}

void add_margin_routes(http::Router& router, runtime::ServiceContext& context) {
  auto state = std::make_shared<MarginRoutesState>();
  state->before = std::move(context.routes_state);
  const MarginConsumerOptions options{
      context.config.boolean("risk.margin_on_curve_set"), context.config.boolean("risk.margin_on_trade_cleared"),
      static_cast<std::int32_t>(context.config.integer("risk.margin_backtest_observations"))};
  std::vector<std::string> topics;
  if (options.on_curve_set) {
    topics.emplace_back("curve_set.built");
    topics.emplace_back("settlement.run_completed");
    topics.emplace_back("settlement.run_reversed");
  }
  if (options.on_trade_cleared) topics.emplace_back("trade.cleared");
  if (!topics.empty()) {
    const auto calendar = clearing_calendar(context);
    auto consumer_options = runtime::outbox_consumer_options(context.config, "risk_margin", std::move(topics));
    // Each run of the traded members costs about the same however many trades it covers: at most
    // one per interval, the pre-trade check being exact meanwhile.
    consumer_options.gather = std::chrono::milliseconds(context.config.integer("risk.margin_trade_run_interval_ms"));
    // An event per cleared trade: a second of a busy day's trades in one batch, one run.
    consumer_options.batch_max = 10'000;
    state->consumer = std::make_shared<runtime::OutboxConsumer>(
        context.pool, context.metrics, std::move(consumer_options),
        [options, calendar, models = state->models](pqxx::transaction_base& tx,
                                                    std::span<const runtime::OutboxEvent> events) {
          margin_on_events(tx, events, options, calendar, models.get());
        });
    const auto added = runtime::add_outbox_consumer(context.tasks, state->consumer);
    if (!added) {
      throw std::logic_error("cannot add the background task outbox_risk_margin: " +
                             std::string(runtime::to_string(added.error())));
    }
  }
  if (options.backtest_observations > 0) {
    // The day's backtest in a transaction of its own, after the run has committed: a run of many
    // members is not held back (nor its margin calls) while every member's year is tested.
    const std::int32_t observations = options.backtest_observations;
    state->backtests = std::make_shared<runtime::OutboxConsumer>(
        context.pool, context.metrics,
        runtime::outbox_consumer_options(context.config, "risk_margin_backtest", {"margin.run_completed"}),
        [observations](pqxx::transaction_base& tx, std::span<const runtime::OutboxEvent> events) {
          backtest_on_events(tx, events, observations);
        });
    const auto added = runtime::add_outbox_consumer(context.tasks, state->backtests);
    if (!added) {
      throw std::logic_error("cannot add the background task outbox_risk_margin_backtest: " +
                             std::string(runtime::to_string(added.error())));
    }
  }
  context.routes_state = state;

  const std::string prefix(runtime::kInternalPrefix);
  router.add("POST", prefix + "/v1/margin/parameters",
             [&context](const http::Request& request) { return store_parameters_command(context, request); });
  router.add("POST", prefix + "/v1/margin/models",
             [&context](const http::Request& request) { return build_model_command(context, request); });
  router.add("POST", prefix + "/v1/margin/runs",
             [&context, models = state->models](const http::Request& request) {
               return margin_run_command(context, request, models.get());
             });
  router.add("POST", prefix + "/v1/margin/runs/{run_id}/backtests",
             [&context](const http::Request& request) { return backtest_command(context, request); });
  router.add("POST", prefix + "/v1/members/{member_id}/margin/what-if",
             [&context, models = state->models](const http::Request& request) {
               return what_if_query(context, request, models.get());
             });
}


// ---- What if: a member's initial margin with hypothetical trades, changing nothing ------------

namespace {

// A hypothetical trade as the body gives it, before its product's rules are applied.
struct WhatIfTerms {
  ProductId product;
  std::optional<std::string> series;
  bool buy = true;
  UtcTimestamp delivery_start{0};
  UtcTimestamp delivery_end{0};
  std::int64_t gpus = 0;
  PricePerGpuHour price{0};
};

std::string trade_field(std::size_t index, std::string_view name) {
  return "trades[" + std::to_string(index) + "]" + (name.empty() ? "" : "." + std::string(name));
}

// A refusal of a trade's own field, named as the body's: "trades[3].gpus".
http::Response element_refusal(const http::Response& refusal, std::size_t index) {
  const auto body = nlohmann::json::parse(refusal.body, nullptr, false);
  if (!body.is_object() || !body.contains("field") || !body["field"].is_string()) return refusal;
  const std::string field = body["field"].get<std::string>();
  std::string detail = body.value("detail", "");
  if (detail.starts_with(field + ": ")) detail.erase(0, field.size() + 2);
  return http::field_problem(body.value("reason", "invalid_field"), trade_field(index, field), detail);
}

// One element of "trades": the trade submission's fields (less the parties and the reference,
// plus the member's side), each read with its type.
Result<WhatIfTerms, http::Response> read_what_if_trade(const nlohmann::json& element, std::size_t index) {
  if (!element.is_object()) {
    return fail(http::field_problem("invalid_field", trade_field(index, ""), "must be an object: a hypothetical trade"));
  }
  auto body = http::BodyReader::of(element,
                                   {"product_id", "side", "series", "delivery_start", "delivery_end", "gpus", "price"},
                                   {"buyer_member_id", "seller_member_id", "reference", "trade_id", "state"});
  if (!body) return fail(element_refusal(body.error(), index));
  const auto product = body->id("product_id");
  const auto side = body->text("side", 4);
  if (side && *side != "buy" && *side != "sell") body->refuse("side", "must be buy or sell (the member's side)");
  const auto series = body->text("series", 10, /*required=*/false);
  const auto start = body->timestamp("delivery_start", /*required=*/!series);
  const auto end = body->timestamp("delivery_end", /*required=*/!series);
  if (series && (body->json().contains("delivery_start") || body->json().contains("delivery_end"))) {
    body->refuse("delivery_start", "a series trade's window is its series' period: give series or a window");
  }
  const auto gpus = body->integer("gpus", 1, registry::kTradeGpusMax);
  std::optional<PricePerGpuHour> price;
  if (const auto text = body->decimal_text("price")) {
    const auto parsed = PricePerGpuHour::parse(*text);
    if (parsed && parsed->price_ticks >= 0) {
      price = *parsed;
    } else {
      body->refuse("price", "must be a non-negative decimal in USD per GPU-hour with at most 4 decimals, e.g. \"2.1450\"");
    }
  }
  if (body->failed()) return fail(element_refusal(body->failure(), index));
  return WhatIfTerms{ProductId(*product), series, *side == "buy", start.value_or(UtcTimestamp{0}),
                     end.value_or(UtcTimestamp{0}), *gpus, *price};
}

// The trade submission's rules of terms (the registry's, trades.hpp), against the product.
Result<HypotheticalTrade, http::Response> hypothetical_trade(pqxx::transaction_base& tx, const WhatIfTerms& terms,
                                                             std::size_t index) {
  const auto refuse = [&](std::string_view reason, std::string_view field, std::string_view detail) {
    return fail(http::field_problem(reason, trade_field(index, field), detail));
  };
  const auto product = registry::find_product(tx, terms.product);
  if (!product) return refuse("unknown_product", "product_id", "no such product");
  HypotheticalTrade trade{terms.product, terms.buy, terms.series.has_value(), terms.delivery_start,
                          terms.delivery_end, terms.gpus, terms.price.price_ticks};
  if (terms.series) {
    const auto period = registry::parse_period_label(*terms.series);
    if (!period) return refuse("unknown_series", "series", "not a series label: " + *terms.series);
    trade.delivery_start = period->start();
    trade.delivery_end = period->end();
  } else if (!registry::is_hour_aligned_window(trade.delivery_start, trade.delivery_end)) {
    const bool start_on_hour = trade.delivery_start.unix_microseconds() % kMicrosecondsPerHour == 0;
    return refuse("invalid_window", start_on_hour ? "delivery_end" : "delivery_start",
                  "the delivery window must be non-empty and on whole UTC hours");
  }
  const std::int64_t hours =
      (trade.delivery_end.unix_microseconds() - trade.delivery_start.unix_microseconds()) / kMicrosecondsPerHour;
  if (hours > registry::kTradeWindowHoursMax) {
    return refuse("invalid_window", terms.series ? "series" : "delivery_end",
                  "the delivery window must be at most " + std::to_string(registry::kTradeWindowHoursMax) + " hours");
  }
  if (terms.gpus < 1 || terms.gpus > registry::kTradeGpusMax || terms.gpus % product->spec.node_block_gpus != 0) {
    return refuse("invalid_gpus", "gpus",
                  "must be 1 to " + std::to_string(registry::kTradeGpusMax) +
                      " and a multiple of the product's node block of " + std::to_string(product->spec.node_block_gpus));
  }
  if (terms.price.price_ticks <= 0 || terms.price.price_ticks > kPriceTicksMax) {
    return refuse("invalid_price", "price", "must be positive and at most " + PricePerGpuHour{kPriceTicksMax}.format());
  }
  if (!terms.price.is_multiple_of(PricePerGpuHour{product->spec.tick_size_ticks})) {
    return refuse("price_off_tick", "price",
                  "must be a multiple of the tick size " + PricePerGpuHour{product->spec.tick_size_ticks}.format());
  }
  return trade;
}

// The domain's refusals. The route checked the count and every trade's terms already, so only
// unknown_model is expected; the others answer 422 naming the trades.
http::Response what_if_refusal(const WhatIfError& error) {
  const std::string reason(to_string(error.refusal));
  if (error.refusal == WhatIfRefusal::unknown_model) return http::problem(404, reason, "Not found", error.detail);
  return http::field_problem(reason, "trades", error.detail);
}

nlohmann::json what_if_json(MemberId member, std::size_t trades, const WhatIf& answer) {
  return {{"member_id", member.to_string()},
          {"model_id", std::to_string(answer.model_id)},
          {"business_date", answer.business_date.format()},
          {"open_legs", answer.open_legs},
          {"trades", trades},
          {"currency", "USD"},
          {"before", margin_figures_json(answer.before)},
          {"after", margin_figures_json(answer.after)},
          {"initial_margin_change",
           format_cents(Int128{answer.after.initial_margin_cents} - Int128{answer.before.initial_margin_cents})}};
}

}  // namespace

http::Response what_if_query(runtime::ServiceContext& context, const http::Request& request,
                             margin::ModelCache* models) {
  const auto caller = runtime::internal_caller(request);
  if (!caller) return caller.error();
  const auto member_id = request.path_id("member_id");
  const Role role = caller->principal.role;
  if (role == Role::member) {
    // A member asks only about itself (the api checked; checked again here): another's is missing.
    if (!member_id || caller->principal.member != MemberId(*member_id)) {
      return http::problem(404, "not_found", "Not found", "no such object");
    }
  } else if (role != Role::risk_officer && role != Role::operator_) {
    return http::problem(403, "forbidden", "Forbidden", "only the member itself, risk officers and operators ask");
  }
  if (!member_id) return http::problem(404, "not_found", "Not found", "no such object");
  if (request.body.size() > kWhatIfBodyBytesMax) {
    return http::problem(413, "body_too_large", "Body too large",
                         "a what-if body is at most " + std::to_string(kWhatIfBodyBytesMax) + " bytes");
  }
  auto body = http::BodyReader::open(request, {"trades"}, {"before", "after", "model_id", "member_id"});
  if (!body) return body.error();
  const auto found = body->json().find("trades");
  if (found == body->json().end() || found->is_null()) return http::field_problem("missing_field", "trades", "is required");
  if (!found->is_array() || found->empty()) {
    return http::field_problem("invalid_field", "trades",
                               "must be an array of 1 to " + std::to_string(kWhatIfTradesMax) + " hypothetical trades");
  }
  if (found->size() > kWhatIfTradesMax) {
    return http::field_problem(to_string(WhatIfRefusal::too_many_trades), "trades",
                               "at most " + std::to_string(kWhatIfTradesMax) + " hypothetical trades");
  }
  std::vector<WhatIfTerms> wanted;
  for (std::size_t i = 0; i < found->size(); ++i) {
    auto read = read_what_if_trade((*found)[i], i);
    if (!read) return read.error();
    wanted.push_back(std::move(*read));
  }
  const MemberId member(*member_id);
  const auto calendar = clearing_calendar(context);
  const auto started = std::chrono::steady_clock::now();
  return db::run_transaction(
      context.pool, db::Isolation::repeatable_read, context.retry_policy, [&](pqxx::transaction_base& tx) {
        tx.exec0("SET TRANSACTION READ ONLY");  // a question: nothing it does may write
        if (!registry::find_member(tx, member)) return http::problem(404, "not_found", "Not found", "no such object");
        std::vector<HypotheticalTrade> trades;
        for (std::size_t i = 0; i < wanted.size(); ++i) {
          auto trade = hypothetical_trade(tx, wanted[i], i);
          if (!trade) return trade.error();
          trades.push_back(*trade);
        }
        const auto answer = what_if(tx, member, trades, calendar, models);
        if (!answer) return what_if_refusal(answer.error());
        log::debug("margin_what_if",
                   {{"member_id", member.to_string()},
                    {"trades", std::to_string(trades.size())},
                    {"model_id", std::to_string(answer->model_id)},
                    {"initial_margin_before", cents(answer->before.initial_margin_cents)},
                    {"initial_margin_after", cents(answer->after.initial_margin_cents)},
                    {"microseconds", std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(
                                                        std::chrono::steady_clock::now() - started)
                                                        .count())}});
        return http::json_response(200, what_if_json(member, trades.size(), *answer));
      });
}

}  // namespace cch::risk
