#include "cch/registry/routes.hpp"

#include "cch/db/transaction.hpp"
#include "cch/http/json_input.hpp"
#include "cch/runtime/internal.hpp"

namespace cch::registry {

nlohmann::json member_json(const Member& member) {
  return {{"member_id", member.member_id.to_string()},
          {"code", member.code},
          {"legal_name", member.legal_name},
          {"status", member.status},
          {"created_at", member.created_at.format()}};
}

http::Response register_member_command(runtime::ServiceContext& context, const http::Request& request) {
  const auto caller = runtime::internal_caller(request);
  if (!caller) return caller.error();
  if (caller->principal.role != access::Role::operator_) {
    return http::problem(403, "forbidden", "Forbidden", "only operators register members");
  }
  auto body = http::BodyReader::open(request, {"code", "legal_name"}, {"member_id", "status", "created_at"});
  if (!body) return body.error();
  const auto code = body->text("code", 63);
  const auto legal_name = body->text("legal_name", kLegalNameLengthMax);
  if (code && !is_valid_member_code(*code)) {
    body->refuse("code", "must be 2-63 characters of a-z, 0-9 and '-', starting with a letter or digit");
  }
  if (body->failed()) return body->failure();

  const auto registered = db::run_transaction(context.pool, db::Isolation::read_committed, context.retry_policy,
                                              [&](pqxx::transaction_base& tx) { return register_member(tx, *code, *legal_name); });
  if (!registered) {
    if (registered.error() == MemberRefusal::code_taken) {
      return http::problem(409, to_string(registered.error()), "Member code taken",
                           "a member with this code exists with another legal name");
    }
    return http::problem(422, to_string(registered.error()), "Invalid member");
  }
  http::Response response = http::json_response(registered->created ? 201 : 200, member_json(registered->member));
  response.headers.emplace_back("Location", "/v1/members/" + registered->member.member_id.to_string());
  return response;
}

void add_registry_routes(http::Router& router, runtime::ServiceContext& context) {
  router.add("POST", std::string(runtime::kInternalPrefix) + "/v1/members",
             [&context](const http::Request& request) { return register_member_command(context, request); });
}

}  // namespace cch::registry
