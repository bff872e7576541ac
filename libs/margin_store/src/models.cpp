#include "cch/margin_store/models.hpp"

#include "sql_values.hpp"

#include <algorithm>
#include <bit>
#include <cstdio>

#include "cch/core/check.hpp"
#include "cch/core/sha256.hpp"
#include "cch/db/array.hpp"
#include "cch/db/prepared.hpp"
#include "cch/margin/exposure.hpp"

#include <pqxx/result>

namespace cch::margin {

namespace {

using sql::date_array;
using sql::date_of;
using sql::dates_of;
using sql::timestamp_of;

const std::string kParameterColumns =
    "version, parameters, content_hash, reason, created_by, "
    "(extract(epoch FROM created_at) * 1000000)::bigint";

ParameterVersion parameters_of(const pqxx::row& row) {
  ParameterVersion out;
  out.version = row[0].as<std::int32_t>();
  out.text = row[1].as<std::string>();
  auto parsed = parse_parameters(out.text);
  CCH_CHECK(parsed.has_value(), "a stored parameter set parses");
  out.parameters = std::move(*parsed);
  out.content_hash = row[2].as<std::string>();
  out.reason = row[3].as<std::string>();
  out.created_by = row[4].as<std::string>();
  out.created_at = timestamp_of(row[5]);
  return out;
}

const std::string kModelColumns =
    "model_id, business_date::text, version, curve_set_id, parameter_version, factor_history_hash, "
    "factor_snapshot_ids, history_first::text, history_last::text, history_dates, content_hash, "
    "(extract(epoch FROM built_at) * 1000000)::bigint, built_by, build_microseconds";

ModelRecord record_of(const pqxx::row& row) {
  ModelRecord out;
  out.model_id = row[0].as<std::int64_t>();
  out.business_date = date_of(row[1]);
  out.version = row[2].as<std::int32_t>();
  out.curve_set_id = row[3].as<std::int64_t>();
  out.parameter_version = row[4].as<std::int32_t>();
  out.factor_history_hash = row[5].as<std::string>();
  out.factor_snapshot_ids = db::integers_of(row[6]);
  out.history_first = date_of(row[7]);
  out.history_last = date_of(row[8]);
  out.history_dates = row[9].as<std::int32_t>();
  out.content_hash = row[10].as<std::string>();
  out.built_at = timestamp_of(row[11]);
  out.built_by = row[12].as<std::string>();
  out.build_microseconds = row[13].as<std::int64_t>();
  return out;
}

void append_bits(std::string& text, double value) {
  char digits[17];
  std::snprintf(digits, sizeof digits, "%016llx", static_cast<unsigned long long>(std::bit_cast<std::uint64_t>(value)));
  text.append(digits, 16);
}

void append_doubles(std::string& text, std::string_view name, std::span<const double> values) {
  text.append(name).append("=");
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) text += ' ';
    append_bits(text, values[i]);
  }
  text += '\n';
}

template <class T>
void append_integers(std::string& text, std::string_view name, std::span<const T> values) {
  text.append(name).append("=");
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) text += ' ';
    text += std::to_string(values[i]);
  }
  text += '\n';
}

void append_dates(std::string& text, std::string_view name, std::span<const BusinessDate> dates) {
  text.append(name).append("=");
  for (std::size_t i = 0; i < dates.size(); ++i) {
    if (i > 0) text += ' ';
    text += dates[i].format();
  }
  text += '\n';
}

}  // namespace

Result<StoredParameters, ParameterError> store_parameters(pqxx::transaction_base& tx, const MarginParameters& parameters,
                                                          const std::string& reason, const std::string& created_by,
                                                          const std::optional<std::string>& request_id) {
  if (auto error = validate(parameters)) return fail(std::move(*error));
  const std::string text = serialise(parameters);
  const std::string hash = sha256_hex(text);
  // One writer at a time: versions are consecutive.
  db::exec_cached(tx, "SELECT pg_advisory_xact_lock(hashtext('margin.parameter_set'))");
  const auto existing =
      db::exec_cached(tx, "SELECT " + kParameterColumns + " FROM margin.parameter_set WHERE content_hash = $1", hash);
  if (!existing.empty()) return StoredParameters{parameters_of(existing[0]), false};
  const auto stored = db::exec_cached(
      tx,
      "INSERT INTO margin.parameter_set (version, parameters, content_hash, reason, created_by, request_id) "
      "SELECT COALESCE(max(version), 0) + 1, $1, $2, $3, $4, $5 FROM margin.parameter_set RETURNING " +
          kParameterColumns,
      text, hash, reason, created_by, request_id);
  return StoredParameters{parameters_of(stored[0]), true};
}

std::optional<ParameterVersion> find_parameters(pqxx::transaction_base& tx, std::int32_t version) {
  const auto rows =
      db::exec_cached(tx, "SELECT " + kParameterColumns + " FROM margin.parameter_set WHERE version = $1", version);
  if (rows.empty()) return std::nullopt;
  return parameters_of(rows[0]);
}

std::optional<ParameterVersion> latest_parameters(pqxx::transaction_base& tx) {
  const auto rows = db::exec_cached(
      tx, "SELECT " + kParameterColumns + " FROM margin.parameter_set ORDER BY version DESC LIMIT 1");
  if (rows.empty()) return std::nullopt;
  return parameters_of(rows[0]);
}

std::vector<ParameterVersion> list_parameters(pqxx::transaction_base& tx, std::size_t limit) {
  const auto rows = db::exec_cached(
      tx, "SELECT " + kParameterColumns + " FROM margin.parameter_set ORDER BY version DESC LIMIT $1",
      static_cast<std::int64_t>(limit));
  std::vector<ParameterVersion> out;
  for (const auto& row : rows) out.push_back(parameters_of(row));
  return out;
}

std::optional<std::size_t> PublishedModel::index_of(ProductId product) const {
  for (std::size_t i = 0; i < model.products.size(); ++i) {
    if (model.products[i].product == product) return i;
  }
  return std::nullopt;
}

LegExposure exposure_under(const PublishedModel* model, const MarginParameters& parameters, ProductId product,
                           pricing::Leg leg, const BusinessCalendar& clearing_calendar) {
  if (model != nullptr) {
    if (const auto index = model->index_of(product)) {
      const BusinessDate as_of = model->record.business_date;
      leg.payment_date = leg.kind == pricing::ContractKind::forward
                             ? pricing::forward_payment_date(leg.delivery_end, as_of, clearing_calendar)
                             : as_of;
      auto exposure = leg_exposure(leg, *index, model->forwards[*index], model->discount);
      if (exposure) return *exposure;
    }
  }
  return interim_exposure(leg, parameters.interim_rate_bp);
}

std::string model_serialisation(const PublishedModel& m) {
  const ModelRecord& r = m.record;
  const MarginModel& model = m.model;
  std::string text = "cch-margin-model/1\n";
  text += "business_date=" + r.business_date.format() + "\n";
  text += "curve_set=" + std::to_string(r.curve_set_id) + "\n";
  text += "parameter_version=" + std::to_string(r.parameter_version) + "\n";
  text += "parameters=" + std::to_string(serialise(model.parameters).size()) + ":" + serialise(model.parameters) + "\n";
  text += "factor_history=" + r.factor_history_hash + " dates=" + std::to_string(r.history_dates) + " " +
          r.history_first.format() + ".." + r.history_last.format() + "\n";
  text += "stress=" + model.scenarios.stress_first.format() + ".." + model.scenarios.stress_last.format() +
          (model.scenarios.stress_selected ? " selected" : " given") + "\n";
  text += "generations=" + std::to_string(model.generation_count) + "\n";
  text += "products=" + std::to_string(model.products.size()) + "\n";
  for (std::size_t i = 0; i < model.products.size(); ++i) {
    const ModelProduct& p = model.products[i];
    text += "product=" + std::to_string(p.product.value()) + " gpu_model=" + m.gpu_models[i] +
            " generation=" + std::to_string(p.generation) + " open_interest=" +
            std::to_string(p.open_interest_gpu_hours) + " spread=" + std::to_string(p.spread_ticks) +
            " first_day=" + m.forwards[i].first_day().format() + "\n";
    append_doubles(text, "prices", m.forwards[i].daily_prices());
    const auto sigma = [&](const std::vector<double>& all) {
      return std::span<const double>(all).subspan(i * kBucketCount, kBucketCount);
    };
    append_doubles(text, "sigma_today", sigma(model.scenarios.sigma_today));
    append_doubles(text, "sigma_mean", sigma(model.scenarios.sigma_mean));
    append_doubles(text, "sigma_used", sigma(model.scenarios.sigma_used));
  }
  text += "discount_nodes=" + std::to_string(m.discount.nodes().size()) + "\n";
  for (const auto& node : m.discount.nodes()) {
    text += node.date.format() + " ";
    append_bits(text, node.discount_factor);
    text += '\n';
  }
  for (const ClassScenarios& c : model.scenarios.classes) {
    text += "class=" + std::string(to_string(c.margin_class)) + " mpor=" + std::to_string(c.mpor_days) + "\n";
    append_dates(text, "filtered", c.filtered_dates);
    append_dates(text, "stressed", c.stressed_dates);
    append_integers<std::int64_t>(text, "moves", c.moves_ppb);
  }
  return text;
}

std::string model_content_hash(const PublishedModel& model) { return sha256_hex(model_serialisation(model)); }

StoredModel store_model(pqxx::transaction_base& tx, const PublishedModel& m, const std::string& built_by,
                        const std::optional<std::string>& request_id) {
  check_model(m.model);
  CCH_CHECK(m.forwards.size() == m.model.products.size() && m.gpu_models.size() == m.model.products.size(),
            "a forward curve and a GPU model per product");
  const std::string hash = model_content_hash(m);
  const std::string date = m.record.business_date.format();
  // One build of a date stores at a time: versions are consecutive and a repeat finds the first.
  db::exec_cached(tx, "SELECT pg_advisory_xact_lock(hashtext('margin.model'), $1::date - DATE '2000-01-01')", date);
  const auto existing = db::exec_cached(
      tx,
      "SELECT " + kModelColumns + " FROM margin.model WHERE business_date = $1::date AND content_hash = $2 "
      "ORDER BY version DESC LIMIT 1",
      date, hash);
  if (!existing.empty()) return StoredModel{record_of(existing[0]), false};
  std::vector<BusinessDate> discount_dates;
  std::vector<double> discount_factors;
  for (const auto& node : m.discount.nodes()) {
    discount_dates.push_back(node.date);
    discount_factors.push_back(node.discount_factor);
  }
  const MarginModel& model = m.model;
  const auto id =
      db::exec_cached(
          tx,
          "INSERT INTO margin.model (business_date, version, curve_set_id, parameter_version, factor_history_hash, "
          "factor_snapshot_ids, history_first, history_last, history_dates, stress_first, stress_last, "
          "stress_selected, discount_dates, discount_factors, content_hash, built_by, request_id, build_microseconds) "
          "SELECT $1::date, COALESCE(max(version), 0) + 1, $2, $3, $4, $5::bigint[], $6::date, $7::date, $8, "
          "$9::date, $10::date, $11, $12::date[], $13::float8[], $14, $15, $16, $17 "
          "FROM margin.model WHERE business_date = $1::date RETURNING model_id",
          date, m.record.curve_set_id, m.record.parameter_version, m.record.factor_history_hash,
          db::integer_array(m.record.factor_snapshot_ids), m.record.history_first.format(),
          m.record.history_last.format(), m.record.history_dates, model.scenarios.stress_first.format(),
          model.scenarios.stress_last.format(), model.scenarios.stress_selected, date_array(discount_dates),
          db::double_array(discount_factors), hash, built_by, request_id, m.record.build_microseconds)
          .at(0)[0]
          .as<std::int64_t>();
  for (std::size_t i = 0; i < model.products.size(); ++i) {
    const ModelProduct& p = model.products[i];
    const auto sigma = [&](const std::vector<double>& all) {
      return db::double_array(std::span<const double>(all).subspan(i * kBucketCount, kBucketCount));
    };
    db::exec_cached(tx,
                    "INSERT INTO margin.model_product (model_id, product_index, product_id, gpu_model, generation, "
                    "open_interest_gpu_hours, spread_ticks, first_day, daily_prices, sigma_today, sigma_mean, "
                    "sigma_used) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::date, $9::float8[], $10::float8[], "
                    "$11::float8[], $12::float8[])",
                    id, static_cast<std::int32_t>(i), p.product.value(), m.gpu_models[i], p.generation,
                    p.open_interest_gpu_hours, p.spread_ticks, m.forwards[i].first_day().format(),
                    db::double_array(m.forwards[i].daily_prices()), sigma(model.scenarios.sigma_today),
                    sigma(model.scenarios.sigma_mean), sigma(model.scenarios.sigma_used));
  }
  for (const ClassScenarios& c : model.scenarios.classes) {
    db::exec_cached(tx,
                    "INSERT INTO margin.model_class (model_id, margin_class, mpor_days, confidence_bp, "
                    "filtered_dates, stressed_dates, moves_ppb) VALUES ($1, $2, $3, $4, $5::date[], $6::date[], "
                    "$7::bigint[])",
                    id, std::string(to_string(c.margin_class)), c.mpor_days,
                    model.parameters.of(c.margin_class).confidence_bp, date_array(c.filtered_dates),
                    date_array(c.stressed_dates), db::integer_array(c.moves_ppb));
  }
  return StoredModel{*find_model_record(tx, id), true};
}

std::optional<ModelRecord> find_model_record(pqxx::transaction_base& tx, std::int64_t model_id) {
  const auto rows = db::exec_cached(tx, "SELECT " + kModelColumns + " FROM margin.model WHERE model_id = $1", model_id);
  if (rows.empty()) return std::nullopt;
  return record_of(rows[0]);
}

std::optional<ModelRecord> latest_model_record(pqxx::transaction_base& tx) {
  const auto rows = db::exec_cached(
      tx, "SELECT " + kModelColumns + " FROM margin.model ORDER BY business_date DESC, version DESC LIMIT 1");
  if (rows.empty()) return std::nullopt;
  return record_of(rows[0]);
}

std::vector<ModelRecord> list_model_records(pqxx::transaction_base& tx, std::optional<BusinessDate> business_date,
                                            std::size_t limit) {
  const auto rows = db::exec_cached(
      tx,
      "SELECT " + kModelColumns + " FROM margin.model WHERE $1::date IS NULL OR business_date = $1::date "
      "ORDER BY business_date DESC, version DESC LIMIT $2",
      business_date ? std::optional<std::string>(business_date->format()) : std::nullopt,
      static_cast<std::int64_t>(limit));
  std::vector<ModelRecord> out;
  for (const auto& row : rows) out.push_back(record_of(row));
  return out;
}

std::optional<PublishedModel> load_model(pqxx::transaction_base& tx, std::int64_t model_id) {
  auto record = find_model_record(tx, model_id);
  if (!record) return std::nullopt;
  const auto head = db::exec_cached(
      tx,
      "SELECT stress_first::text, stress_last::text, stress_selected, discount_dates, discount_factors "
      "FROM margin.model WHERE model_id = $1",
      model_id);
  const auto discount_dates = dates_of(head[0][3]);
  const auto discount_factors = db::doubles_of(head[0][4]);
  std::vector<pricing::DiscountNode> nodes;
  for (std::size_t i = 0; i < discount_dates.size(); ++i) nodes.push_back({discount_dates[i], discount_factors[i]});
  const auto parameters = find_parameters(tx, record->parameter_version);
  CCH_CHECK(parameters.has_value(), "a model's parameter version exists");
  PublishedModel out{std::move(*record), MarginModel{}, {}, {}, pricing::DiscountCurve(std::move(nodes))};
  MarginModel& model = out.model;
  model.parameters = parameters->parameters;
  model.scenarios.as_of = out.record.business_date;
  model.scenarios.stress_first = date_of(head[0][0]);
  model.scenarios.stress_last = date_of(head[0][1]);
  model.scenarios.stress_selected = head[0][2].as<bool>();
  const auto products = db::exec_cached(
      tx,
      "SELECT product_id, gpu_model, generation, open_interest_gpu_hours, spread_ticks, first_day::text, "
      "daily_prices, sigma_today, sigma_mean, sigma_used FROM margin.model_product WHERE model_id = $1 "
      "ORDER BY product_index",
      model_id);
  std::int32_t generations = 0;
  for (const auto& row : products) {
    ModelProduct p{ProductId::from_value(row[0].as<std::int64_t>()).value()};
    p.generation = row[2].as<std::int32_t>();
    p.open_interest_gpu_hours = row[3].as<std::int64_t>();
    p.spread_ticks = row[4].as<std::int64_t>();
    generations = std::max(generations, p.generation + 1);
    model.products.push_back(p);
    out.gpu_models.push_back(row[1].as<std::string>());
    out.forwards.emplace_back(date_of(row[5]), db::doubles_of(row[6]));
    for (const auto& [column, target] : {std::pair{7, &model.scenarios.sigma_today}, std::pair{8, &model.scenarios.sigma_mean},
                                          std::pair{9, &model.scenarios.sigma_used}}) {
      const auto values = db::doubles_of(row[column]);
      target->insert(target->end(), values.begin(), values.end());
    }
  }
  model.generation_count = std::max(generations, 1);
  model.scenarios.factor_count = model.factor_count();
  const auto classes = db::exec_cached(
      tx,
      "SELECT margin_class, mpor_days, filtered_dates, stressed_dates, moves_ppb FROM margin.model_class "
      "WHERE model_id = $1",
      model_id);
  for (const auto& row : classes) {
    const MarginClass c = row[0].as<std::string>() == "future" ? MarginClass::future : MarginClass::forward;
    ClassScenarios& scenarios = model.scenarios.classes[static_cast<std::size_t>(c)];
    scenarios.margin_class = c;
    scenarios.mpor_days = row[1].as<std::int32_t>();
    scenarios.filtered_dates = dates_of(row[2]);
    scenarios.stressed_dates = dates_of(row[3]);
    scenarios.moves_ppb = db::integers_of(row[4]);
  }
  check_model(model);
  return out;
}

std::vector<ParameterVersion> list_parameters(pqxx::transaction_base& tx, std::optional<std::int64_t> before,
                                             std::size_t limit) {
  const auto rows = db::exec_cached(tx,
                                    "SELECT " + kParameterColumns +
                                        " FROM margin.parameter_set WHERE $1::bigint IS NULL OR version < $1 "
                                        "ORDER BY version DESC LIMIT $2",
                                    before, static_cast<std::int64_t>(limit));
  std::vector<ParameterVersion> out;
  for (const auto& row : rows) out.push_back(parameters_of(row));
  return out;
}

std::vector<ModelRecord> list_models(pqxx::transaction_base& tx, std::optional<BusinessDate> business_date,
                                     std::optional<std::int64_t> before, std::size_t limit) {
  const auto rows = db::exec_cached(
      tx,
      "SELECT " + kModelColumns + " FROM margin.model WHERE ($1::date IS NULL OR business_date = $1::date) "
      "AND ($2::bigint IS NULL OR model_id < $2) ORDER BY model_id DESC LIMIT $3",
      business_date ? std::optional<std::string>(business_date->format()) : std::nullopt, before,
      static_cast<std::int64_t>(limit));
  std::vector<ModelRecord> out;
  for (const auto& row : rows) out.push_back(record_of(row));
  return out;
}

std::optional<ModelSummary> model_summary(pqxx::transaction_base& tx, std::int64_t model_id) {
  auto record = find_model_record(tx, model_id);
  if (!record) return std::nullopt;
  ModelSummary out;
  out.record = std::move(*record);
  const auto head = db::exec_cached(
      tx, "SELECT stress_first::text, stress_last::text, stress_selected FROM margin.model WHERE model_id = $1",
      model_id);
  out.stress_first = date_of(head.at(0)[0]);
  out.stress_last = date_of(head.at(0)[1]);
  out.stress_selected = head.at(0)[2].as<bool>();
  const auto products = db::exec_cached(
      tx,
      "SELECT product_index, product_id, gpu_model, generation, open_interest_gpu_hours, spread_ticks, "
      "first_day::text, cardinality(daily_prices) FROM margin.model_product WHERE model_id = $1 ORDER BY product_index",
      model_id);
  for (const auto& row : products) {
    out.products.push_back(ModelProductSummary{row[0].as<std::int32_t>(),
                                               ProductId::from_value(row[1].as<std::int64_t>()).value(),
                                               row[2].as<std::string>(), row[3].as<std::int32_t>(),
                                               row[4].as<std::int64_t>(), row[5].as<std::int64_t>(), date_of(row[6]),
                                               row[7].as<std::int32_t>()});
  }
  const auto classes = db::exec_cached(
      tx,
      "SELECT margin_class, mpor_days, confidence_bp, cardinality(filtered_dates), cardinality(stressed_dates) "
      "FROM margin.model_class WHERE model_id = $1",
      model_id);
  for (const auto& row : classes) {
    const MarginClass c = row[0].as<std::string>() == "future" ? MarginClass::future : MarginClass::forward;
    out.classes[static_cast<std::size_t>(c)] = ModelClassSummary{c, row[1].as<std::int32_t>(), row[2].as<std::int32_t>(),
                                                                 row[3].as<std::int32_t>(), row[4].as<std::int32_t>()};
  }
  return out;
}

std::optional<ScenarioSlice> scenario_slice(pqxx::transaction_base& tx, std::int64_t model_id, MarginClass margin_class,
                                            std::size_t first_factor, std::size_t factor_count) {
  // Within the largest model, so that the subscripts below stay far inside integer.
  first_factor = std::min(first_factor, kFactorCountMax);
  factor_count = std::min(factor_count, kFactorCountMax - first_factor);
  const auto rows = db::exec_cached(
      tx,
      "SELECT mpor_days, confidence_bp, filtered_dates, stressed_dates, "
      "moves_ppb[($3::bigint * n + 1)::integer : (($3::bigint + $4::bigint) * n)::integer] "
      "FROM (SELECT *, cardinality(filtered_dates) + cardinality(stressed_dates) AS n FROM margin.model_class "
      "WHERE model_id = $1 AND margin_class = $2) AS c",
      model_id, std::string(to_string(margin_class)), static_cast<std::int64_t>(first_factor),
      static_cast<std::int64_t>(factor_count));
  if (rows.empty()) return std::nullopt;
  ScenarioSlice out;
  out.margin_class = margin_class;
  out.mpor_days = rows[0][0].as<std::int32_t>();
  out.confidence_bp = rows[0][1].as<std::int32_t>();
  out.filtered_dates = dates_of(rows[0][2]);
  out.stressed_dates = dates_of(rows[0][3]);
  out.first_factor = first_factor;
  out.moves_ppb = db::integers_of(rows[0][4]);
  const std::size_t scenarios = out.scenario_count();
  CCH_CHECK(scenarios > 0 && out.moves_ppb.size() % scenarios == 0, "a slice holds whole factors");
  out.factor_count = out.moves_ppb.size() / scenarios;
  return out;
}

}  // namespace cch::margin
