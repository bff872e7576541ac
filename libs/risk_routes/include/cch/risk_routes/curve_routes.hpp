#pragma once
// The risk service's internal routes for curve sets and marks (reached only through the api),
// and the JSON form of curve sets and marks, which the api's reads share.
//
//   POST /internal/v1/curve-sets                         operator or risk officer
//        {"business_date"}  -> 201 a new version of the date's curve set, or 200 the latest when
//        the inputs give the same curves (risk::build_curve_set)
//   POST /internal/v1/curve-sets/{curve_set_id}/mark-run  operator or risk officer
//        {} -> 201 the marks of every open leg against the curve set, or 200 the run stored
// With risk.mark_built_curve_sets (the default), a new curve set's event "curve_set.built" wakes
// the service's own outbox consumer "risk_marks"
// (runtime/outbox.hpp), which runs the curve set's mark run in the batch's transaction: marks
// follow every curve set without anyone asking, exactly once in effect (the run is once per
// curve set, and it commits with the consumer's cursor). A run the pricing library refuses
// (leg_refused) is logged (mark_run_refused) and passed over; POST .../mark-run shows why.
//
// Refusals: 404 unknown_curve_set; 422 not_a_business_date, business_date_in_future,
// no_ois_quotes, no_settlement_prices, curve_failed (the detail names the product or tenor and
// the pricing library's rule), leg_refused.
//
// Thread safety: handlers are called concurrently; they share only the pool.

#include "cch/http/message.hpp"
#include "cch/http/router.hpp"
#include "cch/risk/curve_sets.hpp"
#include "cch/risk/marks.hpp"
#include "cch/runtime/outbox.hpp"
#include "cch/runtime/service.hpp"

#include <nlohmann/json.hpp>

namespace cch::risk {

// The most daily points one forward-curve answer holds.
inline constexpr std::int64_t kForwardPointsMax = 3660;

nlohmann::json curve_set_json(const CurveSetRecord& record);
// The record with its discount curve (nodes, with the continuously compounded zero rate on an
// Actual/365 Fixed basis) and its forward curves' spans.
nlohmann::json curve_set_detail_json(const CurveSetRecord& record, const pricing::CurveSet& curves);
// The daily points of one forward curve in [from, to] (clipped to the curve).
nlohmann::json forward_curve_json(const CurveSetRecord& record, ProductId product, const pricing::ForwardCurve& curve,
                                  BusinessDate from, BusinessDate to);
nlohmann::json mark_run_json(const MarkRun& run);
nlohmann::json member_marks_json(const CurveSetRecord& record, MemberId member, const std::vector<MemberMark>& marks);
nlohmann::json verification_json(const Verification& verification);

http::Response curve_set_refusal(const CurveSetError& error);

// `notifier` (may be null) is told of each new curve set's committed event.
http::Response build_curve_set_command(runtime::ServiceContext& context, const http::Request& request,
                                       runtime::OutboxNotifier* notifier = nullptr);
http::Response mark_run_command(runtime::ServiceContext& context, const http::Request& request);

// The outbox consumer's handler: the mark run of each curve set in `events` (curve_set.built).
void mark_built_curve_sets(pqxx::transaction_base& tx, std::span<const runtime::OutboxEvent> events,
                           const BusinessCalendar& clearing_calendar);

// Adds the routes, and to context.tasks the outbox notifier and the risk_marks consumer (kept in
// context.routes_state).
void add_curve_routes(http::Router& router, runtime::ServiceContext& context);

}  // namespace cch::risk
