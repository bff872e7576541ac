#include "cch/margin/parameters.hpp"

#include <charconv>
#include <functional>
#include <set>
#include <vector>

namespace cch::margin {

std::string_view to_string(MarginClass margin_class) {
  return margin_class == MarginClass::future ? "future" : "forward";
}

std::string_view to_string(ApcMode mode) { return mode == ApcMode::stress_weight ? "stress_weight" : "buffer"; }

std::optional<ApcMode> parse_apc_mode(std::string_view text) {
  if (text == "stress_weight") return ApcMode::stress_weight;
  if (text == "buffer") return ApcMode::buffer;
  return std::nullopt;
}

std::int64_t MarginParameters::spread_ticks_of(ProductId product) const {
  const auto found = spread_ticks.find(product);
  return found == spread_ticks.end() ? spread_ticks_default : found->second;
}

namespace {

std::optional<ParameterError> out_of_range(std::string name, std::int64_t value, std::int64_t low, std::int64_t high) {
  if (value >= low && value <= high) return std::nullopt;
  return ParameterError{std::move(name), "must be between " + std::to_string(low) + " and " + std::to_string(high) +
                                             ", not " + std::to_string(value)};
}

}  // namespace

std::optional<ParameterError> validate(const MarginParameters& p) {
  const std::pair<std::string, const ClassParameters*> classes[] = {{"future", &p.future}, {"forward", &p.forward}};
  for (const auto& [name, c] : classes) {
    if (auto e = out_of_range(name + ".mpor_days", c->mpor_days, 1, kMporDaysMax)) return e;
    // At least 99 %, as art. 24 asks, and short of 100 % (an expected shortfall needs a tail).
    if (auto e = out_of_range(name + ".confidence_bp", c->confidence_bp, 9'900, 9'999)) return e;
  }
  if (p.forward.confidence_bp < 9'950) {
    return ParameterError{"forward.confidence_bp", "bilateral forwards are OTC: at least 9950 (99.5 %)"};
  }
  if (p.forward.mpor_days < 5) {
    return ParameterError{"forward.mpor_days", "bilateral forwards are OTC: at least 5 business days"};
  }
  if (auto e = out_of_range("ewma_lambda_e4", p.ewma_lambda_e4, 9'000, 9'990)) return e;
  if (auto e = out_of_range("vol_floor_bp", p.vol_floor_bp, 0, 10'000)) return e;
  if (auto e = out_of_range("lookback_days", p.lookback_days, kLookbackDaysMin, kLookbackDaysMax)) return e;
  if (p.stress_first.has_value() != p.stress_last.has_value()) {
    return ParameterError{p.stress_first ? "stress_last" : "stress_first", "give both ends of the stressed period, or neither"};
  }
  if (p.stress_first &&
      p.stress_last->days_since_epoch() - p.stress_first->days_since_epoch() + 1 < kStressPeriodDaysMin) {
    return ParameterError{"stress_last", "the stressed period must cover at least twelve months (365 days)"};
  }
  if (auto e = out_of_range("apc_stress_weight_bp", p.apc_stress_weight_bp, 2'500, 10'000)) return e;
  if (auto e = out_of_range("apc_buffer_bp", p.apc_buffer_bp, 2'500, 10'000)) return e;
  if (auto e = out_of_range("generation_offset_bp", p.generation_offset_bp, 0, 10'000)) return e;
  if (auto e = out_of_range("concentration_threshold_bp", p.concentration_threshold_bp, 1, 10'000)) return e;
  if (auto e = out_of_range("concentration_rate_bp", p.concentration_rate_bp, 0, 100'000)) return e;
  if (auto e = out_of_range("spread_ticks_default", p.spread_ticks_default, 0, kSpreadTicksMax)) return e;
  for (const auto& [product, ticks] : p.spread_ticks) {
    if (auto e = out_of_range("spread_ticks." + product.to_string(), ticks, 0, kSpreadTicksMax)) return e;
  }
  if (auto e = out_of_range("interim_rate_bp", p.interim_rate_bp, 1, 10'000)) return e;
  return std::nullopt;
}

std::string serialise(const MarginParameters& p) {
  std::string out;
  const auto line = [&](std::string_view name, const std::string& value) {
    out.append(name).append("=").append(value).append("\n");
  };
  const auto number = [&](std::string_view name, std::int64_t value) { line(name, std::to_string(value)); };
  number("future.mpor_days", p.future.mpor_days);
  number("future.confidence_bp", p.future.confidence_bp);
  number("forward.mpor_days", p.forward.mpor_days);
  number("forward.confidence_bp", p.forward.confidence_bp);
  number("ewma_lambda_e4", p.ewma_lambda_e4);
  number("vol_floor_bp", p.vol_floor_bp);
  number("lookback_days", p.lookback_days);
  line("stress_first", p.stress_first ? p.stress_first->format() : "auto");
  line("stress_last", p.stress_last ? p.stress_last->format() : "auto");
  line("apc_mode", std::string(to_string(p.apc_mode)));
  number("apc_stress_weight_bp", p.apc_stress_weight_bp);
  number("apc_buffer_bp", p.apc_buffer_bp);
  line("apc_buffer_released", p.apc_buffer_released ? "true" : "false");
  number("generation_offset_bp", p.generation_offset_bp);
  number("concentration_threshold_bp", p.concentration_threshold_bp);
  number("concentration_rate_bp", p.concentration_rate_bp);
  number("spread_ticks_default", p.spread_ticks_default);
  number("interim_rate_bp", p.interim_rate_bp);
  for (const auto& [product, ticks] : p.spread_ticks) number("spread_ticks." + product.to_string(), ticks);
  return out;
}

namespace {

std::optional<std::int64_t> parse_integer(std::string_view text) {
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

}  // namespace

Result<MarginParameters, ParameterError> parse_parameters(std::string_view text) {
  constexpr std::size_t kTextMax = 64 * 1024;
  if (text.size() > kTextMax) return fail(ParameterError{"", "the parameter text is longer than 64 KiB"});
  MarginParameters p;
  std::set<std::string, std::less<>> seen;
  using Setter = std::function<std::optional<std::string>(std::string_view)>;
  const auto int32_setter = [](std::int32_t& field) -> Setter {
    return [&field](std::string_view value) -> std::optional<std::string> {
      const auto parsed = parse_integer(value);
      if (!parsed || *parsed < INT32_MIN || *parsed > INT32_MAX) return "an integer";
      field = static_cast<std::int32_t>(*parsed);
      return std::nullopt;
    };
  };
  const auto date_setter = [](std::optional<BusinessDate>& field) -> Setter {
    return [&field](std::string_view value) -> std::optional<std::string> {
      if (value == "auto") {
        field.reset();
        return std::nullopt;
      }
      auto parsed = BusinessDate::parse(value);
      if (!parsed) return "a date YYYY-MM-DD or auto";
      field = *parsed;
      return std::nullopt;
    };
  };
  const std::vector<std::pair<std::string_view, Setter>> setters = {
      {"future.mpor_days", int32_setter(p.future.mpor_days)},
      {"future.confidence_bp", int32_setter(p.future.confidence_bp)},
      {"forward.mpor_days", int32_setter(p.forward.mpor_days)},
      {"forward.confidence_bp", int32_setter(p.forward.confidence_bp)},
      {"ewma_lambda_e4", int32_setter(p.ewma_lambda_e4)},
      {"vol_floor_bp", int32_setter(p.vol_floor_bp)},
      {"lookback_days", int32_setter(p.lookback_days)},
      {"stress_first", date_setter(p.stress_first)},
      {"stress_last", date_setter(p.stress_last)},
      {"apc_mode",
       [&p](std::string_view value) -> std::optional<std::string> {
         const auto mode = parse_apc_mode(value);
         if (!mode) return "stress_weight or buffer";
         p.apc_mode = *mode;
         return std::nullopt;
       }},
      {"apc_stress_weight_bp", int32_setter(p.apc_stress_weight_bp)},
      {"apc_buffer_bp", int32_setter(p.apc_buffer_bp)},
      {"apc_buffer_released",
       [&p](std::string_view value) -> std::optional<std::string> {
         if (value != "true" && value != "false") return "true or false";
         p.apc_buffer_released = value == "true";
         return std::nullopt;
       }},
      {"generation_offset_bp", int32_setter(p.generation_offset_bp)},
      {"concentration_threshold_bp", int32_setter(p.concentration_threshold_bp)},
      {"concentration_rate_bp", int32_setter(p.concentration_rate_bp)},
      {"interim_rate_bp", int32_setter(p.interim_rate_bp)},
      {"spread_ticks_default",
       [&p](std::string_view value) -> std::optional<std::string> {
         const auto parsed = parse_integer(value);
         if (!parsed) return "an integer";
         p.spread_ticks_default = *parsed;
         return std::nullopt;
       }},
  };
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(start, end - start);
    start = end + 1;
    if (line.empty()) continue;
    const auto equals = line.find('=');
    if (equals == std::string_view::npos) return fail(ParameterError{std::string(line), "a line is name=value"});
    const std::string_view name = line.substr(0, equals);
    const std::string_view value = line.substr(equals + 1);
    if (!seen.insert(std::string(name)).second) return fail(ParameterError{std::string(name), "given twice"});
    if (name.starts_with("spread_ticks.")) {
      const auto id = parse_integer(name.substr(13));
      const auto ticks = parse_integer(value);
      if (!id || *id <= 0) return fail(ParameterError{std::string(name), "spread_ticks.<product id>"});
      if (!ticks) return fail(ParameterError{std::string(name), "an integer"});
      p.spread_ticks[ProductId::from_value(*id).value()] = *ticks;
      continue;
    }
    bool known = false;
    for (const auto& [setter_name, setter] : setters) {
      if (setter_name != name) continue;
      known = true;
      if (auto expected = setter(value)) return fail(ParameterError{std::string(name), "must be " + *expected});
    }
    if (!known) return fail(ParameterError{std::string(name), "no such parameter"});
  }
  for (const auto& [setter_name, setter] : setters) {
    if (!seen.contains(setter_name)) return fail(ParameterError{std::string(setter_name), "missing"});
  }
  if (auto error = validate(p)) return fail(std::move(*error));
  return p;
}

}  // namespace cch::margin
