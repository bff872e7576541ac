// cch-load: a load generator for the api. Opens N keep-alive HTTPS connections (each its own
// thread and client certificate session) and sends GET requests to one target for a duration,
// then prints one JSON line: requests, seconds, requests per second (all, and 2xx only), latency
// p50/p90/p99/max in milliseconds (all answers), and the count of each status. Requests during --warmup are not counted.
//
//   cch-load --port 8443 --ca ca.pem --cert member.pem --key member.key
//            --target /v1/accounts/7 --connections 8 --seconds 20 [--warmup 3]
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
#include <thread>
#include <vector>

int main(int argc, char** argv) {
  CLI::App app{"cch-load: keep-alive HTTPS GET load against one api target"};
  std::string host = "127.0.0.1";
  unsigned short port = 8443;
  std::string ca, cert, key, target;
  std::vector<std::string> headers;
  unsigned connections = 8;
  double seconds = 20;
  double warmup = 3;
  app.add_option("--host", host);
  app.add_option("--port", port)->required();
  app.add_option("--ca", ca, "PEM CA of the server")->required();
  app.add_option("--cert", cert, "PEM client certificate");
  app.add_option("--key", key, "PEM key of --cert");
  app.add_option("--target", target, "Path and query to GET")->required();
  app.add_option("--header", headers, "Extra header 'Name: value' (repeatable)");
  app.add_option("--connections", connections)->check(CLI::Range(1, 512));
  app.add_option("--seconds", seconds)->check(CLI::Range(0.1, 3600.0));
  app.add_option("--warmup", warmup)->check(CLI::Range(0.0, 600.0));
  CLI11_PARSE(app, argc, argv);

  // The request text is built once: the generator must not spend the cores it measures on.
  std::string request_text = "GET " + target + " HTTP/1.1\r\nHost: " + host + ":" + std::to_string(port) + "\r\n";
  for (const auto& header : headers) {
    const auto colon = header.find(':');
    if (colon == std::string::npos || header.find_first_of("\r\n") != std::string::npos) {
      std::cerr << "cch-load: error: --header must be one line 'Name: value'\n";
      return 2;
    }
    request_text += header + "\r\n";
  }
  request_text += "\r\n";
  const cch::bench::LoadTls tls{ca, cert, key};

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
    threads.emplace_back([&] {
      std::vector<std::uint32_t> mine;
      std::map<unsigned, std::uint64_t> my_statuses;
      std::uint64_t my_failures = 0;
      cch::bench::LoadConnection connection(host, port, tls, 10'000);
      for (auto now = Clock::now(); now < stop_at; now = Clock::now()) {
        const auto sent = Clock::now();
        const unsigned status = connection.request(request_text);
        const auto done = Clock::now();
        if (sent < measure_from) continue;
        if (status == 0) {
          if (++my_failures == 1) {
            const std::lock_guard lock(merge);
            std::cerr << "cch-load: first failure: " << connection.error() << "\n";
          }
          continue;
        }
        if (++my_statuses[status] == 1 && (status < 200 || status > 299)) {
          const std::lock_guard lock(merge);
          std::cerr << "cch-load: first " << status << ": " << connection.body().substr(0, 300) << "\n";
        }
        mine.push_back(static_cast<std::uint32_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(done - sent).count()));
      }
      const std::lock_guard lock(merge);
      latencies_us.insert(latencies_us.end(), mine.begin(), mine.end());
      for (const auto& [status, count] : my_statuses) statuses[status] += count;
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
