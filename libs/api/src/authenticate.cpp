#include "cch/api/authenticate.hpp"

#include "cch/api/credentials.hpp"
#include "cch/core/log.hpp"

#include <pqxx/transaction>

#include <algorithm>

namespace cch::api {
namespace {

constexpr std::string_view kBearerPrefix = "Bearer ";

http::Response unauthorized(std::string_view reason, std::string_view detail) {
  http::Response response = http::problem(401, reason, "Unauthorized", detail);
  response.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"cch\"");
  return response;
}

http::Response too_many_failures(std::chrono::milliseconds retry_after) {
  http::Response response = http::problem(429, "too_many_failed_attempts", "Too many failed attempts",
                                          "too many failed authentication attempts from this address");
  response.headers.emplace_back("Retry-After",
                                std::to_string(access::retry_after_header_seconds(retry_after).count()));
  return response;
}

}  // namespace

Authenticator::Authenticator(db::ConnectionPool& pool, AuthenticatorOptions options, http::Counter* secret_hashes)
    : pool_(pool),
      options_(options),
      failures_(access::RateLimit{options.failures_per_second, options.failure_burst}, 100'000),
      key_failures_(access::RateLimit{options.failures_per_second, options.failure_burst}, 100'000),
      secret_hashes_(secret_hashes) {}

std::optional<Authenticator::Cached> Authenticator::cached(const std::string& key,
                                                           std::chrono::steady_clock::time_point now) {
  const std::lock_guard lock(mutex_);
  const auto it = cache_.find(key);
  if (it == cache_.end()) return std::nullopt;
  if (it->second.expires_at <= now) {
    cache_.erase(it);
    return std::nullopt;
  }
  return it->second;
}

void Authenticator::remember(const std::string& key, Cached entry) {
  const std::lock_guard lock(mutex_);
  // Bounded: when full, start afresh (entries are cheap to look up again).
  if (cache_.size() >= options_.cache_entries_max) cache_.clear();
  cache_[key] = std::move(entry);
}

void Authenticator::forget_certificate(std::string_view sha256_fingerprint) {
  const std::lock_guard lock(mutex_);
  cache_.erase("c:" + std::string(sha256_fingerprint));
}

void Authenticator::forget_api_key(std::string_view key_id) {
  {
    const std::lock_guard lock(mutex_);
    cache_.erase("k:" + std::string(key_id));
  }
  verified_keys_.forget(key_id);
}

http::Response Authenticator::refuse(const http::Request& request, std::string_view reason,
                                     std::optional<std::string_view> key_id) {
  const auto now = std::chrono::steady_clock::now();
  // The address was throttled before this failure: tell the client to wait.
  const bool throttled = !failures_.check(request.remote_address, now).allowed;
  // Every failure spends from the address's bucket, and a wrong secret from its key's too.
  (void)failures_.try_acquire(request.remote_address, now);
  if (key_id) (void)key_failures_.try_acquire(*key_id, now);
  log::warn("authentication_failed", {{"reason", reason}, {"remote_address", request.remote_address}});
  if (throttled) return too_many_failures(failures_.check(request.remote_address, now).retry_after);
  return unauthorized("invalid_credentials", "the credentials are not valid");
}

std::optional<access::Principal> Authenticator::known_principal(const http::Request& request) {
  const auto now = std::chrono::steady_clock::now();
  if (const auto authorization = request.header("Authorization")) {
    if (!authorization->starts_with(kBearerPrefix)) return std::nullopt;
    const auto key = access::parse_api_key(authorization->substr(kBearerPrefix.size()));
    if (!key || !verified_keys_.check(key->key_id, key->secret, now)) return std::nullopt;
    const auto entry = cached("k:" + key->key_id, now);
    return entry ? entry->principal : std::nullopt;
  }
  if (!request.client_certificate) return std::nullopt;
  const auto entry = cached("c:" + request.client_certificate->sha256_fingerprint_hex, now);
  return entry ? entry->principal : std::nullopt;
}

AuthOutcome Authenticator::authenticate(const http::Request& request) {
  const auto authorization = request.header("Authorization");
  if (!authorization && !request.client_certificate) {
    return {std::nullopt, unauthorized("authentication_required",
                                       "present a client certificate or an API key (Authorization: Bearer ...)")};
  }
  const auto now = std::chrono::steady_clock::now();

  if (authorization) {
    if (!authorization->starts_with(kBearerPrefix)) return {std::nullopt, refuse(request, "not_bearer")};
    const auto key = access::parse_api_key(authorization->substr(kBearerPrefix.size()));
    if (!key) return {std::nullopt, refuse(request, "malformed_api_key")};
    const std::string cache_key = "k:" + key->key_id;
    auto entry = cached(cache_key, now);
    if (!entry) {
      auto lease = pool_.acquire();
      pqxx::read_transaction tx(*lease);
      const auto record = api_key_for(tx, key->key_id);
      if (!record) return {std::nullopt, refuse(request, "unknown_api_key")};
      entry = Cached{record->principal, record->secret_hash, now + options_.cache_ttl};
      remember(cache_key, *entry);
    }
    if (!verified_keys_.check(key->key_id, key->secret, now)) {
      // The slow hash runs only while neither the address nor the key has failed too often: a
      // flood of guesses costs the attacker a 429 each, not the api a hash each.
      const auto address = failures_.check(request.remote_address, now);
      const auto guesses = key_failures_.check(key->key_id, now);
      if (!address.allowed && !guesses.allowed) {
        return {std::nullopt, too_many_failures(std::max(address.retry_after, guesses.retry_after))};
      }
      if (secret_hashes_ != nullptr) secret_hashes_->increment();
      const auto verified = access::verify_api_key_secret(key->secret, entry->secret_hash);
      if (!verified || !*verified) return {std::nullopt, refuse(request, "wrong_api_key_secret", key->key_id)};
      verified_keys_.remember(key->key_id, key->secret, now);
    }
    return {entry->principal, std::nullopt};
  }

  const std::string& fingerprint = request.client_certificate->sha256_fingerprint_hex;
  const std::string cache_key = "c:" + fingerprint;
  if (auto entry = cached(cache_key, now)) return {entry->principal, std::nullopt};
  auto lease = pool_.acquire();
  pqxx::read_transaction tx(*lease);
  const auto principal = principal_for_certificate(tx, fingerprint);
  if (!principal) return {std::nullopt, refuse(request, "unregistered_certificate")};
  remember(cache_key, Cached{principal, {}, now + options_.cache_ttl});
  return {principal, std::nullopt};
}

}  // namespace cch::api
