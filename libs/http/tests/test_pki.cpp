#include "test_pki.hpp"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <random>
#include <stdexcept>
#include <system_error>

namespace cch::http::testing {
namespace {

namespace fs = std::filesystem;

void run(const std::string& command) {
  const std::string quiet = command + " >/dev/null 2>&1";
  if (std::system(quiet.c_str()) != 0)
    throw std::runtime_error("test PKI command failed: " + command);
}

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  if (!out)
    throw std::runtime_error("cannot write " + path.string());
}

std::string quoted(const fs::path& path) {
  return "'" + path.string() + "'";
}

void make_ca(const fs::path& directory, const std::string& name, const std::string& common_name) {
  run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -keyout " +
      quoted(directory / (name + ".key")) + " -out " + quoted(directory / (name + ".crt")) + " -subj '/CN=" +
      common_name + "' -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign");
}

void make_leaf(const fs::path& directory, const std::string& name, const std::string& common_name,
               const std::string& ca, const std::string& serial, const std::string& extensions) {
  const fs::path key = directory / (name + ".key");
  const fs::path request = directory / (name + ".csr");
  const fs::path extension_file = directory / (name + ".ext");
  write_file(extension_file, extensions);
  run("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout " + quoted(key) + " -out " +
      quoted(request) + " -subj '/CN=" + common_name + "'");
  run("openssl x509 -req -days 2 -in " + quoted(request) + " -CA " + quoted(directory / (ca + ".crt")) + " -CAkey " +
      quoted(directory / (ca + ".key")) + " -set_serial " + serial + " -extfile " + quoted(extension_file) + " -out " +
      quoted(directory / (name + ".crt")));
}

struct OwnedPki {
  TestPki pki;
  ~OwnedPki() {
    std::error_code ignored;  // best effort cleanup of a temporary directory
    fs::remove_all(pki.directory, ignored);
  }
};

std::unique_ptr<OwnedPki> build() {
  auto owned = std::make_unique<OwnedPki>();
  std::random_device device;
  const fs::path directory =
      fs::temp_directory_path() / ("cch_http_pki_" + std::to_string(::getpid()) + "_" + std::to_string(device()));
  fs::create_directories(directory);
  owned->pki.directory = directory;

  make_ca(directory, "ca", "cch test CA");
  make_ca(directory, "foreign_ca", "foreign test CA");
  make_leaf(directory, "server", "localhost", "ca", "0x2001",
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  const std::string client_extensions =
      "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n";
  make_leaf(directory, "client", "member-a", "ca", "0x1001", client_extensions);
  make_leaf(directory, "foreign_client", "intruder", "foreign_ca", "0x1002", client_extensions);

  TestPki& pki = owned->pki;
  const auto file = [&directory](const char* name) { return (directory / name).string(); };
  pki.ca_certificate_file = file("ca.crt");
  pki.server_certificate_file = file("server.crt");
  pki.server_key_file = file("server.key");
  pki.client_certificate_file = file("client.crt");
  pki.client_key_file = file("client.key");
  pki.foreign_ca_certificate_file = file("foreign_ca.crt");
  pki.foreign_client_certificate_file = file("foreign_client.crt");
  pki.foreign_client_key_file = file("foreign_client.key");
  return owned;
}

}  // namespace

const TestPki& test_pki() {
  static const std::unique_ptr<OwnedPki> owned = build();
  return owned->pki;
}

}  // namespace cch::http::testing
