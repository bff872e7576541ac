#include "forward_solver.hpp"

#include <cassert>
#include <cmath>
#include <cstddef>
#include <utility>

namespace cch::pricing::detail {

namespace {

constexpr int kRefinementRounds = 2;

// The tridiagonal matrix T = tridiag(-1, 2 + tension, -1) of order n, as its Cholesky factor
// T = G G^T with G lower bidiagonal: diagonal g_i, subdiagonal h_i (h_0 unused).
class TridiagonalCholesky {
 public:
  TridiagonalCholesky(std::size_t order, double tension) : diagonal_(order), subdiagonal_(order) {
    const double main = 2.0 + tension;
    for (std::size_t index = 0; index < order; ++index) {
      const double below = index == 0 ? 0.0 : -1.0 / diagonal_[index - 1];
      subdiagonal_[index] = below;
      const double pivot = main - below * below;
      assert(pivot > 0.0 && "the roughness Hessian is positive definite");
      diagonal_[index] = std::sqrt(pivot);
    }
  }

  // Solves T z = r in place.
  void solve(std::vector<double>& values) const {
    const std::size_t order = diagonal_.size();
    for (std::size_t index = 0; index < order; ++index) {
      const double carried = index == 0 ? 0.0 : subdiagonal_[index] * values[index - 1];
      values[index] = (values[index] - carried) / diagonal_[index];
    }
    for (std::size_t index = order; index-- > 0;) {
      const double carried = index + 1 == order ? 0.0 : subdiagonal_[index + 1] * values[index + 1];
      values[index] = (values[index] - carried) / diagonal_[index];
    }
  }

 private:
  std::vector<double> diagonal_;
  std::vector<double> subdiagonal_;
};

// A dense square system factorised by Gaussian elimination with partial pivoting (P M = L U).
class DenseLu {
 public:
  explicit DenseLu(std::vector<double> matrix, std::size_t order)
      : order_(order), factors_(std::move(matrix)), pivots_(order) {
    for (std::size_t column = 0; column < order_; ++column) {
      std::size_t pivot = column;
      for (std::size_t row = column + 1; row < order_; ++row) {
        if (std::abs(at(row, column)) > std::abs(at(pivot, column))) {
          pivot = row;
        }
      }
      pivots_[column] = pivot;
      if (pivot != column) {
        for (std::size_t index = 0; index < order_; ++index) {
          std::swap(at(pivot, index), at(column, index));
        }
      }
      assert(at(column, column) != 0.0 && "the bordered system is nonsingular for independent constraints");
      for (std::size_t row = column + 1; row < order_; ++row) {
        const double factor = at(row, column) / at(column, column);
        at(row, column) = factor;
        for (std::size_t index = column + 1; index < order_; ++index) {
          at(row, index) -= factor * at(column, index);
        }
      }
    }
  }

  // Solves M y = r in place.
  void solve(std::vector<double>& values) const {
    for (std::size_t column = 0; column < order_; ++column) {
      std::swap(values[column], values[pivots_[column]]);
    }
    for (std::size_t row = 0; row < order_; ++row) {
      double sum = values[row];
      for (std::size_t index = 0; index < row; ++index) {
        sum -= at(row, index) * values[index];
      }
      values[row] = sum;
    }
    for (std::size_t row = order_; row-- > 0;) {
      double sum = values[row];
      for (std::size_t index = row + 1; index < order_; ++index) {
        sum -= at(row, index) * values[index];
      }
      values[row] = sum / at(row, row);
    }
  }

 private:
  double& at(std::size_t row, std::size_t column) { return factors_[row * order_ + column]; }
  [[nodiscard]] double at(std::size_t row, std::size_t column) const { return factors_[row * order_ + column]; }

  std::size_t order_;
  std::vector<double> factors_;
  std::vector<std::size_t> pivots_;
};

double sum_over(std::span<const double> values, const SumConstraint& constraint) {
  double sum = 0.0;
  for (auto day = static_cast<std::size_t>(constraint.begin); day < static_cast<std::size_t>(constraint.end); ++day) {
    sum += values[day];
  }
  return sum;
}

// The change of the days' values per unit of one constraint's multiplier: with
// d = T^-1 w_q (w_q(u) = how many of the constraint's days come after day u), the profile
// X_q(t) = sum_{u < t} d_u.
std::vector<double> constraint_profile(std::size_t span_days, const SumConstraint& constraint,
                                       const TridiagonalCholesky& hessian) {
  const std::size_t changes = span_days - 1;
  const auto begin = static_cast<std::size_t>(constraint.begin);
  const auto end = static_cast<std::size_t>(constraint.end);
  std::vector<double> weights(changes);
  for (std::size_t change = 0; change < changes; ++change) {
    if (change < begin) {
      weights[change] = static_cast<double>(end - begin);
    } else if (change + 1 < end) {
      weights[change] = static_cast<double>(end - 1 - change);
    } else {
      weights[change] = 0.0;
    }
  }
  hessian.solve(weights);
  std::vector<double> profile(span_days);
  profile[0] = 0.0;
  for (std::size_t day = 1; day < span_days; ++day) {
    profile[day] = profile[day - 1] + weights[day - 1];
  }
  return profile;
}

}  // namespace

std::vector<double> solve_max_smoothness(std::int64_t span_days, std::span<const SumConstraint> constraints,
                                         double tension) {
  assert(span_days >= 1 && !constraints.empty() && tension >= 0.0);
  const auto days = static_cast<std::size_t>(span_days);
  const std::size_t count = constraints.size();
  for (const SumConstraint& constraint : constraints) {
    assert(constraint.begin >= 0 && constraint.begin < constraint.end && constraint.end <= span_days);
    static_cast<void>(constraint);
  }

  // Profiles X_q of every constraint's multiplier (empty when the span is one day: no changes).
  std::vector<std::vector<double>> profiles;
  profiles.reserve(count);
  if (days > 1) {
    const TridiagonalCholesky hessian(days - 1, tension);
    for (const SumConstraint& constraint : constraints) {
      profiles.push_back(constraint_profile(days, constraint, hessian));
    }
  } else {
    profiles.assign(count, std::vector<double>(days, 0.0));
  }

  // The bordered system [S l; l^T 0] [mu; level] = [totals; 0] with S_iq = sum over constraint
  // i's days of X_q and l_i = constraint i's number of days.
  const std::size_t order = count + 1;
  std::vector<double> bordered(order * order, 0.0);
  for (std::size_t row = 0; row < count; ++row) {
    for (std::size_t column = 0; column < count; ++column) {
      bordered[row * order + column] = sum_over(profiles[column], constraints[row]);
    }
    const auto length = static_cast<double>(constraints[row].end - constraints[row].begin);
    bordered[row * order + count] = length;
    bordered[count * order + row] = length;
  }
  const DenseLu system(std::move(bordered), order);

  std::vector<double> unknowns(order, 0.0);  // multipliers, then the level x_0
  std::vector<double> values(days, 0.0);
  std::vector<double> residuals(order);
  for (int round = 0; round <= kRefinementRounds; ++round) {
    // Residuals of the constraints and of l^T mu = 0 at the current unknowns (all zero at first).
    double length_weighted = 0.0;
    for (std::size_t row = 0; row < count; ++row) {
      residuals[row] = constraints[row].total - sum_over(values, constraints[row]);
      length_weighted += static_cast<double>(constraints[row].end - constraints[row].begin) * unknowns[row];
    }
    residuals[count] = -length_weighted;
    system.solve(residuals);
    for (std::size_t index = 0; index < order; ++index) {
      unknowns[index] += residuals[index];
    }
    for (std::size_t day = 0; day < days; ++day) {
      double value = unknowns[count];
      for (std::size_t column = 0; column < count; ++column) {
        value += unknowns[column] * profiles[column][day];
      }
      values[day] = value;
    }
  }
  return values;
}

}  // namespace cch::pricing::detail
