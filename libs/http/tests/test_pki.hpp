#pragma once
// A throwaway PKI for TLS tests, made with the openssl command line in a fresh temporary
// directory (removed at process exit):
//   ca.crt                         "cch test CA"
//   server.crt/.key                signed by the CA, SAN IP:127.0.0.1 and DNS:localhost
//   client.crt/.key                signed by the CA, CN "member-a", serial 0x1001
//   foreign_ca.crt                 "foreign test CA"
//   foreign_client.crt/.key        signed by the foreign CA, CN "intruder"
//
// Thread safety: test_pki() is thread-safe (built once, on first use).

#include <filesystem>
#include <string>

namespace cch::http::testing {

struct TestPki {
  std::filesystem::path directory;
  std::string ca_certificate_file;
  std::string server_certificate_file;
  std::string server_key_file;
  std::string client_certificate_file;
  std::string client_key_file;
  std::string foreign_ca_certificate_file;
  std::string foreign_client_certificate_file;
  std::string foreign_client_key_file;
};

// Throws std::runtime_error naming the command that failed.
const TestPki& test_pki();

}  // namespace cch::http::testing
