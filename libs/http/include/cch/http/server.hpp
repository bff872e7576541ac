#pragma once
// Server: an HTTP/1.1 server (plain TCP or TLS, one or the other per server) that reads
// requests on a few I/O threads and runs the router's handlers on a bounded worker pool, so a
// handler may block (on PostgreSQL, say) without stalling the network. A route's fast handler
// (Router::try_fast) is offered the request first, on the I/O thread: a hot read that can answer
// without blocking costs no hand-off to a worker and back.
//
// Contract:
//   - Every request is bounded: header_limit_bytes (431 "header_too_large" then close),
//     body_limit_bytes (413 "body_too_large" then close), read_timeout_ms for the whole request
//     once it starts (the connection is closed: a slow or half-sent request is cut off),
//     idle_timeout_ms between keep-alive requests, write_timeout_ms per response,
//     handshake_timeout_ms per TLS handshake. A request that cannot be parsed gets 400
//     "malformed_request" and the connection is closed.
//   - At most max_connections connections are open; a connection above that is accepted and
//     closed at once (counted in cch_http_connections_refused_total).
//   - At most max_queued_requests requests are handed to the worker pool or taken by fast
//     handlers at once (waiting or running); above that a request is answered 503 "overloaded"
//     with Retry-After: 1.
//   - Request ids: a valid incoming X-Request-Id (1..64 of [A-Za-z0-9._-]) is kept, otherwise
//     a 128-bit random hex id is generated. It is echoed in the response's X-Request-Id, set as
//     cch::log::ScopedRequestId around the handler, and written on the one "http_request" log
//     line per request. Each request is recorded in Metrics under its route pattern.
//   - With TLS, Request::client_certificate carries the verified client certificate.
//   - Every response gets X-Content-Type-Options: nosniff and, unless the handler set one,
//     Cache-Control: no-store; TLS responses also get Strict-Transport-Security.
//   - stop() is graceful: it stops accepting, closes idle keep-alive connections, lets requests
//     in progress finish and answers them with Connection: close, and after shutdown_grace_ms
//     closes whatever is left. It then waits for handlers still running to return and for fast
//     handlers to answer what they took (both must bound their own work, e.g. with statement
//     timeouts).
//
// Thread safety: start() once, from one thread. stop() and wait() may be called from any
// thread except a server's own I/O and worker threads (they would wait for themselves, so
// stop() throws std::logic_error there); stop() is idempotent. port() may be called from any
// thread after start(). The Router and Metrics must outlive the Server; the Router must not be
// changed after the Server is built.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "cch/http/metrics.hpp"
#include "cch/http/router.hpp"
#include "cch/http/tls.hpp"

namespace cch::http {

struct ServerLimits {
  std::size_t body_limit_bytes = 1024 * 1024;
  std::uint32_t header_limit_bytes = 16 * 1024;  // request line and all headers
  std::uint32_t read_timeout_ms = 10'000;        // one whole request, from its first byte
  std::uint32_t write_timeout_ms = 10'000;       // one whole response
  std::uint32_t idle_timeout_ms = 60'000;        // waiting for the next keep-alive request
  std::uint32_t handshake_timeout_ms = 10'000;   // TLS handshake (and TLS close)
  std::size_t max_connections = 1024;
  std::size_t max_queued_requests = 256;  // handed to workers, waiting or running
  std::uint32_t shutdown_grace_ms = 10'000;
};

struct ServerOptions {
  std::string service_name = "cch";  // logs and the TLS session id context
  std::string listen_address = "127.0.0.1";
  unsigned short port = 0;  // 0: an ephemeral port, see Server::port()
  unsigned io_threads = 1;
  unsigned worker_threads = 4;
  ServerLimits limits;
  std::optional<TlsOptions> tls;  // set: HTTPS only; unset: plain HTTP only
};

// start() could not bind or listen, e.g. "cannot listen on 127.0.0.1:8081: Address already in use".
class BindError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Server {
 public:
  // Validates the options (std::invalid_argument on a zero limit or thread count) and builds the
  // TLS context (TlsError on a bad file). Registers the server's metrics in metrics.
  Server(ServerOptions options, const Router& router, Metrics& metrics);
  ~Server();  // stops the server if it is running
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds, listens and starts the I/O and worker threads; returns once the server accepts.
  // Throws BindError. May be called once.
  void start();

  // The bound port (the ephemeral one when ServerOptions::port was 0); 0 before start().
  [[nodiscard]] unsigned short port() const;

  // Graceful stop as described above; returns when every server thread has ended.
  void stop();

  // Blocks until stop() has finished (returns at once if start() was never called).
  void wait();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cch::http
