#pragma once
// The request audit log: one row in api.request_log for every request the api answers (who,
// what, when, outcome, request id).
//
// Two ways in, by what the request is:
//   - A command (a POST that passed authentication, its role and ownership): its row is written
//     synchronously, in the transaction that makes the command's effect and stores its answer
//     (command_answer.hpp), or in a statement of its own before the answer leaves when the
//     command had no effect. A command answered to a client always has its row, whatever crashes.
//   - Everything else (reads, and requests refused before a command runs: 401, 403, 404, 429,
//     503): handed to AuditLog, which writes rows in batches from a background thread. A crash
//     of the api loses at most the rows of the last flush interval (about 20 ms); each request's
//     structured log line is the second copy.
//
// AuditLog's contract:
//   - Admission: a request reserves a slot (try_reserve) before anything else happens to it. At
//     most `capacity` slots are held at once, by requests in progress and by records waiting to
//     be written. When none is free (PostgreSQL is down or slower than the traffic), the request
//     waits up to kAdmissionWait for one (back-pressure), then is refused 503
//     "audit_log_backlog" and does nothing: the api never does work it cannot record. Every
//     reserved slot is handed back by record() and released once that record is written.
//   - Records are written within about flush_interval of arriving, in batches of up to
//     batch_size rows (one COPY each). A failed write is
//     retried (with a back-off up to 1 s) until it succeeds or the log is destroyed; records are
//     kept meanwhile. A crash loses the records not yet written: at most one flush interval's
//     worth (the structured log line of each request is the second copy).
//   - flush() waits until every record handed over before the call is written (tests, shutdown).
//     The destructor flushes for up to 5 s, then stops.
//
// Thread safety: every member may be called from any thread.

#include "cch/access/principal.hpp"
#include "cch/core/time.hpp"
#include "cch/db/pool.hpp"
#include "cch/http/message.hpp"

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/transaction_base>

namespace cch::audit {

struct AuditRecord {
  UtcTimestamp received_at{0};
  std::string request_id;
  std::optional<access::Principal> principal;
  std::string method;
  std::string route;  // the matched pattern, or "unmatched"
  std::string path;   // as sent, without the query (cut at 2,048 bytes)
  unsigned status = 0;
  std::string reason;  // the problem's reason; empty for a success
  std::string remote_address;
  std::int64_t duration_us = 0;
};

class AuditLog {
 public:
  static constexpr std::chrono::milliseconds kAdmissionWait{100};

  AuditLog(db::ConnectionPool& pool, std::size_t capacity, std::chrono::milliseconds flush_interval,
           std::size_t batch_size = 2000);
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  [[nodiscard]] bool try_reserve();
  // The same without waiting: false at once when no slot is free (for a caller that must not
  // block, which then takes the waiting path instead).
  [[nodiscard]] bool try_reserve_now();
  // Hands over the record of a request that reserved a slot.
  void record(AuditRecord record);
  // Hands back the slot of a request whose record was written synchronously (a command's).
  void release();
  void flush();

  [[nodiscard]] std::uint64_t written() const;
  [[nodiscard]] std::uint64_t write_failures() const;

 private:
  void run();
  void write(const std::vector<AuditRecord>& batch);

  db::ConnectionPool& pool_;
  const std::size_t capacity_;
  const std::chrono::milliseconds flush_interval_;
  const std::size_t batch_size_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable drained_;
  std::condition_variable slot_freed_;
  std::size_t reserved_ = 0;          // guarded: slots held (requests in progress + queued records)
  std::vector<AuditRecord> queue_;    // guarded
  std::uint64_t handed_over_ = 0;     // guarded: records ever queued
  std::uint64_t written_ = 0;         // guarded
  std::uint64_t write_failures_ = 0;  // guarded
  bool stopping_ = false;             // guarded
  std::thread writer_;
};

// The problem's reason of a problem+json response; empty for any other response.
std::string problem_reason(const http::Response& response);

// Writes one record in tx: a command's row commits with the command (one prepared statement).
void insert_record(pqxx::transaction_base& tx, const AuditRecord& record);

}  // namespace cch::audit
