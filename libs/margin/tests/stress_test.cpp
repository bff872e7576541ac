// Stress tests: each defined scenario's moves, a two-product book's loss under each computed by
// hand, the worst scenario's rule and Cover-2's order and ties.
#include "cch/margin/stress.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "cch/margin/engine.hpp"

namespace cch::margin {
namespace {

constexpr std::size_t kM2 = 2;
constexpr std::size_t kQ3 = 7;
constexpr std::size_t kY3 = 10;

StressProduct product(std::int64_t id, std::string gpu_model, std::int32_t rank) {
  return StressProduct{ProductId(id), std::move(gpu_model), rank};
}

std::vector<std::int64_t> moves_of(StressScenario scenario, const StressProduct& p) {
  std::vector<std::int64_t> out;
  for (std::size_t b = 0; b < kBucketCount; ++b) {
    out.push_back(stress_move_ppb(scenario, p, b));
  }
  return out;
}

TEST(StressScenarios, NamesInTheirDefinedOrder) {
  ASSERT_EQ(kStressScenarios.size(), 4u);
  EXPECT_EQ(to_string(kStressScenarios[0]), "h100_halves");
  EXPECT_EQ(to_string(kStressScenarios[1]), "b200_launch");
  EXPECT_EQ(to_string(kStressScenarios[2]), "curve_twist");
  EXPECT_EQ(to_string(kStressScenarios[3]), "power_price_spike");
}

TEST(GenerationRank, KnownModelsOldestFirstAndNothingForOthers) {
  EXPECT_EQ(generation_rank("A100"), 1);
  EXPECT_EQ(generation_rank("H100"), 2);
  EXPECT_EQ(generation_rank("H200"), 3);
  EXPECT_EQ(generation_rank("B200"), 4);
  EXPECT_EQ(generation_rank("b200"), 4);  // ASCII case ignored
  EXPECT_EQ(generation_rank("h100"), 2);
  EXPECT_EQ(generation_rank("GB200"), std::nullopt);
  EXPECT_EQ(generation_rank("H100 "), std::nullopt);
  EXPECT_EQ(generation_rank("MI300X"), std::nullopt);
  EXPECT_EQ(generation_rank(""), std::nullopt);
  EXPECT_TRUE(is_h100("H100"));
  EXPECT_TRUE(is_h100("h100"));
  EXPECT_FALSE(is_h100("H200"));
  EXPECT_FALSE(is_h100("H1000"));
}

TEST(StressScenarios, H100HalvesMovesEveryBucketOfH100ProductsOnly) {
  const std::vector<std::int64_t> half(kBucketCount, -500'000'000);
  const std::vector<std::int64_t> none(kBucketCount, 0);
  EXPECT_EQ(moves_of(StressScenario::h100_halves, product(1, "H100", 2)), half);
  EXPECT_EQ(moves_of(StressScenario::h100_halves, product(1, "h100", 2)), half);
  EXPECT_EQ(moves_of(StressScenario::h100_halves, product(2, "H200", 3)), none);
  EXPECT_EQ(moves_of(StressScenario::h100_halves, product(3, "A100", 1)), none);
  // The gpu model decides, not the rank: an unknown model the caller ranked as H100 is not H100.
  EXPECT_EQ(moves_of(StressScenario::h100_halves, product(4, "X100", 2)), none);
}

TEST(StressScenarios, B200LaunchDropsOlderGenerationsFortyPercentAndB200AndNewerTen) {
  const std::vector<std::int64_t> older(kBucketCount, -400'000'000);
  const std::vector<std::int64_t> newer(kBucketCount, -100'000'000);
  EXPECT_EQ(moves_of(StressScenario::b200_launch, product(1, "A100", 1)), older);
  EXPECT_EQ(moves_of(StressScenario::b200_launch, product(2, "H100", 2)), older);
  EXPECT_EQ(moves_of(StressScenario::b200_launch, product(3, "H200", 3)), older);
  EXPECT_EQ(moves_of(StressScenario::b200_launch, product(4, "B200", 4)), newer);
  // Unknown models: the rank the caller gave decides.
  EXPECT_EQ(moves_of(StressScenario::b200_launch, product(5, "B300", 5)), newer);
  EXPECT_EQ(moves_of(StressScenario::b200_launch, product(6, "V100", 1)), older);
}

TEST(StressScenarios, CurveTwistIsLinearInTheBucketIndexFromPlusToMinusTwentyPercent) {
  const std::vector<std::int64_t> expected = {200'000'000, 160'000'000, 120'000'000,  80'000'000,   40'000'000,  0,
                                              -40'000'000, -80'000'000, -120'000'000, -160'000'000, -200'000'000};
  EXPECT_EQ(moves_of(StressScenario::curve_twist, product(1, "H100", 2)), expected);
  EXPECT_EQ(moves_of(StressScenario::curve_twist, product(2, "B200", 4)), expected);
}

TEST(StressScenarios, PowerPriceSpikeFadesWithTenor) {
  // prompt +30 %, M1 +20 %, M2 and M3 +10 %, M4 to M6 +5 %, Q3 to Y3 0.
  const std::vector<std::int64_t> expected = {
      300'000'000, 200'000'000, 100'000'000, 100'000'000, 50'000'000, 50'000'000, 50'000'000, 0, 0, 0, 0};
  EXPECT_EQ(moves_of(StressScenario::power_price_spike, product(1, "A100", 1)), expected);
}

TEST(StressScenarios, MovesOfEveryFactorInProductIndexOrder) {
  const std::vector<StressProduct> products = {product(9, "B200", 4), product(3, "H100", 2)};
  const StressMoves moves = stress_moves(products);
  ASSERT_EQ(moves.factor_count, 2 * kBucketCount);
  for (std::size_t s = 0; s < kStressScenarioCount; ++s) {
    ASSERT_EQ(moves.move_ppb[s].size(), 2 * kBucketCount);
    for (std::size_t i = 0; i < products.size(); ++i) {
      for (std::size_t b = 0; b < kBucketCount; ++b) {
        EXPECT_EQ(moves.move_ppb[s][i * kBucketCount + b], stress_move_ppb(kStressScenarios[s], products[i], b));
      }
    }
  }
  // The first product is the B200: -10 % in b200_launch; the second the H100: -40 %.
  EXPECT_EQ(moves.move_ppb[1][0], -100'000'000);
  EXPECT_EQ(moves.move_ppb[1][kBucketCount], -400'000'000);
  EXPECT_EQ(stress_moves({}).factor_count, 0u);
}

TEST(StressLoss, RoundsTheNanocentsUpTowardsMoreLoss) {
  EXPECT_EQ(stress_loss_cents(-1'500'000'000), 2);  // a P&L of -1.5 cents: a loss of 2
  EXPECT_EQ(stress_loss_cents(-1'000'000'000), 1);  // exact
  EXPECT_EQ(stress_loss_cents(-1), 1);              // a nanocent lost is a cent
  EXPECT_EQ(stress_loss_cents(0), 0);
  EXPECT_EQ(stress_loss_cents(1), 0);               // a nanocent gained is no gain
  EXPECT_EQ(stress_loss_cents(1'500'000'000), -1);  // a gain of 1.5 cents: a loss of -1
  EXPECT_EQ(stress_loss_cents(2'000'000'000), -2);
}

// The book of the hand computations below: an H100 product (index 0) and a B200 one (index 1).
//   H100  prompt  +1,000,001   M1 -400,004   Y3 +2,000,000          (sum 2,599,997)
//   B200  prompt    -300,007   M2 +600,000   Q3   +999,999          (sum 1,299,992)
std::vector<StressProduct> two_products() {
  return {product(11, "H100", 2), product(12, "B200", 4)};
}

std::vector<std::int64_t> two_product_book(std::int64_t sign) {
  std::vector<std::int64_t> exposure(2 * kBucketCount, 0);
  exposure[0] = sign * 1'000'001;
  exposure[1] = sign * -400'004;
  exposure[kY3] = sign * 2'000'000;
  exposure[kBucketCount + 0] = sign * -300'007;
  exposure[kBucketCount + kM2] = sign * 600'000;
  exposure[kBucketCount + kQ3] = sign * 999'999;
  return exposure;
}

TEST(StressMember, ATwoProductBookLosesWhatTheHandComputationSays) {
  const StressMoves moves = stress_moves(two_products());
  const MemberStress got = stress_member(moves, MemberId(7), two_product_book(+1), 1'200'000);
  // h100_halves: the H100 product -50 %, the B200 unchanged:
  //   -0.5 x 2,599,997 = -1,299,998.5 cents; loss ceil(1,299,998.5) = 1,299,999, 99,999 beyond
  //   the margin of 1,200,000.
  // b200_launch: H100 -40 %, B200 -10 %:
  //   -0.4 x 2,599,997 = -1,039,998.8;  -0.1 x 1,299,992 = -129,999.2;  sum -1,169,998.0 exactly.
  // curve_twist: prompt +20 %, M1 +16 %, M2 +12 %, Q3 -8 %, Y3 -20 %:
  //   H100  +200,000.2 - 64,000.64 - 400,000 = -264,000.44
  //   B200  -60,001.4 + 72,000 - 79,999.92   =  -68,001.32;  sum -332,001.76: loss 332,002.
  // power_price_spike: prompt +30 %, M1 +20 %, M2 +10 %, Q3 and Y3 0:
  //   H100  +300,000.3 - 80,000.8 = +219,999.5
  //   B200  -90,002.1 + 60,000    =  -30,002.1;  sum +189,997.4, a gain: loss ceil(-189,997.4) = -189,997.
  const std::vector<StressResult> expected = {
      {StressScenario::h100_halves, 1'299'999, 99'999},
      {StressScenario::b200_launch, 1'169'998, 0},
      {StressScenario::curve_twist, 332'002, 0},
      {StressScenario::power_price_spike, -189'997, 0},
  };
  EXPECT_EQ(got.member, MemberId(7));
  EXPECT_EQ(got.margin_cents, 1'200'000);
  EXPECT_EQ(got.results, expected);
  EXPECT_EQ(stress_pnl_nanocents(two_product_book(+1), moves.move_ppb[0]), Int128{-1'299'998'500'000'000});
  EXPECT_EQ(stress_pnl_nanocents(two_product_book(+1), moves.move_ppb[2]), Int128{-332'001'760'000'000});
  EXPECT_EQ(worst_stress(got), (WorstStress{MemberId(7), StressScenario::h100_halves, 1'299'999, 99'999}));
}

TEST(StressMember, TheOppositeBookRoundsEachLossUpToo) {
  const StressMoves moves = stress_moves(two_products());
  const MemberStress got = stress_member(moves, MemberId(3), two_product_book(-1), 100'000);
  // The P&Ls change sign; each loss is again rounded up:
  //   h100_halves +1,299,998.5 -> -1,299,998; b200_launch +1,169,998 -> -1,169,998;
  //   curve_twist +332,001.76 -> -332,001; power_price_spike -189,997.4 -> 189,998, 89,998 beyond
  //   the margin of 100,000.
  const std::vector<StressResult> expected = {
      {StressScenario::h100_halves, -1'299'998, 0},
      {StressScenario::b200_launch, -1'169'998, 0},
      {StressScenario::curve_twist, -332'001, 0},
      {StressScenario::power_price_spike, 189'998, 89'998},
  };
  EXPECT_EQ(got.results, expected);
}

TEST(WorstStress, LargestUncoveredThenLargestLossThenFirstScenario) {
  // Nothing uncovered: the largest loss, the nearest to the margin, is the worst.
  const MemberStress covered{MemberId(3),
                             1'000,
                             {{StressScenario::h100_halves, 10, 0},
                              {StressScenario::b200_launch, 900, 0},
                              {StressScenario::curve_twist, -5, 0},
                              {StressScenario::power_price_spike, 899, 0}}};
  EXPECT_EQ(worst_stress(covered), (WorstStress{MemberId(3), StressScenario::b200_launch, 900, 0}));
  // The largest uncovered loss; b200_launch and curve_twist tie at it, the first of them wins.
  const MemberStress tie{MemberId(4),
                         100,
                         {{StressScenario::h100_halves, 50, 0},
                          {StressScenario::b200_launch, 300, 200},
                          {StressScenario::curve_twist, 300, 200},
                          {StressScenario::power_price_spike, 299, 199}}};
  EXPECT_EQ(worst_stress(tie), (WorstStress{MemberId(4), StressScenario::b200_launch, 300, 200}));
  // A flat book: every scenario equal, the first is reported.
  const StressMoves moves = stress_moves(two_products());
  const MemberStress flat = stress_member(moves, MemberId(5), std::vector<std::int64_t>(2 * kBucketCount, 0), 0);
  EXPECT_EQ(worst_stress(flat), (WorstStress{MemberId(5), StressScenario::h100_halves, 0, 0}));
}

MemberStress one_result(std::int64_t member, StressScenario scenario, std::int64_t uncovered) {
  return MemberStress{MemberId(member), 0, {{scenario, uncovered, uncovered}}};
}

TEST(Cover2, TheTwoLargestWorstUncoveredLossesLowerMemberIdFirstAmongEquals) {
  // 7 and 9 tie at 500: both are taken, 7 first; 3 and 5 (300) are not.
  const std::vector<MemberStress> tie_at_top = {
      one_result(9, StressScenario::curve_twist, 500), one_result(3, StressScenario::h100_halves, 300),
      one_result(7, StressScenario::b200_launch, 500), one_result(5, StressScenario::h100_halves, 300)};
  const Cover2 top = cover_2(tie_at_top);
  ASSERT_EQ(top.members.size(), 2u);
  EXPECT_EQ(top.members[0], (WorstStress{MemberId(7), StressScenario::b200_launch, 500, 500}));
  EXPECT_EQ(top.members[1], (WorstStress{MemberId(9), StressScenario::curve_twist, 500, 500}));
  EXPECT_EQ(top.uncovered_cents, 1'000);

  // The second place is a tie between 8 and 4 at 300: the lower id, 4, takes it.
  const std::vector<MemberStress> tie_for_second = {one_result(8, StressScenario::power_price_spike, 300),
                                                    one_result(2, StressScenario::h100_halves, 800),
                                                    one_result(4, StressScenario::b200_launch, 300)};
  const Cover2 second = cover_2(tie_for_second);
  ASSERT_EQ(second.members.size(), 2u);
  EXPECT_EQ(second.members[0].member, MemberId(2));
  EXPECT_EQ(second.members[1], (WorstStress{MemberId(4), StressScenario::b200_launch, 300, 300}));
  EXPECT_EQ(second.uncovered_cents, 1'100);
}

TEST(Cover2, FewerThanTwoMembersGiveWhatThereIs) {
  const std::vector<MemberStress> one = {one_result(6, StressScenario::curve_twist, 42)};
  EXPECT_EQ(cover_2(one), (Cover2{{WorstStress{MemberId(6), StressScenario::curve_twist, 42, 42}}, 42}));
  EXPECT_EQ(cover_2({}), (Cover2{{}, 0}));
}

TEST(Cover2, FromTheTwoProductBookEndToEnd) {
  const StressMoves moves = stress_moves(two_products());
  // 7: long the book, margin 1,200,000: worst h100_halves, 99,999 uncovered (above).
  // 3: short it, margin 100,000: worst power_price_spike, 89,998 uncovered (above).
  // 5: flat, margin 0: nothing uncovered.
  // 8: long the book with a margin covering every scenario: its worst is h100_halves, 0 uncovered.
  const std::vector<MemberStress> members = {
      stress_member(moves, MemberId(5), std::vector<std::int64_t>(2 * kBucketCount, 0), 0),
      stress_member(moves, MemberId(8), two_product_book(+1), 1'300'000),
      stress_member(moves, MemberId(3), two_product_book(-1), 100'000),
      stress_member(moves, MemberId(7), two_product_book(+1), 1'200'000),
  };
  const Cover2 got = cover_2(members);
  const Cover2 expected{{WorstStress{MemberId(7), StressScenario::h100_halves, 1'299'999, 99'999},
                         WorstStress{MemberId(3), StressScenario::power_price_spike, 189'998, 89'998}},
                        189'997};
  EXPECT_EQ(got, expected);
  // Only members with nothing uncovered: the two lowest ids, with 0.
  const std::vector<MemberStress> covered = {members[0], members[1]};
  const Cover2 none = cover_2(covered);
  ASSERT_EQ(none.members.size(), 2u);
  EXPECT_EQ(none.members[0], (WorstStress{MemberId(5), StressScenario::h100_halves, 0, 0}));
  EXPECT_EQ(none.members[1], (WorstStress{MemberId(8), StressScenario::h100_halves, 1'299'999, 0}));
  EXPECT_EQ(none.uncovered_cents, 0);
}

TEST(StressMemberDeathTest, BoundsThatGuardMoneyAreCheckedInEveryBuild) {
  const StressMoves moves = stress_moves(two_products());
  std::vector<std::int64_t> too_large(2 * kBucketCount, 0);
  too_large[0] = kGrossExposureCentsMax / 2 + 1;
  too_large[1] = -(kGrossExposureCentsMax / 2);
  EXPECT_DEATH((void)stress_member(moves, MemberId(1), too_large, 0), "gross exposure");
  too_large[1] += 1;  // exactly the bound: accepted
  EXPECT_EQ(stress_member(moves, MemberId(1), too_large, 0).results.size(), kStressScenarioCount);
  EXPECT_DEATH((void)stress_member(moves, MemberId(1), two_product_book(+1), -1), "margin");
  EXPECT_DEATH((void)stress_member(moves, MemberId(1), std::vector<std::int64_t>(kBucketCount, 0), 0),
               "an exposure for every factor");
  const std::vector<MemberStress> twice = {one_result(4, StressScenario::h100_halves, 1),
                                           one_result(4, StressScenario::curve_twist, 2)};
  EXPECT_DEATH((void)cover_2(twice), "once");
  EXPECT_DEATH((void)stress_move_ppb(StressScenario::b200_launch, product(1, "X", 0), 0), "generation rank");
}

}  // namespace
}  // namespace cch::margin
