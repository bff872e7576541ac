#pragma once
// The USD discount curve of one business date, bootstrapped from SOFR OIS quotes.
//
// Input: the as-of date (passed in; nothing here reads a clock) and OIS quotes, each a tenor and
// a rate as a decimal fraction (0.0431 is 4.31 %).
//
// Tenor grammar (parse_tenor): a count and a unit, nothing else: [1-9][0-9]{0,4} then one of
//     D (days), W (weeks), M (months), Y (years)      upper case only: "1W", "18M", "10Y"
// and at most 30 years: D <= 10957, W <= 1565, M <= 360, Y <= 30. No sign, no space, no leading
// zero, no compound tenor ("1Y6M"). Two tenors of the same length are the same quote ("7D" and
// "1W", "12M" and "1Y": duplicate_tenor), and so are two whose swaps end on the same date.
//
// Conventions of the bootstrap (QuantLib 1.29, kept out of this header):
//   - one OISRateHelper per quote on QuantLib's Sofr index (fixing calendar US government bond,
//     Actual360, no fixing lag): spot = 2 business days after the as-of date, the swap's tenor
//     from spot, annual payments on both legs, compounded overnight leg, payment 2 business days
//     after each period's end (SOFR OIS pay with a two-day lag; without it the last overnight
//     fixing of a period can depend on the curve beyond the helper's pillar);
//   - telescopic value dates: each overnight coupon keeps only its first and last value dates
//     (QuantLib's pricer compounds a coupon's forecast fixings telescopically, from the discount
//     factors at its start and end, either way, so the curve is the same to the last bit; building
//     every day's value date is what would cost the time);
//   - each helper's pillar is its last relevant date (its last payment date);
//   - PiecewiseYieldCurve<Discount, LogLinear> with reference date = the as-of date and day
//     counter Actual365Fixed; QuantLib's default iterative bootstrap (accuracy 1e-12).
// QuantLib's evaluation date is a process-wide global: it is set to the as-of date only while a
// process-wide mutex is held, and restored before the mutex is released (quantlib_scope.hpp), so
// concurrent builds, whatever their as-of dates, do not see each other's.
//
// Every quote is repriced: after the bootstrap each helper's implied quote (the fair rate of its
// swap on the built curve) is compared with its quote; a difference above kRepricingTolerance
// (1e-10) refuses the curve with quote_not_repriced. The build carries every quote's implied rate.
//
// The result, DiscountCurve, is a plain value that no longer touches QuantLib: the curve's nodes
// (the as-of date with discount factor 1, then one node per pillar, in date order). Between two
// nodes, discount(date) interpolates the logarithm of the discount factor linearly in calendar
// days from the as-of date, which is exactly QuantLib's LogLinear interpolation on Actual365Fixed
// times (they are linear in days). After the last node it continues the last segment's log-slope
// (a flat continuously compounded forward rate, as QuantLib extrapolates this curve). Dates before
// the as-of date are a precondition violation (asserted).
//
// Refusals (CurveError), checked in this order: no_quotes; too_many_quotes (more than
// kOisQuotesMax); as_of_outside_calendar_range (the as-of date later than kAsOfDaysSinceEpochMax: its
// longest swap would end beyond QuantLib's last date, 2199-12-31); then quote by quote, in input
// order: invalid_tenor, duplicate_tenor (the same length as an earlier quote's), rate_out_of_range
// (not finite, or |rate| > 1); then, with QuantLib: duplicate_tenor (two swaps ending on the same
// date), bootstrap_failed (QuantLib threw; its message in the detail), quote_not_repriced.
//
// Thread safety: build_discount_curve may be called from any number of threads (they take turns
// at the QuantLib mutex). A DiscountCurve is immutable; its functions are safe from any thread.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cch/core/result.hpp"
#include "cch/core/time.hpp"
#include "cch/pricing/curve_error.hpp"

namespace cch::pricing {

enum class TenorUnit { days, weeks, months, years };

struct Tenor {
  int count = 0;  // >= 1
  TenorUnit unit = TenorUnit::days;

  friend bool operator==(const Tenor&, const Tenor&) = default;
};

// The tenor of `text` under the grammar above, or nothing.
std::optional<Tenor> parse_tenor(std::string_view text);

// One SOFR OIS quote: "1Y" at 0.0431 is the one-year swap's fixed rate, 4.31 %.
struct OisQuote {
  std::string tenor;
  double rate = 0.0;  // a decimal fraction
};

inline constexpr std::size_t kOisQuotesMax = 64;
// The latest as-of date: 2169-12-31, so that a 30-year swap and its lags end before 2199-12-31.
inline constexpr std::int64_t kAsOfDaysSinceEpochMax = 73048;
inline constexpr double kRepricingTolerance = 1e-10;

struct DiscountNode {
  BusinessDate date;
  double discount_factor = 1.0;

  friend bool operator==(const DiscountNode&, const DiscountNode&) = default;
};

class DiscountCurve {
 public:
  // Preconditions (asserted): at least two nodes; the first is {as-of date, 1.0}; dates strictly
  // increasing; every discount factor finite and positive. build_discount_curve makes such nodes;
  // a stored curve is rebuilt from its nodes with this constructor.
  explicit DiscountCurve(std::vector<DiscountNode> nodes);

  [[nodiscard]] BusinessDate as_of() const { return nodes_.front().date; }
  [[nodiscard]] std::span<const DiscountNode> nodes() const { return nodes_; }

  // The discount factor from the as-of date to `date` (1 at the as-of date).
  // Precondition: date >= as_of().
  [[nodiscard]] double discount(BusinessDate date) const;

  friend bool operator==(const DiscountCurve& left, const DiscountCurve& right) { return left.nodes_ == right.nodes_; }

 private:
  std::vector<DiscountNode> nodes_;
  std::vector<std::int64_t> node_days_;    // days from the as-of date, node by node
  std::vector<double> log_discount_;       // log of each node's discount factor
  std::vector<double> log_slope_per_day_;  // segment i: from node i to node i + 1
};

// One quote after the bootstrap: its swap's fair rate on the built curve.
struct OisRepricing {
  std::string tenor;
  double rate = 0.0;
  double implied_rate = 0.0;
  BusinessDate pillar_date;  // the helper's pillar: the swap's last payment date
};

struct DiscountCurveBuild {
  DiscountCurve curve;
  std::vector<OisRepricing> repricings;  // in the order of the quotes
};

Result<DiscountCurveBuild, CurveError> build_discount_curve(BusinessDate as_of, std::span<const OisQuote> quotes);

}  // namespace cch::pricing
