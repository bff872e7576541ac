#pragma once
// RawConnection: a blocking TCP connection to 127.0.0.1 for tests that must send what a real
// client would not (half a request, oversized headers, garbage) and watch how the server reacts.
// Every wait is bounded by the timeout given.
//
// Thread safety: one object per thread.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>

namespace cch::http::testing {

class RawConnection {
 public:
  struct ReadResult {
    std::string data;
    bool closed = false;  // the peer closed (EOF) or reset the connection
  };

  explicit RawConnection(unsigned short port) : descriptor_(connect_to(port)) {
    if (descriptor_ < 0)
      throw std::runtime_error("cannot connect to 127.0.0.1:" + std::to_string(port));
  }
  ~RawConnection() { ::close(descriptor_); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  // True if something listens on the port (the probe connection is closed at once).
  static bool can_connect(unsigned short port) {
    const int descriptor = connect_to(port);
    if (descriptor < 0)
      return false;
    ::close(descriptor);
    return true;
  }

  // False if the peer has gone (EPIPE, ECONNRESET).
  bool send(std::string_view data) {
    while (!data.empty()) {
      const ssize_t sent = ::send(descriptor_, data.data(), data.size(), MSG_NOSIGNAL);
      if (sent < 0) {
        if (errno == EINTR)
          continue;
        return false;
      }
      data.remove_prefix(static_cast<std::size_t>(sent));
    }
    return true;
  }

  // Reads until the peer closes or the timeout passes.
  ReadResult read_until_closed(std::chrono::milliseconds timeout) {
    return read([](const std::string&) { return false; }, timeout);
  }

  // Reads until a whole HTTP response (status line, headers, Content-Length body) has arrived,
  // the peer closes, or the timeout passes.
  ReadResult read_response(std::chrono::milliseconds timeout) { return read(&has_complete_response, timeout); }

  // Reads until text appears, the peer closes, or the timeout passes.
  ReadResult read_until(std::string_view text, std::chrono::milliseconds timeout) {
    return read([text](const std::string& data) { return data.find(text) != std::string::npos; }, timeout);
  }

 private:
  static int connect_to(unsigned short port) {
    const int descriptor = ::socket(AF_INET, SOCK_STREAM, 0);
    if (descriptor < 0)
      return -1;
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(descriptor, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
      ::close(descriptor);
      return -1;
    }
    return descriptor;
  }

  static bool has_complete_response(const std::string& data) {
    const auto header_end = data.find("\r\n\r\n");
    if (header_end == std::string::npos)
      return false;
    std::size_t content_length = 0;
    const std::string header = data.substr(0, header_end);
    for (const std::string_view name : {"Content-Length: ", "content-length: "}) {
      const auto at = header.find(name);
      if (at != std::string::npos)
        content_length = std::stoul(header.substr(at + name.size()));
    }
    return data.size() >= header_end + 4 + content_length;
  }

  template <class Done>
  ReadResult read(Done done, std::chrono::milliseconds timeout) {
    ReadResult result;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done(result.data)) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0)
        break;
      pollfd poll_descriptor{descriptor_, POLLIN, 0};
      const int ready = ::poll(&poll_descriptor, 1, static_cast<int>(left.count()));
      if (ready < 0 && errno == EINTR)
        continue;
      if (ready <= 0)
        break;
      char buffer[4096];
      const ssize_t received = ::recv(descriptor_, buffer, sizeof buffer, 0);
      if (received < 0 && errno == EINTR)
        continue;
      if (received <= 0) {
        result.closed = true;
        break;
      }
      result.data.append(buffer, static_cast<std::size_t>(received));
    }
    return result;
  }

  int descriptor_;
};

}  // namespace cch::http::testing
