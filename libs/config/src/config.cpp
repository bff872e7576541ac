#include "cch/config/config.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cassert>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace cch::config {
namespace {

const SettingSpec* find_spec(std::string_view key) {
  for (const SettingSpec& spec : all_settings()) {
    if (spec.key == key) {
      return &spec;
    }
  }
  return nullptr;
}

std::string describe_allowed(const SettingSpec& spec) {
  switch (spec.kind) {
    case Kind::string: return "text";
    case Kind::boolean: return "true or false";
    case Kind::integer: return "an integer from " + std::to_string(spec.minimum) + " to " + std::to_string(spec.maximum);
    case Kind::money:
      return "an amount of USD from " + format_amount(Money{spec.minimum, Currency::usd()}) + " to " +
             format_amount(Money{spec.maximum, Currency::usd()});
    case Kind::choice: {
      std::string out = "one of";
      for (std::size_t i = 0; i < spec.choices.size(); ++i) {
        out += (i == 0 ? " " : ", ") + spec.choices[i];
      }
      return out;
    }
  }
  return "text";
}

// Validates `text` for `spec` and stores it; the message names where the value came from.
std::optional<std::string> assign_text(const SettingSpec& spec, std::string_view text, std::string_view where,
                                       std::string& out_text, std::int64_t& out_integer, bool& out_boolean) {
  const auto refuse = [&] {
    return std::string(where) + ": " + spec.key + " must be " + describe_allowed(spec) + ", got \"" +
           std::string(text.substr(0, 200)) + "\"";
  };
  switch (spec.kind) {
    case Kind::string:
      if (text.size() > 4096) {
        return std::string(where) + ": " + spec.key + " is longer than 4096 characters";
      }
      out_text = std::string(text);
      return std::nullopt;
    case Kind::boolean:
      if (text == "true") {
        out_boolean = true;
      } else if (text == "false") {
        out_boolean = false;
      } else {
        return refuse();
      }
      out_text = std::string(text);
      return std::nullopt;
    case Kind::integer: {
      std::int64_t parsed = 0;
      const char* first = text.data();
      const char* last = text.data() + text.size();
      const auto [end, error] = std::from_chars(first, last, parsed);
      if (text.empty() || error != std::errc{} || end != last || parsed < spec.minimum || parsed > spec.maximum) {
        return refuse();
      }
      out_integer = parsed;
      out_text = std::string(text);
      return std::nullopt;
    }
    case Kind::choice:
      if (std::find(spec.choices.begin(), spec.choices.end(), text) == spec.choices.end()) {
        return refuse();
      }
      out_text = std::string(text);
      return std::nullopt;
    case Kind::money: {
      const auto amount = parse_money(text, Currency::usd());
      if (!amount || amount->amount_minor < spec.minimum || amount->amount_minor > spec.maximum) {
        return refuse();
      }
      out_integer = amount->amount_minor;
      out_text = std::string(text);
      return std::nullopt;
    }
  }
  return refuse();
}

std::string position(std::string_view source_name, const toml::source_region& region) {
  return std::string(source_name) + ":" + std::to_string(region.begin.line) + ":" +
         std::to_string(region.begin.column);
}

// Converts one TOML value to the textual form used for defaults and environment variables.
std::optional<std::string> toml_value_text(const toml::node& node, Kind kind) {
  if (kind == Kind::integer) {
    if (const auto* value = node.as_integer()) {
      return std::to_string(value->get());
    }
    return std::nullopt;
  }
  if (kind == Kind::boolean) {
    if (const auto* value = node.as_boolean()) {
      return value->get() ? "true" : "false";
    }
    return std::nullopt;
  }
  if (const auto* value = node.as_string()) {
    return value->get();
  }
  return std::nullopt;
}

}  // namespace

std::string environment_variable_for(std::string_view key) {
  std::string name = "CCH_";
  for (const char c : key) {
    name.push_back(c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  return name;
}

Environment process_environment() {
  return [](std::string_view name) -> std::optional<std::string> {
    const std::string copy(name);
    if (const char* value = std::getenv(copy.c_str())) {
      return std::string(value);
    }
    return std::nullopt;
  };
}

Result<Config, ConfigError> Config::load(const std::optional<std::string>& file_path, const Environment& environment) {
  if (!file_path) {
    return load_text("", "defaults", environment);
  }
  std::ifstream in(*file_path, std::ios::binary);
  if (!in) {
    return fail(ConfigError{"cannot read configuration file " + *file_path});
  }
  constexpr std::size_t kMaxFileBytes = 1 << 20;
  std::string text(kMaxFileBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxFileBytes) {
    return fail(ConfigError{"configuration file " + *file_path + " is larger than 1 MiB"});
  }
  return load_text(text, *file_path, environment);
}

Result<Config, ConfigError> Config::load_text(std::string_view toml_text, std::string_view source_name,
                                              const Environment& environment) {
  Config config;
  for (const SettingSpec& spec : all_settings()) {
    Value value;
    const auto problem = assign_text(spec, spec.default_value, "default", value.text, value.integer, value.boolean);
    assert(!problem && "a built-in default is invalid");
    config.values_.emplace(spec.key, std::move(value));
  }

  toml::table table;
  try {
    table = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& error) {
    return fail(ConfigError{position(source_name, error.source()) + ": malformed TOML: " +
                            std::string(error.description())});
  }

  for (const auto& [section_key, section_node] : table) {
    const auto* section = section_node.as_table();
    if (section == nullptr) {
      return fail(ConfigError{position(source_name, section_node.source()) + ": unknown setting \"" +
                              std::string(section_key.str()) + "\" (settings live in [section] tables)"});
    }
    for (const auto& [name_key, node] : *section) {
      const std::string key = std::string(section_key.str()) + "." + std::string(name_key.str());
      const SettingSpec* spec = find_spec(key);
      if (spec == nullptr) {
        return fail(ConfigError{position(source_name, node.source()) + ": unknown setting \"" + key + "\""});
      }
      const auto text = toml_value_text(node, spec->kind);
      if (!text) {
        return fail(ConfigError{position(source_name, node.source()) + ": " + key + " must be " +
                                describe_allowed(*spec)});
      }
      Value& value = config.values_.find(key)->second;
      if (auto problem = assign_text(*spec, *text, position(source_name, node.source()), value.text, value.integer,
                                     value.boolean)) {
        return fail(ConfigError{std::move(*problem)});
      }
      value.origin = "file";
    }
  }

  for (const SettingSpec& spec : all_settings()) {
    const std::string variable = environment_variable_for(spec.key);
    const auto text = environment(variable);
    if (!text) {
      continue;
    }
    Value& value = config.values_.find(spec.key)->second;
    if (auto problem =
            assign_text(spec, *text, "environment " + variable, value.text, value.integer, value.boolean)) {
      return fail(ConfigError{std::move(*problem)});
    }
    value.origin = "environment";
  }
  return config;
}

const Config::Value& Config::find(std::string_view key, [[maybe_unused]] Kind kind) const {
  const auto it = values_.find(key);
  assert(it != values_.end() && "unknown configuration key");
  [[maybe_unused]] const SettingSpec* spec = find_spec(key);
  assert(spec != nullptr && (spec->kind == kind || (kind == Kind::string && spec->kind == Kind::choice)) &&
         "configuration key read as the wrong kind");
  return it->second;
}

const std::string& Config::text(std::string_view key) const { return find(key, Kind::string).text; }
std::int64_t Config::integer(std::string_view key) const { return find(key, Kind::integer).integer; }
bool Config::boolean(std::string_view key) const { return find(key, Kind::boolean).boolean; }
Money Config::money(std::string_view key) const { return Money{find(key, Kind::money).integer, Currency::usd()}; }

std::string_view Config::origin(std::string_view key) const {
  const auto it = values_.find(key);
  assert(it != values_.end() && "unknown configuration key");
  return it->second.origin;
}

std::string settings_markdown() {
  std::ostringstream out;
  out << "| key | environment variable | default | allowed | meaning |\n";
  out << "|---|---|---|---|---|\n";
  for (const SettingSpec& spec : all_settings()) {
    const std::string shown_default = spec.default_value.empty() ? "(empty)" : "`" + spec.default_value + "`";
    out << "| `" << spec.key << "` | `" << environment_variable_for(spec.key) << "` | " << shown_default << " | "
        << describe_allowed(spec) << " | " << spec.description << " |\n";
  }
  return out.str();
}

}  // namespace cch::config
