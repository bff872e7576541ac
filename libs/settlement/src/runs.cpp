#include "cch/settlement/runs.hpp"

#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/transaction>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <charconv>
#include <exception>
#include <map>
#include <stdexcept>
#include <thread>
#include <utility>
#include <tuple>
#include <unordered_map>

#include "cch/core/check.hpp"
#include "cch/core/decimal.hpp"
#include "cch/core/log.hpp"
#include "cch/core/money.hpp"
#include "cch/db/array.hpp"
#include "cch/db/copy_writer.hpp"
#include "cch/db/prepared.hpp"
#include "cch/ledger/accounts.hpp"
#include "cch/ledger/journal.hpp"
#include "cch/ledger/post.hpp"
#include "cch/ledger/queries.hpp"
#include "cch/market/market_data.hpp"
#include "cch/registry/catalog.hpp"
#include "cch/risk/curve_sets.hpp"
#include "cch/risk/marks.hpp"
#include "deliveries_step.hpp"

namespace cch::settlement {

std::string_view to_string(RunState state) {
  switch (state) {
    case RunState::running: return "running";
    case RunState::completed: return "completed";
    case RunState::reversed: return "reversed";
  }
  return "running";
}

std::string_view to_string(RunStep step) {
  switch (step) {
    case RunStep::prices: return "prices";
    case RunStep::marks: return "marks";
    case RunStep::variation_margin: return "variation_margin";
    case RunStep::deliveries: return "deliveries";
    case RunStep::complete: return "complete";
  }
  return "prices";
}

std::string_view to_string(SettleRefusal refusal) {
  switch (refusal) {
    case SettleRefusal::not_a_business_date: return "not_a_business_date";
    case SettleRefusal::business_date_in_future: return "business_date_in_future";
    case SettleRefusal::no_curve_set: return "no_curve_set";
    case SettleRefusal::settlement_prices_missing: return "settlement_prices_missing";
    case SettleRefusal::earlier_run_unfinished: return "earlier_run_unfinished";
    case SettleRefusal::later_date_settled: return "later_date_settled";
    case SettleRefusal::settlement_run_in_progress: return "settlement_run_in_progress";
    case SettleRefusal::marks_refused: return "marks_refused";
    case SettleRefusal::date_reversed_without_correction: return "date_reversed_without_correction";
    case SettleRefusal::unknown_run: return "unknown_run";
    case SettleRefusal::run_already_reversed: return "run_already_reversed";
    case SettleRefusal::invalid_reason: return "invalid_reason";
    case SettleRefusal::index_fixings_missing: return "index_fixings_missing";
    case SettleRefusal::buy_in_price_missing: return "buy_in_price_missing";
    case SettleRefusal::disputes_decided_since: return "disputes_decided_since";
    case SettleRefusal::unknown_product: return "unknown_product";
    case SettleRefusal::fallback_already_approved: return "fallback_already_approved";
  }
  return "no_curve_set";
}

std::string_view to_string(FallbackMethod method) {
  switch (method) {
    case FallbackMethod::curve: return "curve";
  }
  return "curve";
}

std::optional<FallbackMethod> fallback_method_of(std::string_view text) {
  if (text == "curve") return FallbackMethod::curve;
  return std::nullopt;
}

std::int64_t price_alignment_interest(std::int64_t cumulative_minor, std::int64_t rate_e8, std::int32_t days) {
  CCH_CHECK(cumulative_minor >= -kAmountMinorMax && cumulative_minor <= kAmountMinorMax, "PAI: cumulative in bounds");
  CCH_CHECK(rate_e8 >= -100'000'000 && rate_e8 <= 100'000'000, "PAI: rate in bounds");
  CCH_CHECK(days >= 0 && days <= 366, "PAI: days in bounds");
  // |numerator| <= 10^15 x 10^8 x 366 < 2^127: exact in 128 bits.
  const Int128 numerator = -static_cast<Int128>(cumulative_minor) * rate_e8 * days;
  const Int128 denominator = static_cast<Int128>(360) * 100'000'000;
  const Int128 magnitude = numerator < 0 ? -numerator : numerator;
  const Int128 rounded = (2 * magnitude + denominator) / (2 * denominator);  // half away from zero
  return static_cast<std::int64_t>(numerator < 0 ? -rounded : rounded);
}

namespace {

// The advisory lock's first key ("cchs"); the second is the business date's day number.
constexpr std::int32_t kLockClass = 0x63636873;

const std::string kRunColumns =
    "run_id, business_date::text, attempt, state, curve_set_id, previous_run_id, previous_curve_set_id, "
    "ois_snapshot_id, overnight_tenor, overnight_rate_e8, interest_days, interest_rate_e8, "
    "(extract(epoch FROM started_at) * 1000000)::bigint, started_by, request_id, "
    "(extract(epoch FROM completed_at) * 1000000)::bigint, (extract(epoch FROM cut_off) * 1000000)::bigint, "
    "(extract(epoch FROM reversed_at) * 1000000)::bigint, reversed_by, reversal_reason";

UtcTimestamp timestamp_of(const pqxx::field& field) {
  return UtcTimestamp::from_unix_microseconds(field.as<std::int64_t>()).value();
}

RunState state_of(const std::string& text) {
  if (text == "completed") return RunState::completed;
  if (text == "reversed") return RunState::reversed;
  return RunState::running;
}

std::optional<RunStep> step_of(const std::string& text) {
  for (const RunStep step : kRunSteps) {
    if (to_string(step) == text) return step;
  }
  return std::nullopt;
}

SettlementRun run_of(const pqxx::row& row) {
  SettlementRun run;
  run.run_id = row[0].as<std::int64_t>();
  run.business_date = BusinessDate::parse(row[1].as<std::string>()).value();
  run.attempt = row[2].as<std::int32_t>();
  run.state = state_of(row[3].as<std::string>());
  run.curve_set_id = row[4].as<std::int64_t>();
  if (!row[5].is_null()) run.previous_run_id = row[5].as<std::int64_t>();
  if (!row[6].is_null()) run.previous_curve_set_id = row[6].as<std::int64_t>();
  run.ois_snapshot_id = row[7].as<std::int64_t>();
  run.overnight_tenor = row[8].as<std::string>();
  run.overnight_rate_e8 = row[9].as<std::int64_t>();
  run.interest_days = row[10].as<std::int32_t>();
  run.interest_rate_e8 = row[11].as<std::int64_t>();
  run.started_at = timestamp_of(row[12]);
  run.started_by = row[13].as<std::string>();
  if (!row[14].is_null()) run.request_id = row[14].as<std::string>();
  if (!row[15].is_null()) run.completed_at = timestamp_of(row[15]);
  run.cut_off = timestamp_of(row[16]);
  if (!row[17].is_null()) run.reversed_at = timestamp_of(row[17]);
  if (!row[18].is_null()) run.reversed_by = row[18].as<std::string>();
  if (!row[19].is_null()) run.reversal_reason = row[19].as<std::string>();
  return run;
}

void load_steps(pqxx::transaction_base& tx, SettlementRun& run) {
  run.steps.clear();
  for (const auto& row : db::exec_cached(tx,
                                         "SELECT step, (extract(epoch FROM started_at) * 1000000)::bigint, "
                                         "(extract(epoch FROM finished_at) * 1000000)::bigint, counts::text "
                                         "FROM settlement.run_step WHERE run_id = $1",
                                         run.run_id)) {
    const auto step = step_of(row[0].as<std::string>());
    CCH_CHECK(step.has_value(), "a recorded step is a known step");
    run.steps.push_back({*step, timestamp_of(row[1]), timestamp_of(row[2]), row[3].as<std::string>()});
  }
  std::sort(run.steps.begin(), run.steps.end(),
            [](const StepRecord& a, const StepRecord& b) { return static_cast<int>(a.step) < static_cast<int>(b.step); });
  run.price_fallbacks.clear();
  for (const auto& row : db::exec_cached(tx,
                                         "SELECT f.product_id, f.fallback_id, f.legs, lower(r)::text, "
                                         "(upper(r) - 1)::text, upper(r) - lower(r) "
                                         "FROM settlement.run_price_fallback f, unnest(f.days) r WHERE f.run_id = $1 "
                                         "ORDER BY f.product_id, lower(r)",
                                         run.run_id)) {
    const ProductId product(row[0].as<std::int64_t>());
    if (run.price_fallbacks.empty() || run.price_fallbacks.back().product != product) {
      run.price_fallbacks.push_back({product, row[1].as<std::int64_t>(), {}, 0, row[2].as<std::int64_t>()});
    }
    RunPriceFallback& fallback = run.price_fallbacks.back();
    fallback.days.push_back({BusinessDate::parse(row[3].as<std::string>()).value(),
                             BusinessDate::parse(row[4].as<std::string>()).value()});
    fallback.day_count += row[5].as<std::int64_t>();
  }
}

std::optional<SettlementRun> one_run(pqxx::transaction_base& tx, const pqxx::result& rows) {
  if (rows.empty()) return std::nullopt;
  SettlementRun run = run_of(rows[0]);
  load_steps(tx, run);
  return run;
}

// A business date's settlement lock (a session advisory lock) on a connection that is closed
// rather than returned to the pool (the lease discarded), so that no path can hand a connection
// still holding it to another user. Released explicitly as well when the holder goes out of scope:
// a closed connection's session ends a moment later, on the server's time, and a retry at once
// (a stopped run started again, a test) must not find the date still locked by a session that is
// going away. Unlocking may fail only on a broken connection, whose session ends anyway.
class DateLock {
 public:
  // Takes the lock, or answers nullopt if another session holds it.
  static std::optional<DateLock> take(pqxx::connection& connection, BusinessDate date) {
    pqxx::nontransaction lock(connection);
    if (!lock.exec_params1("SELECT pg_try_advisory_lock($1, $2)", kLockClass,
                           static_cast<std::int32_t>(date.days_since_epoch()))[0]
             .as<bool>()) {
      return std::nullopt;
    }
    return DateLock(connection, date);
  }
  DateLock(DateLock&& other) noexcept : connection_(std::exchange(other.connection_, nullptr)), date_(other.date_) {}
  DateLock(const DateLock&) = delete;
  DateLock& operator=(const DateLock&) = delete;
  DateLock& operator=(DateLock&&) = delete;
  ~DateLock() {
    if (connection_ == nullptr) return;
    try {
      pqxx::nontransaction unlock(*connection_);
      unlock.exec_params("SELECT pg_advisory_unlock($1, $2)", kLockClass,
                         static_cast<std::int32_t>(date_.days_since_epoch()));
    } catch (...) {  // NOLINT(bugprone-empty-catch): the connection is closed after this anyway
    }
  }

 private:
  DateLock(pqxx::connection& connection, BusinessDate date) : connection_(&connection), date_(date) {}
  pqxx::connection* connection_;
  BusinessDate date_;
};

SettleError refuse(SettleRefusal refusal, std::string detail) { return SettleError{refusal, std::move(detail)}; }

void record_step(pqxx::transaction_base& tx, std::int64_t run_id, RunStep step, UtcTimestamp started,
                 const std::string& counts) {
  db::exec_cached(tx,
                  "INSERT INTO settlement.run_step (run_id, step, started_at, counts) "
                  "VALUES ($1, $2, to_timestamp($3::double precision / 1000000), $4::jsonb)",
                  run_id, std::string(to_string(step)), started.unix_microseconds(), counts);
}

std::string count_field(std::string_view name, std::int64_t value) {
  return "\"" + std::string(name) + "\": " + std::to_string(value);
}

// The first step: the date checked, its inputs fixed, the run row created. Answers its id, or
// why the date cannot be settled (nothing written).
Result<std::int64_t, SettleError> start_run(pqxx::transaction_base& tx, const SettleRequest& request) {
  const BusinessDate date = request.business_date;
  const auto curve_set = risk::latest_curve_set(tx, date);
  if (!curve_set) {
    return fail(refuse(SettleRefusal::no_curve_set,
                       "no curve set of " + date.format() + ": enter the day's market data and build it first"));
  }
  // The legs of the trades cleared before the end of the day, or before now if it has not ended.
  const UtcTimestamp next_day = date.add_days(1).value().start_of_day();
  const UtcTimestamp cut_off = std::min(next_day, request.now);
  // Every product with such an open leg needs the day's prices (a forward curve in the set).
  const std::string first_day = next_day.format();
  std::vector<std::int64_t> priced;
  for (const ProductId product : curve_set->products) priced.push_back(product.value());
  const auto missing = tx.exec_params(
      "SELECT p.product_id, p.code FROM cch.product p WHERE NOT (p.product_id = ANY($1::bigint[])) "
      "AND EXISTS (SELECT 1 FROM cch.trade_leg l JOIN cch.trade t USING (trade_id) WHERE l.product_id = p.product_id "
      "AND l.delivery_end > $2::timestamptz AND t.decided_at < $3::timestamptz) ORDER BY p.product_id",
      db::integer_array(priced), first_day, cut_off.format());
  if (!missing.empty()) {
    std::string names;
    for (const auto& row : missing) names += (names.empty() ? "" : ", ") + row[1].as<std::string>();
    return fail(refuse(SettleRefusal::settlement_prices_missing,
                       "open legs of " + names + " have no settlement price of " + date.format() +
                           " in curve set " + std::to_string(curve_set->curve_set_id) +
                           ": enter the day's settlement prices and build the curve set again"));
  }
  // The trades ending by the cut-off need their fixings (cash) and buy-in prices (short deliveries).
  if (auto blocked = detail::check_deliveries(tx, cut_off, request.buy_in_penalty_bps,
                                              request.delivery_fee_ticks_per_gpu_hour)) {
    return fail(*blocked);
  }
  const auto reversed = tx.exec_params(
      "SELECT run_id, curve_set_id FROM settlement.run WHERE business_date = $1::date AND state = 'reversed' "
      "ORDER BY attempt DESC LIMIT 1",
      date.format());
  if (!reversed.empty() && reversed[0][1].as<std::int64_t>() == curve_set->curve_set_id) {
    return fail(refuse(SettleRefusal::date_reversed_without_correction,
                       "run " + reversed[0][0].as<std::string>() + " of " + date.format() +
                           " was reversed and its curve set " + std::to_string(curve_set->curve_set_id) +
                           " is still the date's latest: enter the corrected market data and build the curve set "
                           "again"));
  }
  const auto later = tx.exec_params(
      "SELECT business_date::text FROM settlement.run WHERE state <> 'reversed' AND business_date > $1::date "
      "ORDER BY business_date LIMIT 1",
      date.format());
  if (!later.empty()) {
    return fail(refuse(SettleRefusal::later_date_settled,
                       "a later date, " + later[0][0].as<std::string>() + ", is settled: reverse its run first"));
  }
  const auto previous_rows = tx.exec_params("SELECT " + kRunColumns +
                                                " FROM settlement.run WHERE state <> 'reversed' AND business_date < "
                                                "$1::date ORDER BY business_date DESC LIMIT 1",
                                            date.format());
  std::optional<SettlementRun> previous;
  if (!previous_rows.empty()) previous = run_of(previous_rows[0]);
  if (previous && previous->state != RunState::completed) {
    return fail(refuse(SettleRefusal::earlier_run_unfinished,
                       "the run of " + previous->business_date.format() + " (" + std::to_string(previous->run_id) +
                           ") is not complete: settle that date first"));
  }
  // The overnight rate: the shortest tenor of the SOFR OIS quotes the curve set was built from.
  std::optional<market::OisQuotes> ois;
  for (const std::int64_t snapshot_id : curve_set->input_snapshots) {
    const auto snapshot = market::find_snapshot_by_id(tx, snapshot_id);
    if (snapshot && snapshot->kind == market::DataKind::ois) {
      ois = market::ois_quotes(tx, snapshot->business_date, snapshot->version);
      break;
    }
  }
  CCH_CHECK(ois.has_value() && !ois->quotes.empty(), "a curve set is built from a set of OIS quotes");
  const std::int32_t attempt =
      1 + static_cast<std::int32_t>(
              tx.exec_params1("SELECT count(*) FROM settlement.run WHERE business_date = $1::date", date.format())[0]
                  .as<std::int64_t>());
  const std::int32_t days = previous ? static_cast<std::int32_t>(date.days_since_epoch() -
                                                                 previous->business_date.days_since_epoch())
                                     : 0;
  const auto created = tx.exec_params1(
      "INSERT INTO settlement.run (business_date, attempt, state, curve_set_id, previous_run_id, "
      "previous_curve_set_id, ois_snapshot_id, overnight_tenor, overnight_rate_e8, interest_days, interest_rate_e8, "
      "started_by, request_id, cut_off) VALUES ($1::date, $2, 'running', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, "
      "$13::timestamptz) RETURNING run_id",
      date.format(), attempt, curve_set->curve_set_id,
      previous ? std::optional<std::int64_t>(previous->run_id) : std::nullopt,
      previous ? std::optional<std::int64_t>(previous->curve_set_id) : std::nullopt, ois->snapshot.snapshot_id,
      ois->quotes.front().tenor.text(), ois->quotes.front().rate_e8, days,
      previous ? previous->overnight_rate_e8 : std::int64_t{0}, request.started_by, request.request_id,
      cut_off.format());
  const std::int64_t run_id = created[0].as<std::int64_t>();
  // The run's marks go into a table of their own, made here with the run, which the marks step
  // fills and then attaches as the run's partition of settlement.leg_mark (migration 0028).
  tx.exec_params("SELECT settlement.add_leg_mark_partition($1)", run_id);
  return run_id;
}

struct GroupKey {
  std::int64_t member = 0;
  std::int64_t product = 0;
  bool future = false;
  friend bool operator==(const GroupKey&, const GroupKey&) = default;
};
struct GroupKeyHash {
  std::size_t operator()(const GroupKey& key) const noexcept {
    return std::hash<std::int64_t>{}((key.member * 1'000'003 + key.product) * 2 + (key.future ? 1 : 0));
  }
};
struct GroupSums {
  std::int64_t legs = 0;
  std::int64_t previous_legs = 0;
  Int128 pv = 0;
  Int128 previous = 0;
};

// A leg's mark as the marks step writes it.
struct MarkRow {
  std::int64_t trade = 0;
  std::int64_t member = 0;
  std::int64_t product = 0;
  std::int64_t pv = 0;
  bool buy = true;
  bool future = false;
};
constexpr std::size_t kChunkRows = 16'384;
constexpr std::size_t kQueuedChunksMax = 8;  // at most about 130,000 marks wait to be written

// A queue of at most `capacity` items between one producer and one consumer: push waits while it
// is full, pop while it is empty and open; close ends it (pop answers false once it is empty);
// abandon ends it at once for both sides (push answers false).
template <class T>
class BoundedQueue {
 public:
  explicit BoundedQueue(std::size_t capacity) : capacity_(capacity) {}
  bool push(T item) {
    std::unique_lock lock(mutex_);
    not_full_.wait(lock, [&] { return items_.size() < capacity_ || abandoned_; });
    if (abandoned_) return false;
    items_.push_back(std::move(item));
    not_empty_.notify_one();
    return true;
  }
  bool pop(T& item) {
    std::unique_lock lock(mutex_);
    not_empty_.wait(lock, [&] { return !items_.empty() || closed_; });
    if (items_.empty()) return false;
    item = std::move(items_.front());
    items_.pop_front();
    not_full_.notify_one();
    return true;
  }
  void close() {
    const std::lock_guard lock(mutex_);
    closed_ = true;
    not_empty_.notify_all();
  }
  void abandon() {
    const std::lock_guard lock(mutex_);
    abandoned_ = closed_ = true;
    items_.clear();
    not_full_.notify_all();
    not_empty_.notify_all();
  }

 private:
  const std::size_t capacity_;
  std::mutex mutex_;
  std::condition_variable not_full_;
  std::condition_variable not_empty_;
  std::deque<T> items_;  // guarded by mutex_
  bool closed_ = false;
  bool abandoned_ = false;
};

// Which days of each product the run's settlement prices cover (the quoted periods of the curve
// set's settlement snapshots), and which days the open legs need that they do not: per leg, from
// the day after the business date (the forward curves' first day) to the day its window ends.
// need() is called for every leg (on the marking thread); uncovered() after.
class PriceCoverage {
 public:
  struct Uncovered {
    std::vector<char> days;  // days[i]: first_needed_day + i needed and not covered
    std::int64_t legs = 0;
  };

  PriceCoverage(pqxx::transaction_base& tx, std::int64_t curve_set_id, BusinessDate business_date)
      : first_needed_day_(business_date.days_since_epoch() + 1) {
    for (const auto& row : db::exec_cached(
             tx,
             "SELECT s.product_id, p.first_day - DATE '1970-01-01', p.end_day - DATE '1970-01-01' "
             "FROM risk.curve_set_input i JOIN market.snapshot s USING (snapshot_id) "
             "JOIN market.settlement_price p USING (snapshot_id) WHERE i.curve_set_id = $1 AND s.kind = 'settlement' "
             "ORDER BY 1, 2",
             curve_set_id)) {
      auto& periods = covered_[row[0].as<std::int64_t>()];
      const std::int64_t first = row[1].as<std::int64_t>();
      const std::int64_t end = row[2].as<std::int64_t>();
      // Sorted by first day: merge what overlaps or touches the last period.
      if (!periods.empty() && first <= periods.back().second) {
        periods.back().second = std::max(periods.back().second, end);
      } else {
        periods.emplace_back(first, end);
      }
    }
  }

  void need(std::int64_t product, UtcTimestamp delivery_start, UtcTimestamp delivery_end) {
    constexpr std::int64_t kDay = 86'400'000'000;
    const std::int64_t first = std::max(delivery_start.unix_microseconds() / kDay, first_needed_day_);
    const std::int64_t end = (delivery_end.unix_microseconds() - 1) / kDay + 1;
    if (first >= end) return;
    const auto found = covered_.find(product);
    static const std::vector<std::pair<std::int64_t, std::int64_t>> kNone;
    const auto& periods = found == covered_.end() ? kNone : found->second;
    // The last period starting on or before the first day needed covers the window, or none does.
    auto at = std::upper_bound(periods.begin(), periods.end(), first,
                               [](std::int64_t day, const auto& period) { return day < period.first; });
    if (at != periods.begin() && std::prev(at)->second >= end) return;
    Uncovered& uncovered = uncovered_[product];
    ++uncovered.legs;
    if (uncovered.days.size() < static_cast<std::size_t>(end - first_needed_day_)) {
      uncovered.days.resize(static_cast<std::size_t>(end - first_needed_day_), 0);
    }
    if (at != periods.begin()) --at;
    for (std::int64_t day = first; day < end; ++day) {
      while (at != periods.end() && at->second <= day) ++at;
      if (at == periods.end() || day < at->first) uncovered.days[static_cast<std::size_t>(day - first_needed_day_)] = 1;
    }
  }

  // Per product, the days needed without a price, as ranges of whole days.
  [[nodiscard]] std::map<std::int64_t, std::pair<std::vector<DayRange>, std::int64_t>> uncovered() const {
    std::map<std::int64_t, std::pair<std::vector<DayRange>, std::int64_t>> out;
    for (const auto& [product, uncovered] : uncovered_) {
      auto& [ranges, legs] = out[product];
      legs = uncovered.legs;
      for (std::size_t i = 0; i < uncovered.days.size(); ++i) {
        if (uncovered.days[i] == 0) continue;
        std::size_t j = i;
        while (j + 1 < uncovered.days.size() && uncovered.days[j + 1] != 0) ++j;
        ranges.push_back({day(i), day(j)});
        i = j;
      }
    }
    return out;
  }

 private:
  [[nodiscard]] BusinessDate day(std::size_t offset) const {
    return BusinessDate::from_days_since_epoch(first_needed_day_ + static_cast<std::int64_t>(offset)).value();
  }
  std::int64_t first_needed_day_;
  std::unordered_map<std::int64_t, std::vector<std::pair<std::int64_t, std::int64_t>>> covered_;  // [first, end)
  std::unordered_map<std::int64_t, Uncovered> uncovered_;
};

std::string day_ranges_text(const std::vector<DayRange>& ranges, std::size_t at_most) {
  std::string text;
  for (std::size_t i = 0; i < ranges.size() && i < at_most; ++i) {
    text += (text.empty() ? "" : ", ") + ranges[i].first_day.format();
    if (ranges[i].last_day != ranges[i].first_day) text += ".." + ranges[i].last_day.format();
  }
  if (ranges.size() > at_most) text += " and " + std::to_string(ranges.size() - at_most) + " more ranges";
  return text;
}

// The days the open legs need that the run's prices do not cover: each product's approved
// fallback recorded for the run, or the run refused naming the products without one.
std::optional<SettleError> record_price_fallbacks(pqxx::transaction_base& tx, const SettlementRun& run,
                                                  const PriceCoverage& coverage, std::int64_t& fallback_legs,
                                                  std::int64_t& fallback_products) {
  const auto uncovered = coverage.uncovered();
  if (uncovered.empty()) return std::nullopt;
  std::vector<std::int64_t> products;
  for (const auto& [product, days] : uncovered) products.push_back(product);
  std::map<std::int64_t, std::int64_t> approved;
  std::map<std::int64_t, std::string> codes;
  for (const auto& row : tx.exec_params(
           "SELECT p.product_id, p.code, f.fallback_id FROM cch.product p LEFT JOIN settlement.price_fallback f "
           "ON f.product_id = p.product_id AND f.business_date = $2::date WHERE p.product_id = ANY($1::bigint[])",
           db::integer_array(products), run.business_date.format())) {
    codes[row[0].as<std::int64_t>()] = row[1].as<std::string>();
    if (!row[2].is_null()) approved[row[0].as<std::int64_t>()] = row[2].as<std::int64_t>();
  }
  std::string missing;
  for (const auto& [product, days] : uncovered) {
    if (approved.contains(product)) continue;
    missing += (missing.empty() ? "" : "; ") + codes[product] + " (product " + std::to_string(product) +
               "): " + day_ranges_text(days.first, 10) + " (" + std::to_string(days.second) + " legs)";
  }
  if (!missing.empty()) {
    return refuse(SettleRefusal::settlement_prices_missing,
                  "open legs need days that no settlement price of " + run.business_date.format() +
                      " in curve set " + std::to_string(run.curve_set_id) + " covers: " + missing +
                      ". Approve a fallback for the date (POST /v1/products/{product_id}/settlement-price-fallbacks) "
                      "and start the run again, or reverse run " + std::to_string(run.run_id) +
                      ", enter the prices and build the curve set again");
  }
  for (const auto& [product, days] : uncovered) {
    std::string multirange = "{";
    for (const DayRange& range : days.first) {
      multirange += (multirange.size() == 1 ? "[" : ",[") + range.first_day.format() + "," +
                    range.last_day.add_days(1).value().format() + ")";
    }
    multirange += "}";
    db::exec_cached(tx,
                    "INSERT INTO settlement.run_price_fallback (run_id, product_id, fallback_id, days, legs) "
                    "VALUES ($1, $2, $3, $4::datemultirange, $5)",
                    run.run_id, product, approved.at(product), multirange, days.second);
    fallback_legs += days.second;
    ++fallback_products;
  }
  return std::nullopt;
}

std::string marks_step(pqxx::transaction_base& tx, db::ConnectionPool& pool, const SettlementRun& run,
                       const BusinessCalendar& calendar, std::optional<SettleError>& refused) {
  const auto curves = risk::load_curves(tx, run.curve_set_id);
  CCH_CHECK(curves.has_value(), "a run's curve set is stored");
  // Each leg's variation margin is its mark less its previous mark (zero when new), and a leg no
  // longer open gives back its previous mark; a leg keeps its member, product and kind, so their
  // sum per member, product and kind is this run's sum of marks less the previous run's, which
  // its own sums hold (a few thousand rows instead of its million marks).
  std::unordered_map<GroupKey, GroupSums, GroupKeyHash> groups;
  std::int64_t previous_legs = 0;
  if (run.previous_run_id) {
    for (const auto& row : db::exec_cached(tx,
                                           "SELECT member_id, product_id, kind, legs, pv_minor "
                                           "FROM settlement.member_product_vm WHERE run_id = $1",
                                           *run.previous_run_id)) {
      GroupSums& sums = groups[GroupKey{row[0].as<std::int64_t>(), row[1].as<std::int64_t>(),
                                        row[2].as<std::string>() == "future"}];
      sums.previous_legs = row[3].as<std::int64_t>();
      sums.previous = row[4].as<std::int64_t>();
      previous_legs += sums.previous_legs;
    }
  }
  // The legs are read and marked on a second connection (a cleared trade's legs never change), in
  // chunks handed to this one, which writes each chunk's marks by COPY as it comes: the two COPYs
  // (out and in) overlap instead of following each other.
  PriceCoverage coverage(tx, run.curve_set_id, run.business_date);
  BoundedQueue<std::vector<MarkRow>> chunks(kQueuedChunksMax);
  std::optional<Result<risk::MarkedLegs, risk::MarkError>> marked;
  std::exception_ptr marking_failed;
  std::thread marker([&] {
    try {
      auto lease = pool.acquire();
      pqxx::read_transaction read(*lease);
      std::vector<MarkRow> chunk;
      chunk.reserve(kChunkRows);
      auto result = risk::mark_each_open_leg(read, *curves, calendar, run.cut_off, [&](const risk::LegMarkValue& leg) {
        chunk.push_back({leg.trade_id, leg.member_id, leg.product_id, leg.mark.pv_minor, leg.buy, leg.future});
        coverage.need(leg.product_id, leg.delivery_start, leg.delivery_end);
        if (chunk.size() == kChunkRows) {
          chunks.push(std::move(chunk));
          chunk = {};
          chunk.reserve(kChunkRows);
        }
      });
      if (!chunk.empty()) chunks.push(std::move(chunk));
      marked = std::move(result);
    } catch (...) {
      marking_failed = std::current_exception();
    }
    chunks.close();
  });
  const auto join_marker = [&] {
    if (marker.joinable()) marker.join();
  };
  Int128 total = 0;
  try {
    // Into the run's own table (its name made of the run's id), attached once it is full.
    db::CopyWriter out(tx, "settlement.leg_mark_" + std::to_string(run.run_id),
                       {"run_id", "trade_id", "side", "member_id", "product_id", "kind", "pv_minor"});
    std::vector<MarkRow> chunk;
    while (chunks.pop(chunk)) {
      for (const MarkRow& row : chunk) {
        out.integer(run.run_id)
            .integer(row.trade)
            .text(row.buy ? "buy" : "sell")
            .integer(row.member)
            .integer(row.product)
            .text(row.future ? "future" : "forward")
            .integer(row.pv)
            .end_row();
        total += row.pv;
        GroupSums& sums = groups[GroupKey{row.member, row.product, row.future}];
        ++sums.legs;
        sums.pv += row.pv;
      }
    }
    out.complete();
  } catch (...) {
    chunks.abandon();  // the marker stops handing chunks over
    join_marker();
    throw;
  }
  join_marker();
  if (marking_failed) std::rethrow_exception(marking_failed);
  // A refusal after the marks were written: the step's transaction does not commit.
  if (!*marked) {
    refused = refuse(SettleRefusal::marks_refused, marked->error().detail);
    return {};
  }
  if (!(*marked)->unmarked.empty()) {
    std::string products;
    for (const auto& [product, legs] : (*marked)->unmarked) {
      products += (products.empty() ? "" : ", ") + std::to_string(product) + " (" + std::to_string(legs) + " legs)";
    }
    refused = refuse(SettleRefusal::settlement_prices_missing,
                     "open legs of products " + products + " have no forward curve in curve set " +
                         std::to_string(run.curve_set_id));
    return {};
  }
  // Both sides of every trade are marked: the clearinghouse's book is flat.
  CCH_CHECK(total == 0, "a run's marks of a flat book sum to zero");
  std::int64_t fallback_legs = 0;
  std::int64_t fallback_products = 0;
  if (auto blocked = record_price_fallbacks(tx, run, coverage, fallback_legs, fallback_products)) {
    refused = std::move(blocked);
    return {};
  }
  // The marks' key built over the full table at once, and the table attached as the run's partition.
  tx.exec_params("SELECT settlement.attach_leg_mark_partition($1)", run.run_id);

  std::vector<GroupKey> keys;
  keys.reserve(groups.size());
  for (const auto& [key, sums] : groups) keys.push_back(key);
  std::sort(keys.begin(), keys.end(), [](const GroupKey& a, const GroupKey& b) {
    return std::tie(a.member, a.product, a.future) < std::tie(b.member, b.product, b.future);
  });
  // Written by COPY (40,000 groups for a thousand members of twenty products).
  db::CopyWriter sums_out(tx, "settlement.member_product_vm",
                          {"run_id", "member_id", "product_id", "kind", "legs", "previous_legs", "pv_minor",
                           "previous_pv_minor", "vm_minor"});
  for (const GroupKey& key : keys) {
    const GroupSums& sums = groups.at(key);
    CCH_CHECK(sums.pv >= -kAmountMinorMax && sums.pv <= kAmountMinorMax && sums.previous >= -kAmountMinorMax &&
                  sums.previous <= kAmountMinorMax,
              "a member's marks of a product within the largest amount");
    sums_out.integer(run.run_id)
        .integer(key.member)
        .integer(key.product)
        .text(key.future ? "future" : "forward")
        .integer(sums.legs)
        .integer(sums.previous_legs)
        .integer(static_cast<std::int64_t>(sums.pv))
        .integer(static_cast<std::int64_t>(sums.previous))
        .integer(static_cast<std::int64_t>(sums.pv - sums.previous))
        .end_row();
  }
  sums_out.complete();
  return "{" + count_field("curve_set_id", run.curve_set_id) + ", " + count_field("legs_marked", (*marked)->marked) +
         ", " + count_field("previous_legs", previous_legs) + ", " +
         count_field("groups", static_cast<std::int64_t>(keys.size())) + ", " +
         count_field("fallback_products", fallback_products) + ", " + count_field("fallback_legs", fallback_legs) +
         "}";
}

std::string variation_margin_step(pqxx::transaction_base& tx, const SettlementRun& run,
                                  const SettleRequest& request) {
  // Per member, from the marks step's sums per member, product and kind.
  const auto groups = tx.exec_params(
      "SELECT member_id, kind, legs, pv_minor, previous_pv_minor, vm_minor FROM settlement.member_product_vm "
      "WHERE run_id = $1",
      run.run_id);
  struct Sums {
    std::int64_t vm = 0;
    std::int64_t forward_vm = 0;
    std::int64_t forward_pv = 0;
    std::int64_t forward_previous_pv = 0;
  };
  std::map<std::int64_t, Sums> members;
  std::int64_t legs = 0;
  for (const auto& row : groups) {
    Sums& sums = members[row[0].as<std::int64_t>()];
    const bool forward = row[1].as<std::string>() == "forward";
    legs += row[2].as<std::int64_t>();
    const std::int64_t vm = row[5].as<std::int64_t>();
    sums.vm += vm;
    if (forward) {
      sums.forward_vm += vm;
      sums.forward_pv += row[3].as<std::int64_t>();
      sums.forward_previous_pv += row[4].as<std::int64_t>();
    }
  }
  std::vector<std::int64_t> ids;
  for (const auto& [member, sums] : members) ids.push_back(member);
  const auto accounts = detail::collateral_accounts(tx, ids);
  const AccountId clearing =
      ledger::open_house_account(tx, ledger::AccountKind::variation_margin_clearing, Currency::usd());

  // The cumulative forward variation margin telescopes: after a run it is the sum of the
  // forwards' marks in it, so before this run it is the previous run's marks of the same legs.
  std::vector<std::int64_t> vm, forward_vm, cumulative, pai, total;
  std::size_t journals = 0;
  for (const auto& [member, sums] : members) {
    vm.push_back(sums.vm);
    forward_vm.push_back(sums.forward_vm);
    cumulative.push_back(sums.forward_pv);
    pai.push_back(price_alignment_interest(sums.forward_previous_pv, run.interest_rate_e8, run.interest_days));
    total.push_back(vm.back() + pai.back());
    CCH_CHECK(total.back() >= -kAmountMinorMax && total.back() <= kAmountMinorMax,
              "a member's variation margin is within the largest amount");
    if (total.back() != 0) ++journals;
  }
  const auto journal_ids = ledger::allocate_journal_ids(tx, journals);
  std::vector<std::optional<std::string>> journal_of;
  std::vector<ledger::JournalDraft> drafts;
  std::size_t next = 0;
  std::int64_t paid = 0, received = 0;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (total[i] == 0) {
      journal_of.push_back(std::nullopt);
      continue;
    }
    const JournalId journal = journal_ids[next++];
    journal_of.push_back(journal.to_string());
    (total[i] < 0 ? paid : received) += total[i];
    ledger::JournalDraft draft;
    draft.idempotency_key =
        "settlement-vm:" + std::to_string(run.run_id) + ":" + std::to_string(ids[i]);
    draft.business_date = request.business_date;
    draft.kind = ledger::JournalKind::variation_margin;
    draft.cause = ledger::Cause{ledger::CauseKind::settlement_run, std::to_string(run.run_id)};
    draft.memo = "variation margin of " + request.business_date.format() + ", settlement run " +
                 std::to_string(run.run_id) + ": " + format_amount(Money{vm[i], Currency::usd()}) +
                 " and price alignment interest " + format_amount(Money{pai[i], Currency::usd()}) + " USD";
    draft.postings = {{accounts.at(ids[i]), Money{-total[i], Currency::usd()}},
                      {clearing, Money{total[i], Currency::usd()}}};
    draft.journal_id = journal;
    drafts.push_back(std::move(draft));
  }
  tx.exec_params(
      "INSERT INTO settlement.member_vm (run_id, member_id, vm_minor, forward_vm_minor, "
      "cumulative_forward_vm_minor, pai_minor, total_minor, journal_id) "
      "SELECT $1, * FROM unnest($2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], "
      "$8::bigint[])",
      run.run_id, db::integer_array(ids), db::integer_array(vm), db::integer_array(forward_vm),
      db::integer_array(cumulative), db::integer_array(pai), db::integer_array(total),
      db::nullable_text_array(journal_of));
  for (std::size_t from = 0; from < drafts.size(); from += ledger::kJournalsPerBatchMax) {
    const std::size_t to = std::min(drafts.size(), from + ledger::kJournalsPerBatchMax);
    const auto posted = ledger::post_batch(tx, std::span(drafts).subspan(from, to - from));
    for (std::size_t i = 0; i < posted.size(); ++i) {
      if (!posted[i]) {
        throw std::runtime_error("variation margin journal " + drafts[from + i].idempotency_key +
                                 " refused: " + std::string(ledger::to_string(posted[i].error())));
      }
    }
  }
  return "{" + count_field("legs", legs) + ", " + count_field("groups", static_cast<std::int64_t>(groups.size())) +
         ", " + count_field("members", static_cast<std::int64_t>(ids.size())) + ", " +
         count_field("journals", static_cast<std::int64_t>(drafts.size())) + ", " + count_field("paid_minor", paid) +
         ", " + count_field("received_minor", received) + "}";
}

std::string complete_step(pqxx::transaction_base& tx, const SettlementRun& run) {
  tx.exec_params("UPDATE settlement.run SET state = 'completed', completed_at = clock_timestamp() WHERE run_id = $1",
                 run.run_id);
  tx.exec_params(
      "INSERT INTO cch.outbox (topic, aggregate_id, payload) VALUES ('settlement.run_completed', $1::bigint, "
      "jsonb_build_object('run_id', $1::text, 'business_date', $2::text))",
      run.run_id, run.business_date.format());
  return "{}";
}

}  // namespace

Result<SettleOutcome, SettleError> settle(db::ConnectionPool& pool, const SettleRequest& request) {
  const BusinessDate date = request.business_date;
  if (!request.clearing_calendar.covers(date) || !request.clearing_calendar.is_business_day(date)) {
    return fail(refuse(SettleRefusal::not_a_business_date,
                       date.format() + " is not a business day of the " +
                           std::string(request.clearing_calendar.name()) + " calendar"));
  }
  if (BusinessDate::containing(request.now) < date) {
    return fail(refuse(SettleRefusal::business_date_in_future, date.format() + " is after today"));
  }
  auto lease = pool.acquire();
  lease.discard();  // the date's lock goes with the connection (DateLock)
  pqxx::connection& connection = *lease;
  const auto date_lock = DateLock::take(connection, date);
  if (!date_lock) {
    return fail(refuse(SettleRefusal::settlement_run_in_progress,
                       "the settlement of " + date.format() + " is being run by another process"));
  }
  SettleOutcome outcome;
  SettlementRun run;
  {
    pqxx::work tx(connection);
    const UtcTimestamp started = UtcTimestamp::now();
    auto live = live_run(tx, date);
    if (live && live->state == RunState::completed) {
      outcome.run = std::move(*live);
      return outcome;
    }
    if (live) {
      run = std::move(*live);
      outcome.resumed = true;
      tx.abort();
    } else {
      auto started_run = start_run(tx, request);
      if (!started_run) return fail(started_run.error());
      run = *find_run(tx, *started_run);
      record_step(tx, run.run_id, RunStep::prices, started,
                  "{" + count_field("curve_set_id", run.curve_set_id) + ", " +
                      count_field("previous_run_id", run.previous_run_id.value_or(0)) + ", " +
                      count_field("overnight_rate_e8", run.overnight_rate_e8) + ", " +
                      count_field("interest_days", run.interest_days) + "}");
      load_steps(tx, run);
      if (request.before_commit) request.before_commit(RunStep::prices);
      tx.commit();
      outcome.created = true;
    }
  }
  for (const RunStep step : kRunSteps) {
    if (std::any_of(run.steps.begin(), run.steps.end(), [&](const StepRecord& done) { return done.step == step; })) {
      continue;
    }
    pqxx::work tx(connection);
    const UtcTimestamp started = UtcTimestamp::now();
    std::string counts;
    std::optional<SettleError> refused;
    switch (step) {
      case RunStep::prices: CCH_CHECK(false, "a run row exists only with its prices step"); break;
      case RunStep::marks: counts = marks_step(tx, pool, run, request.clearing_calendar, refused); break;
      case RunStep::variation_margin: counts = variation_margin_step(tx, run, request); break;
      case RunStep::deliveries:
        counts = detail::deliveries_step(tx, run, request.buy_in_penalty_bps, request.delivery_fee_ticks_per_gpu_hour,
                                         refused);
        break;
      case RunStep::complete: counts = complete_step(tx, run); break;
    }
    if (refused) return fail(*refused);
    record_step(tx, run.run_id, step, started, counts);
    if (request.before_commit) request.before_commit(step);
    tx.commit();
    log::info("settlement_step_done", {{"run_id", std::to_string(run.run_id)},
                                       {"business_date", date.format()},
                                       {"step", std::string(to_string(step))},
                                       {"counts", counts}});
  }
  pqxx::read_transaction read(connection);
  outcome.run = *find_run(read, run.run_id);
  return outcome;
}

Result<SettlementRun, SettleError> reverse_run(db::ConnectionPool& pool, const ReverseRequest& request) {
  if (request.reason.empty() || request.reason.size() > kReversalReasonLengthMax) {
    return fail(refuse(SettleRefusal::invalid_reason, "a reason of 1 to 500 characters is required"));
  }
  auto lease = pool.acquire();
  lease.discard();  // the date's lock goes with the connection (DateLock)
  pqxx::connection& connection = *lease;
  std::optional<SettlementRun> run;
  {
    pqxx::read_transaction read(connection);
    run = find_run(read, request.run_id);
  }
  if (!run) return fail(refuse(SettleRefusal::unknown_run, "no settlement run " + std::to_string(request.run_id)));
  const auto date_lock = DateLock::take(connection, run->business_date);
  if (!date_lock) {
    return fail(refuse(SettleRefusal::settlement_run_in_progress,
                       "the settlement of " + run->business_date.format() + " is being run by another process"));
  }
  pqxx::work tx(connection);
  const auto state =
      tx.exec_params1("SELECT state FROM settlement.run WHERE run_id = $1 FOR UPDATE", run->run_id)[0].as<std::string>();
  if (state == "reversed") {
    return fail(refuse(SettleRefusal::run_already_reversed,
                       "run " + std::to_string(run->run_id) + " of " + run->business_date.format() +
                           " was reversed before"));
  }
  const auto later = tx.exec_params(
      "SELECT business_date::text FROM settlement.run WHERE state <> 'reversed' AND business_date > $1::date "
      "ORDER BY business_date LIMIT 1",
      run->business_date.format());
  if (!later.empty()) {
    return fail(refuse(SettleRefusal::later_date_settled,
                       "a later date, " + later[0][0].as<std::string>() + ", is settled from this run: reverse that "
                       "run first"));
  }
  if (detail::run_has_decided_disputes(tx, run->run_id)) {
    return fail(refuse(SettleRefusal::disputes_decided_since,
                       "a delivery dispute run " + std::to_string(run->run_id) +
                           " settled was decided since, moving what the run had frozen: correct by an adjustment"));
  }
  // The run's journals: variation margin (key ...:<member>) and deliveries (key ...:delivery:<member>).
  std::vector<std::pair<std::string, JournalId>> originals;
  for (const auto& row : tx.exec_params("SELECT member_id, journal_id FROM settlement.member_vm WHERE run_id = $1 "
                                        "AND journal_id IS NOT NULL ORDER BY member_id",
                                        run->run_id)) {
    originals.emplace_back(row[0].as<std::string>(), JournalId(row[1].as<std::int64_t>()));
  }
  for (const auto& [member, journal] : detail::delivery_journals(tx, run->run_id)) {
    originals.emplace_back("delivery:" + std::to_string(member), journal);
  }
  std::vector<ledger::JournalDraft> drafts;
  for (const auto& [suffix, original] : originals) {
    const auto journal = ledger::find_journal(tx, original, std::nullopt);
    CCH_CHECK(journal.has_value(), "a run's journal is in the ledger");
    ledger::JournalDraft draft;
    draft.idempotency_key = "settlement-reversal:" + std::to_string(run->run_id) + ":" + suffix;
    draft.business_date = BusinessDate::containing(request.now);
    draft.kind = ledger::JournalKind::reversal;
    draft.cause = ledger::Cause{ledger::CauseKind::journal, original.to_string()};
    if (request.request_id) {
      if (auto id = RequestId::parse(*request.request_id)) draft.request_id = *id;
    }
    draft.reverses = original;
    draft.memo = ("reversal of settlement run " + std::to_string(run->run_id) + " of " +
                  run->business_date.format() + ": " + request.reason)
                     .substr(0, ledger::kMemoLengthMax);
    for (const auto& posting : journal->postings) {
      draft.postings.push_back({posting.account_id, Money{-posting.amount.amount_minor, posting.amount.currency}});
    }
    drafts.push_back(std::move(draft));
  }
  for (std::size_t from = 0; from < drafts.size(); from += ledger::kJournalsPerBatchMax) {
    const std::size_t to = std::min(drafts.size(), from + ledger::kJournalsPerBatchMax);
    const auto posted = ledger::post_batch(tx, std::span(drafts).subspan(from, to - from));
    for (std::size_t i = 0; i < posted.size(); ++i) {
      if (!posted[i]) {
        throw std::runtime_error("reversal journal " + drafts[from + i].idempotency_key +
                                 " refused: " + std::string(ledger::to_string(posted[i].error())));
      }
    }
  }
  tx.exec_params(
      "UPDATE settlement.run SET state = 'reversed', reversed_at = clock_timestamp(), reversed_by = $2, "
      "reversal_reason = $3 WHERE run_id = $1",
      run->run_id, request.reversed_by, request.reason);
  tx.exec_params(
      "INSERT INTO cch.outbox (topic, aggregate_id, payload) VALUES ('settlement.run_reversed', $1::bigint, "
      "jsonb_build_object('run_id', $1::text, 'business_date', $2::text, 'journals', $3::int))",
      run->run_id, run->business_date.format(), static_cast<std::int32_t>(drafts.size()));
  auto reversed = find_run(tx, run->run_id);
  tx.commit();
  log::info("settlement_run_reversed", {{"run_id", std::to_string(run->run_id)},
                                        {"business_date", run->business_date.format()},
                                        {"journals", std::to_string(drafts.size())}});
  return std::move(*reversed);
}

std::optional<BusinessDate> scheduled_business_date(UtcTimestamp now, int run_minute_utc,
                                                    const BusinessCalendar& clearing_calendar) {
  if (run_minute_utc < 0) return std::nullopt;
  const BusinessDate today = BusinessDate::containing(now);
  if (!clearing_calendar.covers(today) || !clearing_calendar.is_business_day(today)) return std::nullopt;
  const std::int64_t minute = (now.unix_microseconds() - today.start_of_day().unix_microseconds()) / 60'000'000;
  if (minute < run_minute_utc) return std::nullopt;
  return today;
}

std::optional<Result<SettleOutcome, SettleError>> settle_on_schedule(db::ConnectionPool& pool,
                                                                     const BusinessCalendar& clearing_calendar,
                                                                     UtcTimestamp now, int run_minute_utc,
                                                                     std::int32_t buy_in_penalty_bps,
                                                                     std::int64_t delivery_fee_ticks_per_gpu_hour) {
  const auto date = scheduled_business_date(now, run_minute_utc, clearing_calendar);
  if (!date) return std::nullopt;
  {
    auto lease = pool.acquire();
    pqxx::read_transaction tx(*lease);
    const auto live = live_run(tx, *date);
    if (live && live->state == RunState::completed) return std::nullopt;
  }
  return settle(pool,
                {*date, clearing_calendar, now, "cch-settlement (schedule)", std::nullopt, {}, buy_in_penalty_bps,
                 delivery_fee_ticks_per_gpu_hour});
}

std::optional<SettlementRun> find_run(pqxx::transaction_base& tx, std::int64_t run_id) {
  return one_run(tx, db::exec_cached(tx, "SELECT " + kRunColumns + " FROM settlement.run WHERE run_id = $1", run_id));
}

std::vector<SettlementRun> runs_of_date(pqxx::transaction_base& tx, BusinessDate business_date) {
  std::vector<SettlementRun> runs;
  for (const auto& row : tx.exec_params("SELECT " + kRunColumns +
                                            " FROM settlement.run WHERE business_date = $1::date ORDER BY attempt",
                                        business_date.format())) {
    runs.push_back(run_of(row));
  }
  return runs;
}

std::optional<SettlementRun> live_run(pqxx::transaction_base& tx, BusinessDate business_date) {
  return one_run(tx, db::exec_cached(tx,
                                     "SELECT " + kRunColumns +
                                         " FROM settlement.run WHERE business_date = $1::date AND state <> 'reversed'",
                                     business_date.format()));
}

std::vector<SettlementRun> list_runs(pqxx::transaction_base& tx, std::optional<std::int64_t> before,
                                     std::size_t limit) {
  CCH_CHECK(limit >= 1 && limit <= 1000, "list_runs: limit 1..1000");
  std::vector<SettlementRun> runs;
  for (const auto& row :
       db::exec_cached(tx,
                       "SELECT " + kRunColumns +
                           " FROM settlement.run WHERE ($1::bigint IS NULL OR run_id < $1) ORDER BY run_id DESC "
                           "LIMIT $2",
                       before, static_cast<std::int64_t>(limit))) {
    runs.push_back(run_of(row));
    load_steps(tx, runs.back());
  }
  return runs;
}

namespace {

constexpr const char* kFallbackColumns =
    "fallback_id, product_id, business_date::text, method, reason, approved_by, "
    "(extract(epoch FROM approved_at) * 1000000)::bigint, request_id";

PriceFallback fallback_of(const pqxx::row& row) {
  const auto method = fallback_method_of(row[3].as<std::string>());
  CCH_CHECK(method.has_value(), "a stored fallback's method is known");
  return PriceFallback{row[0].as<std::int64_t>(),
                       ProductId(row[1].as<std::int64_t>()),
                       BusinessDate::parse(row[2].as<std::string>()).value(),
                       *method,
                       row[4].as<std::string>(),
                       row[5].as<std::string>(),
                       timestamp_of(row[6]),
                       row[7].is_null() ? std::nullopt : std::optional<std::string>(row[7].as<std::string>())};
}

}  // namespace

Result<PriceFallback, SettleError> approve_price_fallback(pqxx::transaction_base& tx,
                                                          const PriceFallbackRequest& request) {
  if (request.reason.empty() || request.reason.size() > kFallbackReasonLengthMax) {
    return fail(refuse(SettleRefusal::invalid_reason, "a reason of 1 to 500 characters is required"));
  }
  if (tx.exec_params("SELECT 1 FROM cch.product WHERE product_id = $1", request.product.value()).empty()) {
    return fail(refuse(SettleRefusal::unknown_product, "no product " + request.product.to_string()));
  }
  const auto inserted = tx.exec_params(
      std::string("INSERT INTO settlement.price_fallback (product_id, business_date, method, reason, approved_by, "
                  "request_id) VALUES ($1, $2::date, $3, $4, $5, $6) ON CONFLICT (product_id, business_date) DO NOTHING "
                  "RETURNING ") +
          kFallbackColumns,
      request.product.value(), request.business_date.format(), std::string(to_string(request.method)),
      request.reason, request.approved_by, request.request_id);
  if (inserted.empty()) {
    return fail(refuse(SettleRefusal::fallback_already_approved,
                       "product " + request.product.to_string() + " has a settlement price fallback for " +
                           request.business_date.format() + " already"));
  }
  return fallback_of(inserted[0]);
}

std::vector<PriceFallback> price_fallbacks(pqxx::transaction_base& tx, ProductId product,
                                           std::optional<std::int64_t> before, std::size_t limit) {
  CCH_CHECK(limit >= 1 && limit <= 1000, "price_fallbacks: limit 1..1000");
  std::vector<PriceFallback> fallbacks;
  for (const auto& row : db::exec_cached(tx,
                                         std::string("SELECT ") + kFallbackColumns +
                                             " FROM settlement.price_fallback WHERE product_id = $1 "
                                             "AND ($2::bigint IS NULL OR fallback_id < $2) ORDER BY fallback_id DESC "
                                             "LIMIT $3",
                                         product.value(), before, static_cast<std::int64_t>(limit))) {
    fallbacks.push_back(fallback_of(row));
  }
  return fallbacks;
}

namespace {

// The columns member_vm_of reads, from offset `first` of the row.
constexpr const char* kMemberVmColumns =
    "m.member_id, m.vm_minor, m.forward_vm_minor, m.cumulative_forward_vm_minor, m.pai_minor, m.total_minor, "
    "m.journal_id";

MemberVariationMargin member_vm_of(const pqxx::row& row, int first) {
  MemberVariationMargin vm{MemberId(row[first].as<std::int64_t>()),
                           row[first + 1].as<std::int64_t>(),
                           row[first + 2].as<std::int64_t>(),
                           row[first + 3].as<std::int64_t>(),
                           row[first + 4].as<std::int64_t>(),
                           row[first + 5].as<std::int64_t>(),
                           std::nullopt};
  if (!row[first + 6].is_null()) vm.journal = JournalId(row[first + 6].as<std::int64_t>());
  return vm;
}

}  // namespace

std::vector<MemberVariationMargin> member_variation_margin(pqxx::transaction_base& tx, std::int64_t run_id,
                                                           std::optional<MemberId> member) {
  std::vector<MemberVariationMargin> out;
  for (const auto& row : db::exec_cached(tx,
                                         std::string("SELECT ") + kMemberVmColumns +
                                             " FROM settlement.member_vm m WHERE m.run_id = $1 AND "
                                             "($2::bigint IS NULL OR m.member_id = $2) ORDER BY m.member_id",
                                         run_id, member ? std::optional<std::int64_t>(member->value()) : std::nullopt)) {
    out.push_back(member_vm_of(row, 0));
  }
  return out;
}

std::vector<MemberRunVariationMargin> member_variation_margin_history(pqxx::transaction_base& tx, MemberId member,
                                                                      std::optional<std::int64_t> before,
                                                                      std::size_t limit) {
  CCH_CHECK(limit >= 1 && limit <= 1000, "member_variation_margin_history: limit 1..1000");
  std::vector<MemberRunVariationMargin> out;
  for (const auto& row : db::exec_cached(
           tx,
           std::string("SELECT r.run_id, r.business_date::text, r.state, ") + kMemberVmColumns +
               " FROM settlement.member_vm m JOIN settlement.run r USING (run_id) WHERE m.member_id = $1 "
               "AND ($2::bigint IS NULL OR m.run_id < $2) ORDER BY m.run_id DESC LIMIT $3",
           member.value(), before, static_cast<std::int64_t>(limit))) {
    out.push_back({row[0].as<std::int64_t>(), BusinessDate::parse(row[1].as<std::string>()).value(),
                   state_of(row[2].as<std::string>()), member_vm_of(row, 3)});
  }
  return out;
}

std::vector<ProductVariationMargin> product_variation_margin(pqxx::transaction_base& tx, std::int64_t run_id,
                                                             std::optional<MemberId> member) {
  std::vector<ProductVariationMargin> out;
  for (const auto& row : db::exec_cached(
           tx,
           "SELECT member_id, product_id, kind, legs, previous_legs, pv_minor, previous_pv_minor, vm_minor "
           "FROM settlement.member_product_vm WHERE run_id = $1 AND ($2::bigint IS NULL OR member_id = $2) "
           "ORDER BY member_id, product_id, kind",
           run_id, member ? std::optional<std::int64_t>(member->value()) : std::nullopt)) {
    out.push_back({MemberId(row[0].as<std::int64_t>()), ProductId(row[1].as<std::int64_t>()),
                   row[2].as<std::string>(), row[3].as<std::int64_t>(), row[4].as<std::int64_t>(),
                   row[5].as<std::int64_t>(), row[6].as<std::int64_t>(), row[7].as<std::int64_t>()});
  }
  return out;
}

std::vector<LegVariationMargin> leg_variation_margin(pqxx::transaction_base& tx, std::int64_t run_id,
                                                     MemberId member, std::optional<std::int64_t> after_trade,
                                                     std::size_t limit) {
  CCH_CHECK(limit >= 1 && limit <= 10000, "leg_variation_margin: limit 1..10000");
  const auto run = find_run(tx, run_id);
  if (!run) return {};
  std::vector<LegVariationMargin> out;
  for (const auto& row : db::exec_cached(
           tx,
           "SELECT COALESCE(t.trade_id, p.trade_id), COALESCE(t.side, p.side), COALESCE(t.product_id, p.product_id), "
           "COALESCE(t.kind, p.kind), COALESCE(t.pv_minor, 0), COALESCE(p.pv_minor, 0) "
           "FROM (SELECT * FROM settlement.leg_mark WHERE run_id = $1 AND member_id = $3) t "
           "FULL JOIN (SELECT * FROM settlement.leg_mark WHERE run_id = $2 AND member_id = $3) p "
           "  ON t.trade_id = p.trade_id AND t.side = p.side "
           "WHERE COALESCE(t.trade_id, p.trade_id) > COALESCE($4::bigint, 0) "
           "ORDER BY 1, 2 LIMIT $5",
           run->run_id, run->previous_run_id, member.value(), after_trade,
           static_cast<std::int64_t>(limit))) {
    const std::int64_t pv = row[4].as<std::int64_t>();
    const std::int64_t previous = row[5].as<std::int64_t>();
    out.push_back({TradeId(row[0].as<std::int64_t>()), row[1].as<std::string>(), member,
                   ProductId(row[2].as<std::int64_t>()), row[3].as<std::string>(), pv, previous, pv - previous});
  }
  return out;
}

}  // namespace cch::settlement
