#pragma once
// Client: a small synchronous HTTP/1.1 client for tools and tests, plain or TLS.
//
// Contract:
//   - request() sends one request and returns the response, or a ClientError for every network
//     or protocol failure (refused connection, TLS refusal, timeout, malformed or oversized
//     response). It throws only for programmer or environment errors at construction (TlsError
//     for unreadable TLS files).
//   - The connection is kept alive and reused for the next request. If a reused connection
//     turns out to have been closed by the server before any response byte arrived (the server's
//     idle timeout), the request is sent once more on a new connection; that can repeat a
//     non-idempotent request only if the server closed after processing without answering, which
//     cch servers do not do (use idempotency keys where it matters).
//   - timeout_ms bounds each step (connect, TLS handshake, write, read of the response) separately.
//     Name resolution uses the system resolver and its own timeouts.
//   - TLS: the server chain is verified against ClientTlsOptions::ca_file and its certificate
//     must match host (IP address SAN for an IP, DNS name otherwise) unless verify_server is
//     false. SNI is sent for DNS names.
//
// Thread safety: a Client is not thread-safe; use one per thread.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cch/core/result.hpp"
#include "cch/http/message.hpp"
#include "cch/http/tls.hpp"

namespace cch::http {

struct ClientOptions {
  std::string host = "127.0.0.1";
  unsigned short port = 0;
  std::optional<ClientTlsOptions> tls;  // set: HTTPS
  std::uint32_t timeout_ms = 10'000;
  std::size_t response_body_limit_bytes = 16 * 1024 * 1024;
  std::uint32_t response_header_limit_bytes = 64 * 1024;
};

struct ClientResponse {
  unsigned status = 0;
  std::vector<NameValue> headers;
  std::string body;

  // The first header with this name, compared case-insensitively.
  [[nodiscard]] std::optional<std::string_view> header(std::string_view name) const;
};

enum class ClientErrorKind {
  invalid_request,  // method, target or a header would not make a valid request
  resolve_failed,
  connect_failed,
  tls_failed,  // handshake refused or a TLS alert (e.g. certificate required)
  timeout,
  connection_closed,   // the server closed or reset the connection without a full response
  protocol_error,      // the response is not valid HTTP/1.1
  response_too_large,  // over response_body_limit_bytes or response_header_limit_bytes
};

struct ClientError {
  ClientErrorKind kind = ClientErrorKind::connection_closed;
  std::string message;  // one line, for people
};

class Client {
 public:
  explicit Client(ClientOptions options);  // throws TlsError
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  [[nodiscard]] Result<ClientResponse, ClientError> request(std::string_view method, std::string_view target,
                                                            std::string_view body = {},
                                                            const std::vector<NameValue>& headers = {});

  // Closes the kept-alive connection, if any.
  void close();

  // How many connections this client has opened (tests use it to see keep-alive reuse).
  [[nodiscard]] std::size_t connections_opened() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cch::http
