#pragma once
// Every leg still open on a business date, read by COPY: what the marks and the margin runs
// value. A leg is open on D when its delivery window ends after 00:00 UTC of D + 1 (the curves'
// first day). A leg of a listed series is a future; any other a bilateral forward, paid on
// pricing::forward_payment_date.
#include <cstdint>
#include <functional>
#include <optional>
#include <span>

#include <pqxx/transaction_base>

#include "cch/core/calendar.hpp"
#include "cch/core/ids.hpp"
#include "cch/core/time.hpp"
#include "cch/pricing/marks.hpp"

namespace cch::risk {

struct OpenLeg {
  MemberId member;
  ProductId product;
  pricing::Leg leg;  // leg_id is the trade id
};

// Calls `each` for every open leg (of `members` only, when given; of trades cleared before
// `cleared_before` only, when given), in no particular order.
void for_each_open_leg(pqxx::transaction_base& tx, BusinessDate as_of, const BusinessCalendar& clearing_calendar,
                       std::optional<std::span<const MemberId>> members, const std::function<void(const OpenLeg&)>& each,
                       std::optional<UtcTimestamp> cleared_before = std::nullopt);

}  // namespace cch::risk
