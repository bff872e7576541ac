// The JSON form of the registry's records: the registry's answers and the api's reads.
#include "cch/registry_routes/json.hpp"

namespace cch::registry {
namespace {

std::string price_text(PricePerGpuHour price) { return price.format(); }

}  // namespace

nlohmann::json member_json(const Member& member) {
  return {{"member_id", member.member_id.to_string()},
          {"code", member.code},
          {"legal_name", member.legal_name},
          {"status", member.status},
          {"created_at", member.created_at.format()}};
}

nlohmann::json product_json(const Product& product) {
  const ProductSpec& spec = product.spec;
  return {{"product_id", product.product_id.to_string()},
          {"code", spec.code},
          {"gpu_model", spec.gpu_model},
          {"form_factor", spec.form_factor},
          {"min_interconnect", spec.min_interconnect},
          {"region", spec.region},
          {"node_block_gpus", spec.node_block_gpus},
          {"settlement", std::string(to_string(spec.settlement))},
          {"cash_index", spec.cash_index ? nlohmann::json(*spec.cash_index) : nlohmann::json(nullptr)},
          {"tick_size", price_text(PricePerGpuHour{spec.tick_size_ticks})},
          {"price_unit", "USD/GPU-hour"},
          {"currency", "USD"},
          {"delivery_profile", std::string(to_string(spec.profile))},
          {"trading_status", std::string(to_string(spec.status))},
          {"listing_horizon_days", spec.listing_horizon_days},
          {"position_limit_gpu_hours", product.position_limit_gpu_hours},
          {"clearing_fee_per_gpu_hour", price_text(product.fee_per_gpu_hour)},
          {"created_at", product.created_at.format()}};
}

nlohmann::json venue_authorisation_json(const VenueAuthorisation& authorisation) {
  return {{"member_id", authorisation.member.to_string()},
          {"venue_principal_id", std::to_string(authorisation.venue_principal_id)},
          {"venue", authorisation.venue_name},
          {"status", authorisation.revoked_at ? "revoked" : "authorised"},
          {"authorised_at", authorisation.authorised_at.format()},
          {"authorised_by", authorisation.authorised_by},
          {"revoked_at", authorisation.revoked_at ? nlohmann::json(authorisation.revoked_at->format()) : nlohmann::json()},
          {"revoked_by", authorisation.revoked_by ? nlohmann::json(*authorisation.revoked_by) : nlohmann::json()}};
}

nlohmann::json limits_json(const MemberLimits& limits) {
  nlohmann::json positions = nlohmann::json::array();
  for (const auto& limit : limits.position_limits) {
    positions.push_back({{"product_id", limit.product.to_string()}, {"max_gpu_hours", limit.max_gpu_hours}});
  }
  return {{"member_id", limits.member.to_string()},
          {"credit_limit", limits.credit_limit ? nlohmann::json(format_amount(*limits.credit_limit)) : nlohmann::json(nullptr)},
          {"currency", "USD"},
          {"position_limits", std::move(positions)}};
}

nlohmann::json trade_json(const Trade& trade, std::optional<MemberId> viewer) {
  const bool staff = !viewer.has_value();
  const bool is_submitter = viewer && trade.submitter == *viewer;
  std::optional<std::string> refusal = trade.last_refusal;
  if (refusal && viewer && trade.last_refused_member && *trade.last_refused_member != *viewer) {
    refusal = std::string(to_string(TradeRefusal::counterparty_refused));
  }
  const auto optional_text = [](const std::optional<std::string>& text) {
    return text ? nlohmann::json(*text) : nlohmann::json(nullptr);
  };
  // Set member by member: a braced list of pairs builds every pair as a two-element array first
  // and copies it into the object, several times the allocations (a venue batch's answer holds
  // one of these per trade). The keys come out sorted either way.
  nlohmann::json json = nlohmann::json::object();
  json["trade_id"] = trade.trade_id.to_string();
  json["product_id"] = trade.terms.product.to_string();
  json["series"] = optional_text(trade.terms.series_label);
  json["buyer_member_id"] = trade.terms.buyer.to_string();
  json["seller_member_id"] = trade.terms.seller.to_string();
  json["delivery_start"] = trade.terms.delivery_start.format();
  json["delivery_end"] = trade.terms.delivery_end.format();
  json["gpus"] = trade.terms.gpus;
  json["price"] = price_text(trade.terms.price);
  json["gpu_hours"] = trade.gpu_hours;
  json["notional"] = format_amount(trade.notional);
  json["currency"] = std::string(trade.notional.currency.code());
  json["state"] = std::string(to_string(trade.state));
  json["submitter_member_id"] = trade.submitter ? nlohmann::json(trade.submitter->to_string()) : nlohmann::json(nullptr);
  json["registered_by_venue"] = trade.venue.has_value();
  json["reference"] = staff || trade.venue ? nlohmann::json(nullptr)
                      : is_submitter       ? nlohmann::json(trade.submitter_reference)
                                           : optional_text(trade.counterparty_reference);
  json["submitter_reference"] = staff ? nlohmann::json(trade.submitter_reference) : nlohmann::json(nullptr);
  json["counterparty_reference"] = staff ? optional_text(trade.counterparty_reference) : nlohmann::json(nullptr);
  json["submitted_at"] = trade.submitted_at.format();
  json["expires_at"] = trade.expires_at.format();
  json["decided_at"] = trade.decided_at ? nlohmann::json(trade.decided_at->format()) : nlohmann::json(nullptr);
  json["last_refusal"] = optional_text(refusal);
  json["clearing_fee"] = trade.clearing_fee ? nlohmann::json(format_amount(*trade.clearing_fee)) : nlohmann::json(nullptr);
  json["fee_journal_id"] = trade.fee_journal ? nlohmann::json(trade.fee_journal->to_string()) : nlohmann::json(nullptr);
  return json;
}

nlohmann::json position_json(const Position& position) {
  return {{"product_id", position.product.to_string()},
          {"delivery_month", position.delivery_month.format().substr(0, 7)},
          {"net_gpu_hours", position.net_gpu_hours},
          {"bought_gpu_hours", position.bought_gpu_hours},
          {"sold_gpu_hours", position.sold_gpu_hours}};
}

}  // namespace cch::registry
