#pragma once
// Principals and their credentials in PostgreSQL (schema api, sql/migrations/0005_api.sql):
// creating principals, issuing and revoking API keys, registering and revoking client
// certificates, and looking a credential up for authentication.
//
// Refusals (stable reasons): invalid_principal_name, invalid_role, member_required (a member
// principal names its member; staff principals name none), unknown_member, principal_name_taken,
// unknown_principal, invalid_label, invalid_fingerprint, certificate_already_registered,
// credential_not_found, credential_already_revoked.
//
// Thread safety: functions take the caller's transaction.

#include "cch/access/principal.hpp"
#include "cch/core/result.hpp"
#include "cch/core/time.hpp"

#include <pqxx/transaction_base>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cch::api {

struct CredentialRefusal {
  std::string reason;
  unsigned status = 422;  // 404 unknown, 409 conflict, 422 invalid
};

struct PrincipalRecord {
  access::Principal principal;  // credential as looked up
  std::string status;           // active, disabled
  UtcTimestamp created_at{0};
  std::string created_by;
};

Result<PrincipalRecord, CredentialRefusal> create_principal(pqxx::transaction_base& tx, std::string_view name,
                                                            std::string_view role, std::optional<MemberId> member,
                                                            std::string_view created_by);
std::optional<PrincipalRecord> find_principal(pqxx::transaction_base& tx, access::PrincipalId id);
std::vector<PrincipalRecord> list_principals(pqxx::transaction_base& tx, std::optional<access::PrincipalId> after,
                                             std::size_t limit);

struct IssuedApiKey {
  std::string key_id;
  std::string token;  // shown once, never stored
  UtcTimestamp created_at{0};
};
Result<IssuedApiKey, CredentialRefusal> issue_api_key(pqxx::transaction_base& tx, access::PrincipalId principal,
                                                      std::string_view label, std::string_view created_by,
                                                      int hash_iterations);
Result<std::string, CredentialRefusal> revoke_api_key(pqxx::transaction_base& tx, std::string_view key_id,
                                                      std::string_view revoked_by);

Result<std::string, CredentialRefusal> register_certificate(pqxx::transaction_base& tx, access::PrincipalId principal,
                                                            std::string_view sha256_fingerprint,
                                                            std::string_view registered_by);
Result<std::string, CredentialRefusal> revoke_certificate(pqxx::transaction_base& tx, std::string_view sha256_fingerprint,
                                                          std::string_view revoked_by);

// For authentication: the active principal of an unrevoked credential, or nullopt.
std::optional<access::Principal> principal_for_certificate(pqxx::transaction_base& tx,
                                                           std::string_view sha256_fingerprint);
struct ApiKeyRecord {
  access::Principal principal;
  std::string secret_hash;
};
std::optional<ApiKeyRecord> api_key_for(pqxx::transaction_base& tx, std::string_view key_id);

bool is_sha256_fingerprint(std::string_view text);

}  // namespace cch::api
