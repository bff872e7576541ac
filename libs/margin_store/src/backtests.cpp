#include "cch/margin_store/backtests.hpp"

#include "sql_values.hpp"

#include <string>
#include <tuple>

#include "cch/core/check.hpp"
#include "cch/db/array.hpp"
#include "cch/db/prepared.hpp"

#include <pqxx/result>
#include <pqxx/stream_to>

namespace cch::margin {

namespace {

const std::string kBacktestColumns =
    "backtest_id, run_id, model_id, business_date::text, observations_requested, members, "
    "(extract(epoch FROM computed_at) * 1000000)::bigint, compute_microseconds, requested_by";

BacktestRecord record_of(const pqxx::row& row) {
  BacktestRecord out;
  out.backtest_id = row[0].as<std::int64_t>();
  out.run_id = row[1].as<std::int64_t>();
  out.model_id = row[2].as<std::int64_t>();
  out.business_date = sql::date_of(row[3]);
  out.observations_requested = row[4].as<std::int32_t>();
  out.members = row[5].as<std::int32_t>();
  out.computed_at = sql::timestamp_of(row[6]);
  out.compute_microseconds = row[7].as<std::int64_t>();
  out.requested_by = row[8].as<std::string>();
  return out;
}

std::optional<TrafficLightZone> zone_named(std::string_view name) {
  for (const TrafficLightZone z : {TrafficLightZone::green, TrafficLightZone::yellow, TrafficLightZone::red}) {
    if (to_string(z) == name)
      return z;
  }
  return std::nullopt;
}

}  // namespace

BacktestRecord store_backtest(pqxx::transaction_base& tx, const BacktestRequest& request,
                              std::span<const MemberBacktest> members) {
  CCH_CHECK(request.observations_requested >= 1 &&
                static_cast<std::size_t>(request.observations_requested) <= kBacktestObservationsMax,
            "a backtest asks for 1 to kBacktestObservationsMax dates");
  std::int32_t distinct = 0;
  for (std::size_t i = 0; i < members.size(); ++i) {
    if (i == 0 || members[i].member != members[i - 1].member)
      ++distinct;
  }
  const auto id =
      db::exec_cached(tx,
                      "INSERT INTO margin.backtest (run_id, model_id, business_date, observations_requested, "
                      "members, compute_microseconds, requested_by, request_id) "
                      "VALUES ($1, $2, $3::date, $4, $5, $6, $7, $8) RETURNING backtest_id",
                      request.run_id, request.model_id, request.business_date.format(), request.observations_requested,
                      distinct, request.compute_microseconds, request.requested_by, request.request_id)
          .at(0)[0]
          .as<std::int64_t>();
  {
    pqxx::stream_to out(tx, "margin.member_backtest",
                        std::vector<std::string>{"backtest_id",
                                                 "member_id",
                                                 "margin_class",
                                                 "refusal",
                                                 "refusal_detail",
                                                 "mpor_days",
                                                 "confidence_bp",
                                                 "skipped",
                                                 "first_date",
                                                 "last_date",
                                                 "observations",
                                                 "exceptions",
                                                 "coverage_bp",
                                                 "largest_exception_cents",
                                                 "average_exception_cents",
                                                 "kupiec_likelihood_ratio",
                                                 "kupiec_p_value",
                                                 "kupiec_rejected",
                                                 "traffic_light",
                                                 "cumulative_probability",
                                                 "dates",
                                                 "margin_cents",
                                                 "realised_loss_cents"});
    std::vector<BusinessDate> dates;
    std::vector<std::int64_t> margins;
    std::vector<std::int64_t> losses;
    for (const MemberBacktest& m : members) {
      dates.clear();
      margins.clear();
      losses.clear();
      for (const BacktestObservation& o : m.observations) {
        dates.push_back(o.date);
        margins.push_back(o.margin_cents);
        losses.push_back(o.realised_loss_cents);
      }
      const bool refused = m.refusal.has_value();
      CCH_CHECK(refused == m.observations.empty() || !refused, "a refused backtest has no observations");
      const BacktestReport& r = m.report;
      const std::optional<std::string> first = refused ? std::nullopt : std::optional(r.first_date.format());
      const std::optional<std::string> last = refused ? std::nullopt : std::optional(r.last_date.format());
      const std::optional<std::string> zone =
          refused ? std::nullopt : std::optional(std::string(to_string(r.traffic_light.zone)));
      const std::optional<std::string> detail =
          refused ? std::optional(m.refusal_detail.substr(0, 1000)) : std::nullopt;
      out << std::make_tuple(
          id, m.member.value(), std::string(to_string(m.margin_class)), m.refusal, detail, m.mpor_days, m.confidence_bp,
          m.skipped, first, last, static_cast<std::int64_t>(m.observations.size()), refused ? 0 : r.exceptions,
          refused ? 0 : r.coverage_bp, refused ? 0 : r.largest_exception_cents, refused ? 0 : r.average_exception_cents,
          refused ? 0.0 : r.kupiec.likelihood_ratio, refused ? 1.0 : r.kupiec.p_value,
          refused ? false : r.kupiec.rejected, zone, refused ? 0.0 : r.traffic_light.cumulative_probability,
          sql::date_array(dates), db::integer_array(margins), db::integer_array(losses));
    }
    out.complete();
  }
  db::exec_cached(tx,
                  "INSERT INTO cch.outbox (topic, aggregate_id, payload) VALUES ('margin.backtest_completed', "
                  "$1::bigint, jsonb_build_object('backtest_id', ($1::bigint)::text, 'run_id', ($2::bigint)::text, "
                  "'business_date', $3::text, 'members', $4::int))",
                  id, request.run_id, request.business_date.format(), distinct);
  return *find_backtest(tx, id);
}

std::optional<BacktestRecord> find_backtest(pqxx::transaction_base& tx, std::int64_t backtest_id) {
  const auto rows =
      db::exec_cached(tx, "SELECT " + kBacktestColumns + " FROM margin.backtest WHERE backtest_id = $1", backtest_id);
  if (rows.empty())
    return std::nullopt;
  return record_of(rows[0]);
}

std::optional<BacktestRecord> backtest_of_run(pqxx::transaction_base& tx, std::int64_t run_id,
                                              std::int32_t observations_requested) {
  const auto rows = db::exec_cached(
      tx, "SELECT " + kBacktestColumns + " FROM margin.backtest WHERE run_id = $1 AND observations_requested = $2",
      run_id, observations_requested);
  if (rows.empty())
    return std::nullopt;
  return record_of(rows[0]);
}

std::optional<BacktestRecord> latest_backtest_of_run(pqxx::transaction_base& tx, std::int64_t run_id) {
  const auto rows = db::exec_cached(
      tx, "SELECT " + kBacktestColumns + " FROM margin.backtest WHERE run_id = $1 ORDER BY backtest_id DESC LIMIT 1",
      run_id);
  if (rows.empty())
    return std::nullopt;
  return record_of(rows[0]);
}

std::vector<BacktestRecord> list_backtests(pqxx::transaction_base& tx, std::optional<std::int64_t> before,
                                           std::size_t limit) {
  const auto rows = db::exec_cached(tx,
                                    "SELECT " + kBacktestColumns +
                                        " FROM margin.backtest WHERE $1::bigint IS NULL OR backtest_id < $1 "
                                        "ORDER BY backtest_id DESC LIMIT $2",
                                    before, static_cast<std::int64_t>(limit));
  std::vector<BacktestRecord> out;
  for (const auto& row : rows)
    out.push_back(record_of(row));
  return out;
}

std::vector<MemberBacktest> backtest_members(pqxx::transaction_base& tx, std::int64_t backtest_id,
                                             std::optional<MemberId> member, bool with_observations) {
  const auto rows = db::exec_cached(
      tx,
      "SELECT member_id, margin_class, refusal, refusal_detail, mpor_days, confidence_bp, skipped, first_date::text, "
      "last_date::text, observations, exceptions, coverage_bp, largest_exception_cents, average_exception_cents, "
      "kupiec_likelihood_ratio, kupiec_p_value, kupiec_rejected, traffic_light, cumulative_probability, "
      "CASE WHEN $3 THEN dates END, CASE WHEN $3 THEN margin_cents END, CASE WHEN $3 THEN realised_loss_cents END "
      "FROM margin.member_backtest WHERE backtest_id = $1 AND ($2::bigint IS NULL OR member_id = $2) "
      "ORDER BY member_id, margin_class DESC",
      backtest_id, member ? std::optional(member->value()) : std::nullopt, with_observations);
  std::vector<MemberBacktest> out;
  for (const auto& row : rows) {
    MemberBacktest m;
    m.member = MemberId::from_value(row[0].as<std::int64_t>()).value();
    m.margin_class = row[1].as<std::string>() == "future" ? MarginClass::future : MarginClass::forward;
    if (!row[2].is_null()) {
      m.refusal = row[2].as<std::string>();
      m.refusal_detail = row[3].is_null() ? "" : row[3].as<std::string>();
    }
    m.mpor_days = row[4].as<std::int32_t>();
    m.confidence_bp = row[5].as<std::int32_t>();
    m.skipped = row[6].as<std::int64_t>();
    m.observation_count = row[9].as<std::int64_t>();
    if (!m.refusal) {
      BacktestReport& r = m.report;
      r.first_date = sql::date_of(row[7]);
      r.last_date = sql::date_of(row[8]);
      r.confidence_bp = m.confidence_bp;
      r.observations = m.observation_count;
      r.exceptions = row[10].as<std::int64_t>();
      r.coverage_bp = row[11].as<std::int32_t>();
      r.coverage = r.observations > 0
                       ? static_cast<double>(r.observations - r.exceptions) / static_cast<double>(r.observations)
                       : 0.0;
      r.largest_exception_cents = row[12].as<std::int64_t>();
      r.average_exception_cents = row[13].as<std::int64_t>();
      r.kupiec = KupiecTest{row[14].as<double>(), row[15].as<double>(), row[16].as<bool>()};
      const auto zone = zone_named(row[17].as<std::string>());
      CCH_CHECK(zone.has_value(), "a stored zone is green, yellow or red");
      r.traffic_light = TrafficLight{*zone, row[18].as<double>()};
    }
    if (with_observations && !row[19].is_null()) {
      const auto dates = sql::dates_of(row[19]);
      const auto margins = db::integers_of(row[20]);
      const auto losses = db::integers_of(row[21]);
      CCH_CHECK(dates.size() == margins.size() && losses.size() == margins.size(), "one margin and loss per date");
      for (std::size_t i = 0; i < dates.size(); ++i)
        m.observations.push_back(BacktestObservation{dates[i], margins[i], losses[i]});
    }
    out.push_back(std::move(m));
  }
  return out;
}

std::optional<BacktestRecord> latest_backtest_of_member(pqxx::transaction_base& tx, MemberId member) {
  const auto rows = db::exec_cached(tx,
                                    "SELECT " + kBacktestColumns +
                                        " FROM margin.backtest WHERE backtest_id = (SELECT max(backtest_id) FROM "
                                        "margin.member_backtest WHERE member_id = $1)",
                                    member.value());
  if (rows.empty())
    return std::nullopt;
  return record_of(rows[0]);
}

}  // namespace cch::margin
