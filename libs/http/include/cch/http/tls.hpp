#pragma once
// TLS configuration for the server and the client, built directly on OpenSSL 3.
//
// Server contract (make_server_context): TLS 1.2 minimum (1.0 and 1.1 refused), the Mozilla
// "intermediate" cipher list for TLS 1.2 (OpenSSL's defaults for TLS 1.3), server cipher
// preference off (as "intermediate" recommends), no compression, no renegotiation, automatic
// DHE/ECDHE groups. Client certificates are verified against client_ca_file per
// client_certificate_mode: none (not requested), optional (requested; a presented certificate
// must verify), required (handshake refused without a verifying certificate).
//
// Client contract (make_client_context): TLS 1.2..1.3 unless overridden for tests; the server's
// chain is verified against ca_file (or the system trust store when ca_file is empty) unless
// verify_server is false. Host name or IP checks are done per connection by Client.
//
// Errors: an unreadable or invalid file throws TlsError whose message is one line naming the
// file, e.g. "cannot read TLS private key file '/etc/cch/api.key': No such file or directory".
//
// Thread safety: the functions are thread-safe. An SslContext may be shared by connections on
// any number of threads once built (OpenSSL contexts are internally locked); do not change it
// after that.

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace cch::http {

enum class ClientCertificateMode { none, optional, required };

enum class TlsVersion { tls1_0, tls1_1, tls1_2, tls1_3 };

struct TlsOptions {
  std::string certificate_file;  // PEM certificate chain, leaf first
  std::string private_key_file;  // PEM private key, unencrypted
  std::string client_ca_file;    // PEM CA certificates for client certificates (unless mode none)
  ClientCertificateMode client_certificate_mode = ClientCertificateMode::none;
};

struct ClientTlsOptions {
  std::string ca_file;                    // PEM CAs that sign the server; empty: system trust store
  bool verify_server = true;              // verify chain and host (name or IP) of the server
  std::string certificate_file;           // optional client certificate (PEM chain) for mutual TLS
  std::string private_key_file;           // its private key, required with certificate_file
  std::optional<TlsVersion> min_version;  // default TLS 1.2; tests may lower it
  std::optional<TlsVersion> max_version;  // default TLS 1.3; tests may lower it
};

class TlsError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct SslContextDeleter {
  void operator()(ssl_ctx_st* context) const noexcept;
};
using SslContext = std::unique_ptr<ssl_ctx_st, SslContextDeleter>;

// session_id_context names the service for TLS session resumption with client certificates
// (at most 32 bytes are used). Throws TlsError.
[[nodiscard]] SslContext make_server_context(const TlsOptions& options, std::string_view session_id_context);

// Throws TlsError.
[[nodiscard]] SslContext make_client_context(const ClientTlsOptions& options);

}  // namespace cch::http
