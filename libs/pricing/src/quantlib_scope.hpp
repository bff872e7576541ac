#pragma once
// QuantLib's evaluation date, confined. Private to libs/pricing.
//
// QuantLib keeps "today" in a process-wide singleton (Settings::instance().evaluationDate();
// this QuantLib is built without sessions), and rate helpers, indexes and swaps read it and
// observe it. Every use of QuantLib objects that depend on it happens inside an
// EvaluationDateScope: the constructor takes one process-wide mutex, remembers the evaluation
// date (possibly the unset date, which QuantLib reads as the system's today) and sets it to the
// as-of date; the destructor puts the remembered value back and releases the mutex. Objects that
// observe the evaluation date must be destroyed inside the scope (declare the scope first), so
// that restoring the date notifies no one of ours.
//
// Thread safety: scopes on any number of threads take turns; one thread must not open a second
// scope while it holds one (the mutex is not recursive: it would deadlock, and is asserted
// against in debug builds).

#include <mutex>

#include <ql/time/date.hpp>

#include "cch/core/time.hpp"

namespace cch::pricing::detail {

// QuantLib's date for a cch date. Precondition: the date is within QuantLib's range
// (1901-01-01..2199-12-31); cch dates start in 1970.
QuantLib::Date to_quantlib_date(BusinessDate date);
// cch's date for a QuantLib date. Precondition: on or after 1970-01-01.
BusinessDate from_quantlib_date(const QuantLib::Date& date);

class EvaluationDateScope {
 public:
  explicit EvaluationDateScope(BusinessDate as_of);
  ~EvaluationDateScope();

  EvaluationDateScope(const EvaluationDateScope&) = delete;
  EvaluationDateScope& operator=(const EvaluationDateScope&) = delete;

 private:
  std::unique_lock<std::mutex> lock_;
  QuantLib::Date saved_evaluation_date_;  // guarded by lock_
};

}  // namespace cch::pricing::detail
