#pragma once
// The api's reads of initial margin (private to libs/api): parameter versions, models, the
// member-replicable scenario file, runs, members' figures and their history, stress results and
// Cover-2, backtests, the risk officers' report, straight from PostgreSQL through
// libs/margin_store and verified through libs/risk; and margin calls, through libs/settlement
// (docs/margin.md, "Through the API"). The JSON and CSV forms are libs/risk_routes'
// (margin_routes.hpp) and, for margin calls, libs/settlement's (routes.hpp).

#include "api_impl.hpp"

namespace cch::api {

// Page maxima: parameter versions and models name their inputs (a few KiB each).
inline constexpr std::size_t kMarginParametersPageMax = 100;
inline constexpr std::size_t kMarginModelsPageMax = 100;
// A run's members: 1,000 a page in JSON, 10,000 in CSV (a line each, about 250 bytes).
inline constexpr std::size_t kRunMembersCsvPageMax = 10'000;
// The risk report's ranking: the largest margins first, 100 by default, at most 1,000 (the
// totals count every member whatever the ranking shows).
inline constexpr std::size_t kMarginReportRankingMax = 1'000;

http::Response margin_parameters(Api& api, pqxx::transaction_base& tx, const http::Request& request,
                                 const access::Principal& principal);
http::Response margin_parameter_version(Api& api, pqxx::transaction_base& tx, const http::Request& request,
                                        const access::Principal& principal);
http::Response margin_models(Api& api, pqxx::transaction_base& tx, const http::Request& request,
                             const access::Principal& principal);
http::Response margin_model(Api& api, pqxx::transaction_base& tx, const http::Request& request,
                            const access::Principal& principal);
http::Response margin_model_scenarios(Api& api, pqxx::transaction_base& tx, const http::Request& request,
                                      const access::Principal& principal);
http::Response margin_model_verification(Api& api, pqxx::transaction_base& tx, const http::Request& request,
                                         const access::Principal& principal);
http::Response margin_runs(Api& api, pqxx::transaction_base& tx, const http::Request& request,
                           const access::Principal& principal);
http::Response margin_run(Api& api, pqxx::transaction_base& tx, const http::Request& request,
                          const access::Principal& principal);
http::Response margin_run_members(Api& api, pqxx::transaction_base& tx, const http::Request& request,
                                  const access::Principal& principal);
http::Response margin_run_verification(Api& api, pqxx::transaction_base& tx, const http::Request& request,
                                       const access::Principal& principal);
http::Response member_margin(Api& api, pqxx::transaction_base& tx, const http::Request& request,
                             const access::Principal& principal);
http::Response member_margin_history(Api& api, pqxx::transaction_base& tx, const http::Request& request,
                                     const access::Principal& principal);
// Stress results and Cover-2 of a run, backtests, a member's backtest, the risk officers' report.
http::Response margin_run_stress(Api& api, pqxx::transaction_base& tx, const http::Request& request,
                                 const access::Principal& principal);
http::Response margin_backtests(Api& api, pqxx::transaction_base& tx, const http::Request& request,
                                const access::Principal& principal);
http::Response margin_backtest(Api& api, pqxx::transaction_base& tx, const http::Request& request,
                               const access::Principal& principal);
http::Response member_margin_backtest(Api& api, pqxx::transaction_base& tx, const http::Request& request,
                                      const access::Principal& principal);
http::Response margin_report(Api& api, pqxx::transaction_base& tx, const http::Request& request,
                             const access::Principal& principal);

// Margin calls (settlement's cch.margin_call, through cch/settlement/margin_calls.hpp), newest
// first (by call id), a page at a time, ?state=issued|met|overdue|superseded: a member's own
// (the path's member), or every member's (staff; ?member_id= for one); and one call. JSON, or CSV
// (format=csv or Accept: text/csv; a list's next page's cursor in the header X-Next-Cursor).
inline constexpr std::size_t kMarginCallsPageMax = 500;

http::Response member_margin_calls(Api& api, pqxx::transaction_base& tx, const http::Request& request,
                                   const access::Principal& principal);
http::Response margin_calls(Api& api, pqxx::transaction_base& tx, const http::Request& request,
                            const access::Principal& principal);
http::Response margin_call(Api& api, pqxx::transaction_base& tx, const http::Request& request,
                           const access::Principal& principal);

}  // namespace cch::api
