#include "cch/http/message.hpp"

#include "cch/core/ids.hpp"

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include <cassert>

namespace cch::http {
namespace {

char lower_ascii(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::optional<std::string_view> find_case_insensitive(const std::vector<NameValue>& values, std::string_view name) {
  for (const auto& [key, value] : values) {
    if (equals_ignoring_case(key, name)) {
      return std::string_view(value);
    }
  }
  return std::nullopt;
}

std::optional<std::string_view> find_exact(const std::vector<NameValue>& values, std::string_view name) {
  for (const auto& [key, value] : values) {
    if (key == name) {
      return std::string_view(value);
    }
  }
  return std::nullopt;
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

[[maybe_unused]] bool is_snake_case(std::string_view text) noexcept {
  if (text.empty())
    return false;
  for (const char c : text) {
    const bool allowed = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    if (!allowed)
      return false;
  }
  return true;
}

// Everything after the media type's parameters are cut off and whitespace trimmed, lower-cased.
std::string media_type_of(std::string_view content_type) {
  const auto semicolon = content_type.find(';');
  std::string_view type = content_type.substr(0, semicolon);
  while (!type.empty() && (type.front() == ' ' || type.front() == '\t'))
    type.remove_prefix(1);
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t'))
    type.remove_suffix(1);
  std::string lowered;
  lowered.reserve(type.size());
  for (const char c : type)
    lowered.push_back(lower_ascii(c));
  return lowered;
}

bool is_json_media_type(std::string_view content_type) {
  const std::string type = media_type_of(content_type);
  if (type == "application/json")
    return true;
  constexpr std::string_view prefix = "application/";
  constexpr std::string_view suffix = "+json";
  return type.size() > prefix.size() + suffix.size() && type.starts_with(prefix) && type.ends_with(suffix);
}

// True if the arrays and objects in text nest no deeper than the limit. Strings are skipped so
// that brackets inside them do not count. Malformed input is left to the parser.
bool nesting_within_limit(std::string_view text, std::size_t limit) noexcept {
  std::size_t depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit)
        return false;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return true;
}

}  // namespace

bool is_http_token(std::string_view text) noexcept {
  if (text.empty()) {
    return false;
  }
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

bool is_safe_header_value(std::string_view value) noexcept {
  return std::none_of(value.begin(), value.end(), [](char c) { return c == '\r' || c == '\n' || c == '\0'; });
}

bool has_control_character(std::string_view text) noexcept {
  return std::any_of(text.begin(), text.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte < 0x20 || byte == 0x7f;
  });
}

bool equals_ignoring_case(std::string_view left, std::string_view right) noexcept {
  if (left.size() != right.size())
    return false;
  for (std::size_t i = 0; i < left.size(); ++i) {
    if (lower_ascii(left[i]) != lower_ascii(right[i]))
      return false;
  }
  return true;
}

std::optional<std::string_view> Request::header(std::string_view name) const {
  return find_case_insensitive(headers, name);
}

std::optional<std::string_view> Request::query_param(std::string_view name) const {
  return find_exact(query_params, name);
}

std::optional<std::string_view> Request::path_param(std::string_view name) const {
  return find_exact(path_params, name);
}

std::optional<std::int64_t> Request::path_id(std::string_view name) const {
  const auto text = path_param(name);
  if (!text) return std::nullopt;
  const auto value = parse_id_value(*text);
  if (!value) return std::nullopt;
  return *value;
}

std::optional<std::string_view> Response::header(std::string_view name) const {
  return find_case_insensitive(headers, name);
}

std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space) {
  std::string decoded;
  decoded.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size())
        return std::nullopt;
      const int high = hex_value(text[i + 1]);
      const int low = hex_value(text[i + 2]);
      if (high < 0 || low < 0)
        return std::nullopt;
      decoded.push_back(static_cast<char>(high * 16 + low));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      decoded.push_back(' ');
    } else {
      decoded.push_back(c);
    }
  }
  return decoded;
}

bool parse_target(std::string_view target, Request& request) {
  if (target.empty() || target.front() != '/')
    return false;
  for (const char c : target) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte >= 0x7f || c == '#')
      return false;
  }
  const auto question = target.find('?');
  const std::string_view path = target.substr(0, question);
  if (!percent_decode(path, false))
    return false;

  std::vector<NameValue> query_params;
  if (question != std::string_view::npos) {
    std::string_view query = target.substr(question + 1);
    while (!query.empty()) {
      const auto ampersand = query.find('&');
      const std::string_view pair = query.substr(0, ampersand);
      query = ampersand == std::string_view::npos ? std::string_view{} : query.substr(ampersand + 1);
      if (pair.empty())
        continue;
      const auto equals = pair.find('=');
      auto name = percent_decode(pair.substr(0, equals), true);
      auto value =
          percent_decode(equals == std::string_view::npos ? std::string_view{} : pair.substr(equals + 1), true);
      if (!name || !value)
        return false;
      query_params.emplace_back(std::move(*name), std::move(*value));
    }
  }
  request.target = std::string(target);
  request.path = std::string(path);
  request.query_params = std::move(query_params);
  return true;
}

Response json_response(unsigned status, const nlohmann::json& body) {
  Response response;
  response.status = status;
  response.content_type = "application/json";
  response.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return response;
}

Response text_response(unsigned status, std::string body) {
  Response response;
  response.status = status;
  response.content_type = "text/plain; charset=utf-8";
  response.body = std::move(body);
  return response;
}

Response problem(unsigned status, std::string_view reason, std::string_view title, std::string_view detail) {
  assert(is_snake_case(reason) && "problem reason must be snake_case");
  std::string type = "/problems/";
  for (const char c : reason)
    type.push_back(c == '_' ? '-' : c);

  nlohmann::json document = {
      {"type", type},
      {"title", title},
      {"status", status},
  };
  if (!detail.empty())
    document["detail"] = detail;
  document["reason"] = reason;

  Response response;
  response.status = status;
  response.content_type = "application/problem+json";
  response.body = document.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  response.headers.emplace_back("Cache-Control", "no-store");
  return response;
}

Result<nlohmann::json, Response> parse_json_body(const Request& request) {
  const auto content_type = request.header("Content-Type");
  if (!content_type || !is_json_media_type(*content_type)) {
    return fail(
        problem(415, "unsupported_media_type", "Unsupported media type", "the request body must be application/json"));
  }
  if (!nesting_within_limit(request.body, json_nesting_depth_limit)) {
    return fail(
        problem(400, "malformed_json", "Malformed JSON", "the request body nests arrays or objects more than 64 deep"));
  }
  // One set of keys per open object: a key named twice is refused (a second "status" could
  // otherwise slip past a check of the first).
  std::vector<std::set<std::string>> keys_by_depth;
  bool duplicate = false;
  const nlohmann::json::parser_callback_t callback = [&](int, nlohmann::json::parse_event_t event,
                                                         nlohmann::json& parsed) {
    if (event == nlohmann::json::parse_event_t::object_start) {
      keys_by_depth.emplace_back();
    } else if (event == nlohmann::json::parse_event_t::object_end && !keys_by_depth.empty()) {
      keys_by_depth.pop_back();
    } else if (event == nlohmann::json::parse_event_t::key && !keys_by_depth.empty() && parsed.is_string() &&
               !keys_by_depth.back().insert(parsed.get_ref<const std::string&>()).second) {
      duplicate = true;
    }
    return !duplicate;
  };
  nlohmann::json parsed = nlohmann::json::parse(request.body, callback, /*allow_exceptions=*/false);
  if (duplicate) {
    return fail(problem(400, "malformed_json", "Malformed JSON", "an object names the same key twice"));
  }
  if (parsed.is_discarded()) {
    return fail(problem(400, "malformed_json", "Malformed JSON", "the request body is not a well-formed JSON value"));
  }
  return parsed;
}

}  // namespace cch::http
