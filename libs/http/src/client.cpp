#include "cch/http/client.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <algorithm>
#include <chrono>

#include "tls_peer.hpp"

namespace cch::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace beast_http = boost::beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using PlainStream = beast::tcp_stream;
using SecureStream = beast::ssl_stream<beast::tcp_stream>;

bool is_target(std::string_view target) noexcept {
  if (target.empty() || target.front() != '/')
    return false;
  return std::all_of(target.begin(), target.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte > 0x20 && byte < 0x7f;
  });
}

ClientError error_of(ClientErrorKind kind, std::string_view step, const error_code& error) {
  return {kind, std::string(step) + ": " + error.message()};
}

// Classifies a failure while writing the request or reading the response.
ClientError exchange_error(std::string_view step, const error_code& error) {
  if (error == beast::error::timeout)
    return error_of(ClientErrorKind::timeout, step, error);
  if (error == beast_http::error::body_limit || error == beast_http::error::header_limit ||
      error == beast_http::error::buffer_overflow) {
    return error_of(ClientErrorKind::response_too_large, step, error);
  }
  if (error.category() == asio::error::get_ssl_category())
    return error_of(ClientErrorKind::tls_failed, step, error);
  if (error == beast_http::error::end_of_stream || error == beast_http::error::partial_message ||
      error == asio::error::eof || error == asio::error::connection_reset || error == asio::error::broken_pipe ||
      error == asio::ssl::error::stream_truncated) {
    return error_of(ClientErrorKind::connection_closed, step, error);
  }
  if (error.category() == beast_http::make_error_code(beast_http::error::bad_method).category()) {
    return error_of(ClientErrorKind::protocol_error, step, error);
  }
  return error_of(ClientErrorKind::connection_closed, step, error);
}

// A failure that means the server had closed the kept-alive connection before this request.
bool is_stale_connection(const error_code& error, bool response_started) {
  if (response_started)
    return false;
  return error == beast_http::error::end_of_stream || error == asio::error::eof ||
         error == asio::error::connection_reset || error == asio::error::broken_pipe ||
         error == asio::ssl::error::stream_truncated;
}

}  // namespace

std::optional<std::string_view> ClientResponse::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (equals_ignoring_case(key, name))
      return std::string_view(value);
  }
  return std::nullopt;
}

class Client::Impl {
 public:
  explicit Impl(ClientOptions options) : options_(std::move(options)) {
    if (options_.tls)
      ssl_context_.emplace(make_client_context(*options_.tls).release());
  }

  Result<ClientResponse, ClientError> request(std::string_view method, std::string_view target, std::string_view body,
                                              const std::vector<NameValue>& headers) {
    if (!is_http_token(method) || !is_target(target)) {
      return fail(ClientError{ClientErrorKind::invalid_request, "invalid method or target"});
    }
    for (const auto& [name, value] : headers) {
      if (!is_http_token(name) || !is_safe_header_value(value)) {
        return fail(ClientError{ClientErrorKind::invalid_request, "invalid header '" + name + "'"});
      }
    }
    const bool reused = is_open();
    if (!reused) {
      if (auto connected = connect(); !connected)
        return fail(connected.error());
    }
    Attempt attempt = exchange(method, target, body, headers);
    if (!attempt.response && reused && attempt.stale) {
      close();
      if (auto connected = connect(); !connected)
        return fail(connected.error());
      attempt = exchange(method, target, body, headers);
    }
    if (!attempt.response) {
      close();
      return fail(std::move(*attempt.error));
    }
    return std::move(*attempt.response);
  }

  void close() {
    if (secure_) {
      error_code ignored;  // best effort: the connection is being dropped
      beast::get_lowest_layer(*secure_).socket().shutdown(tcp::socket::shutdown_both, ignored);
      beast::get_lowest_layer(*secure_).close();
      secure_.reset();
    }
    if (plain_) {
      error_code ignored;  // best effort: the connection is being dropped
      plain_->socket().shutdown(tcp::socket::shutdown_both, ignored);
      plain_->close();
      plain_.reset();
    }
    buffer_.clear();
  }

  std::size_t connections_opened() const { return connections_opened_; }

 private:
  struct Connected {};
  struct Attempt {
    std::optional<ClientResponse> response;
    std::optional<ClientError> error;
    bool stale = false;
  };

  bool is_open() const { return plain_.has_value() || secure_.has_value(); }
  std::chrono::milliseconds timeout() const { return std::chrono::milliseconds(options_.timeout_ms); }

  // Starts an asynchronous operation and runs the io_context until it completes; the streams'
  // timeouts bound how long that takes.
  template <class Initiate>
  error_code run(Initiate initiate) {
    std::optional<error_code> outcome;
    initiate([&outcome](const error_code& error, auto&&...) { outcome = error; });
    io_.restart();
    io_.run();
    return outcome.value_or(asio::error::operation_aborted);
  }

  Result<Connected, ClientError> connect() {
    close();
    tcp::resolver resolver(io_);
    error_code error;
    const auto endpoints = resolver.resolve(options_.host, std::to_string(options_.port), error);
    if (error)
      return fail(error_of(ClientErrorKind::resolve_failed, "resolve " + options_.host, error));

    PlainStream stream(io_);
    stream.expires_after(timeout());
    error = run([&](auto handler) { stream.async_connect(endpoints, std::move(handler)); });
    const std::string where = options_.host + ":" + std::to_string(options_.port);
    if (error) {
      return fail(error_of(error == beast::error::timeout ? ClientErrorKind::timeout : ClientErrorKind::connect_failed,
                           "connect to " + where, error));
    }
    error_code option_error;
    stream.socket().set_option(tcp::no_delay(true), option_error);  // latency only; failure is harmless
    ++connections_opened_;

    if (!ssl_context_) {
      plain_.emplace(std::move(stream));
      return Connected{};
    }
    secure_.emplace(std::move(stream), *ssl_context_);
    if (!detail::expect_server_host(secure_->native_handle(), options_.host, options_.tls->verify_server)) {
      close();
      return fail(ClientError{ClientErrorKind::tls_failed, "cannot set the expected TLS host " + options_.host});
    }
    beast::get_lowest_layer(*secure_).expires_after(timeout());
    error = run([&](auto handler) { secure_->async_handshake(asio::ssl::stream_base::client, std::move(handler)); });
    if (error) {
      close();
      return fail(error_of(error == beast::error::timeout ? ClientErrorKind::timeout : ClientErrorKind::tls_failed,
                           "TLS handshake with " + where, error));
    }
    return Connected{};
  }

  template <class Stream>
  Attempt exchange_on(Stream& stream, beast_http::request<beast_http::string_body>& message) {
    Attempt attempt;
    beast::get_lowest_layer(stream).expires_after(timeout());
    error_code error = run([&](auto handler) { beast_http::async_write(stream, message, std::move(handler)); });
    if (error) {
      attempt.stale = is_stale_connection(error, false);
      attempt.error = exchange_error("write request", error);
      return attempt;
    }
    beast_http::response_parser<beast_http::string_body> parser;
    parser.body_limit(std::uint64_t{options_.response_body_limit_bytes});
    parser.header_limit(options_.response_header_limit_bytes);
    beast::get_lowest_layer(stream).expires_after(timeout());
    error = run([&](auto handler) { beast_http::async_read(stream, buffer_, parser, std::move(handler)); });
    if (error) {
      attempt.stale = is_stale_connection(error, parser.got_some());
      attempt.error = exchange_error("read response", error);
      return attempt;
    }
    beast::get_lowest_layer(stream).expires_never();
    auto& response = parser.get();
    ClientResponse result;
    result.status = response.result_int();
    for (const auto& field : response) {
      result.headers.emplace_back(std::string(field.name_string().data(), field.name_string().size()),
                                  std::string(field.value().data(), field.value().size()));
    }
    result.body = std::move(response.body());
    const bool keep_alive = response.keep_alive();
    attempt.response = std::move(result);
    if (!keep_alive)
      close();
    return attempt;
  }

  Attempt exchange(std::string_view method, std::string_view target, std::string_view body,
                   const std::vector<NameValue>& headers) {
    beast_http::request<beast_http::string_body> message;
    message.version(11);
    message.method_string(beast::string_view(method.data(), method.size()));
    message.target(beast::string_view(target.data(), target.size()));
    message.set(beast_http::field::host, options_.host + ":" + std::to_string(options_.port));
    message.set(beast_http::field::user_agent, "cch-http-client");
    for (const auto& [name, value] : headers)
      message.insert(name, value);
    message.body() = std::string(body);
    message.keep_alive(true);
    message.prepare_payload();
    if (secure_)
      return exchange_on(*secure_, message);
    return exchange_on(*plain_, message);
  }

  ClientOptions options_;
  asio::io_context io_{1};
  std::optional<asio::ssl::context> ssl_context_;
  std::optional<PlainStream> plain_;
  std::optional<SecureStream> secure_;
  beast::flat_buffer buffer_;
  std::size_t connections_opened_ = 0;
};

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Client::~Client() = default;

Result<ClientResponse, ClientError> Client::request(std::string_view method, std::string_view target,
                                                    std::string_view body, const std::vector<NameValue>& headers) {
  return impl_->request(method, target, body, headers);
}

void Client::close() {
  impl_->close();
}

std::size_t Client::connections_opened() const {
  return impl_->connections_opened();
}

}  // namespace cch::http
