#pragma once
// Market data, dated and append-only: what every curve, mark, margin and settlement figure of
// the clearinghouse starts from (docs/market-data.md; the tables are migration 0017's).
//
// Three kinds of data, each entered as a *snapshot* (one set about one subject on one date):
//   ois         SOFR OIS quotes of a business date: per tenor ("1W", "3M", "2Y") a rate
//   settlement  one product's settlement prices of a business date: per delivery period (a day,
//               week, month, quarter or year; overlapping periods allowed) a price
//   fixing      one cash-settlement index's value of a date
// with its source, publisher and publication time, who entered it and under which request.
//
// Versions. The first snapshot of (kind, subject, date) is version 1. Entering the same data
// again (the same rows: provenance aside) answers the latest version, unchanged. Different data
// is a correction: it needs a reason and becomes the next version; without a reason it is
// refused (market_data_exists). Nothing is ever edited or removed. Every read answers one
// snapshot and names it (snapshot id and version).
//
// Rules, checked in this order, each refusal a stable reason (to_string):
//   dates      not_a_business_date (OIS quotes: the SOFR calendar; settlement prices: the
//              clearing calendar, setting market.business_calendar; fixings may fall on any
//              day: the indices are published daily as compute is delivered every day),
//              business_date_in_future (after today, UTC)
//   OIS        too_many_quotes (more than kOisQuotesMax), invalid_tenor (a count 1-999 and one
//              of D W M Y, at most 30 years), duplicate_tenor, invalid_rate (beyond +-100%),
//              missing_tenor (a tenor the discount curve needs, setting
//              market.ois_required_tenors, is not quoted)
//   prices     too_many_quotes (more than kSettlementPricesMax), unknown_period (a label that
//              names no period), duplicate_period, period_started (a period that does not start
//              after the business date: settlement prices are for delivery still to come),
//              non_positive_price, invalid_price (beyond kPriceTicksMax), price_off_tick (not a
//              multiple of the product's tick size)
//   fixings    unknown_index (no product settles in cash against it), non_positive_price,
//              invalid_price, price_off_tick (against the finest tick of the index's products)
//   versions   market_data_exists, nothing_to_correct (a reason for a first version)
// The detail of a refusal names the offending quote (its tenor or period label).
//
// The latest settlement prices of a product (the snapshot with the greatest business date, then
// the greatest version) are its reference prices: registration's fat-finger band is around them
// (latest_settlement_prices_sql). market.latest_settlement points at that snapshot and moves
// forward in the transaction that stores a later one.
//
// Thread safety: functions take the caller's transaction; values are plain.

#include "cch/core/calendar.hpp"
#include "cch/core/delivery_period.hpp"
#include "cch/core/ids.hpp"
#include "cch/core/price.hpp"
#include "cch/core/result.hpp"
#include "cch/core/time.hpp"

#include <pqxx/transaction_base>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cch::market {

// The one OIS curve cch discounts with.
inline constexpr std::string_view kOisCurve = "SOFR";
// Decimals of a rate: rate_e8 = rate x 10^8 (0.04312500, i.e. 4.3125 %, is 4312500).
inline constexpr int kRateScale = 8;
inline constexpr std::int64_t kRateE8Max = 100'000'000;  // 100 %
inline constexpr std::size_t kOisQuotesMax = 60;
inline constexpr std::size_t kSettlementPricesMax = 400;
inline constexpr std::size_t kProvenanceTextMax = 64;
inline constexpr std::size_t kCorrectionReasonMax = 500;
inline constexpr int kVersionsMax = 1000;

enum class DataKind { ois, settlement, fixing };
std::string_view to_string(DataKind kind);
std::optional<DataKind> parse_data_kind(std::string_view text);

enum class MarketRefusal {
  not_a_business_date,
  business_date_in_future,
  too_many_quotes,
  invalid_tenor,
  duplicate_tenor,
  invalid_rate,
  missing_tenor,
  unknown_product,
  unknown_period,
  duplicate_period,
  period_started,
  non_positive_price,
  invalid_price,
  price_off_tick,
  inconsistent_prices,  // overlapping periods whose prices disagree (the curve builder's rule)
  unknown_index,
  market_data_exists,
  nothing_to_correct,
  malformed_line,            // a CSV line that is not a record (import_csv)
  inconsistent_provenance,   // lines of one snapshot with different sources, publishers, times, reasons
};
std::string_view to_string(MarketRefusal refusal);

struct MarketError {
  MarketRefusal refusal = MarketRefusal::invalid_price;
  std::string detail;  // one sentence naming the offending quote
};

// A tenor: a count and a unit. Grammar [1-9][0-9]{0,2}[DWMY], at most 30 years.
struct Tenor {
  int count = 0;
  char unit = 'D';  // D, W, M or Y
  [[nodiscard]] std::string text() const;
  // Days for D and W, months for M and Y: two tenors are the same when these are (12M is 1Y,
  // 2W is 14D).
  [[nodiscard]] std::pair<char, int> canonical() const;
  // About how many days it spans (months of 365/12 days), for ordering and the 30-year bound.
  [[nodiscard]] int approximate_days() const;
  friend bool operator==(const Tenor& a, const Tenor& b) { return a.canonical() == b.canonical(); }
};
std::optional<Tenor> parse_tenor(std::string_view text);

// What a snapshot records besides its data.
struct Provenance {
  std::string source;     // where the data come from, e.g. "FRB NY SOFR OIS", "cch price committee"
  std::string publisher;  // who published it
  UtcTimestamp published_at;
  std::string entered_by;  // the principal that entered it
  std::optional<std::string> request_id;
  std::optional<std::string> correction_reason;  // required for a correction, refused otherwise
};

struct Snapshot {
  std::int64_t snapshot_id = 0;
  DataKind kind = DataKind::ois;
  std::string subject;  // "SOFR", the product's code, or the index
  std::optional<ProductId> product;
  BusinessDate business_date;
  int version = 1;
  Provenance provenance;
  UtcTimestamp entered_at;
  std::string content_hash;
};

struct Stored {
  Snapshot snapshot;
  bool created = false;  // false: the same data as the latest version, which is answered
};

// The calendars and requirements the rules check against, and today's date.
struct MarketRules {
  BusinessCalendar clearing_calendar;  // settlement prices' business dates
  BusinessCalendar ois_calendar;       // OIS quotes' business dates (united_states_sofr)
  std::vector<Tenor> required_tenors;  // every OIS set quotes each
  BusinessDate today;
};
// The rules as configured (market.business_calendar, market.ois_required_tenors) on `today`.
// Precondition: the calendar names and tenors are valid (the configuration checks them).
MarketRules market_rules(std::string_view clearing_calendar, std::string_view required_tenors, BusinessDate today);

// ---- OIS quotes ----
struct OisQuote {
  Tenor tenor;
  std::int64_t rate_e8 = 0;
};
struct OisQuotes {
  Snapshot snapshot;
  std::vector<OisQuote> quotes;  // shortest tenor first
};
Result<Stored, MarketError> store_ois_quotes(pqxx::transaction_base& tx, BusinessDate date,
                                             std::vector<OisQuote> quotes, const Provenance& provenance,
                                             const MarketRules& rules);
// The quotes of `date`: the given version, or the latest.
std::optional<OisQuotes> ois_quotes(pqxx::transaction_base& tx, BusinessDate date,
                                    std::optional<int> version = std::nullopt);

// ---- settlement prices ----
// What the rules need to know of a product (the registry owns products).
struct ProductTerms {
  ProductId product;
  std::string code;
  std::int64_t tick_size_ticks = 1;
  std::optional<std::string> cash_index;
};
struct PeriodPrice {
  DeliveryPeriod period;
  PricePerGpuHour price{0};
};
struct SettlementPrices {
  Snapshot snapshot;
  std::vector<PeriodPrice> prices;  // by first day, then shortest period first
};
// `check_consistency` (may be empty) is the curve builder's consistency rule: given the prices,
// none when they agree, else the refusal's detail naming them.
using ConsistencyCheck =
    std::function<std::optional<std::string>(const ProductTerms&, BusinessDate, std::span<const PeriodPrice>)>;
Result<Stored, MarketError> store_settlement_prices(pqxx::transaction_base& tx, const ProductTerms& product,
                                                    BusinessDate date, std::vector<PeriodPrice> prices,
                                                    const Provenance& provenance, const MarketRules& rules,
                                                    const ConsistencyCheck& check_consistency = {});
std::optional<SettlementPrices> settlement_prices(pqxx::transaction_base& tx, ProductId product, BusinessDate date,
                                                  std::optional<int> version = std::nullopt);
// The business date of a product's latest settlement prices (its reference prices), if any.
std::optional<BusinessDate> latest_settlement_date(pqxx::transaction_base& tx, ProductId product);
// Every product's latest version of `date`, in product id order.
std::vector<SettlementPrices> settlement_prices_on(pqxx::transaction_base& tx, BusinessDate date);

// ---- index fixings ----
struct IndexFixing {
  Snapshot snapshot;
  PricePerGpuHour value{0};
};
// `products`: every product (the rules find the index's products among them).
Result<Stored, MarketError> store_index_fixing(pqxx::transaction_base& tx, std::string_view index, BusinessDate date,
                                               PricePerGpuHour value, const Provenance& provenance,
                                               const MarketRules& rules, std::span<const ProductTerms> products);
std::optional<IndexFixing> index_fixing(pqxx::transaction_base& tx, std::string_view index, BusinessDate date,
                                        std::optional<int> version = std::nullopt);
// The latest version of each date's fixing in [from, to], by date.
std::vector<IndexFixing> index_fixings(pqxx::transaction_base& tx, std::string_view index, BusinessDate from,
                                       BusinessDate to);

// ---- by id ----
std::optional<Snapshot> find_snapshot_by_id(pqxx::transaction_base& tx, std::int64_t snapshot_id);
// The settlement prices of each of these snapshots, in snapshot id order, in two statements
// whatever their number; ids of no settlement snapshot are left out (each id once).
std::vector<SettlementPrices> settlement_prices_of_snapshots(pqxx::transaction_base& tx,
                                                             std::span<const std::int64_t> snapshot_ids);
// The latest version of the OIS quotes of the latest business date in [not_before, on_or_before].
std::optional<OisQuotes> latest_ois_quotes(pqxx::transaction_base& tx, BusinessDate on_or_before,
                                           BusinessDate not_before);

// ---- listing ----
struct SnapshotFilter {
  std::optional<DataKind> kind;
  std::optional<std::string> subject;
  std::optional<BusinessDate> from;  // business dates in [from, to]
  std::optional<BusinessDate> to;
  std::optional<std::int64_t> before;  // snapshot ids below, for paging (newest first)
};
inline constexpr std::size_t kSnapshotPageMax = 1000;
// Snapshots newest first (by id), every version, at most `limit` (clamped to 1..kSnapshotPageMax).
std::vector<Snapshot> list_snapshots(pqxx::transaction_base& tx, const SnapshotFilter& filter, std::size_t limit);

// ---- for the registry ----
// A SELECT of the latest settlement prices of the products in the bigint array parameter $N,
// one row per quoted period: (product_id bigint, days bigint, first_day text, price_ticks
// bigint). For a statement of the caller's (registration reads its facts in one statement).
std::string latest_settlement_prices_sql(int product_array_parameter);

}  // namespace cch::market
