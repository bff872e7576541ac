#include "cch/core/check.hpp"

#include "cch/core/log.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>

namespace cch::detail {

void check_failed(const char* condition, std::string_view message, const char* file, int line) noexcept {
  // Standard error first: it needs nothing that might be in the broken state.
  std::fprintf(stderr, "cch: invariant broken: %s (%.*s) at %s:%d\n", condition, static_cast<int>(message.size()),
               message.data(), file, line);
  try {
    log::error("invariant_broken",
               {{"condition", condition}, {"message", message}, {"file", file}, {"line", line}});
    log::flush();
  } catch (...) {  // the process ends here whatever the log did
  }
  std::abort();
}

}  // namespace cch::detail
