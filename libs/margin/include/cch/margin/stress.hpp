#pragma once
// Stress tests: defined extreme but plausible moves of the margin model's risk factors, each
// member's loss under each, the part of that loss its margin does not cover, and Cover-2: the two
// members whose default would leave the largest uncovered losses (what the default fund must be
// able to absorb).
//
// Units. The risk factors are buckets.hpp's, factor f = product_index x kBucketCount + bucket,
// product_index being the product's position in the list the caller gives (StressProduct).
//   exposure_cents[f]  a member's exposure to f: the present value in cents of its net
//                      position's delivery inside the bucket (long positive), every margin class
//                      added together (a stress moves the factor whatever the contract)
//   move_ppb[f]        a scenario's relative change of f's level in parts per 10^9
//                      (-500,000,000 is -50 %)
//   P&L                sum over f of exposure_cents[f] x move_ppb[f], exact, in 10^-9 cent (Int128)
//   loss_cents         ceil(-P&L / 10^9): rounded up, towards more loss (a loss of 12.3 cents is 13,
//                      a gain of 12.3 cents, a P&L of +12.3, is a loss of -12). Negative is a gain,
//                      reported as it is.
//   uncovered_cents    max(0, loss_cents - margin_cents): the loss beyond the member's margin.
//
// Scenarios (kStressScenarios, in this order; to_string gives the name; buckets 0 = prompt, 1 = M1
// ... 6 = M6, 7 = Q3, 8 = Q4, 9 = Y2, 10 = Y3):
//   h100_halves        every bucket of a product whose gpu model is H100 (is_h100):
//                      -500,000,000 (-50 %); every other product 0. The H100 rental market halves.
//   b200_launch        a new generation ships. Every bucket of a product older than B200
//                      (generation_rank < kGenerationRankB200): -400,000,000 (-40 %); of B200 and
//                      newer (generation_rank >= kGenerationRankB200): -100,000,000 (-10 %).
//   curve_twist        every product, bucket b: 200,000,000 - 40,000,000 x b, i.e. linear in the
//                      bucket index from +20 % (prompt) through 0 (M5) to -20 % (Y3):
//                      +20 +16 +12 +8 +4 0 -4 -8 -12 -16 -20 %. Exact: 400,000,000 / 10 buckets.
//   power_price_spike  an electricity price spike passes into compute prices, every product:
//                      prompt +300,000,000 (+30 %), M1 +200,000,000 (+20 %), M2 and M3
//                      +100,000,000 (+10 %), M4 to M6 +50,000,000 (+5 %), Q3 to Y3 0.
// Every defined move is within +-500,000,000 (kStressMovePpbMax).
//
// GPU models. generation_rank answers A100 1, H100 2, H200 3, B200 4 (oldest first) and nothing
// for any other model; is_h100 answers whether a model is H100. Both compare ASCII letters
// without case ("h100" is H100), as the registry accepts either spelling. A product of an
// unknown model needs a rank from the caller (StressProduct::generation_rank): below 4 it falls
// 40 % in b200_launch, from 4 on it falls 10 %. Which is the prudent choice depends on the book
// (a long position loses more at -40 %, a short one at -10 %), so no default is imposed here; the
// risk service decides and says so where it shows the result.
//
// A member's worst stress (worst_stress): the scenario with the largest uncovered loss; among
// equal, the largest loss (the nearest to its margin when none is uncovered); among equal again,
// the first in kStressScenarios order.
//
// Cover-2 (cover_2): every member's worst stress, ordered by uncovered loss, largest first, equal
// uncovered losses by member id, lower first; the first two (one or none when there are fewer
// members: what there is), and the sum of their uncovered losses. A member whose margin covers
// every scenario counts with 0 and may be one of the two (the sum is then the other's alone).
//
// Preconditions, checked in every build (CCH_CHECK: they guard money; nothing here is refused,
// the inputs are the risk service's own figures): a member's gross exposure (the sum of
// |exposure_cents[f]|) at most kGrossExposureCentsMax (10^17, engine.hpp), a margin at least 0,
// every move of a scenario within +-kStressMovePpbMax, as many exposures as moves, a generation
// rank at least 1, a member at most once in cover_2, each with a result. Within these bounds
// |P&L| <= 5 x 10^25 nanocents, and every loss, uncovered loss and Cover-2 sum fits in 64 bits
// with room to spare.
//
// Thread safety: pure functions and plain values.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cch/core/decimal.hpp"
#include "cch/core/ids.hpp"
#include "cch/margin/buckets.hpp"

namespace cch::margin {

enum class StressScenario : std::uint8_t { h100_halves, b200_launch, curve_twist, power_price_spike };
inline constexpr std::size_t kStressScenarioCount = 4;
inline constexpr std::array<StressScenario, kStressScenarioCount> kStressScenarios = {
    StressScenario::h100_halves, StressScenario::b200_launch, StressScenario::curve_twist,
    StressScenario::power_price_spike};
// The scenario's name (the enumerator's): "h100_halves", "b200_launch", ...
std::string_view to_string(StressScenario scenario);

inline constexpr std::int64_t kStressMovePpbMax = 500'000'000;

inline constexpr std::int32_t kGenerationRankA100 = 1;
inline constexpr std::int32_t kGenerationRankH100 = 2;
inline constexpr std::int32_t kGenerationRankH200 = 3;
inline constexpr std::int32_t kGenerationRankB200 = 4;

// The rank of a known GPU model (A100 1, H100 2, H200 3, B200 4; ASCII case ignored), nothing
// for any other.
std::optional<std::int32_t> generation_rank(std::string_view gpu_model);
// Whether the model is H100 (ASCII case ignored).
bool is_h100(std::string_view gpu_model);

// A product as the stress scenarios see it, given in product_index order.
struct StressProduct {
  ProductId product;
  std::string gpu_model;             // the registry's text, e.g. "H100"
  std::int32_t generation_rank = 1;  // 1 = the oldest; generation_rank(gpu_model) for a known model
  friend bool operator==(const StressProduct&, const StressProduct&) = default;
};

// The move of one factor (the product's bucket) in a scenario, in parts per 10^9.
// Preconditions (checked): bucket < kBucketCount, product.generation_rank >= 1.
std::int64_t stress_move_ppb(StressScenario scenario, const StressProduct& product, std::size_t bucket);

// Every scenario's moves of every factor: move_ppb[s][product_index x kBucketCount + bucket] for
// the scenario kStressScenarios[s].
struct StressMoves {
  std::size_t factor_count = 0;
  std::array<std::vector<std::int64_t>, kStressScenarioCount> move_ppb;
  friend bool operator==(const StressMoves&, const StressMoves&) = default;
};
StressMoves stress_moves(std::span<const StressProduct> products);

// sum over f of exposure_cents[f] x move_ppb[f], exact, in 10^-9 cent.
// Preconditions (checked): equal sizes, the bounds above.
Int128 stress_pnl_nanocents(std::span<const std::int64_t> exposure_cents, std::span<const std::int64_t> move_ppb);
// ceil(-pnl_nanocents / 10^9). Precondition (checked): the result fits in 64 bits (it does for a
// P&L within the bounds above).
std::int64_t stress_loss_cents(Int128 pnl_nanocents);

struct StressResult {
  StressScenario scenario = StressScenario::h100_halves;
  std::int64_t loss_cents = 0;       // ceil(-P&L), negative = a gain
  std::int64_t uncovered_cents = 0;  // max(0, loss_cents - margin_cents)
  friend bool operator==(const StressResult&, const StressResult&) = default;
};

struct MemberStress {
  MemberId member;
  std::int64_t margin_cents = 0;
  std::vector<StressResult> results;  // one per scenario, in kStressScenarios order
  friend bool operator==(const MemberStress&, const MemberStress&) = default;
};

// A member's result under every scenario. Preconditions (checked): exposure_cents.size() ==
// moves.factor_count, the bounds above.
MemberStress stress_member(const StressMoves& moves, MemberId member, std::span<const std::int64_t> exposure_cents,
                           std::int64_t margin_cents);

struct WorstStress {
  MemberId member;
  StressScenario scenario = StressScenario::h100_halves;
  std::int64_t loss_cents = 0;
  std::int64_t uncovered_cents = 0;
  friend bool operator==(const WorstStress&, const WorstStress&) = default;
};

// The member's worst scenario (the rule above). Precondition (checked): at least one result.
WorstStress worst_stress(const MemberStress& member);

struct Cover2 {
  std::vector<WorstStress> members;  // at most two, in the order above
  std::int64_t uncovered_cents = 0;  // the sum of their uncovered losses
  friend bool operator==(const Cover2&, const Cover2&) = default;
};

// Cover-2 over every member's results (the rule above). Preconditions (checked): distinct
// members, each with at least one result.
Cover2 cover_2(std::span<const MemberStress> members);

}  // namespace cch::margin
