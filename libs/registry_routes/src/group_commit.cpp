#include "cch/registry_routes/group_commit.hpp"

#include "cch/core/log.hpp"

#include <algorithm>
#include <chrono>
#include <cassert>
#include <exception>

namespace cch::registry {

AffirmationGroups::AffirmationGroups(db::ConnectionPool& pool, db::RetryPolicy retry, const RegistrationPolicy& policy,
                                     GroupCommitLimits limits, http::Metrics* metrics, AnswerOf answer_of,
                                     std::function<UtcTimestamp()> clock)
    : pool_(pool),
      retry_(retry),
      policy_(policy),
      limits_(limits),
      answer_of_(std::move(answer_of)),
      clock_(std::move(clock)) {
  assert(limits_.group_max >= 1 && limits_.group_max <= kAffirmationGroupMax && "configuration bounds a group");
  assert(limits_.workers >= 1 && limits_.queue_max >= 1 && "configuration bounds workers and the queue");
  if (metrics != nullptr) {
    groups_ = &metrics->counter("cch_registry_affirmation_groups_total", "Transactions that decided affirmations.");
    grouped_ = &metrics->counter("cch_registry_affirmations_grouped_total", "Affirmations decided in groups.");
    depth_ = &metrics->gauge("cch_registry_affirmation_queue_depth", "Affirmations waiting for a group.");
  }
  threads_.reserve(limits_.workers);
  for (std::size_t i = 0; i < limits_.workers; ++i) threads_.emplace_back([this] { work(); });
}

AffirmationGroups::~AffirmationGroups() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& thread : threads_) thread.join();
}

std::optional<std::future<Result<Trade, TradeError>>> AffirmationGroups::submit(
    Affirmation affirmation, std::optional<audit::ForwardedCommand> command) {
  assert((!command || answer_of_) && "a command's answer needs answer_of");
  std::future<Result<Trade, TradeError>> answer;
  {
    const std::lock_guard lock(mutex_);
    if (stopping_ || queue_.size() >= limits_.queue_max) return std::nullopt;
    queue_.push_back(Waiting{std::move(affirmation), std::move(command), {}});
    answer = queue_.back().answer.get_future();
    if (depth_ != nullptr) depth_->set(static_cast<std::int64_t>(queue_.size()));
  }
  wake_.notify_one();
  return answer;
}

void AffirmationGroups::work() {
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and everything queued is answered
    std::vector<Waiting> group;
    const std::size_t take = std::min(queue_.size(), limits_.group_max);
    group.reserve(take);
    for (std::size_t i = 0; i < take; ++i) {
      group.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    if (depth_ != nullptr) depth_->set(static_cast<std::int64_t>(queue_.size()));
    lock.unlock();
    decide(group);
    lock.lock();
  }
}

// Decides a group in one transaction, recording the answers of its commands before it commits.
std::vector<Result<Trade, TradeError>> AffirmationGroups::run(std::span<Waiting> group) {
  std::vector<Affirmation> affirmations;
  affirmations.reserve(group.size());
  for (const auto& waiting : group) affirmations.push_back(waiting.affirmation);
  return db::run_transaction(pool_, db::Isolation::read_committed, retry_, [&](pqxx::transaction_base& tx) {
    auto outcomes = affirm_trades(tx, policy_, affirmations, clock_());
    std::vector<http::Response> answers;
    std::vector<audit::CommandAnswer> recorded;
    answers.reserve(group.size());
    recorded.reserve(group.size());
    for (std::size_t i = 0; i < group.size(); ++i) {
      if (!group[i].command) continue;
      answers.push_back(answer_of_(affirmations[i], outcomes[i]));
      if (answers.back().status < 500) recorded.push_back({&*group[i].command, &answers.back()});
    }
    audit::record_answers(tx, recorded);
    return outcomes;
  });
}

void AffirmationGroups::decide(std::vector<Waiting>& group) {
  try {
    const auto started = std::chrono::steady_clock::now();
    auto answers = run(group);
    log::debug("affirmation_group", {{"size", group.size()},
                                    {"duration_us", std::chrono::duration_cast<std::chrono::microseconds>(
                                                        std::chrono::steady_clock::now() - started)
                                                        .count()}});
    if (groups_ != nullptr) groups_->increment();
    if (grouped_ != nullptr) grouped_->increment(group.size());
    for (std::size_t i = 0; i < group.size(); ++i) group[i].answer.set_value(std::move(answers[i]));
    return;
  } catch (const std::exception& failure) {
    if (group.size() == 1) {
      group[0].answer.set_exception(std::current_exception());
      return;
    }
    log::warn("affirmation_group_failed", {{"size", group.size()}, {"what", failure.what()}});
  }
  for (std::size_t i = 0; i < group.size(); ++i) {  // alone, so that a fault is told only to its own request
    try {
      auto answers = run(std::span<Waiting>(&group[i], 1));
      group[i].answer.set_value(std::move(answers[0]));
    } catch (...) {
      group[i].answer.set_exception(std::current_exception());
    }
  }
}

}  // namespace cch::registry
