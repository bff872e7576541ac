#pragma once
// A throwaway PostgreSQL database for one test, on the server that deploy/local/test started.
//
// The server is named by CCH_TEST_DATABASE_URL (a superuser URL, e.g.
// postgresql://postgres@127.0.0.1:54321/postgres). Each ScratchDatabase creates a database with a
// unique name and drops it (with FORCE) when it dies, so tests run in parallel without sharing
// state. A missing CCH_TEST_DATABASE_URL is a test failure, not a skip: a suite that silently
// skipped the database would pass without testing anything.

#include <string>

namespace cch::testing {

// The superuser URL from CCH_TEST_DATABASE_URL; throws std::runtime_error if it is not set.
std::string admin_database_url();

class ScratchDatabase {
 public:
  ScratchDatabase();
  ~ScratchDatabase();
  ScratchDatabase(const ScratchDatabase&) = delete;
  ScratchDatabase& operator=(const ScratchDatabase&) = delete;

  [[nodiscard]] const std::string& url() const noexcept { return url_; }
  [[nodiscard]] const std::string& name() const noexcept { return name_; }

 private:
  std::string name_;
  std::string url_;
};

// The URL `base` with its database name replaced by `database`.
std::string url_with_database(const std::string& base, const std::string& database);

}  // namespace cch::testing
