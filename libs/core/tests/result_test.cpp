#include "cch/core/result.hpp"

#include <memory>
#include <string>
#include <utility>

#include <gtest/gtest.h>

namespace {

enum class ExampleError { exceeds_limit };

cch::Result<int, ExampleError> checked_below_ten(int value) {
  if (value >= 10) {
    return cch::fail(ExampleError::exceeds_limit);
  }
  return value;
}

}  // namespace

TEST(Result, HoldsAValueOrAnError) {
  const auto accepted = checked_below_ten(3);
  ASSERT_TRUE(accepted.has_value());
  EXPECT_TRUE(static_cast<bool>(accepted));
  EXPECT_EQ(accepted.value(), 3);
  EXPECT_EQ(*accepted, 3);

  const auto refused = checked_below_ten(10);
  ASSERT_FALSE(refused.has_value());
  EXPECT_FALSE(static_cast<bool>(refused));
  EXPECT_EQ(refused.error(), ExampleError::exceeds_limit);
}

TEST(Result, MovesOutMoveOnlyValues) {
  cch::Result<std::unique_ptr<std::string>, ExampleError> result(std::make_unique<std::string>("kept"));
  std::unique_ptr<std::string> taken = std::move(result).value();
  ASSERT_NE(taken, nullptr);
  EXPECT_EQ(*taken, "kept");
}

TEST(Result, ValueAndErrorMayShareAType) {
  // E is chosen by fail(), not by the type, so Result<int, int> is unambiguous.
  const cch::Result<int, int> success = 5;
  const cch::Result<int, int> failure = cch::fail(5);
  EXPECT_TRUE(success.has_value());
  EXPECT_FALSE(failure.has_value());
  EXPECT_EQ(failure.error(), 5);
}
