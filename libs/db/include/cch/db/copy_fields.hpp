#pragma once
// The fields of one line of COPY ... TO STDOUT text (pqxx::stream_from::get_raw_line), read in
// order: tab-separated, the line's end dropped. For columns whose text needs no unescaping
// (integers, and text known to hold no tab, newline or backslash): the bulk readers of legs and
// marks use it instead of the stream's typed conversions.
//
// Thread safety: a value over the caller's line.
#include <charconv>
#include <cstdint>
#include <string_view>
#include <system_error>

#include "cch/core/check.hpp"

namespace cch::db {

class CopyFields {
 public:
  explicit CopyFields(std::string_view line) : rest_(line) {
    if (!rest_.empty() && rest_.back() == '\n') rest_.remove_suffix(1);
  }
  // The next field's text.
  std::string_view text() {
    const auto tab = rest_.find('\t');
    const std::string_view field = rest_.substr(0, tab);
    rest_ = tab == std::string_view::npos ? std::string_view() : rest_.substr(tab + 1);
    return field;
  }
  // The next field as an integer. Precondition (checked): it is one.
  std::int64_t integer() {
    const auto field = text();
    std::int64_t value = 0;
    const auto [end, error] = std::from_chars(field.data(), field.data() + field.size(), value);
    CCH_CHECK(error == std::errc() && end == field.data() + field.size(), "a COPY line's integer column");
    return value;
  }

 private:
  std::string_view rest_;
};

}  // namespace cch::db
