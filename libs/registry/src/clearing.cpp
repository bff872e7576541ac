#include "clearing.hpp"

#include <pqxx/result>

#include <algorithm>
#include <cassert>
#include <cstdio>
#include <ranges>

#include "cch/core/check.hpp"
#include "cch/core/decimal.hpp"
#include "cch/core/quantity.hpp"
#include "cch/db/array.hpp"
#include "cch/db/prepared.hpp"
#include "cch/ledger/accounts.hpp"
#include "cch/ledger/post.hpp"
#include "cch/margin_store/models.hpp"
#include "cch/market/market_data.hpp"

namespace cch::registry::clearing {
namespace {

template <class T, class E>
std::optional<T> success(Result<T, E> result) {
  if (!result) return std::nullopt;
  return std::move(*result);
}

struct SideView {
  MemberId member;
  Side side;
  std::int64_t sign;  // +1 buys, -1 sells
};

std::array<SideView, 2> sides_of(const Trade& trade) {
  return {SideView{trade.terms.buyer, Side::buy, 1}, SideView{trade.terms.seller, Side::sell, -1}};
}

const char* side_name(Side side) { return side == Side::buy ? "buyer" : "seller"; }

std::string month_text(const MonthSlice& slice) { return slice.month.format(); }

std::vector<std::int64_t> sorted_unique(std::vector<std::int64_t> values) {
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  return values;
}

CheckFailure failure(TradeRefusal refusal, std::string detail, std::optional<MemberId> member = std::nullopt) {
  return CheckFailure{refusal, std::move(detail), member};
}

std::optional<std::int64_t> optional_id(const std::optional<MemberId>& member) {
  return member ? std::optional<std::int64_t>(member->value()) : std::nullopt;
}

}  // namespace

// ---- the book -------------------------------------------------------------------------------

Book Book::lock(pqxx::transaction_base& tx, std::vector<std::int64_t> members) {
  Book book;
  for (const auto& row : db::exec_cached(tx,
           "SELECT member_id, status FROM cch.member WHERE member_id = ANY($1::bigint[]) ORDER BY member_id "
           "FOR NO KEY UPDATE",
           db::integer_array(sorted_unique(std::move(members))))) {
    book.status_.emplace(row[0].as<std::int64_t>(), row[1].as<std::string>());
  }
  return book;
}

void Book::load(pqxx::transaction_base& tx, const RegistrationPolicy& policy, std::span<const Candidate> candidates,
                UtcTimestamp now, bool legs_written) {
  std::vector<std::int64_t> members;
  std::vector<std::int64_t> products;
  std::vector<std::string> months;
  for (const auto& candidate : candidates) {
    members.push_back(candidate.trade.terms.buyer.value());
    members.push_back(candidate.trade.terms.seller.value());
    products.push_back(candidate.trade.terms.product.value());
    for (const auto& slice : candidate.slices) months.push_back(month_text(slice));
  }
  members = sorted_unique(std::move(members));
  products = sorted_unique(std::move(products));
  std::sort(months.begin(), months.end());
  months.erase(std::unique(months.begin(), months.end()), months.end());
  assert(std::all_of(members.begin(), members.end(), [&](std::int64_t m) { return status_.contains(m); }) &&
         "every member was locked first");
  const std::string member_array = db::integer_array(members);
  const std::string product_array = db::integer_array(products);
  const std::string month_array = db::text_array(months);
  std::optional<std::int64_t> venue;
  for (const auto& candidate : candidates) {
    if (!candidate.trade.venue) continue;
    assert((!venue || venue == candidate.trade.venue) && "one load, one venue");
    venue = candidate.trade.venue;
  }

  // One statement, one row per fact, tagged by its kind:
  //   auth    member, product                      an authorisation
  //   venue   member, venue principal              a live authorisation of the batch's venue
  //   ref     product, days, first day, price ticks  a latest settlement price (market data)
  //   oi      product, -, month, GPU-hours         open interest (every member's bought GPU-hours)
  //   net     product, member, month, GPU-hours    a member's net position
  //   plim    member, product, -, GPU-hours        a member's position limit in a product
  //   credit  member, limit or NULL, -, -, collateral held less withdrawals requested
  const auto rows = db::exec_cached(tx,
      "SELECT 'auth', member_id, product_id, NULL::text, NULL::bigint, NULL::bigint FROM cch.member_product "
      "WHERE member_id = ANY($1::bigint[]) AND product_id = ANY($2::bigint[]) "
      "UNION ALL SELECT 'venue', member_id, venue_principal_id, NULL, NULL, NULL FROM cch.member_venue "
      "WHERE member_id = ANY($1::bigint[]) AND venue_principal_id = $4::bigint AND revoked_at IS NULL "
      "UNION ALL SELECT 'ref', r.* , NULL FROM (" + market::latest_settlement_prices_sql(2) + ") AS r "
      "UNION ALL SELECT 'oi', product_id, NULL, delivery_month::text, sum(bought_gpu_hours)::bigint, NULL "
      "FROM cch.position WHERE product_id = ANY($2::bigint[]) AND delivery_month = ANY($3::date[]) "
      "GROUP BY product_id, delivery_month "
      "UNION ALL SELECT 'net', product_id, member_id, delivery_month::text, net_gpu_hours, NULL FROM cch.position "
      "WHERE member_id = ANY($1::bigint[]) AND product_id = ANY($2::bigint[]) AND delivery_month = ANY($3::date[]) "
      "UNION ALL SELECT 'plim', member_id, product_id, NULL, max_gpu_hours, NULL FROM cch.position_limit "
      "WHERE member_id = ANY($1::bigint[]) AND product_id = ANY($2::bigint[]) "
      "UNION ALL SELECT 'credit', m.member_id, "
      "(SELECT credit_limit_minor FROM cch.member_limit l WHERE l.member_id = m.member_id), NULL, NULL, "
      "COALESCE((SELECT -b.balance_minor FROM ledger.account a JOIN ledger.account_balance b USING (account_id) "
      "          WHERE a.owner_kind = 'member' AND a.member_id = m.member_id AND a.kind = 'collateral' "
      "          AND a.currency = 'USD'), 0) "
      "- COALESCE((SELECT sum(amount_minor) FROM cch.collateral_withdrawal w "
      "            WHERE w.member_id = m.member_id AND w.currency = 'USD' AND w.status = 'requested'), 0)::bigint "
      "FROM unnest($1::bigint[]) AS m (member_id)",
      member_array, product_array, month_array, venue);
  struct ReferenceRow {
    std::int64_t product = 0;
    std::int64_t days = 0;
    BusinessDate first_day;
    std::int64_t ticks = 0;
  };
  std::vector<ReferenceRow> reference_rows;
  for (const auto& row : rows) {
    const std::string kind = row[0].as<std::string>();
    const std::int64_t first = row[1].as<std::int64_t>();
    if (kind == "auth") {
      authorised_.emplace(first, row[2].as<std::int64_t>());
    } else if (kind == "venue") {
      venue_authorised_.emplace(first, row[2].as<std::int64_t>());
    } else if (kind == "ref") {
      reference_rows.push_back({first, row[2].as<std::int64_t>(), BusinessDate::parse(row[3].as<std::string>()).value(),
                                row[4].as<std::int64_t>()});
    } else if (kind == "oi") {
      open_interest_[MonthKey{first, row[3].as<std::string>()}] = row[4].as<std::int64_t>();
    } else if (kind == "net") {
      net_[PositionKey{row[2].as<std::int64_t>(), first, row[3].as<std::string>()}] = row[4].as<std::int64_t>();
    } else if (kind == "plim") {
      position_limit_.emplace(std::pair{first, row[2].as<std::int64_t>()}, row[4].as<std::int64_t>());
    } else {
      assert(kind == "credit" && "the statement's kinds");
      Credit credit;
      if (!row[2].is_null()) credit.limit_minor = row[2].as<std::int64_t>();
      credit.collateral_minor = row[5].as<std::int64_t>();
      credit_[first] = credit;
    }
  }
  // Each product's reference per day: the shortest quoted period containing the day wins (a
  // month's price over its quarter's, a day's over its week's).
  std::map<std::int64_t, std::pair<BusinessDate, BusinessDate>> spans;
  for (const auto& row : reference_rows) {
    const BusinessDate end = row.first_day.add_days(row.days).value();
    auto [found, inserted] = spans.try_emplace(row.product, row.first_day, end);
    if (!inserted) {
      found->second.first = std::min(found->second.first, row.first_day);
      found->second.second = std::max(found->second.second, end);
    }
  }
  for (const auto& [product, span] : spans) {
    const auto days = static_cast<std::size_t>(days_between(span.first, span.second));
    reference_.insert_or_assign(product, DailyReference{span.first, std::vector<std::int64_t>(days, 0),
                                                        std::vector<std::int64_t>(days, 0)});
  }
  for (const auto& row : reference_rows) {
    DailyReference& reference = reference_.at(row.product);
    const auto offset = static_cast<std::size_t>(days_between(reference.first_day, row.first_day));
    for (std::size_t day = offset; day < offset + static_cast<std::size_t>(row.days); ++day) {
      if (reference.period_days[day] == 0 || row.days < reference.period_days[day]) {
        reference.ticks[day] = row.ticks;
        reference.period_days[day] = row.days;
      }
    }
  }
  // The candidates' own legs, where a venue batch wrote them before its checks, are not yet the
  // members' positions: the checks add them.
  std::vector<std::int64_t> candidate_trades;
  for (const auto& candidate : candidates) {
    if (legs_written) candidate_trades.push_back(candidate.trade.trade_id.value());
  }
  load_margin(tx, policy, members, candidate_trades, now);
}

// ---- margin ---------------------------------------------------------------------------------

namespace {

std::string flat_array(const std::array<std::vector<std::int64_t>, margin::kMarginClassCount>& by_class) {
  std::vector<std::int64_t> flat;
  for (const auto& values : by_class) flat.insert(flat.end(), values.begin(), values.end());
  return db::integer_array(flat);
}

margin::MemberPosition empty_position(const margin::CurrentModel& current) {
  if (current.model) return margin::MemberPosition::empty(current.model->model);
  return margin::MemberPosition{};
}

pricing::Leg leg_of(Side side, bool future, UtcTimestamp start, UtcTimestamp end, std::int64_t gpus, std::int64_t price_ticks) {
  return pricing::Leg{.leg_id = 0,
                      .side = side == Side::buy ? pricing::Side::buy : pricing::Side::sell,
                      .kind = future ? pricing::ContractKind::future : pricing::ContractKind::forward,
                      .delivery_start = start,
                      .delivery_end = end,
                      .gpus = gpus,
                      .price_ticks = price_ticks,
                      .payment_date = BusinessDate::containing(end)};
}

}  // namespace

void write_margin_states(pqxx::transaction_base& tx, std::span<const MarginStateRow> rows, UtcTimestamp now) {
  if (rows.empty()) return;
  std::vector<std::int64_t> members, interim, legs, initial;
  std::vector<std::optional<std::string>> models, dates;
  std::vector<std::string> exposures, hours;
  for (const MarginStateRow& row : rows) {
    members.push_back(row.member);
    models.push_back(row.model_id ? std::optional<std::string>(std::to_string(*row.model_id)) : std::nullopt);
    dates.push_back(row.as_of ? std::optional<std::string>(row.as_of->format()) : std::nullopt);
    exposures.push_back(flat_array(row.position.exposure_cents));
    hours.push_back(flat_array(row.position.net_gpu_hours));
    interim.push_back(row.position.interim_cents);
    legs.push_back(row.legs);
    initial.push_back(row.initial_margin_cents);
  }
  db::exec_cached(tx,
      "INSERT INTO cch.member_margin_state AS s (member_id, model_id, exposure_cents, net_gpu_hours, interim_cents, "
      "legs, initial_margin_cents, as_of, updated_at) "
      "SELECT u.m, u.model::bigint, u.e::bigint[], u.h::bigint[], u.i, u.l, u.im, u.d::date, $9::timestamptz "
      "FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[], "
      "$8::text[]) AS u (m, model, e, h, i, l, im, d) "
      "ON CONFLICT (member_id) DO UPDATE SET model_id = EXCLUDED.model_id, exposure_cents = EXCLUDED.exposure_cents, "
      "net_gpu_hours = EXCLUDED.net_gpu_hours, interim_cents = EXCLUDED.interim_cents, legs = EXCLUDED.legs, "
      "initial_margin_cents = EXCLUDED.initial_margin_cents, as_of = EXCLUDED.as_of, updated_at = EXCLUDED.updated_at",
      db::integer_array(members), db::nullable_text_array(models), db::text_array(exposures), db::text_array(hours),
      db::integer_array(interim), db::integer_array(legs), db::integer_array(initial), db::nullable_text_array(dates),
      now.format());
}

void Book::load_margin(pqxx::transaction_base& tx, const RegistrationPolicy& policy,
                       std::span<const std::int64_t> members, std::span<const std::int64_t> candidate_trades,
                       UtcTimestamp now) {
  CCH_CHECK(policy.margin_models != nullptr && policy.clearing_calendar != nullptr,
            "a registration policy has the margin models and the clearing calendar");
  current_ = policy.margin_models->current(tx);
  clearing_calendar_ = policy.clearing_calendar;
  const std::optional<std::int64_t> model_id =
      current_.model ? std::optional<std::int64_t>(current_.model->record.model_id) : std::nullopt;
  const std::size_t state_size = current_.model ? current_.model->model.factor_count() * margin::kMarginClassCount : 0;
  std::vector<std::int64_t> stale;
  for (const auto& row : db::exec_cached(tx,
           "SELECT m.member_id, s.model_id, s.exposure_cents, s.net_gpu_hours, s.interim_cents, s.legs "
           "FROM unnest($1::bigint[]) AS m (member_id) LEFT JOIN cch.member_margin_state s USING (member_id)",
           db::integer_array(std::vector<std::int64_t>(members.begin(), members.end())))) {
    const std::int64_t member = row[0].as<std::int64_t>();
    const bool stored = !row[4].is_null();
    const std::optional<std::int64_t> stored_model =
        row[1].is_null() ? std::nullopt : std::optional<std::int64_t>(row[1].as<std::int64_t>());
    // Before any model, a stored state stays (its legs only ever add); with a model, a state under
    // another one (or none) is rebuilt.
    if (!stored || (model_id && stored_model != model_id)) {
      stale.push_back(member);
      continue;
    }
    MemberMarginBook book{empty_position(current_), std::nullopt, row[5].as<std::int64_t>(), 0, false};
    const auto exposures = db::integers_of(row[2]);
    const auto hours = db::integers_of(row[3]);
    CCH_CHECK(exposures.size() == state_size && hours.size() == state_size, "a margin state has its model's shape");
    const std::size_t factors = state_size / margin::kMarginClassCount;
    for (std::size_t ci = 0; ci < margin::kMarginClassCount && factors > 0; ++ci) {
      std::copy_n(exposures.begin() + static_cast<std::ptrdiff_t>(ci * factors), factors, book.position.exposure_cents[ci].begin());
      std::copy_n(hours.begin() + static_cast<std::ptrdiff_t>(ci * factors), factors, book.position.net_gpu_hours[ci].begin());
    }
    book.position.interim_cents = row[4].as<std::int64_t>();
    margin_.emplace(member, std::move(book));
  }
  if (!stale.empty()) {
    // Rebuilt from the open legs: those delivering after the model's date (its curves' first day),
    // or, before any model, after today.
    const BusinessDate as_of = current_.model ? current_.model->record.business_date
                                              : BusinessDate::containing(now).add_days(-1).value();
    for (const std::int64_t member : stale) {
      margin_.emplace(member, MemberMarginBook{empty_position(current_), std::nullopt, 0, 0, true});
    }
    for (const auto& row : db::exec_cached(tx,
             "SELECT l.member_id, l.side, l.product_id, (extract(epoch FROM l.delivery_start) * 1000000)::bigint, "
             "(extract(epoch FROM l.delivery_end) * 1000000)::bigint, l.gpus, l.price_ticks, t.series_label IS NOT NULL "
             "FROM cch.trade_leg l JOIN cch.trade t USING (trade_id) "
             "WHERE l.member_id = ANY($1::bigint[]) AND l.delivery_end > $2::timestamptz "
             "AND NOT l.trade_id = ANY($3::bigint[])",
             db::integer_array(stale), as_of.add_days(1).value().start_of_day().format(),
             db::integer_array(std::vector<std::int64_t>(candidate_trades.begin(), candidate_trades.end())))) {
      MemberMarginBook& book = margin_.at(row[0].as<std::int64_t>());
      const auto leg = leg_of(row[1].as<std::string>() == "buy" ? Side::buy : Side::sell, row[7].as<bool>(),
                              UtcTimestamp::from_unix_microseconds(row[3].as<std::int64_t>()).value(),
                              UtcTimestamp::from_unix_microseconds(row[4].as<std::int64_t>()).value(),
                              row[5].as<std::int64_t>(), row[6].as<std::int64_t>());
      book.position.add(margin::exposure_under(current_.model.get(), *current_.parameters,
                                               ProductId(row[2].as<std::int64_t>()), leg, *clearing_calendar_));
      ++book.legs;
    }
  }
  for (auto& [member, book] : margin_) {
    if (current_.model) {
      book.margin.emplace(current_.model->model, book.position);
      book.initial_margin_cents = book.margin->figures().initial_margin_cents;
    } else {
      book.initial_margin_cents = margin::interim_only(book.position.interim_cents).initial_margin_cents;
    }
  }
  if (!stale.empty()) {
    // A rebuilt state is written now, whether or not a trade clears: it is the member's state
    // under this model.
    std::vector<MarginStateRow> rows;
    for (const std::int64_t member : stale) {
      const MemberMarginBook& book = margin_.at(member);
      rows.push_back(MarginStateRow{member, model_id,
                                    current_.model ? std::optional<BusinessDate>(current_.model->record.business_date)
                                                   : std::nullopt,
                                    book.position, book.legs, book.initial_margin_cents});
      margin_.at(member).changed = false;
    }
    write_margin_states(tx, rows, now);
  }
}

Checked Book::check(pqxx::transaction_base& tx, const RegistrationPolicy& policy, const Candidate& candidate,
                    UtcTimestamp now) const {
  const Trade& trade = candidate.trade;
  const Product& product = *candidate.product;
  const BusinessDate today = BusinessDate::containing(now);
  // trades.hpp's order: the first refusal is the answer.
  if (auto refused = members_active(trade)) return {std::move(refused)};
  if (auto refused = venue_authorised(trade)) return {std::move(refused)};
  if (auto refused = product_authorised(trade, product)) return {std::move(refused)};
  if (auto refused = product_trading(product)) return {std::move(refused)};
  if (auto refused = series_listed(trade, product, today)) return {std::move(refused)};
  if (auto refused = window_not_started(trade, now)) return {std::move(refused)};
  if (auto refused = window_within_horizon(trade, product, today)) return {std::move(refused)};
  if (auto refused = price_within_band(policy, candidate)) return {std::move(refused)};
  if (auto refused = positions_within_limits(policy, candidate)) return {std::move(refused)};
  (void)tx;
  return margin_within_limits(policy, trade);
}

std::optional<CheckFailure> Book::members_active(const Trade& trade) const {
  for (const auto& view : sides_of(trade)) {
    const auto status = status_.find(view.member.value());
    if (status == status_.end() || status->second != "active") {
      return failure(TradeRefusal::member_not_active, std::string("the ") + side_name(view.side) + " is not active",
                     view.member);
    }
  }
  return std::nullopt;
}

// Only a venue's trade: both members hold a live authorisation of that venue.
std::optional<CheckFailure> Book::venue_authorised(const Trade& trade) const {
  if (!trade.venue) return std::nullopt;
  for (const auto& view : sides_of(trade)) {
    if (!venue_authorised_.contains({view.member.value(), *trade.venue})) {
      return failure(TradeRefusal::venue_not_authorised,
                     std::string("the ") + side_name(view.side) + " has not authorised this venue to register its trades",
                     view.member);
    }
  }
  return std::nullopt;
}

std::optional<CheckFailure> Book::product_authorised(const Trade& trade, const Product& product) const {
  for (const auto& view : sides_of(trade)) {
    if (!authorised_.contains({view.member.value(), product.product_id.value()})) {
      return failure(TradeRefusal::product_not_authorised,
                     std::string("the ") + side_name(view.side) + " is not authorised to clear " + product.spec.code,
                     view.member);
    }
  }
  return std::nullopt;
}

std::optional<CheckFailure> Book::product_trading(const Product& product) {
  if (product.spec.status == TradingStatus::active) return std::nullopt;
  return failure(TradeRefusal::product_not_trading, product.spec.code + " is " + std::string(to_string(product.spec.status)));
}

// Only a series' trade: the series is among those listed today.
std::optional<CheckFailure> Book::series_listed(const Trade& trade, const Product& product, BusinessDate today) {
  if (!trade.terms.series_label) return std::nullopt;
  const auto period = parse_period_label(*trade.terms.series_label);
  const std::array<PeriodKind, 1> kinds{period ? period->kind : PeriodKind::day};
  const auto listed = listed_periods(kinds, today, product.spec.listing_horizon_days);
  if (period && std::find(listed.begin(), listed.end(), *period) != listed.end()) return std::nullopt;
  return failure(TradeRefusal::series_not_listed, "series " + *trade.terms.series_label + " is not listed today");
}

std::optional<CheckFailure> Book::window_not_started(const Trade& trade, UtcTimestamp now) {
  if (trade.terms.delivery_start > now) return std::nullopt;
  return failure(TradeRefusal::window_started, "the delivery window has started");
}

std::optional<CheckFailure> Book::window_within_horizon(const Trade& trade, const Product& product,
                                                        BusinessDate today) {
  const auto horizon_end = today.add_days(product.spec.listing_horizon_days + 1);
  if (horizon_end && trade.terms.delivery_end <= horizon_end->start_of_day()) return std::nullopt;
  return failure(TradeRefusal::window_beyond_horizon, "the delivery window ends after the product's listing horizon of " +
                                                          std::to_string(product.spec.listing_horizon_days) + " days");
}

// The fat-finger band, around the reference price of each hour of the window (the latest
// settlement price of the shortest quoted period containing it), weighted by hours:
// |price x H - sum(ref_h)| x 10,000 <= band_bp x sum(ref_h), exactly.
std::optional<CheckFailure> Book::price_within_band(const RegistrationPolicy& policy, const Candidate& candidate) const {
  const Trade& trade = candidate.trade;
  const std::int64_t product_id = candidate.product->product_id.value();
  constexpr std::int64_t kHoursPerDay = 24;
  const auto reference = reference_.find(product_id);
  Int128 weighted = 0;
  Int128 hours = 0;
  const std::int64_t first_hour = trade.terms.delivery_start.unix_microseconds() / kMicrosecondsPerHour;
  const std::int64_t end_hour = trade.terms.delivery_end.unix_microseconds() / kMicrosecondsPerHour;
  for (std::int64_t hour = first_hour; hour < end_hour;) {
    const std::int64_t day = hour / kHoursPerDay;  // days since 1970-01-01 (UTC)
    const std::int64_t day_end_hour = std::min((day + 1) * kHoursPerDay, end_hour);
    std::int64_t ticks = 0;
    if (reference != reference_.end()) {
      const std::int64_t offset = day - reference->second.first_day.days_since_epoch();
      if (offset >= 0 && offset < static_cast<std::int64_t>(reference->second.ticks.size())) {
        ticks = reference->second.ticks[static_cast<std::size_t>(offset)];
      }
    }
    if (ticks == 0) {
      return failure(TradeRefusal::no_reference_price,
                     "no settlement price covers " + BusinessDate::from_days_since_epoch(day).value().format());
    }
    weighted += static_cast<Int128>(ticks) * (day_end_hour - hour);
    hours += day_end_hour - hour;
    hour = day_end_hour;
  }
  Int128 distance = static_cast<Int128>(trade.terms.price.price_ticks) * hours - weighted;
  if (distance < 0) distance = -distance;
  if (distance * 10'000 > static_cast<Int128>(policy.price_band_bp) * weighted) {
    return failure(TradeRefusal::price_outside_band, "the price is more than " +
                                                         std::to_string(policy.price_band_bp / 100) +
                                                         " % away from the reference price");
  }
  return std::nullopt;
}

// Net positions per month within the position limit; concentration against open interest. The
// two are checked together, side by side and month by month, so the first breach found answers.
std::optional<CheckFailure> Book::positions_within_limits(const RegistrationPolicy& policy,
                                                          const Candidate& candidate) const {
  const Trade& trade = candidate.trade;
  const Product& product = *candidate.product;
  const std::int64_t product_id = product.product_id.value();
  for (const auto& view : sides_of(trade)) {
    const auto own = position_limit_.find({view.member.value(), product_id});
    const std::int64_t limit = own != position_limit_.end() ? own->second : product.position_limit_gpu_hours;
    for (const auto& slice : candidate.slices) {
      const std::string month = month_text(slice);
      const std::int64_t volume = trade.terms.gpus * slice.hours;
      const auto net = net_.find(PositionKey{view.member.value(), product_id, month});
      const std::int64_t after = (net == net_.end() ? 0 : net->second) + view.sign * volume;
      const std::int64_t size = after < 0 ? -after : after;
      if (size > limit) {
        return failure(TradeRefusal::position_limit_exceeded,
                       std::string("the ") + side_name(view.side) + "'s net position in " + month.substr(0, 7) +
                           " would be " + std::to_string(after) + " GPU-hours, over its limit of " +
                           std::to_string(limit),
                       view.member);
      }
      const auto interest = open_interest_.find(MonthKey{product_id, month});
      const std::int64_t open_interest = (interest == open_interest_.end() ? 0 : interest->second) + volume;
      if (open_interest >= policy.concentration_floor_gpu_hours &&
          static_cast<Int128>(size) * 10'000 > static_cast<Int128>(policy.concentration_share_bp) * open_interest) {
        return failure(TradeRefusal::concentration_limit_exceeded,
                       std::string("the ") + side_name(view.side) + " would hold more than " +
                           std::to_string(policy.concentration_share_bp / 100) + " % of the open interest in " +
                           month.substr(0, 7),
                       view.member);
      }
    }
  }
  return std::nullopt;
}

// Margin: each side's initial margin with its leg, side by side (the buyer's first), against its
// credit limit and its collateral, when the leg raises it.
Checked Book::margin_within_limits(const RegistrationPolicy& policy, const Trade& trade) const {
  (void)policy;
  Checked passed;
  std::size_t side_index = 0;
  for (const auto& view : sides_of(trade)) {
    const auto leg = leg_of(view.side, trade.terms.series_label.has_value(), trade.terms.delivery_start,
                            trade.terms.delivery_end, trade.terms.gpus, trade.terms.price.price_ticks);
    const margin::LegExposure exposure = margin::exposure_under(current_.model.get(), *current_.parameters,
                                                                trade.terms.product, leg, *clearing_calendar_);
    passed.legs[side_index++] = exposure;
    const auto state = margin_.find(view.member.value());
    CCH_CHECK(state != margin_.end(), "every member's margin state was loaded");
    const MemberMarginBook& book = state->second;
    const auto found = credit_.find(view.member.value());
    const Credit credit = found == credit_.end() ? Credit{} : found->second;
    std::int64_t before = book.initial_margin_cents;
    std::int64_t after = 0;
    if (book.margin) {
      const std::array<margin::LegExposure, 1> one = {exposure};
      // Most trades are far inside the member's limits: a bound of the figure with the leg, with
      // no pass over the scenarios, clears them (the figure is at most the bound, so the exact
      // rule below would clear them too). Only a trade the bound cannot clear takes the exact figure.
      if (credit.limit_minor) {
        const std::int64_t bound = book.margin->initial_margin_bound(one, *current_.move_ranges);
        if (bound <= *credit.limit_minor && bound <= credit.collateral_minor) continue;
      }
      before = book.margin->figures().initial_margin_cents;
      after = book.margin->with(one).initial_margin_cents;
    } else {
      after = margin::interim_only(book.position.interim_cents + exposure.interim_cents).initial_margin_cents;
    }
    if (after <= before) continue;  // it lowers the member's risk, or leaves it
    if (!credit.limit_minor || after > *credit.limit_minor) {
      return {failure(TradeRefusal::initial_margin_exceeds_credit_limit,
                      std::string("the ") + side_name(view.side) + "'s initial margin would be " +
                          format_amount(Money{after, Currency::usd()}) + " USD, over its credit limit" +
                          (credit.limit_minor ? "" : " (none is set)"),
                      view.member)};
    }
    if (after > credit.collateral_minor) {
      return {failure(TradeRefusal::insufficient_collateral,
                      std::string("the ") + side_name(view.side) + "'s initial margin would be " +
                          format_amount(Money{after, Currency::usd()}) +
                          " USD, more than its collateral (less withdrawals requested)",
                      view.member)};
    }
  }
  return passed;
}

void Book::apply(const Candidate& candidate, const Checked& checked) {
  assert(!checked.failure && "only a trade that passed its checks changes the book");
  const Trade& trade = candidate.trade;
  const std::int64_t product_id = trade.terms.product.value();
  for (const auto& slice : candidate.slices) {
    const std::int64_t volume = trade.terms.gpus * slice.hours;
    open_interest_[MonthKey{product_id, month_text(slice)}] += volume;
    for (const auto& view : sides_of(trade)) {
      net_[PositionKey{view.member.value(), product_id, month_text(slice)}] += view.sign * volume;
    }
  }
  std::size_t side_index = 0;
  for (const auto& view : sides_of(trade)) {
    MemberMarginBook& book = margin_.at(view.member.value());
    const margin::LegExposure& leg = checked.legs[side_index++];
    book.position.add(leg);
    if (book.margin) {
      // The tails are taken when the figure is next needed: by a check the bound cannot clear, or
      // once for the batch's written state (changed_margin_states).
      const std::array<margin::LegExposure, 1> one = {leg};
      book.margin->add(one, current_.move_ranges.get());
    } else {
      book.initial_margin_cents = margin::interim_only(book.position.interim_cents).initial_margin_cents;
    }
    ++book.legs;
    book.changed = true;
  }
}

std::vector<MarginStateRow> Book::changed_margin_states() const {
  std::vector<MarginStateRow> rows;
  for (const auto& [member, book] : margin_) {
    if (!book.changed) continue;
    rows.push_back(MarginStateRow{
        member, current_.model ? std::optional<std::int64_t>(current_.model->record.model_id) : std::nullopt,
        current_.model ? std::optional<BusinessDate>(current_.model->record.business_date) : std::nullopt,
        book.position, book.legs,
        book.margin ? book.margin->figures().initial_margin_cents : book.initial_margin_cents});
  }
  return rows;
}

// ---- novation -------------------------------------------------------------------------------

std::vector<TradeId> allocate_trade_ids(pqxx::transaction_base& tx, std::size_t count) {
  std::vector<TradeId> ids;
  ids.reserve(count);
  // The sequence by its name, resolved once when the statement is parsed; looked up with
  // pg_get_serial_sequence, it was resolved again for every id drawn (a catalog scan each, about
  // nine times the cost of the nextval itself).
  for (const auto& row : db::exec_cached(tx,
           "SELECT nextval('cch.trade_trade_id_seq') FROM generate_series(1, $1)",
           static_cast<std::int64_t>(count))) {
    ids.emplace_back(row[0].as<std::int64_t>());
  }
  return ids;
}

FeeJournals plan_fees(pqxx::transaction_base& tx, std::span<Clearing> clearings, UtcTimestamp now) {
  const Currency usd = Currency::usd();
  // Each side pays fee x GPU-hours to the clearinghouse's fee income. The trades novated together
  // share one journal: each member's fees summed into one debit, the fee income credited with the
  // total (sql/migrations/0012). A journal holds at most kPostingsPerJournalMax lines, so past
  // that many members the trades go on into a further journal.
  struct Draft {
    std::map<std::int64_t, std::int64_t> fees_minor;  // member -> its fees in this journal
    std::int64_t total_minor = 0;
    std::vector<Trade*> trades;
  };
  std::vector<Draft> planned;
  for (auto& clearing : clearings) {
    Trade& trade = *clearing.trade;
    const auto fee =
        notional(clearing.product->fee_per_gpu_hour, GpuHours{trade.gpu_hours}, Rounding::half_away_from_zero);
    CCH_CHECK(fee.has_value(), "a clearing fee is bounded by the product's fee and the trade's size");
    trade.clearing_fee = fee ? *fee : Money::zero(usd);
    trade.fee_journal.reset();
    if (trade.clearing_fee->amount_minor == 0) continue;
    const auto new_members = [&](const Draft& draft) {
      return std::size_t{!draft.fees_minor.contains(trade.terms.buyer.value())} +
             std::size_t{!draft.fees_minor.contains(trade.terms.seller.value())};
    };
    if (planned.empty() ||
        planned.back().fees_minor.size() + new_members(planned.back()) + 1 > ledger::kPostingsPerJournalMax) {
      planned.emplace_back();
    }
    Draft& draft = planned.back();
    draft.fees_minor[trade.terms.buyer.value()] += trade.clearing_fee->amount_minor;
    draft.fees_minor[trade.terms.seller.value()] += trade.clearing_fee->amount_minor;
    draft.total_minor += 2 * trade.clearing_fee->amount_minor;
    draft.trades.push_back(&trade);
  }
  FeeJournals journals;
  if (planned.empty()) return journals;

  // The request that caused the journals: the one all the trades came with (a venue batch, one
  // affirmation); none for a group of affirmations from several requests.
  std::optional<RequestId> request_id = clearings.front().request_id;
  for (const auto& clearing : clearings) {
    if (clearing.request_id != request_id) request_id.reset();
  }
  std::map<std::int64_t, AccountId> fee_account;
  const auto account = [&](std::int64_t member) {
    auto found = fee_account.find(member);
    if (found == fee_account.end()) {
      found =
          fee_account.emplace(member, ledger::open_member_account(tx, MemberId(member), ledger::AccountKind::fees, usd))
              .first;
    }
    return found->second;
  };
  const AccountId fee_income = ledger::open_house_account(tx, ledger::AccountKind::fee_income, usd);
  const auto ids = ledger::allocate_journal_ids(tx, planned.size());
  for (std::size_t d = 0; d < planned.size(); ++d) {
    const Draft& draft = planned[d];
    // A trade is novated once, so the first trade's id names the journal for good.
    const std::string first = draft.trades.front()->trade_id.to_string();
    ledger::JournalDraft journal;
    journal.idempotency_key = "clearing-fee:novation:" + first;
    journal.business_date = BusinessDate::containing(now);
    journal.kind = ledger::JournalKind::clearing_fee;
    journal.cause = ledger::Cause{ledger::CauseKind::trade, first};
    journal.request_id = request_id;
    journal.memo = draft.trades.size() == 1 ? "clearing fees of trade " + first
                                            : "clearing fees of " + std::to_string(draft.trades.size()) +
                                                  " trades, from trade " + first + " to trade " +
                                                  draft.trades.back()->trade_id.to_string();
    for (const auto& [member, fees_minor] : draft.fees_minor) {
      journal.postings.push_back({account(member), Money{fees_minor, usd}});
    }
    journal.postings.push_back({fee_income, Money{-draft.total_minor, usd}});
    journal.journal_id = ids[d];
    for (Trade* trade : draft.trades) trade->fee_journal = ids[d];
    journals.drafts.push_back(std::move(journal));
  }
  // The drafts' look-ups (their keys, which name trades novated only now, and their accounts)
  // are done here, before a venue batch written first takes the members' locks.
  journals.prepared = ledger::prepare_batch(tx, journals.drafts);
  return journals;
}

namespace {

// The outbox event of a cleared trade, written as text directly: every value is an id, a count,
// a timestamp or a price that this code formats (digits, '-', ':', '.', 'T', 'Z'), so nothing
// needs escaping, and a JSON document built and dumped per trade cost a good part of the
// registry's time under a venue's batches. PostgreSQL parses it into the jsonb column.
std::string cleared_payload(const Trade& trade, const std::string& cleared_at) {
  std::string payload;
  payload.reserve(320);
  const auto field = [&](std::string_view key, const std::string& value, bool quoted) {
    assert(value.find_first_of("\"\\") == std::string::npos && "a formatted value needs no escaping");
    payload += payload.empty() ? "{\"" : ",\"";
    payload += key;
    payload += quoted ? "\":\"" : "\":";
    payload += value;
    if (quoted) payload += '"';
  };
  field("trade_id", trade.trade_id.to_string(), true);
  field("product_id", trade.terms.product.to_string(), true);
  field("buyer_member_id", trade.terms.buyer.to_string(), true);
  field("seller_member_id", trade.terms.seller.to_string(), true);
  field("delivery_start", trade.terms.delivery_start.format(), true);
  field("delivery_end", trade.terms.delivery_end.format(), true);
  field("gpus", std::to_string(trade.terms.gpus), false);
  field("price", trade.terms.price.format(), true);
  field("gpu_hours", std::to_string(trade.gpu_hours), false);
  field("cleared_at", cleared_at, true);
  payload += '}';
  return payload;
}

}  // namespace

void write_cleared(pqxx::transaction_base& tx, std::span<Clearing> clearings, UtcTimestamp now) {
  if (clearings.empty()) return;
  const std::string now_text = now.format();
  std::vector<std::int64_t> updated;
  std::vector<std::optional<std::string>> updated_references, updated_journals;
  std::vector<std::int64_t> updated_fees, new_fees;
  std::vector<std::int64_t> new_ids, new_products, new_buyers, new_sellers, new_gpus, new_prices, new_hours,
      new_notionals, new_venues;
  std::vector<std::optional<std::string>> new_series, new_journals;
  std::vector<std::string> new_starts, new_ends, new_references, new_submitted_at, new_submitted_by, new_expires;
  std::vector<std::int64_t> event_trades;
  std::vector<std::optional<std::string>> event_members, event_from, event_requests;
  std::vector<std::string> event_actions, event_actors, payloads;
  for (auto& clearing : clearings) {
    Trade& trade = *clearing.trade;
    CCH_CHECK(trade.clearing_fee.has_value(), "plan_fees ran first: a cleared trade records its fee");
    const auto journal =
        trade.fee_journal ? std::optional<std::string>(trade.fee_journal->to_string()) : std::nullopt;
    if (clearing.new_row) {
      assert(trade.venue && "a new row is a venue's trade");
      new_ids.push_back(trade.trade_id.value());
      new_products.push_back(trade.terms.product.value());
      new_series.push_back(trade.terms.series_label);
      new_buyers.push_back(trade.terms.buyer.value());
      new_sellers.push_back(trade.terms.seller.value());
      new_starts.push_back(trade.terms.delivery_start.format());
      new_ends.push_back(trade.terms.delivery_end.format());
      new_gpus.push_back(trade.terms.gpus);
      new_prices.push_back(trade.terms.price.price_ticks);
      new_hours.push_back(trade.gpu_hours);
      new_notionals.push_back(trade.notional.amount_minor);
      new_venues.push_back(*trade.venue);
      new_references.push_back(trade.submitter_reference);
      new_submitted_at.push_back(trade.submitted_at.format());
      new_submitted_by.push_back(trade.submitted_by);
      new_expires.push_back(trade.expires_at.format());
      new_journals.push_back(journal);
      new_fees.push_back(trade.clearing_fee->amount_minor);
    } else {
      updated.push_back(trade.trade_id.value());
      updated_references.push_back(trade.counterparty_reference);
      updated_journals.push_back(journal);
      updated_fees.push_back(trade.clearing_fee->amount_minor);
    }
    event_trades.push_back(trade.trade_id.value());
    event_actions.emplace_back(clearing.new_row ? "register" : "affirm");
    event_actors.push_back(clearing.actor);
    const auto member = optional_id(clearing.actor_member);
    event_members.push_back(member ? std::optional<std::string>(std::to_string(*member)) : std::nullopt);
    // A venue's trade is registered cleared: its event has no state before.
    event_from.push_back(clearing.new_row ? std::nullopt : std::optional<std::string>("pending_affirmation"));
    event_requests.push_back(clearing.request_id ? std::optional<std::string>(clearing.request_id->value())
                                                 : std::nullopt);
    trade.state = TradeState::cleared;
    trade.decided_at = now;
    trade.last_refusal.reset();
    trade.last_refused_member.reset();
    payloads.push_back(cleared_payload(trade, now_text));
  }
  // Data-modifying CTEs each run once; the foreign keys are checked at the statement's end, when
  // the trades inserted here exist (the one to the fee journal at the commit). Each cleared
  // trade's two legs are made from its row as this statement writes it (the rows the UPDATE and
  // the INSERT return), so the legs' terms are not sent twice.
  db::exec_cached(tx,
      "WITH updated AS ("
      "  UPDATE cch.trade t SET state = 'cleared', decided_at = $1::timestamptz, last_refusal = NULL, "
      "  last_refused_member_id = NULL, counterparty_reference = x.reference, fee_journal_id = x.journal, "
      "  clearing_fee_minor = x.fee FROM unnest($2::bigint[], $3::text[], $4::bigint[], $5::bigint[]) "
      "  AS x (trade_id, reference, journal, fee) WHERE t.trade_id = x.trade_id "
      "  RETURNING t.trade_id, t.buyer_member_id, t.seller_member_id, t.product_id, t.delivery_start, "
      "  t.delivery_end, t.gpus, t.price_ticks, t.series_label), "
      "inserted AS ("
      "  INSERT INTO cch.trade (trade_id, product_id, series_label, buyer_member_id, seller_member_id, "
      "  delivery_start, delivery_end, gpus, price_ticks, gpu_hours, notional_minor, venue_principal_id, "
      "  submitter_reference, submitted_at, submitted_by, expires_at, fee_journal_id, clearing_fee_minor, state, "
      "  decided_at) OVERRIDING SYSTEM VALUE SELECT x.*, 'cleared', $1::timestamptz FROM unnest($6::bigint[], "
      "  $7::bigint[], $8::text[], $9::bigint[], $10::bigint[], $11::timestamptz[], $12::timestamptz[], $13::bigint[], "
      "  $14::bigint[], $15::bigint[], $16::bigint[], $17::bigint[], $18::text[], $19::timestamptz[], $20::text[], "
      "  $21::timestamptz[], $22::bigint[], $23::bigint[]) AS x "
      "  RETURNING trade_id, buyer_member_id, seller_member_id, product_id, delivery_start, delivery_end, gpus, "
      "  price_ticks, series_label), "
      "legs AS ("
      "  INSERT INTO cch.trade_leg (trade_id, member_id, side, product_id, delivery_start, delivery_end, gpus, "
      "  price_ticks, future, cleared_at) SELECT c.trade_id, "
      "  CASE s.side WHEN 'buy' THEN c.buyer_member_id ELSE c.seller_member_id END, s.side, c.product_id, "
      "  c.delivery_start, c.delivery_end, c.gpus, c.price_ticks, c.series_label IS NOT NULL, $1::timestamptz "
      "  FROM (SELECT * FROM updated UNION ALL SELECT * FROM inserted) AS c "
      "  CROSS JOIN (VALUES ('buy'), ('sell')) AS s (side)), "
      "events AS ("
      "  INSERT INTO cch.trade_event (trade_id, event_sequence, action, actor, actor_member_id, from_state, "
      "  to_state, request_id) SELECT x.trade_id, COALESCE((SELECT max(event_sequence) FROM cch.trade_event v "
      "  WHERE v.trade_id = x.trade_id), 0) + 1, x.action, x.actor, x.member, x.from_state, 'cleared', x.request_id "
      "  FROM unnest($24::bigint[], $25::text[], $26::text[], $27::bigint[], $28::text[], $29::text[]) "
      "  AS x (trade_id, action, actor, member, from_state, request_id)), "
      "outbox AS ("
      "  INSERT INTO cch.outbox (topic, aggregate_id, payload) "
      "  SELECT 'trade.cleared', x.trade_id, x.payload::jsonb FROM unnest($24::bigint[], $30::text[]) "
      "  WITH ORDINALITY AS x (trade_id, payload, n) ORDER BY x.n) "
      "SELECT (SELECT count(*) FROM updated), (SELECT count(*) FROM inserted)",
      now_text, db::integer_array(updated), db::nullable_text_array(updated_references),
      db::nullable_text_array(updated_journals), db::integer_array(updated_fees), db::integer_array(new_ids),
      db::integer_array(new_products), db::nullable_text_array(new_series), db::integer_array(new_buyers),
      db::integer_array(new_sellers), db::text_array(new_starts), db::text_array(new_ends), db::integer_array(new_gpus),
      db::integer_array(new_prices), db::integer_array(new_hours), db::integer_array(new_notionals),
      db::integer_array(new_venues), db::text_array(new_references), db::text_array(new_submitted_at),
      db::text_array(new_submitted_by), db::text_array(new_expires), db::nullable_text_array(new_journals),
      db::integer_array(new_fees), db::integer_array(event_trades),
      db::text_array(event_actions), db::text_array(event_actors), db::nullable_text_array(event_members),
      db::nullable_text_array(event_from), db::nullable_text_array(event_requests), db::text_array(payloads));
}

void apply_to_books(pqxx::transaction_base& tx, std::span<const Clearing> clearings, const Book& book,
                    UtcTimestamp now) {
  if (clearings.empty()) return;
  // Positions are summed first: one row may change only once per statement.
  std::map<std::tuple<std::int64_t, std::int64_t, std::string>, std::pair<std::int64_t, std::int64_t>> volume;
  for (const auto& clearing : clearings) {
    const Trade& trade = *clearing.trade;
    for (const auto& view : sides_of(trade)) {
      for (const auto& slice : *clearing.slices) {
        auto& [bought, sold] = volume[{view.member.value(), trade.terms.product.value(), month_text(slice)}];
        (view.side == Side::buy ? bought : sold) += trade.terms.gpus * slice.hours;
      }
    }
  }
  std::vector<std::int64_t> position_members, position_products, bought, sold;
  std::vector<std::string> position_months;
  for (const auto& [key, change] : volume) {
    position_members.push_back(std::get<0>(key));
    position_products.push_back(std::get<1>(key));
    position_months.push_back(std::get<2>(key));
    bought.push_back(change.first);
    sold.push_back(change.second);
  }
  db::exec_cached(tx,
      "INSERT INTO cch.position AS p (member_id, product_id, delivery_month, net_gpu_hours, bought_gpu_hours, "
      "sold_gpu_hours, updated_at) SELECT m, pr, d, b - s, b, s, $1::timestamptz "
      "FROM unnest($2::bigint[], $3::bigint[], $4::date[], $5::bigint[], $6::bigint[]) AS x (m, pr, d, b, s) "
      "ON CONFLICT (member_id, product_id, delivery_month) DO UPDATE SET "
      "net_gpu_hours = p.net_gpu_hours + EXCLUDED.net_gpu_hours, "
      "bought_gpu_hours = p.bought_gpu_hours + EXCLUDED.bought_gpu_hours, "
      "sold_gpu_hours = p.sold_gpu_hours + EXCLUDED.sold_gpu_hours, updated_at = EXCLUDED.updated_at",
      now.format(), db::integer_array(position_members), db::integer_array(position_products),
      db::text_array(position_months), db::integer_array(bought), db::integer_array(sold));
  write_margin_states(tx, book.changed_margin_states(), now);
}

void post_fees(pqxx::transaction_base& tx, FeeJournals journals) {
  if (journals.drafts.empty()) return;
  CCH_CHECK(journals.prepared.has_value(), "plan_fees prepared the drafts");
  const auto posted = ledger::post_prepared(tx, std::move(*journals.prepared));
  for (const auto& result : posted) {
    // The one refusal a fee journal built from checked trades can meet: the ledger's bounds.
    if (!result && (result.error() == ledger::PostRefusal::balance_limit_exceeded ||
                    result.error() == ledger::PostRefusal::amount_too_large)) {
      throw FeesBeyondLedgerBound(std::string("clearing fees refused by the ledger: ") +
                                  std::string(ledger::to_string(result.error())));
    }
  }
  // Each journal's key names a trade novated only now, and its id was drawn for it: a fee the
  // trades record must be the fee the ledger holds.
  CCH_CHECK(posted.size() == journals.drafts.size() &&
                std::ranges::all_of(std::views::iota(std::size_t{0}, posted.size()),
                                    [&](std::size_t d) {
                                      return posted[d] && !posted[d]->replayed &&
                                             posted[d]->journal_id == journals.drafts[d].journal_id;
                                    }),
            "a clearing-fee journal is posted fresh under the id drawn for it");
}

void novate(pqxx::transaction_base& tx, std::span<Clearing> clearings, const Book& book, UtcTimestamp now) {
  if (clearings.empty()) return;
  FeeJournals journals = plan_fees(tx, clearings, now);
  write_cleared(tx, clearings, now);
  apply_to_books(tx, clearings, book, now);
  post_fees(tx, std::move(journals));
}

}  // namespace cch::registry::clearing

namespace cch::registry {

MarginUsed current_margin_used(pqxx::transaction_base& tx, const RegistrationPolicy& policy, MemberId member,
                               UtcTimestamp now) {
  clearing::Book book = clearing::Book::lock(tx, {member.value()});
  if (!book.has_member(member)) return margin_used(tx, member);
  const std::vector<std::int64_t> one = {member.value()};
  book.load_margin_states(tx, policy, one, now);
  return margin_used(tx, member);
}

}  // namespace cch::registry
