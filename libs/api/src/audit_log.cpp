#include "cch/api/audit_log.hpp"

#include "cch/core/log.hpp"
#include "cch/db/array.hpp"

#include <pqxx/transaction>

#include <algorithm>

namespace cch::api {

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
  const std::lock_guard lock(mutex_);
  if (reserved_ >= capacity_) return false;
  ++reserved_;
  return true;
}

void AuditLog::release() {
  const std::lock_guard lock(mutex_);
  if (reserved_ > 0) --reserved_;
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
  std::vector<std::int64_t> received_us, principal_ids, durations, statuses;
  std::vector<std::string> request_ids, names, roles, credentials, methods, routes, paths, reasons, remotes;
  for (const auto& record : batch) {
    received_us.push_back(record.received_at.unix_microseconds());
    request_ids.push_back(record.request_id);
    principal_ids.push_back(record.principal ? record.principal->id.value() : 0);
    names.push_back(record.principal ? record.principal->name : std::string());
    roles.push_back(record.principal ? std::string(access::to_string(record.principal->role)) : std::string());
    credentials.push_back(record.principal ? std::string(access::to_string(record.principal->credential)) : "none");
    methods.push_back(record.method);
    routes.push_back(record.route);
    paths.push_back(record.path);
    statuses.push_back(record.status);
    reasons.push_back(record.reason);
    remotes.push_back(record.remote_address);
    durations.push_back(record.duration_us);
  }
  auto lease = pool_.acquire();
  pqxx::work tx(*lease);
  tx.exec_params(
      "INSERT INTO api.request_log (received_at, request_id, principal_id, principal_name, role, credential, method, "
      "route, path, status, reason, remote_address, duration_us) "
      "SELECT timestamptz 'epoch' + r * interval '1 microsecond', q, NULLIF(pid, 0), NULLIF(n, ''), NULLIF(ro, ''), c, m, rt, pa, s, "
      "NULLIF(re, ''), ra, d "
      "FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], "
      "$8::text[], $9::text[], $10::smallint[], $11::text[], $12::text[], $13::bigint[]) "
      "AS t(r, q, pid, n, ro, c, m, rt, pa, s, re, ra, d)",
      db::integer_array(received_us), db::text_array(request_ids), db::integer_array(principal_ids),
      db::text_array(names), db::text_array(roles), db::text_array(credentials), db::text_array(methods),
      db::text_array(routes), db::text_array(paths), db::integer_array(statuses), db::text_array(reasons),
      db::text_array(remotes), db::integer_array(durations));
  tx.commit();
}

}  // namespace cch::api
