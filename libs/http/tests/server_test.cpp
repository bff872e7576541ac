#include "cch/http/server.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>
#include <thread>

#include "cch/core/log.hpp"
#include "cch/http/client.hpp"
#include "raw_connection.hpp"
#include "test_wait.hpp"

namespace cch::http {
namespace {

using testing::eventually;
using testing::Gate;
using testing::RawConnection;

constexpr auto generous = std::chrono::milliseconds(10'000);

ServerOptions test_options() {
  ServerOptions options;
  options.service_name = "http-test";
  options.listen_address = "127.0.0.1";
  options.port = 0;
  options.io_threads = 1;
  options.worker_threads = 2;
  options.limits.shutdown_grace_ms = 10'000;
  return options;
}

std::string reason_of(const ClientResponse& response) {
  return nlohmann::json::parse(response.body).value("reason", "");
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

bool is_hex_id(std::string_view id) {
  return id.size() == 32 && id.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

// A router with a few test routes, and a server over it started on an ephemeral port.
struct Harness {
  explicit Harness(ServerOptions options = test_options()) {
    router.add("GET", "/hello", [](const Request&) { return text_response(200, "hello"); });
    router.add("POST", "/echo", [](const Request& request) { return text_response(200, request.body); });
    router.add("GET", "/request-id", [](const Request& request) {
      return json_response(200, {{"request_id", request.request_id}, {"log_request_id", log::current_request_id()}});
    });
    router.add("GET", "/boom", [](const Request&) -> Response { throw std::runtime_error("database password"); });
    router.add("GET", "/block", [this](const Request&) {
      entered.open();
      if (!release.wait())
        return text_response(500, "gate never opened");
      return text_response(200, "released");
    });
    router.add("GET", "/headers", [](const Request&) {
      Response response = text_response(200, "hi");
      response.headers = {{"Cache-Control", "max-age=5"}, {"Content-Length", "999"}, {"Connection", "upgrade"},
                          {"X-Custom", "yes"},          {"x-content-type-options", "sniff"}};
      return response;
    });
    router.add("GET", "/empty", [](const Request&) { return text_response(204, "dropped"); });
    // /fast/now answers at once on the I/O thread; /fast/later is answered when the test calls
    // answer_later() (from the test's thread); /fast/decline goes to the worker.
    router.add(
        "GET", "/fast/{when}", [](const Request&) { return text_response(200, "worker"); },
        [this](const Request& request, const Respond& respond) {
          const std::string when(request.path_param("when").value_or(""));
          if (when == "decline")
            return false;
          if (when == "now") {
            respond(text_response(200, "fast now " + std::string(log::current_request_id())));
            return true;
          }
          {
            const std::lock_guard lock(owed_mutex);
            owed.push_back(respond);
          }
          fast_taken.open();
          return true;
        });
    server = std::make_unique<Server>(std::move(options), router, metrics);
    server->start();
  }

  void answer_later(const std::string& body) {
    std::vector<Respond> due;
    {
      const std::lock_guard lock(owed_mutex);
      due.swap(owed);
    }
    for (const auto& respond : due)
      respond(text_response(200, body));
  }

  ClientOptions client_options() const {
    ClientOptions options;
    options.host = "127.0.0.1";
    options.port = server->port();
    return options;
  }

  Router router;
  Metrics metrics;
  Gate entered;
  Gate release;
  Gate fast_taken;
  std::mutex owed_mutex;
  std::vector<Respond> owed;  // guarded by owed_mutex
  std::unique_ptr<Server> server;
};

// A GET sent from a thread of its own, on a connection of its own; result() waits for it.
class BackgroundRequest {
 public:
  BackgroundRequest(const Harness& harness, std::string target)
      : thread_([this, options = harness.client_options(), target = std::move(target)] {
          Client client(options);
          result_.emplace(client.request("GET", target));
        }) {}
  ~BackgroundRequest() {
    if (thread_.joinable())
      thread_.join();
  }
  BackgroundRequest(const BackgroundRequest&) = delete;
  BackgroundRequest& operator=(const BackgroundRequest&) = delete;

  const Result<ClientResponse, ClientError>& result() {
    if (thread_.joinable())
      thread_.join();
    return *result_;
  }

 private:
  std::optional<Result<ClientResponse, ClientError>> result_;
  std::thread thread_;  // after result_, which it writes
};

ClientResponse must(Result<ClientResponse, ClientError> result) {
  if (!result) {
    ADD_FAILURE() << "request failed: " << result.error().message;
    return {};
  }
  return std::move(result).value();
}

TEST(Server, KeepAliveServesTwoRequestsOnOneConnection) {
  Harness harness;
  Client client(harness.client_options());
  const ClientResponse first = must(client.request("GET", "/hello"));
  const ClientResponse second = must(client.request("POST", "/echo", "ping", {{"Content-Type", "text/plain"}}));
  EXPECT_EQ(first.status, 200U);
  EXPECT_EQ(first.body, "hello");
  EXPECT_EQ(second.body, "ping");
  EXPECT_EQ(client.connections_opened(), 1U);
  EXPECT_EQ(first.header("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(first.header("Cache-Control"), "no-store");
  EXPECT_EQ(harness.metrics.request_count("/hello", "GET", 200), 1U);
  EXPECT_EQ(harness.metrics.request_count("/echo", "POST", 200), 1U);
}

// The bytes on the wire: the handler's headers in order, less those the server sets itself;
// then the server's; framing by the protocol version, keep-alive and the status.
TEST(Server, ResponsesAreFramedExactlyOnTheWire) {
  Harness harness;
  RawConnection connection(harness.server->port());
  ASSERT_TRUE(connection.send("GET /headers HTTP/1.1\r\nHost: t\r\nX-Request-Id: wire-1\r\n\r\n"));
  EXPECT_EQ(connection.read_response(generous).data,
            "HTTP/1.1 200 OK\r\nCache-Control: max-age=5\r\nX-Custom: yes\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nX-Request-Id: wire-1\r\nX-Content-Type-Options: nosniff\r\n"
            "Content-Length: 2\r\n\r\nhi");
  ASSERT_TRUE(connection.send("GET /empty HTTP/1.1\r\nHost: t\r\nX-Request-Id: wire-2\r\n\r\n"));
  EXPECT_EQ(connection.read_response(generous).data,
            "HTTP/1.1 204 No Content\r\nContent-Type: text/plain; charset=utf-8\r\nX-Request-Id: wire-2\r\n"
            "X-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\n\r\n");
  // HEAD: no route takes it here, so 405; its Content-Length is the body's, which is not sent.
  ASSERT_TRUE(connection.send("HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
  const auto head = connection.read_until("\r\n\r\n", generous).data;
  EXPECT_EQ(head.rfind("HTTP/1.1 405 Method Not Allowed\r\n", 0), 0U) << head;
  EXPECT_NE(head.find("\r\nContent-Length: "), std::string::npos) << head;
  EXPECT_EQ(head.substr(head.size() - 4), "\r\n\r\n") << head;
  // HTTP/1.0: kept alive only when asked, and said so.
  ASSERT_TRUE(connection.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\nX-Request-Id: wire-3\r\n\r\n"));
  EXPECT_EQ(connection.read_response(generous).data,
            "HTTP/1.0 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nX-Request-Id: wire-3\r\n"
            "X-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\nConnection: keep-alive\r\n"
            "Content-Length: 5\r\n\r\nhello");
  ASSERT_TRUE(connection.send("GET /hello HTTP/1.0\r\nX-Request-Id: wire-4\r\n\r\n"));
  const auto last = connection.read_until_closed(generous);
  EXPECT_EQ(last.data,
            "HTTP/1.0 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nX-Request-Id: wire-4\r\n"
            "X-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_TRUE(last.closed);
}

TEST(Server, PipelinedRequestsAreAnsweredInOrder) {
  Harness harness;
  RawConnection connection(harness.server->port());
  ASSERT_TRUE(
      connection.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"
                      "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\nsecond"));
  const auto read = connection.read_until("second", generous);
  EXPECT_LT(read.data.find("hello"), read.data.find("second"));
  EXPECT_NE(read.data.find("second"), std::string::npos);
}

TEST(Server, RequestIdIsEchoedWhenValidAndGeneratedOtherwise) {
  Harness harness;
  Client client(harness.client_options());
  const ClientResponse echoed = must(client.request("GET", "/request-id", {}, {{"X-Request-Id", "trace-1.2_3"}}));
  EXPECT_EQ(echoed.header("X-Request-Id"), "trace-1.2_3");
  const auto body = nlohmann::json::parse(echoed.body);
  EXPECT_EQ(body["request_id"], "trace-1.2_3");
  EXPECT_EQ(body["log_request_id"], "trace-1.2_3");

  const ClientResponse replaced = must(client.request("GET", "/request-id", {}, {{"X-Request-Id", "has space"}}));
  EXPECT_TRUE(is_hex_id(replaced.header("X-Request-Id").value_or(""))) << *replaced.header("X-Request-Id");
  const ClientResponse first = must(client.request("GET", "/request-id"));
  const ClientResponse second = must(client.request("GET", "/hello"));
  EXPECT_TRUE(is_hex_id(first.header("X-Request-Id").value_or("")));
  EXPECT_NE(first.header("X-Request-Id"), second.header("X-Request-Id"));
  EXPECT_EQ(nlohmann::json::parse(first.body)["request_id"], *first.header("X-Request-Id"));
}

TEST(Server, HandlerExceptionIs500ProblemWithRequestId) {
  Harness harness;
  Client client(harness.client_options());
  const ClientResponse response = must(client.request("GET", "/boom"));
  EXPECT_EQ(response.status, 500U);
  EXPECT_EQ(response.header("Content-Type"), "application/problem+json");
  EXPECT_EQ(reason_of(response), "internal_error");
  EXPECT_EQ(response.body.find("password"), std::string::npos);
  EXPECT_TRUE(response.header("X-Request-Id").has_value());
  EXPECT_EQ(harness.metrics.request_count("/boom", "GET", 500), 1U);
  const ClientResponse missing = must(client.request("GET", "/missing"));
  EXPECT_EQ(missing.status, 404U);
  EXPECT_EQ(harness.metrics.request_count("unmatched", "GET", 404), 1U);
}

TEST(Server, BodyOverLimitIs413AndTheServerKeepsServing) {
  ServerOptions options = test_options();
  options.limits.body_limit_bytes = 1024;
  Harness harness(options);
  {
    Client client(harness.client_options());
    const ClientResponse response = must(client.request("POST", "/echo", std::string(64 * 1024, 'x')));
    EXPECT_EQ(response.status, 413U);
    EXPECT_EQ(response.header("Content-Type"), "application/problem+json");
    EXPECT_EQ(reason_of(response), "body_too_large");
    EXPECT_EQ(response.header("Connection"), "close");
  }
  {
    RawConnection chunked(harness.server->port());
    ASSERT_TRUE(chunked.send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n" +
                             std::string(0x800, 'y') + "\r\n0\r\n\r\n"));
    const auto read = chunked.read_until_closed(generous);
    EXPECT_EQ(read.data.rfind("HTTP/1.1 413", 0), 0U) << read.data;
    EXPECT_TRUE(read.closed);
  }
  Client next(harness.client_options());
  const ClientResponse response = must(next.request("POST", "/echo", std::string(1024, 'z')));
  EXPECT_EQ(response.status, 200U);
  EXPECT_EQ(response.body.size(), 1024U);
}

TEST(Server, HeaderOverLimitIs431ThenClose) {
  ServerOptions options = test_options();
  options.limits.header_limit_bytes = 1024;
  Harness harness(options);
  RawConnection connection(harness.server->port());
  ASSERT_TRUE(connection.send("GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(4000, 'a') + "\r\n\r\n"));
  const auto read = connection.read_until_closed(generous);
  EXPECT_EQ(read.data.rfind("HTTP/1.1 431", 0), 0U) << read.data;
  EXPECT_NE(read.data.find("\"reason\":\"header_too_large\""), std::string::npos);
  EXPECT_TRUE(read.closed);
  Client client(harness.client_options());
  EXPECT_EQ(must(client.request("GET", "/hello")).status, 200U);
}

TEST(Server, MalformedRequestIs400) {
  Harness harness;
  {
    RawConnection connection(harness.server->port());
    ASSERT_TRUE(connection.send("THIS IS NOT HTTP\r\n\r\n"));
    const auto read = connection.read_until_closed(generous);
    EXPECT_EQ(read.data.rfind("HTTP/1.1 400", 0), 0U) << read.data;
    EXPECT_NE(read.data.find("\"reason\":\"malformed_request\""), std::string::npos);
    EXPECT_TRUE(read.closed);
  }
  {
    // Well-framed but not origin-form: answered 400 and the connection stays usable.
    RawConnection connection(harness.server->port());
    ASSERT_TRUE(connection.send("GET http://example.com/hello HTTP/1.1\r\nHost: t\r\n\r\n"));
    const auto read = connection.read_response(generous);
    EXPECT_EQ(read.data.rfind("HTTP/1.1 400", 0), 0U) << read.data;
    EXPECT_NE(read.data.find("malformed_request_target"), std::string::npos);
    ASSERT_TRUE(connection.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
    EXPECT_EQ(connection.read_response(generous).data.rfind("HTTP/1.1 200", 0), 0U);
  }
}

TEST(Server, ExpectContinueGetsAnInterimResponse) {
  Harness harness;
  RawConnection connection(harness.server->port());
  ASSERT_TRUE(connection.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
  EXPECT_EQ(connection.read_until("\r\n\r\n", generous).data, "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_TRUE(connection.send("hello"));
  const auto read = connection.read_response(generous);
  EXPECT_EQ(read.data.rfind("HTTP/1.1 200", 0), 0U) << read.data;
  EXPECT_TRUE(read.data.ends_with("\r\n\r\nhello"));
}

TEST(Server, SlowClientIsCutOffAfterReadTimeoutWhileOthersAreServed) {
  ServerOptions options = test_options();
  options.limits.read_timeout_ms = 300;
  Harness harness(options);
  RawConnection slow(harness.server->port());
  ASSERT_TRUE(slow.send("GET /hel"));
  Client client(harness.client_options());
  EXPECT_EQ(must(client.request("GET", "/hello")).status, 200U);

  const auto read = slow.read_until_closed(generous);
  EXPECT_TRUE(read.closed);
  EXPECT_TRUE(read.data.empty()) << read.data;
  // Counted after the socket is closed, so the test may see the close first.
  EXPECT_TRUE(eventually([&] { return contains(harness.metrics.render(), "cch_http_read_timeouts_total 1\n"); }));
  Client after(harness.client_options());
  EXPECT_EQ(must(after.request("GET", "/hello")).status, 200U);
}

TEST(Server, IdleKeepAliveConnectionIsClosed) {
  ServerOptions options = test_options();
  options.limits.idle_timeout_ms = 300;
  Harness harness(options);
  RawConnection connection(harness.server->port());
  ASSERT_TRUE(connection.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
  EXPECT_EQ(connection.read_response(generous).data.rfind("HTTP/1.1 200", 0), 0U);
  const auto read = connection.read_until_closed(generous);
  EXPECT_TRUE(read.closed);
  EXPECT_TRUE(read.data.empty());
}

TEST(Server, ClientReconnectsWhenTheServerClosedItsIdleConnection) {
  ServerOptions options = test_options();
  options.limits.idle_timeout_ms = 300;
  Harness harness(options);
  Client client(harness.client_options());
  EXPECT_EQ(must(client.request("GET", "/hello")).status, 200U);
  EXPECT_TRUE(eventually([&] { return contains(harness.metrics.render(), "cch_http_connections_open 0\n"); }));
  EXPECT_EQ(must(client.request("POST", "/echo", "again")).body, "again");
  EXPECT_EQ(client.connections_opened(), 2U);
}

TEST(Server, ConnectionsOverTheLimitAreRefused) {
  ServerOptions options = test_options();
  options.limits.max_connections = 1;
  Harness harness(options);
  auto first = std::make_unique<Client>(harness.client_options());
  EXPECT_EQ(must(first->request("GET", "/hello")).status, 200U);  // holds the only slot (keep-alive)

  RawConnection extra(harness.server->port());
  const auto read = extra.read_until_closed(generous);
  EXPECT_TRUE(read.closed);
  EXPECT_TRUE(read.data.empty());
  EXPECT_TRUE(contains(harness.metrics.render(), "cch_http_connections_refused_total 1\n"));

  first.reset();  // frees the slot once the server sees the close
  EXPECT_TRUE(eventually([&] {
    Client client(harness.client_options());
    const auto response = client.request("GET", "/hello");
    return response.has_value() && response.value().status == 200;
  }));
}

TEST(Server, FullHandlerQueueIs503Overloaded) {
  ServerOptions options = test_options();
  options.worker_threads = 1;
  options.limits.max_queued_requests = 1;
  Harness harness(options);
  BackgroundRequest blocked(harness, "/block");
  ASSERT_TRUE(harness.entered.wait());

  Client client(harness.client_options());
  const ClientResponse refused = must(client.request("GET", "/hello"));
  EXPECT_EQ(refused.status, 503U);
  EXPECT_EQ(reason_of(refused), "overloaded");
  EXPECT_EQ(refused.header("Retry-After"), "1");
  EXPECT_EQ(harness.metrics.request_count("/hello", "GET", 503), 1U);

  harness.release.open();
  ASSERT_TRUE(blocked.result().has_value());
  EXPECT_EQ(blocked.result().value().body, "released");
  EXPECT_EQ(must(client.request("GET", "/hello")).status, 200U);
}

TEST(Server, GracefulStopLetsAnInFlightHandlerFinish) {
  Harness harness;
  const unsigned short port = harness.server->port();
  BackgroundRequest in_flight(harness, "/block");
  ASSERT_TRUE(harness.entered.wait());

  std::thread stopper([&] { harness.server->stop(); });
  // stop() has begun once the listener is gone.
  EXPECT_TRUE(eventually([port] { return !RawConnection::can_connect(port); }));

  harness.release.open();
  const auto& answered = in_flight.result();
  stopper.join();
  ASSERT_TRUE(answered.has_value()) << answered.error().message;
  EXPECT_EQ(answered.value().status, 200U);
  EXPECT_EQ(answered.value().body, "released");
  EXPECT_EQ(answered.value().header("Connection"), "close");
  harness.server->wait();  // returns at once: stopped
}

// A fast handler answers on the I/O thread or later from any thread, with no worker: the only
// worker is held by /block throughout.
TEST(Server, AFastHandlerAnswersWithoutAWorkerAndADeclinedRequestGoesToOne) {
  ServerOptions options = test_options();
  options.worker_threads = 1;
  Harness harness(options);
  BackgroundRequest holder(harness, "/block");
  ASSERT_TRUE(harness.entered.wait());

  Client client(harness.client_options());
  const ClientResponse now = must(client.request("GET", "/fast/now", {}, {{"X-Request-Id", "fast-1"}}));
  EXPECT_EQ(now.status, 200U);
  EXPECT_EQ(now.body, "fast now fast-1");  // the handler ran under the request's id
  EXPECT_EQ(now.header("X-Request-Id"), "fast-1");
  EXPECT_EQ(now.header("Cache-Control"), "no-store");

  BackgroundRequest later(harness, "/fast/later");
  ASSERT_TRUE(harness.fast_taken.wait());
  harness.answer_later("answered from the test's thread");
  ASSERT_TRUE(later.result().has_value());
  EXPECT_EQ(later.result().value().body, "answered from the test's thread");
  EXPECT_EQ(harness.metrics.request_count("/fast/{when}", "GET", 200), 2U);

  // Declined: it waits for the worker, which is still held.
  BackgroundRequest declined(harness, "/fast/decline");
  harness.release.open();
  ASSERT_TRUE(declined.result().has_value());
  EXPECT_EQ(declined.result().value().body, "worker");
  EXPECT_EQ(holder.result().value().body, "released");
}

TEST(Server, GracefulStopWaitsForTheAnswerAFastHandlerOwes) {
  Harness harness;
  const unsigned short port = harness.server->port();
  BackgroundRequest owed(harness, "/fast/later");
  ASSERT_TRUE(harness.fast_taken.wait());

  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    harness.server->stop();
    stopped = true;
  });
  EXPECT_TRUE(eventually([port] { return !RawConnection::can_connect(port); }));
  EXPECT_FALSE(stopped.load());  // still owed an answer
  harness.answer_later("owed");
  const auto& answered = owed.result();
  stopper.join();
  EXPECT_TRUE(stopped.load());
  ASSERT_TRUE(answered.has_value()) << answered.error().message;
  EXPECT_EQ(answered.value().body, "owed");
  EXPECT_EQ(answered.value().header("Connection"), "close");
}

TEST(Server, BindFailureIsAClearOneLineError) {
  Harness harness;
  Router router;
  Metrics metrics;
  ServerOptions options = test_options();
  options.port = harness.server->port();
  Server second(options, router, metrics);
  try {
    second.start();
    FAIL() << "expected BindError";
  } catch (const BindError& error) {
    EXPECT_EQ(std::string(error.what()),
              "cannot listen on 127.0.0.1:" + std::to_string(options.port) + ": Address already in use");
  }
  options.listen_address = "not-an-address";
  Server third(options, router, metrics);
  EXPECT_THROW(third.start(), BindError);
}

TEST(Server, RefusesInvalidOptions) {
  Router router;
  Metrics metrics;
  ServerOptions options = test_options();
  options.worker_threads = 0;
  EXPECT_THROW({ Server server(options, router, metrics); }, std::invalid_argument);
  options = test_options();
  options.limits.max_queued_requests = 0;
  EXPECT_THROW({ Server server(options, router, metrics); }, std::invalid_argument);
}

}  // namespace
}  // namespace cch::http
