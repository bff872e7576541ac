#include "cch/db/array.hpp"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include <pqxx/result>  // pqxx::field (pqxx 6.4: <pqxx/field> alone does not compile)

namespace cch::db {
namespace {

void append_quoted(std::string& out, std::string_view text) {
  // PostgreSQL text cannot hold NUL, and libpq sends a parameter only up to its first NUL: the
  // literal would arrive cut short (malformed, or another value). Text with a NUL is refused
  // where it enters (http::BodyReader::text); reaching here it is a bug.
  assert(text.find('\0') == std::string_view::npos && "db array literal: a text element holds a NUL character");
  out.push_back('"');
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
    }
    out.push_back(c);
  }
  out.push_back('"');
}

}  // namespace

std::string integer_array(std::span<const std::int64_t> values) {
  std::string out = "{";
  out.reserve(values.size() * 8 + 2);
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) {
      out.push_back(',');
    }
    out += std::to_string(values[i]);
  }
  out.push_back('}');
  return out;
}

std::string text_array(std::span<const std::string> values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) {
      out.push_back(',');
    }
    append_quoted(out, values[i]);
  }
  out.push_back('}');
  return out;
}

std::string nullable_text_array(std::span<const std::optional<std::string>> values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) {
      out.push_back(',');
    }
    if (values[i]) {
      append_quoted(out, *values[i]);
    } else {
      out += "NULL";
    }
  }
  out.push_back('}');
  return out;
}

std::string double_array(std::span<const double> values) {
  std::string text = "{";
  char buffer[32];
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) text += ',';
    std::snprintf(buffer, sizeof buffer, "%.17g", values[i]);
    text += buffer;
  }
  return text + "}";
}

std::vector<double> doubles_of(const pqxx::field& field) {
  std::vector<double> values;
  auto parser = field.as_array();
  for (auto item = parser.get_next(); item.first != pqxx::array_parser::done; item = parser.get_next()) {
    if (item.first == pqxx::array_parser::string_value) values.push_back(std::strtod(item.second.c_str(), nullptr));
  }
  return values;
}

std::vector<std::int64_t> integers_of(const pqxx::field& field) {
  // An integer array's text is digits, minus signs, commas and braces: read directly. The general
  // parser below makes a string of every element (a margin model's 550,000 moves were most of
  // the time its read took); it remains for anything else (a NULL element, skipped).
  const std::string_view text(field.c_str(), field.size());
  std::vector<std::int64_t> values;
  values.reserve(static_cast<std::size_t>(std::count(text.begin(), text.end(), ',')) + 1);
  const char* at = text.data();
  const char* const end = at + text.size();
  bool plain = true;
  while (at < end) {
    if (*at == '{' || *at == '}' || *at == ',') {
      ++at;
      continue;
    }
    std::int64_t value = 0;
    const auto [next, error] = std::from_chars(at, end, value);
    if (error != std::errc{}) {
      plain = false;
      break;
    }
    values.push_back(value);
    at = next;
  }
  if (plain) return values;
  values.clear();
  auto parser = field.as_array();
  for (auto item = parser.get_next(); item.first != pqxx::array_parser::done; item = parser.get_next()) {
    if (item.first == pqxx::array_parser::string_value) values.push_back(std::stoll(item.second));
  }
  return values;
}

}  // namespace cch::db
