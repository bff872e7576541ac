// The api's reads of daily settlement (settlement_reads.hpp).
#include "settlement_reads.hpp"

#include "cch/registry/members.hpp"
#include "cch/settlement/routes.hpp"
#include "cch/settlement/runs.hpp"
#include "list_reads.hpp"

namespace cch::api {

http::Response settlement_runs(Api&, pqxx::transaction_base& tx, const http::Request& request,
                               const access::Principal&) {
  QueryReader query(request, {"limit", "cursor"});
  const std::size_t limit = query.limit(kSettlementRunsPageMax);
  const auto cursor = query.id_cursor();
  if (query.failed()) return query.failure();
  const auto list = settlement::list_runs(tx, cursor, limit + 1);
  return http::json_response(200, page_of(list, limit, settlement::settlement_run_json,
                                          [](const auto& run) { return run.run_id; }));
}

http::Response settlement_run(Api&, pqxx::transaction_base& tx, const http::Request& request,
                              const access::Principal&) {
  QueryReader query(request, {});
  if (query.failed()) return query.failure();
  const auto id = request.path_id("run_id");
  const auto run = id ? settlement::find_run(tx, *id) : std::nullopt;
  if (!run) return not_found();
  return http::json_response(200, settlement::settlement_run_json(*run));
}

http::Response product_price_fallbacks(Api&, pqxx::transaction_base& tx, const http::Request& request,
                                       const access::Principal&) {
  QueryReader query(request, {"limit", "cursor"});
  const std::size_t limit = query.limit(kPriceFallbacksPageMax);
  const auto cursor = query.id_cursor();
  if (query.failed()) return query.failure();
  const auto id = request.path_id("product_id");
  if (!id || tx.exec_params("SELECT 1 FROM cch.product WHERE product_id = $1", *id).empty()) return not_found();
  const auto list = settlement::price_fallbacks(tx, ProductId(*id), cursor, limit + 1);
  return http::json_response(200, page_of(list, limit, settlement::price_fallback_json,
                                          [](const auto& fallback) { return fallback.fallback_id; }));
}

// Every member's figures in a run, by member id, a page at a time (the cursor: the last member
// id seen).
http::Response settlement_run_members(Api&, pqxx::transaction_base& tx, const http::Request& request,
                                      const access::Principal&) {
  QueryReader query(request, {"limit", "cursor", "format"});
  const Format format = format_of(query, request);
  const std::size_t limit = query.limit(format == Format::csv ? kRunMembersVariationMarginCsvPageMax : kPageSizeMax);
  const auto cursor = query.id_cursor();
  if (query.failed()) return query.failure();
  const auto id = request.path_id("run_id");
  const auto run = id ? settlement::find_run(tx, *id) : std::nullopt;
  if (!run) return not_found();
  auto list = settlement::member_variation_margin(tx, run->run_id, std::nullopt);
  std::erase_if(list, [&](const auto& member) { return cursor && member.member.value() <= *cursor; });
  std::optional<std::string> next;
  if (list.size() > limit) {
    list.erase(list.begin() + static_cast<std::ptrdiff_t>(limit), list.end());
    next = list.back().member.to_string();
  }
  if (format == Format::csv) {
    http::Response response =
        csv_response(settlement::member_variation_margin_csv(list, run->run_id, run->business_date));
    if (next) response.headers.emplace_back("X-Next-Cursor", *next);
    return response;
  }
  nlohmann::json items = nlohmann::json::array();
  for (const auto& member : list) items.push_back(settlement::member_variation_margin_json(member));
  nlohmann::json json = page(std::move(items), next);
  json["run_id"] = std::to_string(run->run_id);
  json["business_date"] = run->business_date.format();
  return http::json_response(200, json);
}

http::Response member_variation_margin(Api&, pqxx::transaction_base& tx, const http::Request& request,
                                       const access::Principal&) {
  QueryReader query(request, {"limit", "cursor", "format"});
  const Format format = format_of(query, request);
  const std::size_t limit = query.limit();
  const auto cursor = query.id_cursor();
  if (query.failed()) return query.failure();
  const auto id = request.path_id("member_id");
  if (!id || !registry::find_member(tx, MemberId(*id))) return not_found();
  auto list = settlement::member_variation_margin_history(tx, MemberId(*id), cursor, limit + 1);
  std::optional<std::string> next;
  if (list.size() > limit) {
    list.erase(list.begin() + static_cast<std::ptrdiff_t>(limit), list.end());
    next = std::to_string(list.back().run_id);
  }
  if (format == Format::csv) {
    std::string body = settlement::member_variation_margin_history_csv(list);
    http::Response response = csv_response(std::move(body));
    if (next) response.headers.emplace_back("X-Next-Cursor", *next);
    return response;
  }
  nlohmann::json items = nlohmann::json::array();
  for (const auto& row : list) {
    nlohmann::json item = settlement::member_variation_margin_json(row.figures);
    item["run_id"] = std::to_string(row.run_id);
    item["business_date"] = row.business_date.format();
    item["run_state"] = std::string(settlement::to_string(row.state));
    items.push_back(std::move(item));
  }
  nlohmann::json json = page(std::move(items), next);
  json["member_id"] = std::to_string(*id);
  return http::json_response(200, json);
}

http::Response member_run_variation_margin(Api&, pqxx::transaction_base& tx, const http::Request& request,
                                           const access::Principal&) {
  QueryReader query(request, {"limit", "cursor"});
  const std::size_t limit = query.limit(kVariationMarginLegsPageMax);
  const auto cursor = query.id_cursor();
  if (query.failed()) return query.failure();
  const auto member_id = request.path_id("member_id");
  const auto run_id = request.path_id("run_id");
  if (!member_id || !run_id || !registry::find_member(tx, MemberId(*member_id))) return not_found();
  const auto run = settlement::find_run(tx, *run_id);
  if (!run) return not_found();
  const MemberId member(*member_id);
  const auto figures = settlement::member_variation_margin(tx, run->run_id, member);
  // A member with no leg in the run has zeros in it.
  nlohmann::json json = settlement::member_variation_margin_json(
      figures.empty() ? settlement::MemberVariationMargin{member, 0, 0, 0, 0, 0, std::nullopt} : figures.front());
  json["run_id"] = std::to_string(run->run_id);
  json["business_date"] = run->business_date.format();
  json["run_state"] = std::string(settlement::to_string(run->state));
  nlohmann::json products = nlohmann::json::array();
  for (const auto& product : settlement::product_variation_margin(tx, run->run_id, member)) {
    products.push_back(settlement::product_variation_margin_json(product));
  }
  json["products"] = std::move(products);
  const auto legs = settlement::leg_variation_margin(tx, run->run_id, member, cursor, limit + 1);
  nlohmann::json leg_items = nlohmann::json::array();
  for (std::size_t i = 0; i < legs.size() && i < limit; ++i) {
    leg_items.push_back(settlement::leg_variation_margin_json(legs[i]));
  }
  json["legs"] = std::move(leg_items);
  // The cursor is the last trade seen (a member is never both sides of a trade).
  json["next_cursor"] = legs.size() > limit ? nlohmann::json(legs[limit - 1].trade.to_string()) : nlohmann::json(nullptr);
  return http::json_response(200, json);
}

http::Response trade_deliveries(Api&, pqxx::transaction_base& tx, const http::Request& request,
                                const access::Principal& principal) {
  QueryReader query(request, {});
  if (query.failed()) return query.failure();
  const auto id = request.path_id("trade_id");
  if (!id) return not_found();
  const std::optional<MemberId> member =
      principal.role == access::Role::member ? principal.member : std::optional<MemberId>();
  const auto days = settlement::delivery_days(tx, TradeId(*id), member);
  if (!days) return not_found();
  nlohmann::json items = nlohmann::json::array();
  for (const auto& day : *days) items.push_back(settlement::delivery_day_json(day));
  const auto settled = settlement::trade_settlement(tx, TradeId(*id));
  return http::json_response(200, {{"trade_id", std::to_string(*id)},
                                   {"days", std::move(items)},
                                   {"settlement", settled ? settlement::trade_delivery_json(*settled)
                                                          : nlohmann::json(nullptr)}});
}

// The trades a run settled, by trade id, a page at a time (the cursor: the last trade id seen).
http::Response settlement_run_deliveries(Api&, pqxx::transaction_base& tx, const http::Request& request,
                                         const access::Principal&) {
  QueryReader query(request, {"limit", "cursor", "format"});
  const Format format = format_of(query, request);
  const std::size_t limit = query.limit(format == Format::csv ? kRunDeliveriesCsvPageMax : kPageSizeMax);
  const auto cursor = query.id_cursor();
  if (query.failed()) return query.failure();
  const auto id = request.path_id("run_id");
  const auto run = id ? settlement::find_run(tx, *id) : std::nullopt;
  if (!run) return not_found();
  auto list = settlement::trade_deliveries(tx, run->run_id, std::nullopt);
  std::erase_if(list, [&](const auto& delivery) { return cursor && delivery.trade.value() <= *cursor; });
  std::optional<std::string> next;
  if (list.size() > limit) {
    list.erase(list.begin() + static_cast<std::ptrdiff_t>(limit), list.end());
    next = list.back().trade.to_string();
  }
  if (format == Format::csv) {
    http::Response response = csv_response(settlement::trade_deliveries_csv(list));
    if (next) response.headers.emplace_back("X-Next-Cursor", *next);
    return response;
  }
  nlohmann::json items = nlohmann::json::array();
  for (const auto& delivery : list) items.push_back(settlement::trade_delivery_json(delivery));
  nlohmann::json json = page(std::move(items), next);
  json["run_id"] = std::to_string(run->run_id);
  json["business_date"] = run->business_date.format();
  return http::json_response(200, json);
}

namespace {

std::optional<BusinessDate> path_date(const http::Request& request) {
  const auto text = request.path_param("business_date");
  if (!text) return std::nullopt;
  const auto date = BusinessDate::parse(*text);
  if (!date) return std::nullopt;
  return *date;
}

}  // namespace

http::Response member_statement(Api&, pqxx::transaction_base& tx, const http::Request& request,
                                const access::Principal&) {
  QueryReader query(request, {"format"});
  const Format format = format_of(query, request);
  if (query.failed()) return query.failure();
  const auto id = request.path_id("member_id");
  const auto date = path_date(request);
  if (!id || !date) return not_found();
  const auto statement = settlement::member_statement(tx, MemberId(*id), *date);
  if (!statement) return not_found();
  if (format == Format::csv) return csv_response(settlement::member_statement_csv(*statement));
  return http::json_response(200, settlement::member_statement_json(*statement));
}

http::Response statement_summaries(Api&, pqxx::transaction_base& tx, const http::Request& request,
                                   const access::Principal&) {
  QueryReader query(request, {"limit", "cursor", "format"});
  const Format format = format_of(query, request);
  const std::size_t limit = query.limit(kStatementSummariesPageMax);
  const auto cursor = query.id_cursor();
  if (query.failed()) return query.failure();
  const auto date = path_date(request);
  if (!date) return not_found();
  auto list = settlement::member_statement_summaries(
      tx, *date, cursor ? std::optional<MemberId>(MemberId(*cursor)) : std::nullopt, limit + 1);
  std::optional<std::string> next;
  if (list.size() > limit) {
    list.erase(list.begin() + static_cast<std::ptrdiff_t>(limit), list.end());
    next = list.back().member.to_string();
  }
  if (format == Format::csv) {
    http::Response response = csv_response(settlement::statement_summaries_csv(list, *date));
    if (next) response.headers.emplace_back("X-Next-Cursor", *next);
    return response;
  }
  nlohmann::json items = nlohmann::json::array();
  for (const auto& summary : list) items.push_back(settlement::statement_summary_json(summary));
  nlohmann::json json = page(std::move(items), next);
  json["business_date"] = date->format();
  return http::json_response(200, json);
}

}  // namespace cch::api
