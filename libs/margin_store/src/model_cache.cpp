#include "cch/margin_store/model_cache.hpp"

#include "cch/core/check.hpp"
#include "cch/db/prepared.hpp"

#include <pqxx/result>

namespace cch::margin {

CurrentModel ModelCache::current(pqxx::transaction_base& tx) {
  const auto row = db::exec_cached(tx,
                                   "SELECT (SELECT model_id FROM margin.model ORDER BY business_date DESC, version DESC "
                                   "LIMIT 1), (SELECT max(version) FROM margin.parameter_set)")
                       .at(0);
  // A plain integer, not an optional: GCC's release build cannot follow an optional across the
  // unlock/lock below and warns that it may be used uninitialised.
  const bool has_model = !row[0].is_null();
  const std::int64_t model_id = has_model ? row[0].as<std::int64_t>() : 0;
  const std::optional<std::int32_t> parameter_version =
      row[1].is_null() ? std::nullopt : std::optional<std::int32_t>(row[1].as<std::int32_t>());
  std::unique_lock lock(mutex_);
  if (has_model) {
    if (!model_ || model_->record.model_id != model_id) {
      lock.unlock();  // loading takes a while: other threads go on with what they have
      auto loaded = load_model(tx, model_id);
      CCH_CHECK(loaded.has_value(), "the latest model is stored");
      auto shared = std::make_shared<const PublishedModel>(std::move(*loaded));
      auto ranges = std::make_shared<const MoveRanges>(move_ranges(shared->model));
      lock.lock();
      if (!model_ || model_->record.model_id < model_id) {
        model_ = std::move(shared);
        move_ranges_ = std::move(ranges);
      }
    }
    if (model_->record.model_id == model_id) {
      return CurrentModel{model_, std::shared_ptr<const MarginParameters>(model_, &model_->model.parameters),
                          model_->record.parameter_version, move_ranges_};
    }
    // Another thread kept a newer model meanwhile: load ours again without caching it.
    lock.unlock();
    auto loaded = load_model(tx, model_id);
    CCH_CHECK(loaded.has_value(), "the latest model is stored");
    auto shared = std::make_shared<const PublishedModel>(std::move(*loaded));
    auto parameters = std::shared_ptr<const MarginParameters>(shared, &shared->model.parameters);
    auto ranges = std::make_shared<const MoveRanges>(move_ranges(shared->model));
    return CurrentModel{shared, parameters, shared->record.parameter_version, std::move(ranges)};
  }
  if (parameter_version && parameter_version != parameter_version_) {
    lock.unlock();
    auto found = find_parameters(tx, *parameter_version);
    CCH_CHECK(found.has_value(), "the latest parameter version is stored");
    auto shared = std::make_shared<const MarginParameters>(found->parameters);
    lock.lock();
    parameters_ = std::move(shared);
    parameter_version_ = parameter_version;
  }
  return CurrentModel{nullptr, parameters_, parameter_version_, nullptr};
}

std::shared_ptr<const PublishedModel> ModelCache::model(pqxx::transaction_base& tx, std::int64_t model_id) {
  {
    const std::lock_guard lock(mutex_);
    if (model_ && model_->record.model_id == model_id) return model_;
  }
  auto loaded = load_model(tx, model_id);  // outside the lock: reading takes a while
  if (!loaded) return nullptr;
  auto shared = std::make_shared<const PublishedModel>(std::move(*loaded));
  auto ranges = std::make_shared<const MoveRanges>(move_ranges(shared->model));
  const std::lock_guard lock(mutex_);
  if (!model_ || model_->record.model_id < model_id) {
    model_ = shared;
    move_ranges_ = std::move(ranges);
  }
  return shared;
}

}  // namespace cch::margin
