#pragma once
// The exit statuses and the one-line error report that every cch-admin command shares.

#include <iostream>
#include <string>

namespace cch::admin {

inline constexpr int kExitFound = 1;     // the command ran and found a problem (or was refused)
inline constexpr int kExitUsage = 2;     // bad command line or configuration
inline constexpr int kExitDatabase = 3;  // the database failed

// Prints "cch-admin: error: <first line of message>" and returns `status`.
inline int error_line(const std::string& message, int status) {
  std::cerr << "cch-admin: error: " << message.substr(0, message.find('\n')) << std::endl;
  return status;
}

}  // namespace cch::admin
