#include "cch/market/synthetic_history.hpp"

#include "cch/core/decimal.hpp"
#include "cch/core/delivery_period.hpp"
#include "cch/core/price.hpp"
#include "cch/market/csv_import.hpp"

#include <array>
#include <cmath>
#include <map>
#include <numbers>

namespace cch::market {
namespace {

constexpr double kDaysPerYear = 365.0;
constexpr double kKappa = 3.0;  // per year
constexpr int kModels = 4;

struct ModelParameters {
  std::string_view name;
  double base_usd;      // spot level on 2024-01-01 before launches and stress
  double decline;       // per year, continuous
  double sigma;         // per year, of the log-deviation
  std::string_view launch;  // when it is first delivered (quoted from 90 days before)
};

constexpr std::array<ModelParameters, kModels> kModelsTable = {{
    {"A100", 1.25, 0.12, 0.40, "2020-06-01"},
    {"H100", 2.45, 0.10, 0.45, "2023-03-01"},
    {"H200", 3.40, 0.10, 0.50, "2024-06-01"},
    {"B200", 5.20, 0.08, 0.55, "2025-03-01"},
}};

// drop of each model at each launch (index by model: A100, H100, H200, B200)
struct Launch {
  std::string_view date;
  std::array<double, kModels> drop;
};
constexpr std::array<Launch, 2> kLaunches = {{
    {"2024-06-01", {0.05, 0.10, 0.0, 0.0}},
    {"2025-03-01", {0.10, 0.15, 0.20, 0.0}},
}};

constexpr std::string_view kStressStart = "2025-06-01";
constexpr double kStressDays = 365.0;

// Correlation between generations i and j.
double correlation(int i, int j) {
  static constexpr std::array<double, 4> kByDistance = {1.0, 0.85, 0.70, 0.55};
  return kByDistance[static_cast<std::size_t>(std::abs(i - j))];
}

BusinessDate date(std::string_view text) { return BusinessDate::parse(text).value(); }
double day_number(BusinessDate day) { return static_cast<double>(day.days_since_epoch()); }

// A 64-bit generator (SplitMix64) and standard normal deviates by Box-Muller, both spelled out
// so that the file is the same everywhere.
class Deviates {
 public:
  explicit Deviates(std::uint64_t seed) : state_(seed) {}
  double normal() {
    if (spare_) {
      const double value = *spare_;
      spare_.reset();
      return value;
    }
    double u1 = uniform();
    while (u1 <= 0.0) u1 = uniform();
    const double u2 = uniform();
    const double radius = std::sqrt(-2.0 * std::log(u1));
    spare_ = radius * std::sin(2.0 * std::numbers::pi * u2);
    return radius * std::cos(2.0 * std::numbers::pi * u2);
  }

 private:
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  std::uint64_t state_;
  std::optional<double> spare_;
};

double ramp(double days_since, double length) { return std::clamp(days_since / length, 0.0, 1.0); }

// Days since 1970-01-01 of the fixed dates, parsed once.
double launch_day(std::size_t launch) {
  static const std::array<double, kLaunches.size()> days = [] {
    std::array<double, kLaunches.size()> parsed{};
    for (std::size_t i = 0; i < kLaunches.size(); ++i) parsed[i] = day_number(date(kLaunches[i].date));
    return parsed;
  }();
  return days[launch];
}
double stress_start() {
  static const double day = day_number(date(kStressStart));
  return day;
}
double trend_origin() {
  static const double day = day_number(date("2024-01-01"));
  return day;
}

double launches(int model, BusinessDate day) {
  double factor = 1.0;
  for (std::size_t i = 0; i < kLaunches.size(); ++i) {
    factor *= 1.0 - kLaunches[i].drop[static_cast<std::size_t>(model)] * ramp(day_number(day) - launch_day(i), 60.0);
  }
  return factor;
}

double stress(BusinessDate day) {
  const double since = day_number(day) - stress_start();
  if (since < 0) return 1.0;
  if (since < 90) return 1.0 - 0.30 * since / 90.0;
  if (since < kStressDays) return 0.70 + 0.20 * (since - 90.0) / (kStressDays - 90.0);
  return 0.90 + 0.10 * ramp(since - kStressDays, 180.0);
}

bool in_stress(BusinessDate day) {
  const double since = day_number(day) - stress_start();
  return since >= 0 && since < kStressDays;
}

double season(BusinessDate day) {
  // Day of the year from the days since 1970 (a 365.2425-day year is close enough for a wave).
  const double day_of_year = std::fmod(day_number(day) - 0.5, 365.2425);
  return 1.0 + 0.02 * std::sin(2.0 * std::numbers::pi * (day_of_year - 228.0) / kDaysPerYear);
}

double trend(int model, BusinessDate day) {
  const auto& parameters = kModelsTable[static_cast<std::size_t>(model)];
  const double years = (day_number(day) - trend_origin()) / kDaysPerYear;
  return parameters.base_usd * std::exp(-parameters.decline * years);
}

// The forward for delivery on `delivery`, seen on `today` with log-deviation x.
double forward(int model, BusinessDate today, BusinessDate delivery, double x) {
  const double tau_years = (day_number(delivery) - day_number(today)) / kDaysPerYear;
  return trend(model, delivery) * launches(model, delivery) * stress(today) * season(delivery) *
         std::exp(x * std::exp(-kKappa * tau_years));
}

double spot(int model, BusinessDate day, double x) {
  return trend(model, day) * launches(model, day) * stress(day) * season(day) * std::exp(x);
}

std::int64_t to_ticks(double usd, std::int64_t tick) {
  const double ticks = usd * static_cast<double>(power_of_ten(kPriceScale)) / static_cast<double>(tick);
  return std::max<std::int64_t>(1, std::llround(ticks)) * tick;
}

// The day-weighted mean of quoted prices covering [first, end) entirely; none if they do not.
std::optional<double> covered_mean(const std::map<std::string, std::pair<DeliveryPeriod, std::int64_t>>& quoted,
                                   const DeliveryPeriod& period, PeriodKind finer) {
  double sum = 0.0;
  for (DeliveryPeriod part = period_containing(finer, period.first_day); part.first_day < period.end_day;
       part = next_period(part)) {
    const auto found = quoted.find(part.label);
    if (found == quoted.end()) return std::nullopt;
    sum += static_cast<double>(found->second.second) * static_cast<double>(part.days());
  }
  return sum / static_cast<double>(period.days());
}

// The policy rate path (a decimal fraction) on `day`.
double policy_rate(BusinessDate day) {
  struct Step {
    std::string_view from;
    double rate;
  };
  static constexpr std::array<Step, 8> kSteps = {{{"2024-01-01", 0.0533},
                                                  {"2024-09-19", 0.0483},
                                                  {"2024-11-08", 0.0458},
                                                  {"2024-12-19", 0.0433},
                                                  {"2025-09-18", 0.0413},
                                                  {"2025-10-30", 0.0388},
                                                  {"2026-01-29", 0.0363},
                                                  {"2099-01-01", 0.0363}}};
  double rate = kSteps[0].rate;
  for (const auto& step : kSteps) {
    if (day >= date(step.from)) rate = step.rate;
  }
  return rate;
}

std::string line(std::string_view record, BusinessDate day, std::string_view subject, std::string_view key,
                 const std::string& value, std::string_view source, UtcTimestamp published) {
  return std::string(record) + "," + day.format() + "," + csv_field(subject) + "," + std::string(key) + "," + value +
         "," + std::string(source) + ",cch demo data (synthetic)," + published.format() + ",\n";
}

}  // namespace

std::vector<std::string> synthetic_gpu_models() {
  std::vector<std::string> names;
  for (const auto& model : kModelsTable) names.emplace_back(model.name);
  return names;
}

std::optional<SyntheticHistory> synthetic_history(const SyntheticHistoryOptions& options, std::string* why) {
  const auto refuse = [&](std::string reason) -> std::optional<SyntheticHistory> {
    if (why != nullptr) *why = std::move(reason);
    return std::nullopt;
  };
  if (options.to < options.from) return refuse("from is after to");
  const auto clearing = make_calendar(options.clearing_calendar);
  const auto sofr = make_calendar("united_states_sofr");
  if (!clearing || !sofr) return refuse("unknown calendar " + options.clearing_calendar);
  std::vector<int> model_of;
  for (const auto& product : options.products) {
    int found = -1;
    for (int m = 0; m < kModels; ++m) {
      if (kModelsTable[static_cast<std::size_t>(m)].name == product.gpu_model) found = m;
    }
    if (found < 0) return refuse("no synthetic model for the GPU model " + product.gpu_model);
    if (product.tick_size_ticks < 1) return refuse("tick size of " + product.code);
    model_of.push_back(found);
  }

  // Cholesky factor of the generations' correlation matrix.
  std::array<std::array<double, kModels>, kModels> chol{};
  for (int i = 0; i < kModels; ++i) {
    for (int j = 0; j <= i; ++j) {
      double sum = correlation(i, j);
      for (int k = 0; k < j; ++k) sum -= chol[static_cast<std::size_t>(i)][static_cast<std::size_t>(k)] *
                                         chol[static_cast<std::size_t>(j)][static_cast<std::size_t>(k)];
      chol[static_cast<std::size_t>(i)][static_cast<std::size_t>(j)] =
          i == j ? std::sqrt(sum) : sum / chol[static_cast<std::size_t>(j)][static_cast<std::size_t>(j)];
    }
  }

  std::array<BusinessDate, kModels> model_launch{date(kModelsTable[0].launch), date(kModelsTable[1].launch),
                                                date(kModelsTable[2].launch), date(kModelsTable[3].launch)};
  SyntheticHistory history;
  history.csv = std::string(kCsvHeader) + "\n";
  Deviates deviates(options.seed);
  std::array<double, kModels> x{};
  const double dt = 1.0 / kDaysPerYear;
  // The log-deviations start a year early so that the first day is not special.
  BusinessDate day = options.from.add_days(-365).value();
  const BusinessDate last = options.to;
  while (day <= last) {
    std::array<double, kModels> z{};
    for (int i = 0; i < kModels; ++i) z[static_cast<std::size_t>(i)] = deviates.normal();
    for (int i = 0; i < kModels; ++i) {
      double shock = 0.0;
      for (int k = 0; k <= i; ++k) {
        shock += chol[static_cast<std::size_t>(i)][static_cast<std::size_t>(k)] * z[static_cast<std::size_t>(k)];
      }
      const double sigma = kModelsTable[static_cast<std::size_t>(i)].sigma * (in_stress(day) ? 2.2 : 1.0);
      auto& xi = x[static_cast<std::size_t>(i)];
      xi += -kKappa * xi * dt + sigma * std::sqrt(dt) * shock;
    }
    const double ois_noise = deviates.normal();
    if (day < options.from) {
      day = day.add_days(1).value();
      continue;
    }
    const UtcTimestamp published = day.start_of_day().add_microseconds(std::int64_t{20} * 3'600'000'000).value();

    // Fixings: every calendar day.
    for (std::size_t p = 0; p < options.products.size(); ++p) {
      const auto& product = options.products[p];
      if (!product.cash_index) continue;
      const int model = model_of[p];
      if (day < model_launch[static_cast<std::size_t>(model)]) continue;
      const std::int64_t ticks = to_ticks(spot(model, day, x[static_cast<std::size_t>(model)]), product.tick_size_ticks);
      history.csv += line("fixing", day, *product.cash_index, "", PricePerGpuHour{ticks}.format(),
                          "cch demo index (synthetic)", published);
      ++history.fixings;
    }

    // OIS quotes: SOFR business days.
    if (sofr->is_business_day(day)) {
      static constexpr std::array<std::pair<std::string_view, double>, 8> kTenors = {
          {{"1W", 0.02}, {"1M", 0.08}, {"3M", 0.25}, {"6M", 0.5}, {"1Y", 1.0}, {"2Y", 2.0}, {"3Y", 3.0}, {"5Y", 5.0}}};
      const double rate = policy_rate(day) - 0.0002 + 0.0001 * ois_noise;
      for (const auto& [tenor, years] : kTenors) {
        // Gently inverted: longer tenors price in cuts, flattening beyond three years.
        const double quoted = rate - 0.0040 * (1.0 - std::exp(-years / 1.5));
        const std::int64_t rate_e8 = std::llround(quoted * 1e6) * 100;  // rounded to 10^-6
        history.csv += line("ois", day, "SOFR", tenor, format_scaled_decimal(rate_e8, kRateScale),
                            "cch demo OIS (synthetic)", published);
      }
      ++history.ois_snapshots;
    }

    // Settlement prices: clearing business days.
    if (clearing->is_business_day(day)) {
      for (std::size_t p = 0; p < options.products.size(); ++p) {
        const auto& product = options.products[p];
        const int model = model_of[p];
        const BusinessDate launched = model_launch[static_cast<std::size_t>(model)];
        if (days_between(day, launched) > 90) continue;
        const double xm = x[static_cast<std::size_t>(model)];
        std::map<std::string, std::pair<DeliveryPeriod, std::int64_t>> quoted;
        const auto model_mean = [&](const DeliveryPeriod& period) {
          double sum = 0.0;
          for (BusinessDate d = period.first_day; d < period.end_day; d = d.add_days(1).value()) {
            sum += forward(model, day, d, xm);
          }
          return sum / static_cast<double>(period.days());
        };
        DeliveryPeriod month = next_period(period_containing(PeriodKind::month, day));
        for (int i = 0; i < 12; ++i, month = next_period(month)) {
          if (month.first_day < launched) continue;  // no delivery before the hardware exists
          quoted.insert_or_assign(month.label, std::pair{month, to_ticks(model_mean(month), product.tick_size_ticks)});
        }
        // A quarter or year its quoted months cover: their mean, rounded to the tick (so it agrees
        // within half a tick); otherwise the model's mean.
        const auto dependent_or_model = [&](const DeliveryPeriod& period) {
          const auto covered = covered_mean(quoted, period, PeriodKind::month);
          const auto tick = static_cast<double>(product.tick_size_ticks);
          return covered ? std::llround(*covered / tick) * product.tick_size_ticks
                         : to_ticks(model_mean(period), product.tick_size_ticks);
        };
        DeliveryPeriod quarter = next_period(period_containing(PeriodKind::quarter, day));
        for (int i = 0; i < 4; ++i, quarter = next_period(quarter)) {
          if (quarter.first_day < launched) continue;
          quoted.insert_or_assign(quarter.label, std::pair{quarter, dependent_or_model(quarter)});
        }
        // A year: each quarter by its months when they are all quoted, else by its own quote; a
        // year every quarter of which is covered so is their mean (the pricing rule's implied
        // average), rounded to the tick.
        const auto year_price = [&](const DeliveryPeriod& period) {
          double sum = 0.0;
          for (DeliveryPeriod part = period_containing(PeriodKind::quarter, period.first_day);
               part.first_day < period.end_day; part = next_period(part)) {
            if (const auto months = covered_mean(quoted, part, PeriodKind::month)) {
              sum += *months * static_cast<double>(part.days());
            } else if (const auto found = quoted.find(part.label); found != quoted.end()) {
              sum += static_cast<double>(found->second.second) * static_cast<double>(part.days());
            } else {
              return to_ticks(model_mean(period), product.tick_size_ticks);
            }
          }
          const auto tick = static_cast<double>(product.tick_size_ticks);
          return static_cast<std::int64_t>(std::llround(sum / static_cast<double>(period.days()) / tick)) *
                 product.tick_size_ticks;
        };
        DeliveryPeriod year = next_period(period_containing(PeriodKind::year, day));
        for (int i = 0; i < 2; ++i, year = next_period(year)) {
          if (year.first_day >= launched) quoted.insert_or_assign(year.label, std::pair{year, year_price(year)});
        }
        for (const auto& [label, quote] : quoted) {
          history.csv += line("settlement", day, product.code, label, PricePerGpuHour{quote.second}.format(),
                              "cch demo settlement (synthetic)", published);
        }
        ++history.settlement_snapshots;
      }
    }
    day = day.add_days(1).value();
  }
  return history;
}

}  // namespace cch::market
