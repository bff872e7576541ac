#pragma once
// The published margin model a process prices with, loaded once per model and shared.
//
// current(tx) reads, in one statement, the latest model's id (the latest business date's latest
// version) and the latest parameter version, and answers the model (loaded on first use, kept
// while it is the latest) and the parameters that apply: the model's own when there is a model,
// else the latest stored version's, else the defaults of parameters.hpp (no model yet: the
// interim rule alone, at their interim_rate_bp). The registry's pre-trade check calls it under
// the members' locks; a model built meanwhile is seen by the next check.
//
// Thread safety: current() may be called from any thread; the answers are immutable and shared.
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>

#include <pqxx/transaction_base>

#include "cch/margin/parameters.hpp"
#include "cch/margin_store/models.hpp"

namespace cch::margin {

struct CurrentModel {
  std::shared_ptr<const PublishedModel> model;  // none before the first model is built
  std::shared_ptr<const MarginParameters> parameters;
  std::optional<std::int32_t> parameter_version;  // none: the defaults, nothing stored yet
  std::shared_ptr<const MoveRanges> move_ranges;  // of the model's scenarios; none without a model
};

class ModelCache {
 public:
  CurrentModel current(pqxx::transaction_base& tx);
  // The stored model of this id, none when there is none: the one kept when it has the id (a
  // model never changes once stored: its content hash is recorded with it), else read, and kept
  // when it is newer than the one kept. A run of the latest model thus reads it once per process.
  std::shared_ptr<const PublishedModel> model(pqxx::transaction_base& tx, std::int64_t model_id);

 private:
  std::mutex mutex_;
  std::shared_ptr<const PublishedModel> model_;
  std::shared_ptr<const MoveRanges> move_ranges_;  // model_'s
  std::optional<std::int32_t> parameter_version_;
  std::shared_ptr<const MarginParameters> parameters_ = std::make_shared<const MarginParameters>();
};

}  // namespace cch::margin
