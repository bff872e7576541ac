#pragma once
// Configuration of every cch process: one TOML file format, environment overrides, a documented
// default for every setting.
//
// Each setting has a key "section.name" (TOML table [section], key name) and an environment
// variable CCH_SECTION_NAME that overrides the file. The list of settings is fixed in code
// (settings.cpp): a key the list does not know, a value of the wrong type, out of range or not
// one of the allowed choices, or a malformed file is refused with one clear message naming the
// key (and for the file, the line and column). docs/configuration.md is generated from the same
// list (`cch-admin config docs`) and a test keeps the two equal.
//
// Thread safety: a loaded Config is immutable; concurrent reads are safe.

#include "cch/core/money.hpp"
#include "cch/core/result.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cch::config {

// money: an amount of USD as decimal text, "1000000000.00" (a TOML string: exact decimals travel
// as strings), read as cch::Money; its range is in cents.
enum class Kind { string, integer, boolean, choice, money };

struct SettingSpec {
  std::string key;                   // "section.name"
  Kind kind = Kind::string;
  std::string default_value;         // textual form, as it would appear in an environment variable
  std::string description;
  std::int64_t minimum = 0;          // integers; money in minor units (cents)
  std::int64_t maximum = 0;          // integers; money in minor units (cents)
  std::vector<std::string> choices;  // choices only
};

// Every setting cch knows, in documentation order.
std::span<const SettingSpec> all_settings();

// The environment variable that overrides `key`: "database.url" -> "CCH_DATABASE_URL".
std::string environment_variable_for(std::string_view key);

// Reads one environment variable; tests pass their own.
using Environment = std::function<std::optional<std::string>(std::string_view name)>;
Environment process_environment();

struct ConfigError {
  std::string message;  // one line, names the key or file position
};

class Config {
 public:
  // Defaults, then the file (if given), then the environment.
  static Result<Config, ConfigError> load(const std::optional<std::string>& file_path, const Environment& environment);
  // Same, with the TOML text given directly (tests, and `config check` on stdin).
  static Result<Config, ConfigError> load_text(std::string_view toml_text, std::string_view source_name,
                                               const Environment& environment);

  // Typed reads. Asking for an unknown key or the wrong kind is a programmer error (asserts).
  [[nodiscard]] const std::string& text(std::string_view key) const;
  [[nodiscard]] std::int64_t integer(std::string_view key) const;
  [[nodiscard]] bool boolean(std::string_view key) const;
  [[nodiscard]] Money money(std::string_view key) const;

  // Where each effective value came from: "default", "file" or "environment".
  [[nodiscard]] std::string_view origin(std::string_view key) const;

 private:
  struct Value {
    std::string text;
    std::int64_t integer = 0;
    bool boolean = false;
    std::string_view origin = "default";
  };
  const Value& find(std::string_view key, Kind kind) const;
  std::map<std::string, Value, std::less<>> values_;
};

// Markdown table of every setting (key, environment variable, default, allowed values, meaning).
std::string settings_markdown();

// The names of the network services, each with a [<name>] section (listen_address, port, tls).
std::span<const std::string_view> service_names();

}  // namespace cch::config
