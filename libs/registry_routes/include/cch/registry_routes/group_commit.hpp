#pragma once
// Group commit of affirmations: concurrent affirmations are decided together, in one database
// transaction and one commit, by affirm_trades (trades.hpp). Each request still gets its own
// answer, the one it would have got alone in that order; the cost of a commit, the member locks
// and the ledger link is shared by the group.
//
// Requests wait in a bounded queue; `workers` threads each take up to `group_max` of them at a
// time (while one group commits, the next gathers). One worker is the default: groups drawn from
// one queue usually share members, and a second worker's group would wait for the first's locks
// (measured: 226 pairs/s with one, 162-203 with two, on two members). A full queue refuses at once (the caller
// answers 503). If a group's transaction fails for an environmental reason after its retries,
// each of its affirmations is tried alone, so one request's fault is reported to it alone.
//
// An affirmation the api forwarded under an Idempotency-Key carries its command: its answer
// (built by the AnswerOf given at construction) and its audit row are recorded in the group's
// transaction, with its decision (cch/audit/command_answer.hpp). A command whose reservation is
// lost fails the group, whose affirmations are then tried alone: that one fails with
// audit::ReservationLost and nothing done, the others are decided as before.
//
// Metrics: cch_registry_affirmation_groups_total, cch_registry_affirmations_grouped_total (their
// ratio is the mean group size) and the gauge cch_registry_affirmation_queue_depth.
//
// Thread safety: submit() from any thread. The destructor answers what is queued, then joins.

#include "cch/audit/command_answer.hpp"
#include "cch/db/pool.hpp"
#include "cch/db/transaction.hpp"
#include "cch/http/metrics.hpp"
#include "cch/registry/trades.hpp"

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <vector>

namespace cch::registry {

struct GroupCommitLimits {
  std::size_t group_max = 64;     // affirmations per transaction, 1..kAffirmationGroupMax
  std::size_t queue_max = 1024;   // affirmations waiting
  std::size_t workers = 1;        // groups committing at once
};

// The answer a client gets for an affirmation's outcome (the routes' own rendering).
using AnswerOf = std::function<http::Response(const Affirmation& affirmation, const Result<Trade, TradeError>& outcome)>;

class AffirmationGroups {
 public:
  // clock: the time each group is decided at (tests fix it). answer_of: required to record the
  // answers of affirmations submitted with a command.
  AffirmationGroups(db::ConnectionPool& pool, db::RetryPolicy retry, const RegistrationPolicy& policy,
                    GroupCommitLimits limits, http::Metrics* metrics, AnswerOf answer_of = {},
                    std::function<UtcTimestamp()> clock = [] { return UtcTimestamp::now(); });
  ~AffirmationGroups();
  AffirmationGroups(const AffirmationGroups&) = delete;
  AffirmationGroups& operator=(const AffirmationGroups&) = delete;

  // Queues the affirmation; nullopt when the queue is full. The future holds the answer, or the
  // environmental failure (an exception) that stopped it.
  // With a command, the answer is recorded with the decision; the future then holds the outcome
  // whose answer_of was recorded.
  std::optional<std::future<Result<Trade, TradeError>>> submit(Affirmation affirmation,
                                                                std::optional<audit::ForwardedCommand> command = {});

 private:
  struct Waiting {
    Affirmation affirmation;
    std::optional<audit::ForwardedCommand> command;
    std::promise<Result<Trade, TradeError>> answer;
  };
  void work();
  void decide(std::vector<Waiting>& group);
  std::vector<Result<Trade, TradeError>> run(std::span<Waiting> group);

  db::ConnectionPool& pool_;
  db::RetryPolicy retry_;
  const RegistrationPolicy& policy_;
  GroupCommitLimits limits_;
  AnswerOf answer_of_;
  std::function<UtcTimestamp()> clock_;
  http::Counter* groups_ = nullptr;
  http::Counter* grouped_ = nullptr;
  http::Gauge* depth_ = nullptr;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Waiting> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace cch::registry
