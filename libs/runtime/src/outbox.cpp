#include "cch/runtime/outbox.hpp"

#include "cch/core/log.hpp"
#include "cch/db/array.hpp"
#include "cch/db/prepared.hpp"
#include "cch/runtime/service.hpp"

#include <pqxx/connection>
#include <pqxx/except>
#include <pqxx/notification>
#include <pqxx/result>

#include <algorithm>
#include <cassert>
#include <charconv>
#include <climits>
#include <poll.h>
#include <stdexcept>
#include <sys/eventfd.h>
#include <unistd.h>

namespace cch::runtime {
namespace {

using Clock = std::chrono::steady_clock;

// The events after `cursor`, in consumption order, each marked final when its transaction id is
// below the snapshot's xmin (every transaction below it has ended). In this order the final events
// come first: a batch is the final prefix; a row after it is a committed event that waits for an
// older transaction. `wanted` marks the consumer's topics; only their final events' payloads come.
// The transaction id travels as text under another name: ORDER BY a bare name would take the
// output column, and order the ids as text ('1000' before '999').
constexpr const char* kReadEvents =
    "SELECT o.xact_id::text AS xact_id_text, o.event_id, o.topic, o.aggregate_id, "
    "o.xact_id < pg_snapshot_xmin(pg_current_snapshot()) AS final, o.topic = ANY($3::text[]) AS wanted, "
    "CASE WHEN o.topic = ANY($3::text[]) AND o.xact_id < pg_snapshot_xmin(pg_current_snapshot()) "
    "THEN o.payload::text END, (extract(epoch FROM o.created_at) * 1000000)::bigint "
    "FROM cch.outbox o WHERE (o.xact_id, o.event_id) > ($1::xid8, $2::bigint) "
    "ORDER BY o.xact_id, o.event_id LIMIT $4";

// Reading again while committed events wait for older transactions: after 5 ms, doubling up to
// the poll interval.
constexpr std::chrono::milliseconds kHeldBackRecheckFirst{5};

constexpr const char* kLockCursor =
    "SELECT xact_id::text AS xact_id_text, event_id FROM cch.outbox_cursor WHERE consumer = $1 "
    "FOR UPDATE SKIP LOCKED";

constexpr const char* kMoveCursor =
    "UPDATE cch.outbox_cursor SET xact_id = $2::xid8, event_id = $3, events_handled = events_handled + $4, "
    "updated_at = clock_timestamp() WHERE consumer = $1";

// A new cursor: before every event, or (start = now) at the last event that is final now.
constexpr const char* kCreateCursor =
    "INSERT INTO cch.outbox_cursor (consumer, xact_id, event_id) "
    "SELECT $1, COALESCE(last.xact_id, '0'::xid8), COALESCE(last.event_id, 0) FROM (SELECT 1) AS one "
    "LEFT JOIN LATERAL (SELECT xact_id, event_id FROM cch.outbox WHERE $2::boolean "
    "AND xact_id < pg_snapshot_xmin(pg_current_snapshot()) ORDER BY xact_id DESC, event_id DESC LIMIT 1) AS last "
    "ON true ON CONFLICT (consumer) DO NOTHING";

constexpr const char* kMeasureLag =
    "WITH behind AS (SELECT o.created_at FROM cch.outbox o, cch.outbox_cursor c WHERE c.consumer = $1 "
    "AND (o.xact_id, o.event_id) > (c.xact_id, c.event_id) ORDER BY o.xact_id, o.event_id LIMIT $2) "
    "SELECT count(*), COALESCE((extract(epoch FROM clock_timestamp() - min(created_at)) * 1000)::bigint, 0) "
    "FROM behind";

constexpr std::chrono::seconds kLagMeasuredEvery{1};
constexpr std::chrono::seconds kReconnectAfterAtLeast{1};

bool is_valid_consumer_name(std::string_view name) {
  if (name.empty() || name.size() > 40 || name[0] < 'a' || name[0] > 'z') return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

std::uint64_t parse_xact_id(const pqxx::field& field) {
  const std::string_view text(field.c_str(), field.size());
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) {
    throw std::runtime_error("unexpected transaction id from the database: " + std::string(text));
  }
  return value;
}

void signal_descriptor(int descriptor) noexcept {
  const std::uint64_t one = 1;
  if (::write(descriptor, &one, sizeof one) < 0) {
    // The counter is already non-zero (EAGAIN): the waiter wakes anyway.
  }
}

void drain_descriptor(int descriptor) noexcept {
  std::uint64_t value = 0;
  if (::read(descriptor, &value, sizeof value) < 0) {
    // Nothing to drain (EAGAIN).
  }
}

}  // namespace

// The dedicated connection that LISTENs on the channel. Its receiver goes before its connection.
class OutboxConsumer::Listener {
 public:
  Listener(std::unique_ptr<pqxx::connection> connection, const std::string& channel)
      : connection_(std::move(connection)), receiver_(*connection_, channel) {}

  [[nodiscard]] int socket() const { return connection_->sock(); }
  // Reads what arrived; the number of notifications. Throws pqxx::broken_connection.
  int take() { return connection_->get_notifs(); }

 private:
  struct Receiver final : pqxx::notification_receiver {
    using pqxx::notification_receiver::notification_receiver;
    void operator()(const std::string&, int) override {}  // a wake-up carries nothing
  };
  std::unique_ptr<pqxx::connection> connection_;
  Receiver receiver_;
};

OutboxConsumerOptions outbox_consumer_options(const config::Config& config, std::string consumer,
                                              std::vector<std::string> topics) {
  OutboxConsumerOptions options;
  options.consumer = std::move(consumer);
  options.topics = std::move(topics);
  options.poll_interval = std::chrono::milliseconds(config.integer("outbox.poll_interval_ms"));
  options.retry_policy = retry_policy_from(config);
  return options;
}

OutboxConsumer::OutboxConsumer(db::ConnectionPool& pool, http::Metrics& metrics, OutboxConsumerOptions options,
                               OutboxHandler handler)
    : pool_(pool),
      options_(std::move(options)),
      handler_(std::move(handler)),
      topics_literal_(db::text_array(options_.topics)),
      events_handled_(metrics.counter("cch_outbox_" + options_.consumer + "_events_handled_total",
                                      "Outbox events handled by consumer " + options_.consumer + ".")),
      events_passed_(metrics.counter("cch_outbox_" + options_.consumer + "_events_passed_total",
                                     "Outbox events of other topics that consumer " + options_.consumer +
                                         " moved past.")),
      batches_(metrics.counter("cch_outbox_" + options_.consumer + "_batches_total",
                               "Committed batches of outbox consumer " + options_.consumer + ".")),
      failures_(metrics.counter("cch_outbox_" + options_.consumer + "_failures_total",
                                "Batches of outbox consumer " + options_.consumer + " rolled back.")),
      lag_events_(metrics.gauge("cch_outbox_" + options_.consumer + "_lag_events",
                                "Outbox events after the cursor of consumer " + options_.consumer + ".")),
      lag_age_ms_(metrics.gauge("cch_outbox_" + options_.consumer + "_lag_age_milliseconds",
                                "Age of the first outbox event after the cursor of consumer " + options_.consumer +
                                    " (0 if none).")),
      stop_descriptor_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  assert(is_valid_consumer_name(options_.consumer) && "consumer: [a-z][a-z0-9_]{0,39}");
  assert(!options_.topics.empty() && "a consumer handles at least one topic");
  assert(options_.batch_max >= 1 && options_.batch_max <= 10'000);
  assert(options_.batches_per_run_max >= 1);
  assert(options_.poll_interval.count() >= 1 && options_.run_duration_max.count() >= 1);
  assert(options_.failure_backoff_first.count() >= 1 &&
         options_.failure_backoff_max >= options_.failure_backoff_first);
  assert(handler_ && "a consumer has a handler");
  if (stop_descriptor_ < 0) throw std::runtime_error("eventfd failed: cannot wait for outbox notifications");
}

OutboxConsumer::~OutboxConsumer() {
  listener_.reset();
  ::close(stop_descriptor_);
}

void OutboxConsumer::ensure_cursor() {
  std::call_once(cursor_created_, [this] {
    db::run_transaction(pool_, db::Isolation::read_committed, options_.retry_policy, [&](pqxx::transaction_base& tx) {
      tx.exec_params(kCreateCursor, options_.consumer, options_.start == OutboxStart::now);
    });
  });
}

OutboxPosition OutboxConsumer::cursor() {
  ensure_cursor();
  return db::run_transaction(pool_, db::Isolation::read_committed, options_.retry_policy,
                             [&](pqxx::transaction_base& tx) {
                               const auto row = tx.exec_params1(
                                   "SELECT xact_id::text, event_id FROM cch.outbox_cursor WHERE consumer = $1",
                                   options_.consumer);
                               return OutboxPosition{parse_xact_id(row[0]), row[1].as<std::int64_t>()};
                             });
}

OutboxBatchOutcome OutboxConsumer::process_batch() {
  try {
    ensure_cursor();
    const OutboxBatchOutcome outcome = db::run_transaction(
        pool_, db::Isolation::read_committed, options_.retry_policy, [&](pqxx::transaction_base& tx) {
          const auto locked = db::exec_cached(tx, kLockCursor, options_.consumer);
          if (locked.empty()) return OutboxBatchOutcome{OutboxBatchStatus::busy, 0, 0};
          const OutboxPosition from{parse_xact_id(locked[0][0]), locked[0][1].as<std::int64_t>()};
          const auto rows = db::exec_cached(tx, kReadEvents, std::to_string(from.xact_id), from.event_id,
                                            topics_literal_, static_cast<std::int64_t>(options_.batch_max));
          std::vector<OutboxEvent> events;
          OutboxPosition last = from;
          std::size_t read = 0;
          for (const auto& row : rows) {
            if (!row[4].as<bool>()) break;  // this one and the rest wait for older transactions
            ++read;
            last = OutboxPosition{parse_xact_id(row[0]), row[1].as<std::int64_t>()};
            if (!row[5].as<bool>()) continue;
            events.push_back(OutboxEvent{last, row[2].as<std::string>(), row[3].as<std::int64_t>(),
                                         row[6].as<std::string>(), UtcTimestamp(row[7].as<std::int64_t>())});
          }
          const bool held_back = read < rows.size();
          if (read == 0) return OutboxBatchOutcome{OutboxBatchStatus::nothing_new, 0, 0, held_back};
          assert(from < last && "the cursor only moves forward");
          if (!events.empty()) handler_(tx, std::span<const OutboxEvent>(events));
          db::exec_cached(tx, kMoveCursor, options_.consumer, std::to_string(last.xact_id), last.event_id,
                          static_cast<std::int64_t>(events.size()));
          return OutboxBatchOutcome{OutboxBatchStatus::moved, read, events.size(), held_back};
        });
    if (outcome.status == OutboxBatchStatus::moved) {
      batches_.increment();
      events_handled_.increment(outcome.events_handled);
      events_passed_.increment(outcome.events_read - outcome.events_handled);
    }
    return outcome;
  } catch (const std::exception& error) {
    // The batch rolled back; the caller backs off and tries the same events again.
    failures_.increment();
    log::warn("outbox_batch_failed", {{"consumer", options_.consumer}, {"what", error.what()}});
    return OutboxBatchOutcome{OutboxBatchStatus::failed, 0, 0};
  }
}

OutboxLag OutboxConsumer::measure_lag() {
  ensure_cursor();
  const OutboxLag lag = db::run_transaction(
      pool_, db::Isolation::read_committed, options_.retry_policy, [&](pqxx::transaction_base& tx) {
        const auto row = db::exec_cached(tx, kMeasureLag, options_.consumer, kLagEventsCounted)[0];
        return OutboxLag{row[0].as<std::int64_t>(), row[1].as<std::int64_t>()};
      });
  lag_events_.set(lag.events);
  lag_age_ms_.set(lag.age_ms);
  return lag;
}

void OutboxConsumer::run(TaskControl& control) {
  const Clock::time_point started = Clock::now();
  bool handled = false;
  more_to_read_ = false;
  held_back_ = false;
  for (std::size_t batch = 0; batch < options_.batches_per_run_max; ++batch) {
    if (control.stop_requested()) return;
    const OutboxBatchOutcome outcome = process_batch();
    held_back_ = outcome.held_back;
    if (outcome.status == OutboxBatchStatus::failed) {
      ++consecutive_failures_;
      const int doublings = std::min(consecutive_failures_ - 1, 20);
      const auto backoff = std::min<std::chrono::milliseconds>(options_.failure_backoff_max,
                                                             options_.failure_backoff_first * (1LL << doublings));
      retry_not_before_ = Clock::now() + backoff;
      more_to_read_ = true;
      return;
    }
    consecutive_failures_ = 0;
    if (outcome.events_handled > 0) handled = true;
    if (outcome.status != OutboxBatchStatus::moved || outcome.events_read < options_.batch_max) break;
    if (batch + 1 == options_.batches_per_run_max) more_to_read_ = true;
  }
  if (handled && options_.gather.count() > 0) gather_until_ = started + options_.gather;
  if (Clock::now() - lag_measured_at_ >= kLagMeasuredEvery) {
    lag_measured_at_ = Clock::now();
    measure_lag();
  }
}

void OutboxConsumer::listen() {
  if (Clock::now() < listen_not_before_) return;
  try {
    listener_ = std::make_unique<Listener>(pool_.open_dedicated(), options_.channel);
    log::debug("outbox_listening", {{"consumer", options_.consumer}, {"channel", options_.channel}});
  } catch (const std::exception& error) {
    listener_.reset();
    listen_not_before_ = Clock::now() + std::max<std::chrono::milliseconds>(options_.poll_interval, kReconnectAfterAtLeast);
    log::warn("outbox_listen_failed", {{"consumer", options_.consumer}, {"what", error.what()}});
  }
}

void OutboxConsumer::wait(TaskControl& control, Clock::time_point due) {
  if (retry_not_before_ > Clock::now()) {
    control.sleep_until(retry_not_before_);  // a failing batch is retried at a bounded rate
    return;
  }
  if (more_to_read_) return;
  if (gather_until_ > Clock::now()) {
    control.sleep_until(gather_until_);  // the events of the pause join the next batch
    if (control.stop_requested()) return;
  }
  // Committed events wait for older transactions, which may write no event and so send no
  // wake-up when they end: read again soon, less and less often.
  if (held_back_) {
    held_back_recheck_ = held_back_recheck_.count() == 0
                             ? kHeldBackRecheckFirst
                             : std::min<std::chrono::milliseconds>(held_back_recheck_ * 2, options_.poll_interval);
    due = std::min(due, Clock::now() + held_back_recheck_);
  } else {
    held_back_recheck_ = std::chrono::milliseconds(0);
  }
  if (!listener_) {
    listen();
    // Freshly listening: what was committed before the LISTEN is read now.
    if (listener_) return;
    control.sleep_until(due);
    return;
  }
  try {
    if (listener_->take() > 0) return;  // arrived during the last run
    drain_descriptor(stop_descriptor_);
    const std::stop_callback on_stop(control.stop_token(), [this] { signal_descriptor(stop_descriptor_); });
    pollfd descriptors[2] = {{listener_->socket(), POLLIN, 0}, {stop_descriptor_, POLLIN, 0}};
    const auto remaining = std::chrono::ceil<std::chrono::milliseconds>(due - Clock::now()).count();
    const int timeout_ms = static_cast<int>(std::clamp<long long>(remaining, 0, INT_MAX));
    if (::poll(descriptors, 2, timeout_ms) > 0 && descriptors[0].revents != 0) listener_->take();
  } catch (const pqxx::broken_connection& error) {
    log::warn("outbox_listen_lost", {{"consumer", options_.consumer}, {"what", error.what()}});
    listener_.reset();  // opened again at the next wait; meanwhile the run polls
  }
}

Result<TaskHandle, TaskRefusal> add_outbox_consumer(BackgroundTasks& tasks, std::shared_ptr<OutboxConsumer> consumer) {
  assert(consumer);
  TaskDefinition definition;
  definition.name = "outbox_" + consumer->options().consumer;
  definition.interval = consumer->options().poll_interval;
  definition.run_duration_max = consumer->options().run_duration_max;
  definition.run = [consumer](TaskControl& control) { consumer->run(control); };
  definition.wait = [consumer](TaskControl& control, Clock::time_point due) { consumer->wait(control, due); };
  return tasks.add(std::move(definition));
}

OutboxNotifier::OutboxNotifier(db::ConnectionPool& pool, http::Metrics& metrics, std::chrono::milliseconds interval,
                               std::string channel)
    : pool_(pool),
      interval_(interval),
      channel_(std::move(channel)),
      notifications_(metrics.counter("cch_outbox_notifications_total",
                                     "Wake-ups (NOTIFY) sent to outbox consumers after commits that wrote events.")) {
  assert(interval_.count() >= 1);
}

void OutboxNotifier::events_committed() noexcept {
  if (pending_.exchange(true, std::memory_order_acq_rel)) return;  // one is on its way
  { const std::lock_guard lock(mutex_); }  // the waiter is either before its check or waiting
  committed_.notify_one();
}

void OutboxNotifier::notify_now() {
  db::run_transaction(pool_, db::Isolation::read_committed, {}, [&](pqxx::transaction_base& tx) {
    // A wake-up is a hint (consumers poll too): its commit need not wait for the disk.
    db::exec_cached(tx, "SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, '')", channel_);
  });
  notifications_.increment();
}

void OutboxNotifier::wait(TaskControl& control, Clock::time_point due) {
  {
    std::unique_lock lock(mutex_);
    committed_.wait_until(lock, control.stop_token(), due, [this] { return pending_.load(std::memory_order_acquire); });
  }
  // The commits of the next `interval` join this wake-up.
  if (pending_.load(std::memory_order_acquire) && not_before_ > Clock::now()) control.sleep_until(not_before_);
}

void OutboxNotifier::run(TaskControl&) {
  if (!pending_.exchange(false, std::memory_order_acq_rel)) return;
  try {
    notify_now();
    not_before_ = Clock::now() + interval_;
  } catch (const std::exception&) {
    pending_.store(true, std::memory_order_release);  // tried again, at most once a second
    not_before_ = Clock::now() + std::max<std::chrono::milliseconds>(interval_, kReconnectAfterAtLeast);
    throw;  // logged and counted by the task
  }
}

Result<TaskHandle, TaskRefusal> add_outbox_notifier(BackgroundTasks& tasks, std::shared_ptr<OutboxNotifier> notifier) {
  assert(notifier);
  TaskDefinition definition;
  definition.name = "outbox_notify";
  definition.interval = std::chrono::minutes(1);  // its wait returns as soon as a commit is signalled
  definition.run_duration_max = std::chrono::seconds(10);
  definition.run = [notifier](TaskControl& control) { notifier->run(control); };
  definition.wait = [notifier](TaskControl& control, Clock::time_point due) { notifier->wait(control, due); };
  return tasks.add(std::move(definition));
}

}  // namespace cch::runtime
