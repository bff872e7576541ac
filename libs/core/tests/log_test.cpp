#include "cch/core/log.hpp"

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <thread>

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

// Buffered lines reach standard error: at exit, with the first warning after them, and within
// the flush interval. Each case runs in a fresh process (threadsafe death tests re-execute the
// binary), whose standard error the matcher reads.
TEST(Log, BufferedLinesReachStandardErrorAtExitWithAWarningAndWithinTheInterval) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const auto init = [] { cch::log::init("logtest", cch::log::Level::info, cch::log::Format::text); };
  EXPECT_EXIT(
      {
        init();
        cch::log::info("first_line");
        cch::log::info("second_line");
        std::exit(0);
      },
      ::testing::ExitedWithCode(0), "first_line[^\n]*\n[^\n]*second_line");
  EXPECT_EXIT(
      {
        init();
        cch::log::info("before_the_warning");
        cch::log::warn("the_warning");
        std::_Exit(3);  // no exit handlers: only what was written at once is there
      },
      ::testing::ExitedWithCode(3), "before_the_warning[^\n]*\n[^\n]*the_warning");
  EXPECT_EXIT(
      {
        init();
        cch::log::info("flushed_by_the_interval");
        std::this_thread::sleep_for(std::chrono::seconds(2));  // 20 flush intervals
        std::_Exit(4);
      },
      ::testing::ExitedWithCode(4), "flushed_by_the_interval");
}
