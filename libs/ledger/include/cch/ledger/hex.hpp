#pragma once
// Hexadecimal digests as PostgreSQL's encode(..., 'hex') writes them.

#include "cch/core/sha256.hpp"

#include <string_view>

namespace cch::ledger {

// 64 hexadecimal digits to a digest; anything else is a programmer error (asserts) because the
// text always comes from encode(bytea, 'hex') of a 32-byte column.
Sha256Digest digest_from_hex(std::string_view hex);

}  // namespace cch::ledger
