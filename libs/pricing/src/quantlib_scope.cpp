#include "quantlib_scope.hpp"

#include <cassert>
#include <cstdint>

#include <ql/settings.hpp>

namespace cch::pricing::detail {

namespace {

// QuantLib's serial numbers are Excel's: 25569 is 1970-01-01.
constexpr std::int64_t kQuantLibSerialOfUnixEpoch = 25569;

std::mutex& quantlib_mutex() {
  static std::mutex mutex;
  return mutex;
}

// Whether this thread holds the QuantLib mutex (for the assertion against nested scopes).
thread_local bool this_thread_holds_scope = false;

}  // namespace

QuantLib::Date to_quantlib_date(BusinessDate date) {
  const std::int64_t serial = date.days_since_epoch() + kQuantLibSerialOfUnixEpoch;
  assert(serial >= QuantLib::Date::minDate().serialNumber() && serial <= QuantLib::Date::maxDate().serialNumber() &&
         "date outside QuantLib's range");
  return QuantLib::Date(static_cast<QuantLib::Date::serial_type>(serial));
}

BusinessDate from_quantlib_date(const QuantLib::Date& date) {
  const auto days = BusinessDate::from_days_since_epoch(date.serialNumber() - kQuantLibSerialOfUnixEpoch);
  assert(days.has_value() && "QuantLib date before 1970-01-01");
  return days.value();
}

EvaluationDateScope::EvaluationDateScope(BusinessDate as_of) : lock_(quantlib_mutex()) {
  assert(!this_thread_holds_scope && "nested EvaluationDateScope");
  this_thread_holds_scope = true;
  saved_evaluation_date_ = QuantLib::Settings::instance().evaluationDate().value();
  QuantLib::Settings::instance().evaluationDate() = to_quantlib_date(as_of);
}

EvaluationDateScope::~EvaluationDateScope() {
  QuantLib::Settings::instance().evaluationDate() = saved_evaluation_date_;
  this_thread_holds_scope = false;
}

}  // namespace cch::pricing::detail
