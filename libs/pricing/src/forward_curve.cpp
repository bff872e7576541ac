#include "cch/pricing/forward_curve.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <utility>

#include "cch/core/price.hpp"
#include "forward_solver.hpp"

namespace cch::pricing {

namespace {

constexpr double kTicksPerUsd = 10'000.0;

CurveError refuse(CurveRefusal reason, std::string detail) {
  return CurveError{reason, std::move(detail), std::nullopt};
}

std::string format_ticks(std::int64_t price_ticks) {
  return PricePerGpuHour{price_ticks}.format();
}

std::string format_usd(double price_usd) {
  char text[64];
  std::snprintf(text, sizeof text, "%.6f", price_usd);
  return text;
}

std::string describe(const PeriodQuote& quote) {
  return "'" + quote.label + "' [" + quote.first_day.format() + ", " + quote.end_day.format() + ")";
}

// A quote's period as day offsets from the curve's first day: [begin, end).
struct DayRange {
  std::int64_t begin = 0;
  std::int64_t end = 0;
  [[nodiscard]] std::int64_t days() const { return end - begin; }
};

std::optional<CurveError> check_quote(const PeriodQuote& quote, std::size_t index, std::span<const PeriodQuote> quotes,
                                      BusinessDate first_day, std::int64_t curve_days) {
  const std::int64_t begin = days_between(first_day, quote.first_day);
  const std::int64_t end = days_between(first_day, quote.end_day);
  if (end <= begin) {
    return refuse(CurveRefusal::invalid_period, "period " + describe(quote) + " does not end after it starts");
  }
  if (begin < 0 || end > curve_days) {
    return refuse(CurveRefusal::period_outside_curve, "period " + describe(quote) +
                                                          " is not within the curve's days [" + first_day.format() +
                                                          ", " + (*first_day.add_days(curve_days)).format() + ")");
  }
  if (quote.price_ticks <= 0) {
    return refuse(CurveRefusal::non_positive_price,
                  "quote " + describe(quote) + " has price " + format_ticks(quote.price_ticks) + ", not above zero");
  }
  if (quote.price_ticks > kPriceTicksMax) {
    return refuse(CurveRefusal::price_too_large, "quote " + describe(quote) + " has price " +
                                                     format_ticks(quote.price_ticks) + ", above " +
                                                     format_ticks(kPriceTicksMax));
  }
  for (std::size_t earlier = 0; earlier < index; ++earlier) {
    const PeriodQuote& other = quotes[earlier];
    if ((other.first_day == quote.first_day && other.end_day == quote.end_day) || other.label == quote.label) {
      return refuse(CurveRefusal::duplicate_period,
                    "quote " + describe(quote) + " repeats the period or the label of quote " + describe(other));
    }
  }
  return std::nullopt;
}

// Independent quotes as edges between day boundaries: a quote [a, b) joins boundary a and
// boundary b. The total over [a, b) is determined by the edges taken so far exactly when a and
// b are connected (cumulative sums S(b) - S(a) along a path), which a union-find answers; the
// edges form a forest, and the path between a and b in it names the determining quotes.
class DependencyForest {
 public:
  explicit DependencyForest(std::int64_t boundaries)
      : parent_(static_cast<std::size_t>(boundaries)), edges_at_(static_cast<std::size_t>(boundaries)) {
    std::iota(parent_.begin(), parent_.end(), std::size_t{0});
  }

  bool connected(std::int64_t left, std::int64_t right) { return root(index(left)) == root(index(right)); }

  void add(std::int64_t begin, std::int64_t end, std::size_t quote) {
    parent_[root(index(begin))] = root(index(end));
    edges_at_[index(begin)].push_back(Edge{end, quote, +1});
    edges_at_[index(end)].push_back(Edge{begin, quote, -1});
  }

  struct Step {
    std::size_t quote;
    int sign;  // +1: the quote's total is added; -1: subtracted
  };
  // The quotes on the forest's path from `from` to `to` (connected): S(to) - S(from) is the sum
  // of their signed totals.
  std::vector<Step> path(std::int64_t from, std::int64_t to) const {
    std::vector<std::int64_t> came_from(parent_.size(), -1);
    std::vector<Step> step_into(parent_.size(), Step{0, 0});
    std::vector<std::int64_t> frontier{from};
    came_from[index(from)] = from;
    for (std::size_t next = 0; next < frontier.size() && came_from[index(to)] < 0; ++next) {
      const std::int64_t boundary = frontier[next];
      for (const Edge& edge : edges_at_[index(boundary)]) {
        if (came_from[index(edge.other)] < 0) {
          came_from[index(edge.other)] = boundary;
          step_into[index(edge.other)] = Step{edge.quote, edge.sign};
          frontier.push_back(edge.other);
        }
      }
    }
    assert(came_from[index(to)] >= 0 && "path between connected boundaries");
    std::vector<Step> steps;
    for (std::int64_t boundary = to; boundary != from; boundary = came_from[index(boundary)]) {
      steps.push_back(step_into[index(boundary)]);
    }
    return steps;
  }

 private:
  struct Edge {
    std::int64_t other;
    std::size_t quote;
    int sign;
  };

  static std::size_t index(std::int64_t boundary) { return static_cast<std::size_t>(boundary); }

  std::size_t root(std::size_t node) {
    while (parent_[node] != node) {
      parent_[node] = parent_[parent_[node]];
      node = parent_[node];
    }
    return node;
  }

  std::vector<std::size_t> parent_;
  std::vector<std::vector<Edge>> edges_at_;
};

std::string inconsistency_detail(const PeriodQuote& quote, std::int64_t implied_total_tick_days, std::int64_t days,
                                 std::int64_t tick_size_ticks, std::span<const DependencyForest::Step> steps,
                                 std::span<const PeriodQuote> quotes) {
  std::vector<DependencyForest::Step> ordered(steps.begin(), steps.end());
  std::sort(ordered.begin(), ordered.end(), [&](const auto& left, const auto& right) {
    return quotes[left.quote].first_day < quotes[right.quote].first_day ||
           (quotes[left.quote].first_day == quotes[right.quote].first_day &&
            quotes[left.quote].end_day < quotes[right.quote].end_day);
  });
  std::string determining;
  for (const auto& step : ordered) {
    if (!determining.empty()) {
      determining += ", ";
    }
    determining += quotes[step.quote].label;
    if (step.sign < 0) {
      determining += " (subtracted)";
    }
  }
  const double implied_usd = static_cast<double>(implied_total_tick_days) / static_cast<double>(days) / kTicksPerUsd;
  return "quote '" + quote.label + "' at " + format_ticks(quote.price_ticks) + " differs from the average " +
         format_usd(implied_usd) + " implied by " + determining + " by more than half a tick (" +
         format_usd(static_cast<double>(tick_size_ticks) / 2.0 / kTicksPerUsd) + ")";
}

struct Decomposition {
  std::vector<std::size_t> independent;  // quote indices, in processing order
  std::vector<bool> dependent;           // by quote index
};

// Takes the quotes shortest first and sorts them into independent and dependent ones; refuses
// a dependent quote more than half a tick from its implied average.
Result<Decomposition, CurveError> decompose(std::span<const PeriodQuote> quotes, std::span<const DayRange> ranges,
                                            std::int64_t curve_days, std::int64_t tick_size_ticks) {
  std::vector<std::size_t> order(quotes.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  // Windows are distinct (duplicates were refused), so this order does not depend on the input's.
  std::sort(order.begin(), order.end(), [&](std::size_t left, std::size_t right) {
    return std::pair(ranges[left].days(), ranges[left].begin) < std::pair(ranges[right].days(), ranges[right].begin);
  });
  Decomposition decomposition{{}, std::vector<bool>(quotes.size(), false)};
  DependencyForest forest(curve_days + 1);
  for (const std::size_t quote : order) {
    const DayRange range = ranges[quote];
    if (!forest.connected(range.begin, range.end)) {
      forest.add(range.begin, range.end, quote);
      decomposition.independent.push_back(quote);
      continue;
    }
    decomposition.dependent[quote] = true;
    const std::vector<DependencyForest::Step> steps = forest.path(range.begin, range.end);
    std::int64_t implied_total = 0;  // ticks x days; at most 256 x 10^7 x 3660 in magnitude
    for (const auto& step : steps) {
      implied_total += step.sign * quotes[step.quote].price_ticks * ranges[step.quote].days();
    }
    const std::int64_t quoted_total = quotes[quote].price_ticks * range.days();
    if (2 * std::abs(implied_total - quoted_total) > tick_size_ticks * range.days()) {
      return fail(
          refuse(CurveRefusal::inconsistent_quotes,
                 inconsistency_detail(quotes[quote], implied_total, range.days(), tick_size_ticks, steps, quotes)));
    }
  }
  return decomposition;
}

}  // namespace

ForwardCurve::ForwardCurve(BusinessDate first_day, std::vector<double> daily_prices_usd)
    : first_day_(first_day), daily_prices_(std::move(daily_prices_usd)) {
  assert(!daily_prices_.empty() && "a forward curve has at least one day");
  prefix_sums_.reserve(daily_prices_.size() + 1);
  prefix_sums_.push_back(0.0);
  for (const double price : daily_prices_) {
    assert(std::isfinite(price) && "forward prices are finite");
    prefix_sums_.push_back(prefix_sums_.back() + price);
  }
}

BusinessDate ForwardCurve::last_day() const {
  return *first_day_.add_days(static_cast<std::int64_t>(daily_prices_.size()) - 1);
}

UtcTimestamp ForwardCurve::end() const {
  return UtcTimestamp(start().unix_microseconds() +
                      static_cast<std::int64_t>(daily_prices_.size()) * kMicrosecondsPerDay);
}

double ForwardCurve::price(BusinessDate day) const {
  const std::int64_t offset = days_between(first_day_, day);
  assert(offset >= 0 && static_cast<std::size_t>(offset) < daily_prices_.size() && "day outside the curve");
  return daily_prices_[static_cast<std::size_t>(offset)];
}

double ForwardCurve::average(UtcTimestamp window_start, UtcTimestamp window_end) const {
  const std::int64_t from_start = window_start.unix_microseconds() - start().unix_microseconds();
  const std::int64_t to_end = window_end.unix_microseconds() - start().unix_microseconds();
  assert(from_start % kMicrosecondsPerHour == 0 && to_end % kMicrosecondsPerHour == 0 && "whole hours");
  assert(from_start >= 0 && from_start < to_end && window_end <= end() && "window within the curve");
  const std::int64_t first_hour = from_start / kMicrosecondsPerHour;
  const std::int64_t end_hour = to_end / kMicrosecondsPerHour;
  const auto first_day = static_cast<std::size_t>(first_hour / kHoursPerDay);
  const auto end_day = static_cast<std::size_t>(end_hour / kHoursPerDay);
  const std::int64_t first_day_hours_before = first_hour % kHoursPerDay;  // of first_day, not in the window
  const std::int64_t end_day_hours_in = end_hour % kHoursPerDay;          // of end_day, in the window
  // Whole days from first_day up to end_day, then the part of end_day in the window, less the
  // part of first_day before it. The prefix sums' difference comes first, so a window within one
  // day costs no rounding from the sums.
  double sum = static_cast<double>(kHoursPerDay) * (prefix_sums_[end_day] - prefix_sums_[first_day]);
  if (end_day_hours_in != 0) {
    sum += static_cast<double>(end_day_hours_in) * daily_prices_[end_day];
  }
  if (first_day_hours_before != 0) {
    sum -= static_cast<double>(first_day_hours_before) * daily_prices_[first_day];
  }
  return sum / static_cast<double>(end_hour - first_hour);
}

std::optional<DeliveryWindow> ForwardCurve::clip(UtcTimestamp window_start, UtcTimestamp window_end) const {
  const UtcTimestamp clipped_start = std::max(window_start, start());
  const UtcTimestamp clipped_end = std::min(window_end, end());
  if (clipped_start >= clipped_end) {
    return std::nullopt;
  }
  return DeliveryWindow{clipped_start, clipped_end};
}

Result<ForwardCurveBuild, CurveError> build_forward_curve(BusinessDate first_day, BusinessDate last_day,
                                                          std::int64_t tick_size_ticks,
                                                          std::span<const PeriodQuote> quotes) {
  assert(tick_size_ticks > 0 && "a tick size is positive");
  const std::int64_t curve_days = days_between(first_day, last_day) + 1;
  if (curve_days < 1 || curve_days > kForwardHorizonDaysMax) {
    return fail(refuse(CurveRefusal::invalid_horizon, "the curve's days " + first_day.format() + " to " +
                                                          last_day.format() + " are not 1 to " +
                                                          std::to_string(kForwardHorizonDaysMax) + " days"));
  }
  if (quotes.empty()) {
    return fail(refuse(CurveRefusal::no_quotes, "no period quote was given"));
  }
  if (quotes.size() > kPeriodQuotesMax) {
    return fail(refuse(CurveRefusal::too_many_quotes, std::to_string(quotes.size()) + " period quotes; at most " +
                                                          std::to_string(kPeriodQuotesMax) + " are accepted"));
  }
  std::vector<DayRange> ranges;
  ranges.reserve(quotes.size());
  for (std::size_t index = 0; index < quotes.size(); ++index) {
    if (auto refusal = check_quote(quotes[index], index, quotes, first_day, curve_days)) {
      return fail(std::move(*refusal));
    }
    ranges.push_back(
        DayRange{days_between(first_day, quotes[index].first_day), days_between(first_day, quotes[index].end_day)});
  }
  auto decomposition = decompose(quotes, ranges, curve_days, tick_size_ticks);
  if (!decomposition) {
    return fail(decomposition.error());
  }

  // The quoted span [span_begin, span_end): from the earliest quoted day to the latest.
  std::int64_t span_begin = curve_days;
  std::int64_t span_end = 0;
  for (const DayRange& range : ranges) {
    span_begin = std::min(span_begin, range.begin);
    span_end = std::max(span_end, range.end);
  }
  std::vector<detail::SumConstraint> constraints;
  constraints.reserve(decomposition->independent.size());
  for (const std::size_t quote : decomposition->independent) {
    const DayRange range = ranges[quote];
    constraints.push_back(
        detail::SumConstraint{range.begin - span_begin, range.end - span_begin,
                              static_cast<double>(quotes[quote].price_ticks * range.days()) / kTicksPerUsd});
  }
  const std::vector<double> span_values = detail::solve_max_smoothness(span_end - span_begin, constraints, kTension);

  std::vector<double> daily(static_cast<std::size_t>(curve_days));
  for (std::size_t day = 0; day < daily.size(); ++day) {
    const std::int64_t in_span = std::clamp(static_cast<std::int64_t>(day), span_begin, span_end - 1) - span_begin;
    daily[day] = span_values[static_cast<std::size_t>(in_span)];
  }
  for (std::size_t day = 0; day < daily.size(); ++day) {
    if (!(daily[day] > 0.0)) {
      return fail(refuse(CurveRefusal::non_positive_curve,
                         "the smoothest curve through the quotes is " + format_usd(daily[day]) +
                             " USD per GPU-hour on " + (*first_day.add_days(static_cast<std::int64_t>(day))).format() +
                             "; a price must be above zero (look at the quotes around that day)"));
    }
  }

  ForwardCurve curve(first_day, std::move(daily));
  std::vector<PeriodFit> fits;
  fits.reserve(quotes.size());
  for (std::size_t index = 0; index < quotes.size(); ++index) {
    const double average = curve.average(quotes[index].first_day.start_of_day(), quotes[index].end_day.start_of_day());
    fits.push_back(PeriodFit{quotes[index].label, quotes[index].price_ticks, average, decomposition->dependent[index]});
  }
  return ForwardCurveBuild{std::move(curve), std::move(fits)};
}

}  // namespace cch::pricing
