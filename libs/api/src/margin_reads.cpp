// The api's reads of initial margin (margin_reads.hpp).
#include "margin_reads.hpp"

#include "cch/core/calendar.hpp"
#include "cch/margin_store/models.hpp"
#include "cch/margin_store/runs.hpp"
#include "cch/registry/members.hpp"
#include "cch/risk/margin.hpp"
#include "cch/risk_routes/margin_routes.hpp"
#include "cch/settlement/margin_calls.hpp"
#include "cch/settlement/routes.hpp"

#include <algorithm>
#include <charconv>
#include <climits>
#include <span>

namespace cch::api {
namespace {

nlohmann::json page(nlohmann::json items, std::optional<std::string> next_cursor) {
  return {{"items", std::move(items)},
          {"next_cursor", next_cursor ? nlohmann::json(*next_cursor) : nlohmann::json(nullptr)}};
}

std::optional<BusinessDate> date_param(QueryReader& query, std::string_view name) {
  const auto text = query.text(name);
  if (!text) return std::nullopt;
  const auto parsed = BusinessDate::parse(*text);
  if (!parsed) {
    query.refuse(name, "must be a date YYYY-MM-DD");
    return std::nullopt;
  }
  return *parsed;
}

std::optional<std::int64_t> id_param(QueryReader& query, std::string_view name) {
  const auto text = query.text(name);
  if (!text) return std::nullopt;
  const auto parsed = parse_id_value(*text);
  if (!parsed) {
    query.refuse(name, "must be an id");
    return std::nullopt;
  }
  return *parsed;
}

enum class Format { json, csv };

// ?format=json|csv, else CSV when the Accept header asks for text/csv, else JSON.
Format format_of(QueryReader& query, const http::Request& request) {
  if (const auto text = query.text("format")) {
    if (*text == "csv") return Format::csv;
    if (*text != "json") query.refuse("format", "must be json or csv");
    return Format::json;
  }
  const auto accept = request.header("Accept");
  return accept && accept->find("text/csv") != std::string_view::npos ? Format::csv : Format::json;
}

http::Response csv_response(std::string body) {
  http::Response response;
  response.status = 200;
  response.content_type = "text/csv; charset=utf-8";
  response.body = std::move(body);
  return response;
}

std::optional<std::size_t> whole_number(std::string_view text) {
  std::size_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || text.empty() || text.size() > 9) return std::nullopt;
  return value;
}

BusinessCalendar clearing_calendar(const Api& api) {
  return make_calendar(api.context.config.text("market.business_calendar")).value();
}

http::Response verification_refusal(const risk::MarginError& error) {
  if (error.refusal == risk::MarginRefusal::unknown_model) return not_found();
  return risk::margin_refusal(error);
}

}  // namespace

// Parameter versions, newest first.
http::Response margin_parameters(Api&, pqxx::transaction_base& tx, const http::Request& request,
                                 const access::Principal&) {
  QueryReader query(request, {"limit", "cursor"});
  const std::size_t limit = query.limit(kMarginParametersPageMax);
  const auto cursor = query.id_cursor();
  if (query.failed()) return query.failure();
  const auto list = margin::list_parameters(tx, cursor, limit + 1);
  nlohmann::json items = nlohmann::json::array();
  for (std::size_t i = 0; i < list.size() && i < limit; ++i) items.push_back(risk::parameter_version_json(list[i]));
  std::optional<std::string> next;
  if (list.size() > limit) next = std::to_string(list[limit - 1].version);
  return http::json_response(200, page(std::move(items), next));
}

http::Response margin_parameter_version(Api&, pqxx::transaction_base& tx, const http::Request& request,
                                        const access::Principal&) {
  QueryReader query(request, {});
  if (query.failed()) return query.failure();
  const auto version = request.path_id("version");
  if (!version || *version > INT32_MAX) return not_found();
  const auto found = margin::find_parameters(tx, static_cast<std::int32_t>(*version));
  if (!found) return not_found();
  return http::json_response(200, risk::parameter_version_json(*found));
}

// Models in the order they were built, newest first; optionally of one business date.
http::Response margin_models(Api&, pqxx::transaction_base& tx, const http::Request& request, const access::Principal&) {
  QueryReader query(request, {"limit", "cursor", "business_date"});
  const std::size_t limit = query.limit(kMarginModelsPageMax);
  const auto cursor = query.id_cursor();
  const auto date = date_param(query, "business_date");
  if (query.failed()) return query.failure();
  const auto list = margin::list_models(tx, date, cursor, limit + 1);
  nlohmann::json items = nlohmann::json::array();
  for (std::size_t i = 0; i < list.size() && i < limit; ++i) items.push_back(risk::model_record_json(list[i]));
  std::optional<std::string> next;
  if (list.size() > limit) next = std::to_string(list[limit - 1].model_id);
  return http::json_response(200, page(std::move(items), next));
}

http::Response margin_model(Api&, pqxx::transaction_base& tx, const http::Request& request, const access::Principal&) {
  QueryReader query(request, {});
  if (query.failed()) return query.failure();
  const auto id = request.path_id("model_id");
  const auto summary = id ? margin::model_summary(tx, *id) : std::nullopt;
  if (!summary) return not_found();
  const auto parameters = margin::find_parameters(tx, summary->record.parameter_version);
  return http::json_response(200, risk::model_detail_json(*summary, parameters.value()));
}

// The member-replicable file: one class's scenario dates and the moves of a page of factors.
// ?class=future|forward (required); ?factors=A-B (inclusive, at most kScenarioFactorsPageMax) or
// ?product_id= (its eleven factors); neither: the first page. JSON, or CSV (format_of).
http::Response margin_model_scenarios(Api&, pqxx::transaction_base& tx, const http::Request& request,
                                      const access::Principal&) {
  QueryReader query(request, {"class", "factors", "product_id", "format"});
  std::optional<margin::MarginClass> margin_class;
  if (const auto text = query.text("class")) {
    if (*text == "future") margin_class = margin::MarginClass::future;
    if (*text == "forward") margin_class = margin::MarginClass::forward;
    if (!margin_class) query.refuse("class", "must be future or forward");
  } else {
    query.refuse("class", "is required: future or forward");
  }
  std::optional<std::pair<std::size_t, std::size_t>> range;  // first, last (inclusive)
  if (const auto text = query.text("factors")) {
    const auto dash = text->find('-');
    const auto first = dash == std::string::npos ? std::nullopt : whole_number(std::string_view(*text).substr(0, dash));
    const auto last = dash == std::string::npos ? std::nullopt : whole_number(std::string_view(*text).substr(dash + 1));
    if (!first || !last || *last < *first || *last - *first + 1 > risk::kScenarioFactorsPageMax) {
      query.refuse("factors", "must be a range FIRST-LAST of at most " + std::to_string(risk::kScenarioFactorsPageMax) +
                                  " factors, e.g. 0-109");
    } else {
      range = std::pair{*first, *last};
    }
  }
  const auto product = id_param(query, "product_id");
  if (range && product) query.refuse("product_id", "give factors or product_id, not both");
  const Format format = format_of(query, request);
  if (query.failed()) return query.failure();
  const auto id = request.path_id("model_id");
  const auto summary = id ? margin::model_summary(tx, *id) : std::nullopt;
  if (!summary) return not_found();
  const std::size_t factor_count = summary->factor_count();
  std::size_t first = 0;
  std::size_t count = std::min(risk::kScenarioFactorsPageMax, factor_count);
  if (range) {
    if (range->first >= factor_count) {
      query.refuse("factors", "the model has " + std::to_string(factor_count) + " factors, 0 to " +
                                  std::to_string(factor_count - 1));
      return query.failure();
    }
    first = range->first;
    count = std::min(range->second, factor_count - 1) - first + 1;
  } else if (product) {
    const auto found = std::find_if(summary->products.begin(), summary->products.end(),
                                    [&](const margin::ModelProductSummary& p) { return p.product.value() == *product; });
    if (found == summary->products.end()) {
      query.refuse("product_id", "the model does not margin this product");
      return query.failure();
    }
    first = static_cast<std::size_t>(found->product_index) * margin::kBucketCount;
    count = margin::kBucketCount;
  }
  const auto slice = margin::scenario_slice(tx, *id, *margin_class, first, count);
  if (!slice) return not_found();
  if (format == Format::csv) return csv_response(risk::scenarios_csv(*summary, *slice));
  return http::json_response(200, risk::scenarios_json(*summary, *slice));
}

http::Response margin_model_verification(Api&, pqxx::transaction_base& tx, const http::Request& request,
                                         const access::Principal&) {
  QueryReader query(request, {});
  if (query.failed()) return query.failure();
  const auto id = request.path_id("model_id");
  if (!id) return not_found();
  const auto verified = risk::verify_margin_model(tx, *id);
  if (!verified) return verification_refusal(verified.error());
  return http::json_response(200, risk::model_verification_json(*verified));
}

http::Response margin_runs(Api&, pqxx::transaction_base& tx, const http::Request& request, const access::Principal&) {
  QueryReader query(request, {"limit", "cursor"});
  const std::size_t limit = query.limit();
  const auto cursor = query.id_cursor();
  if (query.failed()) return query.failure();
  const auto list = margin::list_runs(tx, cursor, limit + 1);
  nlohmann::json items = nlohmann::json::array();
  for (std::size_t i = 0; i < list.size() && i < limit; ++i) items.push_back(risk::run_record_json(list[i]));
  std::optional<std::string> next;
  if (list.size() > limit) next = std::to_string(list[limit - 1].run_id);
  return http::json_response(200, page(std::move(items), next));
}

http::Response margin_run(Api&, pqxx::transaction_base& tx, const http::Request& request, const access::Principal&) {
  QueryReader query(request, {});
  if (query.failed()) return query.failure();
  const auto id = request.path_id("run_id");
  const auto run = id ? margin::find_run(tx, *id) : std::nullopt;
  if (!run) return not_found();
  nlohmann::json json = risk::run_record_json(*run);
  json["total_initial_margin"] = risk::format_cents(margin::run_initial_margin_total(tx, run->run_id));
  json["currency"] = "USD";
  return http::json_response(200, json);
}

// Every member's figures in a run, by member id, a page at a time; CSV: a line per member, the
// next page's cursor in the header X-Next-Cursor.
http::Response margin_run_members(Api&, pqxx::transaction_base& tx, const http::Request& request,
                                  const access::Principal&) {
  QueryReader query(request, {"limit", "cursor", "format"});
  const Format format = format_of(query, request);
  const std::size_t limit = query.limit(format == Format::csv ? kRunMembersCsvPageMax : kPageSizeMax);
  const auto cursor = query.id_cursor();
  if (query.failed()) return query.failure();
  const auto id = request.path_id("run_id");
  if (!id || !margin::find_run(tx, *id)) return not_found();
  auto list = margin::run_members_page(
      tx, *id, cursor ? std::optional<MemberId>(MemberId(*cursor)) : std::nullopt, limit + 1);
  std::optional<std::string> next;
  if (list.size() > limit) {
    list.erase(list.begin() + static_cast<std::ptrdiff_t>(limit), list.end());
    next = list.back().result.member.to_string();
  }
  if (format == Format::csv) {
    http::Response response = csv_response(risk::run_members_csv(list));
    if (next) response.headers.emplace_back("X-Next-Cursor", *next);
    return response;
  }
  nlohmann::json items = nlohmann::json::array();
  for (const auto& member : list) items.push_back(risk::member_figures_json(member));
  nlohmann::json json = page(std::move(items), next);
  json["run_id"] = std::to_string(*id);
  return http::json_response(200, json);
}

http::Response margin_run_verification(Api& api, pqxx::transaction_base& tx, const http::Request& request,
                                       const access::Principal&) {
  QueryReader query(request, {});
  if (query.failed()) return query.failure();
  const auto id = request.path_id("run_id");
  if (!id) return not_found();
  const auto verified = risk::verify_margin_run(tx, *id, clearing_calendar(api));
  if (!verified) return verification_refusal(verified.error());
  return http::json_response(200, risk::run_verification_json(*verified));
}

// A member's figures in its latest run (or ?run_id=), with the factor lines; CSV: the lines.
http::Response member_margin(Api&, pqxx::transaction_base& tx, const http::Request& request, const access::Principal&) {
  QueryReader query(request, {"run_id", "format"});
  const auto run_id = id_param(query, "run_id");
  const Format format = format_of(query, request);
  if (query.failed()) return query.failure();
  const auto member = request.path_id("member_id");
  if (!member || !registry::find_member(tx, MemberId(*member))) return not_found();
  const auto stored = margin::member_margin(tx, MemberId(*member), run_id);
  if (!stored) return not_found();
  const auto model = margin::model_summary(tx, stored->model_id);
  if (format == Format::csv) return csv_response(risk::member_factors_csv(*stored, model.value()));
  return http::json_response(200, risk::member_margin_json(*stored, model.value()));
}

http::Response member_margin_history(Api&, pqxx::transaction_base& tx, const http::Request& request,
                                     const access::Principal&) {
  QueryReader query(request, {"limit", "cursor"});
  const std::size_t limit = query.limit();
  const auto cursor = query.id_cursor();
  if (query.failed()) return query.failure();
  const auto member = request.path_id("member_id");
  if (!member || !registry::find_member(tx, MemberId(*member))) return not_found();
  const auto list = margin::member_margin_history(tx, MemberId(*member), cursor, limit + 1);
  nlohmann::json items = nlohmann::json::array();
  for (std::size_t i = 0; i < list.size() && i < limit; ++i) items.push_back(risk::margin_history_entry_json(list[i]));
  std::optional<std::string> next;
  if (list.size() > limit) next = std::to_string(list[limit - 1].run_id);
  nlohmann::json json = page(std::move(items), next);
  json["member_id"] = std::to_string(*member);
  return http::json_response(200, json);
}

// ---- margin calls --------------------------------------------------------------------------

namespace {

std::optional<settlement::CallState> state_param(QueryReader& query) {
  const auto text = query.text("state");
  if (!text) return std::nullopt;
  const auto state = settlement::parse_call_state(*text);
  if (!state) query.refuse("state", "must be issued, met, overdue or superseded");
  return state;
}

// One page of calls, newest first, of one member or all; `query` has read everything but the
// page itself. The member route names its member in the JSON answer.
http::Response calls_page(pqxx::transaction_base& tx, QueryReader& query, const http::Request& request,
                          std::optional<MemberId> member, bool name_member) {
  const Format format = format_of(query, request);
  const std::size_t limit = query.limit(kMarginCallsPageMax);
  const auto cursor = query.id_cursor();
  const auto state = state_param(query);
  if (query.failed()) return query.failure();
  auto list = settlement::list_margin_calls(tx, member, state, cursor, limit + 1);
  std::optional<std::string> next;
  if (list.size() > limit) {
    list.erase(list.begin() + static_cast<std::ptrdiff_t>(limit), list.end());
    next = std::to_string(list.back().call_id);
  }
  if (format == Format::csv) {
    http::Response response = csv_response(settlement::margin_calls_csv(list));
    if (next) response.headers.emplace_back("X-Next-Cursor", *next);
    return response;
  }
  nlohmann::json items = nlohmann::json::array();
  for (const auto& call : list) items.push_back(settlement::margin_call_json(call));
  nlohmann::json json = page(std::move(items), next);
  if (name_member) json["member_id"] = member->to_string();
  return http::json_response(200, json);
}

}  // namespace

http::Response member_margin_calls(Api&, pqxx::transaction_base& tx, const http::Request& request,
                                   const access::Principal&) {
  QueryReader query(request, {"limit", "cursor", "state", "format"});
  const auto member = request.path_id("member_id");
  if (!member || !registry::find_member(tx, MemberId(*member))) {
    if (query.failed()) return query.failure();
    return not_found();
  }
  return calls_page(tx, query, request, MemberId(*member), /*name_member=*/true);
}

http::Response margin_calls(Api&, pqxx::transaction_base& tx, const http::Request& request, const access::Principal&) {
  QueryReader query(request, {"limit", "cursor", "state", "member_id", "format"});
  const auto member = id_param(query, "member_id");
  return calls_page(tx, query, request, member ? std::optional<MemberId>(MemberId(*member)) : std::nullopt,
                    /*name_member=*/false);
}

http::Response margin_call(Api&, pqxx::transaction_base& tx, const http::Request& request, const access::Principal&) {
  QueryReader query(request, {"format"});
  const Format format = format_of(query, request);
  if (query.failed()) return query.failure();
  const auto id = request.path_id("call_id");
  const auto call = id ? settlement::find_margin_call(tx, *id) : std::nullopt;
  if (!call) return not_found();
  if (format == Format::csv) return csv_response(settlement::margin_calls_csv(std::span(&*call, 1)));
  return http::json_response(200, settlement::margin_call_json(*call));
}

}  // namespace cch::api
