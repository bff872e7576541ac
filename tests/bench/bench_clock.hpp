#pragma once
// The database benchmarks' timing: seconds since an instant of the steady clock, and the median
// of a round's figures (the upper middle one of an even count).
#include <algorithm>
#include <chrono>
#include <vector>

namespace cch::bench {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Precondition: at least one value.
inline double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace cch::bench
