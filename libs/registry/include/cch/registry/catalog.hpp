#pragma once
// The registry's reference data, stored: products (created and halted by operators), which
// members may clear which product, and members' limits (set by risk officers): a credit limit,
// and position limits per product that override the product's. (The reference prices of the
// fat-finger band are the latest settlement prices, market data: cch/market/market_data.hpp.)
//
// Rules, each refusal a stable reason (to_string):
//   - a product passes check_product (products.hpp) and has a position limit of
//     1..kPositionLimitGpuHoursMax and a clearing fee of 0..1.0000 USD per GPU-hour; its code is
//     unique (product_code_taken unless the same definition is created again, which answers the
//     existing product);
//   - a credit limit is 0..kCreditLimitMinorMax (10,000,000,000,000.00 USD), a position limit
//     1..kPositionLimitGpuHoursMax GPU-hours (invalid_limit). The products of these bounds are
//     in trades.hpp: none overflows.
//
// Thread safety: functions take the caller's transaction.

#include "cch/core/ids.hpp"
#include "cch/core/money.hpp"
#include "cch/core/price.hpp"
#include "cch/core/result.hpp"
#include "cch/core/time.hpp"
#include "cch/registry/products.hpp"

#include <pqxx/transaction_base>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cch::registry {

inline constexpr std::int64_t kPositionLimitGpuHoursMax = 1'000'000'000'000;  // 10^12 GPU-hours
inline constexpr std::int64_t kCreditLimitMinorMax = kAmountMinorMax;         // 10^15 cents

struct Product {
  ProductId product_id;
  ProductSpec spec;
  std::int64_t position_limit_gpu_hours = 0;  // per member and delivery month, net, absolute
  PricePerGpuHour fee_per_gpu_hour{0};        // clearing fee each side pays per GPU-hour
  UtcTimestamp created_at;
  std::string created_by;
};

enum class CatalogRefusal {
  invalid_product,  // the detail carries check_product's reason
  invalid_position_limit,
  invalid_fee,
  product_code_taken,
  unknown_product,
  unknown_member,
  invalid_price,
  price_off_tick,
  invalid_limit,
  unknown_venue,             // no principal with the venue role has that id
  venue_authorisation_absent,  // revoking what was never authorised
};
std::string_view to_string(CatalogRefusal refusal);

struct CatalogError {
  CatalogRefusal refusal = CatalogRefusal::invalid_product;
  std::string reason;  // the stable reason for clients: to_string(refusal) or check_product's
};

struct NewProduct {
  ProductSpec spec;
  std::int64_t position_limit_gpu_hours = 0;
  PricePerGpuHour fee_per_gpu_hour{0};
  std::string created_by;
};

struct CreatedProduct {
  Product product;
  bool created = false;
};

Result<CreatedProduct, CatalogError> create_product(pqxx::transaction_base& tx, const NewProduct& product);
std::optional<Product> find_product(pqxx::transaction_base& tx, ProductId product);
// Products in id order strictly after `after`, at most `limit` (clamped to 1..1000).
std::vector<Product> list_products(pqxx::transaction_base& tx, std::optional<ProductId> after, std::size_t limit);
Result<Product, CatalogError> set_trading_status(pqxx::transaction_base& tx, ProductId product, TradingStatus status);

// Authorises a member to clear a product (again: no change).
Result<bool, CatalogError> authorise_member(pqxx::transaction_base& tx, MemberId member, ProductId product,
                                            std::string_view by);
std::vector<ProductId> authorised_products(pqxx::transaction_base& tx, MemberId member);

struct MemberLimits {
  MemberId member;
  std::optional<Money> credit_limit;  // none set: the member cannot clear
  struct PositionLimit {
    ProductId product;
    std::int64_t max_gpu_hours = 0;
  };
  std::vector<PositionLimit> position_limits;  // overrides of the products' limits
};
Result<MemberLimits, CatalogError> set_credit_limit(pqxx::transaction_base& tx, MemberId member, Money limit,
                                                    std::string_view by);
Result<MemberLimits, CatalogError> set_position_limit(pqxx::transaction_base& tx, MemberId member,
                                                      ProductId product, std::int64_t max_gpu_hours,
                                                      std::string_view by);
std::optional<MemberLimits> member_limits(pqxx::transaction_base& tx, MemberId member);

// A member's consent to a venue: a venue's batch clears a trade only when both members have a
// live authorisation of that venue (TradeRefusal::venue_not_authorised otherwise).
struct VenueAuthorisation {
  MemberId member;
  std::int64_t venue_principal_id = 0;
  std::string venue_name;
  UtcTimestamp authorised_at;
  std::string authorised_by;
  std::optional<UtcTimestamp> revoked_at;  // set: the venue may no longer register for the member
  std::optional<std::string> revoked_by;
};
struct VenueAuthorised {
  VenueAuthorisation authorisation;
  bool changed = false;  // false: it was already live (nothing changed)
};
// Authorises a venue for a member, or again after a revocation; a live one is left as it is.
Result<VenueAuthorised, CatalogError> authorise_venue(pqxx::transaction_base& tx, MemberId member,
                                                      std::int64_t venue_principal_id, std::string_view by);
// Revokes it under the member's lock (the lock a batch holds while it checks); revoked already:
// left as it is, changed = false.
Result<VenueAuthorised, CatalogError> revoke_venue(pqxx::transaction_base& tx, MemberId member,
                                                   std::int64_t venue_principal_id, std::string_view by);
// A member's venue authorisations, live and revoked, in venue id order.
std::vector<VenueAuthorisation> venue_authorisations(pqxx::transaction_base& tx, MemberId member);

}  // namespace cch::registry
