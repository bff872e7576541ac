#include "cch/settlement/deliveries.hpp"

#include <pqxx/result>

#include <algorithm>
#include <map>
#include <stdexcept>

#include "cch/core/check.hpp"
#include "cch/core/decimal.hpp"
#include "cch/core/money.hpp"
#include "cch/db/array.hpp"
#include "cch/ledger/accounts.hpp"
#include "cch/ledger/journal.hpp"
#include "cch/ledger/post.hpp"
#include "cch/market/market_data.hpp"
#include "deliveries_step.hpp"

namespace cch::settlement {

std::string_view to_string(DeliveryRefusal refusal) {
  switch (refusal) {
    case DeliveryRefusal::unknown_trade: return "unknown_trade";
    case DeliveryRefusal::not_physically_settled: return "not_physically_settled";
    case DeliveryRefusal::not_the_seller: return "not_the_seller";
    case DeliveryRefusal::not_the_buyer: return "not_the_buyer";
    case DeliveryRefusal::day_outside_window: return "day_outside_window";
    case DeliveryRefusal::day_not_begun: return "day_not_begun";
    case DeliveryRefusal::delivered_exceeds_contract: return "delivered_exceeds_contract";
    case DeliveryRefusal::already_reported: return "already_reported";
    case DeliveryRefusal::not_reported: return "not_reported";
    case DeliveryRefusal::already_answered: return "already_answered";
    case DeliveryRefusal::invalid_dispute: return "invalid_dispute";
    case DeliveryRefusal::not_disputed: return "not_disputed";
    case DeliveryRefusal::already_decided: return "already_decided";
    case DeliveryRefusal::decision_out_of_range: return "decision_out_of_range";
    case DeliveryRefusal::invalid_reason: return "invalid_reason";
    case DeliveryRefusal::trade_settled: return "trade_settled";
    case DeliveryRefusal::unknown_product: return "unknown_product";
    case DeliveryRefusal::unknown_index: return "unknown_index";
  }
  return "unknown_trade";
}

namespace {

DeliveryError refuse(DeliveryRefusal refusal, std::string detail) { return DeliveryError{refusal, std::move(detail)}; }

constexpr std::int64_t kMicrosPerHour = 3'600'000'000;
constexpr std::int64_t kMicrosPerDay = 24 * kMicrosPerHour;

// A cleared trade's terms, as deliveries need them.
struct TradeTerms {
  std::int64_t trade = 0;
  std::int64_t product = 0;
  std::int64_t buyer = 0;
  std::int64_t seller = 0;
  std::int64_t start_us = 0;
  std::int64_t end_us = 0;
  std::int64_t gpus = 0;
  std::int64_t price_ticks = 0;
  bool cash = false;
  std::optional<std::string> cash_index;
};

const std::string kTradeColumns =
    "t.trade_id, t.product_id, t.buyer_member_id, t.seller_member_id, "
    "(extract(epoch FROM t.delivery_start) * 1000000)::bigint, (extract(epoch FROM t.delivery_end) * 1000000)::bigint, "
    "t.gpus, t.price_ticks, p.settlement, p.cash_index";

TradeTerms terms_of(const pqxx::row& row) {
  TradeTerms terms;
  terms.trade = row[0].as<std::int64_t>();
  terms.product = row[1].as<std::int64_t>();
  terms.buyer = row[2].as<std::int64_t>();
  terms.seller = row[3].as<std::int64_t>();
  terms.start_us = row[4].as<std::int64_t>();
  terms.end_us = row[5].as<std::int64_t>();
  terms.gpus = row[6].as<std::int64_t>();
  terms.price_ticks = row[7].as<std::int64_t>();
  terms.cash = row[8].as<std::string>() == "cash";
  if (!row[9].is_null()) terms.cash_index = row[9].as<std::string>();
  return terms;
}

// The trade's delivery days with their contract GPU-hours (the GPUs times the window's hours in
// each UTC day), in order.
std::vector<std::pair<BusinessDate, std::int64_t>> days_of(const TradeTerms& terms) {
  std::vector<std::pair<BusinessDate, std::int64_t>> days;
  BusinessDate day = BusinessDate::containing(UtcTimestamp(terms.start_us));
  while (day.start_of_day().unix_microseconds() < terms.end_us) {
    const std::int64_t from = std::max(terms.start_us, day.start_of_day().unix_microseconds());
    const std::int64_t to = std::min(terms.end_us, day.start_of_day().unix_microseconds() + kMicrosPerDay);
    days.emplace_back(day, terms.gpus * ((to - from) / kMicrosPerHour));
    day = day.add_days(1).value();
  }
  return days;
}

// The cleared trade, locked (its reports, answers and decisions serialised with the run that
// settles it), if the member (when given) is a party to it.
std::optional<TradeTerms> locked_trade(pqxx::transaction_base& tx, TradeId trade, std::optional<MemberId> member) {
  const auto rows = tx.exec_params("SELECT " + kTradeColumns +
                                       " FROM cch.trade t JOIN cch.product p USING (product_id) WHERE t.trade_id = $1 "
                                       "AND t.state = 'cleared' FOR NO KEY UPDATE OF t",
                                   trade.value());
  if (rows.empty()) return std::nullopt;
  TradeTerms terms = terms_of(rows[0]);
  if (member && member->value() != terms.buyer && member->value() != terms.seller) return std::nullopt;
  return terms;
}

bool settled(pqxx::transaction_base& tx, TradeId trade) {
  return !tx.exec_params("SELECT 1 FROM settlement.trade_delivery d JOIN settlement.run r USING (run_id) "
                         "WHERE d.trade_id = $1 AND r.state <> 'reversed'",
                         trade.value())
              .empty();
}

std::optional<std::int64_t> optional_integer(const pqxx::field& field) {
  if (field.is_null()) return std::nullopt;
  return field.as<std::int64_t>();
}
std::optional<std::string> optional_text(const pqxx::field& field) {
  if (field.is_null()) return std::nullopt;
  return field.as<std::string>();
}

// The days of a trade (checked to be one of its parties' when a member is given), with what was
// reported, answered, decided and settled.
std::vector<DeliveryDay> load_days(pqxx::transaction_base& tx, const TradeTerms& terms) {
  std::vector<DeliveryDay> days;
  for (const auto& [day, hours] : days_of(terms)) {
    DeliveryDay entry;
    entry.day = day;
    entry.contract_gpu_hours = hours;
    days.push_back(entry);
  }
  auto find = [&](const std::string& text) -> DeliveryDay* {
    const auto day = BusinessDate::parse(text).value();
    for (auto& entry : days) {
      if (entry.day == day) return &entry;
    }
    return nullptr;
  };
  for (const auto& row : tx.exec_params(
           "SELECT r.delivery_day::text, r.delivered_gpu_hours, (extract(epoch FROM r.reported_at) * 1000000)::bigint, "
           "a.answer, a.buyer_gpu_hours, a.reason, d.delivered_gpu_hours, d.reason, d.decided_by, d.journal_id "
           "FROM settlement.delivery_report r LEFT JOIN settlement.delivery_answer a USING (trade_id, delivery_day) "
           "LEFT JOIN settlement.delivery_decision d USING (trade_id, delivery_day) WHERE r.trade_id = $1",
           terms.trade)) {
    DeliveryDay* entry = find(row[0].as<std::string>());
    CCH_CHECK(entry != nullptr, "a report is of a day of the trade's window");
    entry->reported_gpu_hours = row[1].as<std::int64_t>();
    entry->reported_at = UtcTimestamp(row[2].as<std::int64_t>());
    entry->answer = optional_text(row[3]);
    entry->buyer_gpu_hours = optional_integer(row[4]);
    entry->dispute_reason = optional_text(row[5]);
    entry->decided_gpu_hours = optional_integer(row[6]);
    entry->decision_reason = optional_text(row[7]);
    entry->decided_by = optional_text(row[8]);
    if (!row[9].is_null()) entry->decision_journal = JournalId(row[9].as<std::int64_t>());
  }
  for (const auto& row : tx.exec_params(
           "SELECT d.run_id, d.delivery_day::text, d.basis, d.delivered_gpu_hours, d.disputed_gpu_hours, "
           "d.shortfall_gpu_hours, d.index_ticks, d.escrow_minor FROM settlement.delivery_day d "
           "JOIN settlement.run r USING (run_id) WHERE d.trade_id = $1 AND r.state <> 'reversed'",
           terms.trade)) {
    DeliveryDay* entry = find(row[1].as<std::string>());
    CCH_CHECK(entry != nullptr, "a settled day is of the trade's window");
    entry->run_id = row[0].as<std::int64_t>();
    entry->basis = row[2].as<std::string>();
    entry->delivered_gpu_hours = row[3].as<std::int64_t>();
    entry->disputed_gpu_hours = row[4].as<std::int64_t>();
    entry->shortfall_gpu_hours = row[5].as<std::int64_t>();
    entry->index_ticks = optional_integer(row[6]);
    entry->escrow_minor = row[7].as<std::int64_t>();
  }
  return days;
}

DeliveryDay day_of(pqxx::transaction_base& tx, const TradeTerms& terms, BusinessDate day) {
  for (auto& entry : load_days(tx, terms)) {
    if (entry.day == day) return entry;
  }
  CCH_CHECK(false, "the day is one of the trade's window");
  return {};
}

// The contract GPU-hours of `day` in the trade's window (0: not a day of it).
std::int64_t contract_hours(const TradeTerms& terms, BusinessDate day) {
  for (const auto& [each, hours] : days_of(terms)) {
    if (each == day) return hours;
  }
  return 0;
}

bool valid_reason(std::string_view reason) { return !reason.empty() && reason.size() <= kDeliveryReasonLengthMax; }

// Money of `tick_gpu_hours` price ticks x GPU-hours (10^-6 USD... each tick is 10^-4 USD, a cent
// 10^-2): the cents, ties away from zero. `scale` divides further (basis points: 10^4).
std::int64_t cents_of(Int128 tick_gpu_hours, Int128 scale = 1) {
  const auto cents = divide_rounded(tick_gpu_hours, 100 * scale, Rounding::half_away_from_zero);
  CCH_CHECK(cents.has_value(), "a delivery amount fits in 64 bits");
  CCH_CHECK(*cents >= -kAmountMinorMax && *cents <= kAmountMinorMax, "a delivery amount is within the largest amount");
  return *cents;
}

// The buy-in of `shortfall` GPU-hours at index `index` against the contract price, in ticks x
// GPU-hours x 10^4 (the penalty's basis points kept exact).
Int128 buy_in_scaled(std::int64_t shortfall, std::int64_t index, std::int64_t price, std::int32_t penalty_bps) {
  const Int128 excess = std::max<std::int64_t>(index - price, 0);
  return static_cast<Int128>(shortfall) * (excess * 10'000 + static_cast<Int128>(index) * penalty_bps);
}

}  // namespace

Result<DeliveryDay, DeliveryError> report_delivery(pqxx::transaction_base& tx, TradeId trade, BusinessDate day,
                                                   std::int64_t delivered_gpu_hours, const DeliveryActor& actor,
                                                   UtcTimestamp now) {
  const auto terms = locked_trade(tx, trade, actor.member);
  if (!terms) return fail(refuse(DeliveryRefusal::unknown_trade, "no cleared trade " + trade.to_string()));
  if (terms->cash) {
    return fail(refuse(DeliveryRefusal::not_physically_settled,
                       "trade " + trade.to_string() + " is settled in cash against its index"));
  }
  if (actor.member && actor.member->value() != terms->seller) {
    return fail(refuse(DeliveryRefusal::not_the_seller, "only the seller reports what it delivered"));
  }
  const std::int64_t contract = contract_hours(*terms, day);
  if (contract == 0) {
    return fail(refuse(DeliveryRefusal::day_outside_window,
                       day.format() + " is not a day of trade " + trade.to_string() + "'s delivery window"));
  }
  if (now < day.start_of_day()) {
    return fail(refuse(DeliveryRefusal::day_not_begun, day.format() + " has not begun"));
  }
  if (delivered_gpu_hours < 0 || delivered_gpu_hours > contract) {
    return fail(refuse(DeliveryRefusal::delivered_exceeds_contract,
                       "delivered GPU-hours must be 0.." + std::to_string(contract) + " on " + day.format()));
  }
  if (settled(tx, trade)) {
    return fail(refuse(DeliveryRefusal::trade_settled, "trade " + trade.to_string() + " was settled"));
  }
  const auto inserted = tx.exec_params(
      "INSERT INTO settlement.delivery_report (trade_id, delivery_day, delivered_gpu_hours, contract_gpu_hours, "
      "reported_by, request_id) VALUES ($1, $2::date, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING 1",
      trade.value(), day.format(), delivered_gpu_hours, contract, actor.name, actor.request_id);
  if (inserted.empty()) {
    return fail(refuse(DeliveryRefusal::already_reported, day.format() + " of trade " + trade.to_string() +
                                                              " was reported before"));
  }
  return day_of(tx, *terms, day);
}

namespace {

Result<TradeTerms, DeliveryError> answerable(pqxx::transaction_base& tx, TradeId trade, BusinessDate day,
                                             const DeliveryActor& actor) {
  const auto terms = locked_trade(tx, trade, actor.member);
  if (!terms) return fail(refuse(DeliveryRefusal::unknown_trade, "no cleared trade " + trade.to_string()));
  if (terms->cash) {
    return fail(refuse(DeliveryRefusal::not_physically_settled,
                       "trade " + trade.to_string() + " is settled in cash against its index"));
  }
  if (actor.member && actor.member->value() != terms->buyer) {
    return fail(refuse(DeliveryRefusal::not_the_buyer, "only the buyer confirms or disputes a delivery"));
  }
  if (contract_hours(*terms, day) == 0) {
    return fail(refuse(DeliveryRefusal::day_outside_window,
                       day.format() + " is not a day of trade " + trade.to_string() + "'s delivery window"));
  }
  if (settled(tx, trade)) {
    return fail(refuse(DeliveryRefusal::trade_settled, "trade " + trade.to_string() + " was settled"));
  }
  return *terms;
}

}  // namespace

Result<DeliveryDay, DeliveryError> confirm_delivery(pqxx::transaction_base& tx, TradeId trade, BusinessDate day,
                                                    const DeliveryActor& actor) {
  auto terms = answerable(tx, trade, day, actor);
  if (!terms) return fail(terms.error());
  const DeliveryDay current = day_of(tx, *terms, day);
  if (!current.reported_gpu_hours) {
    return fail(refuse(DeliveryRefusal::not_reported, day.format() + " was not reported"));
  }
  if (current.answer) return fail(refuse(DeliveryRefusal::already_answered, day.format() + " was " + *current.answer));
  tx.exec_params("INSERT INTO settlement.delivery_answer (trade_id, delivery_day, answer, answered_by, request_id) "
                 "VALUES ($1, $2::date, 'confirmed', $3, $4)",
                 trade.value(), day.format(), actor.name, actor.request_id);
  return day_of(tx, *terms, day);
}

Result<DeliveryDay, DeliveryError> dispute_delivery(pqxx::transaction_base& tx, TradeId trade, BusinessDate day,
                                                    std::int64_t buyer_gpu_hours, std::string_view reason,
                                                    const DeliveryActor& actor) {
  auto terms = answerable(tx, trade, day, actor);
  if (!terms) return fail(terms.error());
  const DeliveryDay current = day_of(tx, *terms, day);
  if (!current.reported_gpu_hours) {
    return fail(refuse(DeliveryRefusal::not_reported, day.format() + " was not reported"));
  }
  if (current.answer) return fail(refuse(DeliveryRefusal::already_answered, day.format() + " was " + *current.answer));
  if (!valid_reason(reason)) {
    return fail(refuse(DeliveryRefusal::invalid_reason, "a dispute needs a reason of 1 to 500 characters"));
  }
  if (buyer_gpu_hours < 0 || buyer_gpu_hours >= *current.reported_gpu_hours) {
    return fail(refuse(DeliveryRefusal::invalid_dispute,
                       "the GPU-hours the buyer received must be 0.." +
                           std::to_string(*current.reported_gpu_hours - 1) + " (below the seller's report)"));
  }
  tx.exec_params("INSERT INTO settlement.delivery_answer (trade_id, delivery_day, answer, buyer_gpu_hours, reason, "
                 "answered_by, request_id) VALUES ($1, $2::date, 'disputed', $3, $4, $5, $6)",
                 trade.value(), day.format(), buyer_gpu_hours, std::string(reason), actor.name, actor.request_id);
  return day_of(tx, *terms, day);
}

Result<DeliveryDay, DeliveryError> decide_dispute(pqxx::transaction_base& tx, TradeId trade, BusinessDate day,
                                                  std::int64_t delivered_gpu_hours, std::string_view reason,
                                                  const DeliveryActor& actor, UtcTimestamp now) {
  CCH_CHECK(!actor.member.has_value(), "a risk officer decides disputes");
  const auto terms = locked_trade(tx, trade, std::nullopt);
  if (!terms) return fail(refuse(DeliveryRefusal::unknown_trade, "no cleared trade " + trade.to_string()));
  if (contract_hours(*terms, day) == 0) {
    return fail(refuse(DeliveryRefusal::day_outside_window,
                       day.format() + " is not a day of trade " + trade.to_string() + "'s delivery window"));
  }
  const DeliveryDay current = day_of(tx, *terms, day);
  if (current.answer != "disputed") {
    return fail(refuse(DeliveryRefusal::not_disputed, day.format() + " of trade " + trade.to_string() +
                                                          " is not disputed"));
  }
  if (current.decided_gpu_hours) {
    return fail(refuse(DeliveryRefusal::already_decided, day.format() + " was decided before"));
  }
  if (!valid_reason(reason)) {
    return fail(refuse(DeliveryRefusal::invalid_reason, "a decision needs a reason of 1 to 500 characters"));
  }
  const std::int64_t buyer = *current.buyer_gpu_hours;
  const std::int64_t reported = *current.reported_gpu_hours;
  if (delivered_gpu_hours < buyer || delivered_gpu_hours > reported) {
    return fail(refuse(DeliveryRefusal::decision_out_of_range,
                       "the decided GPU-hours lie between the buyer's figure " + std::to_string(buyer) +
                           " and the seller's report " + std::to_string(reported)));
  }
  std::optional<std::int64_t> run_id;
  std::optional<JournalId> journal;
  if (current.run_id) {
    // Settled with the dispute open: the escrow goes to the seller for the decided hours, the rest
    // back to the buyer, and the seller pays the buy-in of the hours decided undelivered.
    CCH_CHECK(current.basis == "disputed" && current.index_ticks.has_value(), "an open dispute was settled with its index");
    run_id = current.run_id;
    const auto settled_row = tx.exec_params1(
        "SELECT buy_in_penalty_bps FROM settlement.trade_delivery WHERE run_id = $1 AND trade_id = $2", *run_id,
        trade.value());
    const auto penalty = settled_row[0].as<std::int32_t>();
    const std::int64_t escrow = current.escrow_minor;
    const std::int64_t to_seller =
        cents_of(static_cast<Int128>(terms->price_ticks) * (delivered_gpu_hours - buyer));
    CCH_CHECK(to_seller <= escrow, "the seller's part of the escrow is within it");
    const std::int64_t buy_in =
        cents_of(buy_in_scaled(reported - delivered_gpu_hours, *current.index_ticks, terms->price_ticks, penalty),
                 10'000);
    const std::int64_t back = escrow - to_seller;
    const Currency usd = Currency::usd();
    const AccountId buyer_frozen =
        ledger::open_member_account(tx, MemberId(terms->buyer), ledger::AccountKind::delivery_settlement, usd);
    const AccountId buyer_collateral =
        ledger::open_member_account(tx, MemberId(terms->buyer), ledger::AccountKind::collateral, usd);
    const AccountId seller_collateral =
        ledger::open_member_account(tx, MemberId(terms->seller), ledger::AccountKind::collateral, usd);
    ledger::JournalDraft draft;
    draft.idempotency_key = "settlement-dispute:" + trade.to_string() + ":" + day.format();
    draft.business_date = BusinessDate::containing(now);
    draft.kind = ledger::JournalKind::delivery_settlement;
    draft.cause = ledger::Cause{ledger::CauseKind::operator_action, "dispute:" + trade.to_string() + ":" + day.format()};
    if (actor.request_id) {
      if (auto id = RequestId::parse(*actor.request_id)) draft.request_id = *id;
    }
    draft.memo = ("decision on the disputed delivery of " + day.format() + ", trade " + trade.to_string() + ": " +
                  std::to_string(delivered_gpu_hours) + " GPU-hours delivered; " + std::string(reason))
                     .substr(0, ledger::kMemoLengthMax);
    // Collateral accounts are credit-normal: a negative amount credits the member.
    std::vector<ledger::PostingLine> postings;
    if (escrow != 0) postings.push_back({buyer_frozen, Money{escrow, usd}});
    if (back + buy_in != 0) postings.push_back({buyer_collateral, Money{-(back + buy_in), usd}});
    if (buy_in - to_seller != 0) postings.push_back({seller_collateral, Money{buy_in - to_seller, usd}});
    if (postings.size() >= 2) {
      draft.postings = std::move(postings);
      const auto posted = ledger::post_batch(tx, std::span(&draft, 1));
      if (!posted[0]) {
        throw std::runtime_error("dispute journal " + draft.idempotency_key +
                                 " refused: " + std::string(ledger::to_string(posted[0].error())));
      }
      journal = posted[0]->journal_id;
    }
  }
  tx.exec_params(
      "INSERT INTO settlement.delivery_decision (trade_id, delivery_day, delivered_gpu_hours, reason, decided_by, "
      "request_id, run_id, journal_id) VALUES ($1, $2::date, $3, $4, $5, $6, $7, $8)",
      trade.value(), day.format(), delivered_gpu_hours, std::string(reason), actor.name, actor.request_id, run_id,
      journal ? std::optional<std::int64_t>(journal->value()) : std::nullopt);
  return day_of(tx, *terms, day);
}

Result<std::int32_t, DeliveryError> set_buy_in_index(pqxx::transaction_base& tx, ProductId product,
                                                     std::string_view index_code, std::string_view set_by) {
  const auto found = tx.exec_params("SELECT settlement FROM cch.product WHERE product_id = $1", product.value());
  if (found.empty()) return fail(refuse(DeliveryRefusal::unknown_product, "no product " + product.to_string()));
  if (found[0][0].as<std::string>() != "physical") {
    return fail(refuse(DeliveryRefusal::not_physically_settled,
                       "product " + product.to_string() + " is settled in cash against its own index"));
  }
  if (tx.exec_params("SELECT 1 FROM cch.product WHERE settlement = 'cash' AND cash_index = $1", std::string(index_code))
          .empty()) {
    return fail(refuse(DeliveryRefusal::unknown_index,
                       "no cash-settled product settles against " + std::string(index_code) +
                           ": a buy-in index is one whose fixings cch receives"));
  }
  return tx
      .exec_params1("INSERT INTO settlement.buy_in_index (product_id, version, index_code, set_by) "
                    "SELECT $1, COALESCE(max(version), 0) + 1, $2, $3 FROM settlement.buy_in_index WHERE product_id = $1 "
                    "RETURNING version",
                    product.value(), std::string(index_code), std::string(set_by))[0]
      .as<std::int32_t>();
}

std::optional<std::string> buy_in_index(pqxx::transaction_base& tx, ProductId product) {
  const auto rows = tx.exec_params(
      "SELECT index_code FROM settlement.buy_in_index WHERE product_id = $1 ORDER BY version DESC LIMIT 1",
      product.value());
  if (rows.empty()) return std::nullopt;
  return rows[0][0].as<std::string>();
}

Result<std::vector<DeliveryDay>, DeliveryError> delivery_days(pqxx::transaction_base& tx, TradeId trade,
                                                              std::optional<MemberId> member) {
  const auto rows = tx.exec_params("SELECT " + kTradeColumns +
                                       " FROM cch.trade t JOIN cch.product p USING (product_id) WHERE t.trade_id = $1 "
                                       "AND t.state = 'cleared'",
                                   trade.value());
  if (rows.empty()) return fail(refuse(DeliveryRefusal::unknown_trade, "no cleared trade " + trade.to_string()));
  const TradeTerms terms = terms_of(rows[0]);
  if (member && member->value() != terms.buyer && member->value() != terms.seller) {
    return fail(refuse(DeliveryRefusal::unknown_trade, "no cleared trade " + trade.to_string()));
  }
  return load_days(tx, terms);
}

namespace {

const std::string kTradeDeliveryColumns =
    "run_id, trade_id, product_id, buyer_member_id, seller_member_id, settlement, price_ticks, contract_gpu_hours, "
    "delivered_gpu_hours, disputed_gpu_hours, shortfall_gpu_hours, index_tick_gpu_hours::text, buy_in_penalty_bps, "
    "buy_in_index, cash_settlement_minor, payment_minor, escrow_minor, buy_in_minor, fee_ticks_per_gpu_hour, fee_minor";

TradeDelivery trade_delivery_of(const pqxx::row& row) {
  TradeDelivery d;
  d.run_id = row[0].as<std::int64_t>();
  d.trade = TradeId(row[1].as<std::int64_t>());
  d.product = ProductId(row[2].as<std::int64_t>());
  d.buyer = MemberId(row[3].as<std::int64_t>());
  d.seller = MemberId(row[4].as<std::int64_t>());
  d.settlement = row[5].as<std::string>();
  d.price_ticks = row[6].as<std::int64_t>();
  d.contract_gpu_hours = row[7].as<std::int64_t>();
  d.delivered_gpu_hours = row[8].as<std::int64_t>();
  d.disputed_gpu_hours = row[9].as<std::int64_t>();
  d.shortfall_gpu_hours = row[10].as<std::int64_t>();
  d.index_tick_gpu_hours = optional_text(row[11]);
  d.buy_in_penalty_bps = row[12].as<std::int32_t>();
  d.buy_in_index = optional_text(row[13]);
  d.cash_settlement_minor = row[14].as<std::int64_t>();
  d.payment_minor = row[15].as<std::int64_t>();
  d.escrow_minor = row[16].as<std::int64_t>();
  d.buy_in_minor = row[17].as<std::int64_t>();
  d.fee_ticks_per_gpu_hour = row[18].as<std::int64_t>();
  d.fee_minor = row[19].as<std::int64_t>();
  return d;
}

}  // namespace

std::vector<TradeDelivery> trade_deliveries(pqxx::transaction_base& tx, std::int64_t run_id,
                                            std::optional<MemberId> member) {
  std::vector<TradeDelivery> out;
  const std::optional<std::int64_t> member_id =
      member ? std::optional<std::int64_t>(member->value()) : std::nullopt;
  for (const auto& row : tx.exec_params("SELECT " + kTradeDeliveryColumns +
                                            " FROM settlement.trade_delivery WHERE run_id = $1 AND ($2::bigint IS NULL "
                                            "OR $2 IN (buyer_member_id, seller_member_id)) ORDER BY trade_id",
                                        run_id, member_id)) {
    out.push_back(trade_delivery_of(row));
  }
  return out;
}

std::optional<TradeDelivery> trade_settlement(pqxx::transaction_base& tx, TradeId trade) {
  const auto rows = tx.exec_params("SELECT " + kTradeDeliveryColumns +
                                       " FROM settlement.trade_delivery d WHERE trade_id = $1 AND EXISTS (SELECT 1 FROM "
                                       "settlement.run r WHERE r.run_id = d.run_id AND r.state <> 'reversed')",
                                   trade.value());
  if (rows.empty()) return std::nullopt;
  return trade_delivery_of(rows[0]);
}

std::vector<MemberDelivery> member_deliveries(pqxx::transaction_base& tx, std::int64_t run_id,
                                              std::optional<MemberId> member) {
  std::vector<MemberDelivery> out;
  const std::optional<std::int64_t> member_id =
      member ? std::optional<std::int64_t>(member->value()) : std::nullopt;
  for (const auto& row : tx.exec_params("SELECT member_id, trades, total_minor, escrow_minor, journal_id, fees_minor "
                                        "FROM settlement.member_delivery WHERE run_id = $1 AND ($2::bigint IS NULL OR "
                                        "member_id = $2) ORDER BY member_id",
                                        run_id, member_id)) {
    MemberDelivery d;
    d.member = MemberId(row[0].as<std::int64_t>());
    d.trades = row[1].as<std::int32_t>();
    d.total_minor = row[2].as<std::int64_t>();
    d.escrow_minor = row[3].as<std::int64_t>();
    if (!row[4].is_null()) d.journal = JournalId(row[4].as<std::int64_t>());
    d.fees_minor = row[5].as<std::int64_t>();
    out.push_back(d);
  }
  return out;
}

std::int64_t member_amount(const TradeDelivery& d, MemberId member) {
  const std::int64_t buyer = d.cash_settlement_minor + d.buy_in_minor - d.payment_minor - d.escrow_minor;
  if (member == d.buyer) return buyer - d.fee_minor;
  CCH_CHECK(member == d.seller, "a member's amount of a trade it is a party to");
  return -d.cash_settlement_minor - d.buy_in_minor + d.payment_minor - d.fee_minor;
}

// ---- the run's step ----

namespace detail {

namespace {

struct DayPlan {
  BusinessDate day = BusinessDate::from_days_since_epoch(0).value();
  std::int64_t contract = 0;
  std::int64_t delivered = 0;
  std::int64_t disputed = 0;
  std::int64_t shortfall = 0;
  std::string basis;
  std::optional<std::int64_t> index_snapshot;
  std::optional<std::int64_t> index_ticks;
  std::int64_t escrow = 0;
};
struct TradePlan {
  TradeDelivery delivery;
  std::vector<DayPlan> days;
};

// What the trades ending by the cut-off pay, or why they cannot be settled yet.
Result<std::vector<TradePlan>, SettleError> plan(pqxx::transaction_base& tx, UtcTimestamp cut_off,
                                                 std::int32_t penalty_bps, std::int64_t fee_ticks, bool lock) {
  std::vector<TradeTerms> trades;
  for (const auto& row : tx.exec_params(
           "SELECT " + kTradeColumns +
               " FROM cch.trade t JOIN cch.product p USING (product_id) WHERE t.state = 'cleared' "
               "AND t.decided_at < $1::timestamptz AND t.delivery_end <= $1::timestamptz AND NOT EXISTS (SELECT 1 FROM "
               "settlement.trade_delivery d JOIN settlement.run r USING (run_id) WHERE d.trade_id = t.trade_id AND "
               "r.state <> 'reversed') ORDER BY t.trade_id" +
               std::string(lock ? " FOR NO KEY UPDATE OF t" : ""),
           cut_off.format())) {
    trades.push_back(terms_of(row));
  }
  std::vector<TradePlan> plans;
  if (trades.empty()) return plans;
  std::vector<std::int64_t> physical_ids;
  for (const auto& terms : trades) {
    if (!terms.cash) physical_ids.push_back(terms.trade);
  }
  // Reports, answers and decisions of the physically settled ones.
  struct Reported {
    std::int64_t reported = 0;
    std::optional<std::string> answer;
    std::optional<std::int64_t> buyer;
    std::optional<std::int64_t> decided;
  };
  std::map<std::pair<std::int64_t, std::int64_t>, Reported> reports;
  for (const auto& row : tx.exec_params(
           "SELECT r.trade_id, r.delivery_day::text, r.delivered_gpu_hours, a.answer, a.buyer_gpu_hours, "
           "d.delivered_gpu_hours FROM settlement.delivery_report r LEFT JOIN settlement.delivery_answer a "
           "USING (trade_id, delivery_day) LEFT JOIN settlement.delivery_decision d USING (trade_id, delivery_day) "
           "WHERE r.trade_id = ANY($1::bigint[])",
           db::integer_array(physical_ids))) {
    Reported entry;
    entry.reported = row[2].as<std::int64_t>();
    entry.answer = optional_text(row[3]);
    entry.buyer = optional_integer(row[4]);
    entry.decided = optional_integer(row[5]);
    reports.emplace(std::make_pair(row[0].as<std::int64_t>(),
                                   BusinessDate::parse(row[1].as<std::string>()).value().days_since_epoch()),
                    entry);
  }
  // The indices: each cash product's own, each physical product's buy-in index.
  std::map<std::int64_t, std::optional<std::string>> buy_in_indices;
  for (const auto& terms : trades) {
    if (!terms.cash && !buy_in_indices.contains(terms.product)) {
      buy_in_indices.emplace(terms.product, buy_in_index(tx, ProductId(terms.product)));
    }
  }
  // Fixings: per index, every latest fixing over the days the trades need, read once per index.
  std::map<std::string, std::pair<BusinessDate, BusinessDate>> ranges;
  auto need = [&](const std::string& index, BusinessDate day) {
    auto [it, inserted] = ranges.emplace(index, std::make_pair(day, day));
    if (!inserted) {
      it->second.first = std::min(it->second.first, day);
      it->second.second = std::max(it->second.second, day);
    }
  };
  for (auto& terms : trades) {
    TradePlan trade_plan;
    TradeDelivery& d = trade_plan.delivery;
    d.trade = TradeId(terms.trade);
    d.product = ProductId(terms.product);
    d.buyer = MemberId(terms.buyer);
    d.seller = MemberId(terms.seller);
    d.settlement = terms.cash ? "cash" : "physical";
    d.price_ticks = terms.price_ticks;
    d.buy_in_penalty_bps = terms.cash ? 0 : penalty_bps;
    if (!terms.cash) d.buy_in_index = buy_in_indices.at(terms.product);
    for (const auto& [day, hours] : days_of(terms)) {
      DayPlan day_plan;
      day_plan.day = day;
      day_plan.contract = hours;
      if (terms.cash) {
        day_plan.basis = "cash";
        day_plan.delivered = hours;
        need(*terms.cash_index, day);
      } else {
        const auto found = reports.find({terms.trade, day.days_since_epoch()});
        if (found == reports.end()) {
          day_plan.basis = "not_reported";
          day_plan.shortfall = hours;
        } else {
          const Reported& r = found->second;
          if (r.decided) {
            day_plan.basis = "decided";
            day_plan.delivered = *r.decided;
          } else if (r.answer == "disputed") {
            day_plan.basis = "disputed";
            day_plan.delivered = *r.buyer;
            day_plan.disputed = r.reported - *r.buyer;
          } else {
            day_plan.basis = r.answer ? "confirmed" : "deemed_confirmed";
            day_plan.delivered = r.reported;
          }
          day_plan.shortfall = hours - day_plan.delivered - day_plan.disputed;
        }
        if ((day_plan.shortfall > 0 || day_plan.disputed > 0) && d.buy_in_index) need(*d.buy_in_index, day);
      }
      trade_plan.days.push_back(day_plan);
    }
    plans.push_back(std::move(trade_plan));
  }
  std::map<std::string, std::map<std::int64_t, std::pair<std::int64_t, std::int64_t>>> fixings;
  for (const auto& [index, range] : ranges) {
    auto& by_day = fixings[index];
    for (const auto& fixing : market::index_fixings(tx, index, range.first, range.second)) {
      by_day.emplace(fixing.snapshot.business_date.days_since_epoch(),
                     std::make_pair(fixing.snapshot.snapshot_id, fixing.value.price_ticks));
    }
  }
  std::string missing_fixings, missing_buy_in;
  for (auto& trade_plan : plans) {
    TradeDelivery& d = trade_plan.delivery;
    const bool cash = d.settlement == "cash";
    const TradeTerms& terms = trades[static_cast<std::size_t>(&trade_plan - plans.data())];
    Int128 cash_value = 0, index_value = 0, buy_in = 0, payment_hours = 0;
    for (DayPlan& day : trade_plan.days) {
      d.contract_gpu_hours += day.contract;
      d.delivered_gpu_hours += day.delivered;
      d.disputed_gpu_hours += day.disputed;
      d.shortfall_gpu_hours += day.shortfall;
      const bool priced = cash || day.shortfall > 0 || day.disputed > 0;
      if (!priced) {
        payment_hours += day.delivered;
        continue;
      }
      const std::optional<std::string>& index = cash ? terms.cash_index : d.buy_in_index;
      const auto* by_day = index ? &fixings[*index] : nullptr;
      const auto fixing = by_day ? by_day->find(day.day.days_since_epoch()) : decltype(by_day->end()){};
      if (!index || fixing == by_day->end()) {
        std::string& missing = cash ? missing_fixings : missing_buy_in;
        const std::string what = (index ? *index : "product " + d.product.to_string() + " (no buy-in index)") + " " +
                                 day.day.format();
        if (missing.find(what) == std::string::npos) missing += (missing.empty() ? "" : ", ") + what;
        continue;
      }
      day.index_snapshot = fixing->second.first;
      day.index_ticks = fixing->second.second;
      if (cash) {
        index_value += static_cast<Int128>(day.contract) * *day.index_ticks;
        cash_value += static_cast<Int128>(day.contract) * (*day.index_ticks - d.price_ticks);
      } else {
        payment_hours += day.delivered;
        buy_in += buy_in_scaled(day.shortfall, *day.index_ticks, d.price_ticks, penalty_bps);
        day.escrow = cents_of(static_cast<Int128>(d.price_ticks) * day.disputed);
        d.escrow_minor += day.escrow;
      }
    }
    if (cash) {
      d.cash_settlement_minor = cents_of(cash_value);
      d.index_tick_gpu_hours = std::to_string(static_cast<std::int64_t>(index_value));
    } else {
      d.payment_minor = cents_of(static_cast<Int128>(d.price_ticks) * payment_hours);
      d.buy_in_minor = cents_of(buy_in, 10'000);
    }
    // The settlement fee, each side, on the hours settled.
    d.fee_ticks_per_gpu_hour = fee_ticks;
    d.fee_minor = cents_of(static_cast<Int128>(fee_ticks) * (cash ? d.contract_gpu_hours : d.delivered_gpu_hours));
  }
  if (!missing_fixings.empty()) {
    return fail(SettleError{SettleRefusal::index_fixings_missing,
                            "trades ending by the cut-off settle in cash against fixings not entered: " +
                                missing_fixings + ": enter the fixings and settle again"});
  }
  if (!missing_buy_in.empty()) {
    return fail(SettleError{SettleRefusal::buy_in_price_missing,
                            "deliveries short of their contract need the day's fixing of the product's buy-in index: " +
                                missing_buy_in + ": set the index (POST /v1/products/{product_id}/buy-in-index) or enter the "
                                "fixings, and settle again"});
  }
  return plans;
}

std::string count_field(std::string_view name, std::int64_t value) {
  return "\"" + std::string(name) + "\": " + std::to_string(value);
}

}  // namespace

std::optional<SettleError> check_deliveries(pqxx::transaction_base& tx, UtcTimestamp cut_off,
                                            std::int32_t buy_in_penalty_bps, std::int64_t fee_ticks_per_gpu_hour) {
  auto planned = plan(tx, cut_off, buy_in_penalty_bps, fee_ticks_per_gpu_hour, false);
  if (!planned) return planned.error();
  return std::nullopt;
}

std::string deliveries_step(pqxx::transaction_base& tx, const SettlementRun& run, std::int32_t buy_in_penalty_bps,
                            std::int64_t fee_ticks_per_gpu_hour, std::optional<SettleError>& refused) {
  auto planned = plan(tx, run.cut_off, buy_in_penalty_bps, fee_ticks_per_gpu_hour, true);
  if (!planned) {
    refused = planned.error();
    return "{}";
  }
  const auto& plans = *planned;
  struct MemberSums {
    std::int32_t trades = 0;
    std::int64_t total = 0;
    std::int64_t escrow = 0;
    std::int64_t fees = 0;
  };
  std::map<std::int64_t, MemberSums> members;
  std::int64_t cash_trades = 0, physical_trades = 0, shortfall_hours = 0, disputed_hours = 0;
  for (const auto& trade_plan : plans) {
    const TradeDelivery& d = trade_plan.delivery;
    (d.settlement == "cash" ? cash_trades : physical_trades) += 1;
    shortfall_hours += d.shortfall_gpu_hours;
    disputed_hours += d.disputed_gpu_hours;
    for (const MemberId member : {d.buyer, d.seller}) {
      MemberSums& sums = members[member.value()];
      sums.trades += 1;
      sums.total += member_amount(d, member);
      sums.fees += d.fee_minor;
      if (member == d.buyer) sums.escrow += d.escrow_minor;
    }
    tx.exec_params(
        "INSERT INTO settlement.trade_delivery (run_id, trade_id, product_id, buyer_member_id, seller_member_id, "
        "settlement, price_ticks, contract_gpu_hours, delivered_gpu_hours, disputed_gpu_hours, shortfall_gpu_hours, "
        "index_tick_gpu_hours, buy_in_penalty_bps, buy_in_index, cash_settlement_minor, payment_minor, escrow_minor, "
        "buy_in_minor, fee_ticks_per_gpu_hour, fee_minor) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, "
        "$12::numeric, $13, $14, $15, $16, $17, $18, $19, $20)",
        run.run_id, d.trade.value(), d.product.value(), d.buyer.value(), d.seller.value(), d.settlement, d.price_ticks,
        d.contract_gpu_hours, d.delivered_gpu_hours, d.disputed_gpu_hours, d.shortfall_gpu_hours,
        d.index_tick_gpu_hours, d.buy_in_penalty_bps, d.buy_in_index, d.cash_settlement_minor, d.payment_minor,
        d.escrow_minor, d.buy_in_minor, d.fee_ticks_per_gpu_hour, d.fee_minor);
    for (const DayPlan& day : trade_plan.days) {
      tx.exec_params(
          "INSERT INTO settlement.delivery_day (run_id, trade_id, delivery_day, contract_gpu_hours, "
          "delivered_gpu_hours, disputed_gpu_hours, shortfall_gpu_hours, basis, index_snapshot_id, index_ticks, "
          "escrow_minor) VALUES ($1, $2, $3::date, $4, $5, $6, $7, $8, $9, $10, $11)",
          run.run_id, d.trade.value(), day.day.format(), day.contract, day.delivered, day.disputed, day.shortfall,
          day.basis, day.index_snapshot, day.index_ticks, day.escrow);
    }
  }
  // One journal per member: its collateral (credit-normal: a negative amount credits it), its
  // frozen delivery account for escrow, against the house's delivery clearing account.
  const Currency usd = Currency::usd();
  std::size_t journals = 0;
  for (const auto& [member, sums] : members) {
    if (sums.total != 0 || sums.escrow != 0 || sums.fees != 0) ++journals;
  }
  const auto journal_ids = ledger::allocate_journal_ids(tx, journals);
  const AccountId clearing = journals > 0 ? ledger::open_house_account(tx, ledger::AccountKind::delivery_clearing, usd)
                                          : AccountId(1);
  const bool fees_charged = std::any_of(members.begin(), members.end(), [](const auto& m) { return m.second.fees > 0; });
  const AccountId fee_income =
      fees_charged ? ledger::open_house_account(tx, ledger::AccountKind::fee_income, usd) : AccountId(1);
  std::vector<std::int64_t> ids;
  for (const auto& [member, sums] : members) ids.push_back(member);
  const auto accounts = collateral_accounts(tx, ids);
  std::vector<ledger::JournalDraft> drafts;
  std::size_t next = 0;
  for (const auto& [member, sums] : members) {
    std::optional<std::int64_t> journal;
    if (sums.total != 0 || sums.escrow != 0 || sums.fees != 0) {
      const JournalId id = journal_ids[next++];
      journal = id.value();
      ledger::JournalDraft draft;
      draft.idempotency_key = "settlement-delivery:" + std::to_string(run.run_id) + ":" + std::to_string(member);
      draft.business_date = run.business_date;
      draft.kind = ledger::JournalKind::delivery_settlement;
      draft.cause = ledger::Cause{ledger::CauseKind::settlement_run, std::to_string(run.run_id)};
      draft.memo = "deliveries and expiries of " + run.business_date.format() + ", settlement run " +
                   std::to_string(run.run_id) + ": " + std::to_string(sums.trades) + " trades, " +
                   format_amount(Money{sums.total, usd}) + " USD after fees of " + format_amount(Money{sums.fees, usd});
      if (sums.total != 0) draft.postings.push_back({accounts.at(member), Money{-sums.total, usd}});
      if (sums.escrow != 0) {
        draft.postings.push_back(
            {ledger::open_member_account(tx, MemberId(member), ledger::AccountKind::delivery_settlement, usd),
             Money{-sums.escrow, usd}});
      }
      if (sums.fees != 0) draft.postings.push_back({fee_income, Money{-sums.fees, usd}});
      const std::int64_t cleared = sums.total + sums.escrow + sums.fees;  // the trades' amounts before fees
      if (cleared != 0) draft.postings.push_back({clearing, Money{cleared, usd}});
      draft.journal_id = id;
      drafts.push_back(std::move(draft));
    }
    tx.exec_params("INSERT INTO settlement.member_delivery (run_id, member_id, trades, total_minor, escrow_minor, "
                   "fees_minor, journal_id) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                   run.run_id, member, sums.trades, sums.total, sums.escrow, sums.fees, journal);
  }
  for (std::size_t from = 0; from < drafts.size(); from += ledger::kJournalsPerBatchMax) {
    const std::size_t to = std::min(drafts.size(), from + ledger::kJournalsPerBatchMax);
    const auto posted = ledger::post_batch(tx, std::span(drafts).subspan(from, to - from));
    for (std::size_t i = 0; i < posted.size(); ++i) {
      if (!posted[i]) {
        throw std::runtime_error("delivery journal " + drafts[from + i].idempotency_key +
                                 " refused: " + std::string(ledger::to_string(posted[i].error())));
      }
    }
  }
  return "{" + count_field("cash_trades", cash_trades) + ", " + count_field("physical_trades", physical_trades) +
         ", " + count_field("shortfall_gpu_hours", shortfall_hours) + ", " +
         count_field("disputed_gpu_hours", disputed_hours) + ", " +
         count_field("members", static_cast<std::int64_t>(members.size())) + ", " +
         count_field("journals", static_cast<std::int64_t>(drafts.size())) + "}";
}

std::map<std::int64_t, AccountId> collateral_accounts(pqxx::transaction_base& tx,
                                                      const std::vector<std::int64_t>& members) {
  std::map<std::int64_t, AccountId> accounts;
  for (const auto& row : tx.exec_params(
           "SELECT member_id, account_id FROM ledger.account WHERE owner_kind = 'member' AND kind = 'collateral' "
           "AND currency = 'USD' AND member_id = ANY($1::bigint[])",
           db::integer_array(members))) {
    accounts.emplace(row[0].as<std::int64_t>(), AccountId(row[1].as<std::int64_t>()));
  }
  for (const std::int64_t member : members) {
    if (!accounts.contains(member)) {
      accounts.emplace(member, ledger::open_member_account(tx, MemberId(member), ledger::AccountKind::collateral,
                                                           Currency::usd()));
    }
  }
  return accounts;
}

bool run_has_decided_disputes(pqxx::transaction_base& tx, std::int64_t run_id) {
  return !tx.exec_params("SELECT 1 FROM settlement.delivery_decision WHERE run_id = $1 AND journal_id IS NOT NULL "
                         "LIMIT 1",
                         run_id)
              .empty();
}

std::vector<std::pair<std::int64_t, JournalId>> delivery_journals(pqxx::transaction_base& tx, std::int64_t run_id) {
  std::vector<std::pair<std::int64_t, JournalId>> out;
  for (const auto& row : tx.exec_params("SELECT member_id, journal_id FROM settlement.member_delivery WHERE run_id = $1 "
                                        "AND journal_id IS NOT NULL ORDER BY member_id",
                                        run_id)) {
    out.emplace_back(row[0].as<std::int64_t>(), JournalId(row[1].as<std::int64_t>()));
  }
  return out;
}

}  // namespace detail

}  // namespace cch::settlement
