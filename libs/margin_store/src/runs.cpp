#include "cch/margin_store/runs.hpp"

#include "sql_values.hpp"

#include <array>
#include <string>

#include "cch/core/check.hpp"
#include "cch/db/array.hpp"
#include "cch/db/prepared.hpp"

#include <pqxx/result>
#include <pqxx/stream_to>

namespace cch::margin {

std::string_view to_string(RunScope scope) { return scope == RunScope::all ? "all" : "members"; }

MemberResult member_result(const MarginModel& model, MemberId member, std::int64_t legs, const MemberMargin& margin) {
  MemberResult out{member, legs, margin.figures(), {}, {}};
  std::size_t lines = 0;
  for (std::size_t ci = 0; ci < kMarginClassCount; ++ci) {
    const auto& exposure = margin.position().exposure_cents[ci];
    const auto& hours = margin.position().net_gpu_hours[ci];
    for (std::size_t f = 0; f < exposure.size(); ++f) lines += exposure[f] != 0 || hours[f] != 0 ? 1U : 0U;
  }
  out.factors.reserve(lines);
  for (const MarginClass c : {MarginClass::future, MarginClass::forward}) {
    const auto ci = static_cast<std::size_t>(c);
    // contributions() answers the factors with an exposure, in factor order: walked alongside.
    const std::vector<FactorContribution> parts = contributions(model, margin, c);
    auto part = parts.begin();
    const auto& exposure = margin.position().exposure_cents[ci];
    const auto& hours = margin.position().net_gpu_hours[ci];
    for (std::size_t f = 0; f < exposure.size(); ++f) {
      if (exposure[f] == 0 && hours[f] == 0) continue;
      while (part != parts.end() && part->factor < f) ++part;
      const std::int64_t contribution = part != parts.end() && part->factor == f ? part->contribution_cents : 0;
      out.factors.push_back(FactorLine{c, model.products[f / kBucketCount].product,
                                       static_cast<std::int32_t>(f % kBucketCount), exposure[f], hours[f],
                                       contribution});
    }
  }
  return out;
}

namespace {

using sql::timestamp_of;

std::vector<std::string> texts_of(const pqxx::field& field) {
  std::vector<std::string> out;
  if (field.is_null()) return out;
  auto parser = field.as_array();
  for (auto item = parser.get_next(); item.first != pqxx::array_parser::done; item = parser.get_next()) {
    if (item.first == pqxx::array_parser::string_value) out.push_back(item.second);
  }
  return out;
}

// The stress scenarios a run records, in kStressScenarios order.
std::string stress_scenario_names() {
  std::vector<std::string> names;
  for (const StressScenario s : kStressScenarios) names.emplace_back(to_string(s));
  return db::text_array(names);
}

std::optional<StressScenario> scenario_named(std::string_view name) {
  for (const StressScenario s : kStressScenarios) {
    if (to_string(s) == name) return s;
  }
  return std::nullopt;
}

const std::string kRunColumns =
    "run_id, model_id, business_date::text, scope, cause, members, legs, "
    "(extract(epoch FROM started_at) * 1000000)::bigint, (extract(epoch FROM finished_at) * 1000000)::bigint, "
    "requested_by, stress_scenarios";

RunRecord run_of(const pqxx::row& row) {
  RunRecord out;
  out.run_id = row[0].as<std::int64_t>();
  out.model_id = row[1].as<std::int64_t>();
  out.business_date = BusinessDate::parse(row[2].as<std::string>()).value();
  out.scope = row[3].as<std::string>() == "all" ? RunScope::all : RunScope::members;
  out.cause = row[4].as<std::string>();
  out.members = row[5].as<std::int32_t>();
  out.legs = row[6].as<std::int64_t>();
  out.started_at = timestamp_of(row[7]);
  out.finished_at = timestamp_of(row[8]);
  out.requested_by = row[9].as<std::string>();
  out.stress_scenarios = texts_of(row[10]);
  return out;
}

std::string pair_array(std::int64_t future, std::int64_t forward) {
  return "{" + std::to_string(future) + "," + std::to_string(forward) + "}";
}

const std::string kMemberColumns =
    "m.run_id, m.model_id, r.business_date::text, (extract(epoch FROM r.finished_at) * 1000000)::bigint, "
    "m.member_id, m.legs, m.es_filtered_cents, m.es_stressed_cents, m.expected_shortfall_cents, "
    "m.generations_alone_cents, m.benefit_cents, m.benefit_taken_cents, m.benefit_refused_cents, "
    "m.requirement_cents, m.concentration_cents, m.liquidity_cents, m.initial_margin_cents, m.interim_cents, "
    "r.stress_scenarios, m.stress_loss_cents, m.stress_uncovered_cents";
constexpr int kMemberColumnCount = 21;

StoredMemberMargin member_of(const pqxx::row& row) {
  StoredMemberMargin out{0, 0, BusinessDate::from_days_since_epoch(0).value(), UtcTimestamp{0},
                         MemberResult{MemberId::from_value(row[4].as<std::int64_t>()).value(), 0, {}, {}, {}}};
  out.run_id = row[0].as<std::int64_t>();
  out.model_id = row[1].as<std::int64_t>();
  out.business_date = BusinessDate::parse(row[2].as<std::string>()).value();
  out.computed_at = timestamp_of(row[3]);
  out.result.legs = row[5].as<std::int64_t>();
  const auto pair = [&](int column, std::int64_t ClassFigures::*field) {
    const auto values = db::integers_of(row[column]);
    CCH_CHECK(values.size() == kMarginClassCount, "a figure per class");
    for (std::size_t ci = 0; ci < kMarginClassCount; ++ci) out.result.figures.classes[ci].*field = values[ci];
  };
  pair(6, &ClassFigures::es_filtered_cents);
  pair(7, &ClassFigures::es_stressed_cents);
  pair(8, &ClassFigures::expected_shortfall_cents);
  pair(9, &ClassFigures::generations_alone_cents);
  pair(10, &ClassFigures::diversification_benefit_cents);
  pair(11, &ClassFigures::benefit_taken_cents);
  pair(12, &ClassFigures::benefit_refused_cents);
  pair(13, &ClassFigures::requirement_cents);
  out.result.figures.concentration_cents = row[14].as<std::int64_t>();
  out.result.figures.liquidity_cents = row[15].as<std::int64_t>();
  out.result.figures.initial_margin_cents = row[16].as<std::int64_t>();
  out.result.figures.interim_cents = row[17].as<std::int64_t>();
  if (!row[19].is_null()) {
    const auto names = texts_of(row[18]);
    const auto losses = db::integers_of(row[19]);
    const auto uncovered = db::integers_of(row[20]);
    CCH_CHECK(names.size() == losses.size() && uncovered.size() == losses.size(),
              "a member's stress results are its run's scenarios'");
    for (std::size_t i = 0; i < names.size(); ++i) {
      const auto scenario = scenario_named(names[i]);
      CCH_CHECK(scenario.has_value(), "a run's stress scenarios are stress.hpp's");
      out.result.stress.push_back(StressResult{*scenario, losses[i], uncovered[i]});
    }
  }
  return out;
}

// The factor lines of a member's row: six arrays of equal length from column `first` on.
std::vector<FactorLine> lines_of(const pqxx::row& row, int first) {
  std::array<std::vector<std::int64_t>, 6> columns;
  for (int i = 0; i < 6; ++i) columns[static_cast<std::size_t>(i)] = db::integers_of(row[first + i]);
  const std::size_t n = columns[0].size();
  for (const auto& column : columns) CCH_CHECK(column.size() == n, "a member's line arrays have one length");
  std::vector<FactorLine> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    CCH_CHECK(columns[0][i] == 0 || columns[0][i] == 1, "a line's class is future (0) or forward (1)");
    out.push_back(FactorLine{static_cast<MarginClass>(columns[0][i]), ProductId::from_value(columns[1][i]).value(),
                             static_cast<std::int32_t>(columns[2][i]), columns[3][i], columns[4][i], columns[5][i]});
  }
  return out;
}

const std::string kLineColumns =
    "m.line_class, m.line_product_id, m.line_bucket, m.line_exposure_cents, m.line_net_gpu_hours, "
    "m.line_contribution_cents";

}  // namespace

RunRecord store_run(pqxx::transaction_base& tx, const RunRequest& request, std::span<const MemberResult> results,
                    std::int64_t legs) {
  const auto id =
      db::exec_cached(tx,
                      "INSERT INTO margin.run (model_id, business_date, scope, cause, members, legs, started_at, "
                      "requested_by, request_id, stress_scenarios) VALUES ($1, $2::date, $3, $4, $5, $6, "
                      "to_timestamp($7::double precision / 1000000), $8, $9, $10::text[]) RETURNING run_id",
                      request.model_id, request.business_date.format(), std::string(to_string(request.scope)),
                      request.cause, static_cast<std::int32_t>(results.size()), legs,
                      static_cast<double>(request.started_at.unix_microseconds()), request.requested_by,
                      request.request_id, stress_scenario_names())
          .at(0)[0]
          .as<std::int64_t>();
  {
    pqxx::stream_to out(tx, "margin.member_margin",
                        std::vector<std::string>{"run_id", "member_id", "model_id", "legs", "es_filtered_cents",
                                                 "es_stressed_cents", "expected_shortfall_cents",
                                                 "generations_alone_cents", "benefit_cents", "benefit_taken_cents",
                                                 "benefit_refused_cents", "requirement_cents", "concentration_cents",
                                                 "liquidity_cents", "interim_cents", "initial_margin_cents",
                                                 "stress_loss_cents", "stress_uncovered_cents", "line_class",
                                                 "line_product_id", "line_bucket", "line_exposure_cents",
                                                 "line_net_gpu_hours", "line_contribution_cents"});
    std::vector<std::int64_t> losses;
    std::vector<std::int64_t> uncovered;
    std::array<std::vector<std::int64_t>, 6> lines;  // class, product, bucket, exposure, hours, contribution
    for (const MemberResult& r : results) {
      for (auto& column : lines) {
        column.clear();
        column.reserve(r.factors.size());
      }
      for (const FactorLine& line : r.factors) {
        lines[0].push_back(static_cast<std::int64_t>(line.margin_class));
        lines[1].push_back(line.product.value());
        lines[2].push_back(line.bucket);
        lines[3].push_back(line.exposure_cents);
        lines[4].push_back(line.net_gpu_hours);
        lines[5].push_back(line.contribution_cents);
      }
      CCH_CHECK(r.stress.size() == kStressScenarioCount, "a run stresses every member under every scenario");
      losses.clear();
      uncovered.clear();
      for (std::size_t i = 0; i < kStressScenarioCount; ++i) {
        CCH_CHECK(r.stress[i].scenario == kStressScenarios[i], "stress results in kStressScenarios order");
        losses.push_back(r.stress[i].loss_cents);
        uncovered.push_back(r.stress[i].uncovered_cents);
      }
      const auto& f = r.figures.classes;
      const auto pair = [&](std::int64_t ClassFigures::*field) { return pair_array(f[0].*field, f[1].*field); };
      out << std::make_tuple(id, r.member.value(), request.model_id, r.legs, pair(&ClassFigures::es_filtered_cents),
                             pair(&ClassFigures::es_stressed_cents), pair(&ClassFigures::expected_shortfall_cents),
                             pair(&ClassFigures::generations_alone_cents),
                             pair(&ClassFigures::diversification_benefit_cents),
                             pair(&ClassFigures::benefit_taken_cents), pair(&ClassFigures::benefit_refused_cents),
                             pair(&ClassFigures::requirement_cents), r.figures.concentration_cents,
                             r.figures.liquidity_cents, r.figures.interim_cents, r.figures.initial_margin_cents,
                             db::integer_array(losses), db::integer_array(uncovered), db::integer_array(lines[0]),
                             db::integer_array(lines[1]), db::integer_array(lines[2]), db::integer_array(lines[3]),
                             db::integer_array(lines[4]), db::integer_array(lines[5]));
    }
    out.complete();
  }
  // Other services learn of the run (the settlement service issues margin calls from it).
  db::exec_cached(tx,
                  "INSERT INTO cch.outbox (topic, aggregate_id, payload) VALUES ('margin.run_completed', $1::bigint, "
                  "jsonb_build_object('run_id', ($1::bigint)::text, 'model_id', ($2::bigint)::text, "
                  "'business_date', $3::text, 'scope', $4::text, 'cause', $5::text, 'members', $6::int))",
                  id, request.model_id, request.business_date.format(), std::string(to_string(request.scope)),
                  request.cause, static_cast<std::int32_t>(results.size()));
  return *find_run(tx, id);
}

std::optional<RunRecord> find_run(pqxx::transaction_base& tx, std::int64_t run_id) {
  const auto rows = db::exec_cached(tx, "SELECT " + kRunColumns + " FROM margin.run WHERE run_id = $1", run_id);
  if (rows.empty()) return std::nullopt;
  return run_of(rows[0]);
}

std::optional<RunRecord> latest_run(pqxx::transaction_base& tx, std::optional<RunScope> scope) {
  const auto rows = db::exec_cached(
      tx,
      "SELECT " + kRunColumns + " FROM margin.run WHERE $1::text IS NULL OR scope = $1 ORDER BY run_id DESC LIMIT 1",
      scope ? std::optional<std::string>(to_string(*scope)) : std::nullopt);
  if (rows.empty()) return std::nullopt;
  return run_of(rows[0]);
}

std::vector<RunRecord> list_runs(pqxx::transaction_base& tx, std::optional<std::int64_t> before, std::size_t limit) {
  const auto rows = db::exec_cached(
      tx,
      "SELECT " + kRunColumns + " FROM margin.run WHERE $1::bigint IS NULL OR run_id < $1 ORDER BY run_id DESC LIMIT $2",
      before, static_cast<std::int64_t>(limit));
  std::vector<RunRecord> out;
  for (const auto& row : rows) out.push_back(run_of(row));
  return out;
}

std::optional<StoredMemberMargin> member_margin(pqxx::transaction_base& tx, MemberId member,
                                                std::optional<std::int64_t> run_id) {
  const auto rows = db::exec_cached(
      tx,
      "SELECT " + kMemberColumns + ", " + kLineColumns +
          " FROM margin.member_margin m JOIN margin.run r USING (run_id) "
          "WHERE m.member_id = $1 AND ($2::bigint IS NULL OR m.run_id = $2) ORDER BY m.run_id DESC LIMIT 1",
      member.value(), run_id);
  if (rows.empty()) return std::nullopt;
  StoredMemberMargin out = member_of(rows[0]);
  out.result.factors = lines_of(rows[0], kMemberColumnCount);
  return out;
}

std::vector<StoredMemberMargin> run_members(pqxx::transaction_base& tx, std::int64_t run_id) {
  const auto rows = db::exec_cached(tx,
                                    "SELECT " + kMemberColumns +
                                        " FROM margin.member_margin m JOIN margin.run r USING (run_id) "
                                        "WHERE m.run_id = $1 ORDER BY m.member_id",
                                    run_id);
  std::vector<StoredMemberMargin> out;
  for (const auto& row : rows) out.push_back(member_of(row));
  return out;
}

std::vector<std::pair<MemberId, std::vector<FactorLine>>> run_factor_lines(pqxx::transaction_base& tx,
                                                                           std::int64_t run_id) {
  const auto rows = db::exec_cached(
      tx, "SELECT m.member_id, " + kLineColumns + " FROM margin.member_margin m WHERE m.run_id = $1 ORDER BY m.member_id",
      run_id);
  std::vector<std::pair<MemberId, std::vector<FactorLine>>> out;
  out.reserve(rows.size());
  for (const auto& row : rows) {
    auto lines = lines_of(row, 1);
    if (lines.empty()) continue;
    out.emplace_back(MemberId::from_value(row[0].as<std::int64_t>()).value(), std::move(lines));
  }
  return out;
}

std::vector<StoredMemberMargin> latest_member_margins(pqxx::transaction_base& tx) {
  const auto rows = db::exec_cached(
      tx,
      "SELECT " + kMemberColumns + " FROM (SELECT DISTINCT ON (member_id) * FROM margin.member_margin "
      "ORDER BY member_id, run_id DESC) m JOIN margin.run r USING (run_id) ORDER BY m.member_id");
  std::vector<StoredMemberMargin> out;
  for (const auto& row : rows) out.push_back(member_of(row));
  return out;
}

std::vector<StoredMemberMargin> run_members_page(pqxx::transaction_base& tx, std::int64_t run_id,
                                                 std::optional<MemberId> after, std::size_t limit) {
  const auto rows = db::exec_cached(tx,
                                    "SELECT " + kMemberColumns +
                                        " FROM margin.member_margin m JOIN margin.run r USING (run_id) "
                                        "WHERE m.run_id = $1 AND m.member_id > $2 ORDER BY m.member_id LIMIT $3",
                                    run_id, after ? after->value() : std::int64_t{0}, static_cast<std::int64_t>(limit));
  std::vector<StoredMemberMargin> out;
  for (const auto& row : rows) out.push_back(member_of(row));
  return out;
}

Int128 run_initial_margin_total(pqxx::transaction_base& tx, std::int64_t run_id) {
  // Summed here: a run's total may exceed a bigint even though no member's figure does.
  Int128 total = 0;
  const auto rows = db::exec_cached(
      tx, "SELECT initial_margin_cents FROM margin.member_margin WHERE run_id = $1 AND initial_margin_cents > 0", run_id);
  for (const auto& row : rows) total += row[0].as<std::int64_t>();
  return total;
}

std::vector<MemberMarginHistoryEntry> member_margin_history(pqxx::transaction_base& tx, MemberId member,
                                                            std::optional<std::int64_t> before, std::size_t limit) {
  const auto rows = db::exec_cached(
      tx,
      "SELECT m.run_id, m.model_id, r.business_date::text, r.cause, "
      "(extract(epoch FROM r.finished_at) * 1000000)::bigint, m.legs, m.initial_margin_cents "
      "FROM margin.member_margin m JOIN margin.run r USING (run_id) "
      "WHERE m.member_id = $1 AND ($2::bigint IS NULL OR m.run_id < $2) ORDER BY m.run_id DESC LIMIT $3",
      member.value(), before, static_cast<std::int64_t>(limit));
  std::vector<MemberMarginHistoryEntry> out;
  for (const auto& row : rows) {
    out.push_back(MemberMarginHistoryEntry{row[0].as<std::int64_t>(), row[1].as<std::int64_t>(),
                                           BusinessDate::parse(row[2].as<std::string>()).value(),
                                           row[3].as<std::string>(), timestamp_of(row[4]), row[5].as<std::int64_t>(),
                                           row[6].as<std::int64_t>()});
  }
  return out;
}

std::optional<MemberMarginHistoryEntry> member_margin_of_date(pqxx::transaction_base& tx, MemberId member,
                                                              BusinessDate business_date) {
  const auto rows = tx.exec_params(
      "SELECT m.run_id, m.model_id, r.business_date::text, r.cause, "
      "(extract(epoch FROM r.finished_at) * 1000000)::bigint, m.legs, m.initial_margin_cents "
      "FROM margin.member_margin m JOIN margin.run r USING (run_id) "
      "WHERE m.member_id = $1 AND r.business_date = $2::date ORDER BY m.run_id DESC LIMIT 1",
      member.value(), business_date.format());
  if (rows.empty()) return std::nullopt;
  const auto& row = rows[0];
  return MemberMarginHistoryEntry{row[0].as<std::int64_t>(), row[1].as<std::int64_t>(),
                                  BusinessDate::parse(row[2].as<std::string>()).value(), row[3].as<std::string>(),
                                  timestamp_of(row[4]), row[5].as<std::int64_t>(), row[6].as<std::int64_t>()};
}

}  // namespace cch::margin
