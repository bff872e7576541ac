#pragma once
// SHA-256 digests (OpenSSL), used for migration checksums and the ledger's hash chain.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace cch {

using Sha256Digest = std::array<std::uint8_t, 32>;

// Digest of the bytes of `data`.
Sha256Digest sha256(std::string_view data);

// Lower-case hexadecimal, 64 characters.
std::string to_hex(const Sha256Digest& digest);

// Convenience: to_hex(sha256(data)).
std::string sha256_hex(std::string_view data);

}  // namespace cch
