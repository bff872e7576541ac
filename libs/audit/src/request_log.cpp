#include "cch/audit/request_log.hpp"

#include "cch/core/log.hpp"
#include "cch/db/prepared.hpp"

#include <nlohmann/json.hpp>

#include <pqxx/stream_to>
#include <pqxx/transaction>

#include <optional>
#include <tuple>

#include <algorithm>
#include <cassert>

namespace cch::audit {

AuditLog::AuditLog(db::ConnectionPool& pool, std::size_t capacity, std::chrono::milliseconds flush_interval,
                   std::size_t batch_size)
    : pool_(pool), capacity_(capacity), flush_interval_(flush_interval), batch_size_(batch_size) {
  writer_ = std::thread([this] { run(); });
}

AuditLog::~AuditLog() {
  {
    std::unique_lock lock(mutex_);
    drained_.wait_for(lock, std::chrono::seconds(5), [this] { return queue_.empty(); });
    stopping_ = true;
  }
  wake_.notify_all();
  writer_.join();
}

bool AuditLog::try_reserve() {
  std::unique_lock lock(mutex_);
  // Full: wait a little for the writer to catch up (back-pressure), then refuse.
  if (!slot_freed_.wait_for(lock, kAdmissionWait, [this] { return reserved_ < capacity_ || stopping_; }) ||
      stopping_) {
    return false;
  }
  ++reserved_;
  return true;
}

bool AuditLog::try_reserve_now() {
  const std::lock_guard lock(mutex_);
  if (reserved_ >= capacity_ || stopping_) return false;
  ++reserved_;
  return true;
}

void AuditLog::record(AuditRecord record) {
  if (record.path.size() > 2048) record.path.resize(2048);
  bool wake_now = false;
  {
    const std::lock_guard lock(mutex_);
    queue_.push_back(std::move(record));
    ++handed_over_;
    wake_now = queue_.size() >= batch_size_;
  }
  if (wake_now) wake_.notify_one();
}

void AuditLog::release() {
  {
    const std::lock_guard lock(mutex_);
    assert(reserved_ > 0 && "a slot is released by the request that reserved it");
    reserved_ -= std::min<std::size_t>(reserved_, 1);
  }
  slot_freed_.notify_one();
}

void AuditLog::flush() {
  std::unique_lock lock(mutex_);
  const std::uint64_t target = handed_over_;
  wake_.notify_one();
  drained_.wait(lock, [&] { return written_ >= target || stopping_; });
}

std::uint64_t AuditLog::written() const {
  const std::lock_guard lock(mutex_);
  return written_;
}

std::uint64_t AuditLog::write_failures() const {
  const std::lock_guard lock(mutex_);
  return write_failures_;
}

void AuditLog::run() {
  std::chrono::milliseconds backoff{0};
  std::vector<AuditRecord> batch;
  while (true) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, backoff.count() > 0 ? backoff : flush_interval_,
                     [this] { return stopping_ || queue_.size() >= batch_size_; });
      if (batch.empty()) {
        if (queue_.empty()) {
          if (stopping_) return;
          continue;
        }
        const std::size_t take = std::min(queue_.size(), batch_size_);
        batch.assign(std::make_move_iterator(queue_.begin()),
                     std::make_move_iterator(queue_.begin() + static_cast<std::ptrdiff_t>(take)));
        queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(take));
      }
      if (stopping_ && backoff.count() > 0) return;  // give up a failing write at shutdown
    }
    try {
      write(batch);
      const std::lock_guard lock(mutex_);
      written_ += batch.size();
      reserved_ -= std::min(reserved_, batch.size());
      batch.clear();
      backoff = std::chrono::milliseconds(0);
      drained_.notify_all();
      slot_freed_.notify_all();
    } catch (const std::exception& error) {
      {
        const std::lock_guard lock(mutex_);
        ++write_failures_;
      }
      log::error("audit_log_write_failed", {{"what", error.what()}, {"records", batch.size()}});
      backoff = std::min(std::chrono::milliseconds(1000), std::max(std::chrono::milliseconds(50), backoff * 2));
    }
  }
}

void AuditLog::write(const std::vector<AuditRecord>& batch) {
  // COPY: the cheapest way to append many rows (no statement text to build or parse).
  auto lease = pool_.acquire();
  pqxx::work tx(*lease);
  pqxx::stream_to stream(tx, "api.request_log",
                         std::vector<std::string>{"received_at", "request_id", "principal_id", "principal_name", "role",
                                                  "credential", "method", "route", "path", "status", "reason",
                                                  "remote_address", "duration_us"});
  for (const auto& record : batch) {
    const auto& principal = record.principal;
    stream << std::make_tuple(
        record.received_at.format(), record.request_id,
        principal ? std::optional<std::int64_t>(principal->id.value()) : std::nullopt,
        principal ? std::optional<std::string>(principal->name) : std::nullopt,
        principal ? std::optional<std::string>(access::to_string(principal->role)) : std::nullopt,
        std::string(principal ? access::to_string(principal->credential) : "none"), record.method, record.route,
        record.path, static_cast<int>(record.status),
        record.reason.empty() ? std::nullopt : std::optional<std::string>(record.reason), record.remote_address,
        record.duration_us);
  }
  stream.complete();
  tx.commit();
}

}  // namespace cch::audit

namespace cch::audit {

std::string problem_reason(const http::Response& response) {
  if (response.content_type.find("problem+json") == std::string::npos) return {};
  const auto body = nlohmann::json::parse(response.body, nullptr, false);
  if (!body.is_object() || !body.contains("reason") || !body["reason"].is_string()) return {};
  return body["reason"].get<std::string>();
}

void insert_record(pqxx::transaction_base& tx, const AuditRecord& record) {
  const auto& principal = record.principal;
  db::exec_cached(
      tx,
      "INSERT INTO api.request_log (received_at, request_id, principal_id, principal_name, role, credential, method, "
      "route, path, status, reason, remote_address, duration_us) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
      record.received_at.format(), record.request_id,
      principal ? std::optional<std::int64_t>(principal->id.value()) : std::nullopt,
      principal ? std::optional<std::string>(principal->name) : std::nullopt,
      principal ? std::optional<std::string>(access::to_string(principal->role)) : std::nullopt,
      std::string(principal ? access::to_string(principal->credential) : "none"), record.method, record.route,
      record.path.substr(0, 2048), static_cast<int>(record.status),
      record.reason.empty() ? std::nullopt : std::optional<std::string>(record.reason),
      record.remote_address.substr(0, 64), record.duration_us);
}

}  // namespace cch::audit
