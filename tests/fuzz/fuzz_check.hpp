#pragma once
// Shared by the libFuzzer targets in this directory: how a target reports a broken property.
//
// check() prints what was violated and aborts, so libFuzzer reports a "deadly signal", writes
// the input as an artifact (crash-<sha1>) and the ctest run fails. A target never returns early
// on a violated property and never catches exceptions: an escaping exception is a crash too,
// because in a service it would have become a 5xx.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace cch::fuzz {

inline void check(bool condition, const char* property) {
  if (!condition) {
    std::fprintf(stderr, "fuzz property violated: %s\n", property);
    std::abort();
  }
}

// The fuzzer's bytes as text (any bytes, including NUL and invalid UTF-8).
inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return size == 0 ? std::string_view{} : std::string_view(reinterpret_cast<const char*>(data), size);
}

}  // namespace cch::fuzz

// The libFuzzer entry point, declared here so that each target's definition has a prototype.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
