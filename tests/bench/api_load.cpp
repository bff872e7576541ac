// cch-load: a load generator for the api. Opens N keep-alive HTTPS connections (each its own
// thread and client certificate session) and sends requests for a duration, then prints one
// JSON line: requests, seconds, requests per second (all, and 2xx only), latency p50/p90/p99/max
// in milliseconds (all answers), and the count of each status. Requests during --warmup are not
// counted.
//
//   cch-load --port 8443 --ca ca.pem --cert member.pem --key member.key
//            --target /v1/accounts/7 --connections 8 --seconds 20 [--warmup 3]
//
// Commands: --method POST --body TEXT sends TEXT as JSON. In the target, the body and every
// --header, "{{n}}" becomes a number unique to the request (connection x 10^9 + sequence), so
// each POST carries its own Idempotency-Key and references. --body given K times: connection i
// sends body i mod K (several members' trades, say, each connection keeping to its own).
//
// Pairs: --then-target PATH with --then-cert/--then-key sends, after each successful first
// request, a second POST (body "{}") on a second connection as another principal; "{{id}}" in
// PATH becomes the first response's "trade_id". A pair counts as one request (its latency is the
// pair's); it succeeds when both answers are 2xx. This is a trade submitted by one member and
// affirmed by the other.
#include "load_connection.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace {

// Replaces every `placeholder` in text with value.
std::string substitute(std::string text, std::string_view placeholder, std::string_view value) {
  for (auto at = text.find(placeholder); at != std::string::npos; at = text.find(placeholder, at + value.size())) {
    text.replace(at, placeholder.size(), value);
  }
  return text;
}

struct RequestTemplate {
  std::string method;
  std::string target;
  std::string host;
  std::vector<std::string> headers;
  std::string body;
  bool varies = false;  // contains {{n}} or {{id}}

  [[nodiscard]] std::string render(std::string_view n, std::string_view id) const {
    const auto fill = [&](const std::string& text) {
      return varies ? substitute(substitute(text, "{{n}}", n), "{{id}}", id) : text;
    };
    std::string out = method + " " + fill(target) + " HTTP/1.1\r\nHost: " + host + "\r\n";
    for (const auto& header : headers) out += fill(header) + "\r\n";
    if (method != "GET") {
      const std::string filled = fill(body);
      out += "Content-Type: application/json\r\nContent-Length: " + std::to_string(filled.size()) + "\r\n\r\n" + filled;
    } else {
      out += "\r\n";
    }
    return out;
  }
};

// The value of "trade_id":"<digits>" in a JSON text, or empty.
std::string trade_id_of(std::string_view body) {
  constexpr std::string_view key = "\"trade_id\":\"";
  const auto at = body.find(key);
  if (at == std::string_view::npos) return {};
  const auto start = at + key.size();
  const auto end = body.find('"', start);
  return end == std::string_view::npos ? std::string() : std::string(body.substr(start, end - start));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cch-load: keep-alive HTTPS load against one api target"};
  std::string host = "127.0.0.1";
  unsigned short port = 8443;
  std::string ca, cert, key, target, method = "GET";
  std::vector<std::string> bodies;
  std::string then_target, then_cert, then_key;
  std::vector<std::string> headers;
  unsigned connections = 8;
  double seconds = 20;
  double warmup = 3;
  app.add_option("--host", host);
  app.add_option("--port", port)->required();
  app.add_option("--ca", ca, "PEM CA of the server")->required();
  app.add_option("--cert", cert, "PEM client certificate");
  app.add_option("--key", key, "PEM key of --cert");
  app.add_option("--target", target, "Path and query")->required();
  app.add_option("--method", method, "GET or POST")->check(CLI::IsMember({"GET", "POST"}));
  app.add_option("--body", bodies,
                 "JSON body of a POST ({{n}}: unique per request; repeatable: connection i sends body i mod K)");
  app.add_option("--header", headers, "Extra header 'Name: value' (repeatable; {{n}}: unique per request)");
  app.add_option("--then-target", then_target, "Second POST of a pair ({{id}}: the first answer's trade_id)");
  app.add_option("--then-cert", then_cert, "PEM client certificate of the pair's second request");
  app.add_option("--then-key", then_key, "PEM key of --then-cert");
  app.add_option("--connections", connections)->check(CLI::Range(1, 512));
  app.add_option("--seconds", seconds)->check(CLI::Range(0.1, 3600.0));
  app.add_option("--warmup", warmup)->check(CLI::Range(0.0, 600.0));
  CLI11_PARSE(app, argc, argv);

  for (const auto& header : headers) {
    if (header.find(':') == std::string::npos || header.find_first_of("\r\n") != std::string::npos) {
      std::cerr << "cch-load: error: --header must be one line 'Name: value'\n";
      return 2;
    }
  }
  const std::string authority = host + ":" + std::to_string(port);
  const auto varies = [](const std::string& text) {
    return text.find("{{n}}") != std::string::npos || text.find("{{id}}") != std::string::npos;
  };
  if (bodies.empty()) bodies.emplace_back();
  std::vector<RequestTemplate> firsts;
  for (const auto& body : bodies) {
    RequestTemplate first{method, target, authority, headers, body, false};
    first.varies = varies(target) || varies(body) ||
                   std::any_of(headers.begin(), headers.end(), [&](const std::string& h) { return varies(h); });
    firsts.push_back(std::move(first));
  }
  std::optional<RequestTemplate> second;
  if (!then_target.empty()) {
    std::vector<std::string> second_headers = {"Idempotency-Key: then-{{id}}-{{n}}"};  // unique across runs
    second = RequestTemplate{"POST", then_target, authority, second_headers, "{}", true};
  }
  // A request without variation is rendered once: the generator must not spend the cores it
  // measures on.
  std::vector<std::string> fixed_texts;
  for (const auto& first : firsts) fixed_texts.push_back(first.varies ? std::string() : first.render("", ""));
  const cch::bench::LoadTls tls{ca, cert, key};
  const cch::bench::LoadTls then_tls{ca, then_cert, then_key};

  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto measure_from = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(warmup));
  const auto stop_at = measure_from + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));

  std::mutex merge;
  std::vector<std::uint32_t> latencies_us;
  std::map<unsigned, std::uint64_t> statuses;
  std::uint64_t failures = 0;
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < connections; ++i) {
    threads.emplace_back([&, i] {
      const RequestTemplate& first = firsts[i % firsts.size()];
      const std::string& fixed_text = fixed_texts[i % firsts.size()];
      std::vector<std::uint32_t> mine;
      std::map<unsigned, std::uint64_t> my_statuses;
      std::uint64_t my_failures = 0;
      cch::bench::LoadConnection connection(host, port, tls, 10'000);
      std::optional<cch::bench::LoadConnection> then_connection;
      if (second) then_connection.emplace(host, port, then_tls, 10'000);
      std::uint64_t sequence = 0;
      const auto report_first = [&](unsigned status, std::string_view text) {
        if (++my_statuses[status] == 1 && (status < 200 || status > 299)) {
          const std::lock_guard lock(merge);
          std::cerr << "cch-load: first " << status << ": " << text.substr(0, 300) << "\n";
        }
      };
      for (auto now = Clock::now(); now < stop_at; now = Clock::now()) {
        const std::string n = std::to_string(static_cast<std::uint64_t>(i) * 1'000'000'000 + ++sequence);
        const std::string text = first.varies ? first.render(n, "") : std::string();
        const auto sent = Clock::now();
        unsigned status = connection.request(first.varies ? text : fixed_text);
        cch::bench::LoadConnection* answered = &connection;
        if (status >= 200 && status < 300 && second) {
          const std::string id = trade_id_of(connection.body());
          status = id.empty() ? 0 : then_connection->request(second->render(n, id));
          answered = &*then_connection;
        }
        const auto done = Clock::now();
        if (sent < measure_from) continue;
        if (status == 0) {
          if (++my_failures == 1) {
            const std::lock_guard lock(merge);
            std::cerr << "cch-load: first failure: "
                      << (answered->error().empty() ? "no trade_id in the answer" : answered->error()) << "\n";
          }
          continue;
        }
        report_first(status, answered->body());
        mine.push_back(static_cast<std::uint32_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(done - sent).count()));
      }
      const std::lock_guard lock(merge);
      latencies_us.insert(latencies_us.end(), mine.begin(), mine.end());
      for (const auto& [code, count] : my_statuses) statuses[code] += count;
      failures += my_failures;
    });
  }
  for (auto& thread : threads) thread.join();

  std::sort(latencies_us.begin(), latencies_us.end());
  const auto percentile = [&](double p) {
    if (latencies_us.empty()) return 0.0;
    const auto index = static_cast<std::size_t>(p * static_cast<double>(latencies_us.size() - 1));
    return static_cast<double>(latencies_us[index]) / 1000.0;
  };
  nlohmann::json by_status = nlohmann::json::object();
  std::uint64_t ok = 0;
  for (const auto& [status, count] : statuses) {
    by_status[std::to_string(status)] = count;
    if (status >= 200 && status < 300) ok += count;
  }
  const nlohmann::json summary = {{"requests", latencies_us.size()},
                                  {"failures", failures},
                                  {"seconds", seconds},
                                  {"per_second", static_cast<double>(latencies_us.size()) / seconds},
                                  {"ok_per_second", static_cast<double>(ok) / seconds},
                                  {"p50_ms", percentile(0.50)},
                                  {"p90_ms", percentile(0.90)},
                                  {"p99_ms", percentile(0.99)},
                                  {"max_ms", percentile(1.0)},
                                  {"statuses", by_status}};
  std::cout << summary.dump() << std::endl;
  return failures == 0 ? 0 : 1;
}
