#include "open_legs.hpp"

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cch/core/check.hpp"
#include "cch/db/copy_fields.hpp"

#include <pqxx/stream_from>

namespace cch::risk {

void for_each_open_leg(pqxx::transaction_base& tx, BusinessDate as_of, const BusinessCalendar& clearing_calendar,
                       std::optional<std::span<const MemberId>> members, const std::function<void(const OpenLeg&)>& each,
                       std::optional<UtcTimestamp> cleared_before) {
  const BusinessDate first_day = as_of.add_days(1).value();
  std::string filter;
  if (members) {
    filter = " AND l.member_id IN (";
    for (std::size_t i = 0; i < members->size(); ++i) {
      if (i > 0) filter += ',';
      filter += std::to_string((*members)[i].value());  // integers: nothing to escape
    }
    filter += members->empty() ? "NULL)" : ")";
  }
  if (cleared_before) filter += " AND l.cleared_at < '" + cleared_before->format() + "'::timestamptz";
  // The instant is formatted here (COPY takes no parameters). The window's ends as microseconds
  // since the epoch through date_part's double, not extract's numeric (about 0.4 s of the server's
  // time on a million legs): exact, since a timestamp's microseconds (below 2^53 until the year
  // 2255) are a double exactly, and dividing by 10^6 and multiplying back errs by under a quarter
  // of a microsecond at that size, which the cast to bigint rounds away.
  pqxx::stream_from legs(tx,
                         "(SELECT l.trade_id, l.side, l.member_id, l.product_id, "
                         "(date_part('epoch', l.delivery_start) * 1000000)::bigint, "
                         "(date_part('epoch', l.delivery_end) * 1000000)::bigint, l.gpus, l.price_ticks, "
                         "l.future::int FROM cch.trade_leg l "
                         "WHERE l.delivery_end > '" +
                             first_day.start_of_day().format() + "'::timestamptz" + filter + ")");
  std::unordered_map<std::int64_t, BusinessDate> payment_of_end;  // few distinct window ends
  std::string line;
  while (legs.get_raw_line(line)) {
    db::CopyFields fields(line);
    const std::int64_t trade_id = fields.integer();
    const bool buy = fields.text() == "buy";
    const std::int64_t member_id = fields.integer();
    const std::int64_t product_id = fields.integer();
    const std::int64_t start = fields.integer();
    const std::int64_t end = fields.integer();
    const std::int64_t gpus = fields.integer();
    const std::int64_t price_ticks = fields.integer();
    const bool future = fields.integer() == 1;
    OpenLeg open{MemberId(member_id), ProductId(product_id),
                 pricing::Leg{.leg_id = trade_id,
                              .side = buy ? pricing::Side::buy : pricing::Side::sell,
                              .kind = future ? pricing::ContractKind::future : pricing::ContractKind::forward,
                              .delivery_start = UtcTimestamp::from_unix_microseconds(start).value(),
                              .delivery_end = UtcTimestamp::from_unix_microseconds(end).value(),
                              .gpus = gpus,
                              .price_ticks = price_ticks,
                              .payment_date = as_of}};
    if (!future) {
      auto found = payment_of_end.find(end);
      if (found == payment_of_end.end()) {
        found = payment_of_end.emplace(end, pricing::forward_payment_date(open.leg.delivery_end, as_of, clearing_calendar)).first;
      }
      open.leg.payment_date = found->second;
    }
    each(open);
  }
  legs.complete();
}

}  // namespace cch::risk
