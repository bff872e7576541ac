#include "cch/registry/catalog.hpp"

#include <pqxx/result>

#include <algorithm>

#include "cch/db/prepared.hpp"
#include "cch/db/row.hpp"

namespace cch::registry {
namespace {

constexpr std::string_view kProductColumns =
    "product_id, code, gpu_model, form_factor, min_interconnect, region, node_block_gpus, settlement, cash_index, "
    "tick_size_ticks, delivery_profile, trading_status, listing_horizon_days, position_limit_gpu_hours, "
    "fee_ticks_per_gpu_hour, (extract(epoch FROM created_at) * 1000000)::bigint, created_by";

Product product_from(const pqxx::row& row) {
  ProductSpec spec;
  spec.code = row[1].as<std::string>();
  spec.gpu_model = row[2].as<std::string>();
  spec.form_factor = row[3].as<std::string>();
  spec.min_interconnect = row[4].as<std::string>();
  spec.region = row[5].as<std::string>();
  spec.node_block_gpus = row[6].as<int>();
  spec.settlement = parse_settlement_type(row[7].as<std::string>()).value();
  if (!row[8].is_null()) spec.cash_index = row[8].as<std::string>();
  spec.tick_size_ticks = row[9].as<std::int64_t>();
  spec.profile = parse_delivery_profile(row[10].as<std::string>()).value();
  spec.status = parse_trading_status(row[11].as<std::string>()).value();
  spec.listing_horizon_days = row[12].as<int>();
  return Product{.product_id = ProductId(row[0].as<std::int64_t>()),
                 .spec = std::move(spec),
                 .position_limit_gpu_hours = row[13].as<std::int64_t>(),
                 .fee_per_gpu_hour = PricePerGpuHour{row[14].as<std::int64_t>()},
                 .created_at = db::timestamp_of(row[15]),
                 .created_by = row[16].as<std::string>()};
}

bool same_definition(const Product& stored, const NewProduct& wanted) {
  const ProductSpec& a = stored.spec;
  const ProductSpec& b = wanted.spec;
  return a.code == b.code && a.gpu_model == b.gpu_model && a.form_factor == b.form_factor &&
         a.min_interconnect == b.min_interconnect && a.region == b.region && a.node_block_gpus == b.node_block_gpus &&
         a.settlement == b.settlement && a.cash_index == b.cash_index && a.tick_size_ticks == b.tick_size_ticks &&
         a.profile == b.profile && a.listing_horizon_days == b.listing_horizon_days &&
         stored.position_limit_gpu_hours == wanted.position_limit_gpu_hours &&
         stored.fee_per_gpu_hour == wanted.fee_per_gpu_hour;
}

CatalogError error(CatalogRefusal refusal) { return {refusal, std::string(to_string(refusal))}; }

bool member_exists(pqxx::transaction_base& tx, MemberId member) {
  return !db::exec_cached(tx, "SELECT 1 FROM cch.member WHERE member_id = $1", member.value()).empty();
}

// A limit changes under the member's row lock, the lock registration's checks hold: a check
// sees the limit before or after the change, never a mixture.
bool lock_member(pqxx::transaction_base& tx, MemberId member) {
  return !db::exec_cached(tx, "SELECT 1 FROM cch.member WHERE member_id = $1 FOR NO KEY UPDATE", member.value()).empty();
}

}  // namespace

std::string_view to_string(CatalogRefusal refusal) {
  switch (refusal) {
    case CatalogRefusal::invalid_product: return "invalid_product";
    case CatalogRefusal::invalid_position_limit: return "invalid_position_limit";
    case CatalogRefusal::invalid_fee: return "invalid_fee";
    case CatalogRefusal::product_code_taken: return "product_code_taken";
    case CatalogRefusal::unknown_product: return "unknown_product";
    case CatalogRefusal::unknown_member: return "unknown_member";
    case CatalogRefusal::invalid_price: return "invalid_price";
    case CatalogRefusal::price_off_tick: return "price_off_tick";
    case CatalogRefusal::invalid_limit: return "invalid_limit";
    case CatalogRefusal::unknown_venue: return "unknown_venue";
    case CatalogRefusal::venue_authorisation_absent: return "venue_authorisation_absent";
  }
  return "unknown";
}

Result<CreatedProduct, CatalogError> create_product(pqxx::transaction_base& tx, const NewProduct& wanted) {
  if (const auto refusal = check_product(wanted.spec)) {
    return fail(CatalogError{CatalogRefusal::invalid_product, std::string(to_string(*refusal))});
  }
  if (wanted.position_limit_gpu_hours <= 0 || wanted.position_limit_gpu_hours > kPositionLimitGpuHoursMax) {
    return fail(error(CatalogRefusal::invalid_position_limit));
  }
  if (wanted.fee_per_gpu_hour.price_ticks < 0 || wanted.fee_per_gpu_hour.price_ticks > kTickSizeTicksMax) {
    return fail(error(CatalogRefusal::invalid_fee));
  }
  const ProductSpec& spec = wanted.spec;
  const auto inserted = db::exec_cached(tx,
      "INSERT INTO cch.product (code, gpu_model, form_factor, min_interconnect, region, node_block_gpus, settlement, "
      "cash_index, tick_size_ticks, delivery_profile, trading_status, listing_horizon_days, "
      "position_limit_gpu_hours, fee_ticks_per_gpu_hour, created_by) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) "
      "ON CONFLICT (code) DO NOTHING RETURNING " +
          std::string(kProductColumns),
      spec.code, spec.gpu_model, spec.form_factor, spec.min_interconnect, spec.region, spec.node_block_gpus,
      std::string(to_string(spec.settlement)), spec.cash_index, spec.tick_size_ticks,
      std::string(to_string(spec.profile)), std::string(to_string(spec.status)), spec.listing_horizon_days,
      wanted.position_limit_gpu_hours, wanted.fee_per_gpu_hour.price_ticks, wanted.created_by);
  if (!inserted.empty()) return CreatedProduct{product_from(inserted[0]), true};
  const auto existing =
      db::exec_cached(tx, "SELECT " + std::string(kProductColumns) + " FROM cch.product WHERE code = $1", spec.code);
  if (existing.empty()) return fail(error(CatalogRefusal::product_code_taken));
  Product product = product_from(existing[0]);
  if (!same_definition(product, wanted)) return fail(error(CatalogRefusal::product_code_taken));
  return CreatedProduct{std::move(product), false};
}

std::optional<Product> find_product(pqxx::transaction_base& tx, ProductId product) {
  const auto rows = db::exec_cached(tx,
      "SELECT " + std::string(kProductColumns) + " FROM cch.product WHERE product_id = $1", product.value());
  if (rows.empty()) return std::nullopt;
  return product_from(rows[0]);
}

std::vector<Product> list_products(pqxx::transaction_base& tx, std::optional<ProductId> after, std::size_t limit) {
  const auto rows = db::exec_cached(tx, "SELECT " + std::string(kProductColumns) +
                                       " FROM cch.product WHERE product_id > $1 ORDER BY product_id LIMIT $2",
                                   after ? after->value() : std::int64_t{0},
                                   static_cast<std::int64_t>(std::clamp<std::size_t>(limit, 1, 1000)));
  std::vector<Product> products;
  products.reserve(rows.size());
  for (const auto& row : rows) products.push_back(product_from(row));
  return products;
}

Result<Product, CatalogError> set_trading_status(pqxx::transaction_base& tx, ProductId product, TradingStatus status) {
  const auto rows = db::exec_cached(tx, "UPDATE cch.product SET trading_status = $2 WHERE product_id = $1 RETURNING " +
                                       std::string(kProductColumns),
                                   product.value(), std::string(to_string(status)));
  if (rows.empty()) return fail(error(CatalogRefusal::unknown_product));
  return product_from(rows[0]);
}

Result<bool, CatalogError> authorise_member(pqxx::transaction_base& tx, MemberId member, ProductId product,
                                            std::string_view by) {
  if (!member_exists(tx, member)) return fail(error(CatalogRefusal::unknown_member));
  if (!find_product(tx, product)) return fail(error(CatalogRefusal::unknown_product));
  const auto rows = db::exec_cached(tx,
      "INSERT INTO cch.member_product (member_id, product_id, authorised_by) VALUES ($1, $2, $3) "
      "ON CONFLICT DO NOTHING RETURNING 1",
      member.value(), product.value(), std::string(by));
  return !rows.empty();
}

std::vector<ProductId> authorised_products(pqxx::transaction_base& tx, MemberId member) {
  std::vector<ProductId> products;
  for (const auto& row : db::exec_cached(tx,
           "SELECT product_id FROM cch.member_product WHERE member_id = $1 ORDER BY product_id", member.value())) {
    products.emplace_back(row[0].as<std::int64_t>());
  }
  return products;
}

std::optional<MemberLimits> member_limits(pqxx::transaction_base& tx, MemberId member) {
  if (!member_exists(tx, member)) return std::nullopt;
  MemberLimits limits{member, std::nullopt, {}};
  const auto credit =
      db::exec_cached(tx, "SELECT credit_limit_minor, currency FROM cch.member_limit WHERE member_id = $1", member.value());
  if (!credit.empty()) {
    limits.credit_limit = Money{credit[0][0].as<std::int64_t>(), Currency::parse(credit[0][1].as<std::string>()).value()};
  }
  for (const auto& row : db::exec_cached(tx,
           "SELECT product_id, max_gpu_hours FROM cch.position_limit WHERE member_id = $1 ORDER BY product_id",
           member.value())) {
    limits.position_limits.push_back({ProductId(row[0].as<std::int64_t>()), row[1].as<std::int64_t>()});
  }
  return limits;
}

Result<MemberLimits, CatalogError> set_credit_limit(pqxx::transaction_base& tx, MemberId member, Money limit,
                                                    std::string_view by) {
  if (!lock_member(tx, member)) return fail(error(CatalogRefusal::unknown_member));
  if (limit.amount_minor < 0 || limit.amount_minor > kCreditLimitMinorMax || limit.currency != Currency::usd()) {
    return fail(error(CatalogRefusal::invalid_limit));
  }
  db::exec_cached(tx,
      "INSERT INTO cch.member_limit (member_id, credit_limit_minor, currency, updated_by) VALUES ($1, $2, $3, $4) "
      "ON CONFLICT (member_id) DO UPDATE SET credit_limit_minor = EXCLUDED.credit_limit_minor, "
      "updated_at = clock_timestamp(), updated_by = EXCLUDED.updated_by",
      member.value(), limit.amount_minor, std::string(limit.currency.code()), std::string(by));
  return *member_limits(tx, member);
}

Result<MemberLimits, CatalogError> set_position_limit(pqxx::transaction_base& tx, MemberId member,
                                                      ProductId product, std::int64_t max_gpu_hours,
                                                      std::string_view by) {
  if (!lock_member(tx, member)) return fail(error(CatalogRefusal::unknown_member));
  if (!find_product(tx, product)) return fail(error(CatalogRefusal::unknown_product));
  if (max_gpu_hours <= 0 || max_gpu_hours > kPositionLimitGpuHoursMax) return fail(error(CatalogRefusal::invalid_limit));
  db::exec_cached(tx,
      "INSERT INTO cch.position_limit (member_id, product_id, max_gpu_hours, updated_by) VALUES ($1, $2, $3, $4) "
      "ON CONFLICT (member_id, product_id) DO UPDATE SET max_gpu_hours = EXCLUDED.max_gpu_hours, "
      "updated_at = clock_timestamp(), updated_by = EXCLUDED.updated_by",
      member.value(), product.value(), max_gpu_hours, std::string(by));
  return *member_limits(tx, member);
}

namespace {

// A member's venue authorisations with each venue's name; callers add the WHERE clause.
constexpr std::string_view kSelectVenueAuthorisations =
    "SELECT v.member_id, v.venue_principal_id, p.name, (extract(epoch FROM v.authorised_at) * 1000000)::bigint, "
    "v.authorised_by, (extract(epoch FROM v.revoked_at) * 1000000)::bigint, v.revoked_by "
    "FROM cch.member_venue v JOIN api.principal p ON p.principal_id = v.venue_principal_id ";

VenueAuthorisation venue_authorisation_from(const pqxx::row& row) {
  VenueAuthorisation authorisation{.member = MemberId(row[0].as<std::int64_t>()),
                                   .venue_principal_id = row[1].as<std::int64_t>(),
                                   .venue_name = row[2].as<std::string>(),
                                   .authorised_at = db::timestamp_of(row[3]),
                                   .authorised_by = row[4].as<std::string>(),
                                   .revoked_at = std::nullopt,
                                   .revoked_by = std::nullopt};
  if (!row[5].is_null()) authorisation.revoked_at = db::timestamp_of(row[5]);
  if (!row[6].is_null()) authorisation.revoked_by = row[6].as<std::string>();
  return authorisation;
}

std::optional<VenueAuthorisation> find_venue_authorisation(pqxx::transaction_base& tx, MemberId member,
                                                           std::int64_t venue_principal_id) {
  const auto rows = db::exec_cached(tx,
      std::string(kSelectVenueAuthorisations) + "WHERE v.member_id = $1 AND v.venue_principal_id = $2",
      member.value(), venue_principal_id);
  if (rows.empty()) return std::nullopt;
  return venue_authorisation_from(rows[0]);
}

bool is_venue(pqxx::transaction_base& tx, std::int64_t principal_id) {
  return !db::exec_cached(tx, "SELECT 1 FROM api.principal WHERE principal_id = $1 AND role = 'venue'", principal_id)
              .empty();
}

}  // namespace

Result<VenueAuthorised, CatalogError> authorise_venue(pqxx::transaction_base& tx, MemberId member,
                                                      std::int64_t venue_principal_id, std::string_view by) {
  if (!member_exists(tx, member)) return fail(error(CatalogRefusal::unknown_member));
  if (!is_venue(tx, venue_principal_id)) return fail(error(CatalogRefusal::unknown_venue));
  const auto changed = db::exec_cached(tx,
      "INSERT INTO cch.member_venue (member_id, venue_principal_id, authorised_by) VALUES ($1, $2, $3) "
      "ON CONFLICT (member_id, venue_principal_id) DO UPDATE SET authorised_at = clock_timestamp(), "
      "authorised_by = EXCLUDED.authorised_by, revoked_at = NULL, revoked_by = NULL "
      "WHERE cch.member_venue.revoked_at IS NOT NULL RETURNING 1",
      member.value(), venue_principal_id, std::string(by));
  return VenueAuthorised{*find_venue_authorisation(tx, member, venue_principal_id), !changed.empty()};
}

Result<VenueAuthorised, CatalogError> revoke_venue(pqxx::transaction_base& tx, MemberId member,
                                                   std::int64_t venue_principal_id, std::string_view by) {
  if (!lock_member(tx, member)) return fail(error(CatalogRefusal::unknown_member));
  const auto changed = db::exec_cached(tx,
      "UPDATE cch.member_venue SET revoked_at = clock_timestamp(), revoked_by = $3 "
      "WHERE member_id = $1 AND venue_principal_id = $2 AND revoked_at IS NULL RETURNING 1",
      member.value(), venue_principal_id, std::string(by));
  auto found = find_venue_authorisation(tx, member, venue_principal_id);
  if (!found) return fail(error(CatalogRefusal::venue_authorisation_absent));
  return VenueAuthorised{std::move(*found), !changed.empty()};
}

std::vector<VenueAuthorisation> venue_authorisations(pqxx::transaction_base& tx, MemberId member) {
  std::vector<VenueAuthorisation> found;
  for (const auto& row : db::exec_cached(tx,
           std::string(kSelectVenueAuthorisations) + "WHERE v.member_id = $1 ORDER BY v.venue_principal_id LIMIT 1000",
           member.value())) {
    found.push_back(venue_authorisation_from(row));
  }
  return found;
}

}  // namespace cch::registry
