#include "cch/margin/stress.hpp"

#include <algorithm>
#include <cctype>

#include "cch/core/check.hpp"
#include "cch/margin/engine.hpp"

namespace cch::margin {

namespace {

constexpr Int128 kNanoPerCent = 1'000'000'000;

// The bucket indices the scenarios name, checked against buckets.hpp's labels.
constexpr std::size_t kPrompt = 0;
constexpr std::size_t kM1 = 1;
constexpr std::size_t kM3 = 3;
constexpr std::size_t kM6 = 6;
static_assert(kTenorBuckets[kPrompt].label == "prompt" && kTenorBuckets[kM1].label == "M1" &&
                  kTenorBuckets[kM3].label == "M3" && kTenorBuckets[kM6].label == "M6",
              "the stress scenarios name buckets by index");
static_assert(kBucketCount == 11, "curve_twist's steps of 40,000,000 ppb are exact for 10 steps between 11 buckets");

bool equals_ignoring_ascii_case(std::string_view left, std::string_view right) {
  return left.size() == right.size() && std::equal(left.begin(), left.end(), right.begin(), [](char a, char b) {
           return std::toupper(static_cast<unsigned char>(a)) == std::toupper(static_cast<unsigned char>(b));
         });
}

Int128 abs128(Int128 value) {
  return value < 0 ? -value : value;
}

}  // namespace

std::string_view to_string(StressScenario scenario) {
  switch (scenario) {
    case StressScenario::h100_halves:
      return "h100_halves";
    case StressScenario::b200_launch:
      return "b200_launch";
    case StressScenario::curve_twist:
      return "curve_twist";
    case StressScenario::power_price_spike:
      return "power_price_spike";
  }
  return "unknown";
}

std::optional<std::int32_t> generation_rank(std::string_view gpu_model) {
  static constexpr std::array<std::pair<std::string_view, std::int32_t>, 4> kKnown = {{
      {"A100", kGenerationRankA100},
      {"H100", kGenerationRankH100},
      {"H200", kGenerationRankH200},
      {"B200", kGenerationRankB200},
  }};
  for (const auto& [model, rank] : kKnown) {
    if (equals_ignoring_ascii_case(gpu_model, model)) {
      return rank;
    }
  }
  return std::nullopt;
}

bool is_h100(std::string_view gpu_model) {
  return equals_ignoring_ascii_case(gpu_model, "H100");
}

std::int64_t stress_move_ppb(StressScenario scenario, const StressProduct& product, std::size_t bucket) {
  CCH_CHECK(bucket < kBucketCount, "a stress move is of one of the tenor buckets");
  CCH_CHECK(product.generation_rank >= 1, "a product's generation rank is at least 1 (the oldest)");
  switch (scenario) {
    case StressScenario::h100_halves:
      return is_h100(product.gpu_model) ? -500'000'000 : 0;
    case StressScenario::b200_launch:
      return product.generation_rank < kGenerationRankB200 ? -400'000'000 : -100'000'000;
    case StressScenario::curve_twist:
      return 200'000'000 - 40'000'000 * static_cast<std::int64_t>(bucket);
    case StressScenario::power_price_spike:
      if (bucket == kPrompt) {
        return 300'000'000;
      }
      if (bucket == kM1) {
        return 200'000'000;
      }
      if (bucket <= kM3) {
        return 100'000'000;
      }
      if (bucket <= kM6) {
        return 50'000'000;
      }
      return 0;
  }
  CCH_CHECK(false, "a defined stress scenario");
  return 0;
}

StressMoves stress_moves(std::span<const StressProduct> products) {
  StressMoves moves;
  moves.factor_count = products.size() * kBucketCount;
  for (std::size_t s = 0; s < kStressScenarioCount; ++s) {
    std::vector<std::int64_t>& of_scenario = moves.move_ppb[s];
    of_scenario.reserve(moves.factor_count);
    for (const StressProduct& product : products) {
      for (std::size_t b = 0; b < kBucketCount; ++b) {
        of_scenario.push_back(stress_move_ppb(kStressScenarios[s], product, b));
      }
    }
  }
  return moves;
}

Int128 stress_pnl_nanocents(std::span<const std::int64_t> exposure_cents, std::span<const std::int64_t> move_ppb) {
  CCH_CHECK(exposure_cents.size() == move_ppb.size(), "an exposure for every move");
  Int128 gross = 0;
  Int128 pnl = 0;
  for (std::size_t f = 0; f < exposure_cents.size(); ++f) {
    CCH_CHECK(move_ppb[f] >= -kStressMovePpbMax && move_ppb[f] <= kStressMovePpbMax,
              "a stress move is within its bound");
    gross += abs128(exposure_cents[f]);
    pnl += static_cast<Int128>(exposure_cents[f]) * move_ppb[f];
  }
  CCH_CHECK(gross <= kGrossExposureCentsMax, "a member's gross exposure is within the margin model's bound");
  return pnl;
}

std::int64_t stress_loss_cents(Int128 pnl_nanocents) {
  const auto loss = divide_rounded(-pnl_nanocents, kNanoPerCent, Rounding::ceiling);
  CCH_CHECK(loss.has_value(), "a stress loss fits in 64 bits within the model's bounds");
  return loss.value();
}

MemberStress stress_member(const StressMoves& moves, MemberId member, std::span<const std::int64_t> exposure_cents,
                           std::int64_t margin_cents) {
  CCH_CHECK(exposure_cents.size() == moves.factor_count, "an exposure for every factor of the stress scenarios");
  CCH_CHECK(margin_cents >= 0, "a margin is not negative");
  MemberStress out{member, margin_cents, {}};
  out.results.reserve(kStressScenarioCount);
  for (std::size_t s = 0; s < kStressScenarioCount; ++s) {
    const std::int64_t loss = stress_loss_cents(stress_pnl_nanocents(exposure_cents, moves.move_ppb[s]));
    // loss > margin_cents >= 0, so the difference is at most the loss: no overflow.
    const std::int64_t uncovered = loss > margin_cents ? loss - margin_cents : 0;
    out.results.push_back(StressResult{kStressScenarios[s], loss, uncovered});
  }
  return out;
}

WorstStress worst_stress(const MemberStress& member) {
  CCH_CHECK(!member.results.empty(), "a member's stress has a result");
  const StressResult* worst = &member.results.front();
  for (const StressResult& result : member.results) {
    // Strictly worse only: among equals the first stays.
    if (result.uncovered_cents > worst->uncovered_cents ||
        (result.uncovered_cents == worst->uncovered_cents && result.loss_cents > worst->loss_cents)) {
      worst = &result;
    }
  }
  return WorstStress{member.member, worst->scenario, worst->loss_cents, worst->uncovered_cents};
}

Cover2 cover_2(std::span<const MemberStress> members) {
  std::vector<WorstStress> worst;
  worst.reserve(members.size());
  for (const MemberStress& member : members) {
    worst.push_back(worst_stress(member));
  }
  std::sort(worst.begin(), worst.end(), [](const WorstStress& a, const WorstStress& b) {
    if (a.uncovered_cents != b.uncovered_cents) {
      return a.uncovered_cents > b.uncovered_cents;
    }
    return a.member < b.member;
  });
  std::vector<MemberId> ids;
  ids.reserve(worst.size());
  for (const WorstStress& w : worst) {
    ids.push_back(w.member);
  }
  std::sort(ids.begin(), ids.end());
  CCH_CHECK(std::adjacent_find(ids.begin(), ids.end()) == ids.end(), "a member is in cover_2 once");
  Cover2 out;
  const std::size_t taken = std::min<std::size_t>(2, worst.size());
  for (std::size_t i = 0; i < taken; ++i) {
    out.uncovered_cents += worst[i].uncovered_cents;
    out.members.push_back(worst[i]);
  }
  return out;
}

}  // namespace cch::margin
