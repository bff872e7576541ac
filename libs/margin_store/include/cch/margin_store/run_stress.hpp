#pragma once
// The stress scenarios (margin/stress.hpp) as a margin run applies them to each member, and the
// run's Cover-2 (docs/margin.md "Stress tests").
//
// A member's stress exposure is its bucketed exposure of every margin class added together (a
// stress moves a factor whatever the contract); its margin is its initial margin in the run (every
// component: a default is met by all of it). Legs margined by the interim rule have no factor and
// no stress move: their interim margin counts in the margin, their loss in no scenario.
//
// A GPU model the stress rules do not rank (stress.hpp's generation_rank answers A100, H100,
// H200 and B200): which rank is prudent depends on the book (older generations fall 40 % in
// b200_launch, newer 10 %), so each member's b200_launch is taken both ways, every unranked
// product older than B200 and every one B200 or newer, and the worse of the two counts (the larger
// uncovered loss; equal, the larger loss; equal again, older). Every other scenario ignores the
// rank.
//
// Thread safety: StressSet is immutable after construction; functions take the caller's
// transaction.
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include <pqxx/transaction_base>

#include "cch/margin/engine.hpp"
#include "cch/margin/stress.hpp"
#include "cch/margin_store/models.hpp"

namespace cch::margin {

class StressSet {
 public:
  explicit StressSet(const PublishedModel& model);

  // The member's result under each scenario, in kStressScenarios order. Preconditions (checked):
  // the position is the model's shape; initial_margin_cents >= 0.
  [[nodiscard]] std::vector<StressResult> member(const MemberPosition& position,
                                                 std::int64_t initial_margin_cents) const;

  [[nodiscard]] bool has_unranked_products() const { return as_newer_.has_value(); }

 private:
  StressMoves as_older_;                 // unranked products older than B200 (rank 1)
  std::optional<StressMoves> as_newer_;  // unranked products B200 or newer; none when all are ranked
};

// A run's Cover-2 from its stored stress results, or nothing for a run without them.
std::optional<Cover2> run_cover_2(pqxx::transaction_base& tx, std::int64_t run_id);

}  // namespace cch::margin
