#include "cch/core/ids.hpp"

#include <openssl/rand.h>

#include <array>
#include <limits>
#include <ostream>
#include <stdexcept>

namespace cch {

namespace {

constexpr std::size_t kInt64DigitsMax = 19;  // 9223372036854775807
constexpr std::size_t kRequestIdRandomBytes = 16;

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool is_request_id_character(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit(c) || c == '.' || c == '_' || c == '-';
}

}  // namespace

std::string_view to_string(IdError error) {
  switch (error) {
    case IdError::empty:
      return "empty";
    case IdError::malformed:
      return "malformed";
    case IdError::leading_zero:
      return "leading_zero";
    case IdError::not_positive:
      return "not_positive";
    case IdError::out_of_range:
      return "out_of_range";
  }
  assert(false && "unknown IdError");
  return "unknown";
}

Result<std::int64_t, IdError> parse_id_value(std::string_view text) {
  if (text.empty()) {
    return fail(IdError::empty);
  }
  for (const char c : text) {
    if (!is_digit(c)) {
      return fail(IdError::malformed);
    }
  }
  if (text.front() == '0') {
    return fail(text.size() == 1 ? IdError::not_positive : IdError::leading_zero);
  }
  if (text.size() > kInt64DigitsMax) {
    return fail(IdError::out_of_range);
  }
  // At most 19 digits: the value fits in uint64 (< 10^19 < 2^64) and is compared to INT64_MAX.
  std::uint64_t value = 0;
  for (const char c : text) {
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    return fail(IdError::out_of_range);
  }
  return static_cast<std::int64_t>(value);
}

std::string_view to_string(RequestIdError error) {
  switch (error) {
    case RequestIdError::empty:
      return "empty";
    case RequestIdError::too_long:
      return "too_long";
    case RequestIdError::invalid_character:
      return "invalid_character";
  }
  assert(false && "unknown RequestIdError");
  return "unknown";
}

Result<RequestId, RequestIdError> RequestId::parse(std::string_view text) {
  if (text.empty()) {
    return fail(RequestIdError::empty);
  }
  if (text.size() > kLengthMax) {
    return fail(RequestIdError::too_long);
  }
  for (const char c : text) {
    if (!is_request_id_character(c)) {
      return fail(RequestIdError::invalid_character);
    }
  }
  return RequestId(std::string(text));
}

namespace {

// xoshiro256** (Blackman and Vigna): 256 bits of state, 64 bits per step.
class Xoshiro256 {
 public:
  Xoshiro256() {
    if (RAND_bytes(reinterpret_cast<unsigned char*>(state_.data()), static_cast<int>(sizeof state_)) != 1) {
      throw std::runtime_error("RequestId::generate: RAND_bytes failed to seed the generator");
    }
    if (state_ == std::array<std::uint64_t, 4>{}) state_[0] = 1;  // the one state it must not be in
  }

  std::uint64_t next() {
    const std::uint64_t result = rotate_left(state_[1] * 5, 7) * 9;
    const std::uint64_t t = state_[1] << 17U;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotate_left(state_[3], 45);
    return result;
  }

 private:
  static std::uint64_t rotate_left(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::array<std::uint64_t, 4> state_{};
};

}  // namespace

RequestId RequestId::generate() {
  static_assert(kRequestIdRandomBytes == 16, "two 64-bit draws");
  thread_local Xoshiro256 generator;
  constexpr std::string_view kHexDigits = "0123456789abcdef";
  std::string hex(kRequestIdRandomBytes * 2, '0');
  std::size_t at = 0;
  for (int draw = 0; draw < 2; ++draw) {
    const std::uint64_t bits = generator.next();
    for (int shift = 60; shift >= 0; shift -= 4) hex[at++] = kHexDigits[(bits >> static_cast<unsigned>(shift)) & 0x0FU];
  }
  return RequestId(std::move(hex));
}

std::ostream& operator<<(std::ostream& stream, const RequestId& request_id) {
  return stream << request_id.value();
}

}  // namespace cch
