#include "cch/settlement/margin_calls.hpp"

#include <pqxx/result>

#include "cch/core/check.hpp"
#include "cch/db/array.hpp"
#include "cch/db/prepared.hpp"
#include "cch/margin_store/runs.hpp"
#include "cch/settlement/collateral.hpp"

namespace cch::settlement {

std::string_view to_string(CallState state) {
  switch (state) {
    case CallState::issued: return "issued";
    case CallState::met: return "met";
    case CallState::overdue: return "overdue";
    case CallState::superseded: return "superseded";
  }
  return "issued";
}

std::optional<CallState> parse_call_state(std::string_view text) {
  for (const CallState state : {CallState::issued, CallState::met, CallState::overdue, CallState::superseded}) {
    if (to_string(state) == text) return state;
  }
  return std::nullopt;
}

namespace {

const std::string kCallColumns =
    "call_id, member_id, run_id, business_date::text, requirement_minor, collateral_minor, amount_minor, "
    "(extract(epoch FROM issued_at) * 1000000)::bigint, (extract(epoch FROM deadline) * 1000000)::bigint, state, "
    "(extract(epoch FROM closed_at) * 1000000)::bigint";

UtcTimestamp timestamp_of(const pqxx::field& field) {
  return UtcTimestamp::from_unix_microseconds(field.as<std::int64_t>()).value();
}

MarginCall call_of(const pqxx::row& row) {
  MarginCall call{row[0].as<std::int64_t>(),
                  MemberId(row[1].as<std::int64_t>()),
                  row[2].as<std::int64_t>(),
                  BusinessDate::parse(row[3].as<std::string>()).value(),
                  Money{row[4].as<std::int64_t>(), Currency::usd()},
                  Money{row[5].as<std::int64_t>(), Currency::usd()},
                  Money{row[6].as<std::int64_t>(), Currency::usd()},
                  timestamp_of(row[7]),
                  timestamp_of(row[8]),
                  parse_call_state(row[9].as<std::string>()).value(),
                  std::nullopt};
  if (!row[10].is_null()) call.closed_at = timestamp_of(row[10]);
  return call;
}

std::optional<MarginCall> open_call(pqxx::transaction_base& tx, MemberId member) {
  const auto rows = db::exec_cached(
      tx, "SELECT " + kCallColumns + " FROM cch.margin_call WHERE member_id = $1 AND state IN ('issued', 'overdue')",
      member.value());
  if (rows.empty()) return std::nullopt;
  return call_of(rows[0]);
}

void move(pqxx::transaction_base& tx, std::int64_t call_id, CallState to, std::int64_t collateral, std::string_view cause,
          UtcTimestamp now) {
  const bool closes = to == CallState::met || to == CallState::superseded;
  db::exec_cached(tx,
                  "WITH moved AS (UPDATE cch.margin_call SET state = $2, closed_at = CASE WHEN $3 THEN $4::timestamptz "
                  "END WHERE call_id = $1 RETURNING call_id) "
                  "INSERT INTO cch.margin_call_event (call_id, at, to_state, collateral_minor, cause) "
                  "SELECT call_id, $4::timestamptz, $2, $5, $6 FROM moved",
                  call_id, std::string(to_string(to)), closes, now.format(), collateral, std::string(cause));
}

std::int64_t collateral_of(pqxx::transaction_base& tx, MemberId member) {
  const CollateralPosition position = collateral_position(tx, member, Currency::usd());
  return position.held.amount_minor - position.pending_withdrawals.amount_minor;
}

}  // namespace

CallsOfRun issue_margin_calls(pqxx::transaction_base& tx, std::int64_t run_id, std::chrono::minutes deadline,
                              UtcTimestamp now) {
  CCH_CHECK(deadline.count() > 0 && deadline <= kCallDeadlineMax, "a call's deadline is within its bounds");
  const auto run = margin::find_run(tx, run_id);
  CCH_CHECK(run.has_value(), "the run exists");
  const auto members = margin::run_members(tx, run_id);
  std::vector<std::int64_t> ids;
  for (const auto& member : members) ids.push_back(member.result.member.value());
  // Every member of the run, locked in id order (as every path that serialises on members does).
  db::exec_cached(tx,
                  "SELECT member_id FROM cch.member WHERE member_id = ANY($1::bigint[]) ORDER BY member_id "
                  "FOR NO KEY UPDATE",
                  db::integer_array(ids));
  const UtcTimestamp due = UtcTimestamp::from_unix_microseconds(
                               now.unix_microseconds() +
                               std::chrono::duration_cast<std::chrono::microseconds>(deadline).count())
                               .value();
  const std::string cause = "margin run " + std::to_string(run_id);
  CallsOfRun out;
  for (const auto& member : members) {
    const MemberId id = member.result.member;
    const std::int64_t requirement = member.result.figures.initial_margin_cents;
    const std::int64_t collateral = collateral_of(tx, id);
    const auto open = open_call(tx, id);
    if (open && collateral >= open->requirement.amount_minor && collateral >= requirement) {
      move(tx, open->call_id, CallState::met, collateral, cause, now);
      ++out.met;
      continue;
    }
    if (requirement <= collateral) continue;
    if (open && open->requirement.amount_minor == requirement) continue;  // the open call stands
    if (open) {
      move(tx, open->call_id, CallState::superseded, collateral, cause, now);
      ++out.superseded;
    }
    const auto call_id =
        db::exec_cached(tx,
                        "INSERT INTO cch.margin_call (member_id, run_id, business_date, requirement_minor, "
                        "collateral_minor, amount_minor, issued_at, deadline, state) "
                        "VALUES ($1, $2, $3::date, $4, $5, $6, $7::timestamptz, $8::timestamptz, 'issued') "
                        "RETURNING call_id",
                        id.value(), run_id, run->business_date.format(), requirement, collateral,
                        requirement - collateral, now.format(), due.format())
            .at(0)[0]
            .as<std::int64_t>();
    db::exec_cached(tx,
                    "INSERT INTO cch.margin_call_event (call_id, at, to_state, collateral_minor, cause) "
                    "VALUES ($1, $2::timestamptz, 'issued', $3, $4)",
                    call_id, now.format(), collateral, cause);
    ++out.issued;
  }
  return out;
}

std::optional<MarginCall> meet_margin_call(pqxx::transaction_base& tx, MemberId member, std::int64_t collateral_minor,
                                           std::string_view cause, UtcTimestamp now) {
  const auto open = open_call(tx, member);
  if (!open || collateral_minor < open->requirement.amount_minor) return std::nullopt;
  move(tx, open->call_id, CallState::met, collateral_minor, cause, now);
  return find_margin_call(tx, open->call_id);
}

std::int64_t mark_overdue_margin_calls(pqxx::transaction_base& tx, UtcTimestamp now) {
  const auto rows = db::exec_cached(
      tx,
      "SELECT call_id, member_id FROM cch.margin_call WHERE state = 'issued' AND deadline <= $1::timestamptz "
      "ORDER BY member_id LIMIT 1000",
      now.format());
  for (const auto& row : rows) {
    const MemberId member(row[1].as<std::int64_t>());
    move(tx, row[0].as<std::int64_t>(), CallState::overdue, collateral_of(tx, member), "deadline passed", now);
  }
  return static_cast<std::int64_t>(rows.size());
}

std::optional<MarginCall> find_margin_call(pqxx::transaction_base& tx, std::int64_t call_id) {
  const auto rows = db::exec_cached(tx, "SELECT " + kCallColumns + " FROM cch.margin_call WHERE call_id = $1", call_id);
  if (rows.empty()) return std::nullopt;
  return call_of(rows[0]);
}

std::vector<MarginCall> list_margin_calls(pqxx::transaction_base& tx, std::optional<MemberId> member,
                                          std::optional<CallState> state, std::optional<std::int64_t> before,
                                          std::size_t limit) {
  CCH_CHECK(limit >= 1 && limit <= 1000, "a page of calls is 1..1000");
  const auto rows = db::exec_cached(
      tx,
      "SELECT " + kCallColumns + " FROM cch.margin_call WHERE ($1::bigint IS NULL OR member_id = $1) "
      "AND ($2::text IS NULL OR state = $2) AND ($3::bigint IS NULL OR call_id < $3) ORDER BY call_id DESC LIMIT $4",
      member ? std::optional<std::int64_t>(member->value()) : std::nullopt,
      state ? std::optional<std::string>(to_string(*state)) : std::nullopt, before, static_cast<std::int64_t>(limit));
  std::vector<MarginCall> out;
  for (const auto& row : rows) out.push_back(call_of(row));
  return out;
}

}  // namespace cch::settlement
