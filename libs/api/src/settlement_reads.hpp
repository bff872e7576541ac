#pragma once
// The api's reads of daily settlement (private to libs/api), straight from PostgreSQL through
// libs/settlement (runs.hpp; docs/settlement.md "Through the API"); the JSON and CSV forms are
// libs/settlement's (routes.hpp).
//   GET /v1/settlement/runs                         staff: runs, newest first, with their steps
//   GET /v1/settlement/runs/{run_id}                staff: one run, each step's duration and counts
//   GET /v1/settlement/runs/{run_id}/members        staff: every member's variation margin (JSON, CSV)
//   GET /v1/members/{member_id}/variation-margin    a member's figures per run, newest first (JSON, CSV)
//   GET /v1/members/{member_id}/variation-margin/{run_id}   the member's figures in a run, per
//       product and kind, and a page of its legs' contributions (?cursor: the last trade id seen)
#include "api_impl.hpp"

namespace cch::api {

inline constexpr std::size_t kSettlementRunsPageMax = 100;
inline constexpr std::size_t kRunMembersVariationMarginCsvPageMax = 10'000;
inline constexpr std::size_t kVariationMarginLegsPageMax = 1'000;
inline constexpr std::size_t kRunDeliveriesCsvPageMax = 10'000;
inline constexpr std::size_t kStatementSummariesPageMax = 100;

http::Response settlement_runs(Api& api, pqxx::transaction_base& tx, const http::Request& request,
                               const access::Principal& principal);
http::Response settlement_run(Api& api, pqxx::transaction_base& tx, const http::Request& request,
                              const access::Principal& principal);
http::Response settlement_run_members(Api& api, pqxx::transaction_base& tx, const http::Request& request,
                                      const access::Principal& principal);
http::Response member_variation_margin(Api& api, pqxx::transaction_base& tx, const http::Request& request,
                                       const access::Principal& principal);
//   GET /v1/trades/{trade_id}/deliveries            the trade's parties and staff: each delivery day
//       (report, answer, decision, settlement) and how the trade was settled
//   GET /v1/settlement/runs/{run_id}/deliveries     staff: the trades a run settled (JSON, CSV;
//       ?cursor: the last trade id seen)
http::Response trade_deliveries(Api& api, pqxx::transaction_base& tx, const http::Request& request,
                                const access::Principal& principal);
http::Response settlement_run_deliveries(Api& api, pqxx::transaction_base& tx, const http::Request& request,
                                         const access::Principal& principal);
//   GET /v1/members/{member_id}/statements/{business_date}   the member, staff: its statement (JSON, CSV)
//   GET /v1/settlement/statements/{business_date}   staff: every member's summary of the date (JSON,
//       CSV; ?cursor: the last member id seen)
http::Response member_statement(Api& api, pqxx::transaction_base& tx, const http::Request& request,
                                const access::Principal& principal);
http::Response statement_summaries(Api& api, pqxx::transaction_base& tx, const http::Request& request,
                                   const access::Principal& principal);
http::Response member_run_variation_margin(Api& api, pqxx::transaction_base& tx, const http::Request& request,
                                           const access::Principal& principal);
//   GET /v1/products/{product_id}/settlement-price-fallbacks   staff: the product's approved
//       fallbacks, newest first (?cursor: the last fallback id seen)
inline constexpr std::size_t kPriceFallbacksPageMax = 100;
http::Response product_price_fallbacks(Api& api, pqxx::transaction_base& tx, const http::Request& request,
                                       const access::Principal& principal);

}  // namespace cch::api
