#include "cch/http/server.hpp"

#include "cch/core/ids.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "cch/core/log.hpp"
#include "tls_peer.hpp"

namespace cch::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace beast_http = boost::beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using Clock = std::chrono::steady_clock;
using Executor = asio::any_io_executor;

constexpr std::size_t read_chunk_bytes = 8192;
// After a response that closes the connection, the rest of the request (an oversized body, say)
// is read and discarded for at most this long and this many bytes before the socket closes, so
// the peer reads the response instead of a TCP reset.
constexpr std::chrono::milliseconds lingering_close_timeout{2000};
constexpr std::size_t lingering_close_bytes_limit = 4 * 1024 * 1024;
constexpr std::chrono::milliseconds accept_retry_delay{100};
// After the grace period, connections are closed and this long is allowed for them to go.
constexpr std::chrono::milliseconds forced_close_wait{1000};
constexpr unsigned io_threads_limit = 64;
constexpr unsigned worker_threads_limit = 1024;
constexpr std::string_view continue_response = "HTTP/1.1 100 Continue\r\n\r\n";

// True on the I/O and worker threads of every Server: stop() there would wait for itself.
thread_local bool t_is_server_thread = false;

std::string to_string(beast::string_view text) {
  return {text.data(), text.size()};
}
std::string_view to_std(beast::string_view text) {
  return {text.data(), text.size()};
}

// A valid incoming X-Request-Id is kept so that a client can follow its request through the
// logs; anything else is replaced by a fresh one.
std::string choose_request_id(std::string_view incoming) {
  const auto parsed = RequestId::parse(incoming);
  return parsed ? parsed->value() : RequestId::generate().value();
}


// Headers that frame the message; the server sets them, a handler's copies are dropped.
bool is_framing_header(std::string_view name) noexcept {
  static constexpr std::array<std::string_view, 8> framing = {
      "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te", "trailer", "x-request-id"};
  return std::any_of(framing.begin(), framing.end(),
                     [name](std::string_view reserved) { return equals_ignoring_case(name, reserved); });
}

bool has_valid_headers(const Response& response) {
  if (!is_safe_header_value(response.content_type))
    return false;
  return std::all_of(response.headers.begin(), response.headers.end(), [](const NameValue& header) {
    return is_http_token(header.first) && is_safe_header_value(header.second);
  });
}

// Headers the server sets itself: a handler's copies are dropped (Cache-Control is the
// handler's to set; the server adds no-store only if it did not).
bool is_server_set_header(std::string_view name, bool has_content_type) noexcept {
  return is_framing_header(name) || equals_ignoring_case(name, "x-content-type-options") ||
         equals_ignoring_case(name, "strict-transport-security") ||
         (has_content_type && equals_ignoring_case(name, "content-type"));
}

// What the response's head says beyond the handler's own headers.
struct Framing {
  unsigned version = 11;  // 10 or 11
  std::string_view request_id;
  bool keep_alive = false;
  bool head_request = false;  // the body is not sent; Content-Length is that of the GET
  bool tls = false;           // adds Strict-Transport-Security
};

// The response as bytes on the wire, written into out (its capacity is reused from one response
// to the next). The handler's headers were checked (has_valid_headers), so none can split a line.
void serialize_response(const Response& response, const Framing& framing, std::string& out) {
  const auto line = [&out](std::string_view name, std::string_view value) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  };
  const unsigned status = response.status;
  out.clear();
  out += framing.version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  out += std::to_string(status);
  out += ' ';
  out += to_std(beast_http::obsolete_reason(beast_http::int_to_status(status)));
  out += "\r\n";
  bool has_cache_control = false;
  const bool has_content_type = !response.content_type.empty();
  for (const auto& [name, value] : response.headers) {
    if (is_server_set_header(name, has_content_type))
      continue;
    has_cache_control = has_cache_control || equals_ignoring_case(name, "cache-control");
    line(name, value);
  }
  if (has_content_type)
    line("Content-Type", response.content_type);
  line("X-Request-Id", framing.request_id);
  line("X-Content-Type-Options", "nosniff");
  if (!has_cache_control)
    line("Cache-Control", "no-store");
  if (framing.tls)
    line("Strict-Transport-Security", "max-age=31536000");
  if (framing.version == 10 && framing.keep_alive)
    line("Connection", "keep-alive");
  if (framing.version != 10 && !framing.keep_alive)
    line("Connection", "close");
  // 204 and 304 have no body and no Content-Length (statuses below 200 never reach here).
  const bool bodiless = status == 204 || status == 304;
  if (!bodiless)
    line("Content-Length", std::to_string(response.body.size()));
  out += "\r\n";
  if (!bodiless && !framing.head_request)
    out += response.body;
}

Response internal_error() {
  return problem(500, "internal_error", "Internal error",
                 "the server failed to handle the request; quote the request id when reporting it");
}

bool is_malformed_request_error(const error_code& error) {
  if (error.category() != beast_http::make_error_code(beast_http::error::bad_method).category())
    return false;
  switch (static_cast<beast_http::error>(error.value())) {
    case beast_http::error::bad_line_ending:
    case beast_http::error::bad_method:
    case beast_http::error::bad_target:
    case beast_http::error::bad_version:
    case beast_http::error::bad_field:
    case beast_http::error::bad_value:
    case beast_http::error::bad_content_length:
    case beast_http::error::bad_transfer_encoding:
    case beast_http::error::bad_chunk:
    case beast_http::error::bad_chunk_extension:
    case beast_http::error::bad_obs_fold:
      return true;
    default:
      return false;
  }
}

class ConnectionBase;

// The state shared by the listener and every connection. Member order is destruction order in
// reverse: the worker pool goes first (its queued tasks hold connections), then the io_context
// (its handlers hold connections whose sockets need it), then the TLS context and the registry.
struct ServerCore {
  ServerCore(ServerOptions server_options, const Router& server_router, Metrics& server_metrics)
      : options(std::move(server_options)),
        router(server_router),
        metrics(server_metrics),
        connections_open(metrics.gauge("cch_http_connections_open", "Open HTTP connections.")),
        connections_refused(metrics.counter("cch_http_connections_refused_total",
                                            "Connections closed at once because max_connections were open.")),
        read_timeouts(metrics.counter("cch_http_read_timeouts_total",
                                      "Connections closed because a request did not arrive within read_timeout_ms.")),
        tls_handshake_failures(
            metrics.counter("cch_http_tls_handshake_failures_total", "TLS handshakes that failed or were refused.")) {}

  const ServerOptions options;
  const Router& router;
  Metrics& metrics;
  Gauge& connections_open;
  Counter& connections_refused;
  Counter& read_timeouts;
  Counter& tls_handshake_failures;

  std::atomic<bool> stopping{false};
  std::atomic<std::size_t> open_connections{0};
  std::atomic<std::size_t> queued_requests{0};
  // Requests a fast handler took and has not answered yet; stop() waits for them as it waits for
  // running handlers (their answers hold connections, whose sockets need the io_context).
  std::atomic<std::size_t> fast_in_flight{0};

  std::mutex mutex;
  std::condition_variable connections_changed;
  std::map<std::uint64_t, std::weak_ptr<ConnectionBase>> connections;  // guarded by mutex
  std::uint64_t next_connection_id = 0;                                // guarded by mutex

  std::optional<asio::ssl::context> ssl_context;
  std::optional<asio::io_context> io;
  std::optional<asio::thread_pool> workers;
};

// Records one answered request: a metrics observation and one log line.
void record_request(ServerCore& core, const std::string& route, const std::string& method, unsigned status,
                    Clock::time_point started, const std::string& remote_address) {
  const auto duration = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - started);
  core.metrics.record_request(route, method, status, duration);
  log::info("http_request", {{"method", method},
                             {"route", route},
                             {"status", status},
                             {"duration_us", static_cast<std::int64_t>(duration.count() / 1000)},
                             {"remote", remote_address}});
}

// A handler's answer as sent: a status below 200 or a header that cannot be sent is a bug, 500.
Response vetted(Response response, const std::string& route) {
  if (response.status < 200 || !has_valid_headers(response)) {
    log::error("http_handler_bad_response", {{"route", route}, {"status", response.status}});
    return internal_error();
  }
  return response;
}

// Runs on a worker thread: the handler, then the log line and metrics.
Response handle_on_worker(ServerCore& core, Request& request, Clock::time_point started) {
  const log::ScopedRequestId request_id_scope(request.request_id);
  Response response;
  try {
    response = vetted(core.router.dispatch(request), request.route);
  } catch (const std::exception& exception) {
    log::error("http_dispatch_failed", {{"route", request.route}, {"what", exception.what()}});
    response = internal_error();
  }
  record_request(core, request.route, request.method, response.status, started, request.remote_address);
  return response;
}

class ConnectionBase : public std::enable_shared_from_this<ConnectionBase> {
 public:
  ConnectionBase() = default;
  ConnectionBase(const ConnectionBase&) = delete;
  ConnectionBase& operator=(const ConnectionBase&) = delete;
  virtual ~ConnectionBase() = default;
  virtual void start() = 0;
  // Closes the connection if it is idle between requests; otherwise it closes after its response.
  virtual void begin_shutdown() = 0;
  virtual void force_close() = 0;
};

// One client connection. Every member is touched only on the connection's strand, except the
// constants set at construction (core_, id_, executor_, remote_address_).
template <class Stream>
class Connection final : public ConnectionBase {
  static constexpr bool is_tls = !std::is_same_v<Stream, beast::tcp_stream>;

 public:
  Connection(ServerCore& core, std::uint64_t id, tcp::socket socket, std::string remote_address)
      : core_(core),
        id_(id),
        executor_(socket.get_executor()),
        remote_address_(std::move(remote_address)),
        stream_(make_stream(core, std::move(socket))),
        buffer_(core.options.limits.header_limit_bytes + std::size_t{65536}) {}

  ~Connection() override {
    core_.connections_open.add(-1);
    {
      const std::lock_guard lock(core_.mutex);
      core_.connections.erase(id_);
      core_.open_connections.fetch_sub(1);
    }
    core_.connections_changed.notify_all();
  }

  void start() override {
    asio::post(executor_, [self = self()] { self->on_start(); });
  }

  void begin_shutdown() override {
    asio::post(executor_, [self = self()] {
      if (self->phase_ == Phase::waiting)
        self->close_now();
    });
  }

  void force_close() override {
    asio::post(executor_, [self = self()] { self->close_now(); });
  }

 private:
  enum class Phase { handshake, waiting, reading, handling, writing, closing, closed };

  static Stream make_stream(ServerCore& core, tcp::socket socket) {
    if constexpr (is_tls) {
      return Stream(std::move(socket), *core.ssl_context);
    } else {
      return Stream(std::move(socket));
    }
  }

  std::shared_ptr<Connection> self() { return std::static_pointer_cast<Connection>(shared_from_this()); }
  beast::tcp_stream& tcp_layer() { return beast::get_lowest_layer(stream_); }
  const ServerLimits& limits() const { return core_.options.limits; }
  static std::chrono::milliseconds milliseconds(std::uint32_t value) { return std::chrono::milliseconds(value); }

  void on_start() {
    if constexpr (is_tls) {
      phase_ = Phase::handshake;
      tcp_layer().expires_after(milliseconds(limits().handshake_timeout_ms));
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = self()](const error_code& error) { self->on_handshake(error); });
    } else {
      read_request();
    }
  }

  void on_handshake(const error_code& error) {
    if (error) {
      // A peer that just hangs up (a load balancer's TCP probe, say) is not a TLS failure.
      const bool hung_up = error == asio::error::eof || error == asio::ssl::error::stream_truncated ||
                           error == asio::error::connection_reset || error == asio::error::operation_aborted;
      if (hung_up) {
        log::debug("tls_handshake_abandoned", {{"remote", remote_address_}, {"error", error.message()}});
      } else {
        core_.tls_handshake_failures.increment();
        log::info("tls_handshake_failed", {{"remote", remote_address_}, {"error", error.message()}});
      }
      close_now();
      return;
    }
    if constexpr (is_tls)
      client_certificate_ = detail::verified_peer_certificate(stream_.native_handle());
    read_request();
  }

  // Waits for the first bytes of the next request: within read_timeout_ms on a new connection
  // (where the deadline then covers the whole request), within idle_timeout_ms on a kept-alive one.
  void read_request() {
    if (core_.stopping.load()) {
      close_now();
      return;
    }
    parser_.emplace();
    parser_->header_limit(limits().header_limit_bytes);
    parser_->body_limit(std::uint64_t{limits().body_limit_bytes});
    if (buffer_.size() > 0) {
      tcp_layer().expires_after(milliseconds(limits().read_timeout_ms));
      read_header();
      return;
    }
    phase_ = Phase::waiting;
    tcp_layer().expires_after(milliseconds(first_request_ ? limits().read_timeout_ms : limits().idle_timeout_ms));
    stream_.async_read_some(
        buffer_.prepare(read_chunk_bytes),
        [self = self()](const error_code& error, std::size_t bytes) { self->on_first_bytes(error, bytes); });
  }

  void on_first_bytes(const error_code& error, std::size_t bytes) {
    if (error) {
      if (error == beast::error::timeout && first_request_)
        core_.read_timeouts.increment();
      close_now();  // idle timeout, peer closed, or server stopping
      return;
    }
    buffer_.commit(bytes);
    if (core_.stopping.load()) {
      close_now();
      return;
    }
    if (!first_request_)
      tcp_layer().expires_after(milliseconds(limits().read_timeout_ms));
    read_header();
  }

  void read_header() {
    phase_ = Phase::reading;
    beast_http::async_read_header(stream_, buffer_, *parser_,
                                  [self = self()](const error_code& error, std::size_t) { self->on_header(error); });
  }

  void on_header(const error_code& error) {
    if (error) {
      on_read_error(error);
      return;
    }
    const auto& message = parser_->get();
    if (!parser_->is_done() && message.version() >= 11 &&
        beast::iequals(message[beast_http::field::expect], "100-continue")) {
      asio::async_write(stream_, asio::buffer(continue_response.data(), continue_response.size()),
                        [self = self()](const error_code& write_error, std::size_t) {
                          if (write_error) {
                            self->close_now();
                            return;
                          }
                          self->tcp_layer().expires_after(milliseconds(self->limits().read_timeout_ms));
                          self->read_body();
                        });
      return;
    }
    read_body();
  }

  void read_body() {
    beast_http::async_read(stream_, buffer_, *parser_,
                           [self = self()](const error_code& error, std::size_t) { self->on_body(error); });
  }

  void on_body(const error_code& error) {
    if (error) {
      on_read_error(error);
      return;
    }
    handle_request();
  }

  void on_read_error(const error_code& error) {
    if (error == beast_http::error::body_limit) {
      respond_to_refused_request(
          problem(413, "body_too_large", "Body too large",
                  "the request body exceeds " + std::to_string(limits().body_limit_bytes) + " bytes"));
    } else if (error == beast_http::error::header_limit || error == beast_http::error::buffer_overflow) {
      respond_to_refused_request(
          problem(431, "header_too_large", "Request header fields too large",
                  "the request line and headers exceed " + std::to_string(limits().header_limit_bytes) + " bytes"));
    } else if (error == beast::error::timeout) {
      core_.read_timeouts.increment();
      log::info("http_read_timeout", {{"remote", remote_address_}, {"read_timeout_ms", limits().read_timeout_ms}});
      close_now();
    } else if (is_malformed_request_error(error)) {
      respond_to_refused_request(problem(400, "malformed_request", "Malformed request",
                                         "the request is not valid HTTP/1.1: " + error.message()));
    } else {
      close_now();  // the peer closed or reset the connection, mid-request or between requests
    }
  }

  // Answers a request that was refused while it was read, then closes the connection.
  void respond_to_refused_request(Response response) {
    std::string method = "other";
    std::string route(Router::unmatched_route);
    std::string_view incoming_id;
    if (parser_ && parser_->is_header_done()) {
      const auto& message = parser_->get();
      method = to_string(message.method_string());
      const std::string_view target = to_std(message.target());
      route = core_.router.route_name(method, target.substr(0, target.find('?')));
      incoming_id = to_std(message["X-Request-Id"]);
      version_ = message.version();
    }
    request_id_ = choose_request_id(incoming_id);
    keep_alive_requested_ = false;
    head_request_ = false;
    {
      const log::ScopedRequestId request_id_scope(request_id_);
      record_request(core_, route, method, response.status, Clock::now(), remote_address_);
    }
    write_response(std::move(response), true);
  }

  void handle_request() {
    phase_ = Phase::handling;
    tcp_layer().expires_never();
    auto& message = parser_->get();
    Request request;
    request.method = to_string(message.method_string());
    request.remote_address = remote_address_;
    request.client_certificate = client_certificate_;
    request.headers.reserve(16);
    for (const auto& field : message) {
      request.headers.emplace_back(to_string(field.name_string()), to_string(field.value()));
    }
    request.body = std::move(message.body());
    request_id_ = choose_request_id(to_std(message["X-Request-Id"]));
    request.request_id = request_id_;
    version_ = message.version();
    keep_alive_requested_ = message.keep_alive();
    head_request_ = message.method() == beast_http::verb::head;
    const std::string target = to_string(message.target());
    parser_.reset();
    const auto started = Clock::now();

    if (!parse_target(target, request)) {
      request.route = std::string(Router::unmatched_route);
      finish_on_io(request, started,
                   problem(400, "malformed_request_target", "Malformed request target",
                           "the target must be an origin-form path with valid percent-encoding"));
      return;
    }
    if (core_.queued_requests.fetch_add(1) >= limits().max_queued_requests) {
      core_.queued_requests.fetch_sub(1);
      request.route = core_.router.route_name(request.method, request.path);
      Response response = problem(503, "overloaded", "Overloaded", "too many requests are in progress; retry shortly");
      response.headers.emplace_back("Retry-After", "1");
      finish_on_io(request, started, std::move(response));
      return;
    }
    if (try_fast(request, started))
      return;
    asio::post(*core_.workers, [self = self(), request = std::move(request), started]() mutable {
      t_is_server_thread = true;
      Response response = handle_on_worker(self->core_, request, started);
      self->core_.queued_requests.fetch_sub(1);
      asio::post(self->executor_, [self, response = std::move(response)]() mutable {
        self->write_response(std::move(response), false);
      });
    });
  }

  // Offers the request to its route's fast handler on this I/O thread (no hand-off to a worker).
  // If the handler takes it, the request waits in fast_request_ for the answer, which comes back
  // to this connection's strand; otherwise request is left as it was, for a worker.
  bool try_fast(Request& request, Clock::time_point started) {
    fast_request_ = std::move(request);
    core_.fast_in_flight.fetch_add(1);
    Respond respond = [self = self(), started](Response response) {
      ServerCore& core = self->core_;
      Executor executor = self->executor_;
      asio::post(executor, [self = std::move(self), started, response = std::move(response)]() mutable {
        self->finish_fast(started, std::move(response));
      });
      if (core.fast_in_flight.fetch_sub(1) == 1)
        core.fast_in_flight.notify_all();
    };
    bool taken = false;
    {
      const log::ScopedRequestId request_id_scope(fast_request_.request_id);
      taken = core_.router.try_fast(fast_request_, respond);
    }
    if (!taken) {
      if (core_.fast_in_flight.fetch_sub(1) == 1)
        core_.fast_in_flight.notify_all();
      request = std::move(fast_request_);
    }
    return taken;
  }

  void finish_fast(Clock::time_point started, Response response) {
    core_.queued_requests.fetch_sub(1);
    Request request = std::move(fast_request_);
    finish_on_io(request, started, vetted(std::move(response), request.route));
  }

  void finish_on_io(const Request& request, Clock::time_point started, Response response) {
    {
      const log::ScopedRequestId request_id_scope(request.request_id);
      record_request(core_, request.route, request.method, response.status, started, remote_address_);
    }
    write_response(std::move(response), false);
  }

  // The whole response goes out in one buffer (one TLS record for a small one), not through a
  // message serializer: measured, the serializer's machinery cost more than the encryption.
  void write_response(Response response, bool close_after) {
    if (phase_ == Phase::closed)
      return;  // force-closed while the handler ran
    phase_ = Phase::writing;
    keep_alive_ = !close_after && keep_alive_requested_ && !core_.stopping.load();
    serialize_response(response,
                       Framing{.version = version_ == 10 ? 10U : 11U,
                               .request_id = request_id_,
                               .keep_alive = keep_alive_,
                               .head_request = head_request_,
                               .tls = is_tls},
                       out_);
    tcp_layer().expires_after(milliseconds(limits().write_timeout_ms));
    asio::async_write(stream_, asio::buffer(out_),
                      [self = self()](const error_code& error, std::size_t) { self->on_write(error); });
  }

  void on_write(const error_code& error) {
    if (out_.capacity() > kKeptWriteBuffer)
      std::string().swap(out_);  // a large response's buffer is not kept for the next
    if (error) {
      log::debug("http_write_failed", {{"remote", remote_address_}, {"error", error.message()}});
      close_now();
      return;
    }
    if (!keep_alive_) {
      close_gracefully();
      return;
    }
    first_request_ = false;
    read_request();
  }

  void close_gracefully() {
    phase_ = Phase::closing;
    if constexpr (is_tls) {
      tcp_layer().expires_after(std::min(milliseconds(limits().handshake_timeout_ms), lingering_close_timeout));
      stream_.async_shutdown([self = self()](const error_code& error) {
        // Many peers close without their close_notify; either way the TCP close follows.
        if (error && error != asio::error::eof && error != asio::ssl::error::stream_truncated) {
          log::debug("tls_shutdown_incomplete", {{"remote", self->remote_address_}, {"error", error.message()}});
        }
        self->linger();
      });
    } else {
      linger();
    }
  }

  void linger() {
    if (phase_ == Phase::closed)
      return;
    error_code error;
    tcp_layer().socket().shutdown(tcp::socket::shutdown_send, error);
    if (error) {
      close_now();
      return;
    }
    tcp_layer().expires_after(lingering_close_timeout);
    buffer_.consume(buffer_.size());  // unread pipelined bytes are discarded too
    drained_bytes_ = 0;
    drain();
  }

  void drain() {
    tcp_layer().async_read_some(buffer_.prepare(read_chunk_bytes),
                                [self = self()](const error_code& error, std::size_t bytes) {
                                  self->drained_bytes_ += bytes;
                                  if (error || self->drained_bytes_ >= lingering_close_bytes_limit) {
                                    self->close_now();  // EOF from the peer, timeout, or enough
                                    return;
                                  }
                                  self->drain();
                                });
  }

  void close_now() {
    if (phase_ == Phase::closed)
      return;
    phase_ = Phase::closed;
    error_code ignored;  // best effort: the peer may already be gone
    tcp_layer().socket().shutdown(tcp::socket::shutdown_both, ignored);
    tcp_layer().close();
  }

  ServerCore& core_;
  const std::uint64_t id_;
  const Executor executor_;
  const std::string remote_address_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<beast_http::request_parser<beast_http::string_body>> parser_;
  std::string out_;  // the response being written
  static constexpr std::size_t kKeptWriteBuffer = 64 * 1024;
  std::optional<ClientCertificate> client_certificate_;
  std::string request_id_;
  Request fast_request_;  // taken by a fast handler, until its answer
  Phase phase_ = Phase::waiting;
  unsigned version_ = 11;
  bool first_request_ = true;
  bool keep_alive_requested_ = false;
  bool keep_alive_ = false;
  bool head_request_ = false;
  std::size_t drained_bytes_ = 0;
};

void validate(const ServerOptions& options) {
  const ServerLimits& limits = options.limits;
  const auto require = [](bool condition, const char* what) {
    if (!condition)
      throw std::invalid_argument(std::string("invalid server options: ") + what);
  };
  require(options.io_threads >= 1 && options.io_threads <= io_threads_limit, "io_threads must be 1..64");
  require(options.worker_threads >= 1 && options.worker_threads <= worker_threads_limit,
          "worker_threads must be 1..1024");
  require(limits.body_limit_bytes > 0, "body_limit_bytes must be positive");
  require(limits.header_limit_bytes >= 256, "header_limit_bytes must be at least 256");
  require(limits.read_timeout_ms > 0, "read_timeout_ms must be positive");
  require(limits.write_timeout_ms > 0, "write_timeout_ms must be positive");
  require(limits.idle_timeout_ms > 0, "idle_timeout_ms must be positive");
  require(limits.handshake_timeout_ms > 0, "handshake_timeout_ms must be positive");
  require(limits.max_connections > 0, "max_connections must be positive");
  require(limits.max_queued_requests > 0, "max_queued_requests must be positive");
}

}  // namespace

class Server::Impl {
 public:
  Impl(ServerOptions options, const Router& router, Metrics& metrics) : core_(std::move(options), router, metrics) {
    validate(core_.options);
    if (core_.options.tls) {
      core_.ssl_context.emplace(make_server_context(*core_.options.tls, core_.options.service_name).release());
    }
  }

  ~Impl() { stop(); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  void start() {
    {
      const std::lock_guard lock(state_mutex_);
      if (state_ != State::created)
        throw std::logic_error("Server::start() called twice");
    }
    const ServerOptions& options = core_.options;
    const std::string where = options.listen_address + ":" + std::to_string(options.port);
    const auto refuse = [&where](const std::string& why) { throw BindError("cannot listen on " + where + ": " + why); };

    error_code error;
    const auto address = asio::ip::make_address(options.listen_address, error);
    if (error)
      refuse("not an IP address");
    const tcp::endpoint endpoint(address, options.port);

    core_.io.emplace(static_cast<int>(options.io_threads));
    acceptor_.emplace(asio::make_strand(*core_.io));
    retry_timer_.emplace(acceptor_->get_executor());
    if (acceptor_->open(endpoint.protocol(), error); error)
      refuse(error.message());
    if (acceptor_->set_option(tcp::acceptor::reuse_address(true), error); error)
      refuse(error.message());
    if (acceptor_->bind(endpoint, error); error)
      refuse(error.message());
    if (acceptor_->listen(asio::socket_base::max_listen_connections, error); error)
      refuse(error.message());
    port_.store(acceptor_->local_endpoint(error).port());
    if (error)
      refuse(error.message());

    core_.workers.emplace(options.worker_threads);
    work_guard_.emplace(core_.io->get_executor());
    asio::post(acceptor_->get_executor(), [this] { accept(); });
    io_threads_.reserve(options.io_threads);
    for (unsigned i = 0; i < options.io_threads; ++i)
      io_threads_.emplace_back([this] { run_io(); });
    {
      const std::lock_guard lock(state_mutex_);
      state_ = State::running;
    }
    log::info("http_listening", {{"address", options.listen_address},
                                 {"port", static_cast<unsigned>(port_.load())},
                                 {"tls", options.tls.has_value()}});
  }

  unsigned short port() const { return port_.load(); }

  void stop() {
    if (t_is_server_thread) {
      throw std::logic_error("Server::stop() called from one of the server's own threads");
    }
    {
      std::unique_lock lock(state_mutex_);
      if (state_ == State::created) {
        state_ = State::stopped;
        state_changed_.notify_all();
        return;
      }
      if (state_ != State::running) {
        state_changed_.wait(lock, [this] { return state_ == State::stopped; });
        return;
      }
      state_ = State::stopping;
    }
    log::info("http_stopping", {{"port", static_cast<unsigned>(port_.load())}});
    core_.stopping.store(true);
    asio::post(acceptor_->get_executor(), [this] {
      error_code error;
      acceptor_->close(error);
      retry_timer_->cancel();
    });
    for (const auto& connection : live_connections())
      connection->begin_shutdown();

    const auto grace_deadline = Clock::now() + std::chrono::milliseconds(core_.options.limits.shutdown_grace_ms);
    if (!wait_for_connections_until(grace_deadline)) {
      const auto remaining = live_connections();
      log::warn("http_stop_grace_expired", {{"connections", remaining.size()}});
      for (const auto& connection : remaining)
        connection->force_close();
      (void)wait_for_connections_until(Clock::now() + forced_close_wait);
    }

    // Answers still owed by fast handlers (they bound their own work, like running handlers).
    for (auto in_flight = core_.fast_in_flight.load(); in_flight != 0; in_flight = core_.fast_in_flight.load())
      core_.fast_in_flight.wait(in_flight);
    core_.workers->stop();  // requests still queued are dropped; running handlers finish
    core_.workers->join();
    work_guard_.reset();
    core_.io->stop();
    for (auto& thread : io_threads_)
      thread.join();
    io_threads_.clear();
    // Destroys what is left (sockets, queued handlers) while the io_context is still alive.
    core_.workers.reset();
    retry_timer_.reset();
    acceptor_.reset();
    core_.io.reset();

    log::info("http_stopped", {{"port", static_cast<unsigned>(port_.load())}});
    const std::lock_guard lock(state_mutex_);
    state_ = State::stopped;
    state_changed_.notify_all();
  }

  void wait() {
    std::unique_lock lock(state_mutex_);
    state_changed_.wait(lock, [this] { return state_ == State::stopped || state_ == State::created; });
  }

 private:
  enum class State { created, running, stopping, stopped };

  void run_io() {
    t_is_server_thread = true;
    while (true) {
      try {
        core_.io->run();
        return;
      } catch (const std::exception& exception) {
        log::error("http_io_thread_exception", {{"what", exception.what()}});
      }
    }
  }

  std::vector<std::shared_ptr<ConnectionBase>> live_connections() {
    std::vector<std::shared_ptr<ConnectionBase>> list;
    const std::lock_guard lock(core_.mutex);
    list.reserve(core_.connections.size());
    for (const auto& [id, weak] : core_.connections) {
      if (auto connection = weak.lock())
        list.push_back(std::move(connection));
    }
    return list;
  }

  bool wait_for_connections_until(Clock::time_point deadline) {
    std::unique_lock lock(core_.mutex);
    return core_.connections_changed.wait_until(lock, deadline, [this] { return core_.connections.empty(); });
  }

  // Runs on the acceptor's strand.
  void accept() {
    acceptor_->async_accept(asio::make_strand(*core_.io), [this](const error_code& error, tcp::socket socket) {
      on_accept(error, std::move(socket));
    });
  }

  void on_accept(const error_code& error, tcp::socket socket) {
    if (error == asio::error::operation_aborted || core_.stopping.load())
      return;
    if (error) {
      // Typically out of file descriptors: wait a little rather than spin.
      log::warn("http_accept_failed", {{"error", error.message()}});
      retry_timer_->expires_after(accept_retry_delay);
      retry_timer_->async_wait([this](const error_code& timer_error) {
        if (!timer_error)
          accept();
      });
      return;
    }
    error_code endpoint_error;
    const tcp::endpoint remote = socket.remote_endpoint(endpoint_error);
    if (endpoint_error) {
      accept();  // the peer is already gone
      return;
    }
    if (core_.open_connections.load() >= core_.options.limits.max_connections) {
      core_.connections_refused.increment();
      log::debug("http_connection_refused", {{"remote", remote.address().to_string()}});
      error_code ignored;  // closing a socket nobody else uses
      socket.close(ignored);
      accept();
      return;
    }
    error_code option_error;
    socket.set_option(tcp::no_delay(true), option_error);
    if (option_error)
      log::debug("http_no_delay_failed", {{"error", option_error.message()}});

    try {
      start_connection(std::move(socket), remote.address().to_string());
    } catch (const std::exception& exception) {
      log::error("http_connection_setup_failed", {{"what", exception.what()}});
    }
    accept();
  }

  void start_connection(tcp::socket socket, std::string remote_address) {
    std::uint64_t id = 0;
    {
      const std::lock_guard lock(core_.mutex);
      id = core_.next_connection_id++;
    }
    std::shared_ptr<ConnectionBase> connection;
    if (core_.ssl_context) {
      connection = std::make_shared<Connection<beast::ssl_stream<beast::tcp_stream>>>(core_, id, std::move(socket),
                                                                                      std::move(remote_address));
    } else {
      connection =
          std::make_shared<Connection<beast::tcp_stream>>(core_, id, std::move(socket), std::move(remote_address));
    }
    // Counted from here on; the connection's destructor uncounts it.
    core_.open_connections.fetch_add(1);
    core_.connections_open.add(1);
    {
      const std::lock_guard lock(core_.mutex);
      core_.connections.emplace(id, connection);
    }
    connection->start();
  }

  ServerCore core_;
  std::optional<tcp::acceptor> acceptor_;
  std::optional<asio::steady_timer> retry_timer_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_guard_;
  std::vector<std::thread> io_threads_;
  std::atomic<unsigned short> port_{0};

  std::mutex state_mutex_;
  std::condition_variable state_changed_;
  State state_ = State::created;  // guarded by state_mutex_
};

Server::Server(ServerOptions options, const Router& router, Metrics& metrics)
    : impl_(std::make_unique<Impl>(std::move(options), router, metrics)) {}

Server::~Server() = default;

void Server::start() {
  impl_->start();
}

unsigned short Server::port() const {
  return impl_->port();
}

void Server::stop() {
  impl_->stop();
}

void Server::wait() {
  impl_->wait();
}

}  // namespace cch::http
