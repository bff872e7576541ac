#include "load_connection.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <charconv>
#include <cstring>

#include "cch/http/tls.hpp"

namespace cch::bench {
namespace {

constexpr std::size_t kResponseLimit = 16 * 1024 * 1024;

std::string openssl_error(std::string_view what) {
  std::array<char, 256> text{};
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return std::string(what);
  ERR_error_string_n(code, text.data(), text.size());
  return std::string(what) + ": " + text.data();
}

// Case-insensitive search for "\r\nName:" in the header block; returns the value's start or npos.
std::size_t find_header(std::string_view headers, std::string_view name) {
  for (std::size_t at = headers.find("\r\n"); at != std::string_view::npos; at = headers.find("\r\n", at + 2)) {
    const std::size_t start = at + 2;
    if (headers.size() - start <= name.size() || headers[start + name.size()] != ':') continue;
    bool same = true;
    for (std::size_t i = 0; i < name.size() && same; ++i) {
      same = std::tolower(static_cast<unsigned char>(headers[start + i])) == name[i];
    }
    if (same) return start + name.size() + 1;
  }
  return std::string_view::npos;
}

}  // namespace

struct LoadConnection::State {
  http::SslContext context;
  SSL* ssl = nullptr;
  int socket = -1;
};

LoadConnection::LoadConnection(std::string host, unsigned short port, const LoadTls& tls, int timeout_ms)
    : state_(std::make_unique<State>()), host_(std::move(host)), port_(port), timeout_ms_(timeout_ms) {
  http::ClientTlsOptions options;
  options.ca_file = tls.ca_file;
  options.certificate_file = tls.certificate_file;
  options.private_key_file = tls.private_key_file;
  state_->context = http::make_client_context(options);
  buffer_.reserve(64 * 1024);
}

LoadConnection::~LoadConnection() { disconnect(); }

void LoadConnection::disconnect() {
  if (state_->ssl != nullptr) {
    SSL_free(state_->ssl);
    state_->ssl = nullptr;
  }
  if (state_->socket >= 0) {
    ::close(state_->socket);
    state_->socket = -1;
  }
  buffer_.clear();
}

bool LoadConnection::connect() {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port_);
  if (::getaddrinfo(host_.c_str(), service.c_str(), &hints, &found) != 0 || found == nullptr) {
    error_ = "cannot resolve " + host_;
    return false;
  }
  const int fd = ::socket(found->ai_family, found->ai_socktype, found->ai_protocol);
  const bool connected = fd >= 0 && ::connect(fd, found->ai_addr, found->ai_addrlen) == 0;
  ::freeaddrinfo(found);
  if (!connected) {
    error_ = std::string("cannot connect: ") + std::strerror(errno);
    if (fd >= 0) ::close(fd);
    return false;
  }
  state_->socket = fd;
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  timeval timeout{timeout_ms_ / 1000, (timeout_ms_ % 1000) * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);

  state_->ssl = SSL_new(state_->context.get());
  std::array<unsigned char, 16> address{};
  const bool is_ip = inet_pton(AF_INET, host_.c_str(), address.data()) == 1 ||
                     inet_pton(AF_INET6, host_.c_str(), address.data()) == 1;
  const bool host_set = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(state_->ssl), host_.c_str()) == 1
                              : SSL_set1_host(state_->ssl, host_.c_str()) == 1;
  if (!host_set || SSL_set_fd(state_->ssl, fd) != 1 || SSL_connect(state_->ssl) != 1) {
    error_ = openssl_error("TLS handshake failed");
    disconnect();
    return false;
  }
  return true;
}

unsigned LoadConnection::request(std::string_view request_text) {
  body_.clear();
  if (state_->ssl == nullptr && !connect()) return 0;
  const auto fail = [&](std::string what) -> unsigned {
    error_ = std::move(what);
    disconnect();
    return 0;
  };
  if (SSL_write(state_->ssl, request_text.data(), static_cast<int>(request_text.size())) <= 0) {
    return fail(openssl_error("write failed"));
  }
  // Read until the header block is complete and then until the body is.
  std::size_t header_end = std::string::npos;
  std::size_t total = 0;
  std::array<char, 16 * 1024> chunk{};
  while (true) {
    if (header_end == std::string::npos) {
      header_end = buffer_.find("\r\n\r\n");
      if (header_end != std::string::npos) {
        const std::string_view headers(buffer_.data(), header_end);
        const std::size_t length_at = find_header(headers, "content-length");
        if (length_at == std::string_view::npos) return fail("response without Content-Length");
        std::size_t length = 0;
        const char* first = buffer_.data() + length_at;
        while (*first == ' ') ++first;
        if (std::from_chars(first, buffer_.data() + header_end, length).ec != std::errc{} ||
            length > kResponseLimit) {
          return fail("bad Content-Length");
        }
        total = header_end + 4 + length;
      }
    }
    if (header_end != std::string::npos && buffer_.size() >= total) break;
    if (buffer_.size() > kResponseLimit) return fail("response too large");
    const int read = SSL_read(state_->ssl, chunk.data(), static_cast<int>(chunk.size()));
    if (read <= 0) return fail(openssl_error("connection closed or timed out"));
    buffer_.append(chunk.data(), static_cast<std::size_t>(read));
  }
  unsigned status = 0;
  if (buffer_.size() < 12 || buffer_.compare(0, 5, "HTTP/") != 0 ||
      std::from_chars(buffer_.data() + 9, buffer_.data() + 12, status).ec != std::errc{}) {
    return fail("malformed status line");
  }
  body_.assign(buffer_, header_end + 4, total - header_end - 4);
  buffer_.erase(0, total);  // a pipelined surplus stays for the next response
  return status;
}

}  // namespace cch::bench
