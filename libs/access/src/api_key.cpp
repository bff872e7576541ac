#include "cch/access/api_key.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace cch::access {

namespace {

constexpr std::string_view kHashScheme = "pbkdf2-sha256$";
constexpr std::size_t kIterationsDigitsMax = 8;  // 10,000,000
constexpr std::string_view kHexDigits = "0123456789abcdef";
constexpr std::string_view kBase64UrlAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

using Salt = std::array<std::uint8_t, kApiKeySaltLengthBytes>;
using DerivedHash = std::array<std::uint8_t, kApiKeyHashLengthBytes>;

template <std::size_t Size>
std::array<std::uint8_t, Size> random_bytes() {
  std::array<std::uint8_t, Size> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    throw std::runtime_error("OpenSSL RAND_bytes failed");
  }
  return bytes;
}

template <std::size_t Size>
std::string to_lower_hex(const std::array<std::uint8_t, Size>& bytes) {
  std::string out;
  out.reserve(Size * 2);
  for (const std::uint8_t byte : bytes) {
    out.push_back(kHexDigits[byte >> 4U]);
    out.push_back(kHexDigits[byte & 0x0FU]);
  }
  return out;
}

std::optional<std::uint8_t> lower_hex_value(char character) {
  if (character >= '0' && character <= '9') {
    return static_cast<std::uint8_t>(character - '0');
  }
  if (character >= 'a' && character <= 'f') {
    return static_cast<std::uint8_t>(character - 'a' + 10);
  }
  return std::nullopt;
}

bool is_lower_hex(std::string_view text) {
  for (const char character : text) {
    if (!lower_hex_value(character)) {
      return false;
    }
  }
  return true;
}

// Decodes exactly Size bytes of lower-case hex; nullopt for any other text.
template <std::size_t Size>
std::optional<std::array<std::uint8_t, Size>> from_lower_hex(std::string_view text) {
  if (text.size() != Size * 2) {
    return std::nullopt;
  }
  std::array<std::uint8_t, Size> bytes{};
  for (std::size_t index = 0; index < Size; ++index) {
    const auto high = lower_hex_value(text[2 * index]);
    const auto low = lower_hex_value(text[2 * index + 1]);
    if (!high || !low) {
      return std::nullopt;
    }
    bytes[index] = static_cast<std::uint8_t>((*high << 4U) | *low);
  }
  return bytes;
}

// Base64url without padding (RFC 4648 section 5).
template <std::size_t Size>
std::string to_base64url(const std::array<std::uint8_t, Size>& bytes) {
  std::string out;
  out.reserve((Size * 8 + 5) / 6);
  std::uint32_t buffer = 0;
  unsigned buffered_bits = 0;
  for (const std::uint8_t byte : bytes) {
    buffer = (buffer << 8U) | byte;
    buffered_bits += 8;
    while (buffered_bits >= 6) {
      buffered_bits -= 6;
      out.push_back(kBase64UrlAlphabet[(buffer >> buffered_bits) & 0x3FU]);
    }
  }
  if (buffered_bits > 0) {
    out.push_back(kBase64UrlAlphabet[(buffer << (6 - buffered_bits)) & 0x3FU]);
  }
  return out;
}

// 43 base64url characters whose last one has its two padding bits zero (32 bytes fill 256 of
// the 258 bits), so that one secret has one spelling.
bool is_canonical_secret(std::string_view secret) {
  static_assert(kApiKeySecretLength * 6 - kApiKeySecretRandomBytes * 8 == 2);
  if (secret.size() != kApiKeySecretLength) {
    return false;
  }
  for (const char character : secret) {
    if (kBase64UrlAlphabet.find(character) == std::string_view::npos) {
      return false;
    }
  }
  const std::size_t last_value = kBase64UrlAlphabet.find(secret.back());
  return (last_value & 0x3U) == 0;
}

DerivedHash derive(std::string_view secret, const Salt& salt, int iterations) {
  assert(secret.size() <= kApiKeyHashedSecretLengthMax && "API key secret too long to hash");
  assert(iterations >= kApiKeyHashIterationsMin && iterations <= kApiKeyHashIterationsMax);
  DerivedHash hash{};
  if (PKCS5_PBKDF2_HMAC(secret.data(), static_cast<int>(secret.size()), salt.data(), static_cast<int>(salt.size()),
                        iterations, EVP_sha256(), static_cast<int>(hash.size()), hash.data()) != 1) {
    throw std::runtime_error("OpenSSL PKCS5_PBKDF2_HMAC failed");
  }
  return hash;
}

struct StoredHash {
  int iterations;
  Salt salt;
  DerivedHash hash;
};

Result<int, ApiKeyHashError> parse_iterations(std::string_view text) {
  if (text.empty() || text.size() > kIterationsDigitsMax || text.front() == '0') {
    return fail(ApiKeyHashError::malformed_iterations);
  }
  int value = 0;
  for (const char character : text) {
    if (character < '0' || character > '9') {
      return fail(ApiKeyHashError::malformed_iterations);
    }
    value = value * 10 + (character - '0');  // at most 8 digits: no overflow
  }
  if (value < kApiKeyHashIterationsMin || value > kApiKeyHashIterationsMax) {
    return fail(ApiKeyHashError::iterations_out_of_range);
  }
  return value;
}

Result<StoredHash, ApiKeyHashError> parse_stored_hash(std::string_view stored) {
  if (stored.size() > kApiKeyStoredHashLengthMax) {
    return fail(ApiKeyHashError::too_long);
  }
  if (!stored.starts_with(kHashScheme)) {
    return fail(ApiKeyHashError::unknown_scheme);
  }
  const std::string_view fields = stored.substr(kHashScheme.size());
  const std::size_t first_separator = fields.find('$');
  if (first_separator == std::string_view::npos) {
    return fail(ApiKeyHashError::malformed);
  }
  const std::size_t second_separator = fields.find('$', first_separator + 1);
  if (second_separator == std::string_view::npos || fields.find('$', second_separator + 1) != std::string_view::npos) {
    return fail(ApiKeyHashError::malformed);
  }
  const auto iterations = parse_iterations(fields.substr(0, first_separator));
  if (!iterations) {
    return fail(iterations.error());
  }
  const auto salt = from_lower_hex<kApiKeySaltLengthBytes>(
      fields.substr(first_separator + 1, second_separator - first_separator - 1));
  if (!salt) {
    return fail(ApiKeyHashError::malformed_salt);
  }
  const auto hash = from_lower_hex<kApiKeyHashLengthBytes>(fields.substr(second_separator + 1));
  if (!hash) {
    return fail(ApiKeyHashError::malformed_hash);
  }
  return StoredHash{*iterations, *salt, *hash};
}

}  // namespace

std::string_view to_string(ApiKeyError error) {
  switch (error) {
    case ApiKeyError::empty:
      return "empty";
    case ApiKeyError::too_long:
      return "too_long";
    case ApiKeyError::wrong_prefix:
      return "wrong_prefix";
    case ApiKeyError::too_short:
      return "too_short";
    case ApiKeyError::missing_separator:
      return "missing_separator";
    case ApiKeyError::malformed_key_id:
      return "malformed_key_id";
    case ApiKeyError::malformed_secret:
      return "malformed_secret";
  }
  return "unknown";
}

std::string_view to_string(ApiKeyHashError error) {
  switch (error) {
    case ApiKeyHashError::too_long:
      return "too_long";
    case ApiKeyHashError::unknown_scheme:
      return "unknown_scheme";
    case ApiKeyHashError::malformed:
      return "malformed";
    case ApiKeyHashError::malformed_iterations:
      return "malformed_iterations";
    case ApiKeyHashError::iterations_out_of_range:
      return "iterations_out_of_range";
    case ApiKeyHashError::malformed_salt:
      return "malformed_salt";
    case ApiKeyHashError::malformed_hash:
      return "malformed_hash";
  }
  return "unknown";
}

std::string ApiKey::token() const {
  assert(key_id.size() == kApiKeyIdLength && secret.size() == kApiKeySecretLength);
  std::string out;
  out.reserve(kApiKeyTokenLength);
  out.append(kApiKeyPrefix).append(key_id).append("_").append(secret);
  return out;
}

ApiKey generate_api_key() {
  static_assert(kApiKeyIdLength % 2 == 0);
  return ApiKey{to_lower_hex(random_bytes<kApiKeyIdLength / 2>()),
                to_base64url(random_bytes<kApiKeySecretRandomBytes>())};
}

Result<ApiKey, ApiKeyError> parse_api_key(std::string_view token) {
  static_assert(kApiKeyPrefix.size() + kApiKeyIdLength + 1 + kApiKeySecretLength == kApiKeyTokenLength);
  if (token.empty()) {
    return fail(ApiKeyError::empty);
  }
  if (token.size() > kApiKeyTokenLength) {
    return fail(ApiKeyError::too_long);
  }
  if (!token.starts_with(kApiKeyPrefix)) {
    return fail(ApiKeyError::wrong_prefix);
  }
  if (token.size() < kApiKeyTokenLength) {
    return fail(ApiKeyError::too_short);
  }
  const std::string_view key_id = token.substr(kApiKeyPrefix.size(), kApiKeyIdLength);
  const std::size_t separator_position = kApiKeyPrefix.size() + kApiKeyIdLength;
  if (token[separator_position] != '_') {
    return fail(ApiKeyError::missing_separator);
  }
  const std::string_view secret = token.substr(separator_position + 1);
  if (!is_lower_hex(key_id)) {
    return fail(ApiKeyError::malformed_key_id);
  }
  if (!is_canonical_secret(secret)) {
    return fail(ApiKeyError::malformed_secret);
  }
  return ApiKey{std::string(key_id), std::string(secret)};
}

std::string hash_api_key_secret(std::string_view secret, int iterations) {
  const Salt salt = random_bytes<kApiKeySaltLengthBytes>();
  const DerivedHash hash = derive(secret, salt, iterations);
  std::string out;
  out.reserve(kApiKeyStoredHashLengthMax);
  out.append(kHashScheme)
      .append(std::to_string(iterations))
      .append("$")
      .append(to_lower_hex(salt))
      .append("$")
      .append(to_lower_hex(hash));
  return out;
}

Result<bool, ApiKeyHashError> verify_api_key_secret(std::string_view secret, std::string_view stored) {
  const auto parsed = parse_stored_hash(stored);
  if (!parsed) {
    return fail(parsed.error());
  }
  if (secret.size() > kApiKeyHashedSecretLengthMax) {
    return false;  // hash_api_key_secret never hashes such a secret
  }
  const DerivedHash derived = derive(secret, parsed->salt, parsed->iterations);
  return CRYPTO_memcmp(derived.data(), parsed->hash.data(), derived.size()) == 0;
}

}  // namespace cch::access
