#include "cch/api/credentials.hpp"

#include "cch/access/api_key.hpp"

#include <pqxx/except>
#include <pqxx/result>

#include <algorithm>

namespace cch::api {
namespace {

constexpr std::string_view kPrincipalColumns =
    "p.principal_id, p.name, p.role, p.member_id, p.status, (extract(epoch FROM p.created_at) * 1000000)::bigint, "
    "p.created_by";

PrincipalRecord principal_from(const pqxx::row& row, access::Credential credential) {
  std::optional<MemberId> member;
  if (!row[3].is_null()) member = MemberId(row[3].as<std::int64_t>());
  return PrincipalRecord{
      access::Principal{access::PrincipalId(row[0].as<std::int64_t>()), row[1].as<std::string>(),
                        access::parse_role(row[2].as<std::string>()).value(), member, credential},
      row[4].as<std::string>(), UtcTimestamp::from_unix_microseconds(row[5].as<std::int64_t>()).value(),
      row[6].as<std::string>()};
}

CredentialRefusal refusal(std::string reason, unsigned status = 422) { return {std::move(reason), status}; }

bool principal_exists(pqxx::transaction_base& tx, access::PrincipalId principal) {
  return !tx.exec_params("SELECT 1 FROM api.principal WHERE principal_id = $1", principal.value()).empty();
}

}  // namespace

bool is_sha256_fingerprint(std::string_view text) {
  return text.size() == 64 &&
         std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

Result<PrincipalRecord, CredentialRefusal> create_principal(pqxx::transaction_base& tx, std::string_view name,
                                                            std::string_view role, std::optional<MemberId> member,
                                                            std::string_view created_by) {
  if (!access::is_valid_principal_name(name)) return fail(refusal("invalid_principal_name"));
  const auto parsed_role = access::parse_role(role);
  if (!parsed_role) return fail(refusal("invalid_role"));
  if ((*parsed_role == access::Role::member) != member.has_value()) return fail(refusal("member_required"));
  if (member && tx.exec_params("SELECT 1 FROM cch.member WHERE member_id = $1", member->value()).empty()) {
    return fail(refusal("unknown_member"));
  }
  const auto rows = tx.exec_params(
      "INSERT INTO api.principal AS p (name, role, member_id, created_by) VALUES ($1, $2, $3, $4) "
      "ON CONFLICT (name) DO NOTHING RETURNING " +
          std::string(kPrincipalColumns),
      std::string(name), std::string(role), member ? std::optional<std::int64_t>(member->value()) : std::nullopt,
      std::string(created_by));
  if (rows.empty()) return fail(refusal("principal_name_taken", 409));
  return principal_from(rows[0], access::Credential::client_certificate);
}

std::optional<PrincipalRecord> find_principal(pqxx::transaction_base& tx, access::PrincipalId id) {
  const auto rows = tx.exec_params(
      "SELECT " + std::string(kPrincipalColumns) + " FROM api.principal p WHERE p.principal_id = $1", id.value());
  if (rows.empty()) return std::nullopt;
  return principal_from(rows[0], access::Credential::client_certificate);
}

std::vector<PrincipalRecord> list_principals(pqxx::transaction_base& tx, std::optional<access::PrincipalId> after,
                                             std::size_t limit) {
  const auto rows = tx.exec_params("SELECT " + std::string(kPrincipalColumns) +
                                       " FROM api.principal p WHERE p.principal_id > $1 ORDER BY p.principal_id LIMIT $2",
                                   after ? after->value() : std::int64_t{0},
                                   static_cast<std::int64_t>(std::clamp<std::size_t>(limit, 1, 1000)));
  std::vector<PrincipalRecord> list;
  for (const auto& row : rows) list.push_back(principal_from(row, access::Credential::client_certificate));
  return list;
}

Result<IssuedApiKey, CredentialRefusal> issue_api_key(pqxx::transaction_base& tx, access::PrincipalId principal,
                                                      std::string_view label, std::string_view created_by,
                                                      int hash_iterations) {
  if (label.empty() || label.size() > 100) return fail(refusal("invalid_label"));
  if (!principal_exists(tx, principal)) return fail(refusal("unknown_principal", 404));
  const access::ApiKey key = access::generate_api_key();
  const auto rows = tx.exec_params(
      "INSERT INTO api.api_key (key_id, principal_id, secret_hash, label, created_by) VALUES ($1, $2, $3, $4, $5) "
      "RETURNING (extract(epoch FROM created_at) * 1000000)::bigint",
      key.key_id, principal.value(), access::hash_api_key_secret(key.secret, hash_iterations), std::string(label),
      std::string(created_by));
  return IssuedApiKey{key.key_id, key.token(), UtcTimestamp::from_unix_microseconds(rows[0][0].as<std::int64_t>()).value()};
}

Result<std::string, CredentialRefusal> revoke_api_key(pqxx::transaction_base& tx, std::string_view key_id,
                                                      std::string_view revoked_by) {
  const auto found = tx.exec_params("SELECT revoked_at IS NOT NULL FROM api.api_key WHERE key_id = $1 FOR UPDATE",
                                    std::string(key_id));
  if (found.empty()) return fail(refusal("credential_not_found", 404));
  if (found[0][0].as<bool>()) return fail(refusal("credential_already_revoked", 409));
  tx.exec_params("UPDATE api.api_key SET revoked_at = clock_timestamp(), revoked_by = $2 WHERE key_id = $1",
                 std::string(key_id), std::string(revoked_by));
  return std::string(key_id);
}

Result<std::string, CredentialRefusal> register_certificate(pqxx::transaction_base& tx, access::PrincipalId principal,
                                                            std::string_view sha256_fingerprint,
                                                            std::string_view registered_by) {
  if (!is_sha256_fingerprint(sha256_fingerprint)) return fail(refusal("invalid_fingerprint"));
  if (!principal_exists(tx, principal)) return fail(refusal("unknown_principal", 404));
  const auto rows = tx.exec_params(
      "INSERT INTO api.client_certificate (sha256_fingerprint, principal_id, registered_by) VALUES ($1, $2, $3) "
      "ON CONFLICT (sha256_fingerprint) DO NOTHING RETURNING 1",
      std::string(sha256_fingerprint), principal.value(), std::string(registered_by));
  if (rows.empty()) return fail(refusal("certificate_already_registered", 409));
  return std::string(sha256_fingerprint);
}

Result<std::string, CredentialRefusal> revoke_certificate(pqxx::transaction_base& tx, std::string_view sha256_fingerprint,
                                                          std::string_view revoked_by) {
  const auto found = tx.exec_params(
      "SELECT revoked_at IS NOT NULL FROM api.client_certificate WHERE sha256_fingerprint = $1 FOR UPDATE",
      std::string(sha256_fingerprint));
  if (found.empty()) return fail(refusal("credential_not_found", 404));
  if (found[0][0].as<bool>()) return fail(refusal("credential_already_revoked", 409));
  tx.exec_params(
      "UPDATE api.client_certificate SET revoked_at = clock_timestamp(), revoked_by = $2 WHERE sha256_fingerprint = $1",
      std::string(sha256_fingerprint), std::string(revoked_by));
  return std::string(sha256_fingerprint);
}

std::optional<access::Principal> principal_for_certificate(pqxx::transaction_base& tx,
                                                           std::string_view sha256_fingerprint) {
  const auto rows = tx.exec_params("SELECT " + std::string(kPrincipalColumns) +
                                       " FROM api.client_certificate c JOIN api.principal p USING (principal_id) "
                                       "WHERE c.sha256_fingerprint = $1 AND c.revoked_at IS NULL AND p.status = 'active'",
                                   std::string(sha256_fingerprint));
  if (rows.empty()) return std::nullopt;
  return principal_from(rows[0], access::Credential::client_certificate).principal;
}

std::optional<ApiKeyRecord> api_key_for(pqxx::transaction_base& tx, std::string_view key_id) {
  const auto rows = tx.exec_params("SELECT " + std::string(kPrincipalColumns) +
                                       ", k.secret_hash FROM api.api_key k JOIN api.principal p USING (principal_id) "
                                       "WHERE k.key_id = $1 AND k.revoked_at IS NULL AND p.status = 'active'",
                                   std::string(key_id));
  if (rows.empty()) return std::nullopt;
  return ApiKeyRecord{principal_from(rows[0], access::Credential::api_key).principal, rows[0][7].as<std::string>()};
}

}  // namespace cch::api
