#include "cch/core/log.hpp"

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

TEST(Log, JsonLineIsOneParseableObjectWithTypedFields) {
  const std::string line = cch::log::format_line(cch::log::Format::json, "registry", cch::log::Level::warn,
                                                 "limit_refused", "req-1",
                                                 {{"member", "quote\"and\nnewline"}, {"count", 3}, {"ok", false}});
  const auto parsed = nlohmann::json::parse(line);
  EXPECT_EQ(parsed["service"], "registry");
  EXPECT_EQ(parsed["level"], "warn");
  EXPECT_EQ(parsed["event"], "limit_refused");
  EXPECT_EQ(parsed["request_id"], "req-1");
  EXPECT_EQ(parsed["member"], "quote\"and\nnewline");
  EXPECT_EQ(parsed["count"], 3);
  EXPECT_EQ(parsed["ok"], false);
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

TEST(Log, RequestIdScopesNestAndRestore) {
  EXPECT_EQ(cch::log::current_request_id(), "");
  {
    cch::log::ScopedRequestId outer("outer");
    EXPECT_EQ(cch::log::current_request_id(), "outer");
    {
      cch::log::ScopedRequestId inner("inner");
      EXPECT_EQ(cch::log::current_request_id(), "inner");
    }
    EXPECT_EQ(cch::log::current_request_id(), "outer");
  }
  EXPECT_EQ(cch::log::current_request_id(), "");
}

TEST(Log, ParsesOnlyKnownLevelsAndFormats) {
  cch::log::Level level{};
  EXPECT_TRUE(cch::log::parse_level("warn", level));
  EXPECT_EQ(level, cch::log::Level::warn);
  EXPECT_FALSE(cch::log::parse_level("WARN", level));
  EXPECT_FALSE(cch::log::parse_level("verbose", level));
  cch::log::Format format{};
  EXPECT_TRUE(cch::log::parse_format("text", format));
  EXPECT_FALSE(cch::log::parse_format("xml", format));
}
