#pragma once
// The risk service's internal routes for market data (reached only through the api, see
// cch/runtime/internal.hpp), and the JSON form of market data, which the api's reads share.
//
//   POST /internal/v1/market/ois-quotes          operator: a business date's SOFR OIS quotes
//        {"business_date", "quotes": [{"tenor": "3M", "rate": "0.04312500"}, ...],
//         "source", "publisher", "published_at", "correction_reason"?}
//   POST /internal/v1/market/settlement-prices   operator: a product's settlement prices
//        {"business_date", "product_id", "prices": [{"period": "2027-03", "price": "2.1450"}, ...],
//         "source", "publisher", "published_at", "correction_reason"?}
//   POST /internal/v1/market/index-fixings       operator: an index's fixing of a date
//        {"business_date", "index", "value": "2.0875", "source", "publisher", "published_at",
//         "correction_reason"?}
// Each answers 201 with the snapshot stored (a new version), or 200 with the latest version when
// the same data are entered again. Refusals are problem+json with market::MarketRefusal's reason:
// 404 unknown_product, 409 market_data_exists / nothing_to_correct, 422 otherwise; malformed
// fields are the BodyReader's 422s (a rate or price that is not a decimal string: invalid_rate /
// invalid_price; a tenor field absent from a quote: missing_tenor; a period label that names no
// period: unknown_period).
//
// Thread safety: handlers are called concurrently; they share only the pool.

#include "cch/http/message.hpp"
#include "cch/http/router.hpp"
#include "cch/market/market_data.hpp"
#include "cch/runtime/service.hpp"

#include <nlohmann/json.hpp>

#include <span>

namespace cch::risk {

// The most quotes or prices in one body (the market library's bounds).
inline constexpr std::size_t kMarketBodyItemsMax = market::kSettlementPricesMax;

nlohmann::json snapshot_json(const market::Snapshot& snapshot);
nlohmann::json ois_quotes_json(const market::OisQuotes& quotes);
nlohmann::json settlement_prices_json(const market::SettlementPrices& prices);
nlohmann::json index_fixing_json(const market::IndexFixing& fixing);
// A rate_e8 as the API writes it: a decimal fraction with 8 decimals ("0.04312500").
std::string format_rate(std::int64_t rate_e8);

http::Response market_refusal(const market::MarketError& error);

// Every product, as the market rules need them (registry::list_products, all pages).
std::vector<market::ProductTerms> product_terms(pqxx::transaction_base& tx);
// The rules as configured, today.
market::MarketRules configured_market_rules(const config::Config& config);

http::Response store_ois_quotes_command(runtime::ServiceContext& context, const http::Request& request);
http::Response store_settlement_prices_command(runtime::ServiceContext& context, const http::Request& request);
http::Response store_index_fixing_command(runtime::ServiceContext& context, const http::Request& request);

// Adds the risk service's routes (market data, then add_curve_routes and add_margin_routes). Throws std::invalid_argument when market.ois_required_tenors
// is not a list of tenors (the service then refuses to start).
void add_risk_routes(http::Router& router, runtime::ServiceContext& context);

}  // namespace cch::risk
