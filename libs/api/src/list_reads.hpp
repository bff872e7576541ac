#pragma once
// The api's list and report reads share these (private to libs/api): a page of items with its next
// cursor, query parameters that are dates or ids, and the JSON-or-CSV choice of a report.
#include "api_impl.hpp"

#include "cch/core/ids.hpp"
#include "cch/core/time.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cch::api {

inline nlohmann::json page(nlohmann::json items, std::optional<std::string> next_cursor) {
  return {{"items", std::move(items)},
          {"next_cursor", next_cursor ? nlohmann::json(*next_cursor) : nlohmann::json(nullptr)}};
}

// A page of a list read newest first with one row more than the page (limit + 1): the first
// `limit` rows as JSON, and the last one's key as the next cursor when there was more.
template <class Row, class ToJson, class KeyOf>
nlohmann::json page_of(const std::vector<Row>& list, std::size_t limit, ToJson to_json, KeyOf key_of) {
  nlohmann::json items = nlohmann::json::array();
  for (std::size_t i = 0; i < list.size() && i < limit; ++i) items.push_back(to_json(list[i]));
  std::optional<std::string> next;
  if (list.size() > limit) next = std::to_string(key_of(list[limit - 1]));
  return page(std::move(items), next);
}

inline std::optional<BusinessDate> date_param(QueryReader& query, std::string_view name) {
  const auto text = query.text(name);
  if (!text) return std::nullopt;
  const auto parsed = BusinessDate::parse(*text);
  if (!parsed) {
    query.refuse(name, "must be a date YYYY-MM-DD");
    return std::nullopt;
  }
  return *parsed;
}

inline std::optional<std::int64_t> id_param(QueryReader& query, std::string_view name) {
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
inline Format format_of(QueryReader& query, const http::Request& request) {
  if (const auto text = query.text("format")) {
    if (*text == "csv") return Format::csv;
    if (*text != "json") query.refuse("format", "must be json or csv");
    return Format::json;
  }
  const auto accept = request.header("Accept");
  return accept && accept->find("text/csv") != std::string_view::npos ? Format::csv : Format::json;
}

inline http::Response csv_response(std::string body) {
  http::Response response;
  response.status = 200;
  response.content_type = "text/csv; charset=utf-8";
  response.body = std::move(body);
  return response;
}

}  // namespace cch::api
