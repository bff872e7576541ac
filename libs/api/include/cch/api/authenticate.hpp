#pragma once
// Authentication of an api request: a registered client certificate (mutual TLS) or an API key
// ("Authorization: Bearer cch_..."). When both are sent, the API key decides.
//
// Contract:
//   - No credential at all: 401 "authentication_required". A credential that is malformed,
//     unknown, revoked, or belongs to a disabled principal: 401 "invalid_credentials" (the
//     client is not told which). Both carry WWW-Authenticate: Bearer.
//   - A credential that verifies is admitted, whatever has failed before from its address: behind
//     a load balancer or a member's NAT every client shares one address, and one misconfigured
//     client (or an attacker) must not lock the others out.
//   - Failed attempts are counted per remote address (a token bucket; failures_per_second,
//     failure_burst). Once an address has failed that often, its next failures are answered 429
//     "too_many_failed_attempts" with Retry-After instead of 401.
//   - The slow hash of an API key's secret (when the secret is not verified in memory already)
//     runs unless both the address and the key have failed that often (a second bucket per key
//     id counts wrong secrets for that key from any address): a flood of guesses is answered 429
//     without hashing. A key whose holder shares an address with such a flood, and whose secret is
//     not yet verified by this process, waits with it until the flood stops; certificates and keys
//     verified in memory never wait.
//   - Cost: a certificate or key is looked up in PostgreSQL at most once per cache_ttl per
//     process (a bounded cache; revocation through this process forgets at once, elsewhere
//     within cache_ttl). An API key's PBKDF2 hash is verified once per key per process per
//     VerifiedKeyCache lifetime (5 minutes).
//
// Thread safety: authenticate() and forget_*() may be called concurrently.

#include "cch/access/api_key.hpp"
#include "cch/access/principal.hpp"
#include "cch/access/rate_limit.hpp"
#include "cch/db/pool.hpp"
#include "cch/http/message.hpp"
#include "cch/http/metrics.hpp"

#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace cch::api {

struct AuthenticatorOptions {
  std::chrono::seconds cache_ttl{30};
  std::size_t cache_entries_max = 10'000;
  double failures_per_second = 1;
  double failure_burst = 20;
};

struct AuthOutcome {
  std::optional<access::Principal> principal;  // set on success
  std::optional<http::Response> refusal;        // set on failure (401 or 429)
};

class Authenticator {
 public:
  // secret_hashes (optional): counts the slow hashes run (cch_api_key_secret_hashes_total).
  Authenticator(db::ConnectionPool& pool, AuthenticatorOptions options, http::Counter* secret_hashes = nullptr);

  [[nodiscard]] AuthOutcome authenticate(const http::Request& request);

  // The principal, when authenticate() would admit the request from memory alone: its
  // credential is in the cache (an API key's secret verified there too). nullopt otherwise (it
  // says nothing of why): authenticate() then decides. Never blocks and records nothing.
  [[nodiscard]] std::optional<access::Principal> known_principal(const http::Request& request);

  void forget_certificate(std::string_view sha256_fingerprint);
  void forget_api_key(std::string_view key_id);

 private:
  struct Cached {
    std::optional<access::Principal> principal;
    std::string secret_hash;  // API keys only
    std::chrono::steady_clock::time_point expires_at;
  };
  std::optional<Cached> cached(const std::string& key, std::chrono::steady_clock::time_point now);
  void remember(const std::string& key, Cached entry);
  // A failed attempt: counted against the address (and the key, for a wrong secret); 401, or 429
  // when the address had failed too often already.
  http::Response refuse(const http::Request& request, std::string_view reason,
                        std::optional<std::string_view> key_id = std::nullopt);

  db::ConnectionPool& pool_;
  const AuthenticatorOptions options_;
  access::VerifiedKeyCache verified_keys_;
  access::RateLimiter failures_;      // per remote address
  access::RateLimiter key_failures_;  // per API key id: wrong secrets
  http::Counter* secret_hashes_;

  std::mutex mutex_;
  std::unordered_map<std::string, Cached> cache_;  // guarded by mutex_: "c:<fingerprint>" or "k:<key_id>"
};

}  // namespace cch::api
