#include "cch/risk/marks.hpp"

#include "cch/core/check.hpp"
#include "cch/core/decimal.hpp"
#include "cch/core/money.hpp"
#include "cch/db/array.hpp"
#include "cch/db/prepared.hpp"
#include "cch/db/row.hpp"
#include "cch/pricing/marks.hpp"
#include "cch/risk/curve_sets.hpp"
#include "open_legs.hpp"

#include <pqxx/result>
#include <pqxx/stream_to>

#include <array>
#include <charconv>
#include <map>
#include <tuple>
#include <unordered_map>

namespace cch::risk {
namespace {

MarkRun run_from(const pqxx::row& row) {
  MarkRun run;
  run.curve_set_id = row[0].as<std::int64_t>();
  run.business_date = BusinessDate::parse(row[1].as<std::string>()).value();
  run.legs_marked = row[2].as<std::int64_t>();
  run.legs_unmarked = row[3].as<std::int64_t>();
  auto parser = row[4].as_array();
  for (auto item = parser.get_next(); item.first != pqxx::array_parser::done; item = parser.get_next()) {
    if (item.first == pqxx::array_parser::string_value) run.unmarked_products.emplace_back(std::stoll(item.second));
  }
  run.pv_total_minor = row[5].as<std::int64_t>();
  run.started_at = db::timestamp_of(row[6]);
  run.finished_at = db::timestamp_of(row[7]);
  return run;
}

struct SumKey {
  std::int64_t member;
  std::int64_t product;
  friend auto operator<=>(const SumKey&, const SumKey&) = default;
};
struct SumKeyHash {
  std::size_t operator()(const SumKey& key) const noexcept {
    return std::hash<std::int64_t>{}(key.member * 1'000'003 + key.product);
  }
};
struct Sum {
  std::int64_t legs = 0;
  Int128 gpu_hours = 0;
  Int128 pv_minor = 0;
};

}  // namespace

std::string_view to_string(MarkRefusal refusal) {
  switch (refusal) {
    case MarkRefusal::unknown_curve_set: return "unknown_curve_set";
    case MarkRefusal::leg_refused: return "leg_refused";
  }
  return "unknown";
}

std::optional<MarkRun> find_mark_run(pqxx::transaction_base& tx, std::int64_t curve_set_id) {
  const auto rows = db::exec_cached(
      tx,
      "SELECT curve_set_id, business_date::text, legs_marked, legs_unmarked, unmarked_products, pv_total_minor::bigint, "
      "(extract(epoch FROM started_at) * 1000000)::bigint, (extract(epoch FROM finished_at) * 1000000)::bigint "
      "FROM risk.mark_run WHERE curve_set_id = $1",
      curve_set_id);
  if (rows.empty()) return std::nullopt;
  return run_from(rows[0]);
}

std::optional<MarkRun> latest_mark_run(pqxx::transaction_base& tx) {
  const auto rows = db::exec_cached(tx,
                                    "SELECT r.curve_set_id FROM risk.mark_run r JOIN risk.curve_set c USING (curve_set_id) "
                                    "ORDER BY c.business_date DESC, c.version DESC LIMIT 1");
  if (rows.empty()) return std::nullopt;
  return find_mark_run(tx, rows[0][0].as<std::int64_t>());
}

Result<MarkedLegs, MarkError> mark_each_open_leg(pqxx::transaction_base& tx, const pricing::CurveSet& curves,
                                                 const BusinessCalendar& clearing_calendar,
                                                 std::optional<UtcTimestamp> cleared_before,
                                                 const std::function<void(const LegMarkValue&)>& each) {
  MarkedLegs marked;
  std::optional<MarkError> refused;
  for_each_open_leg(
      tx, curves.as_of, clearing_calendar, std::nullopt,
      [&](const OpenLeg& open) {
        if (refused) return;
        const auto curve = curves.forwards.find(open.product);
        if (curve == curves.forwards.end()) {
          ++marked.unmarked[open.product.value()];
          return;
        }
        const auto mark = pricing::mark_leg(open.leg, curves.as_of, curve->second, curves.discount);
        if (!mark) {
          refused = MarkError{MarkRefusal::leg_refused,
                              "trade " + std::to_string(open.leg.leg_id) + " " +
                                  (open.leg.side == pricing::Side::buy ? "buy" : "sell") + ": " +
                                  std::string(pricing::to_string(mark.error()))};
          return;
        }
        ++marked.marked;
        each(LegMarkValue{open.leg.leg_id, open.leg.side == pricing::Side::buy, open.member.value(),
                          open.product.value(), open.leg.kind == pricing::ContractKind::future,
                          open.leg.delivery_start, open.leg.delivery_end, *mark});
      },
      cleared_before);
  if (refused) return fail(std::move(*refused));
  return marked;
}

Result<MarkRunOutcome, MarkError> mark_open_legs(pqxx::transaction_base& tx, std::int64_t curve_set_id,
                                                 const BusinessCalendar& clearing_calendar) {
  // One marking per curve set at a time; the second answers the first's run.
  db::exec_cached(tx, "SELECT pg_advisory_xact_lock(8471, hashint8($1))", curve_set_id);
  if (auto existing = find_mark_run(tx, curve_set_id)) return MarkRunOutcome{std::move(*existing), false};
  const auto started_at = UtcTimestamp::now();
  const auto curves = load_curves(tx, curve_set_id);
  if (!curves) {
    return fail(MarkError{MarkRefusal::unknown_curve_set, "no curve set " + std::to_string(curve_set_id)});
  }
  const BusinessDate as_of = curves->as_of;

  // Every open leg, by COPY. The instant is formatted here (no parameters in COPY).
  // A leg's mark as its COPY row: doubles in their shortest exact text (std::to_chars), made once
  // here rather than by the stream's general conversion.
  struct Row {
    std::int64_t trade = 0;
    const char* side = "";
    std::int64_t member = 0;
    std::int64_t product = 0;
    const char* kind = "";
    std::int64_t gpu_hours = 0;
    std::array<char, 32> forward{};
    std::array<char, 32> factor{};
    std::int64_t pv = 0;
  };
  std::vector<Row> rows;
  std::unordered_map<SumKey, Sum, SumKeyHash> sums;
  Int128 total = 0;
  const auto marked = mark_each_open_leg(tx, *curves, clearing_calendar, std::nullopt, [&](const LegMarkValue& leg) {
    const pricing::LegMark& mark = leg.mark;
    Row& row = rows.emplace_back();
    row.trade = leg.trade_id;
    row.side = leg.buy ? "buy" : "sell";
    row.member = leg.member_id;
    row.product = leg.product_id;
    row.kind = leg.future ? "future" : "forward";
    row.gpu_hours = mark.gpu_hours;
    *std::to_chars(row.forward.data(), row.forward.data() + row.forward.size() - 1, mark.forward_price_usd).ptr = '\0';
    *std::to_chars(row.factor.data(), row.factor.data() + row.factor.size() - 1, mark.discount_factor).ptr = '\0';
    row.pv = mark.pv_minor;
    Sum& sum = sums[SumKey{leg.member_id, leg.product_id}];
    ++sum.legs;
    sum.gpu_hours += leg.buy ? mark.gpu_hours : -mark.gpu_hours;
    sum.pv_minor += mark.pv_minor;
    total += mark.pv_minor;
  });
  if (!marked) return fail(marked.error());
  const auto& unmarked = marked->unmarked;
  {
    pqxx::stream_to out(tx, "risk.leg_mark",
                        std::vector<std::string>{"curve_set_id", "trade_id", "side", "member_id", "product_id", "kind",
                                                 "gpu_hours", "forward_price_usd", "discount_factor", "pv_minor"});
    for (const Row& row : rows) {
      out << std::make_tuple(curve_set_id, row.trade, row.side, row.member, row.product, row.kind, row.gpu_hours,
                             static_cast<const char*>(row.forward.data()), static_cast<const char*>(row.factor.data()),
                             row.pv);
    }
    out.complete();
  }
  std::vector<std::int64_t> members, products, legs_count, hours, pvs;
  std::vector<std::pair<SumKey, Sum>> ordered(sums.begin(), sums.end());
  std::sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [key, sum] : ordered) {
    CCH_CHECK(sum.pv_minor <= kAmountMinorMax && sum.pv_minor >= -kAmountMinorMax &&
                  sum.gpu_hours <= INT64_MAX && sum.gpu_hours >= INT64_MIN,
              "a member's marks within the largest amount");
    members.push_back(key.member);
    products.push_back(key.product);
    legs_count.push_back(sum.legs);
    hours.push_back(static_cast<std::int64_t>(sum.gpu_hours));
    pvs.push_back(static_cast<std::int64_t>(sum.pv_minor));
  }
  db::exec_cached(tx,
                  "INSERT INTO risk.member_mark (curve_set_id, member_id, product_id, legs, gpu_hours, pv_minor) "
                  "SELECT $1, * FROM unnest($2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[])",
                  curve_set_id, db::integer_array(members), db::integer_array(products), db::integer_array(legs_count),
                  db::integer_array(hours), db::integer_array(pvs));
  // Both sides of every trade are marked: the clearinghouse's book is flat.
  CCH_CHECK(unmarked.empty() ? total == 0 : true, "the marks of a flat book sum to zero");
  std::vector<std::int64_t> unmarked_products;
  std::int64_t unmarked_legs = 0;
  for (const auto& [product, count] : unmarked) {
    unmarked_products.push_back(product);
    unmarked_legs += count;
  }
  db::exec_cached(tx,
                  "INSERT INTO risk.mark_run (curve_set_id, business_date, legs_marked, legs_unmarked, "
                  "unmarked_products, pv_total_minor, started_at) VALUES ($1, $2::date, $3, $4, $5::bigint[], $6, "
                  "$7::timestamptz)",
                  curve_set_id, as_of.format(), static_cast<std::int64_t>(rows.size()), unmarked_legs,
                  db::integer_array(unmarked_products), static_cast<std::int64_t>(total), started_at.format());
  return MarkRunOutcome{*find_mark_run(tx, curve_set_id), true};
}

std::vector<MemberMark> member_marks(pqxx::transaction_base& tx, std::int64_t curve_set_id,
                                     std::optional<MemberId> member) {
  std::optional<std::int64_t> member_id;
  if (member) member_id = member->value();
  std::vector<MemberMark> marks;
  for (const auto& row : db::exec_cached(tx,
                                         "SELECT member_id, product_id, legs, gpu_hours, pv_minor FROM risk.member_mark "
                                         "WHERE curve_set_id = $1 AND ($2::bigint IS NULL OR member_id = $2) "
                                         "ORDER BY member_id, product_id",
                                         curve_set_id, member_id)) {
    marks.push_back({MemberId(row[0].as<std::int64_t>()), ProductId(row[1].as<std::int64_t>()),
                     row[2].as<std::int64_t>(), row[3].as<std::int64_t>(), row[4].as<std::int64_t>()});
  }
  return marks;
}

std::vector<LegMarkRow> trade_marks(pqxx::transaction_base& tx, std::int64_t curve_set_id, TradeId trade) {
  std::vector<LegMarkRow> marks;
  for (const auto& row : db::exec_cached(tx,
                                         "SELECT trade_id, side, member_id, product_id, kind, gpu_hours, "
                                         "forward_price_usd, discount_factor, pv_minor FROM risk.leg_mark "
                                         "WHERE curve_set_id = $1 AND trade_id = $2 ORDER BY side",
                                         curve_set_id, trade.value())) {
    marks.push_back({TradeId(row[0].as<std::int64_t>()), row[1].as<std::string>(), MemberId(row[2].as<std::int64_t>()),
                     ProductId(row[3].as<std::int64_t>()), row[4].as<std::string>(), row[5].as<std::int64_t>(),
                     row[6].as<double>(), row[7].as<double>(), row[8].as<std::int64_t>()});
  }
  return marks;
}

}  // namespace cch::risk
