// The api's own commands: principals and their credentials. The api owns authentication, so
// these run here, in the transaction that also stores the idempotent response.
#include "api_impl.hpp"

#include "cch/api/credentials.hpp"
#include "cch/http/json_input.hpp"

#include <map>

namespace cch::api {
namespace {

http::Response refused(const CredentialRefusal& refusal) {
  const std::string title = refusal.status == 404 ? "Not found" : refusal.status == 409 ? "Conflict" : "Invalid request";
  return http::problem(refusal.status, refusal.reason, title);
}

std::optional<access::PrincipalId> path_principal(const http::Request& request) {
  const auto id = request.path_id("principal_id");
  return id ? std::optional<access::PrincipalId>(access::PrincipalId(*id)) : std::nullopt;
}

http::Response create(Api&, pqxx::transaction_base& tx, const http::Request& request,
                      const access::Principal& caller) {
  auto body = http::BodyReader::open(request, {"name", "role", "member_id"},
                                     {"principal_id", "status", "created_at", "created_by"});
  if (!body) return body.error();
  const auto name = body->text("name", 63);
  const auto role = body->text("role", 40);
  const auto member_text = body->text("member_id", 20, /*required=*/false);
  std::optional<MemberId> member;
  if (member_text) {
    const auto parsed = MemberId::parse(*member_text);
    if (parsed) {
      member = *parsed;
    } else {
      body->refuse("member_id", "must be a member id");
    }
  }
  if (name && !access::is_valid_principal_name(*name)) {
    body->refuse("name", "must be 2-63 characters of a-z, 0-9, '.', '_', '-', starting with a letter or digit");
  }
  if (role && !access::parse_role(*role)) body->refuse("role", "must be member, risk_officer, auditor or operator");
  if (body->failed()) return body->failure();
  const auto created = create_principal(tx, *name, *role, member, caller.name);
  if (!created) return refused(created.error());
  const auto& principal = created->principal;
  return http::json_response(
      201, {{"principal_id", principal.id.to_string()},
            {"name", principal.name},
            {"role", std::string(access::to_string(principal.role))},
            {"member_id", principal.member ? nlohmann::json(principal.member->to_string()) : nlohmann::json(nullptr)},
            {"status", created->status},
            {"created_at", created->created_at.format()},
            {"created_by", created->created_by}});
}

http::Response issue_key(Api& api, pqxx::transaction_base& tx, const http::Request& request,
                         const access::Principal& caller) {
  auto body = http::BodyReader::open(request, {"label"}, {"key_id", "token", "secret", "secret_hash", "principal_id"});
  if (!body) return body.error();
  const auto label = body->text("label", 100);
  if (body->failed()) return body->failure();
  const auto principal = path_principal(request);
  if (!principal) return not_found();
  const auto issued = issue_api_key(tx, *principal, *label, caller.name, api.options.api_key_hash_iterations);
  if (!issued) return refused(issued.error());
  // The token is in this one response only: the stored replay has "token": null (routes.cpp),
  // so the secret exists nowhere but with the caller. A caller that lost it revokes the key and
  // issues another.
  return http::json_response(201, {{"key_id", issued->key_id},
                                   {"principal_id", principal->to_string()},
                                   {"label", *label},
                                   {"token", issued->token},
                                   {"created_at", issued->created_at.format()}});
}

http::Response revoke_key(Api& api, pqxx::transaction_base& tx, const http::Request& request,
                          const access::Principal& caller) {
  auto body = http::BodyReader::open(request, {}, {"revoked_at", "revoked_by"}, /*allow_empty_body=*/true);
  if (!body) return body.error();
  const auto key_id = request.path_param("key_id");
  if (!key_id || key_id->size() != 16) return not_found();
  const auto revoked = revoke_api_key(tx, *key_id, caller.name);
  if (!revoked) return refused(revoked.error());
  api.authenticator.forget_api_key(*key_id);
  return http::json_response(200, {{"key_id", *revoked}, {"revoked", true}, {"revoked_by", caller.name}});
}

http::Response register_cert(Api&, pqxx::transaction_base& tx, const http::Request& request,
                             const access::Principal& caller) {
  auto body = http::BodyReader::open(request, {"sha256_fingerprint"}, {"principal_id", "registered_at", "revoked_at"});
  if (!body) return body.error();
  const auto fingerprint = body->text("sha256_fingerprint", 64);
  if (fingerprint && !is_sha256_fingerprint(*fingerprint)) {
    body->refuse("sha256_fingerprint", "must be 64 lower-case hex digits (SHA-256 of the certificate's DER)");
  }
  if (body->failed()) return body->failure();
  const auto principal = path_principal(request);
  if (!principal) return not_found();
  const auto registered = register_certificate(tx, *principal, *fingerprint, caller.name);
  if (!registered) return refused(registered.error());
  return http::json_response(201, {{"sha256_fingerprint", *registered},
                                   {"principal_id", principal->to_string()},
                                   {"registered_by", caller.name}});
}

http::Response revoke_cert(Api& api, pqxx::transaction_base& tx, const http::Request& request,
                           const access::Principal& caller) {
  auto body = http::BodyReader::open(request, {}, {"revoked_at", "revoked_by"}, /*allow_empty_body=*/true);
  if (!body) return body.error();
  const auto fingerprint = request.path_param("fingerprint");
  if (!fingerprint || !is_sha256_fingerprint(*fingerprint)) return not_found();
  const auto revoked = revoke_certificate(tx, *fingerprint, caller.name);
  if (!revoked) return refused(revoked.error());
  api.authenticator.forget_certificate(*fingerprint);
  return http::json_response(200, {{"sha256_fingerprint", *revoked}, {"revoked", true}, {"revoked_by", caller.name}});
}

}  // namespace

CommandHandler command_handler(std::string_view method, std::string_view pattern) {
  static const std::map<std::string, CommandHandler, std::less<>> handlers = {
      {"POST /v1/principals", create},
      {"POST /v1/principals/{principal_id}/api-keys", issue_key},
      {"POST /v1/api-keys/{key_id}/revoke", revoke_key},
      {"POST /v1/principals/{principal_id}/certificates", register_cert},
      {"POST /v1/certificates/{fingerprint}/revoke", revoke_cert},
  };
  const auto found = handlers.find(std::string(method) + " " + std::string(pattern));
  return found == handlers.end() ? nullptr : found->second;
}

}  // namespace cch::api
