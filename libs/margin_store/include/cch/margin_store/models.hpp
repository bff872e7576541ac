#pragma once
// The margin model's parameter versions and each business date's published model, stored
// (tables of migration 0021; docs/margin.md).
//
// A published model (PublishedModel) is everything a member's margin is computed from, and
// everything a member needs to recompute its own: the parameters, the products in factor order
// with their generation, open interest and spread, each product's forward curve and the discount
// curve (the exposure grid: exposure.hpp turns a leg into bucketed exposures with them), and the
// scenario moves of each margin class. It records what it was built from: the curve set, the
// parameter version, the factor levels' snapshots (and their hash). Its content hash is the
// SHA-256 of model_serialisation, a text naming every number exactly (moves as integers, doubles
// as the hex of their IEEE bits), so rebuilding a past model from what it recorded can be shown
// to give the same model.
//
// Parameter versions: store_parameters stores a new version (1, 2, ...) with its reason, or
// answers the version whose text is the same (created = false). The text is parameters.hpp's
// canonical form; anything else is refused with the parameter that is wrong.
//
// Models: store_model stores a date's model as the next version of that date, or answers the
// stored model of that date with the same content hash (created = false), so building the same
// model twice stores it once. A model's rows never change.
//
// Reading a model in pieces (what the api publishes): model_summary reads its record, stressed
// period, products and classes without the moves or curves; scenario_slice reads one class's
// moves of a range of factors as a slice of the stored array (a page of the member-replicable
// scenario file), never the whole model.
//
// Thread safety: functions take the caller's transaction; a PublishedModel is a plain value
// (its MarginModel may be shared read-only between threads).
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <pqxx/transaction_base>

#include "cch/core/calendar.hpp"
#include "cch/core/ids.hpp"
#include "cch/core/result.hpp"
#include "cch/core/time.hpp"
#include "cch/margin/engine.hpp"
#include "cch/margin/parameters.hpp"
#include "cch/pricing/discount_curve.hpp"
#include "cch/pricing/forward_curve.hpp"
#include "cch/pricing/marks.hpp"

namespace cch::margin {

struct ParameterVersion {
  std::int32_t version = 0;
  MarginParameters parameters;
  std::string text;
  std::string content_hash;
  std::string reason;
  std::string created_by;
  UtcTimestamp created_at{0};
};

struct StoredParameters {
  ParameterVersion version;
  bool created = false;
};

// Preconditions: reason and created_by are 1..500 and 1..64 characters of checked text.
Result<StoredParameters, ParameterError> store_parameters(pqxx::transaction_base& tx, const MarginParameters& parameters,
                                                          const std::string& reason, const std::string& created_by,
                                                          const std::optional<std::string>& request_id);
std::optional<ParameterVersion> find_parameters(pqxx::transaction_base& tx, std::int32_t version);
std::optional<ParameterVersion> latest_parameters(pqxx::transaction_base& tx);
std::vector<ParameterVersion> list_parameters(pqxx::transaction_base& tx, std::size_t limit);
// Versions below `before` (all when none), newest first.
std::vector<ParameterVersion> list_parameters(pqxx::transaction_base& tx, std::optional<std::int64_t> before,
                                             std::size_t limit);

struct ModelRecord {
  std::int64_t model_id = 0;
  BusinessDate business_date = BusinessDate::from_days_since_epoch(0).value();
  std::int32_t version = 0;
  std::int64_t curve_set_id = 0;
  std::int32_t parameter_version = 0;
  std::string factor_history_hash;
  std::vector<std::int64_t> factor_snapshot_ids;
  BusinessDate history_first = BusinessDate::from_days_since_epoch(0).value();
  BusinessDate history_last = BusinessDate::from_days_since_epoch(0).value();
  std::int32_t history_dates = 0;
  std::string content_hash;
  UtcTimestamp built_at{0};
  std::string built_by;
  std::int64_t build_microseconds = 0;
};

struct PublishedModel {
  ModelRecord record;
  MarginModel model;
  std::vector<std::string> gpu_models;            // per product index
  std::vector<pricing::ForwardCurve> forwards;    // per product index
  pricing::DiscountCurve discount;

  // The product index of a product, or nothing if the model does not margin it.
  [[nodiscard]] std::optional<std::size_t> index_of(ProductId product) const;
};

// A leg's contribution to its member's margin under a model, the one rule for the registry's
// pre-trade check and the risk service's runs: its bucketed exposure (exposure.hpp) when there is
// a model, it covers the leg's product and its curves reach the leg's window; else the interim
// rule's (interim_rate_bp of the leg's notional). A forward's payment date is set here
// (pricing::forward_payment_date as of the model's business date). Preconditions: a valid leg.
LegExposure exposure_under(const PublishedModel* model, const MarginParameters& parameters, ProductId product,
                           pricing::Leg leg, const BusinessCalendar& clearing_calendar);

std::string model_serialisation(const PublishedModel& model);
std::string model_content_hash(const PublishedModel& model);

struct StoredModel {
  ModelRecord record;
  bool created = false;
};

// Stores `model` (its record's business date, curve set, parameter version, factor history and
// build time as given; version, id and content hash are set here).
StoredModel store_model(pqxx::transaction_base& tx, const PublishedModel& model, const std::string& built_by,
                        const std::optional<std::string>& request_id);
std::optional<PublishedModel> load_model(pqxx::transaction_base& tx, std::int64_t model_id);
std::optional<ModelRecord> find_model_record(pqxx::transaction_base& tx, std::int64_t model_id);
// The model of the latest business date (its latest version): the one margins are taken with.
std::optional<ModelRecord> latest_model_record(pqxx::transaction_base& tx);
std::vector<ModelRecord> list_model_records(pqxx::transaction_base& tx, std::optional<BusinessDate> business_date,
                                            std::size_t limit);
// Models in the order they were built, newest first (model ids below `before`), of one business
// date or all.
std::vector<ModelRecord> list_models(pqxx::transaction_base& tx, std::optional<BusinessDate> business_date,
                                     std::optional<std::int64_t> before, std::size_t limit);

// What the api publishes of a model without loading its scenarios or curves: the record, the
// stressed period, each product as built (no daily prices) and each class's size.
struct ModelProductSummary {
  std::int32_t product_index = 0;  // its factors are product_index x kBucketCount + bucket
  ProductId product;
  std::string gpu_model;
  std::int32_t generation = 0;
  std::int64_t open_interest_gpu_hours = 0;
  std::int64_t spread_ticks = 0;
  BusinessDate first_day = BusinessDate::from_days_since_epoch(0).value();  // of its forward curve
  std::int32_t curve_days = 0;
};

struct ModelClassSummary {
  MarginClass margin_class = MarginClass::future;
  std::int32_t mpor_days = 0;
  std::int32_t confidence_bp = 0;
  std::int32_t filtered_count = 0;
  std::int32_t stressed_count = 0;
};

struct ModelSummary {
  ModelRecord record;
  BusinessDate stress_first = BusinessDate::from_days_since_epoch(0).value();
  BusinessDate stress_last = BusinessDate::from_days_since_epoch(0).value();
  bool stress_selected = false;
  std::vector<ModelProductSummary> products;                 // in factor order
  std::array<ModelClassSummary, kMarginClassCount> classes;  // future, forward

  [[nodiscard]] std::size_t factor_count() const { return products.size() * kBucketCount; }
};

std::optional<ModelSummary> model_summary(pqxx::transaction_base& tx, std::int64_t model_id);

// A class's scenarios for the factors [first_factor, first_factor + factor_count) (clipped to the
// model's), read as a slice of the stored array: the dates of every scenario (filtered, then
// stressed) and the slice's moves, factor-major (moves_ppb[(f - first_factor) x scenarios + s]).
struct ScenarioSlice {
  MarginClass margin_class = MarginClass::future;
  std::int32_t mpor_days = 0;
  std::int32_t confidence_bp = 0;
  std::vector<BusinessDate> filtered_dates;
  std::vector<BusinessDate> stressed_dates;
  std::size_t first_factor = 0;
  std::size_t factor_count = 0;
  std::vector<std::int64_t> moves_ppb;

  [[nodiscard]] std::size_t scenario_count() const { return filtered_dates.size() + stressed_dates.size(); }
};

// Nothing when the model has no such class (no such model).
std::optional<ScenarioSlice> scenario_slice(pqxx::transaction_base& tx, std::int64_t model_id, MarginClass margin_class,
                                            std::size_t first_factor, std::size_t factor_count);

}  // namespace cch::margin
