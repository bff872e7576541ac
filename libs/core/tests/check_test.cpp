// CCH_CHECK holds in every build: this file is compiled as a release build would be (NDEBUG), so a
// check that depended on assert() would be gone here and the death test would fail.
#ifndef NDEBUG
#define NDEBUG
#endif
#include "cch/core/check.hpp"

#include <gtest/gtest.h>

#include <cassert>

namespace cch {
namespace {

int evaluated = 0;
bool counted(bool value) {
  ++evaluated;
  return value;
}

TEST(Check, AHoldingInvariantCostsOneEvaluationAndChangesNothing) {
  evaluated = 0;
  CCH_CHECK(counted(true), "holds");
  EXPECT_EQ(evaluated, 1);
}

TEST(CheckDeathTest, ABrokenInvariantAbortsEvenWhereAssertIsCompiledOut) {
  assert(false && "compiled out here");  // NDEBUG: this line does nothing
  EXPECT_DEATH(CCH_CHECK(1 + 1 == 3, "arithmetic"), "invariant broken: 1 \\+ 1 == 3 \\(arithmetic\\)");
}

}  // namespace
}  // namespace cch
