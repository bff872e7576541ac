// Forwarding commands to their owning service over internal HTTP (plain on loopback, or HTTPS
// with the api's client certificate when the service demands one).
#include "api_impl.hpp"

#include "cch/audit/command_answer.hpp"
#include "cch/core/log.hpp"
#include "cch/http/client.hpp"

#include <memory>
#include <mutex>
#include <vector>

namespace cch::api {
namespace {

// Idle clients kept per service; a request takes one (or opens a new one) and gives it back.
class ClientPool {
 public:
  explicit ClientPool(http::ClientOptions options) : options_(std::move(options)) {}

  http::Response send(const http::Request& forwarded) {
    std::unique_ptr<http::Client> client = take();
    std::vector<http::NameValue> headers = forwarded.headers;
    auto answer = client->request(forwarded.method, forwarded.target, forwarded.body, headers);
    if (!answer) {
      log::error("forward_failed", {{"target", forwarded.target}, {"what", answer.error().message}});
      http::Response response = http::problem(503, "owning_service_unavailable", "Service unavailable",
                                              "the service that owns this command did not answer; retry with the "
                                              "same Idempotency-Key");
      response.headers.emplace_back("Retry-After", "1");
      return response;
    }
    give_back(std::move(client));
    http::Response response;
    response.status = answer->status;
    if (const auto type = answer->header("Content-Type")) response.content_type = std::string(*type);
    response.body = std::move(answer->body);
    for (const std::string_view name : {std::string_view("Location"), std::string_view("Retry-After"),
                                        audit::kAnswerRecordedHeader}) {
      if (const auto value = answer->header(name)) response.headers.emplace_back(std::string(name), std::string(*value));
    }
    return response;
  }

 private:
  static constexpr std::size_t kIdleClientsMax = 32;

  std::unique_ptr<http::Client> take() {
    {
      const std::lock_guard lock(mutex_);
      if (!idle_.empty()) {
        auto client = std::move(idle_.back());
        idle_.pop_back();
        return client;
      }
    }
    return std::make_unique<http::Client>(options_);
  }

  void give_back(std::unique_ptr<http::Client> client) {
    const std::lock_guard lock(mutex_);
    if (idle_.size() < kIdleClientsMax) idle_.push_back(std::move(client));
  }

  const http::ClientOptions options_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<http::Client>> idle_;  // guarded by mutex_
};

http::ClientOptions client_options(const config::Config& config, const std::string& service) {
  http::ClientTlsOptions tls;
  tls.ca_file = config.text("internal.ca_file");
  tls.certificate_file = config.text("internal.client_certificate_file");
  tls.private_key_file = config.text("internal.client_key_file");
  return runtime::service_client_options(
      config, service, static_cast<std::uint32_t>(config.integer("api.forward_timeout_ms")), tls);
}

}  // namespace

Forward http_forward(const config::Config& config) {
  auto registry = std::make_shared<ClientPool>(client_options(config, "registry"));
  auto risk = std::make_shared<ClientPool>(client_options(config, "risk"));
  auto settlement = std::make_shared<ClientPool>(client_options(config, "settlement"));
  return [registry, risk, settlement](Executor service, const http::Request& forwarded) {
    if (service == Executor::registry) return registry->send(forwarded);
    if (service == Executor::risk) return risk->send(forwarded);
    return settlement->send(forwarded);
  };
}

}  // namespace cch::api
