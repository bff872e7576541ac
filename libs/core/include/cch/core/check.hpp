#pragma once
// CCH_CHECK(condition, message): an invariant that guards money, checked in every build, release
// included (TigerBeetle keeps its assertions on in production for the same reason). A false
// condition is a bug the process must not carry past: it would post, settle or answer from an
// impossible state. It writes one critical log line (the condition, the message, file and line)
// and aborts; the transaction in flight is rolled back by PostgreSQL, and the supervisor restarts
// the process.
//
// Use it where a ledger refusal or a state is impossible by construction and the code relies on
// that (a journal built from checked parts, a fee computed from bounded terms). Use `assert` for
// programmer errors that guard no money (compiled out in release builds), and a returned Result
// for anything a caller or the data can cause.
//
// Thread safety: may be called from any thread; it does not return when the condition is false.

#include <string_view>

namespace cch::detail {
[[noreturn]] void check_failed(const char* condition, std::string_view message, const char* file, int line) noexcept;
}  // namespace cch::detail

#define CCH_CHECK(condition, message) \
  ((condition) ? static_cast<void>(0) : ::cch::detail::check_failed(#condition, (message), __FILE__, __LINE__))
