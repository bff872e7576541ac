#include "cch/access/api_key.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace {

using cch::access::ApiKey;
using cch::access::ApiKeyError;
using cch::access::ApiKeyHashError;

constexpr std::string_view kBase64UrlAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr int kFastIterations = cch::access::kApiKeyHashIterationsMin;  // keeps the suite quick

// A well-formed token: key id "0123456789abcdef", secret of 42 'A' and a final 'Q' (value 16).
constexpr std::string_view kKeyId = "0123456789abcdef";
constexpr std::string_view kSecret = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAQ";
constexpr std::string_view kToken = "cch_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAQ";
static_assert(kSecret.size() == 43 && kToken.size() == 64);

// Decodes base64url without padding (test oracle, independent of the library's encoder).
std::vector<std::uint8_t> decode_base64url(std::string_view text) {
  std::vector<std::uint8_t> bytes;
  std::uint32_t buffer = 0;
  unsigned buffered_bits = 0;
  for (const char character : text) {
    buffer = (buffer << 6U) | static_cast<std::uint32_t>(kBase64UrlAlphabet.find(character));
    buffered_bits += 6;
    if (buffered_bits >= 8) {
      buffered_bits -= 8;
      bytes.push_back(static_cast<std::uint8_t>((buffer >> buffered_bits) & 0xFFU));
    }
  }
  return bytes;
}

}  // namespace

TEST(ApiKey, GeneratedKeyHasTheDocumentedShapeAndParsesBack) {
  const ApiKey key = cch::access::generate_api_key();
  EXPECT_EQ(key.key_id.size(), 16U);
  EXPECT_EQ(key.key_id.find_first_not_of("0123456789abcdef"), std::string::npos) << key.key_id;
  EXPECT_EQ(key.secret.size(), 43U);
  EXPECT_EQ(key.secret.find_first_not_of(kBase64UrlAlphabet), std::string::npos);

  const std::string token = key.token();
  EXPECT_EQ(token.size(), 64U);
  EXPECT_EQ(token, "cch_" + key.key_id + "_" + key.secret);
  const auto parsed = cch::access::parse_api_key(token);
  ASSERT_TRUE(parsed.has_value()) << cch::access::to_string(parsed.error());
  EXPECT_EQ(parsed.value(), key);
}

TEST(ApiKey, GeneratedSecretsEncodeThirtyTwoRandomBytes) {
  constexpr int kKeyCount = 1000;
  std::set<std::string> key_ids;
  std::set<std::string> secrets;
  std::set<char> characters_seen;
  std::array<std::set<std::uint8_t>, 32> values_per_byte_position;
  for (int index = 0; index < kKeyCount; ++index) {
    const ApiKey key = cch::access::generate_api_key();
    key_ids.insert(key.key_id);
    secrets.insert(key.secret);
    characters_seen.insert(key.secret.begin(), key.secret.end());
    ASSERT_TRUE(cch::access::parse_api_key(key.token()).has_value()) << key.token();
    const std::vector<std::uint8_t> bytes = decode_base64url(key.secret);
    ASSERT_EQ(bytes.size(), 32U);
    for (std::size_t position = 0; position < bytes.size(); ++position) {
      values_per_byte_position[position].insert(bytes[position]);
    }
  }
  EXPECT_EQ(key_ids.size(), static_cast<std::size_t>(kKeyCount));
  EXPECT_EQ(secrets.size(), static_cast<std::size_t>(kKeyCount));
  EXPECT_EQ(characters_seen.size(), 64U) << "every base64url character occurs in 43,000 random characters";
  for (std::size_t position = 0; position < values_per_byte_position.size(); ++position) {
    // 1000 uniform bytes take about 250 distinct values; a stuck or biased byte would not.
    EXPECT_GT(values_per_byte_position[position].size(), 200U) << "byte " << position;
  }
}

TEST(ApiKey, ParseAcceptsAWellFormedToken) {
  const auto parsed = cch::access::parse_api_key(kToken);
  ASSERT_TRUE(parsed.has_value()) << cch::access::to_string(parsed.error());
  EXPECT_EQ(parsed->key_id, kKeyId);
  EXPECT_EQ(parsed->secret, kSecret);
  EXPECT_EQ(parsed->token(), kToken);
}

TEST(ApiKey, ParseAcceptsOnlyCanonicalLastSecretCharacters) {
  const std::string key_id(kKeyId);
  // 32 bytes leave 2 zero bits in the 43rd character: its value must be a multiple of 4.
  for (std::size_t value = 0; value < kBase64UrlAlphabet.size(); ++value) {
    const std::string token = "cch_" + key_id + "_" + std::string(42, '-') + kBase64UrlAlphabet[value];
    const auto parsed = cch::access::parse_api_key(token);
    if (value % 4 == 0) {
      EXPECT_TRUE(parsed.has_value()) << "last character " << kBase64UrlAlphabet[value];
    } else {
      ASSERT_FALSE(parsed.has_value()) << "last character " << kBase64UrlAlphabet[value];
      EXPECT_EQ(parsed.error(), ApiKeyError::malformed_secret);
    }
  }
  // '_' and '-' are part of the alphabet anywhere else, including right after the separator.
  EXPECT_TRUE(cch::access::parse_api_key("cch_" + key_id + "__" + std::string(41, '-') + "w").has_value());
}

TEST(ApiKey, ParseRefusesEverythingElseWithTheRuleBroken) {
  const std::string key_id(kKeyId);
  const std::string secret(kSecret);
  const std::string token(kToken);
  const std::string one_megabyte(1U << 20U, 'a');
  const std::vector<std::pair<std::string, ApiKeyError>> cases = {
      {"", ApiKeyError::empty},
      {token + "A", ApiKeyError::too_long},
      {token + "\n", ApiKeyError::too_long},
      {one_megabyte, ApiKeyError::too_long},
      {"cch", ApiKeyError::wrong_prefix},
      {"Bearer " + token.substr(7), ApiKeyError::wrong_prefix},
      {"CCH_" + token.substr(4), ApiKeyError::wrong_prefix},
      {"xch_" + token.substr(4), ApiKeyError::wrong_prefix},
      {"cch-" + token.substr(4), ApiKeyError::wrong_prefix},
      {" " + token.substr(0, 63), ApiKeyError::wrong_prefix},
      {"cch_", ApiKeyError::too_short},
      {token.substr(0, 63), ApiKeyError::too_short},
      {"cch_" + key_id + "_", ApiKeyError::too_short},
      {"cch_" + key_id + "-" + secret, ApiKeyError::missing_separator},
      {"cch_" + key_id + "A" + secret, ApiKeyError::missing_separator},
      {"cch_0123456789ABCDEF_" + secret, ApiKeyError::malformed_key_id},
      {"cch_0123456789abcdeg_" + secret, ApiKeyError::malformed_key_id},
      {"cch_0123456789abcde__" + secret, ApiKeyError::malformed_key_id},
      {std::string("cch_0123456789abcde\0_", 21) + secret, ApiKeyError::malformed_key_id},
      {"cch_" + key_id + "_" + std::string(42, 'A') + "=", ApiKeyError::malformed_secret},
      {"cch_" + key_id + "_" + std::string(41, 'A') + "+Q", ApiKeyError::malformed_secret},
      {"cch_" + key_id + "_" + std::string(41, 'A') + "/Q", ApiKeyError::malformed_secret},
      {"cch_" + key_id + "_" + std::string(41, 'A') + " Q", ApiKeyError::malformed_secret},
      {"cch_" + key_id + "_" + std::string(40, 'A') + "\xc3\xa9Q", ApiKeyError::malformed_secret},
      {"cch_" + key_id + "_" + std::string(41, 'A') + std::string(1, '\0') + "Q", ApiKeyError::malformed_secret},
  };
  for (const auto& [text, expected_error] : cases) {
    const auto parsed = cch::access::parse_api_key(text);
    ASSERT_FALSE(parsed.has_value()) << "'" << text.substr(0, 80) << "'";
    EXPECT_EQ(parsed.error(), expected_error)
        << "'" << text.substr(0, 80) << "' refused as " << cch::access::to_string(parsed.error());
  }
}

TEST(ApiKey, RefusalCodesAreStableSnakeCase) {
  EXPECT_EQ(cch::access::to_string(ApiKeyError::empty), "empty");
  EXPECT_EQ(cch::access::to_string(ApiKeyError::too_long), "too_long");
  EXPECT_EQ(cch::access::to_string(ApiKeyError::wrong_prefix), "wrong_prefix");
  EXPECT_EQ(cch::access::to_string(ApiKeyError::too_short), "too_short");
  EXPECT_EQ(cch::access::to_string(ApiKeyError::missing_separator), "missing_separator");
  EXPECT_EQ(cch::access::to_string(ApiKeyError::malformed_key_id), "malformed_key_id");
  EXPECT_EQ(cch::access::to_string(ApiKeyError::malformed_secret), "malformed_secret");

  EXPECT_EQ(cch::access::to_string(ApiKeyHashError::too_long), "too_long");
  EXPECT_EQ(cch::access::to_string(ApiKeyHashError::unknown_scheme), "unknown_scheme");
  EXPECT_EQ(cch::access::to_string(ApiKeyHashError::malformed), "malformed");
  EXPECT_EQ(cch::access::to_string(ApiKeyHashError::malformed_iterations), "malformed_iterations");
  EXPECT_EQ(cch::access::to_string(ApiKeyHashError::iterations_out_of_range), "iterations_out_of_range");
  EXPECT_EQ(cch::access::to_string(ApiKeyHashError::malformed_salt), "malformed_salt");
  EXPECT_EQ(cch::access::to_string(ApiKeyHashError::malformed_hash), "malformed_hash");
}

TEST(ApiKeyHash, StoredFormHasTheDocumentedFieldsAndVerifiesOnlyTheSameSecret) {
  const ApiKey key = cch::access::generate_api_key();
  const std::string stored = cch::access::hash_api_key_secret(key.secret, kFastIterations);

  const std::string_view prefix = "pbkdf2-sha256$1000$";
  ASSERT_EQ(stored.substr(0, prefix.size()), prefix) << stored;
  const std::string_view salt_and_hash = std::string_view(stored).substr(prefix.size());
  ASSERT_EQ(salt_and_hash.size(), 32U + 1U + 64U) << stored;
  EXPECT_EQ(salt_and_hash[32], '$');
  EXPECT_EQ(std::string(salt_and_hash.substr(0, 32)).find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(std::string(salt_and_hash.substr(33)).find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(stored.find(key.secret), std::string::npos) << "the secret itself is never stored";

  const auto same = cch::access::verify_api_key_secret(key.secret, stored);
  ASSERT_TRUE(same.has_value()) << cch::access::to_string(same.error());
  EXPECT_TRUE(same.value());

  std::string one_character_off = key.secret;
  one_character_off[10] = one_character_off[10] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(cch::access::verify_api_key_secret(one_character_off, stored).value());
  EXPECT_FALSE(cch::access::verify_api_key_secret(cch::access::generate_api_key().secret, stored).value());
  EXPECT_FALSE(cch::access::verify_api_key_secret("", stored).value());
  EXPECT_FALSE(cch::access::verify_api_key_secret(key.secret + "A", stored).value());
  EXPECT_FALSE(cch::access::verify_api_key_secret(std::string(2000, 'A'), stored).value());
}

TEST(ApiKeyHash, EachHashHasItsOwnSalt) {
  const std::string stored_first = cch::access::hash_api_key_secret(kSecret, kFastIterations);
  const std::string stored_second = cch::access::hash_api_key_secret(kSecret, kFastIterations);
  EXPECT_NE(stored_first, stored_second);
  EXPECT_NE(stored_first.substr(19, 32), stored_second.substr(19, 32)) << "salts differ";
  EXPECT_TRUE(cch::access::verify_api_key_secret(kSecret, stored_first).value());
  EXPECT_TRUE(cch::access::verify_api_key_secret(kSecret, stored_second).value());
}

TEST(ApiKeyHash, VerifiesTextsComputedByAnIndependentImplementation) {
  // Python: hashlib.pbkdf2_hmac('sha256', secret, salt, iterations, 32).hex(); that
  // implementation gives RFC 7914's PBKDF2-HMAC-SHA256 test vector ("passwd", "salt", 1).
  const std::string stored_a =
      "pbkdf2-sha256$1000$000102030405060708090a0b0c0d0e0f$"
      "42af6f75be67b1f1580020975244968ffd5cf8e344cea15c8382f5ed70269dce";
  EXPECT_TRUE(cch::access::verify_api_key_secret(std::string(43, 'A'), stored_a).value());
  EXPECT_FALSE(cch::access::verify_api_key_secret(std::string(42, 'A') + "Q", stored_a).value());

  const std::string stored_b =
      "pbkdf2-sha256$2000$4e61436c4e61436c4e61436c4e61436c$"
      "7e738a09b9121a379a7d394a9d600c757f73ff44e246ef78b6f99f01160a4abe";
  EXPECT_TRUE(cch::access::verify_api_key_secret("Password", stored_b).value());

  // The iteration count, salt and hash in the text all take part.
  std::string other_iterations = stored_b;
  other_iterations.replace(14, 4, "2001");
  EXPECT_FALSE(cch::access::verify_api_key_secret("Password", other_iterations).value());
  std::string other_salt = stored_b;
  other_salt[19] = '5';
  EXPECT_FALSE(cch::access::verify_api_key_secret("Password", other_salt).value());
  std::string other_hash = stored_b;
  other_hash.back() = 'f';
  EXPECT_FALSE(cch::access::verify_api_key_secret("Password", other_hash).value());
}

TEST(ApiKeyHash, DefaultIterationCountIsUsedAndStored) {
  static_assert(cch::access::kApiKeyHashIterationsDefault >= cch::access::kApiKeyHashIterationsMin &&
                cch::access::kApiKeyHashIterationsDefault <= cch::access::kApiKeyHashIterationsMax);
  const std::string stored = cch::access::hash_api_key_secret(kSecret);
  EXPECT_EQ(stored.substr(0, 21), "pbkdf2-sha256$100000$");
  EXPECT_TRUE(cch::access::verify_api_key_secret(kSecret, stored).value());
}

TEST(ApiKeyHash, VerifyRefusesAMalformedStoredText) {
  const std::string salt(32, 'a');
  const std::string hash(64, 'b');
  const std::vector<std::pair<std::string, ApiKeyHashError>> cases = {
      {"pbkdf2-sha256$1000$" + salt + "$" + hash + std::string(20, 'c'), ApiKeyHashError::too_long},
      {std::string(1U << 20U, 'x'), ApiKeyHashError::too_long},
      {"", ApiKeyHashError::unknown_scheme},
      {"$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", ApiKeyHashError::unknown_scheme},
      {"pbkdf2-sha512$1000$" + salt + "$" + hash, ApiKeyHashError::unknown_scheme},
      {"PBKDF2-SHA256$1000$" + salt + "$" + hash, ApiKeyHashError::unknown_scheme},
      {"pbkdf2-sha256", ApiKeyHashError::unknown_scheme},
      {"pbkdf2-sha256$", ApiKeyHashError::malformed},
      {"pbkdf2-sha256$1000", ApiKeyHashError::malformed},
      {"pbkdf2-sha256$1000$" + salt, ApiKeyHashError::malformed},
      {"pbkdf2-sha256$1000$" + salt + hash, ApiKeyHashError::malformed},
      {"pbkdf2-sha256$1000$" + salt + "$" + hash + "$", ApiKeyHashError::malformed},
      {"pbkdf2-sha256$$" + salt + "$" + hash, ApiKeyHashError::malformed_iterations},
      {"pbkdf2-sha256$01000$" + salt + "$" + hash, ApiKeyHashError::malformed_iterations},
      {"pbkdf2-sha256$+1000$" + salt + "$" + hash, ApiKeyHashError::malformed_iterations},
      {"pbkdf2-sha256$-1000$" + salt + "$" + hash, ApiKeyHashError::malformed_iterations},
      {"pbkdf2-sha256$1e4$" + salt + "$" + hash, ApiKeyHashError::malformed_iterations},
      {"pbkdf2-sha256$ 1000$" + salt + "$" + hash, ApiKeyHashError::malformed_iterations},
      {"pbkdf2-sha256$100000000$" + salt + "$" + hash, ApiKeyHashError::malformed_iterations},
      {"pbkdf2-sha256$999$" + salt + "$" + hash, ApiKeyHashError::iterations_out_of_range},
      {"pbkdf2-sha256$10000001$" + salt + "$" + hash, ApiKeyHashError::iterations_out_of_range},
      {"pbkdf2-sha256$99999999$" + salt + "$" + hash, ApiKeyHashError::iterations_out_of_range},
      {"pbkdf2-sha256$1000$$" + hash, ApiKeyHashError::malformed_salt},
      {"pbkdf2-sha256$1000$" + salt.substr(1) + "$" + hash, ApiKeyHashError::malformed_salt},
      {"pbkdf2-sha256$1000$" + salt + "a$" + hash, ApiKeyHashError::malformed_salt},
      {"pbkdf2-sha256$1000$" + std::string(32, 'A') + "$" + hash, ApiKeyHashError::malformed_salt},
      {"pbkdf2-sha256$1000$" + std::string(31, 'a') + "g$" + hash, ApiKeyHashError::malformed_salt},
      {"pbkdf2-sha256$1000$" + salt + "$", ApiKeyHashError::malformed_hash},
      {"pbkdf2-sha256$1000$" + salt + "$" + hash.substr(2), ApiKeyHashError::malformed_hash},
      {"pbkdf2-sha256$1000$" + salt + "$" + hash + "bb", ApiKeyHashError::malformed_hash},
      {"pbkdf2-sha256$1000$" + salt + "$" + std::string(64, 'B'), ApiKeyHashError::malformed_hash},
      {"pbkdf2-sha256$1000$" + salt + "$" + std::string(63, 'b') + " ", ApiKeyHashError::malformed_hash},
  };
  for (const auto& [stored, expected_error] : cases) {
    const auto verified = cch::access::verify_api_key_secret(kSecret, stored);
    ASSERT_FALSE(verified.has_value()) << "'" << stored.substr(0, 140) << "'";
    EXPECT_EQ(verified.error(), expected_error)
        << "'" << stored.substr(0, 140) << "' refused as " << cch::access::to_string(verified.error());
  }
}
