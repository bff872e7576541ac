#include "cch/margin_store/run_stress.hpp"

#include <string>

#include "cch/core/check.hpp"
#include "cch/db/array.hpp"
#include "cch/db/prepared.hpp"

#include <pqxx/result>

namespace cch::margin {

namespace {

std::vector<StressProduct> stress_products(const PublishedModel& model, std::int32_t unranked_rank) {
  std::vector<StressProduct> out;
  out.reserve(model.model.products.size());
  for (std::size_t i = 0; i < model.model.products.size(); ++i) {
    const std::string& gpu = model.gpu_models.at(i);
    out.push_back(StressProduct{model.model.products[i].product, gpu, generation_rank(gpu).value_or(unranked_rank)});
  }
  return out;
}

// The stress exposure: every class's exposure to a factor added together.
std::vector<std::int64_t> stress_exposure(const MemberPosition& position) {
  std::vector<std::int64_t> out = position.exposure_cents[0];
  for (std::size_t ci = 1; ci < kMarginClassCount; ++ci) {
    const auto& more = position.exposure_cents[ci];
    CCH_CHECK(more.size() == out.size(), "every class has the model's factors");
    for (std::size_t f = 0; f < out.size(); ++f)
      out[f] += more[f];
  }
  return out;
}

bool worse(const StressResult& a, const StressResult& b) {
  return a.uncovered_cents != b.uncovered_cents ? a.uncovered_cents > b.uncovered_cents : a.loss_cents > b.loss_cents;
}

}  // namespace

StressSet::StressSet(const PublishedModel& model)
    : as_older_(stress_moves(stress_products(model, kGenerationRankA100))) {
  bool unranked = false;
  for (const std::string& gpu : model.gpu_models)
    unranked = unranked || !generation_rank(gpu).has_value();
  if (unranked)
    as_newer_ = stress_moves(stress_products(model, kGenerationRankB200));
}

std::vector<StressResult> StressSet::member(const MemberPosition& position, std::int64_t initial_margin_cents) const {
  CCH_CHECK(initial_margin_cents >= 0, "a margin is never negative");
  const std::vector<std::int64_t> exposure = stress_exposure(position);
  MemberStress older = stress_member(as_older_, MemberId::from_value(1).value(), exposure, initial_margin_cents);
  if (as_newer_) {
    const MemberStress newer =
        stress_member(*as_newer_, MemberId::from_value(1).value(), exposure, initial_margin_cents);
    for (std::size_t s = 0; s < older.results.size(); ++s) {
      if (worse(newer.results[s], older.results[s]))
        older.results[s] = newer.results[s];
    }
  }
  return std::move(older.results);
}

std::optional<Cover2> run_cover_2(pqxx::transaction_base& tx, std::int64_t run_id) {
  const auto head = db::exec_cached(
      tx, "SELECT stress_scenarios FROM margin.run WHERE run_id = $1 AND stress_scenarios IS NOT NULL", run_id);
  if (head.empty())
    return std::nullopt;
  std::vector<StressScenario> scenarios;
  {
    auto parser = head[0][0].as_array();
    for (auto item = parser.get_next(); item.first != pqxx::array_parser::done; item = parser.get_next()) {
      if (item.first != pqxx::array_parser::string_value)
        continue;
      bool known = false;
      for (const StressScenario s : kStressScenarios) {
        if (to_string(s) == item.second) {
          scenarios.push_back(s);
          known = true;
        }
      }
      CCH_CHECK(known, "a run's stress scenarios are stress.hpp's");
    }
  }
  const auto rows = db::exec_cached(tx,
                                    "SELECT member_id, initial_margin_cents, stress_loss_cents, stress_uncovered_cents "
                                    "FROM margin.member_margin WHERE run_id = $1 ORDER BY member_id",
                                    run_id);
  std::vector<MemberStress> members;
  members.reserve(rows.size());
  for (const auto& row : rows) {
    MemberStress m{MemberId::from_value(row[0].as<std::int64_t>()).value(), row[1].as<std::int64_t>(), {}};
    const auto losses = db::integers_of(row[2]);
    const auto uncovered = db::integers_of(row[3]);
    CCH_CHECK(losses.size() == scenarios.size() && uncovered.size() == scenarios.size(),
              "a member's stress results are the run's scenarios'");
    for (std::size_t s = 0; s < scenarios.size(); ++s)
      m.results.push_back(StressResult{scenarios[s], losses[s], uncovered[s]});
    members.push_back(std::move(m));
  }
  return cover_2(members);
}

}  // namespace cch::margin
