#include "cch/db/array.hpp"

#include <cassert>
#include <cstdio>
#include <cstdlib>

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
  std::vector<std::int64_t> values;
  auto parser = field.as_array();
  for (auto item = parser.get_next(); item.first != pqxx::array_parser::done; item = parser.get_next()) {
    if (item.first == pqxx::array_parser::string_value) values.push_back(std::stoll(item.second));
  }
  return values;
}

}  // namespace cch::db
