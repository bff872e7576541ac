#include "cch/margin/parameters.hpp"

#include <gtest/gtest.h>

namespace cch::margin {
namespace {

TEST(MarginParameters, TheDefaultsAreValidAndTheRegulatoryMinimaHold) {
  EXPECT_FALSE(validate(MarginParameters{}).has_value());
  MarginParameters p;
  p.forward.confidence_bp = 9'900;  // OTC needs 99.5 %
  EXPECT_EQ(validate(p)->parameter, "forward.confidence_bp");
  p = MarginParameters{};
  p.forward.mpor_days = 2;  // OTC needs five days
  EXPECT_EQ(validate(p)->parameter, "forward.mpor_days");
  p = MarginParameters{};
  p.apc_stress_weight_bp = 2'000;  // at least 25 %
  EXPECT_EQ(validate(p)->parameter, "apc_stress_weight_bp");
  p = MarginParameters{};
  p.stress_first = BusinessDate::from_year_month_day(2025, 6, 1).value();
  EXPECT_EQ(validate(p)->parameter, "stress_last");
  p.stress_last = BusinessDate::from_year_month_day(2026, 5, 30).value();  // 364 days
  EXPECT_EQ(validate(p)->parameter, "stress_last");
  p.stress_last = BusinessDate::from_year_month_day(2026, 5, 31).value();  // twelve months
  EXPECT_FALSE(validate(p).has_value());
}

TEST(MarginParameters, TheTextFormRoundTripsAndRefusesWhatIsWrong) {
  MarginParameters p;
  p.apc_mode = ApcMode::buffer;
  p.stress_first = BusinessDate::from_year_month_day(2025, 6, 1).value();
  p.stress_last = BusinessDate::from_year_month_day(2026, 5, 31).value();
  p.spread_ticks[ProductId::from_value(7).value()] = 300;
  const std::string text = serialise(p);
  const auto parsed = parse_parameters(text);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().parameter << ": " << parsed.error().detail;
  EXPECT_EQ(*parsed, p);
  EXPECT_EQ(serialise(*parsed), text);
  EXPECT_NE(text.find("spread_ticks.7=300\n"), std::string::npos);

  EXPECT_EQ(parse_parameters(text + "ewma_lambda_e4=9700\n").error().detail, "given twice");
  EXPECT_EQ(parse_parameters(text + "colour=blue\n").error().detail, "no such parameter");
  const std::string without = text.substr(text.find('\n') + 1);
  EXPECT_EQ(parse_parameters(without).error().parameter, "future.mpor_days");
  std::string bad = text;
  bad.replace(bad.find("ewma_lambda_e4=9700"), 19, "ewma_lambda_e4=99x");
  EXPECT_EQ(parse_parameters(bad).error().parameter, "ewma_lambda_e4");
  bad = text;
  bad.replace(bad.find("ewma_lambda_e4=9700"), 19, "ewma_lambda_e4=9999");
  EXPECT_EQ(parse_parameters(bad).error().parameter, "ewma_lambda_e4");  // out of range
}

}  // namespace
}  // namespace cch::margin
