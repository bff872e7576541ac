#include "cch/risk/margin.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <map>
#include <memory>
#include <set>
#include <thread>
#include <unordered_map>
#include <vector>

#include "cch/core/check.hpp"
#include "cch/db/array.hpp"
#include "cch/db/prepared.hpp"
#include "cch/margin/exposure.hpp"
#include "cch/margin/portfolio_backtest.hpp"
#include "cch/margin/scenarios.hpp"
#include "cch/margin_store/backtests.hpp"
#include "cch/margin_store/run_stress.hpp"
#include "cch/registry/catalog.hpp"
#include "cch/registry/trades.hpp"
#include "cch/risk/curve_sets.hpp"
#include "cch/risk/factor_history.hpp"
#include "open_legs.hpp"

#include <pqxx/result>

namespace cch::risk {

std::string_view to_string(MarginRefusal refusal) {
  switch (refusal) {
    case MarginRefusal::no_curve_set: return "no_curve_set";
    case MarginRefusal::unknown_parameter_version: return "unknown_parameter_version";
    case MarginRefusal::no_factor_history: return "no_factor_history";
    case MarginRefusal::scenarios_refused: return "scenarios_refused";
    case MarginRefusal::unknown_model: return "unknown_model";
    case MarginRefusal::leg_refused: return "leg_refused";
  }
  return "unknown_model";
}

namespace {

MarginError refused(MarginRefusal refusal, std::string detail) { return MarginError{refusal, std::move(detail)}; }

// What a model is made from, however it was gathered (a build, or a verification's rebuild).
struct ModelInputs {
  BusinessDate business_date = BusinessDate::from_days_since_epoch(0).value();
  std::int64_t curve_set_id = 0;
  pricing::CurveSet curves;
  margin::ParameterVersion parameters;
  std::vector<FactorDay> days;
  std::map<ProductId, std::string> gpu_models;
  std::map<ProductId, std::int64_t> open_interest;
};

// The model made from the inputs; its factor history too when asked (a backtest tests the model
// on the history it was built from).
Result<margin::PublishedModel, MarginError> assemble(ModelInputs inputs, margin::FactorHistory* history_out = nullptr) {
  const auto started = std::chrono::steady_clock::now();
  const margin::MarginParameters& p = inputs.parameters.parameters;
  std::vector<ProductId> products;
  for (const auto& [product, curve] : inputs.curves.forwards) products.push_back(product);  // id order
  // Generations: one per GPU model, in the order of the models' names.
  std::set<std::string> models;
  for (const ProductId product : products) models.insert(inputs.gpu_models.at(product));
  const std::vector<std::string> model_order(models.begin(), models.end());

  // The date axis: every date any product has a level on, up to the business date.
  std::map<ProductId, std::size_t> index;
  for (std::size_t i = 0; i < products.size(); ++i) index[products[i]] = i;
  std::set<BusinessDate> axis;
  std::map<ProductId, BusinessDate> first_date;
  for (const FactorDay& day : inputs.days) {
    if (!index.contains(day.product) || day.business_date > inputs.business_date) continue;
    axis.insert(day.business_date);
    auto [it, inserted] = first_date.emplace(day.product, day.business_date);
    if (!inserted) it->second = std::min(it->second, day.business_date);
  }
  for (const ProductId product : products) {
    const bool has_today = std::any_of(inputs.days.begin(), inputs.days.end(), [&](const FactorDay& day) {
      return day.product == product && day.business_date == inputs.business_date;
    });
    if (!has_today) {
      return fail(refused(MarginRefusal::no_factor_history, "product " + product.to_string() +
                                                                " has no factor levels on " +
                                                                inputs.business_date.format()));
    }
  }
  margin::FactorHistory history;
  history.dates.assign(axis.begin(), axis.end());
  if (history.dates.size() > margin::kHistoryDatesMax) {
    history.dates.erase(history.dates.begin(),
                        history.dates.end() - static_cast<std::ptrdiff_t>(margin::kHistoryDatesMax));
  }
  const std::size_t dates = history.dates.size();
  history.factor_count = products.size() * margin::kBucketCount;
  history.levels.assign(history.factor_count * dates, std::nan(""));
  std::map<BusinessDate, std::size_t> date_index;
  for (std::size_t t = 0; t < dates; ++t) date_index[history.dates[t]] = t;
  std::vector<std::int64_t> snapshot_ids;
  std::vector<FactorDay> used;
  for (const FactorDay& day : inputs.days) {
    const auto i = index.find(day.product);
    const auto t = date_index.find(day.business_date);
    if (i == index.end() || t == date_index.end()) continue;
    for (std::size_t b = 0; b < margin::kBucketCount; ++b) {
      history.levels[(i->second * margin::kBucketCount + b) * dates + t->second] = day.levels[b];
    }
    snapshot_ids.push_back(day.snapshot_id);
    used.push_back(day);
  }
  // Proxies: the product quoted most recently before this one (ties: the lower product id).
  history.proxy.assign(history.factor_count, -1);
  for (std::size_t i = 0; i < products.size(); ++i) {
    std::optional<std::size_t> proxy;
    for (std::size_t j = 0; j < products.size(); ++j) {
      if (first_date.at(products[j]) >= first_date.at(products[i])) continue;
      if (!proxy || first_date.at(products[j]) > first_date.at(products[*proxy])) proxy = j;
    }
    if (!proxy) continue;
    for (std::size_t b = 0; b < margin::kBucketCount; ++b) {
      history.proxy[i * margin::kBucketCount + b] = static_cast<std::int32_t>(*proxy * margin::kBucketCount + b);
    }
  }
  if (history_out != nullptr) *history_out = history;
  auto scenarios = margin::build_scenarios(history, p);
  if (!scenarios) {
    return fail(refused(MarginRefusal::scenarios_refused, std::string(margin::to_string(scenarios.error().refusal)) +
                                                              ": " + scenarios.error().detail));
  }
  std::sort(used.begin(), used.end(), [](const FactorDay& a, const FactorDay& b) {
    return a.product != b.product ? a.product < b.product : a.business_date < b.business_date;
  });
  std::sort(snapshot_ids.begin(), snapshot_ids.end());

  margin::PublishedModel out{margin::ModelRecord{}, margin::MarginModel{}, {}, {}, inputs.curves.discount};
  out.record.business_date = inputs.business_date;
  out.record.curve_set_id = inputs.curve_set_id;
  out.record.parameter_version = inputs.parameters.version;
  out.record.factor_history_hash = factor_history_hash(used);
  out.record.factor_snapshot_ids = std::move(snapshot_ids);
  out.record.history_first = history.dates.front();
  out.record.history_last = history.dates.back();
  out.record.history_dates = static_cast<std::int32_t>(dates);
  out.model.parameters = p;
  out.model.generation_count = static_cast<std::int32_t>(std::max<std::size_t>(model_order.size(), 1));
  for (const ProductId product : products) {
    const std::string& gpu_model = inputs.gpu_models.at(product);
    const auto generation = std::find(model_order.begin(), model_order.end(), gpu_model) - model_order.begin();
    const auto oi = inputs.open_interest.find(product);
    out.model.products.push_back(margin::ModelProduct{product, static_cast<std::int32_t>(generation),
                                                      oi == inputs.open_interest.end() ? 0 : oi->second,
                                                      p.spread_ticks_of(product)});
    out.gpu_models.push_back(gpu_model);
    out.forwards.push_back(inputs.curves.forwards.at(product));
  }
  out.model.scenarios = std::move(*scenarios);
  margin::check_model(out.model);
  out.record.build_microseconds =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started).count();
  return out;
}

std::map<ProductId, std::int64_t> open_interest(pqxx::transaction_base& tx, BusinessDate business_date) {
  const std::string first_instant = business_date.add_days(1).value().start_of_day().format();
  const auto rows = db::exec_cached(
      tx,
      "SELECT product_id, sum(gpus * (extract(epoch FROM delivery_end - greatest(delivery_start, $1::timestamptz)) "
      "/ 3600)::bigint)::bigint FROM cch.trade_leg WHERE side = 'buy' AND delivery_end > $1::timestamptz "
      "GROUP BY product_id",
      first_instant);
  std::map<ProductId, std::int64_t> out;
  for (const auto& row : rows) out[ProductId(row[0].as<std::int64_t>())] = row[1].as<std::int64_t>();
  return out;
}

std::map<ProductId, std::string> gpu_models_of(pqxx::transaction_base& tx, const pricing::CurveSet& curves) {
  std::map<ProductId, std::string> out;
  for (const auto& [product, curve] : curves.forwards) {
    const auto found = registry::find_product(tx, product);
    CCH_CHECK(found.has_value(), "a product with a forward curve exists");
    out[product] = found->spec.gpu_model;
  }
  return out;
}

Result<margin::ParameterVersion, MarginError> parameters_for(pqxx::transaction_base& tx, const ModelRequest& request) {
  if (request.parameter_version) {
    auto found = margin::find_parameters(tx, *request.parameter_version);
    if (!found) {
      return fail(refused(MarginRefusal::unknown_parameter_version,
                          "no margin parameter version " + std::to_string(*request.parameter_version)));
    }
    return std::move(*found);
  }
  if (auto latest = margin::latest_parameters(tx)) return std::move(*latest);
  auto stored = margin::store_parameters(tx, margin::MarginParameters{}, "the model's defaults", request.built_by,
                                         request.request_id);
  CCH_CHECK(stored.has_value(), "the default parameters are valid");
  return std::move(stored->version);
}

// The calendar days back the factor history reaches: the look-back's business days with room
// for weekends and holidays.
BusinessDate history_start(BusinessDate business_date, const margin::MarginParameters& p) {
  return business_date.add_days(-(static_cast<std::int64_t>(p.lookback_days) * 7 / 5 + 30)).value();
}

}  // namespace

Result<BuiltModel, MarginError> build_margin_model(pqxx::transaction_base& tx, const ModelRequest& request) {
  const auto curve_set = latest_curve_set(tx, request.business_date);
  if (!curve_set) {
    return fail(refused(MarginRefusal::no_curve_set, "no curve set of " + request.business_date.format() +
                                                         ": build the day's curves first"));
  }
  auto parameters = parameters_for(tx, request);
  if (!parameters) return fail(parameters.error());
  auto curves = load_curves(tx, curve_set->curve_set_id);
  CCH_CHECK(curves.has_value(), "a curve set's curves are stored");
  ModelInputs inputs{request.business_date, curve_set->curve_set_id, std::move(*curves), std::move(*parameters), {}, {}, {}};
  std::vector<ProductId> products;
  for (const auto& [product, curve] : inputs.curves.forwards) products.push_back(product);
  auto history = load_factor_history(tx, products, history_start(request.business_date, inputs.parameters.parameters),
                                     request.business_date);
  if (!history) return fail(refused(MarginRefusal::no_factor_history, history.error().detail));
  inputs.days = std::move(history->days);
  inputs.gpu_models = gpu_models_of(tx, inputs.curves);
  inputs.open_interest = open_interest(tx, request.business_date);
  auto model = assemble(std::move(inputs));
  if (!model) return fail(model.error());
  auto stored = margin::store_model(tx, *model, request.built_by, request.request_id);
  return BuiltModel{std::move(stored.record), stored.created};
}

namespace {

// What a stored model recorded it was made from.
ModelInputs recorded_inputs(pqxx::transaction_base& tx, const margin::PublishedModel& stored) {
  auto curves = load_curves(tx, stored.record.curve_set_id);
  CCH_CHECK(curves.has_value(), "a model's curve set is stored");
  auto parameters = margin::find_parameters(tx, stored.record.parameter_version);
  CCH_CHECK(parameters.has_value(), "a model's parameters are stored");
  ModelInputs inputs{stored.record.business_date, stored.record.curve_set_id, std::move(*curves),
                     std::move(*parameters), factor_levels_of_snapshots(tx, stored.record.factor_snapshot_ids), {}, {}};
  inputs.gpu_models = gpu_models_of(tx, inputs.curves);
  for (const auto& product : stored.model.products) inputs.open_interest[product.product] = product.open_interest_gpu_hours;
  return inputs;
}

}  // namespace

Result<ModelVerification, MarginError> verify_margin_model(pqxx::transaction_base& tx, std::int64_t model_id) {
  const auto stored = margin::load_model(tx, model_id);
  if (!stored) return fail(refused(MarginRefusal::unknown_model, "no margin model " + std::to_string(model_id)));
  ModelVerification out{model_id, stored->record.content_hash, "", false};
  auto rebuilt = assemble(recorded_inputs(tx, *stored));
  if (!rebuilt) return fail(rebuilt.error());
  out.rebuilt_hash = margin::model_content_hash(*rebuilt);
  out.matches = out.rebuilt_hash == out.stored_hash && margin::model_content_hash(*stored) == out.stored_hash;
  return out;
}

namespace {

// Every member's bucketed position, summed leg by leg as the legs come (in no order).
struct Accumulated {
  std::vector<MemberId> members;       // in the order first seen
  std::vector<MemberLegs> positions;   // the same order
  std::unordered_map<std::int64_t, std::size_t> slot_of;  // member id -> its slot
  std::map<ProductId, std::int64_t> interim;  // product -> legs under the interim rule
  std::int64_t legs = 0;

  MemberLegs& of(MemberId member, const margin::MarginModel& model) {
    const auto [it, inserted] = slot_of.try_emplace(member.value(), members.size());
    if (inserted) {
      members.push_back(member);
      positions.push_back(MemberLegs{margin::MemberPosition::empty(model), 0});
    }
    return positions[it->second];
  }
  // The slots in member id order.
  [[nodiscard]] std::vector<std::size_t> by_member() const {
    std::vector<std::size_t> order(members.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return members[a] < members[b]; });
    return order;
  }
};

Result<Accumulated, MarginError> accumulate(pqxx::transaction_base& tx, const margin::PublishedModel& m,
                                            const BusinessCalendar& calendar,
                                            std::optional<std::span<const MemberId>> members) {
  std::unordered_map<std::int64_t, std::size_t> index;
  for (std::size_t i = 0; i < m.model.products.size(); ++i) index[m.model.products[i].product.value()] = i;
  Accumulated out;
  if (members) out.slot_of.reserve(members->size());
  std::optional<MarginError> error;
  for_each_open_leg(tx, m.record.business_date, calendar, members, [&](const OpenLeg& open) {
    if (error) return;
    MemberLegs& member = out.of(open.member, m.model);
    const auto found = index.find(open.product.value());
    if (found == index.end()) {
      ++out.interim[open.product];
      member.position.add(margin::interim_exposure(open.leg, m.model.parameters.interim_rate_bp));
      ++member.legs;
      ++out.legs;
      return;
    }
    auto exposure = margin::leg_exposure(open.leg, found->second, m.forwards[found->second], m.discount);
    if (!exposure) {
      error = refused(MarginRefusal::leg_refused,
                      "trade " + std::to_string(open.leg.leg_id) + " " + std::string(pricing::to_string(open.leg.side)) +
                          ": " + std::string(pricing::to_string(exposure.error())));
      return;
    }
    member.position.add(*exposure);
    ++member.legs;
    ++out.legs;
  });
  if (error) return fail(std::move(*error));
  return out;
}

// Each member's figures and factor lines, results[i] from positions[i]. Pure computation (no
// database), spread over up to kRunThreadsMax threads when there are enough members; each
// thread takes every n-th member, so a thread's share does not depend on where the big books are.
constexpr unsigned kRunThreadsMax = 2;
constexpr std::size_t kMembersPerThreadMin = 16;

std::vector<margin::MemberResult> member_results(const margin::MarginModel& model, const margin::StressSet& stress,
                                                 std::span<const MemberId> members, std::span<MemberLegs> positions) {
  std::vector<margin::MemberResult> results;
  results.reserve(members.size());
  for (const MemberId member : members) results.push_back(margin::MemberResult{member, 0, {}, {}, {}});
  const auto compute = [&](std::size_t first, std::size_t step) {
    for (std::size_t i = first; i < members.size(); i += step) {
      const margin::MemberMargin figures(model, std::move(positions[i].position));
      results[i] = margin::member_result(model, members[i], positions[i].legs, figures);
      results[i].stress = stress.member(figures.position(), results[i].figures.initial_margin_cents);
    }
  };
  const unsigned threads = std::clamp<unsigned>(
      std::min<unsigned>(std::thread::hardware_concurrency(), kRunThreadsMax), 1,
      static_cast<unsigned>(std::max<std::size_t>(1, members.size() / kMembersPerThreadMin)));
  if (threads <= 1) {
    compute(0, 1);
    return results;
  }
  std::vector<std::exception_ptr> failures(threads);
  std::vector<std::thread> helpers;
  helpers.reserve(threads - 1);
  const auto guarded = [&](unsigned t) {
    try {
      compute(t, threads);
    } catch (...) {
      failures[t] = std::current_exception();  // rethrown by the caller's thread below
    }
  };
  for (unsigned t = 1; t < threads; ++t) helpers.emplace_back(guarded, t);
  guarded(0);
  for (std::thread& helper : helpers) helper.join();
  for (const std::exception_ptr& failure : failures) {
    if (failure) std::rethrow_exception(failure);
  }
  return results;
}

}  // namespace

Result<MarginRunOutcome, MarginError> run_margin(pqxx::transaction_base& tx, const MarginRunRequest& request,
                                                 const BusinessCalendar& clearing_calendar) {
  const auto started_at = UtcTimestamp::now();
  MarginRunTimings timings;
  auto lap = std::chrono::steady_clock::now();
  const auto lap_into = [&lap](std::int64_t& into) {
    const auto now = std::chrono::steady_clock::now();
    into = std::chrono::duration_cast<std::chrono::microseconds>(now - lap).count();
    lap = now;
  };
  std::optional<std::int64_t> model_id = request.model_id;
  if (!model_id) {
    const auto latest = margin::latest_model_record(tx);
    if (!latest) return fail(refused(MarginRefusal::unknown_model, "no margin model has been built yet"));
    model_id = latest->model_id;
  }
  std::shared_ptr<const margin::PublishedModel> model;
  if (request.models) {
    model = request.models->model(tx, *model_id);
  } else if (auto loaded = margin::load_model(tx, *model_id)) {
    model = std::make_shared<const margin::PublishedModel>(std::move(*loaded));
  }
  if (!model) return fail(refused(MarginRefusal::unknown_model, "no margin model " + std::to_string(*model_id)));
  lap_into(timings.model_us);
  // Members whose kept state is under this model start from it; the rest from their legs.
  std::vector<registry::KeptMarginState> kept;
  std::vector<MemberId> from_legs;
  if (request.members && request.from_kept_states) {
    const std::size_t factors = model->model.factor_count();
    for (auto& state : registry::kept_margin_states(tx, *request.members)) {
      if (state.model_id == *model_id && state.position.exposure_cents[0].size() == factors) {
        kept.push_back(std::move(state));
      }
    }
    for (const MemberId member : *request.members) {
      const bool has = std::any_of(kept.begin(), kept.end(), [&](const auto& s) { return s.member == member; });
      if (!has) from_legs.push_back(member);
    }
  } else if (request.members) {
    from_legs = *request.members;
  }
  std::optional<std::span<const MemberId>> scope;
  if (request.members) scope = std::span<const MemberId>(from_legs);
  Result<Accumulated, MarginError> accumulated =
      scope && scope->empty() ? Result<Accumulated, MarginError>(Accumulated{})
                              : accumulate(tx, *model, clearing_calendar, scope);
  if (!accumulated) return fail(accumulated.error());
  for (auto& state : kept) {
    MemberLegs& member = accumulated->of(state.member, model->model);
    member.position = std::move(state.position);
    member.legs = state.legs;
    accumulated->legs += state.legs;
  }
  if (request.members) {
    for (const MemberId member : *request.members) accumulated->of(member, model->model);
  }
  // In member id order, as they are stored.
  std::vector<MemberId> members;
  std::vector<MemberLegs> positions;
  members.reserve(accumulated->members.size());
  positions.reserve(accumulated->members.size());
  for (const std::size_t slot : accumulated->by_member()) {
    members.push_back(accumulated->members[slot]);
    positions.push_back(std::move(accumulated->positions[slot]));
  }
  lap_into(timings.legs_us);
  const margin::StressSet stress(*model);
  const std::vector<margin::MemberResult> results = member_results(model->model, stress, members, positions);
  lap_into(timings.compute_us);
  const margin::RunRequest run{*model_id,
                               model->record.business_date,
                               request.members ? margin::RunScope::members : margin::RunScope::all,
                               request.cause,
                               started_at,
                               request.requested_by,
                               request.request_id};
  MarginRunOutcome out{margin::store_run(tx, run, results, accumulated->legs), 0, {}, {}};
  lap_into(timings.store_us);
  out.timings = timings;
  for (const auto& [product, legs] : accumulated->interim) {
    out.legs_interim += legs;
    out.interim_products.push_back(product);
  }
  return out;
}

Result<MemberLegs, MarginError> member_position(pqxx::transaction_base& tx, const margin::PublishedModel& model,
                                                MemberId member, const BusinessCalendar& clearing_calendar) {
  const std::vector<MemberId> one = {member};
  auto accumulated = accumulate(tx, model, clearing_calendar, std::span<const MemberId>(one));
  if (!accumulated) return fail(accumulated.error());
  const auto found = accumulated->slot_of.find(member.value());
  if (found == accumulated->slot_of.end()) return MemberLegs{margin::MemberPosition::empty(model.model), 0};
  return std::move(accumulated->positions[found->second]);
}

Result<RunVerification, MarginError> verify_margin_run(pqxx::transaction_base& tx, std::int64_t run_id,
                                                       const BusinessCalendar& clearing_calendar) {
  const auto run = margin::find_run(tx, run_id);
  if (!run) return fail(refused(MarginRefusal::unknown_model, "no margin run " + std::to_string(run_id)));
  const auto model = margin::load_model(tx, run->model_id);
  CCH_CHECK(model.has_value(), "a run's model is stored");
  RunVerification out{run_id, 0, 0, 0, false};
  const margin::StressSet stress(*model);
  for (const auto& stored : margin::run_members(tx, run_id)) {
    const auto full = margin::member_margin(tx, stored.result.member, run_id);
    CCH_CHECK(full.has_value(), "a run's member row is there");
    margin::MemberPosition position = margin::MemberPosition::empty(model->model);
    for (const margin::FactorLine& line : full->result.factors) {
      const auto index = model->index_of(line.product);
      CCH_CHECK(index.has_value(), "a factor line's product is in its model");
      const std::size_t f = *index * margin::kBucketCount + static_cast<std::size_t>(line.bucket);
      position.exposure_cents[static_cast<std::size_t>(line.margin_class)][f] = line.exposure_cents;
      position.net_gpu_hours[static_cast<std::size_t>(line.margin_class)][f] = line.net_gpu_hours;
    }
    // The interim rule's margin is the one input a factor line does not carry.
    position.interim_cents = stored.result.figures.interim_cents;
    ++out.members;
    const margin::MemberMargin recomputed(model->model, position);
    const bool stress_differs =
        !stored.result.stress.empty() &&
        stress.member(position, recomputed.figures().initial_margin_cents) != stored.result.stress;
    if (recomputed.figures() != stored.result.figures || stress_differs) ++out.figures_differing;
    auto from_legs = member_position(tx, *model, stored.result.member, clearing_calendar);
    if (!from_legs) return fail(from_legs.error());
    if (from_legs->position != position) ++out.positions_differing;
  }
  out.matches = out.figures_differing == 0 && out.positions_differing == 0;
  return out;
}

Result<BacktestOutcome, MarginError> backtest_margin_run(pqxx::transaction_base& tx, const BacktestRunRequest& request) {
  CCH_CHECK(request.observations >= 1 && static_cast<std::size_t>(request.observations) <= margin::kBacktestObservationsMax,
            "a backtest asks for 1 to kBacktestObservationsMax dates");
  const auto run = margin::find_run(tx, request.run_id);
  if (!run) return fail(refused(MarginRefusal::unknown_model, "no margin run " + std::to_string(request.run_id)));
  if (auto done = margin::backtest_of_run(tx, request.run_id, request.observations)) {
    return BacktestOutcome{std::move(*done), false};
  }
  const auto started = std::chrono::steady_clock::now();
  const auto model = margin::load_model(tx, run->model_id);
  CCH_CHECK(model.has_value(), "a run's model is stored");
  margin::FactorHistory history;
  auto rebuilt = assemble(recorded_inputs(tx, *model), &history);
  if (!rebuilt) return fail(rebuilt.error());
  // Each member's exposures per class from its factor lines in the run (the model's factors).
  const std::vector<std::pair<MemberId, std::vector<margin::FactorLine>>> lines = margin::run_factor_lines(tx, run->run_id);
  std::vector<margin::MemberBacktest> rows;
  for (const margin::MarginClass c : {margin::MarginClass::future, margin::MarginClass::forward}) {
    std::vector<MemberId> members;
    std::vector<std::vector<std::int64_t>> portfolios;
    for (const auto& [member, member_lines] : lines) {
      std::vector<std::int64_t> exposure(history.factor_count, 0);
      bool exposed = false;
      for (const margin::FactorLine& line : member_lines) {
        if (line.margin_class != c || line.exposure_cents == 0) continue;
        const auto index = model->index_of(line.product);
        CCH_CHECK(index.has_value(), "a factor line's product is in its model");
        exposure[*index * margin::kBucketCount + static_cast<std::size_t>(line.bucket)] = line.exposure_cents;
        exposed = true;
      }
      if (!exposed) continue;
      members.push_back(member);
      portfolios.push_back(std::move(exposure));
    }
    if (members.empty()) continue;
    auto results = margin::backtest_portfolios(history, model->model.parameters, c, portfolios,
                                               static_cast<std::size_t>(request.observations));
    for (std::size_t i = 0; i < members.size(); ++i) {
      margin::MemberBacktest row;
      row.member = members[i];
      row.margin_class = c;
      row.mpor_days = model->model.parameters.of(c).mpor_days;
      row.confidence_bp = model->model.parameters.of(c).confidence_bp;
      if (results[i]) {
        row.skipped = results[i]->skipped;
        row.observations = std::move(results[i]->observations);
        row.observation_count = static_cast<std::int64_t>(row.observations.size());
        row.report = results[i]->report;
      } else {
        row.refusal = std::string(margin::to_string(results[i].error().refusal));
        row.refusal_detail = results[i].error().detail;
      }
      rows.push_back(std::move(row));
    }
  }
  std::sort(rows.begin(), rows.end(), [](const margin::MemberBacktest& a, const margin::MemberBacktest& b) {
    return a.member != b.member ? a.member < b.member : a.margin_class < b.margin_class;
  });
  const margin::BacktestRequest stored{
      run->run_id,
      run->model_id,
      run->business_date,
      request.observations,
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started).count(),
      request.requested_by,
      request.request_id};
  return BacktestOutcome{margin::store_backtest(tx, stored, rows), true};
}

}  // namespace cch::risk
