#pragma once
// Result<T, E>: the value of an operation that may be refused for a business reason.
//
// cch reports errors through three channels (CONTRIBUTING.md, "Errors"):
//   - assertions for programmer errors (a broken invariant crashes);
//   - Result<T, E> for expected refusals that a caller must handle (malformed input, a
//     limit breached); E is usually an enum named after the rule that was broken;
//   - exceptions only for environmental failures at the edges (database gone, disk full).
//
// Thread safety: a Result is a plain value; distinct objects may be used from distinct threads.

#include <cassert>
#include <type_traits>
#include <utility>
#include <variant>

namespace cch {

template <class E>
struct Failure {
  E error;
};

template <class E>
Failure<std::decay_t<E>> fail(E&& error) {
  return Failure<std::decay_t<E>>{std::forward<E>(error)};
}

template <class T, class E>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  template <class F>
    requires std::is_constructible_v<E, F>
  Result(Failure<F> failure) : state_(std::in_place_index<1>, E(std::move(failure.error))) {}  // NOLINT

  [[nodiscard]] bool has_value() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  [[nodiscard]] const T& value() const& {
    assert(has_value() && "Result::value() on a failure");
    return std::get<0>(state_);
  }
  [[nodiscard]] T& value() & {
    assert(has_value() && "Result::value() on a failure");
    return std::get<0>(state_);
  }
  [[nodiscard]] T&& value() && {
    assert(has_value() && "Result::value() on a failure");
    return std::get<0>(std::move(state_));
  }
  [[nodiscard]] const E& error() const& {
    assert(!has_value() && "Result::error() on a success");
    return std::get<1>(state_);
  }

  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

 private:
  std::variant<T, E> state_;
};

}  // namespace cch
