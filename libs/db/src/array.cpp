#include "cch/db/array.hpp"

#include <cassert>

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

}  // namespace cch::db
