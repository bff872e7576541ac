#include "cch/http/tls.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <system_error>

#include "tls_peer.hpp"

namespace cch::http {
namespace {

// Mozilla "intermediate" configuration (version 5.7) for TLS 1.2; TLS 1.3 suites are OpenSSL's.
constexpr const char* intermediate_tls12_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305";

constexpr int verify_depth_limit = 4;

[[noreturn]] void fail_with(std::string message) {
  ERR_clear_error();
  throw TlsError(message);
}

void require_readable(std::string_view what, const std::string& path) {
  if (path.empty())
    fail_with(std::string(what) + " is not set");
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    const int error_number = errno;
    fail_with("cannot read " + std::string(what) + " '" + path +
              "': " + std::error_code(error_number, std::generic_category()).message());
  }
  std::fclose(file);
}

[[noreturn]] void fail_openssl(std::string_view what, const std::string& path, std::string_view problem) {
  std::string reason = detail::take_openssl_error();
  fail_with(std::string(what) + " '" + path + "' " + std::string(problem) +
            (reason.empty() ? std::string() : ": " + reason));
}

int openssl_version(TlsVersion version) noexcept {
  switch (version) {
    case TlsVersion::tls1_0:
      return TLS1_VERSION;
    case TlsVersion::tls1_1:
      return TLS1_1_VERSION;
    case TlsVersion::tls1_2:
      return TLS1_2_VERSION;
    case TlsVersion::tls1_3:
      return TLS1_3_VERSION;
  }
  return TLS1_2_VERSION;
}

void load_certificate_and_key(ssl_ctx_st* context, const std::string& certificate_file,
                              const std::string& private_key_file) {
  require_readable("TLS certificate file", certificate_file);
  require_readable("TLS private key file", private_key_file);
  if (SSL_CTX_use_certificate_chain_file(context, certificate_file.c_str()) != 1) {
    fail_openssl("TLS certificate file", certificate_file, "is not a valid PEM certificate chain");
  }
  if (SSL_CTX_use_PrivateKey_file(context, private_key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    fail_openssl("TLS private key file", private_key_file, "is not a valid unencrypted PEM private key");
  }
  if (SSL_CTX_check_private_key(context) != 1) {
    fail_openssl("TLS private key file", private_key_file,
                 "does not match certificate file '" + certificate_file + "'");
  }
}

SslContext new_context(const SSL_METHOD* method) {
  SslContext context(SSL_CTX_new(method));
  if (!context)
    fail_with("cannot create a TLS context: " + detail::take_openssl_error());
  return context;
}

std::string common_name_of(const X509_NAME* name) {
  if (name == nullptr)
    return {};
  const int index = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (index < 0)
    return {};
  const X509_NAME_ENTRY* entry = X509_NAME_get_entry(name, index);
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(entry);
  unsigned char* utf8 = nullptr;
  const int length = ASN1_STRING_to_UTF8(&utf8, data);
  if (length < 0 || utf8 == nullptr)
    return {};
  std::string text(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(length));
  OPENSSL_free(utf8);
  return text;
}

std::string serial_hex_of(const X509* certificate) {
  BIGNUM* number = ASN1_INTEGER_to_BN(X509_get0_serialNumber(certificate), nullptr);
  if (number == nullptr)
    return {};
  char* hex = BN_bn2hex(number);
  BN_free(number);
  if (hex == nullptr)
    return {};
  std::string text(hex);
  OPENSSL_free(hex);
  return text;
}

std::string sha256_fingerprint_of(const X509* certificate) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (X509_digest(certificate, EVP_sha256(), digest.data(), &length) != 1)
    return {};
  static constexpr char digits[] = "0123456789abcdef";
  std::string text;
  text.reserve(std::size_t{length} * 2);
  for (unsigned int i = 0; i < length; ++i) {
    text.push_back(digits[digest[i] >> 4U]);
    text.push_back(digits[digest[i] & 0x0fU]);
  }
  return text;
}

}  // namespace

void SslContextDeleter::operator()(ssl_ctx_st* context) const noexcept {
  SSL_CTX_free(context);
}

SslContext make_server_context(const TlsOptions& options, std::string_view session_id_context) {
  SslContext context = new_context(TLS_server_method());
  ssl_ctx_st* raw = context.get();
  if (SSL_CTX_set_min_proto_version(raw, TLS1_2_VERSION) != 1) {
    fail_with("cannot set the TLS minimum version: " + detail::take_openssl_error());
  }
  // Client-initiated renegotiation is already off by default in OpenSSL 3; this refuses all of it.
  SSL_CTX_set_options(raw, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_clear_options(raw, SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_set_cipher_list(raw, intermediate_tls12_ciphers) != 1) {
    fail_with("cannot set the TLS 1.2 cipher list: " + detail::take_openssl_error());
  }
  SSL_CTX_set_dh_auto(raw, 1);
  const auto id_length = std::min<std::size_t>(session_id_context.size(), SSL_MAX_SID_CTX_LENGTH);
  SSL_CTX_set_session_id_context(raw, reinterpret_cast<const unsigned char*>(session_id_context.data()),
                                 static_cast<unsigned int>(id_length));

  load_certificate_and_key(raw, options.certificate_file, options.private_key_file);

  if (options.client_certificate_mode != ClientCertificateMode::none) {
    const std::string& ca_file = options.client_ca_file;
    require_readable("TLS client CA file", ca_file);
    if (SSL_CTX_load_verify_locations(raw, ca_file.c_str(), nullptr) != 1) {
      fail_openssl("TLS client CA file", ca_file, "is not a valid PEM certificate file");
    }
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(ca_file.c_str());
    if (names == nullptr)
      fail_openssl("TLS client CA file", ca_file, "holds no PEM certificate");
    SSL_CTX_set_client_CA_list(raw, names);  // takes ownership
    int mode = SSL_VERIFY_PEER;
    if (options.client_certificate_mode == ClientCertificateMode::required) {
      mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    }
    SSL_CTX_set_verify(raw, mode, nullptr);
    SSL_CTX_set_verify_depth(raw, verify_depth_limit);
  } else {
    SSL_CTX_set_verify(raw, SSL_VERIFY_NONE, nullptr);
  }
  return context;
}

SslContext make_client_context(const ClientTlsOptions& options) {
  SslContext context = new_context(TLS_client_method());
  ssl_ctx_st* raw = context.get();
  const TlsVersion min_version = options.min_version.value_or(TlsVersion::tls1_2);
  const TlsVersion max_version = options.max_version.value_or(TlsVersion::tls1_3);
  if (min_version < TlsVersion::tls1_2) {
    // Lets a test client really offer TLS 1.0/1.1 (OpenSSL 3 disables them at level 1), so a
    // refusal observed in the test is the server's.
    SSL_CTX_set_security_level(raw, 0);
    if (SSL_CTX_set_cipher_list(raw, "DEFAULT:@SECLEVEL=0") != 1) {
      fail_with("cannot set the TLS client cipher list: " + detail::take_openssl_error());
    }
  }
  if (SSL_CTX_set_min_proto_version(raw, openssl_version(min_version)) != 1 ||
      SSL_CTX_set_max_proto_version(raw, openssl_version(max_version)) != 1) {
    fail_with("cannot set the TLS client versions: " + detail::take_openssl_error());
  }
  SSL_CTX_set_options(raw, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);

  if (options.verify_server) {
    if (options.ca_file.empty()) {
      if (SSL_CTX_set_default_verify_paths(raw) != 1) {
        fail_with("cannot load the system TLS trust store: " + detail::take_openssl_error());
      }
    } else {
      require_readable("TLS CA file", options.ca_file);
      if (SSL_CTX_load_verify_locations(raw, options.ca_file.c_str(), nullptr) != 1) {
        fail_openssl("TLS CA file", options.ca_file, "is not a valid PEM certificate file");
      }
    }
    SSL_CTX_set_verify(raw, SSL_VERIFY_PEER, nullptr);
    SSL_CTX_set_verify_depth(raw, verify_depth_limit);
  } else {
    SSL_CTX_set_verify(raw, SSL_VERIFY_NONE, nullptr);
  }

  if (!options.certificate_file.empty() || !options.private_key_file.empty()) {
    load_certificate_and_key(raw, options.certificate_file, options.private_key_file);
  }
  return context;
}

namespace detail {

std::string take_openssl_error() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0)
    return {};
  const char* reason = ERR_reason_error_string(code);
  if (reason != nullptr)
    return reason;
  std::array<char, 256> buffer{};
  ERR_error_string_n(code, buffer.data(), buffer.size());
  return buffer.data();
}

std::optional<ClientCertificate> verified_peer_certificate(ssl_st* ssl) {
  const X509* certificate = SSL_get0_peer_certificate(ssl);
  if (certificate == nullptr || SSL_get_verify_result(ssl) != X509_V_OK)
    return std::nullopt;
  ClientCertificate result;
  result.subject_common_name = common_name_of(X509_get_subject_name(certificate));
  result.serial_hex = serial_hex_of(certificate);
  result.issuer_common_name = common_name_of(X509_get_issuer_name(certificate));
  result.sha256_fingerprint_hex = sha256_fingerprint_of(certificate);
  return result;
}

bool expect_server_host(ssl_st* ssl, const std::string& host, bool verify) {
  std::array<unsigned char, 16> address{};
  const bool is_ip_address =
      inet_pton(AF_INET, host.c_str(), address.data()) == 1 || inet_pton(AF_INET6, host.c_str(), address.data()) == 1;
  // SSL_set_tlsext_host_name without its macro's C cast; OpenSSL copies the name.
  if (!is_ip_address &&
      SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, const_cast<char*>(host.c_str())) != 1) {
    return false;
  }
  if (!verify)
    return true;
  if (is_ip_address)
    return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str()) == 1;
  return SSL_set1_host(ssl, host.c_str()) == 1;
}

}  // namespace detail
}  // namespace cch::http
