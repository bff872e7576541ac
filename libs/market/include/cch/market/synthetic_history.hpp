#pragma once
// SYNTHETIC market data for demonstrations and tests (cch-admin market demo-history): several
// years of daily settlement prices for GPU compute products, SOFR OIS quotes and index fixings,
// written in the CSV format of csv_import.hpp. The figures are made up by the model below. They
// are not observations of any market and must never be used as such.
//
// What they were shaped after (public, approximate, 2024-2026): H100 rental around 1.7-2.4 USD
// per GPU-hour, falling over time as capacity grew; A100 around 1.0-1.3; H200 and B200 at a
// premium after their launches; moves of tens of percent within months; SOFR near 5.3 % in 2024,
// falling through 2025.
//
// The model, per GPU model g (A100, H100, H200, B200), with t in days:
//   spot(t)    = trend_g(t) x launches_g(t) x stress(t) x season(t) x exp(x_g(t))
//   trend_g    = base_g x exp(-decline_g x years since 2024-01-01): hardware depreciates
//   launches_g = the product over new-generation launches L of (1 - drop_{L,g} x ramp(t - L, 60
//                days)): H200's launch (2024-06-01) depresses H100 by 10 % and A100 by 5 %;
//                B200's (2025-03-01) H200 by 20 %, H100 by 15 %, A100 by 10 %
//   stress     = a 12-month stress period from 2025-06-01: prices fall 30 % over 90 days, then
//                recover to -10 % by its end and to 0 over the 180 days after; daily volatility
//                x 2.2 during it
//   season     = 1 + 2 % x sin(2 pi (day of year - 228) / 365): demand peaks in Q4
//   x_g        = mean-reverting (Ornstein-Uhlenbeck, kappa 3 per year: half-life about 2.8
//                months) log-deviation, volatility sigma_g per year, shocks correlated between
//                generations (0.85 adjacent, 0.70 two apart, 0.55 three apart), daily steps
// A forward for delivery day T seen on day t: trend, launches (announced launches are known)
// and season at T, stress as of t (not foreseen), and x_g(t) x exp(-kappa (T - t)).
// Settlement prices on each business day of the clearing calendar, for each product from 90
// days before its model's launch: the next 12 months, the next 4 quarters, the next 2 years; a
// month is the mean of its days' forwards rounded to the product's tick (half away from zero);
// a quarter or year that its quoted months (or quarters) cover entirely is their day-weighted
// mean rounded to the tick, so overlapping quotes agree within half a tick, as the rules ask.
// OIS quotes on each SOFR business day: 1W 1M 3M 6M 1Y 2Y 3Y 5Y from a policy-rate path (5.33 %
// to September 2024, then cuts to 3.88 % by the end of 2025 and 3.63 % in 2026) with a gently
// inverted term structure and 1 bp daily noise, rounded to 10^-6. Fixings, every calendar day,
// for each cash-settled product's index: its model's spot rounded to the tick.
//
// Deterministic: the same options give the same file, byte for byte (its own normal deviates
// from a fixed 64-bit generator; no library distribution whose output may differ by platform).
//
// Thread safety: a pure function.

#include "cch/core/calendar.hpp"
#include "cch/core/time.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cch::market {

struct SyntheticProduct {
  std::string code;       // the product's code (the CSV subject)
  std::string gpu_model;  // A100, H100, H200 or B200 (others are refused)
  std::int64_t tick_size_ticks = 1;
  std::optional<std::string> cash_index;  // fixings are written for it
};

struct SyntheticHistoryOptions {
  std::vector<SyntheticProduct> products;
  BusinessDate from = BusinessDate::from_days_since_epoch(0).value();  // first business date written
  BusinessDate to = BusinessDate::from_days_since_epoch(0).value();    // last (inclusive)
  std::string clearing_calendar = "united_states_settlement";
  std::uint64_t seed = 20240101;
};

struct SyntheticHistory {
  std::string csv;  // header included
  std::size_t settlement_snapshots = 0;
  std::size_t ois_snapshots = 0;
  std::size_t fixings = 0;
};

// Refused (std::nullopt with `why`) for an unknown GPU model or calendar, or from after to.
std::optional<SyntheticHistory> synthetic_history(const SyntheticHistoryOptions& options, std::string* why = nullptr);

// The models the generator knows.
std::vector<std::string> synthetic_gpu_models();

}  // namespace cch::market
