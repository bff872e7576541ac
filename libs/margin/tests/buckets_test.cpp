#include "cch/margin/buckets.hpp"

#include <gtest/gtest.h>

namespace cch::margin {
namespace {

TEST(TenorBuckets, CoverEveryDayAheadWithoutGapOrOverlap) {
  EXPECT_EQ(kTenorBuckets.front().first_day, 0);
  for (std::size_t b = 1; b < kBucketCount; ++b) EXPECT_EQ(kTenorBuckets[b].first_day, kTenorBuckets[b - 1].end_day);
  EXPECT_EQ(kTenorBuckets.back().end_day, kFactorHorizonDays);
}

TEST(TenorBuckets, ADayBelongsToTheBucketWhoseWindowHoldsIt) {
  EXPECT_EQ(bucket_of_day(0), 0u);
  EXPECT_EQ(bucket_of_day(6), 0u);
  EXPECT_EQ(bucket_of_day(7), 1u);
  EXPECT_EQ(bucket_of_day(186), 6u);
  EXPECT_EQ(bucket_of_day(187), 7u);
  EXPECT_EQ(bucket_of_day(368), 8u);
  EXPECT_EQ(bucket_of_day(369), 9u);
  EXPECT_EQ(bucket_of_day(1098), 10u);
  EXPECT_EQ(bucket_of_day(5000), 10u);  // beyond the last bucket: the last
}

}  // namespace
}  // namespace cch::margin
