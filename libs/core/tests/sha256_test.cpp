#include "cch/core/sha256.hpp"

#include <gtest/gtest.h>

TEST(Sha256, MatchesPublishedTestVectors) {
  // FIPS 180-2 appendix B.1 and the digest of the empty string.
  EXPECT_EQ(cch::sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(cch::sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Sha256, HexIsLowerCaseAnd64Characters) {
  const std::string hex = cch::sha256_hex("cch");
  ASSERT_EQ(hex.size(), 64U);
  for (const char c : hex) {
    EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << hex;
  }
}
