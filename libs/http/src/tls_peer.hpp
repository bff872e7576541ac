#pragma once
// Private to libs/http: reading the verified peer certificate of an established TLS session,
// and host checks for clients.
//
// Thread safety: call on the thread that owns the SSL object.

#include <optional>
#include <string>

#include "cch/http/message.hpp"

struct ssl_st;  // OpenSSL's SSL

namespace cch::http::detail {

// The peer's certificate when one was presented and its chain verified; nullopt otherwise.
std::optional<ClientCertificate> verified_peer_certificate(ssl_st* ssl);

// Makes the handshake check the server's certificate against host (an IP address or a DNS
// name) and sends SNI for DNS names. Returns false if OpenSSL refused the setting.
bool expect_server_host(ssl_st* ssl, const std::string& host, bool verify);

// The reason of the most recent OpenSSL error on this thread (and clears the queue), or "".
std::string take_openssl_error();

}  // namespace cch::http::detail
