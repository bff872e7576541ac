#pragma once
// The outbox read by the services: events of cch.outbox (written in the transaction that caused
// them) delivered at least once to idempotent handlers, in a fixed order, with one durable cursor
// per consumer (cch.outbox_cursor). The table is the truth; LISTEN/NOTIFY only wakes consumers up,
// and they also read at a bounded interval, so a lost notification delays an event, never loses it.
//
// Order and completeness (the reasoning is in sql/migrations/0019_outbox_consumers.sql): every
// event carries the id of the transaction that inserted it (xact_id). A consumer reads in
// (xact_id, event_id) order and only events whose xact_id is below the xmin of its snapshot; that
// set only ever grows at its end, so a cursor that moves through it misses no committed event,
// whatever the order in which the writing transactions committed, and sees none twice. (A cursor
// on event_id alone would skip an event whose transaction drew a lower id and committed later.)
// An event is delivered once every transaction that began writing before its own has ended, in
// any database of the cluster (transaction ids are the cluster's): a long-running writing
// transaction delays delivery (the lag metrics show it). Such a transaction may write no event and
// send no wake-up when it ends, so a consumer that sees committed events held back reads again
// soon (5 ms, doubling up to the poll interval).
//
// One batch, in one read-committed transaction on a pooled connection (OutboxConsumer::process_batch):
//   1. lock the consumer's cursor row (FOR UPDATE SKIP LOCKED): when another instance of the same
//      consumer holds it, this one does nothing (busy) and waits for its next wake-up, so two
//      instances never handle the same events at once;
//   2. read up to batch_max events after the cursor, of every topic;
//   3. call the handler with the transaction and the events of its topics, if any;
//   4. move the cursor past every event read (other topics are passed over), and commit.
// Effects the handler writes through `tx` commit with the cursor or not at all: exactly once in
// effect. Effects outside the database (a call, a message) happen at least once: after a crash, a
// lost commit or a failure later in the batch the same events come again, so such a handler must
// be idempotent (key its effect by event_id). A handler must not commit, should be quick (it holds
// a pooled connection and the cursor's lock), and runs on the consumer's task thread.
//
// Failures: a handler that throws (std::exception), a failed statement, a commit whose outcome is
// unknown: the batch rolls back (the cursor stays), the failure is logged (outbox_batch_failed)
// and counted, and the consumer tries the same batch again after a back-off that starts at
// failure_backoff_first and doubles up to failure_backoff_max (reset by a success); wake-ups do
// not shorten it, so a failing handler is retried at a bounded rate. Serialization failures and
// deadlocks are first retried whole by db::run_transaction (the handler runs again, on a fresh
// transaction).
//
// As a task of BackgroundTasks (add_outbox_consumer, named outbox_<consumer>): its wait LISTENs
// on options.channel on a dedicated connection (outside the pool) and returns on a notification,
// after poll_interval, or at once on stop; its run handles batches until one comes back short
// (at most batches_per_run_max, then it runs again at once), then measures the lag (at most once
// a second). With options.gather, a run that handled events is followed by a pause of that length
// before the next wait: a handler whose cost is per batch rather than per event (a margin run of
// the members traded) runs once per pause however fast events come. A broken
// LISTEN connection is opened again at the next wait (meanwhile the consumer polls).
//
// Producers: a service that writes events calls OutboxNotifier::events_committed() after each
// commit that wrote some; its task (add_outbox_notifier, named outbox_notify) sends one NOTIFY at
// most every `interval`, in a transaction of its own with synchronous_commit off (a wake-up is a
// hint), never inside the business transaction: a NOTIFY takes a cluster-wide lock at commit that
// would serialise the producer's commits (docs/performance.md).
//
// Metrics (<c> is the consumer's name):
//   cch_outbox_<c>_events_handled_total   events given to the handler, in committed batches
//   cch_outbox_<c>_events_passed_total    events of other topics the cursor moved past
//   cch_outbox_<c>_batches_total          committed batches that moved the cursor
//   cch_outbox_<c>_failures_total         batches rolled back
//   cch_outbox_<c>_lag_events             events after the cursor (at most kLagEventsCounted) (gauge)
//   cch_outbox_<c>_lag_age_milliseconds   age of the first event after the cursor, 0 if none (gauge)
//   cch_outbox_notifications_total        NOTIFYs sent by this process's OutboxNotifier
//
// Thread safety: OutboxConsumer::process_batch(), cursor() and measure_lag() may be called from
// any thread (the cursor's row lock orders batches); the task's wait and run are called from its
// thread. OutboxNotifier::events_committed() from any thread.

#include "cch/config/config.hpp"
#include "cch/core/time.hpp"
#include "cch/db/pool.hpp"
#include "cch/db/transaction.hpp"
#include "cch/http/metrics.hpp"
#include "cch/runtime/tasks.hpp"

#include <pqxx/transaction_base>

#include <atomic>
#include <chrono>
#include <compare>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cch::runtime {

inline constexpr std::string_view kOutboxChannel = "cch_outbox";
// The lag gauge counts at most this many events (a bounded scan).
inline constexpr std::int64_t kLagEventsCounted = 100'000;

// A place in the consumption order.
struct OutboxPosition {
  std::uint64_t xact_id = 0;
  std::int64_t event_id = 0;
  friend constexpr auto operator<=>(const OutboxPosition&, const OutboxPosition&) = default;
};

struct OutboxEvent {
  OutboxPosition position;
  std::string topic;
  std::int64_t aggregate_id = 0;
  std::string payload;  // JSON text, as PostgreSQL prints the jsonb
  UtcTimestamp created_at{0};
};

// Handles one batch's events of the consumer's topics in the batch's transaction. Throws to
// refuse the batch (it rolls back and comes again after the back-off).
using OutboxHandler = std::function<void(pqxx::transaction_base& tx, std::span<const OutboxEvent> events)>;

// Where a consumer without a cursor row starts.
enum class OutboxStart {
  first_event,  // every event in the table
  now,          // after the last event final when its cursor is created
};

struct OutboxConsumerOptions {
  // [a-z][a-z0-9_]{0,39}: the cursor's key, the task's name (outbox_<consumer>), the metrics'.
  std::string consumer;
  // The topics handed to the handler (at least one); the cursor moves past the others.
  std::vector<std::string> topics;
  std::size_t batch_max = 100;            // events read per batch, 1..10000
  std::size_t batches_per_run_max = 100;  // then the task runs again at once (and stop is seen)
  std::chrono::milliseconds poll_interval{1000};
  // After a run that handled events, the next one starts at least this long after it began (0: at
  // once), so that the events of that time are handled together (a backlog is still read at once).
  std::chrono::milliseconds gather{0};
  std::chrono::milliseconds run_duration_max{60'000};
  std::chrono::milliseconds failure_backoff_first{100};
  std::chrono::milliseconds failure_backoff_max{30'000};
  OutboxStart start = OutboxStart::first_event;
  std::string channel = std::string(kOutboxChannel);
  db::RetryPolicy retry_policy;
};

// Options for `consumer` of `topics` with the configured poll interval (outbox.poll_interval_ms)
// and the database retry policy.
OutboxConsumerOptions outbox_consumer_options(const config::Config& config, std::string consumer,
                                              std::vector<std::string> topics);

enum class OutboxBatchStatus {
  moved,        // the cursor moved past events_read events (events_handled of them handled)
  nothing_new,  // no event after the cursor is final yet
  busy,         // another instance of the consumer holds the cursor
  failed,       // rolled back (logged and counted)
};

struct OutboxBatchOutcome {
  OutboxBatchStatus status = OutboxBatchStatus::nothing_new;
  std::size_t events_read = 0;
  std::size_t events_handled = 0;
  // Committed events after the ones read wait for older transactions to end; the task reads
  // again after 5 ms, then 10, 20, ... up to poll_interval, until they are final.
  bool held_back = false;
};

struct OutboxLag {
  std::int64_t events = 0;        // after the cursor, visible, any topic; at most kLagEventsCounted
  std::int64_t age_ms = 0;        // of the first of them; 0 if none
};

class OutboxConsumer {
 public:
  // Preconditions (asserted): options as documented, a handler. Registers the metrics.
  OutboxConsumer(db::ConnectionPool& pool, http::Metrics& metrics, OutboxConsumerOptions options,
                 OutboxHandler handler);
  ~OutboxConsumer();
  OutboxConsumer(const OutboxConsumer&) = delete;
  OutboxConsumer& operator=(const OutboxConsumer&) = delete;

  // One batch (see the header comment). A failure is an outcome, not an exception.
  OutboxBatchOutcome process_batch();
  // The committed cursor (its row is created, at options.start, if missing). Throws on a database
  // failure.
  OutboxPosition cursor();
  // Measures the lag and sets the gauges. Throws on a database failure.
  OutboxLag measure_lag();

  [[nodiscard]] const OutboxConsumerOptions& options() const noexcept { return options_; }

 private:
  friend Result<TaskHandle, TaskRefusal> add_outbox_consumer(BackgroundTasks& tasks,
                                                             std::shared_ptr<OutboxConsumer> consumer);
  class Listener;

  void ensure_cursor();
  void run(TaskControl& control);
  void wait(TaskControl& control, std::chrono::steady_clock::time_point due);
  void listen();

  db::ConnectionPool& pool_;
  const OutboxConsumerOptions options_;
  const OutboxHandler handler_;
  const std::string topics_literal_;
  http::Counter& events_handled_;
  http::Counter& events_passed_;
  http::Counter& batches_;
  http::Counter& failures_;
  http::Gauge& lag_events_;
  http::Gauge& lag_age_ms_;
  std::once_flag cursor_created_;
  const int stop_descriptor_;  // an eventfd the task's stop signals, polled with the LISTEN socket

  // The task thread's own.
  std::unique_ptr<Listener> listener_;
  std::chrono::steady_clock::time_point listen_not_before_{};
  std::chrono::steady_clock::time_point retry_not_before_{};
  std::chrono::steady_clock::time_point gather_until_{};  // no run before (options_.gather)
  std::chrono::steady_clock::time_point lag_measured_at_{};
  std::chrono::milliseconds held_back_recheck_{0};
  int consecutive_failures_ = 0;
  bool more_to_read_ = true;  // the last run stopped before a short batch (or none ran yet)
  bool held_back_ = false;    // the last run saw committed events wait for older transactions
};

// Adds `consumer` to `tasks` as the task outbox_<consumer> (interval: poll_interval).
Result<TaskHandle, TaskRefusal> add_outbox_consumer(BackgroundTasks& tasks, std::shared_ptr<OutboxConsumer> consumer);

// Coalesced wake-ups of the consumers, sent by a producing service.
class OutboxNotifier {
 public:
  // `interval`: the shortest time between two NOTIFYs (at least 1 ms).
  OutboxNotifier(db::ConnectionPool& pool, http::Metrics& metrics, std::chrono::milliseconds interval,
                 std::string channel = std::string(kOutboxChannel));

  // After a commit that wrote outbox events: a NOTIFY follows within `interval` (one for every
  // call meanwhile). Never blocks on the database; never throws.
  void events_committed() noexcept;
  // One NOTIFY now, in a transaction of its own. Throws on a database failure.
  void notify_now();

 private:
  friend Result<TaskHandle, TaskRefusal> add_outbox_notifier(BackgroundTasks& tasks,
                                                             std::shared_ptr<OutboxNotifier> notifier);
  void wait(TaskControl& control, std::chrono::steady_clock::time_point due);
  void run(TaskControl& control);

  db::ConnectionPool& pool_;
  const std::chrono::milliseconds interval_;
  const std::string channel_;
  http::Counter& notifications_;
  std::atomic<bool> pending_{false};
  std::mutex mutex_;
  std::condition_variable_any committed_;  // pending_ became true
  // The task thread's own.
  std::chrono::steady_clock::time_point not_before_{};
};

// Adds `notifier` to `tasks` as the task outbox_notify.
Result<TaskHandle, TaskRefusal> add_outbox_notifier(BackgroundTasks& tasks, std::shared_ptr<OutboxNotifier> notifier);

}  // namespace cch::runtime
