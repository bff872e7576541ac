#pragma once
// The JSON form of the registry's records, as the registry's routes answer them and the api's
// reads show them (docs/openapi.yaml): ids and amounts as strings, times in ISO 8601 UTC, delivery
// months as "YYYY-MM", keys sorted.
//
// Thread safety: pure functions.

#include "cch/registry/catalog.hpp"
#include "cch/registry/members.hpp"
#include "cch/registry/trades.hpp"

#include <nlohmann/json.hpp>

#include <optional>

namespace cch::registry {

nlohmann::json member_json(const Member& member);
nlohmann::json product_json(const Product& product);
nlohmann::json limits_json(const MemberLimits& limits);
nlohmann::json venue_authorisation_json(const VenueAuthorisation& authorisation);
// viewer: the member principal reading it (its own reference shown, the other member's state
// told only as counterparty_refused), or nullopt for staff (both references shown).
nlohmann::json trade_json(const Trade& trade, std::optional<MemberId> viewer);
nlohmann::json position_json(const Position& position);

}  // namespace cch::registry
