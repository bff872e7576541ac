#include "cch/registry/trades.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/result>

#include <algorithm>
#include <array>
#include <cassert>
#include <cstdio>
#include <map>

#include "cch/core/quantity.hpp"
#include "cch/db/array.hpp"
#include "cch/db/prepared.hpp"
#include "cch/db/row.hpp"
#include "cch/ledger/accounts.hpp"
#include "cch/ledger/post.hpp"
#include "cch/ledger/queries.hpp"
#include "cch/registry/catalog.hpp"
#include "cch/registry/products.hpp"

namespace cch::registry {
namespace {

constexpr std::string_view kTradeColumns =
    "trade_id, product_id, series_label, buyer_member_id, seller_member_id, "
    "(extract(epoch FROM delivery_start) * 1000000)::bigint, (extract(epoch FROM delivery_end) * 1000000)::bigint, "
    "gpus, price_ticks, gpu_hours, notional_minor, submitter_member_id, submitter_reference, counterparty_reference, "
    "state, (extract(epoch FROM submitted_at) * 1000000)::bigint, submitted_by, "
    "(extract(epoch FROM expires_at) * 1000000)::bigint, (extract(epoch FROM decided_at) * 1000000)::bigint, "
    "last_refusal, last_refused_member_id, fee_journal_id, venue_principal_id";

Trade trade_from(const pqxx::row& row) {
  std::optional<std::string> series;
  if (!row[2].is_null()) series = row[2].as<std::string>();
  Trade trade{.trade_id = TradeId(row[0].as<std::int64_t>()),
              .terms = TradeTerms{.product = ProductId(row[1].as<std::int64_t>()),
                                  .series_label = std::move(series),
                                  .buyer = MemberId(row[3].as<std::int64_t>()),
                                  .seller = MemberId(row[4].as<std::int64_t>()),
                                  .delivery_start = db::timestamp_of(row[5]),
                                  .delivery_end = db::timestamp_of(row[6]),
                                  .gpus = row[7].as<std::int64_t>(),
                                  .price = PricePerGpuHour{row[8].as<std::int64_t>()}},
              .gpu_hours = row[9].as<std::int64_t>(),
              .notional = Money{row[10].as<std::int64_t>(), Currency::usd()},
              .submitter = std::nullopt,
              .venue = std::nullopt,
              .submitter_reference = row[12].as<std::string>(),
              .counterparty_reference = std::nullopt,
              .state = parse_trade_state(row[14].as<std::string>()).value(),
              .submitted_at = db::timestamp_of(row[15]),
              .submitted_by = row[16].as<std::string>(),
              .expires_at = db::timestamp_of(row[17]),
              .decided_at = std::nullopt,
              .last_refusal = std::nullopt,
              .last_refused_member = std::nullopt,
              .fee_journal = std::nullopt};
  if (!row[11].is_null()) trade.submitter = MemberId(row[11].as<std::int64_t>());
  if (!row[22].is_null()) trade.venue = row[22].as<std::int64_t>();
  if (!row[13].is_null()) trade.counterparty_reference = row[13].as<std::string>();
  if (!row[18].is_null()) trade.decided_at = db::timestamp_of(row[18]);
  if (!row[19].is_null()) trade.last_refusal = row[19].as<std::string>();
  if (!row[20].is_null()) trade.last_refused_member = MemberId(row[20].as<std::int64_t>());
  if (!row[21].is_null()) trade.fee_journal = JournalId(row[21].as<std::int64_t>());
  return trade;
}

constexpr std::int64_t kMicrosecondsPerHour = 3'600'000'000;

TradeError error(TradeRefusal refusal, std::string detail) { return {refusal, std::move(detail)}; }

template <class T, class E>
std::optional<T> success(Result<T, E> result) {
  if (!result) return std::nullopt;
  return std::move(*result);
}

std::string timestamp_text(UtcTimestamp at) { return at.format(); }

bool valid_reference(std::string_view reference) {
  return !reference.empty() && reference.size() <= kTradeReferenceLengthMax &&
         std::all_of(reference.begin(), reference.end(), [](char c) { return c >= 0x21 && c <= 0x7e; });
}

// The period a series label names, when it is one of the standard periods' labels.
std::optional<DeliveryPeriod> period_of_label(std::string_view label) {
  int year = 0;
  int number = 0;
  int day = 0;
  const std::string text(label);
  std::optional<PeriodKind> kind;
  std::optional<BusinessDate> first;
  char extra = 0;
  if (text.size() == 4 && std::sscanf(text.c_str(), "%4d%c", &year, &extra) == 1) {
    kind = PeriodKind::year;
    first = success(BusinessDate::from_year_month_day(year, 1, 1));
  } else if (text.size() == 7 && text[5] == 'Q' && std::sscanf(text.c_str(), "%4d-Q%1d%c", &year, &number, &extra) == 2) {
    kind = PeriodKind::quarter;
    if (number >= 1 && number <= 4) first = success(BusinessDate::from_year_month_day(year, (number - 1) * 3 + 1, 1));
  } else if (text.size() == 8 && text[5] == 'W' && std::sscanf(text.c_str(), "%4d-W%2d%c", &year, &number, &extra) == 2) {
    kind = PeriodKind::week;
    // ISO week 1 is the week with 4 January in it.
    if (const auto fourth = success(BusinessDate::from_year_month_day(year, 1, 4)); fourth && number >= 1 && number <= 53) {
      const DeliveryPeriod week_one = period_containing(PeriodKind::week, *fourth);
      first = success(week_one.first_day.add_days(static_cast<std::int64_t>(number - 1) * 7));
    }
  } else if (text.size() == 7 && std::sscanf(text.c_str(), "%4d-%2d%c", &year, &number, &extra) == 2) {
    kind = PeriodKind::month;
    first = success(BusinessDate::from_year_month_day(year, number, 1));
  } else if (text.size() == 10 && std::sscanf(text.c_str(), "%4d-%2d-%2d%c", &year, &number, &day, &extra) == 3) {
    kind = PeriodKind::day;
    first = success(BusinessDate::from_year_month_day(year, number, day));
  }
  if (!kind || !first) return std::nullopt;
  DeliveryPeriod period = period_containing(*kind, *first);
  if (period.label != label) return std::nullopt;  // e.g. "2027-W53" in a year of 52 weeks
  return period;
}

Actor actor_of(const Trade& trade, MemberId member) {
  if (!trade.submitter) return trade.has_party(member) ? Actor::counterparty : Actor::outsider;  // a venue's
  if (member == *trade.submitter) return Actor::submitter;
  if (member == trade.counterparty()) return Actor::counterparty;
  return Actor::outsider;
}

TradeRefusal refusal_of(LifecycleRefusal refusal) {
  switch (refusal) {
    case LifecycleRefusal::not_a_party: return TradeRefusal::trade_not_found;  // as if it did not exist
    case LifecycleRefusal::trade_not_pending: return TradeRefusal::trade_not_pending;
    case LifecycleRefusal::only_system_expires: return TradeRefusal::only_system_expires;
    case LifecycleRefusal::not_yet_expired: return TradeRefusal::not_yet_expired;
    case LifecycleRefusal::trade_expired: return TradeRefusal::trade_expired;
    case LifecycleRefusal::own_submission: return TradeRefusal::own_submission;
  }
  return TradeRefusal::trade_not_pending;
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

// ---- the pre-trade checks -------------------------------------------------------------------

struct CheckFailure {
  TradeRefusal refusal;
  std::string detail;
  std::optional<MemberId> member;  // the member whose state refused it, if one did
};

struct SideView {
  MemberId member;
  Side side;
  std::int64_t sign;  // +1 buys, -1 sells
};

std::array<SideView, 2> sides_of(const Trade& trade) {
  return {SideView{trade.terms.buyer, Side::buy, 1}, SideView{trade.terms.seller, Side::sell, -1}};
}

const char* side_name(Side side) { return side == Side::buy ? "buyer" : "seller"; }

std::string month_array(const std::vector<MonthSlice>& slices) {
  std::vector<std::string> months;
  months.reserve(slices.size());
  for (const auto& slice : slices) months.push_back(slice.month.format());
  return db::text_array(months);
}

// Locks both members' rows in id order (every path that serialises on a member does so) and
// answers their statuses.
std::map<std::int64_t, std::string> lock_members(pqxx::transaction_base& tx, const Trade& trade) {
  std::map<std::int64_t, std::string> statuses;
  for (const auto& row : db::exec_cached(tx,
           "SELECT member_id, status FROM cch.member WHERE member_id IN ($1, $2) ORDER BY member_id FOR NO KEY UPDATE",
           trade.terms.buyer.value(), trade.terms.seller.value())) {
    statuses.emplace(row[0].as<std::int64_t>(), row[1].as<std::string>());
  }
  return statuses;
}

// What the checks found: a refusal, or the credit each side's leg adds (buyer first), which
// novation then records.
struct Checked {
  std::optional<CheckFailure> failure;
  std::array<std::int64_t, 2> credit_minor{};
};

Checked check_trade(pqxx::transaction_base& tx, const RegistrationPolicy& policy, const Trade& trade,
                    const Product& product, const std::vector<MonthSlice>& slices, UtcTimestamp now) {
  const auto statuses = lock_members(tx, trade);
  for (const auto& view : sides_of(trade)) {
    const auto status = statuses.find(view.member.value());
    if (status == statuses.end() || status->second != "active") {
      return {CheckFailure{TradeRefusal::member_not_active, std::string("the ") + side_name(view.side) + " is not active",
                          view.member}};
    }
  }
  for (const auto& view : sides_of(trade)) {
    if (!is_authorised(tx, view.member, product.product_id)) {
      return {CheckFailure{TradeRefusal::product_not_authorised,
                          std::string("the ") + side_name(view.side) + " is not authorised to clear " + product.spec.code,
                          view.member}};
    }
  }
  const BusinessDate today = BusinessDate::containing(now);
  if (product.spec.status != TradingStatus::active) {
    return {CheckFailure{TradeRefusal::product_not_trading,
                        product.spec.code + " is " + std::string(to_string(product.spec.status)), std::nullopt}};
  }
  if (trade.terms.series_label) {
    const auto period = period_of_label(*trade.terms.series_label);
    const std::array<PeriodKind, 1> kinds{period ? period->kind : PeriodKind::day};
    const auto listed = listed_periods(kinds, today, product.spec.listing_horizon_days);
    if (!period || std::find(listed.begin(), listed.end(), *period) == listed.end()) {
      return {CheckFailure{TradeRefusal::series_not_listed, "series " + *trade.terms.series_label + " is not listed today",
                          std::nullopt}};
    }
  }

  if (trade.terms.delivery_start <= now) {
    return {CheckFailure{TradeRefusal::window_started, "the delivery window has started", std::nullopt}};
  }
  const auto horizon_end = today.add_days(product.spec.listing_horizon_days + 1);
  if (!horizon_end || trade.terms.delivery_end > horizon_end->start_of_day()) {
    return {CheckFailure{TradeRefusal::window_beyond_horizon,
                        "the delivery window ends after the product's listing horizon of " +
                            std::to_string(product.spec.listing_horizon_days) + " days",
                        std::nullopt}};
  }
  // The fat-finger band, around the reference prices of the window's months weighted by hours:
  // |price x H - sum(ref_m x h_m)| x 10,000 <= band_bp x sum(ref_m x h_m), exactly.
  std::map<std::string, std::int64_t> reference;
  for (const auto& row : db::exec_cached(tx, "SELECT delivery_month::text, price_ticks FROM cch.reference_price "
                                        "WHERE product_id = $1 AND delivery_month = ANY($2::date[])",
                                        product.product_id.value(), month_array(slices))) {
    reference.emplace(row[0].as<std::string>(), row[1].as<std::int64_t>());
  }
  Int128 weighted = 0;
  Int128 hours = 0;
  for (const auto& slice : slices) {
    const auto found = reference.find(slice.month.format());
    if (found == reference.end()) {
      return {CheckFailure{TradeRefusal::no_reference_price,
                          "there is no reference price for " + slice.month.format().substr(0, 7), std::nullopt}};
    }
    weighted += static_cast<Int128>(found->second) * slice.hours;
    hours += slice.hours;
  }
  Int128 distance = static_cast<Int128>(trade.terms.price.price_ticks) * hours - weighted;
  if (distance < 0) distance = -distance;
  if (distance * 10'000 > static_cast<Int128>(policy.price_band_bp) * weighted) {
    return {CheckFailure{TradeRefusal::price_outside_band,
                        "the price is more than " + std::to_string(policy.price_band_bp / 100) +
                            " % away from the reference price",
                        std::nullopt}};
  }

  // Positions and open interest of the window's months.
  struct MonthState {
    std::int64_t open_interest = 0;
    std::map<std::int64_t, std::int64_t> net;  // member -> net GPU-hours
  };
  std::map<std::string, MonthState> months;
  for (const auto& row : db::exec_cached(tx,
           "SELECT delivery_month::text, sum(bought_gpu_hours)::bigint, "
           "COALESCE(sum(net_gpu_hours) FILTER (WHERE member_id = $3), 0)::bigint, "
           "COALESCE(sum(net_gpu_hours) FILTER (WHERE member_id = $4), 0)::bigint "
           "FROM cch.position WHERE product_id = $1 AND delivery_month = ANY($2::date[]) GROUP BY delivery_month",
           product.product_id.value(), month_array(slices), trade.terms.buyer.value(), trade.terms.seller.value())) {
    MonthState& state = months[row[0].as<std::string>()];
    state.open_interest = row[1].as<std::int64_t>();
    state.net[trade.terms.buyer.value()] = row[2].as<std::int64_t>();
    state.net[trade.terms.seller.value()] = row[3].as<std::int64_t>();
  }
  std::map<std::int64_t, std::int64_t> limit_of;
  for (const auto& row : db::exec_cached(tx,
           "SELECT member_id, max_gpu_hours FROM cch.position_limit WHERE product_id = $1 AND member_id IN ($2, $3)",
           product.product_id.value(), trade.terms.buyer.value(), trade.terms.seller.value())) {
    limit_of.emplace(row[0].as<std::int64_t>(), row[1].as<std::int64_t>());
  }
  for (const auto& view : sides_of(trade)) {
    const auto own = limit_of.find(view.member.value());
    const std::int64_t limit = own != limit_of.end() ? own->second : product.position_limit_gpu_hours;
    for (const auto& slice : slices) {
      const std::int64_t volume = trade.terms.gpus * slice.hours;
      const MonthState& state = months[slice.month.format()];
      const auto net = state.net.find(view.member.value());
      const std::int64_t after = (net == state.net.end() ? 0 : net->second) + view.sign * volume;
      const std::int64_t size = after < 0 ? -after : after;
      if (size > limit) {
        return {CheckFailure{TradeRefusal::position_limit_exceeded,
                            std::string("the ") + side_name(view.side) + "'s net position in " +
                                slice.month.format().substr(0, 7) + " would be " + std::to_string(after) +
                                " GPU-hours, over its limit of " + std::to_string(limit),
                            view.member}};
      }
      const std::int64_t open_interest = state.open_interest + volume;
      if (open_interest >= policy.concentration_floor_gpu_hours &&
          static_cast<Int128>(size) * 10'000 > static_cast<Int128>(policy.concentration_share_bp) * open_interest) {
        return {CheckFailure{TradeRefusal::concentration_limit_exceeded,
                            std::string("the ") + side_name(view.side) + " would hold more than " +
                                std::to_string(policy.concentration_share_bp / 100) + " % of the open interest in " +
                                slice.month.format().substr(0, 7),
                            view.member}};
      }
    }
  }

  // Credit: what the member already uses plus this leg, within its limit and its collateral.
  Checked passed;
  std::size_t side_index = 0;
  for (const auto& view : sides_of(trade)) {
    const Money increment = policy.credit->increment(tx, view.member, trade, view.side);
    passed.credit_minor[side_index++] = increment.amount_minor;
    const auto row = db::exec_cached(tx,
        "SELECT (SELECT credit_limit_minor FROM cch.member_limit WHERE member_id = $1), "
        "COALESCE((SELECT requirement_minor FROM cch.member_exposure WHERE member_id = $1), 0), "
        "COALESCE((SELECT -b.balance_minor FROM ledger.account a JOIN ledger.account_balance b USING (account_id) "
        "          WHERE a.owner_kind = 'member' AND a.member_id = $1 AND a.kind = 'collateral' "
        "          AND a.currency = 'USD'), 0) "
        "- COALESCE((SELECT sum(amount_minor) FROM cch.collateral_withdrawal "
        "            WHERE member_id = $1 AND currency = 'USD' AND status = 'requested'), 0)::bigint",
        view.member.value())[0];
    const std::int64_t used_after = row[1].as<std::int64_t>() + increment.amount_minor;
    if (row[0].is_null() || used_after > row[0].as<std::int64_t>()) {
      return {CheckFailure{TradeRefusal::credit_limit_exceeded,
                          std::string("the ") + side_name(view.side) + "'s credit use would be " +
                              format_amount(Money{used_after, Currency::usd()}) + " USD, over its credit limit" +
                              (row[0].is_null() ? " (none is set)" : ""),
                          view.member}};
    }
    if (used_after > row[2].as<std::int64_t>()) {
      return {CheckFailure{TradeRefusal::insufficient_collateral,
                          std::string("the ") + side_name(view.side) + "'s credit use would be " +
                              format_amount(Money{used_after, Currency::usd()}) +
                              " USD, more than its collateral (less withdrawals requested)",
                          view.member}};
    }
  }
  return passed;
}

// ---- novation -----------------------------------------------------------------------------

void novate(pqxx::transaction_base& tx, Trade& trade, const Product& product, const std::vector<MonthSlice>& slices,
            const std::array<std::int64_t, 2>& credit_minor, UtcTimestamp now) {
  const std::string now_text = timestamp_text(now);
  db::exec_cached(tx,
      "INSERT INTO cch.trade_leg (trade_id, member_id, side, product_id, delivery_start, delivery_end, gpus, "
      "price_ticks) SELECT $1, m, s, $4, $5::timestamptz, $6::timestamptz, $7, $8 "
      "FROM (VALUES ($2::bigint, 'buy'), ($3::bigint, 'sell')) AS leg (m, s)",
      trade.trade_id.value(), trade.terms.buyer.value(), trade.terms.seller.value(), trade.terms.product.value(),
      timestamp_text(trade.terms.delivery_start), timestamp_text(trade.terms.delivery_end), trade.terms.gpus,
      trade.terms.price.price_ticks);

  std::vector<std::int64_t> members;
  std::vector<std::string> months;
  std::vector<std::int64_t> bought;
  std::vector<std::int64_t> sold;
  for (const auto& view : sides_of(trade)) {
    for (const auto& slice : slices) {
      const std::int64_t volume = trade.terms.gpus * slice.hours;
      members.push_back(view.member.value());
      months.push_back(slice.month.format());
      bought.push_back(view.side == Side::buy ? volume : 0);
      sold.push_back(view.side == Side::sell ? volume : 0);
    }
  }
  db::exec_cached(tx,
      "INSERT INTO cch.position AS p (member_id, product_id, delivery_month, net_gpu_hours, bought_gpu_hours, "
      "sold_gpu_hours, updated_at) "
      "SELECT m, $2, d, b - s, b, s, $6::timestamptz FROM unnest($1::bigint[], $3::date[], $4::bigint[], $5::bigint[]) "
      "AS x (m, d, b, s) "
      "ON CONFLICT (member_id, product_id, delivery_month) DO UPDATE SET "
      "net_gpu_hours = p.net_gpu_hours + EXCLUDED.net_gpu_hours, "
      "bought_gpu_hours = p.bought_gpu_hours + EXCLUDED.bought_gpu_hours, "
      "sold_gpu_hours = p.sold_gpu_hours + EXCLUDED.sold_gpu_hours, updated_at = EXCLUDED.updated_at",
      db::integer_array(members), trade.terms.product.value(), db::text_array(months), db::integer_array(bought),
      db::integer_array(sold), now_text);

  std::size_t side_index = 0;
  for (const auto& view : sides_of(trade)) {
    db::exec_cached(tx,
                    "INSERT INTO cch.member_exposure AS e (member_id, requirement_minor) VALUES ($1, $2) "
                    "ON CONFLICT (member_id) DO UPDATE SET requirement_minor = e.requirement_minor + "
                    "EXCLUDED.requirement_minor",
                    view.member.value(), credit_minor[side_index++]);
  }

  // Clearing fees: each side pays fee x GPU-hours, to the clearinghouse's fee income.
  const auto fee = notional(product.fee_per_gpu_hour, GpuHours{trade.gpu_hours}, Rounding::half_away_from_zero);
  assert(fee && "fee bounded by the product's fee and the trade's size");
  if (fee && fee->amount_minor > 0) {
    ledger::JournalDraft draft;
    draft.idempotency_key = "clearing-fee:trade:" + trade.trade_id.to_string();
    draft.business_date = BusinessDate::containing(now);
    draft.kind = ledger::JournalKind::clearing_fee;
    draft.cause = ledger::Cause{ledger::CauseKind::trade, trade.trade_id.to_string()};
    draft.memo = "clearing fees of trade " + trade.trade_id.to_string();
    const Currency usd = Currency::usd();
    draft.postings = {
        {ledger::open_member_account(tx, trade.terms.buyer, ledger::AccountKind::fees, usd), *fee},
        {ledger::open_member_account(tx, trade.terms.seller, ledger::AccountKind::fees, usd), *fee},
        {ledger::open_house_account(tx, ledger::AccountKind::fee_income, usd),
         Money{-2 * fee->amount_minor, usd}}};
    const auto posted = ledger::post(tx, draft);
    assert(posted && "a clearing fee journal is well formed");
    if (posted) trade.fee_journal = posted->journal_id;
  }

  trade.state = TradeState::cleared;
  trade.decided_at = now;
  trade.last_refusal.reset();
  trade.last_refused_member.reset();
  db::exec_cached(tx,
      "UPDATE cch.trade SET state = 'cleared', decided_at = $2::timestamptz, last_refusal = NULL, "
      "last_refused_member_id = NULL, counterparty_reference = $3, fee_journal_id = $4 WHERE trade_id = $1",
      trade.trade_id.value(), now_text, trade.counterparty_reference,
      trade.fee_journal ? std::optional<std::int64_t>(trade.fee_journal->value()) : std::nullopt);

  const nlohmann::json event = {
      {"trade_id", trade.trade_id.to_string()},
      {"product_id", trade.terms.product.to_string()},
      {"buyer_member_id", trade.terms.buyer.to_string()},
      {"seller_member_id", trade.terms.seller.to_string()},
      {"delivery_start", timestamp_text(trade.terms.delivery_start)},
      {"delivery_end", timestamp_text(trade.terms.delivery_end)},
      {"gpus", trade.terms.gpus},
      {"price", trade.terms.price.format()},
      {"gpu_hours", trade.gpu_hours},
      {"cleared_at", now_text}};
  db::exec_cached(tx, "INSERT INTO cch.outbox (topic, aggregate_id, payload) VALUES ('trade.cleared', $1, $2::jsonb)",
                 trade.trade_id.value(), event.dump());
}

// Runs the checks and, when they pass, novates; a refusal is recorded on the trade.
Result<Trade, TradeError> clear(pqxx::transaction_base& tx, const RegistrationPolicy& policy, Trade trade,
                                const TradeActor& actor, UtcTimestamp now) {
  assert(policy.credit != nullptr && "a registration policy needs a credit check");
  const auto product = find_product(tx, trade.terms.product);
  assert(product && "a trade's product exists (foreign key)");
  const auto slices = month_slices(trade.terms.delivery_start, trade.terms.delivery_end);
  const Checked checked = check_trade(tx, policy, trade, *product, slices, now);
  if (const auto& failure = checked.failure) {
    const std::string reason(to_string(failure->refusal));
    db::exec_cached(tx, "UPDATE cch.trade SET last_refusal = $2, last_refused_member_id = $3 WHERE trade_id = $1",
                   trade.trade_id.value(), reason,
                   failure->member ? std::optional<std::int64_t>(failure->member->value()) : std::nullopt);
    append_event(tx, trade.trade_id, "refuse", actor.name, actor.member, trade.state, trade.state,
                 reason + ": " + failure->detail, actor.request_id);
    if (failure->member && *failure->member != actor.member) {
      return fail(error(TradeRefusal::counterparty_refused,
                        "the clearinghouse cannot clear this trade for the other member at present"));
    }
    return fail(error(failure->refusal, failure->detail));
  }
  novate(tx, trade, *product, slices, checked.credit_minor, now);
  append_event(tx, trade.trade_id, "affirm", actor.name, actor.member, TradeState::pending_affirmation,
               TradeState::cleared, std::nullopt, actor.request_id);
  return trade;
}

Result<Trade, TradeError> decide(pqxx::transaction_base& tx, const TradeActor& actor, TradeId id, TradeAction action,
                                 std::string_view reason, UtcTimestamp now) {
  auto trade = lock_trade(tx, id);
  if (!trade) return fail(error(TradeRefusal::trade_not_found, "no such trade"));
  const auto next = transition(trade->state, action, actor_of(*trade, actor.member), now >= trade->expires_at);
  if (!next) return fail(error(refusal_of(next.error()), std::string(to_string(next.error()))));
  db::exec_cached(tx, "UPDATE cch.trade SET state = $2, decided_at = $3::timestamptz WHERE trade_id = $1",
                 id.value(), std::string(to_string(*next)), timestamp_text(now));
  append_event(tx, id, to_string(action), actor.name, actor.member, trade->state, *next,
               reason.empty() ? std::nullopt : std::optional<std::string>(std::string(reason)), actor.request_id);
  trade->state = *next;
  trade->decided_at = now;
  return std::move(*trade);
}

// When a trade submitted now expires unaffirmed.
UtcTimestamp expiry_of(const RegistrationPolicy& policy, UtcTimestamp now) {
  const auto expires = now.add_microseconds(
      std::chrono::duration_cast<std::chrono::microseconds>(policy.affirmation_window).count());
  assert(expires && "the affirmation window is bounded by configuration");
  return *expires;
}

struct PreparedTerms {
  Product product;
  TradeTerms terms;  // with a series' window filled in
  GpuHours volume{0};
  Money notional = Money::zero(Currency::usd());
};

// The rules of a trade's terms that need no lock: its product, members, window, size and price.
Result<PreparedTerms, TradeError> prepare_terms(pqxx::transaction_base& tx, const TradeTerms& wanted) {
  if (wanted.buyer == wanted.seller) {
    return fail(error(TradeRefusal::same_member_both_sides, "the buyer and the seller must be different members"));
  }
  const auto product = find_product(tx, wanted.product);
  if (!product) return fail(error(TradeRefusal::unknown_product, "no such product"));
  const auto members = db::exec_cached(tx, "SELECT count(*) FROM cch.member WHERE member_id IN ($1, $2)",
                                      wanted.buyer.value(), wanted.seller.value());
  if (members[0][0].as<int>() != 2) return fail(error(TradeRefusal::unknown_member, "no such counterparty"));

  TradeTerms terms = wanted;
  if (terms.series_label) {
    const auto period = period_of_label(*terms.series_label);
    if (!period) return fail(error(TradeRefusal::unknown_series, "not a series label: " + *terms.series_label));
    terms.delivery_start = period->start();
    terms.delivery_end = period->end();
  } else if (!is_hour_aligned_window(terms.delivery_start, terms.delivery_end)) {
    return fail(error(TradeRefusal::invalid_window, "the delivery window must be non-empty and on whole UTC hours"));
  }
  if (terms.gpus < 1 || terms.gpus > kTradeGpusMax || terms.gpus % product->spec.node_block_gpus != 0) {
    return fail(error(TradeRefusal::invalid_gpus, "gpus must be 1-" + std::to_string(kTradeGpusMax) +
                                                      " and a multiple of the product's node block of " +
                                                      std::to_string(product->spec.node_block_gpus)));
  }
  if (terms.price.price_ticks <= 0) return fail(error(TradeRefusal::invalid_price, "the price must be positive"));
  if (!terms.price.is_multiple_of(PricePerGpuHour{product->spec.tick_size_ticks})) {
    return fail(error(TradeRefusal::price_off_tick,
                      "the price must be a multiple of the tick size " +
                          PricePerGpuHour{product->spec.tick_size_ticks}.format()));
  }
  const std::int64_t hours =
      (terms.delivery_end.unix_microseconds() - terms.delivery_start.unix_microseconds()) / kMicrosecondsPerHour;
  const auto volume = success(gpu_hours(GpuCount{terms.gpus}, hours));
  const auto value = volume ? success(notional(terms.price, *volume, Rounding::half_away_from_zero)) : std::nullopt;
  if (!volume || !value) return fail(error(TradeRefusal::invalid_gpus, "the trade is too large"));
  return PreparedTerms{*product, terms, *volume, *value};
}

}  // namespace

std::string_view to_string(TradeRefusal refusal) {
  switch (refusal) {
    case TradeRefusal::unknown_product: return "unknown_product";
    case TradeRefusal::unknown_member: return "unknown_member";
    case TradeRefusal::not_a_party: return "not_a_party";
    case TradeRefusal::same_member_both_sides: return "same_member_both_sides";
    case TradeRefusal::invalid_window: return "invalid_window";
    case TradeRefusal::invalid_gpus: return "invalid_gpus";
    case TradeRefusal::invalid_price: return "invalid_price";
    case TradeRefusal::price_off_tick: return "price_off_tick";
    case TradeRefusal::unknown_series: return "unknown_series";
    case TradeRefusal::invalid_reference: return "invalid_reference";
    case TradeRefusal::reference_reused: return "reference_reused";
    case TradeRefusal::trade_not_found: return "trade_not_found";
    case TradeRefusal::trade_not_pending: return "trade_not_pending";
    case TradeRefusal::only_system_expires: return "only_system_expires";
    case TradeRefusal::not_yet_expired: return "not_yet_expired";
    case TradeRefusal::trade_expired: return "trade_expired";
    case TradeRefusal::own_submission: return "own_submission";
    case TradeRefusal::member_not_active: return "member_not_active";
    case TradeRefusal::product_not_authorised: return "product_not_authorised";
    case TradeRefusal::product_not_trading: return "product_not_trading";
    case TradeRefusal::window_started: return "window_started";
    case TradeRefusal::window_beyond_horizon: return "window_beyond_horizon";
    case TradeRefusal::series_not_listed: return "series_not_listed";
    case TradeRefusal::no_reference_price: return "no_reference_price";
    case TradeRefusal::price_outside_band: return "price_outside_band";
    case TradeRefusal::position_limit_exceeded: return "position_limit_exceeded";
    case TradeRefusal::concentration_limit_exceeded: return "concentration_limit_exceeded";
    case TradeRefusal::credit_limit_exceeded: return "credit_limit_exceeded";
    case TradeRefusal::insufficient_collateral: return "insufficient_collateral";
    case TradeRefusal::counterparty_refused: return "counterparty_refused";
  }
  return "unknown";
}

std::string_view to_string(Side side) { return side == Side::buy ? "buy" : "sell"; }

Money NotionalCreditCheck::increment(pqxx::transaction_base&, MemberId, const Trade& trade, Side) const {
  // ceil(notional x rate / 10,000) in cents; notional and rate are non-negative.
  const Int128 scaled = static_cast<Int128>(trade.notional.amount_minor) * rate_bp_;
  return Money{static_cast<std::int64_t>((scaled + 9'999) / 10'000), trade.notional.currency};
}

std::vector<MonthSlice> month_slices(UtcTimestamp start, UtcTimestamp end) {
  std::vector<MonthSlice> slices;
  DeliveryPeriod month = period_containing(PeriodKind::month, BusinessDate::containing(start));
  while (month.start() < end) {
    const auto from = std::max(start, month.start());
    const auto to = std::min(end, month.end());
    if (to > from) {
      slices.push_back({month.first_day, (to.unix_microseconds() - from.unix_microseconds()) / kMicrosecondsPerHour});
    }
    month = next_period(month);
  }
  return slices;
}

Result<Submitted, TradeError> submit_trade(pqxx::transaction_base& tx, const RegistrationPolicy& policy,
                                           const TradeActor& actor, const TradeTerms& wanted,
                                           std::string_view reference, UtcTimestamp now) {
  if (!valid_reference(reference)) {
    return fail(error(TradeRefusal::invalid_reference, "the reference must be 1-64 printable ASCII characters"));
  }
  if (actor.member != wanted.buyer && actor.member != wanted.seller) {
    return fail(error(TradeRefusal::not_a_party, "the submitting member must be the buyer or the seller"));
  }
  auto prepared = prepare_terms(tx, wanted);
  if (!prepared) return fail(std::move(prepared.error()));
  const TradeTerms& terms = prepared->terms;
  const auto& volume = prepared->volume;
  const auto& value = prepared->notional;

  // The same reference again: the first trade, if the terms are the same.
  const auto replay = [&](const pqxx::result& rows) -> std::optional<Result<Submitted, TradeError>> {
    if (rows.empty()) return std::nullopt;
    Trade earlier = trade_from(rows[0]);
    if (earlier.terms != terms) {
      return Result<Submitted, TradeError>(fail(error(
          TradeRefusal::reference_reused, "the reference " + std::string(reference) + " names a trade with other terms")));
    }
    return Result<Submitted, TradeError>(Submitted{std::move(earlier), false, false});
  };
  const auto by_reference = [&] {
    return db::exec_cached(tx, "SELECT " + std::string(kTradeColumns) +
                              " FROM cch.trade WHERE (submitter_member_id = $1 AND submitter_reference = $2) "
                              "OR (counterparty_reference = $2 AND submitter_member_id <> $1 "
                              "    AND $1 IN (buyer_member_id, seller_member_id))",
                          actor.member.value(), std::string(reference));
  };
  if (auto earlier = replay(by_reference())) return std::move(*earlier);

  const MemberId other = actor.member == terms.buyer ? terms.seller : terms.buyer;
  const std::optional<std::string> series = terms.series_label;
  // The other side's pending submission of the same terms: this one affirms it.
  const auto mirror = db::exec_cached(tx,
      "SELECT " + std::string(kTradeColumns) +
          " FROM cch.trade WHERE state = 'pending_affirmation' AND product_id = $1 AND buyer_member_id = $2 "
          "AND seller_member_id = $3 AND delivery_start = $4::timestamptz AND delivery_end = $5::timestamptz "
          "AND gpus = $6 AND price_ticks = $7 AND series_label IS NOT DISTINCT FROM $8 AND submitter_member_id = $9 "
          "AND expires_at > $10::timestamptz ORDER BY trade_id LIMIT 1 FOR UPDATE",
      terms.product.value(), terms.buyer.value(), terms.seller.value(), timestamp_text(terms.delivery_start),
      timestamp_text(terms.delivery_end), terms.gpus, terms.price.price_ticks, series, other.value(),
      timestamp_text(now));
  if (!mirror.empty()) {
    Trade trade = trade_from(mirror[0]);
    trade.counterparty_reference = std::string(reference);
    auto cleared = clear(tx, policy, std::move(trade), actor, now);
    if (!cleared) return fail(std::move(cleared.error()));
    return Submitted{std::move(*cleared), false, true};
  }

  const UtcTimestamp expires = expiry_of(policy, now);
  const auto inserted = db::exec_cached(tx,
      "INSERT INTO cch.trade (product_id, series_label, buyer_member_id, seller_member_id, delivery_start, "
      "delivery_end, gpus, price_ticks, gpu_hours, notional_minor, submitter_member_id, submitter_reference, "
      "submitted_at, submitted_by, expires_at) VALUES ($1, $2, $3, $4, $5::timestamptz, $6::timestamptz, $7, $8, $9, "
      "$10, $11, $12, $13::timestamptz, $14, $15::timestamptz) "
      "ON CONFLICT (submitter_member_id, submitter_reference) DO NOTHING RETURNING " +
          std::string(kTradeColumns),
      terms.product.value(), series, terms.buyer.value(), terms.seller.value(), timestamp_text(terms.delivery_start),
      timestamp_text(terms.delivery_end), terms.gpus, terms.price.price_ticks, volume.gpu_hours,
      value.amount_minor, actor.member.value(), std::string(reference), timestamp_text(now), actor.name,
      timestamp_text(expires));
  if (inserted.empty()) {
    // A concurrent submission with this reference committed first.
    if (auto earlier = replay(by_reference())) return std::move(*earlier);
    return fail(error(TradeRefusal::reference_reused, "the reference is in use"));
  }
  Trade trade = trade_from(inserted[0]);
  append_event(tx, trade.trade_id, "submit", actor.name, actor.member, std::nullopt, TradeState::pending_affirmation,
               std::nullopt, actor.request_id);
  return Submitted{std::move(trade), true, false};
}

Result<Trade, TradeError> affirm_trade(pqxx::transaction_base& tx, const RegistrationPolicy& policy,
                                       const TradeActor& actor, TradeId id, UtcTimestamp now) {
  auto trade = lock_trade(tx, id);
  if (!trade) return fail(error(TradeRefusal::trade_not_found, "no such trade"));
  const auto next =
      transition(trade->state, TradeAction::affirm, actor_of(*trade, actor.member), now >= trade->expires_at);
  if (!next) return fail(error(refusal_of(next.error()), std::string(to_string(next.error()))));
  return clear(tx, policy, std::move(*trade), actor, now);
}

Result<Trade, TradeError> reject_trade(pqxx::transaction_base& tx, const TradeActor& actor, TradeId trade,
                                       std::string_view reason, UtcTimestamp now) {
  return decide(tx, actor, trade, TradeAction::reject, reason, now);
}

Result<Trade, TradeError> cancel_trade(pqxx::transaction_base& tx, const TradeActor& actor, TradeId trade,
                                       std::string_view reason, UtcTimestamp now) {
  return decide(tx, actor, trade, TradeAction::cancel, reason, now);
}

std::size_t expire_due_trades(pqxx::transaction_base& tx, UtcTimestamp now, std::size_t limit) {
  const auto rows = db::exec_cached(tx,
      "WITH due AS (SELECT trade_id FROM cch.trade WHERE state = 'pending_affirmation' AND expires_at <= $1::timestamptz "
      "             ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED), "
      "expired AS (UPDATE cch.trade t SET state = 'expired', decided_at = $1::timestamptz FROM due "
      "            WHERE t.trade_id = due.trade_id RETURNING t.trade_id) "
      "INSERT INTO cch.trade_event (trade_id, event_sequence, action, actor, from_state, to_state) "
      "SELECT e.trade_id, (SELECT COALESCE(max(event_sequence), 0) + 1 FROM cch.trade_event v "
      "                    WHERE v.trade_id = e.trade_id), 'expire', 'system', 'pending_affirmation', 'expired' "
      "FROM expired e RETURNING trade_id",
      timestamp_text(now), static_cast<std::int64_t>(std::clamp<std::size_t>(limit, 1, 10'000)));
  return rows.size();
}

std::vector<VenueOutcome> register_venue_batch(pqxx::transaction_base& tx, const RegistrationPolicy& policy,
                                               const VenueActor& venue, const std::vector<VenueTrade>& trades,
                                               UtcTimestamp now) {
  assert(trades.size() <= kVenueBatchTradesMax && "the route bounds a batch");
  assert(policy.credit != nullptr && "a registration policy needs a credit check");
  // Every member of the batch, locked in id order before anything else: two batches (or a batch
  // and an affirmation) wait for one another instead of deadlocking.
  std::vector<std::int64_t> members;
  for (const auto& trade : trades) {
    members.push_back(trade.terms.buyer.value());
    members.push_back(trade.terms.seller.value());
  }
  std::sort(members.begin(), members.end());
  members.erase(std::unique(members.begin(), members.end()), members.end());
  db::exec_cached(tx, "SELECT member_id FROM cch.member WHERE member_id = ANY($1::bigint[]) ORDER BY member_id "
                 "FOR NO KEY UPDATE",
                 db::integer_array(members));

  const UtcTimestamp expires = expiry_of(policy, now);
  std::vector<VenueOutcome> outcomes;
  outcomes.reserve(trades.size());
  const auto refuse = [&](TradeRefusal refusal, std::string detail) {
    outcomes.push_back(VenueOutcome{fail(error(refusal, std::move(detail))), false});
  };
  for (const auto& wanted : trades) {
    if (!valid_reference(wanted.reference)) {
      refuse(TradeRefusal::invalid_reference, "the reference must be 1-64 printable ASCII characters");
      continue;
    }
    auto prepared = prepare_terms(tx, wanted.terms);
    if (!prepared) {
      outcomes.push_back(VenueOutcome{fail(prepared.error()), false});
      continue;
    }
    const auto earlier = db::exec_cached(tx, "SELECT " + std::string(kTradeColumns) +
                                            " FROM cch.trade WHERE venue_principal_id = $1 AND submitter_reference = $2",
                                        venue.principal_id, wanted.reference);
    if (!earlier.empty()) {
      Trade first = trade_from(earlier[0]);
      if (first.terms != prepared->terms) {
        refuse(TradeRefusal::reference_reused, "the reference " + wanted.reference + " names a trade with other terms");
      } else {
        outcomes.push_back(VenueOutcome{std::move(first), true});
      }
      continue;
    }
    const TradeTerms& terms = prepared->terms;
    // A savepoint around the trade's row and its checks: a refused trade leaves nothing behind.
    tx.exec("SAVEPOINT venue_trade");
    const auto inserted = db::exec_cached(tx,
        "INSERT INTO cch.trade (product_id, series_label, buyer_member_id, seller_member_id, delivery_start, "
        "delivery_end, gpus, price_ticks, gpu_hours, notional_minor, venue_principal_id, submitter_reference, "
        "submitted_at, submitted_by, expires_at) VALUES ($1, $2, $3, $4, $5::timestamptz, $6::timestamptz, $7, $8, "
        "$9, $10, $11, $12, $13::timestamptz, $14, $15::timestamptz) RETURNING " +
            std::string(kTradeColumns),
        terms.product.value(), terms.series_label, terms.buyer.value(), terms.seller.value(),
        timestamp_text(terms.delivery_start), timestamp_text(terms.delivery_end), terms.gpus, terms.price.price_ticks,
        prepared->volume.gpu_hours, prepared->notional.amount_minor, venue.principal_id, wanted.reference,
        timestamp_text(now), venue.name, timestamp_text(expires));
    Trade trade = trade_from(inserted[0]);
    const Product& product = prepared->product;
    const auto slices = month_slices(terms.delivery_start, terms.delivery_end);
    const Checked checked = check_trade(tx, policy, trade, product, slices, now);
    if (const auto& failure = checked.failure) {
      tx.exec("ROLLBACK TO SAVEPOINT venue_trade");
      tx.exec("RELEASE SAVEPOINT venue_trade");
      refuse(failure->refusal, failure->detail);
      continue;
    }
    // Released before novation: the ledger accepts postings only from the journal's own top-level
    // transaction, and nothing after the checks can refuse.
    tx.exec("RELEASE SAVEPOINT venue_trade");
    novate(tx, trade, product, slices, checked.credit_minor, now);
    append_event(tx, trade.trade_id, "register", venue.name, std::nullopt, std::nullopt, TradeState::cleared,
                 std::nullopt, venue.request_id);
    outcomes.push_back(VenueOutcome{std::move(trade), false});
  }
  return outcomes;
}

std::optional<Trade> find_trade(pqxx::transaction_base& tx, TradeId trade) {
  const auto rows =
      db::exec_cached(tx, "SELECT " + std::string(kTradeColumns) + " FROM cch.trade WHERE trade_id = $1", trade.value());
  if (rows.empty()) return std::nullopt;
  return trade_from(rows[0]);
}

std::vector<Trade> list_trades(pqxx::transaction_base& tx, const TradeFilter& filter, std::optional<TradeId> after,
                               std::size_t limit) {
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
  std::vector<TradeEvent> events;
  for (const auto& row : db::exec_cached(tx,
           "SELECT event_sequence, (extract(epoch FROM at) * 1000000)::bigint, action, actor, actor_member_id, "
           "from_state, to_state, reason, request_id FROM cch.trade_event WHERE trade_id = $1 ORDER BY event_sequence",
           trade.value())) {
    TradeEvent event{.sequence = row[0].as<int>(),
                     .at = db::timestamp_of(row[1]),
                     .action = row[2].as<std::string>(),
                     .actor = row[3].as<std::string>(),
                     .actor_member = std::nullopt,
                     .from_state = std::nullopt,
                     .to_state = row[6].as<std::string>(),
                     .reason = std::nullopt,
                     .request_id = std::nullopt};
    if (!row[4].is_null()) event.actor_member = MemberId(row[4].as<std::int64_t>());
    if (!row[5].is_null()) event.from_state = row[5].as<std::string>();
    if (!row[7].is_null()) event.reason = row[7].as<std::string>();
    if (!row[8].is_null()) event.request_id = row[8].as<std::string>();
    events.push_back(std::move(event));
  }
  return events;
}

std::vector<Position> member_positions(pqxx::transaction_base& tx, MemberId member) {
  std::vector<Position> positions;
  for (const auto& row : db::exec_cached(tx,
           "SELECT product_id, delivery_month::text, net_gpu_hours, bought_gpu_hours, sold_gpu_hours "
           "FROM cch.position WHERE member_id = $1 ORDER BY product_id, delivery_month",
           member.value())) {
    positions.push_back(Position{member, ProductId(row[0].as<std::int64_t>()),
                                 BusinessDate::parse(row[1].as<std::string>()).value(), row[2].as<std::int64_t>(),
                                 row[3].as<std::int64_t>(), row[4].as<std::int64_t>()});
  }
  return positions;
}

}  // namespace cch::registry
