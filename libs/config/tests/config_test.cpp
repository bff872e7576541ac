#include "cch/config/config.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

namespace {

cch::config::Environment environment_of(std::map<std::string, std::string> variables) {
  return [variables = std::move(variables)](std::string_view name) -> std::optional<std::string> {
    const auto it = variables.find(std::string(name));
    if (it == variables.end()) {
      return std::nullopt;
    }
    return it->second;
  };
}

const cch::config::Environment kNoEnvironment = environment_of({});

}  // namespace

TEST(Config, EverySettingHasAValidDefault) {
  const auto config = cch::config::Config::load_text("", "empty", kNoEnvironment);
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->text("database.url"), "postgresql://cch@127.0.0.1:5432/cch");
  EXPECT_EQ(config->integer("database.pool_size"), 8);
  EXPECT_EQ(config->integer("api.port"), 8443);
  EXPECT_TRUE(config->boolean("api.tls"));
  EXPECT_FALSE(config->boolean("registry.tls"));
  EXPECT_EQ(config->origin("database.pool_size"), "default");
  for (const auto& spec : cch::config::all_settings()) {
    EXPECT_FALSE(spec.description.empty()) << spec.key;
  }
}

TEST(Config, FileOverridesDefaultsAndEnvironmentOverridesFile) {
  const std::string text = R"(
[database]
url = "postgresql://file@127.0.0.1:1/x"
pool_size = 4

[registry]
port = 9001
)";
  const auto config = cch::config::Config::load_text(
      text, "cch.toml", environment_of({{"CCH_DATABASE_POOL_SIZE", "16"}, {"CCH_LOG_FORMAT", "text"}}));
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->text("database.url"), "postgresql://file@127.0.0.1:1/x");
  EXPECT_EQ(config->origin("database.url"), "file");
  EXPECT_EQ(config->integer("database.pool_size"), 16);
  EXPECT_EQ(config->origin("database.pool_size"), "environment");
  EXPECT_EQ(config->integer("registry.port"), 9001);
  EXPECT_EQ(config->text("log.format"), "text");
}

TEST(Config, MalformedTomlNamesFileLineAndColumn) {
  const auto config = cch::config::Config::load_text("[database]\nurl = \"unterminated\n", "bad.toml", kNoEnvironment);
  ASSERT_FALSE(config);
  EXPECT_NE(config.error().message.find("bad.toml:2:"), std::string::npos) << config.error().message;
  EXPECT_NE(config.error().message.find("malformed TOML"), std::string::npos) << config.error().message;
  EXPECT_EQ(config.error().message.find('\n'), std::string::npos) << "the error must be one line";
}

TEST(Config, UnknownKeyIsRefusedNotIgnored) {
  const auto config = cch::config::Config::load_text("[database]\npool_sise = 3\n", "typo.toml", kNoEnvironment);
  ASSERT_FALSE(config);
  EXPECT_NE(config.error().message.find("unknown setting \"database.pool_sise\""), std::string::npos)
      << config.error().message;
  const auto top_level = cch::config::Config::load_text("port = 3\n", "top.toml", kNoEnvironment);
  ASSERT_FALSE(top_level);
  EXPECT_NE(top_level.error().message.find("unknown setting \"port\""), std::string::npos);
}

TEST(Config, WrongTypeOutOfRangeAndBadChoiceAreRefusedWithTheKey) {
  const struct {
    std::string text;
    std::string expected;
  } cases[] = {
      {"[database]\npool_size = \"eight\"\n", "database.pool_size must be an integer from 1 to 256"},
      {"[database]\npool_size = 0\n", "database.pool_size must be an integer from 1 to 256"},
      {"[database]\npool_size = 2.5\n", "database.pool_size must be an integer"},
      {"[api]\ntls = \"yes\"\n", "api.tls must be true or false"},
      {"[log]\nlevel = \"verbose\"\n", "log.level must be one of debug, info, warn, error"},
      {"[api]\nport = 70000\n", "api.port must be an integer from 0 to 65535"},
  };
  for (const auto& c : cases) {
    const auto config = cch::config::Config::load_text(c.text, "case.toml", kNoEnvironment);
    ASSERT_FALSE(config) << c.text;
    EXPECT_NE(config.error().message.find(c.expected), std::string::npos) << config.error().message;
  }
}

TEST(Config, AnAmountSettingIsExactDecimalTextWithinItsRange) {
  const std::string key = "settlement.collateral_movement_max";
  const auto defaults = cch::config::Config::load_text("", "empty", kNoEnvironment);
  ASSERT_TRUE(defaults);
  EXPECT_EQ(defaults->money(key), (cch::Money{100'000'000'000, cch::Currency::usd()}));  // 1,000,000,000.00 USD
  const auto from_file =
      cch::config::Config::load_text("[settlement]\ncollateral_movement_max = \"2500000.5\"\n", "f.toml", kNoEnvironment);
  ASSERT_TRUE(from_file) << from_file.error().message;
  EXPECT_EQ(from_file->money(key).amount_minor, 250'000'050);
  const auto from_environment = cch::config::Config::load_text(
      "", "empty", environment_of({{"CCH_SETTLEMENT_COLLATERAL_MOVEMENT_MAX", "10000000000000.00"}}));
  ASSERT_TRUE(from_environment) << from_environment.error().message;
  EXPECT_EQ(from_environment->money(key).amount_minor, cch::kAmountMinorMax);
  for (const std::string value : {"\"0.00\"", "\"10000000000000.01\"", "\"92233720368547758.07\"", "\"1.005\"",
                                  "\"1e9\"", "\"-5.00\"", "\"\"", "1000"}) {
    const auto refused =
        cch::config::Config::load_text("[settlement]\ncollateral_movement_max = " + value + "\n", "f.toml", kNoEnvironment);
    ASSERT_FALSE(refused) << value;
    EXPECT_NE(refused.error().message.find(key + " must be an amount of USD from 0.01 to 10000000000000.00"),
              std::string::npos)
        << refused.error().message;
  }
}

TEST(Config, MalformedEnvironmentValueNamesTheVariable) {
  const auto config = cch::config::Config::load_text("", "none", environment_of({{"CCH_HTTP_BODY_LIMIT_BYTES", "1k"}}));
  ASSERT_FALSE(config);
  EXPECT_NE(config.error().message.find("environment CCH_HTTP_BODY_LIMIT_BYTES"), std::string::npos)
      << config.error().message;
}

TEST(Config, MissingFileIsOneClearError) {
  const auto config = cch::config::Config::load(std::string("/nonexistent/cch.toml"), kNoEnvironment);
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().message, "cannot read configuration file /nonexistent/cch.toml");
}

TEST(Config, EnvironmentVariableNamesFollowTheKey) {
  EXPECT_EQ(cch::config::environment_variable_for("database.url"), "CCH_DATABASE_URL");
  EXPECT_EQ(cch::config::environment_variable_for("http.read_timeout_ms"), "CCH_HTTP_READ_TIMEOUT_MS");
}

TEST(Config, DocumentationListsExactlyTheSettingsInCode) {
  std::ifstream in(CCH_CONFIGURATION_DOC);
  ASSERT_TRUE(in) << "missing " << CCH_CONFIGURATION_DOC;
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string document = buffer.str();
  const std::string table = cch::config::settings_markdown();
  EXPECT_NE(document.find(table), std::string::npos)
      << "docs/configuration.md is out of date: regenerate its table with `cch-admin config docs`";
}
