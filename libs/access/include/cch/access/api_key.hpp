#pragma once
// API keys: a credential shown to its owner once, at creation, and stored only as a slow hash.
//
// Token (what the client sends, e.g. "Authorization: Bearer cch_..."), exactly 64 characters:
//     cch_<key_id>_<secret>
//   - "cch_": marks the text as a cch API key, so secret scanners and log filters can spot it;
//   - key_id: 16 lower-case hex digits (64 random bits). Public: the server looks the key up
//     by it, and it may appear in logs and audit records;
//   - "_";
//   - secret: 43 characters of base64url without padding (RFC 4648 section 5: A-Z a-z 0-9 - _)
//     encoding 32 random bytes (256 bits). 32 bytes fill 42 characters and 4 bits of a 43rd,
//     whose last 2 bits are zero, so only 16 of the 64 characters may end a secret: one byte
//     string has one spelling. Never logged, never stored.
//   Both parts come from OpenSSL's CSPRNG (RAND_bytes); a CSPRNG failure throws
//   std::runtime_error (an environmental failure, not a refusal).
//
// parse_api_key refuses (ApiKeyError), checked in this order: empty; too_long (more than 64
// characters: checked before any character is read, so a megabyte header costs nothing);
// wrong_prefix (does not start with "cch_"); too_short; missing_separator (no '_' after the
// key id); malformed_key_id (not 16 lower-case hex digits); malformed_secret (not 43 base64url
// characters, or a last character with non-zero padding bits).
//
// Stored form (the only thing the database keeps about the secret), at most 128 characters:
//     pbkdf2-sha256$<iterations>$<salt: 32 lower-case hex>$<hash: 64 lower-case hex>
// PBKDF2-HMAC-SHA256 (RFC 8018) of the secret's 43 characters with a 16-byte random salt,
// 32-byte output. The iteration count is kept in the text, so raising the default later only
// changes new keys; old ones still verify. Iterations must lie in [1,000, 10,000,000].
// Default: 100,000 iterations, measured by hand (not in a test) on this project's reference
// machine (2 shared cores, OpenSSL 3.0, -O2 release build) at about 70 ms of CPU per hash or
// verification: 69.5-81.6 ms of thread CPU time over 20 runs; 72.6-74.2 ms wall time with the
// machine quiet, up to about 160 ms wall time with both cores busy. Debug builds with
// AddressSanitizer are several times slower (OpenSSL's allocations go through ASan's
// allocator), so tests use kApiKeyHashIterationsMin. A secret of 256 random bits cannot be
// guessed whatever the count; the slow hash is defence in depth for a stolen database, and its
// cost is why VerifiedKeyCache exists and why the API must rate-limit failed attempts before
// verifying (each one costs the server those 70 ms).
//
// verify_api_key_secret refuses a stored text that is not of that form (ApiKeyHashError),
// checked in this order: too_long, unknown_scheme (not "pbkdf2-sha256$": a future scheme is
// told apart from damage), malformed (not three '$'-separated fields after the scheme),
// malformed_iterations (not decimal digits without a leading zero), iterations_out_of_range,
// malformed_salt, malformed_hash. Otherwise it answers true or false; the derived and stored
// hashes are compared in constant time (CRYPTO_memcmp). A secret longer than 1,024 bytes is
// never hashed (precondition of hash_api_key_secret), so it verifies as false.
//
// VerifiedKeyCache: so that the slow hash runs once per key per process, not once per
// request. After verify_api_key_secret has answered true, the caller remembers (key_id,
// secret); later requests check the cache first. It keeps a SHA-256 of the secret (one fast
// hash per check), never the secret. Bounded: at most max_entries entries (default 10,000,
// about 1.5 MB), the least recently checked evicted first. Each entry expires time_to_live
// (default 5 minutes) after it was remembered, whatever its use: a key revoked in the database
// stops working in every process within that time, and at once in a process that calls
// forget(key_id). A hit does not extend the entry's life. Time is passed in (`now`, a
// steady_clock instant), so tests drive it.
//
// Thread safety: ApiKey is a plain value; the free functions are pure apart from RAND_bytes
// (thread-safe) and may be called from any thread. A VerifiedKeyCache may be used from any
// number of threads at once: one mutex guards its state (each call holds it for one map
// lookup and one SHA-256 at most).

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "cch/core/result.hpp"

namespace cch::access {

inline constexpr std::string_view kApiKeyPrefix = "cch_";
inline constexpr std::size_t kApiKeyIdLength = 16;      // hex digits (8 random bytes)
inline constexpr std::size_t kApiKeySecretLength = 43;  // base64url characters (32 random bytes)
inline constexpr std::size_t kApiKeySecretRandomBytes = 32;
inline constexpr std::size_t kApiKeyTokenLength = 64;  // "cch_" + 16 + "_" + 43

inline constexpr int kApiKeyHashIterationsDefault = 100'000;  // about 70 ms of CPU per hash, see above
inline constexpr int kApiKeyHashIterationsMin = 1'000;
inline constexpr int kApiKeyHashIterationsMax = 10'000'000;
inline constexpr std::size_t kApiKeySaltLengthBytes = 16;
inline constexpr std::size_t kApiKeyHashLengthBytes = 32;
inline constexpr std::size_t kApiKeyStoredHashLengthMax = 128;
inline constexpr std::size_t kApiKeyHashedSecretLengthMax = 1024;

enum class ApiKeyError {
  empty,              // ""
  too_long,           // more than 64 characters
  wrong_prefix,       // does not start with "cch_"
  too_short,          // fewer than 64 characters
  missing_separator,  // no '_' between key id and secret
  malformed_key_id,   // not 16 lower-case hex digits
  malformed_secret,   // not 43 base64url characters ending in a canonical character
};
std::string_view to_string(ApiKeyError error);

enum class ApiKeyHashError {
  too_long,                 // more than 128 characters
  unknown_scheme,           // does not start with "pbkdf2-sha256$"
  malformed,                // not <iterations>$<salt>$<hash> after the scheme
  malformed_iterations,     // not decimal digits without a leading zero
  iterations_out_of_range,  // outside [kApiKeyHashIterationsMin, kApiKeyHashIterationsMax]
  malformed_salt,           // not 32 lower-case hex digits
  malformed_hash,           // not 64 lower-case hex digits
};
std::string_view to_string(ApiKeyHashError error);

struct ApiKey {
  std::string key_id;  // 16 lower-case hex digits, public
  std::string secret;  // 43 base64url characters, shown once

  // "cch_<key_id>_<secret>". Precondition: the parts are well formed (made by
  // generate_api_key or parse_api_key).
  [[nodiscard]] std::string token() const;

  friend bool operator==(const ApiKey&, const ApiKey&) = default;
};

// A new key from OpenSSL's CSPRNG. Throws std::runtime_error if RAND_bytes fails.
ApiKey generate_api_key();

// Splits and checks a token under the rules above.
Result<ApiKey, ApiKeyError> parse_api_key(std::string_view token);

// The stored form of `secret` with a fresh random salt.
// Preconditions: secret.size() <= kApiKeyHashedSecretLengthMax and iterations in
// [kApiKeyHashIterationsMin, kApiKeyHashIterationsMax]. Throws std::runtime_error if OpenSSL fails.
std::string hash_api_key_secret(std::string_view secret, int iterations = kApiKeyHashIterationsDefault);

// Whether `secret` is the one hashed into `stored`; refused if `stored` is malformed.
// Costs the stored iteration count. Throws std::runtime_error if OpenSSL fails.
Result<bool, ApiKeyHashError> verify_api_key_secret(std::string_view secret, std::string_view stored);

class VerifiedKeyCache {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::size_t kMaxEntriesDefault = 10'000;
  static constexpr std::chrono::minutes kTimeToLiveDefault{5};

  // Preconditions: max_entries > 0, time_to_live > 0.
  explicit VerifiedKeyCache(std::size_t max_entries = kMaxEntriesDefault,
                            Clock::duration time_to_live = kTimeToLiveDefault);

  VerifiedKeyCache(const VerifiedKeyCache&) = delete;
  VerifiedKeyCache& operator=(const VerifiedKeyCache&) = delete;

  // True if (key_id, secret) was remembered less than time_to_live before `now` and not
  // forgotten or evicted since. An expired entry is dropped. A wrong secret answers false and
  // leaves the entry alone (the caller then runs the slow verification, which fails).
  [[nodiscard]] bool check(std::string_view key_id, std::string_view secret, Clock::time_point now);

  // Records that `secret` was verified for `key_id` at `now`: call it only after
  // verify_api_key_secret answered true. Replaces any entry for key_id; evicts the least
  // recently used entry when full.
  void remember(std::string_view key_id, std::string_view secret, Clock::time_point now);

  // Drops the entry for key_id, if any (on revocation, in the process that revoked it).
  void forget(std::string_view key_id);

  // Entries held, expired ones included until they are next looked at or evicted.
  [[nodiscard]] std::size_t size() const;

 private:
  using SecretDigest = std::array<std::uint8_t, 32>;
  struct Entry {
    std::string key_id;
    SecretDigest secret_digest;  // SHA-256 of the secret
    Clock::time_point expires_at;
  };
  using EntryList = std::list<Entry>;

  const std::size_t max_entries_;
  const Clock::duration time_to_live_;

  mutable std::mutex mutex_;
  EntryList entries_;  // guarded by mutex_: most recently used first
  // guarded by mutex_: key_id -> its entry; the key views the entry's own key_id (list nodes
  // never move), erased before the entry.
  std::unordered_map<std::string_view, EntryList::iterator> index_;
};

}  // namespace cch::access
