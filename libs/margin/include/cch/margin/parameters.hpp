#pragma once
// The margin model's parameters: one versioned set, recorded with every figure it produced.
//
// Every number is an integer with its unit in its name (bp: basis points, 1/10,000; e4: units
// of 1/10,000), so a parameter set is exact text and two sets compare exactly.
//
// Margin classes. A leg is margined in the class of its contract:
//   future   a listed series, cash-settled daily: margin period of risk 2 business days,
//            expected shortfall at 99 %  (EMIR RTS 153/2013 art. 26(1)(a) and 24(1): listed)
//   forward  a bilateral forward, an OTC contract: 5 business days at 99.5 % (art. 26(1)(b), 24(1))
// A member's initial margin is the sum of its two classes' (no offset between them: the
// conservative choice while the two close out on different horizons).
//
// Anti-procyclicality (art. 28), one of two tools, selectable:
//   stress_weight  the expected shortfall is (1 - w) x ES(filtered look-back scenarios)
//                  + w x ES(stressed-period scenarios), w = apc_stress_weight_bp >= 2,500 (25 %);
//   buffer         ES(filtered look-back scenarios) x (1 + apc_buffer_bp / 10,000), the buffer
//                  (>= 25 %) released (not charged) while apc_buffer_released is set: a risk
//                  officer releases it in stress, when margins would otherwise jump.
//
// Refusals (validate): a reason naming the first parameter out of its range.
//
// Thread safety: plain values and pure functions.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "cch/core/ids.hpp"
#include "cch/core/result.hpp"
#include "cch/core/time.hpp"

namespace cch::margin {

enum class MarginClass : std::uint8_t { future = 0, forward = 1 };
inline constexpr std::size_t kMarginClassCount = 2;
std::string_view to_string(MarginClass margin_class);

enum class ApcMode : std::uint8_t { stress_weight, buffer };
std::string_view to_string(ApcMode mode);
std::optional<ApcMode> parse_apc_mode(std::string_view text);

struct ClassParameters {
  std::int32_t mpor_days = 2;           // margin period of risk, business days (history dates)
  std::int32_t confidence_bp = 9'900;   // expected shortfall's confidence level
  friend bool operator==(const ClassParameters&, const ClassParameters&) = default;
};

// Bounds, checked by validate.
inline constexpr std::int32_t kMporDaysMax = 20;
inline constexpr std::int32_t kLookbackDaysMin = 250;     // about a year of business days
inline constexpr std::int32_t kLookbackDaysMax = 2'610;   // ten years of business days
inline constexpr std::int32_t kStressPeriodDaysMin = 365; // calendar days: twelve months
inline constexpr std::int64_t kSpreadTicksMax = 10'000;   // 1 USD per GPU-hour

struct MarginParameters {
  ClassParameters future{2, 9'900};
  ClassParameters forward{5, 9'950};
  std::int32_t ewma_lambda_e4 = 9'700;    // EWMA decay, lambda = 0.97
  std::int32_t vol_floor_bp = 7'500;      // today's volatility floored at 75 % of the look-back's mean
  std::int32_t lookback_days = 2'610;     // at most this many scenario dates (history dates)
  // The stressed period [first, last] (calendar dates, at least twelve months); none: the
  // twelve months of the history with the largest realised variance (scenarios.hpp).
  std::optional<BusinessDate> stress_first;
  std::optional<BusinessDate> stress_last;
  ApcMode apc_mode = ApcMode::stress_weight;
  std::int32_t apc_stress_weight_bp = 2'500;
  std::int32_t apc_buffer_bp = 2'500;
  bool apc_buffer_released = false;
  // Offsets between products of different GPU models: at most this share of the diversification
  // benefit between them is taken (engine.hpp, "generation basis").
  std::int32_t generation_offset_bp = 5'000;
  // Concentration: a net position above this share of the product's open interest is charged
  // concentration_rate_bp of its exposure for each unit of share above it (engine.hpp).
  std::int32_t concentration_threshold_bp = 2'500;
  std::int32_t concentration_rate_bp = 10'000;
  // Liquidity: the bid-ask spread of a product, in ticks (0.0001 USD) per GPU-hour; half of it is
  // charged on each bucket's net GPU-hours. A product not listed has the default.
  std::int64_t spread_ticks_default = 200;
  std::map<ProductId, std::int64_t> spread_ticks;
  // The interim rule, for a leg of a product the day's model does not cover (listed since the
  // model was built, or no model yet): this share of the leg's notional, rounded up to the cent,
  // without offset (exposure.hpp). A new product is margined conservatively until it has history.
  std::int32_t interim_rate_bp = 1'500;

  [[nodiscard]] const ClassParameters& of(MarginClass c) const { return c == MarginClass::future ? future : forward; }
  [[nodiscard]] std::int64_t spread_ticks_of(ProductId product) const;
  friend bool operator==(const MarginParameters&, const MarginParameters&) = default;
};

struct ParameterError {
  std::string parameter;  // its name as in the text form
  std::string detail;
};

// Nothing when every parameter is in range; else the first one that is not.
std::optional<ParameterError> validate(const MarginParameters& parameters);

// The canonical text form: one "name=value" per line, in a fixed order, dates as YYYY-MM-DD,
// spreads as "spread_ticks.<product id>=<ticks>" in ascending product id. parse_parameters
// reads it back (and is how an operator's edit is checked); unknown or repeated names, missing
// names and values out of range are refused. serialise(parse(text)) == text for canonical text.
std::string serialise(const MarginParameters& parameters);
Result<MarginParameters, ParameterError> parse_parameters(std::string_view text);

}  // namespace cch::margin
