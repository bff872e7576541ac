#include "cch/ledger/hex.hpp"

#include <cassert>

namespace cch::ledger {
namespace {

std::uint8_t nibble(char c) {
  if (c >= '0' && c <= '9') return static_cast<std::uint8_t>(c - '0');
  if (c >= 'a' && c <= 'f') return static_cast<std::uint8_t>(c - 'a' + 10);
  assert(c >= 'A' && c <= 'F' && "not a hexadecimal digit");
  return static_cast<std::uint8_t>(c - 'A' + 10);
}

}  // namespace

Sha256Digest digest_from_hex(std::string_view hex) {
  assert(hex.size() == 64 && "a SHA-256 digest has 64 hexadecimal digits");
  Sha256Digest digest{};
  for (std::size_t i = 0; i < digest.size() && 2 * i + 1 < hex.size(); ++i) {
    digest[i] = static_cast<std::uint8_t>((nibble(hex[2 * i]) << 4U) | nibble(hex[2 * i + 1]));
  }
  return digest;
}

}  // namespace cch::ledger
