#pragma once
// Curve values to and from PostgreSQL float8[] text, exactly: each double written with 17
// significant digits (which read back to the same double) and read with strtod (PostgreSQL
// writes the shortest text that reads back to the stored double).

#include <pqxx/field>

#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

namespace cch::risk {

inline std::string double_array(std::span<const double> values) {
  std::string text = "{";
  char buffer[32];
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) text += ',';
    std::snprintf(buffer, sizeof buffer, "%.17g", values[i]);
    text += buffer;
  }
  return text + "}";
}

inline std::vector<double> doubles_of(const pqxx::field& field) {
  std::vector<double> values;
  auto parser = field.as_array();
  for (auto item = parser.get_next(); item.first != pqxx::array_parser::done; item = parser.get_next()) {
    if (item.first == pqxx::array_parser::string_value) values.push_back(std::strtod(item.second.c_str(), nullptr));
  }
  return values;
}

}  // namespace cch::risk
