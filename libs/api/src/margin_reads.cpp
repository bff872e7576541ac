// The api's reads of initial margin (margin_reads.hpp).
#include "margin_reads.hpp"
#include "list_reads.hpp"

#include "cch/core/calendar.hpp"
#include "cch/margin_store/backtests.hpp"
#include "cch/margin_store/models.hpp"
#include "cch/margin_store/run_stress.hpp"
#include "cch/margin_store/runs.hpp"
#include "cch/registry/catalog.hpp"
#include "cch/registry/members.hpp"
#include "cch/risk/margin.hpp"
#include "cch/risk_routes/margin_routes.hpp"
#include "cch/settlement/collateral.hpp"
#include "cch/settlement/margin_calls.hpp"
#include "cch/settlement/routes.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <climits>
#include <map>
#include <span>

namespace cch::api {
namespace {

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
  const auto to_json = [](const auto& row) { return risk::parameter_version_json(row); };
  return http::json_response(200, page_of(list, limit, to_json, [](const auto& row) { return row.version; }));
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
  const auto to_json = [](const auto& row) { return risk::model_record_json(row); };
  return http::json_response(200, page_of(list, limit, to_json, [](const auto& row) { return row.model_id; }));
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
  const auto to_json = [](const auto& row) { return risk::run_record_json(row); };
  return http::json_response(200, page_of(list, limit, to_json, [](const auto& row) { return row.run_id; }));
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
  const auto to_json = [](const auto& row) { return risk::margin_history_entry_json(row); };
  nlohmann::json json = page_of(list, limit, to_json, [](const auto& row) { return row.run_id; });
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

namespace cch::api {
namespace {

// A page of members' rows keyed by member id: those after the cursor, at most `limit`, and the
// next cursor when more remain.
template <class Row, class MemberOf>
std::optional<std::string> page_by_member(std::vector<Row>& rows, std::optional<std::int64_t> cursor, std::size_t limit,
                                          MemberOf member_of) {
  if (cursor) {
    std::erase_if(rows, [&](const Row& row) { return member_of(row).value() <= *cursor; });
  }
  std::size_t members = 0;
  std::size_t end = 0;
  while (end < rows.size()) {
    const MemberId member = member_of(rows[end]);
    if (members == limit) return member_of(rows[end - 1]).to_string();
    ++members;
    while (end < rows.size() && member_of(rows[end]) == member) ++end;
  }
  return std::nullopt;
}

template <class Row, class MemberOf>
void cut_page(std::vector<Row>& rows, const std::optional<std::string>& next, MemberOf member_of) {
  if (!next) return;
  const std::int64_t last = parse_id_value(*next).value();
  std::erase_if(rows, [&](const Row& row) { return member_of(row).value() > last; });
}

}  // namespace

// Every member's stress results in a run, by member id, a page at a time, with the run's Cover-2
// on every page; CSV: a line per member, the next page's cursor in X-Next-Cursor.
http::Response margin_run_stress(Api&, pqxx::transaction_base& tx, const http::Request& request,
                                 const access::Principal&) {
  QueryReader query(request, {"limit", "cursor", "format"});
  const Format format = format_of(query, request);
  const std::size_t limit = query.limit(format == Format::csv ? kRunMembersCsvPageMax : kPageSizeMax);
  const auto cursor = query.id_cursor();
  if (query.failed()) return query.failure();
  const auto id = request.path_id("run_id");
  if (!id || !margin::find_run(tx, *id)) return not_found();
  const auto cover = margin::run_cover_2(tx, *id);
  if (!cover) {
    return http::problem(409, "no_stress_results", "No stress results",
                         "margin run " + std::to_string(*id) + " was made before stress results were kept");
  }
  auto list = margin::run_members_page(
      tx, *id, cursor ? std::optional<MemberId>(MemberId(*cursor)) : std::nullopt, limit + 1);
  std::optional<std::string> next;
  if (list.size() > limit) {
    list.erase(list.begin() + static_cast<std::ptrdiff_t>(limit), list.end());
    next = list.back().result.member.to_string();
  }
  if (format == Format::csv) {
    http::Response response = csv_response(risk::run_stress_csv(list));
    if (next) response.headers.emplace_back("X-Next-Cursor", *next);
    return response;
  }
  nlohmann::json items = nlohmann::json::array();
  for (const auto& member : list) {
    nlohmann::json item = {{"member_id", member.result.member.to_string()},
                           {"initial_margin", risk::format_cents(member.result.figures.initial_margin_cents)},
                           {"results", risk::stress_results_json(member.result.stress)}};
    item["worst"] = risk::worst_stress_json(margin::worst_stress(margin::MemberStress{
        member.result.member, member.result.figures.initial_margin_cents, member.result.stress}));
    items.push_back(std::move(item));
  }
  nlohmann::json json = page(std::move(items), next);
  json["run_id"] = std::to_string(*id);
  json["currency"] = "USD";
  json["cover_2"] = risk::cover_2_json(*cover);
  return http::json_response(200, json);
}

// Backtests, newest first.
http::Response margin_backtests(Api&, pqxx::transaction_base& tx, const http::Request& request,
                                const access::Principal&) {
  QueryReader query(request, {"limit", "cursor"});
  const std::size_t limit = query.limit();
  const auto cursor = query.id_cursor();
  if (query.failed()) return query.failure();
  const auto list = margin::list_backtests(tx, cursor, limit + 1);
  const auto to_json = [](const auto& row) { return risk::backtest_record_json(row); };
  return http::json_response(200, page_of(list, limit, to_json, [](const auto& row) { return row.backtest_id; }));
}

// A backtest's results, a page of members at a time (every class of a member on one page);
// CSV: a line per member and class, the next page's cursor in X-Next-Cursor.
http::Response margin_backtest(Api&, pqxx::transaction_base& tx, const http::Request& request,
                               const access::Principal&) {
  QueryReader query(request, {"limit", "cursor", "format"});
  const Format format = format_of(query, request);
  const std::size_t limit = query.limit(format == Format::csv ? kRunMembersCsvPageMax : kPageSizeMax);
  const auto cursor = query.id_cursor();
  if (query.failed()) return query.failure();
  const auto id = request.path_id("backtest_id");
  const auto record = id ? margin::find_backtest(tx, *id) : std::nullopt;
  if (!record) return not_found();
  auto rows = margin::backtest_members(tx, record->backtest_id, std::nullopt, false);
  const auto member_of = [](const margin::MemberBacktest& row) { return row.member; };
  const auto next = page_by_member(rows, cursor, limit, member_of);
  cut_page(rows, next, member_of);
  if (format == Format::csv) {
    http::Response response = csv_response(risk::backtest_members_csv(rows));
    if (next) response.headers.emplace_back("X-Next-Cursor", *next);
    return response;
  }
  nlohmann::json json = risk::backtest_json(*record, rows);
  json["next_cursor"] = next ? nlohmann::json(*next) : nlohmann::json(nullptr);
  return http::json_response(200, json);
}

// A member's results in its latest backtest (or ?backtest_id=), with every daily observation;
// CSV: the observations.
http::Response member_margin_backtest(Api&, pqxx::transaction_base& tx, const http::Request& request,
                                      const access::Principal&) {
  QueryReader query(request, {"backtest_id", "format"});
  const auto backtest_id = id_param(query, "backtest_id");
  const Format format = format_of(query, request);
  if (query.failed()) return query.failure();
  const auto member = request.path_id("member_id");
  if (!member || !registry::find_member(tx, MemberId(*member))) return not_found();
  const auto record = backtest_id ? margin::find_backtest(tx, *backtest_id)
                                  : margin::latest_backtest_of_member(tx, MemberId(*member));
  if (!record) return not_found();
  const auto rows = margin::backtest_members(tx, record->backtest_id, MemberId(*member), true);
  if (rows.empty()) return not_found();
  if (format == Format::csv) return csv_response(risk::backtest_observations_csv(rows));
  nlohmann::json json = risk::backtest_json(*record, rows);
  json["member_id"] = std::to_string(*member);
  return http::json_response(200, json);
}

// The risk officers' report of a run (the latest run of every member, scope all, when none is
// named):
// totals by component, the members ranked by initial margin with their limit use, collateral,
// shortfall, worst stress, open call and backtest zones; the margin calls open; Cover-2; the
// run's backtest. CSV: the ranking.
http::Response margin_report(Api&, pqxx::transaction_base& tx, const http::Request& request,
                             const access::Principal&) {
  QueryReader query(request, {"run_id", "limit", "format"});
  const auto asked_run = id_param(query, "run_id");
  const Format format = format_of(query, request);
  const std::size_t limit = query.limit(kMarginReportRankingMax);
  if (query.failed()) return query.failure();
  const std::optional<margin::RunRecord> run =
      asked_run ? margin::find_run(tx, *asked_run) : margin::latest_run(tx, margin::RunScope::all);
  if (!run) return not_found();
  auto members = margin::run_members(tx, run->run_id);
  Int128 total = 0;
  Int128 shortfall_total = 0;
  std::array<Int128, margin::kMarginClassCount> class_totals{};
  Int128 concentration = 0;
  Int128 liquidity = 0;
  Int128 interim = 0;
  for (const auto& m : members) {
    const auto& f = m.result.figures;
    total += f.initial_margin_cents;
    for (std::size_t ci = 0; ci < margin::kMarginClassCount; ++ci) class_totals[ci] += f.classes[ci].requirement_cents;
    concentration += f.concentration_cents;
    liquidity += f.liquidity_cents;
    interim += f.interim_cents;
  }
  // Largest first; equal figures by member id.
  std::sort(members.begin(), members.end(), [](const auto& a, const auto& b) {
    const auto x = a.result.figures.initial_margin_cents;
    const auto y = b.result.figures.initial_margin_cents;
    return x != y ? x > y : a.result.member < b.result.member;
  });
  const auto backtest = margin::latest_backtest_of_run(tx, run->run_id);
  std::map<std::int64_t, std::map<std::string, std::string>> zones;  // member -> class -> zone
  std::array<std::int64_t, 3> zone_counts{};
  if (backtest) {
    for (const auto& row : margin::backtest_members(tx, backtest->backtest_id, std::nullopt, false)) {
      if (row.refusal) continue;
      zones[row.member.value()][std::string(margin::to_string(row.margin_class))] =
          std::string(margin::to_string(row.report.traffic_light.zone));
      ++zone_counts.at(static_cast<std::size_t>(row.report.traffic_light.zone));
    }
  }
  std::string csv =
      "rank,member_id,member_code,initial_margin,share_bp,credit_limit,limit_use_bp,collateral,shortfall,"
      "worst_scenario,worst_uncovered,open_call_id,open_call_state,open_call_amount,future_zone,forward_zone\n";
  nlohmann::json ranking = nlohmann::json::array();
  std::size_t rank = 0;
  for (const auto& m : members) {
    const MemberId member = m.result.member;
    const std::int64_t im = m.result.figures.initial_margin_cents;
    const auto position = settlement::collateral_position(tx, member, Currency::usd());
    const std::int64_t collateral = position.held.amount_minor - position.pending_withdrawals.amount_minor;
    const std::int64_t shortfall = std::max<std::int64_t>(0, im - collateral);
    shortfall_total += shortfall;
    ++rank;
    if (rank > limit) continue;  // totals count every member; the ranking shows the first `limit`
    const auto found = registry::find_member(tx, member);
    const auto limits = registry::member_limits(tx, member);
    const std::optional<Money> credit_limit = limits ? limits->credit_limit : std::nullopt;
    const auto share_bp = total > 0 ? static_cast<std::int64_t>(Int128{im} * 10'000 / total) : 0;
    std::optional<std::int64_t> use_bp;
    if (credit_limit && credit_limit->amount_minor > 0) {
      use_bp = static_cast<std::int64_t>(Int128{im} * 10'000 / credit_limit->amount_minor);
    }
    std::optional<settlement::MarginCall> open_call;
    for (const auto state : {settlement::CallState::overdue, settlement::CallState::issued}) {
      if (open_call) break;
      const auto calls = settlement::list_margin_calls(tx, member, state, std::nullopt, 1);
      if (!calls.empty()) open_call = calls.front();
    }
    nlohmann::json item = {{"rank", rank},
                           {"member_id", member.to_string()},
                           {"member_code", found ? found->code : ""},
                           {"legs", m.result.legs},
                           {"initial_margin", risk::format_cents(im)},
                           {"share_bp", share_bp},
                           {"credit_limit",
                            credit_limit ? nlohmann::json(format_amount(*credit_limit)) : nlohmann::json(nullptr)},
                           {"limit_use_bp", use_bp ? nlohmann::json(*use_bp) : nlohmann::json(nullptr)},
                           {"collateral", risk::format_cents(collateral)},
                           {"shortfall", risk::format_cents(shortfall)}};
    std::optional<margin::WorstStress> worst;
    if (!m.result.stress.empty()) {
      worst = margin::worst_stress(margin::MemberStress{member, im, m.result.stress});
      item["worst_stress"] = risk::worst_stress_json(*worst);
    } else {
      item["worst_stress"] = nullptr;
    }
    item["open_call"] = open_call ? nlohmann::json{{"call_id", std::to_string(open_call->call_id)},
                                                   {"state", std::string(settlement::to_string(open_call->state))},
                                                   {"amount", format_amount(open_call->amount)},
                                                   {"deadline", open_call->deadline.format()}}
                                  : nlohmann::json(nullptr);
    const auto z = zones.find(member.value());
    const auto zone_of = [&](const char* c) -> std::string {
      if (z == zones.end()) return "";
      const auto it = z->second.find(c);
      return it == z->second.end() ? "" : it->second;
    };
    const auto zone_json = [&](const char* c) {
      const std::string zone = zone_of(c);
      return zone.empty() ? nlohmann::json(nullptr) : nlohmann::json(zone);
    };
    item["backtest_zones"] = {{"future", zone_json("future")}, {"forward", zone_json("forward")}};
    csv += std::to_string(rank) + "," + member.to_string() + "," + (found ? found->code : "") + "," +
           risk::format_cents(im) + "," + std::to_string(share_bp) + "," +
           (credit_limit ? format_amount(*credit_limit) : "") + "," + (use_bp ? std::to_string(*use_bp) : "") + "," +
           risk::format_cents(collateral) + "," + risk::format_cents(shortfall) + "," +
           (worst ? std::string(margin::to_string(worst->scenario)) : "") + "," +
           (worst ? risk::format_cents(worst->uncovered_cents) : "") + "," +
           (open_call ? std::to_string(open_call->call_id) : "") + "," +
           (open_call ? std::string(settlement::to_string(open_call->state)) : "") + "," +
           (open_call ? format_amount(open_call->amount) : "") + "," + zone_of("future") + "," + zone_of("forward") +
           "\n";
    ranking.push_back(std::move(item));
  }
  if (format == Format::csv) return csv_response(std::move(csv));
  // Margin calls open now, of any run.
  std::int64_t calls_issued = 0;
  std::int64_t calls_overdue = 0;
  Int128 calls_amount = 0;
  for (const auto state : {settlement::CallState::issued, settlement::CallState::overdue}) {
    std::optional<std::int64_t> before;
    for (;;) {
      const auto calls = settlement::list_margin_calls(tx, std::nullopt, state, before, 1000);
      for (const auto& call : calls) {
        (state == settlement::CallState::issued ? calls_issued : calls_overdue) += 1;
        calls_amount += call.amount.amount_minor;
      }
      if (calls.size() < 1000) break;
      before = calls.back().call_id;
    }
  }
  nlohmann::json json = {{"run", risk::run_record_json(*run)},
                         {"currency", "USD"},
                         {"totals",
                          {{"members", members.size()},
                           {"initial_margin", risk::format_cents(total)},
                           {"future_requirement", risk::format_cents(class_totals[0])},
                           {"forward_requirement", risk::format_cents(class_totals[1])},
                           {"concentration", risk::format_cents(concentration)},
                           {"liquidity", risk::format_cents(liquidity)},
                           {"interim", risk::format_cents(interim)},
                           {"shortfall", risk::format_cents(shortfall_total)}}},
                         {"ranking", std::move(ranking)},
                         {"margin_calls_open",
                          {{"issued", calls_issued},
                           {"overdue", calls_overdue},
                           {"amount", risk::format_cents(calls_amount)}}}};
  const auto cover = margin::run_cover_2(tx, run->run_id);
  json["cover_2"] = cover ? risk::cover_2_json(*cover) : nlohmann::json(nullptr);
  json["backtest"] = backtest ? nlohmann::json{{"backtest_id", std::to_string(backtest->backtest_id)},
                                               {"observations_requested", backtest->observations_requested},
                                               {"zones",
                                                {{"green", zone_counts[0]},
                                                 {"yellow", zone_counts[1]},
                                                 {"red", zone_counts[2]}}}}
                              : nlohmann::json(nullptr);
  return http::json_response(200, json);
}

}  // namespace cch::api
