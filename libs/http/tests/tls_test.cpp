#include "cch/http/tls.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>

#include "cch/http/client.hpp"
#include "cch/http/server.hpp"
#include "test_pki.hpp"
#include "test_wait.hpp"

namespace cch::http {
namespace {

using testing::test_pki;

// An HTTPS server whose /whoami route reports the verified client certificate.
struct TlsHarness {
  explicit TlsHarness(ClientCertificateMode mode) {
    const auto& pki = test_pki();
    router.add("GET", "/whoami", [](const Request& request) {
      if (!request.client_certificate)
        return json_response(200, {{"anonymous", true}});
      const ClientCertificate& certificate = *request.client_certificate;
      return json_response(200, {{"subject", certificate.subject_common_name},
                                 {"issuer", certificate.issuer_common_name},
                                 {"serial", certificate.serial_hex},
                                 {"fingerprint", certificate.sha256_fingerprint_hex}});
    });
    ServerOptions options;
    options.service_name = "tls-test";
    options.io_threads = 1;
    options.worker_threads = 2;
    options.limits.handshake_timeout_ms = 10'000;
    options.tls = TlsOptions{pki.server_certificate_file, pki.server_key_file, pki.ca_certificate_file, mode};
    server = std::make_unique<Server>(std::move(options), router, metrics);
    server->start();
  }

  ClientOptions client_options() const {
    ClientOptions options;
    options.host = "127.0.0.1";
    options.port = server->port();
    options.tls = ClientTlsOptions{};
    options.tls->ca_file = test_pki().ca_certificate_file;
    return options;
  }

  ClientOptions with_client_certificate() const {
    ClientOptions options = client_options();
    options.tls->certificate_file = test_pki().client_certificate_file;
    options.tls->private_key_file = test_pki().client_key_file;
    return options;
  }

  Router router;
  Metrics metrics;
  std::unique_ptr<Server> server;
};

nlohmann::json whoami(Client& client) {
  auto response = client.request("GET", "/whoami");
  if (!response) {
    ADD_FAILURE() << "request failed: " << response.error().message;
    return {};
  }
  EXPECT_EQ(response.value().status, 200U);
  return nlohmann::json::parse(response.value().body);
}

TEST(Tls, OptionalModeServesAClientWithoutCertificate) {
  TlsHarness harness(ClientCertificateMode::optional);
  Client client(harness.client_options());
  EXPECT_EQ(whoami(client), nlohmann::json({{"anonymous", true}}));
  EXPECT_EQ(whoami(client), nlohmann::json({{"anonymous", true}}));
  EXPECT_EQ(client.connections_opened(), 1U);  // keep-alive over TLS
}

TEST(Tls, OptionalModeStillVerifiesAPresentedCertificate) {
  TlsHarness harness(ClientCertificateMode::optional);
  ClientOptions options = harness.client_options();
  options.tls->certificate_file = test_pki().foreign_client_certificate_file;
  options.tls->private_key_file = test_pki().foreign_client_key_file;
  Client client(options);
  EXPECT_FALSE(client.request("GET", "/whoami").has_value());
}

TEST(Tls, RequiredModeRefusesAClientWithoutCertificate) {
  TlsHarness harness(ClientCertificateMode::required);
  Client client(harness.client_options());
  const auto response = client.request("GET", "/whoami");
  ASSERT_FALSE(response.has_value());
  EXPECT_EQ(response.error().kind, ClientErrorKind::tls_failed) << response.error().message;
}

TEST(Tls, RequiredModeRefusesAForeignCaCertificate) {
  TlsHarness harness(ClientCertificateMode::required);
  ClientOptions options = harness.client_options();
  options.tls->certificate_file = test_pki().foreign_client_certificate_file;
  options.tls->private_key_file = test_pki().foreign_client_key_file;
  Client client(options);
  const auto response = client.request("GET", "/whoami");
  ASSERT_FALSE(response.has_value());
  EXPECT_EQ(response.error().kind, ClientErrorKind::tls_failed) << response.error().message;
  // The server counts the failure after sending its alert, so the client may see it first.
  EXPECT_TRUE(testing::eventually(
      [&] { return harness.metrics.render().find("cch_http_tls_handshake_failures_total 1\n") != std::string::npos; }));
}

TEST(Tls, RequiredModeAcceptsACaSignedCertificateAndTheHandlerSeesIt) {
  TlsHarness harness(ClientCertificateMode::required);
  Client client(harness.with_client_certificate());
  const nlohmann::json identity = whoami(client);
  EXPECT_EQ(identity["subject"], "member-a");
  EXPECT_EQ(identity["issuer"], "cch test CA");
  EXPECT_EQ(identity["serial"], "1001");
  EXPECT_EQ(identity["fingerprint"].get<std::string>().size(), 64U);
}

TEST(Tls, Tls11IsRefused) {
  TlsHarness harness(ClientCertificateMode::none);
  ClientOptions options = harness.client_options();
  options.tls->min_version = TlsVersion::tls1_0;
  options.tls->max_version = TlsVersion::tls1_1;
  Client client(options);
  const auto response = client.request("GET", "/whoami");
  ASSERT_FALSE(response.has_value());
  EXPECT_EQ(response.error().kind, ClientErrorKind::tls_failed) << response.error().message;
}

TEST(Tls, Tls12AndTls13Work) {
  TlsHarness harness(ClientCertificateMode::required);
  for (const TlsVersion version : {TlsVersion::tls1_2, TlsVersion::tls1_3}) {
    ClientOptions options = harness.with_client_certificate();
    options.tls->min_version = version;
    options.tls->max_version = version;
    Client client(options);
    EXPECT_EQ(whoami(client)["subject"], "member-a");
  }
}

TEST(Tls, ResponsesCarryStrictTransportSecurity) {
  TlsHarness harness(ClientCertificateMode::none);
  Client client(harness.client_options());
  const auto response = client.request("GET", "/whoami");
  ASSERT_TRUE(response.has_value()) << response.error().message;
  EXPECT_EQ(response.value().header("Strict-Transport-Security"), "max-age=31536000");
}

TEST(Tls, ClientRefusesAServerItCannotVerify) {
  TlsHarness harness(ClientCertificateMode::none);
  ClientOptions options = harness.client_options();
  options.tls->ca_file = test_pki().foreign_ca_certificate_file;
  Client wrong_ca(options);
  EXPECT_EQ(wrong_ca.request("GET", "/whoami").error().kind, ClientErrorKind::tls_failed);

  options = harness.client_options();
  options.host = "localhost";  // the certificate names localhost too
  Client by_name(options);
  EXPECT_TRUE(by_name.request("GET", "/whoami").has_value());
}

TEST(Tls, PlainHttpToATlsServerGetsNoResponse) {
  TlsHarness harness(ClientCertificateMode::none);
  ClientOptions options = harness.client_options();
  options.tls.reset();
  Client client(options);
  EXPECT_FALSE(client.request("GET", "/whoami").has_value());
}

TEST(Tls, BadFilesGiveAOneLineErrorNamingTheFile) {
  const auto& pki = test_pki();
  TlsOptions options{pki.server_certificate_file, "/nonexistent/server.key", "", ClientCertificateMode::none};
  try {
    (void)make_server_context(options, "test");
    FAIL() << "expected TlsError";
  } catch (const TlsError& error) {
    EXPECT_EQ(std::string(error.what()),
              "cannot read TLS private key file '/nonexistent/server.key': No such file or directory");
  }

  const std::string garbage = (pki.directory / "garbage.pem").string();
  std::ofstream(garbage) << "not a certificate\n";
  options = {garbage, pki.server_key_file, "", ClientCertificateMode::none};
  try {
    (void)make_server_context(options, "test");
    FAIL() << "expected TlsError";
  } catch (const TlsError& error) {
    const std::string message = error.what();
    EXPECT_EQ(message.rfind("TLS certificate file '" + garbage + "' is not a valid PEM certificate chain", 0), 0U)
        << message;
    EXPECT_EQ(message.find('\n'), std::string::npos);
  }

  options = {pki.server_certificate_file, pki.client_key_file, "", ClientCertificateMode::none};
  EXPECT_THROW((void)make_server_context(options, "test"), TlsError);  // key of another certificate
  options = {pki.server_certificate_file, pki.server_key_file, "", ClientCertificateMode::required};
  EXPECT_THROW((void)make_server_context(options, "test"), TlsError);  // no client CA file

  Router router;
  Metrics metrics;
  ServerOptions server_options;
  server_options.tls = TlsOptions{"/nonexistent/server.crt", pki.server_key_file, "", ClientCertificateMode::none};
  EXPECT_THROW({ Server server(server_options, router, metrics); }, TlsError);
}

}  // namespace
}  // namespace cch::http
