#pragma once
// Trade rows (private to the registry): the select list every read of cch.trade uses, the
// mapping of one row to a Trade, and the writes every path makes (a locked read, an event).

#include "cch/registry/trades.hpp"

#include <pqxx/row>
#include <pqxx/transaction_base>

#include <optional>
#include <string>
#include <string_view>

namespace cch::registry {

// A trade row's select list, and the index of each column in it (trade_from reads by these).
inline constexpr std::string_view kTradeColumns =
    "trade_id, product_id, series_label, buyer_member_id, seller_member_id, "
    "(extract(epoch FROM delivery_start) * 1000000)::bigint, (extract(epoch FROM delivery_end) * 1000000)::bigint, "
    "gpus, price_ticks, gpu_hours, notional_minor, submitter_member_id, submitter_reference, counterparty_reference, "
    "state, (extract(epoch FROM submitted_at) * 1000000)::bigint, submitted_by, "
    "(extract(epoch FROM expires_at) * 1000000)::bigint, (extract(epoch FROM decided_at) * 1000000)::bigint, "
    "last_refusal, last_refused_member_id, fee_journal_id, venue_principal_id, clearing_fee_minor";
enum TradeColumn : int {
  trade_id_column,
  product_column,
  series_label_column,
  buyer_column,
  seller_column,
  delivery_start_column,
  delivery_end_column,
  gpus_column,
  price_column,
  gpu_hours_column,
  notional_column,
  submitter_column,
  submitter_reference_column,
  counterparty_reference_column,
  state_column,
  submitted_at_column,
  submitted_by_column,
  expires_at_column,
  decided_at_column,
  last_refusal_column,
  last_refused_member_column,
  fee_journal_column,
  venue_column,
  clearing_fee_column,
};


// Precondition: the row's columns are kTradeColumns.
Trade trade_from(const pqxx::row& row);

// The trade's row, locked FOR UPDATE; nullopt: no such trade.
std::optional<Trade> lock_trade(pqxx::transaction_base& tx, TradeId trade);

// Appends the trade's next event (its sequence number one more than the last).
void append_event(pqxx::transaction_base& tx, TradeId trade, std::string_view action, const std::string& actor,
                  std::optional<MemberId> actor_member, std::optional<TradeState> from, TradeState to,
                  std::optional<std::string> reason, const std::optional<RequestId>& request_id);

// A timestamp as a statement's $n::timestamptz text.
inline std::string timestamp_text(UtcTimestamp at) { return at.format(); }

}  // namespace cch::registry
