#pragma once
// The risk service's internal routes for curve sets and marks (reached only through the api),
// and the JSON form of curve sets and marks, which the api's reads share.
//
//   POST /internal/v1/curve-sets                         operator or risk officer
//        {"business_date"}  -> 201 a new version of the date's curve set, or 200 the latest when
//        the inputs give the same curves (risk::build_curve_set)
//   POST /internal/v1/curve-sets/{curve_set_id}/mark-run  operator or risk officer
//        {} -> 201 the marks of every open leg against the curve set, or 200 the run stored
// Refusals: 404 unknown_curve_set; 422 not_a_business_date, business_date_in_future,
// no_ois_quotes, no_settlement_prices, curve_failed (the detail names the product or tenor and
// the pricing library's rule), leg_refused.
//
// Thread safety: handlers are called concurrently; they share only the pool.

#include "cch/http/message.hpp"
#include "cch/http/router.hpp"
#include "cch/risk/curve_sets.hpp"
#include "cch/risk/marks.hpp"
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

http::Response build_curve_set_command(runtime::ServiceContext& context, const http::Request& request);
http::Response mark_run_command(runtime::ServiceContext& context, const http::Request& request);

void add_curve_routes(http::Router& router, runtime::ServiceContext& context);

}  // namespace cch::risk
