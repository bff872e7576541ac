#include "cch/margin/buckets.hpp"

#include "cch/core/check.hpp"

namespace cch::margin {

std::size_t bucket_of_day(std::int32_t offset) {
  CCH_CHECK(offset >= 0, "a delivery day before the first delivery day has no bucket");
  for (std::size_t b = 0; b < kBucketCount; ++b) {
    if (offset < kTenorBuckets[b].end_day) return b;
  }
  return kBucketCount - 1;
}

}  // namespace cch::margin
