#include "cch/pricing/discount_curve.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdio>
#include <exception>
#include <optional>
#include <utility>

#include "ois_bootstrap.hpp"
#include "quantlib_scope.hpp"

namespace cch::pricing {

namespace {

constexpr std::size_t kTenorDigitsMax = 5;

// The largest count of each unit: at most 30 years.
int tenor_count_max(TenorUnit unit) {
  switch (unit) {
    case TenorUnit::days:
      return 10957;
    case TenorUnit::weeks:
      return 1565;
    case TenorUnit::months:
      return 360;
    case TenorUnit::years:
      return 30;
  }
  return 0;
}

std::optional<TenorUnit> parse_tenor_unit(char letter) {
  switch (letter) {
    case 'D':
      return TenorUnit::days;
    case 'W':
      return TenorUnit::weeks;
    case 'M':
      return TenorUnit::months;
    case 'Y':
      return TenorUnit::years;
    default:
      return std::nullopt;
  }
}

// A tenor's length for duplicate detection: days for D and W, months for M and Y, so that "7D"
// and "1W" (and "12M" and "1Y") compare equal.
std::pair<bool, int> tenor_length(Tenor tenor) {
  switch (tenor.unit) {
    case TenorUnit::days:
      return {false, tenor.count};
    case TenorUnit::weeks:
      return {false, tenor.count * 7};
    case TenorUnit::months:
      return {true, tenor.count};
    case TenorUnit::years:
      return {true, tenor.count * 12};
  }
  return {false, 0};
}

std::string format_rate(double rate) {
  char text[64];
  std::snprintf(text, sizeof text, "%.12g", rate);
  return text;
}

CurveError refuse(CurveRefusal reason, std::string detail) {
  return CurveError{reason, std::move(detail), std::nullopt};
}

// Checks the quotes that need no QuantLib, in the documented order.
Result<std::vector<detail::ParsedOisQuote>, CurveError> parse_quotes(BusinessDate as_of,
                                                                     std::span<const OisQuote> quotes) {
  if (quotes.empty()) {
    return fail(refuse(CurveRefusal::no_quotes, "no SOFR OIS quote was given"));
  }
  if (quotes.size() > kOisQuotesMax) {
    return fail(refuse(CurveRefusal::too_many_quotes, std::to_string(quotes.size()) + " OIS quotes; at most " +
                                                          std::to_string(kOisQuotesMax) + " are accepted"));
  }
  if (as_of.days_since_epoch() > kAsOfDaysSinceEpochMax) {
    return fail(refuse(CurveRefusal::as_of_outside_calendar_range,
                       "as-of date " + as_of.format() +
                           " is after 2169-12-31, the last date whose 30-year swap ends "
                           "within QuantLib's calendar range"));
  }
  std::vector<detail::ParsedOisQuote> parsed;
  parsed.reserve(quotes.size());
  for (std::size_t index = 0; index < quotes.size(); ++index) {
    const OisQuote& quote = quotes[index];
    const std::optional<Tenor> tenor = parse_tenor(quote.tenor);
    if (!tenor) {
      return fail(refuse(CurveRefusal::invalid_tenor,
                         "OIS quote " + std::to_string(index + 1) + ": tenor '" + quote.tenor +
                             "' is not a count 1..99999 and one of D, W, M, Y of at most 30 years"));
    }
    for (std::size_t earlier = 0; earlier < index; ++earlier) {
      if (tenor_length(parsed[earlier].tenor) == tenor_length(*tenor)) {
        return fail(refuse(CurveRefusal::duplicate_tenor,
                           "OIS tenor '" + quote.tenor + "' is the same period as '" + quotes[earlier].tenor + "'"));
      }
    }
    if (!std::isfinite(quote.rate) || std::abs(quote.rate) > 1.0) {
      return fail(refuse(CurveRefusal::rate_out_of_range, "OIS " + quote.tenor + " rate " + format_rate(quote.rate) +
                                                              " is not a decimal fraction of magnitude at most 1"));
    }
    parsed.push_back(detail::ParsedOisQuote{*tenor, quote.rate});
  }
  return parsed;
}

// What the QuantLib part answers: a refusal, or the nodes and the repricings.
struct BootstrapOutcome {
  std::optional<CurveError> refusal;
  std::vector<DiscountNode> nodes;
  std::vector<OisRepricing> repricings;
};

void read_bootstrap(const detail::QuantLibOisCurve& quantlib, std::span<const OisQuote> quotes,
                    BootstrapOutcome& outcome) {
  // Two swaps ending on one date would make QuantLib refuse with a less helpful message.
  for (std::size_t index = 0; index < quantlib.helpers.size(); ++index) {
    for (std::size_t earlier = 0; earlier < index; ++earlier) {
      if (quantlib.helpers[index]->pillarDate() == quantlib.helpers[earlier]->pillarDate()) {
        outcome.refusal = refuse(CurveRefusal::duplicate_tenor,
                                 "OIS tenors '" + quotes[earlier].tenor + "' and '" + quotes[index].tenor +
                                     "' end on the same date " +
                                     detail::from_quantlib_date(quantlib.helpers[index]->pillarDate()).format());
        return;
      }
    }
  }
  for (const auto& [date, discount_factor] : quantlib.curve.nodes()) {
    outcome.nodes.push_back(DiscountNode{detail::from_quantlib_date(date), discount_factor});
  }
  for (std::size_t index = 0; index < quantlib.helpers.size(); ++index) {
    const double implied_rate = quantlib.helpers[index]->impliedQuote();
    outcome.repricings.push_back(OisRepricing{quotes[index].tenor, quotes[index].rate, implied_rate,
                                              detail::from_quantlib_date(quantlib.helpers[index]->pillarDate())});
  }
}

}  // namespace

std::optional<Tenor> parse_tenor(std::string_view text) {
  if (text.size() < 2 || text.size() > kTenorDigitsMax + 1) {
    return std::nullopt;
  }
  const std::string_view digits = text.substr(0, text.size() - 1);
  if (digits.front() == '0') {
    return std::nullopt;
  }
  int count = 0;
  for (const char digit : digits) {
    if (digit < '0' || digit > '9') {
      return std::nullopt;
    }
    count = count * 10 + (digit - '0');
  }
  const std::optional<TenorUnit> unit = parse_tenor_unit(text.back());
  if (!unit || count > tenor_count_max(*unit)) {
    return std::nullopt;
  }
  return Tenor{count, *unit};
}

DiscountCurve::DiscountCurve(std::vector<DiscountNode> nodes) : nodes_(std::move(nodes)) {
  assert(nodes_.size() >= 2 && "a discount curve has the as-of node and at least one more");
  assert(nodes_.front().discount_factor == 1.0 && "the discount factor at the as-of date is 1");
  node_days_.reserve(nodes_.size());
  log_discount_.reserve(nodes_.size());
  for (const DiscountNode& node : nodes_) {
    assert(std::isfinite(node.discount_factor) && node.discount_factor > 0.0 && "discount factors are positive");
    node_days_.push_back(days_between(as_of(), node.date));
    log_discount_.push_back(std::log(node.discount_factor));
  }
  log_slope_per_day_.reserve(nodes_.size() - 1);
  for (std::size_t index = 0; index + 1 < nodes_.size(); ++index) {
    assert(node_days_[index + 1] > node_days_[index] && "node dates strictly increase");
    log_slope_per_day_.push_back((log_discount_[index + 1] - log_discount_[index]) /
                                 static_cast<double>(node_days_[index + 1] - node_days_[index]));
  }
}

double DiscountCurve::discount(BusinessDate date) const {
  const std::int64_t days = days_between(as_of(), date);
  assert(days >= 0 && "discount before the as-of date");
  // The segment [node i, node i + 1] holding `days`; past the last node, the last segment.
  const auto after = std::upper_bound(node_days_.begin() + 1, node_days_.end() - 1, days);
  const auto segment = static_cast<std::size_t>(after - node_days_.begin()) - 1;
  return std::exp(log_discount_[segment] +
                  static_cast<double>(days - node_days_[segment]) * log_slope_per_day_[segment]);
}

Result<DiscountCurveBuild, CurveError> build_discount_curve(BusinessDate as_of, std::span<const OisQuote> quotes) {
  auto parsed = parse_quotes(as_of, quotes);
  if (!parsed) {
    return fail(parsed.error());
  }
  BootstrapOutcome outcome;
  try {
    detail::with_quantlib_ois_curve(as_of, parsed.value(), [&](const detail::QuantLibOisCurve& quantlib) {
      read_bootstrap(quantlib, quotes, outcome);
    });
  } catch (const std::exception& error) {
    return fail(refuse(CurveRefusal::bootstrap_failed, std::string("QuantLib could not bootstrap the SOFR OIS curve "
                                                                   "of " +
                                                                   as_of.format() + ": ") +
                                                           error.what()));
  }
  if (outcome.refusal) {
    return fail(std::move(*outcome.refusal));
  }
  for (const OisRepricing& repricing : outcome.repricings) {
    if (!(std::abs(repricing.implied_rate - repricing.rate) <= kRepricingTolerance)) {
      return fail(refuse(CurveRefusal::quote_not_repriced,
                         "OIS " + repricing.tenor + " quoted at " + format_rate(repricing.rate) + " reprices at " +
                             format_rate(repricing.implied_rate) + " on the built curve"));
    }
  }
  return DiscountCurveBuild{DiscountCurve(std::move(outcome.nodes)), std::move(outcome.repricings)};
}

}  // namespace cch::pricing
