#pragma once
// The registry service's internal routes (reached only through the api, see
// cch/runtime/internal.hpp) and the JSON form of its records, which the api's reads share.
//
//   POST /internal/v1/members   {"code", "legal_name"}  -> 201 member, or 200 when it existed
//
// Thread safety: handlers are called concurrently; they share only the pool.

#include "cch/http/message.hpp"
#include "cch/http/router.hpp"
#include "cch/registry/members.hpp"
#include "cch/runtime/service.hpp"

#include <nlohmann/json.hpp>

namespace cch::registry {

nlohmann::json member_json(const Member& member);

http::Response register_member_command(runtime::ServiceContext& context, const http::Request& request);

void add_registry_routes(http::Router& router, runtime::ServiceContext& context);

}  // namespace cch::registry
