#pragma once
// LoadConnection: the load generator's own keep-alive HTTPS connection, on a blocking socket
// driven directly through OpenSSL. A request is one SSL_write and, usually, one SSL_read: the
// load generator must cost the machine less than the service it measures (it shares the cores
// with the service and PostgreSQL), so it has no event loop, no timers and no per-request
// allocation beyond the response text. cch::http::Client stays the client for tools and tests;
// this one exists only for measuring.
//
// Contract: the server chain is verified against the CA file and its certificate must match the
// IP address or host name; the client certificate, when given, is presented. Socket reads and
// writes time out after timeout_ms (SO_RCVTIMEO/SO_SNDTIMEO). Responses must carry a
// Content-Length (cch services always do). request() returns the status, or 0 with a message
// in error() when the connection failed; the next request() then reconnects.
// Not thread-safe: one per thread.

#include <memory>
#include <string>
#include <string_view>

namespace cch::bench {

struct LoadTls {
  std::string ca_file;
  std::string certificate_file;  // empty: no client certificate
  std::string private_key_file;
};

class LoadConnection {
 public:
  LoadConnection(std::string host, unsigned short port, const LoadTls& tls, int timeout_ms);  // throws on bad TLS files
  ~LoadConnection();
  LoadConnection(const LoadConnection&) = delete;
  LoadConnection& operator=(const LoadConnection&) = delete;

  // Sends the complete request text (request line, headers, blank line, body) and reads one
  // response; body() holds its body until the next call.
  unsigned request(std::string_view request_text);
  [[nodiscard]] std::string_view body() const { return body_; }
  [[nodiscard]] const std::string& error() const { return error_; }

 private:
  bool connect();
  void disconnect();

  struct State;
  std::unique_ptr<State> state_;
  std::string host_;
  unsigned short port_;
  int timeout_ms_;
  std::string buffer_;
  std::string body_;
  std::string error_;
};

}  // namespace cch::bench
