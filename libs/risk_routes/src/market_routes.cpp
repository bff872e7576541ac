// The risk service's internal routes for market data.
#include "cch/risk_routes/market_routes.hpp"

#include "cch/core/decimal.hpp"
#include "cch/http/json_input.hpp"
#include "cch/registry/catalog.hpp"
#include "cch/risk/curve_sets.hpp"
#include "cch/risk_routes/curve_routes.hpp"
#include "cch/risk_routes/margin_routes.hpp"
#include "cch/runtime/internal.hpp"

#include <algorithm>

namespace cch::risk {
namespace {

using access::Role;

template <class Handler>
http::Response operator_command(const http::Request& request, Handler&& handler) {
  const auto caller = runtime::internal_caller(request);
  if (!caller) return caller.error();
  if (caller->principal.role != Role::operator_) {
    return http::problem(403, "forbidden", "Forbidden", "only operators enter market data");
  }
  return handler(*caller);
}

std::optional<BusinessDate> date_field(http::BodyReader& body, std::string_view field) { return body.date(field); }

// source, publisher, published_at, correction_reason: the provenance every snapshot records.
std::optional<market::Provenance> provenance_fields(http::BodyReader& body, const runtime::InternalCaller& caller) {
  const auto source = body.text("source", market::kProvenanceTextMax);
  const auto publisher = body.text("publisher", market::kProvenanceTextMax);
  const auto published_text = body.text("published_at", 40);
  const auto reason = body.text("correction_reason", market::kCorrectionReasonMax, /*required=*/false);
  std::optional<UtcTimestamp> published_at;
  if (published_text) {
    const auto parsed = UtcTimestamp::parse(*published_text);
    if (parsed) {
      published_at = *parsed;
    } else {
      body.refuse("published_at", "must be an ISO 8601 UTC time, e.g. \"2026-12-01T17:00:00Z\"");
    }
  }
  if (!source || !publisher || !published_at) return std::nullopt;
  return market::Provenance{*source, *publisher, *published_at, caller.principal.name, caller.request_id.value(),
                            reason};
}

// An array field of 1..max objects.
const nlohmann::json* array_field(http::BodyReader& body, std::string_view field, std::size_t max) {
  const auto& json = body.json();
  const auto found = json.find(std::string(field));
  if (found == json.end() || found->is_null()) {
    (void)body.text(field, 1);  // the BodyReader's own missing_field refusal
    return nullptr;
  }
  if (!found->is_array() || found->empty() || found->size() > max) {
    body.refuse(field, "must be an array of 1 to " + std::to_string(max) + " objects");
    return nullptr;
  }
  return &*found;
}

http::Response stored_response(const market::Stored& stored, nlohmann::json json) {
  json["created"] = stored.created;
  return http::json_response(stored.created ? 201 : 200, json);
}

}  // namespace

std::string format_rate(std::int64_t rate_e8) { return format_scaled_decimal(rate_e8, market::kRateScale); }

nlohmann::json snapshot_json(const market::Snapshot& snapshot) {
  nlohmann::json json = {{"snapshot_id", std::to_string(snapshot.snapshot_id)},
                         {"kind", std::string(market::to_string(snapshot.kind))},
                         {"subject", snapshot.subject},
                         {"product_id", nullptr},
                         {"business_date", snapshot.business_date.format()},
                         {"version", snapshot.version},
                         {"correction_reason", nullptr},
                         {"source", snapshot.provenance.source},
                         {"publisher", snapshot.provenance.publisher},
                         {"published_at", snapshot.provenance.published_at.format()},
                         {"entered_at", snapshot.entered_at.format()},
                         {"entered_by", snapshot.provenance.entered_by},
                         {"request_id", nullptr},
                         {"content_hash", snapshot.content_hash}};
  if (snapshot.product) json["product_id"] = snapshot.product->to_string();
  if (snapshot.provenance.correction_reason) json["correction_reason"] = *snapshot.provenance.correction_reason;
  if (snapshot.provenance.request_id) json["request_id"] = *snapshot.provenance.request_id;
  return json;
}

nlohmann::json ois_quotes_json(const market::OisQuotes& quotes) {
  nlohmann::json items = nlohmann::json::array();
  for (const auto& quote : quotes.quotes) items.push_back({{"tenor", quote.tenor.text()}, {"rate", format_rate(quote.rate_e8)}});
  return {{"snapshot", snapshot_json(quotes.snapshot)}, {"quotes", std::move(items)}};
}

nlohmann::json settlement_prices_json(const market::SettlementPrices& prices) {
  nlohmann::json items = nlohmann::json::array();
  for (const auto& price : prices.prices) {
    items.push_back({{"period", price.period.label},
                     {"period_kind", std::string(to_string(price.period.kind))},
                     {"first_day", price.period.first_day.format()},
                     {"end_day", price.period.end_day.format()},
                     {"price", price.price.format()}});
  }
  return {{"snapshot", snapshot_json(prices.snapshot)}, {"price_unit", "USD per GPU-hour"}, {"prices", std::move(items)}};
}

nlohmann::json index_fixing_json(const market::IndexFixing& fixing) {
  return {{"snapshot", snapshot_json(fixing.snapshot)},
          {"index", fixing.snapshot.subject},
          {"business_date", fixing.snapshot.business_date.format()},
          {"value", fixing.value.format()},
          {"price_unit", "USD per GPU-hour"}};
}

http::Response market_refusal(const market::MarketError& error) {
  const std::string reason(market::to_string(error.refusal));
  switch (error.refusal) {
    case market::MarketRefusal::unknown_product:
      return http::problem(404, reason, "Unknown product", error.detail);
    case market::MarketRefusal::market_data_exists:
    case market::MarketRefusal::nothing_to_correct:
      return http::problem(409, reason, "Market data version conflict", error.detail);
    default: break;
  }
  return http::problem(422, reason, "Market data refused", error.detail);
}

std::vector<market::ProductTerms> product_terms(pqxx::transaction_base& tx) {
  std::vector<market::ProductTerms> terms;
  std::optional<ProductId> after;
  for (;;) {
    const auto page = registry::list_products(tx, after, 1000);
    for (const auto& product : page) {
      terms.push_back({product.product_id, product.spec.code, product.spec.tick_size_ticks, product.spec.cash_index});
    }
    if (page.size() < 1000) break;
    after = page.back().product_id;
  }
  return terms;
}

market::MarketRules configured_market_rules(const config::Config& config) {
  return market::market_rules(config.text("market.business_calendar"), config.text("market.ois_required_tenors"),
                              BusinessDate::containing(UtcTimestamp::now()));
}

http::Response store_ois_quotes_command(runtime::ServiceContext& context, const http::Request& request) {
  return operator_command(request, [&](const runtime::InternalCaller& caller) {
    auto body = http::BodyReader::open(
        request, {"business_date", "quotes", "source", "publisher", "published_at", "correction_reason"},
        {"snapshot_id", "version", "entered_at", "entered_by", "content_hash"});
    if (!body) return body.error();
    const auto date = date_field(*body, "business_date");
    const auto provenance = provenance_fields(*body, caller);
    std::vector<market::OisQuote> quotes;
    if (const auto* items = array_field(*body, "quotes", market::kOisQuotesMax)) {
      for (std::size_t i = 0; i < items->size(); ++i) {
        auto item = http::BodyReader::of((*items)[i], {"tenor", "rate"}, {});
        if (!item) return item.error();
        const auto& json = item->json();
        if (!json.contains("tenor") || json["tenor"].is_null()) {
          return http::field_problem("missing_tenor", "quotes[" + std::to_string(i) + "].tenor",
                                     "every OIS quote names its tenor");
        }
        const auto tenor_text = item->text("tenor", 4);
        const auto rate_text = item->decimal_text("rate");
        if (item->failed()) return item->failure();
        const auto tenor = market::parse_tenor(*tenor_text);
        if (!tenor) {
          return http::field_problem("invalid_tenor", "quotes[" + std::to_string(i) + "].tenor",
                                     "a tenor is a count and D, W, M or Y (\"3M\", \"2Y\"), at most 30 years");
        }
        const auto rate = parse_scaled_decimal(*rate_text, market::kRateScale);
        if (!rate) {
          return http::field_problem("invalid_rate", "quotes[" + std::to_string(i) + "].rate",
                                     "a rate is a decimal fraction with at most 8 decimals, e.g. \"0.04312500\"");
        }
        quotes.push_back({*tenor, *rate});
      }
    }
    if (body->failed()) return body->failure();
    const auto rules = configured_market_rules(context.config);
    return runtime::answer_command(context, request, caller, [&](pqxx::transaction_base& tx) {
      const auto stored = market::store_ois_quotes(tx, *date, quotes, *provenance, rules);
      if (!stored) return market_refusal(stored.error());
      const auto read = market::ois_quotes(tx, *date, stored->snapshot.version);
      return stored_response(*stored, ois_quotes_json(*read));
    });
  });
}

http::Response store_settlement_prices_command(runtime::ServiceContext& context, const http::Request& request) {
  return operator_command(request, [&](const runtime::InternalCaller& caller) {
    auto body = http::BodyReader::open(
        request, {"business_date", "product_id", "prices", "source", "publisher", "published_at", "correction_reason"},
        {"snapshot_id", "version", "entered_at", "entered_by", "content_hash"});
    if (!body) return body.error();
    const auto date = date_field(*body, "business_date");
    const auto product_id = body->id("product_id");
    const auto provenance = provenance_fields(*body, caller);
    std::vector<market::PeriodPrice> prices;
    if (const auto* items = array_field(*body, "prices", market::kSettlementPricesMax)) {
      for (std::size_t i = 0; i < items->size(); ++i) {
        auto item = http::BodyReader::of((*items)[i], {"period", "price"}, {"period_kind", "first_day", "end_day"});
        if (!item) return item.error();
        const auto label = item->text("period", 10);
        const auto price_text = item->decimal_text("price");
        if (item->failed()) return item->failure();
        const auto period = parse_period_label(*label);
        if (!period) {
          return http::field_problem("unknown_period", "prices[" + std::to_string(i) + "].period",
                                     "no period is called " + *label +
                                         " (a day 2027-03-01, week 2027-W09, month 2027-03, quarter 2027-Q1, year 2027)");
        }
        const auto price = PricePerGpuHour::parse(*price_text);
        if (!price) {
          return http::field_problem("invalid_price", "prices[" + std::to_string(i) + "].price",
                                     "a price in USD per GPU-hour with at most 4 decimals, e.g. \"2.1450\"");
        }
        prices.push_back({*period, *price});
      }
    }
    if (body->failed()) return body->failure();
    const auto rules = configured_market_rules(context.config);
    return runtime::answer_command(context, request, caller, [&](pqxx::transaction_base& tx) {
      const auto product = registry::find_product(tx, ProductId(*product_id));
      if (!product) {
        return market_refusal({market::MarketRefusal::unknown_product, "no product " + std::to_string(*product_id)});
      }
      const market::ProductTerms terms{product->product_id, product->spec.code, product->spec.tick_size_ticks,
                                       product->spec.cash_index};
      const auto stored =
          market::store_settlement_prices(tx, terms, *date, prices, *provenance, rules, forward_curve_consistency());
      if (!stored) return market_refusal(stored.error());
      const auto read = market::settlement_prices(tx, terms.product, *date, stored->snapshot.version);
      return stored_response(*stored, settlement_prices_json(*read));
    });
  });
}

http::Response store_index_fixing_command(runtime::ServiceContext& context, const http::Request& request) {
  return operator_command(request, [&](const runtime::InternalCaller& caller) {
    auto body = http::BodyReader::open(
        request, {"business_date", "index", "value", "source", "publisher", "published_at", "correction_reason"},
        {"snapshot_id", "version", "entered_at", "entered_by", "content_hash"});
    if (!body) return body.error();
    const auto date = date_field(*body, "business_date");
    const auto index = body->text("index", 64);
    const auto value_text = body->decimal_text("value");
    const auto provenance = provenance_fields(*body, caller);
    if (body->failed()) return body->failure();
    const auto value = PricePerGpuHour::parse(*value_text);
    if (!value) {
      return http::field_problem("invalid_price", "value", "an index value in USD per GPU-hour with at most 4 decimals");
    }
    const auto rules = configured_market_rules(context.config);
    return runtime::answer_command(context, request, caller, [&](pqxx::transaction_base& tx) {
      const auto products = product_terms(tx);
      const auto stored = market::store_index_fixing(tx, *index, *date, *value, *provenance, rules, products);
      if (!stored) return market_refusal(stored.error());
      const auto read = market::index_fixing(tx, *index, *date, stored->snapshot.version);
      return stored_response(*stored, index_fixing_json(*read));
    });
  });
}

void add_risk_routes(http::Router& router, runtime::ServiceContext& context) {
  (void)configured_market_rules(context.config);  // refuses a malformed market.ois_required_tenors now
  const std::string prefix(runtime::kInternalPrefix);
  router.add("POST", prefix + "/v1/market/ois-quotes",
             [&context](const http::Request& request) { return store_ois_quotes_command(context, request); });
  router.add("POST", prefix + "/v1/market/settlement-prices",
             [&context](const http::Request& request) { return store_settlement_prices_command(context, request); });
  router.add("POST", prefix + "/v1/market/index-fixings",
             [&context](const http::Request& request) { return store_index_fixing_command(context, request); });
  add_curve_routes(router, context);
  add_margin_routes(router, context);
}

}  // namespace cch::risk
