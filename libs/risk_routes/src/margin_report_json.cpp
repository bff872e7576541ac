// The JSON and CSV forms of margin runs' stress results and Cover-2, and of backtests
// (margin_routes.hpp; docs/margin.md "Stress tests", "Backtesting" and "Through the API").
#include "cch/risk_routes/margin_routes.hpp"

#include "cch/core/money.hpp"

#include <array>
#include <cstdio>

namespace cch::risk {
namespace {

std::string cents(std::int64_t minor) {
  return format_amount(Money{minor, Currency::usd()});
}

std::string double_text(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.6g", value);
  return buffer;
}

}  // namespace

nlohmann::json stress_results_json(std::span<const margin::StressResult> results) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : results) {
    out.push_back({{"scenario", std::string(margin::to_string(r.scenario))},
                   {"loss", cents(r.loss_cents)},
                   {"uncovered", cents(r.uncovered_cents)}});
  }
  return out;
}

nlohmann::json worst_stress_json(const margin::WorstStress& worst) {
  return {{"member_id", worst.member.to_string()},
          {"scenario", std::string(margin::to_string(worst.scenario))},
          {"loss", cents(worst.loss_cents)},
          {"uncovered", cents(worst.uncovered_cents)}};
}

nlohmann::json cover_2_json(const margin::Cover2& cover) {
  nlohmann::json members = nlohmann::json::array();
  for (const auto& worst : cover.members)
    members.push_back(worst_stress_json(worst));
  return {{"members", std::move(members)}, {"uncovered", cents(cover.uncovered_cents)}, {"currency", "USD"}};
}

std::string run_stress_csv(std::span<const margin::StoredMemberMargin> members) {
  std::string out = "member_id,initial_margin";
  for (const auto s : margin::kStressScenarios) {
    const std::string name(margin::to_string(s));
    out += "," + name + "_loss," + name + "_uncovered";
  }
  out += ",worst_scenario,worst_uncovered\n";
  for (const auto& stored : members) {
    out += stored.result.member.to_string() + "," + cents(stored.result.figures.initial_margin_cents);
    if (stored.result.stress.empty()) {
      for (std::size_t i = 0; i < margin::kStressScenarioCount; ++i)
        out += ",,";
      out += ",,\n";
      continue;
    }
    for (const auto& r : stored.result.stress)
      out += "," + cents(r.loss_cents) + "," + cents(r.uncovered_cents);
    const auto worst = margin::worst_stress(
        margin::MemberStress{stored.result.member, stored.result.figures.initial_margin_cents, stored.result.stress});
    out += "," + std::string(margin::to_string(worst.scenario)) + "," + cents(worst.uncovered_cents) + "\n";
  }
  return out;
}

nlohmann::json backtest_record_json(const margin::BacktestRecord& record) {
  return {{"backtest_id", std::to_string(record.backtest_id)},
          {"run_id", std::to_string(record.run_id)},
          {"model_id", std::to_string(record.model_id)},
          {"business_date", record.business_date.format()},
          {"observations_requested", record.observations_requested},
          {"members", record.members},
          {"computed_at", record.computed_at.format()},
          {"compute_microseconds", record.compute_microseconds},
          {"requested_by", record.requested_by}};
}

nlohmann::json member_backtest_json(const margin::MemberBacktest& row) {
  nlohmann::json json = {{"member_id", row.member.to_string()},
                         {"margin_class", std::string(margin::to_string(row.margin_class))},
                         {"mpor_days", row.mpor_days},
                         {"confidence_bp", row.confidence_bp},
                         {"skipped", row.skipped}};
  if (row.refusal) {
    json["refusal"] = *row.refusal;
    json["refusal_detail"] = row.refusal_detail;
    return json;
  }
  const auto& r = row.report;
  json["refusal"] = nullptr;
  json["first_date"] = r.first_date.format();
  json["last_date"] = r.last_date.format();
  json["observations"] = r.observations;
  json["exceptions"] = r.exceptions;
  json["coverage_bp"] = r.coverage_bp;
  json["largest_exception"] = cents(r.largest_exception_cents);
  json["average_exception"] = cents(r.average_exception_cents);
  json["kupiec"] = {{"likelihood_ratio", double_text(r.kupiec.likelihood_ratio)},
                    {"p_value", double_text(r.kupiec.p_value)},
                    {"rejected", r.kupiec.rejected}};
  json["traffic_light"] = {{"zone", std::string(margin::to_string(r.traffic_light.zone))},
                           {"cumulative_probability", double_text(r.traffic_light.cumulative_probability)}};
  json["currency"] = "USD";
  if (!row.observations.empty()) {
    nlohmann::json observations = nlohmann::json::array();
    for (const auto& o : row.observations) {
      observations.push_back({{"date", o.date.format()},
                              {"margin", cents(o.margin_cents)},
                              {"realised_loss", cents(o.realised_loss_cents)},
                              {"exception", o.realised_loss_cents > o.margin_cents}});
    }
    json["daily"] = std::move(observations);
  }
  return json;
}

nlohmann::json backtest_json(const margin::BacktestRecord& record, std::span<const margin::MemberBacktest> rows) {
  nlohmann::json json = backtest_record_json(record);
  std::array<std::int64_t, 3> zones{};
  nlohmann::json members = nlohmann::json::array();
  for (const auto& row : rows) {
    if (!row.refusal)
      ++zones.at(static_cast<std::size_t>(row.report.traffic_light.zone));
    members.push_back(member_backtest_json(row));
  }
  json["zones"] = {{"green", zones[0]}, {"yellow", zones[1]}, {"red", zones[2]}};
  json["results"] = std::move(members);
  return json;
}

std::string backtest_members_csv(std::span<const margin::MemberBacktest> rows) {
  std::string out =
      "member_id,margin_class,mpor_days,confidence_bp,first_date,last_date,observations,exceptions,coverage_bp,"
      "largest_exception,average_exception,kupiec_likelihood_ratio,kupiec_p_value,kupiec_rejected,zone,"
      "cumulative_probability,skipped,refusal\n";
  for (const auto& row : rows) {
    out += row.member.to_string() + "," + std::string(margin::to_string(row.margin_class)) + "," +
           std::to_string(row.mpor_days) + "," + std::to_string(row.confidence_bp) + ",";
    if (row.refusal) {
      out += ",,0,0,0,0.00,0.00,,,,,," + std::to_string(row.skipped) + "," + *row.refusal + "\n";
      continue;
    }
    const auto& r = row.report;
    out += r.first_date.format() + "," + r.last_date.format() + "," + std::to_string(r.observations) + "," +
           std::to_string(r.exceptions) + "," + std::to_string(r.coverage_bp) + "," + cents(r.largest_exception_cents) +
           "," + cents(r.average_exception_cents) + "," + double_text(r.kupiec.likelihood_ratio) + "," +
           double_text(r.kupiec.p_value) + "," + (r.kupiec.rejected ? "true" : "false") + "," +
           std::string(margin::to_string(r.traffic_light.zone)) + "," +
           double_text(r.traffic_light.cumulative_probability) + "," + std::to_string(row.skipped) + ",\n";
  }
  return out;
}

std::string backtest_observations_csv(std::span<const margin::MemberBacktest> rows) {
  std::string out = "member_id,margin_class,date,margin,realised_loss,exception\n";
  for (const auto& row : rows) {
    const std::string head = row.member.to_string() + "," + std::string(margin::to_string(row.margin_class)) + ",";
    for (const auto& o : row.observations) {
      out += head + o.date.format() + "," + cents(o.margin_cents) + "," + cents(o.realised_loss_cents) + "," +
             (o.realised_loss_cents > o.margin_cents ? "true" : "false") + "\n";
    }
  }
  return out;
}

}  // namespace cch::risk
