#pragma once
// Risk factors of the margin model: product x tenor bucket, at constant time to delivery.
//
// A tenor bucket is a window of whole UTC days counted from the first delivery day still to come
// on a business date D, which is D + 1 (the forward curves' first day, docs/curves.md): offset 0
// is D + 1. The factor (product p, bucket b) on date D is the level
//     L(p, b, D) = the mean of p's forward curve of D over the days [D + 1 + first, D + 1 + end)
// (every day weighs the same: delivery is 24/7 baseload). Its returns are taken between the
// levels of two dates, so a factor always means "the same distance ahead", whatever the calendar
// (constant time to delivery): the scenarios move what a position will be exposed to, not a
// contract that ages into the prompt.
//
//   bucket   days ahead      what it stands for
//   prompt   [0, 7)          the coming week
//   M1..M6   30 days each    the first to the sixth month after it, [7, 187)
//   Q3, Q4   91 days each    the third and fourth quarter ahead, [187, 369)
//   Y2, Y3   365 days each   the second and third year ahead, [369, 1099)
//
// A day beyond the last bucket (possible only for a listing horizon above 1,096 days, the
// registry's maximum) belongs to the last bucket. The buckets get wider with distance because the
// forward curves themselves are quoted more coarsely there (days and weeks near, months, then
// quarters and years) and their far ends move together.
//
// Thread safety: constants and pure functions.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace cch::margin {

struct TenorBucket {
  std::string_view label;
  std::int32_t first_day = 0;  // offset from the first delivery day, inclusive
  std::int32_t end_day = 0;    // exclusive
};

inline constexpr std::size_t kBucketCount = 11;

inline constexpr std::array<TenorBucket, kBucketCount> kTenorBuckets = {{
    {"prompt", 0, 7},
    {"M1", 7, 37},
    {"M2", 37, 67},
    {"M3", 67, 97},
    {"M4", 97, 127},
    {"M5", 127, 157},
    {"M6", 157, 187},
    {"Q3", 187, 278},
    {"Q4", 278, 369},
    {"Y2", 369, 734},
    {"Y3", 734, 1099},
}};

// The days ahead the factor levels reach: a forward curve must cover [0, kFactorHorizonDays).
inline constexpr std::int32_t kFactorHorizonDays = 1099;

// The bucket of a day `offset` days after the first delivery day. Precondition: offset >= 0.
std::size_t bucket_of_day(std::int32_t offset);

}  // namespace cch::margin
