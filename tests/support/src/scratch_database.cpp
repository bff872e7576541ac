#include "cch/testing/scratch_database.hpp"

#include <pqxx/connection>
#include <pqxx/nontransaction>

#include <atomic>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <unistd.h>

namespace cch::testing {

std::string admin_database_url() {
  const char* url = std::getenv("CCH_TEST_DATABASE_URL");
  if (url == nullptr || *url == '\0') {
    throw std::runtime_error(
        "CCH_TEST_DATABASE_URL is not set: run the tests through deploy/local/test, which starts PostgreSQL");
  }
  return url;
}

std::string url_with_database(const std::string& base, const std::string& database) {
  const auto scheme_end = base.find("://");
  const auto path_start = base.find('/', scheme_end == std::string::npos ? 0 : scheme_end + 3);
  if (path_start == std::string::npos) {
    throw std::runtime_error("CCH_TEST_DATABASE_URL must be a postgresql:// URL with a database name");
  }
  const auto query_start = base.find('?', path_start);
  const std::string query = query_start == std::string::npos ? "" : base.substr(query_start);
  return base.substr(0, path_start + 1) + database + query;
}

ScratchDatabase::ScratchDatabase() {
  static std::atomic<unsigned> counter{0};
  std::random_device random;
  name_ = "cch_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter.fetch_add(1)) + "_" +
          std::to_string(random() % 1000000U);
  const std::string admin = admin_database_url();
  pqxx::connection connection(admin);
  pqxx::nontransaction tx(connection);
  tx.exec("CREATE DATABASE " + tx.quote_name(name_));
  url_ = url_with_database(admin, name_);
}

ScratchDatabase::~ScratchDatabase() {
  try {
    pqxx::connection connection(admin_database_url());
    pqxx::nontransaction tx(connection);
    tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name_) + " WITH (FORCE)");
  } catch (const std::exception&) {
    // The cluster is thrown away after the run; a leftover database is harmless.
  }
}

}  // namespace cch::testing
