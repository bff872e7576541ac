#pragma once
// The maximum-smoothness daily curve under average constraints (the method of
// forward_curve.hpp). Private to libs/pricing.

#include <cstdint>
#include <span>
#include <vector>

namespace cch::pricing::detail {

// The values on days [begin, end) of the span (days counted from the span's first day) sum to
// `total`.
struct SumConstraint {
  std::int64_t begin = 0;
  std::int64_t end = 0;
  double total = 0.0;
};

// The daily values x_0..x_{span_days - 1} minimising
//     sum (d_{t+1} - d_t)^2 + d_0^2 + d_{span_days - 2}^2 + tension * sum d_t^2,  d_t = x_{t+1} - x_t,
// subject to the constraints. Preconditions (asserted): span_days >= 1; at least one constraint;
// each within [0, span_days) and not empty; the constraints linearly independent (no
// constraint's days are a signed sum of others', which the caller's dependency check
// ensures); tension >= 0.
std::vector<double> solve_max_smoothness(std::int64_t span_days, std::span<const SumConstraint> constraints,
                                         double tension);

}  // namespace cch::pricing::detail
