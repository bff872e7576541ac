// Trade rows: their mapping, and the reads of trades, their events, positions and credit use.
#include "trade_rows.hpp"

#include <pqxx/result>

#include <algorithm>

#include "cch/core/check.hpp"
#include "cch/db/array.hpp"
#include "cch/db/prepared.hpp"
#include "cch/db/row.hpp"

namespace cch::registry {
namespace {

using db::optional_id;

std::optional<std::string> optional_text(const pqxx::field& field) { return db::optional_of<std::string>(field); }

}  // namespace

Trade trade_from(const pqxx::row& row) {
  const auto clearing_fee = row[clearing_fee_column];
  return Trade{.trade_id = TradeId(row[trade_id_column].as<std::int64_t>()),
               .terms = TradeTerms{.product = ProductId(row[product_column].as<std::int64_t>()),
                                   .series_label = optional_text(row[series_label_column]),
                                   .buyer = MemberId(row[buyer_column].as<std::int64_t>()),
                                   .seller = MemberId(row[seller_column].as<std::int64_t>()),
                                   .delivery_start = db::timestamp_of(row[delivery_start_column]),
                                   .delivery_end = db::timestamp_of(row[delivery_end_column]),
                                   .gpus = row[gpus_column].as<std::int64_t>(),
                                   .price = PricePerGpuHour{row[price_column].as<std::int64_t>()}},
               .gpu_hours = row[gpu_hours_column].as<std::int64_t>(),
               .notional = Money{row[notional_column].as<std::int64_t>(), Currency::usd()},
               .submitter = optional_id<MemberId>(row[submitter_column]),
               .venue = db::optional_of<std::int64_t>(row[venue_column]),
               .submitter_reference = row[submitter_reference_column].as<std::string>(),
               .counterparty_reference = optional_text(row[counterparty_reference_column]),
               .state = parse_trade_state(row[state_column].as<std::string>()).value(),
               .submitted_at = db::timestamp_of(row[submitted_at_column]),
               .submitted_by = row[submitted_by_column].as<std::string>(),
               .expires_at = db::timestamp_of(row[expires_at_column]),
               .decided_at = db::optional_timestamp_of(row[decided_at_column]),
               .last_refusal = optional_text(row[last_refusal_column]),
               .last_refused_member = optional_id<MemberId>(row[last_refused_member_column]),
               .clearing_fee = clearing_fee.is_null()
                                   ? std::nullopt
                                   : std::optional<Money>(Money{clearing_fee.as<std::int64_t>(), Currency::usd()}),
               .fee_journal = optional_id<JournalId>(row[fee_journal_column])};
}

void append_event(pqxx::transaction_base& tx, TradeId trade, std::string_view action, const std::string& actor,
                  std::optional<MemberId> actor_member, std::optional<TradeState> from, TradeState to,
                  std::optional<std::string> reason, const std::optional<RequestId>& request_id) {
  db::exec_cached(tx,
      "INSERT INTO cch.trade_event (trade_id, event_sequence, action, actor, actor_member_id, from_state, to_state, "
      "reason, request_id) SELECT $1, COALESCE(max(event_sequence), 0) + 1, $2, $3, $4, $5, $6, $7, $8 "
      "FROM cch.trade_event WHERE trade_id = $1",
      trade.value(), std::string(action), actor,
      actor_member ? std::optional<std::int64_t>(actor_member->value()) : std::nullopt,
      from ? std::optional<std::string>(std::string(to_string(*from))) : std::nullopt, std::string(to_string(to)),
      reason, request_id ? std::optional<std::string>(request_id->value()) : std::nullopt);
}

std::optional<Trade> lock_trade(pqxx::transaction_base& tx, TradeId trade) {
  const auto rows = db::exec_cached(tx,
      "SELECT " + std::string(kTradeColumns) + " FROM cch.trade WHERE trade_id = $1 FOR UPDATE", trade.value());
  if (rows.empty()) return std::nullopt;
  return trade_from(rows[0]);
}

std::optional<Trade> find_trade(pqxx::transaction_base& tx, TradeId trade) {
  const auto rows =
      db::exec_cached(tx, "SELECT " + std::string(kTradeColumns) + " FROM cch.trade WHERE trade_id = $1", trade.value());
  if (rows.empty()) return std::nullopt;
  return trade_from(rows[0]);
}

std::vector<Trade> list_trades(pqxx::transaction_base& tx, const TradeFilter& filter, std::optional<TradeId> after,
                               std::size_t limit) {
  // Optional filters need a plan made for the values given (a custom plan drops the absent ones
  // and picks the index the present ones suit); cch-registry's connections plan generically
  // (runtime::ServiceDefinition::generic_plans), so this transaction asks for custom plans.
  tx.exec("SET LOCAL plan_cache_mode = force_custom_plan");
  const auto rows = db::exec_cached(tx,
      "SELECT " + std::string(kTradeColumns) +
          " FROM cch.trade WHERE trade_id > $1 "
          "AND ($2::bigint IS NULL OR buyer_member_id = $2 OR seller_member_id = $2) "
          "AND ($3::text IS NULL OR state = $3) AND ($4::bigint IS NULL OR product_id = $4) "
          "ORDER BY trade_id LIMIT $5",
      after ? after->value() : std::int64_t{0},
      filter.member ? std::optional<std::int64_t>(filter.member->value()) : std::nullopt,
      filter.state ? std::optional<std::string>(std::string(to_string(*filter.state))) : std::nullopt,
      filter.product ? std::optional<std::int64_t>(filter.product->value()) : std::nullopt,
      static_cast<std::int64_t>(std::clamp<std::size_t>(limit, 1, 1001)));
  std::vector<Trade> trades;
  trades.reserve(rows.size());
  for (const auto& row : rows) trades.push_back(trade_from(row));
  return trades;
}

std::vector<TradeEvent> trade_events(pqxx::transaction_base& tx, TradeId trade) {
  enum EventColumn : int { sequence, at, action, actor, actor_member, from_state, to_state, reason, request_id };
  std::vector<TradeEvent> events;
  for (const auto& row : db::exec_cached(tx,
           "SELECT event_sequence, (extract(epoch FROM at) * 1000000)::bigint, action, actor, actor_member_id, "
           "from_state, to_state, reason, request_id FROM cch.trade_event WHERE trade_id = $1 ORDER BY event_sequence",
           trade.value())) {
    events.push_back(TradeEvent{.sequence = row[sequence].as<int>(),
                                .at = db::timestamp_of(row[at]),
                                .action = row[action].as<std::string>(),
                                .actor = row[actor].as<std::string>(),
                                .actor_member = optional_id<MemberId>(row[actor_member]),
                                .from_state = optional_text(row[from_state]),
                                .to_state = row[to_state].as<std::string>(),
                                .reason = optional_text(row[reason]),
                                .request_id = optional_text(row[request_id])});
  }
  return events;
}

std::vector<Position> member_positions(pqxx::transaction_base& tx, MemberId member) {
  enum PositionColumn : int { product, delivery_month, net, bought, sold };
  std::vector<Position> positions;
  for (const auto& row : db::exec_cached(tx,
           "SELECT product_id, delivery_month::text, net_gpu_hours, bought_gpu_hours, sold_gpu_hours "
           "FROM cch.position WHERE member_id = $1 ORDER BY product_id, delivery_month",
           member.value())) {
    positions.push_back(Position{member, ProductId(row[product].as<std::int64_t>()),
                                 BusinessDate::parse(row[delivery_month].as<std::string>()).value(),
                                 row[net].as<std::int64_t>(), row[bought].as<std::int64_t>(),
                                 row[sold].as<std::int64_t>()});
  }
  return positions;
}

MarginUsed margin_used(pqxx::transaction_base& tx, MemberId member) {
  const auto rows = db::exec_cached(
      tx, "SELECT initial_margin_cents, model_id FROM cch.member_margin_state WHERE member_id = $1", member.value());
  if (rows.empty()) return MarginUsed{Money{0, Currency::usd()}, std::nullopt};
  return MarginUsed{Money{rows[0][0].as<std::int64_t>(), Currency::usd()},
                    rows[0][1].is_null() ? std::nullopt : std::optional<std::int64_t>(rows[0][1].as<std::int64_t>())};
}

std::vector<KeptMarginState> kept_margin_states(pqxx::transaction_base& tx, std::span<const MemberId> members) {
  std::vector<std::int64_t> ids;
  ids.reserve(members.size());
  for (const MemberId member : members) ids.push_back(member.value());
  std::vector<KeptMarginState> out;
  for (const auto& row : db::exec_cached(tx,
           "SELECT member_id, model_id, exposure_cents, net_gpu_hours, interim_cents, legs "
           "FROM cch.member_margin_state WHERE member_id = ANY($1::bigint[]) ORDER BY member_id",
           db::integer_array(ids))) {
    const auto exposures = db::integers_of(row[2]);
    const auto hours = db::integers_of(row[3]);
    CCH_CHECK(exposures.size() == hours.size() && exposures.size() % margin::kMarginClassCount == 0,
              "a margin state holds every class's factors");
    const std::size_t factors = exposures.size() / margin::kMarginClassCount;
    KeptMarginState state{MemberId(row[0].as<std::int64_t>()),
                          row[1].is_null() ? std::nullopt : std::optional<std::int64_t>(row[1].as<std::int64_t>()),
                          {},
                          row[5].as<std::int64_t>()};
    for (std::size_t ci = 0; ci < margin::kMarginClassCount; ++ci) {
      const auto first = static_cast<std::ptrdiff_t>(ci * factors);
      const auto last = static_cast<std::ptrdiff_t>((ci + 1) * factors);
      state.position.exposure_cents[ci].assign(exposures.begin() + first, exposures.begin() + last);
      state.position.net_gpu_hours[ci].assign(hours.begin() + first, hours.begin() + last);
    }
    state.position.interim_cents = row[4].as<std::int64_t>();
    out.push_back(std::move(state));
  }
  return out;
}

std::optional<TradeParties> trade_parties(pqxx::transaction_base& tx, TradeId trade) {
  const auto rows =
      tx.exec_params("SELECT buyer_member_id, seller_member_id FROM cch.trade WHERE trade_id = $1", trade.value());
  if (rows.empty()) return std::nullopt;
  return TradeParties{MemberId(rows[0]["buyer_member_id"].as<std::int64_t>()),
                      MemberId(rows[0]["seller_member_id"].as<std::int64_t>())};
}

}  // namespace cch::registry
