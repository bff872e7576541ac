// Factor history against a real PostgreSQL: the levels of a flat curve, the levels of a shaped
// curve against the curve builder's daily values averaged here, stored once and read back to the
// bit, a correction's new snapshot beside the old one's levels, the hash, products without data,
// a refused curve, two callers computing the same snapshots at once, the rows as records.
#include "cch/risk/factor_history.hpp"

#include "cch/market/csv_import.hpp"
#include "cch/market/market_data.hpp"
#include "cch/market/synthetic_history.hpp"
#include "cch/pricing/forward_curve.hpp"
#include "cch/risk/curve_sets.hpp"
#include "registration_fixture.hpp"

#include <pqxx/pqxx>

#include <algorithm>
#include <bit>
#include <cmath>
#include <chrono>
#include <future>
#include <thread>

namespace cch::risk {
namespace {

using registry::fixture::kNow;

BusinessDate date(std::string_view text) { return BusinessDate::parse(text).value(); }

using Prices = std::vector<std::pair<std::string, std::int64_t>>;  // period label, price in ticks

// Equal to the bit (operator== on doubles would also take -0.0 for 0.0).
bool same_bits(const FactorLevels& a, const FactorLevels& b) {
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::bit_cast<std::uint64_t>(a[i]) != std::bit_cast<std::uint64_t>(b[i])) return false;
  }
  return true;
}

// The levels worked out here from the definition: the forward curve of D from D + 1 to
// D + kFactorHorizonDays, and each bucket's plain mean of its daily values.
FactorLevels expected_levels(BusinessDate business_date, std::int64_t tick_size_ticks, const Prices& prices) {
  std::vector<pricing::PeriodQuote> quotes;
  for (const auto& [label, ticks] : prices) {
    const auto period = parse_period_label(label).value();
    quotes.push_back({label, period.first_day, period.end_day, ticks});
  }
  const BusinessDate first_day = business_date.add_days(1).value();
  const auto built = pricing::build_forward_curve(
      first_day, business_date.add_days(margin::kFactorHorizonDays).value(), tick_size_ticks, quotes);
  EXPECT_TRUE(built) << built.error().detail;
  FactorLevels levels{};
  for (std::size_t b = 0; b < margin::kBucketCount; ++b) {
    const auto& bucket = margin::kTenorBuckets[b];
    double sum = 0;
    for (int offset = bucket.first_day; offset < bucket.end_day; ++offset) {
      sum += built->curve.price(first_day.add_days(offset).value());
    }
    levels[b] = sum / (bucket.end_day - bucket.first_day);
  }
  return levels;
}

class FactorHistory : public registry::fixture::Registration {
 protected:
  // The fixture's product has settlement prices of 31 December 2026 already; these tests enter
  // their own on the days after it.
  const BusinessDate kDate = date("2027-01-14");  // a Thursday, the day before kNow
  static constexpr std::int64_t kTick = 50;       // the fixture's products' tick size

  // Stores `prices` as `of`'s settlement prices of `business_date` (a correction when it has some
  // already); answers the snapshot id. No consistency check: what it stores is for the curve
  // builder to judge.
  std::int64_t enter_prices(ProductId of, BusinessDate business_date, const Prices& prices,
                            std::optional<std::string> correction = std::nullopt) {
    return run([&](pqxx::transaction_base& tx) -> std::int64_t {
      const auto rules = market::market_rules("united_states_settlement", "", BusinessDate::containing(kNow));
      market::Provenance provenance{"test", "test", kNow, "ops", std::nullopt, std::move(correction)};
      const auto found = registry::find_product(tx, of).value();
      const market::ProductTerms terms{of, found.spec.code, found.spec.tick_size_ticks, std::nullopt};
      std::vector<market::PeriodPrice> entered;
      for (const auto& [label, ticks] : prices) {
        entered.push_back({parse_period_label(label).value(), PricePerGpuHour{ticks}});
      }
      const auto stored = market::store_settlement_prices(tx, terms, business_date, entered, provenance, rules);
      EXPECT_TRUE(stored) << stored.error().detail;
      return stored ? stored->snapshot.snapshot_id : 0;
    });
  }

  Result<FactorHistoryLoad, FactorHistoryError> load(std::vector<ProductId> products, BusinessDate from,
                                                     BusinessDate to) {
    return run([&](pqxx::transaction_base& tx) { return load_factor_history(tx, products, from, to); });
  }

  FactorHistoryLoad loaded(std::vector<ProductId> products, BusinessDate from, BusinessDate to) {
    auto result = load(std::move(products), from, to);
    EXPECT_TRUE(result) << result.error().detail;
    return result ? std::move(*result) : FactorHistoryLoad{};
  }

  std::vector<FactorDay> of_snapshots(std::vector<std::int64_t> ids) {
    return run([&](pqxx::transaction_base& tx) { return factor_levels_of_snapshots(tx, ids); });
  }

  // Eleven months, then quarters and a year, at different prices, none overlapping another.
  const Prices kShaped = {{"2027-02", 21'500}, {"2027-03", 22'400}, {"2027-04", 20'900}, {"2027-05", 20'100},
                          {"2027-06", 19'850}, {"2027-07", 20'300}, {"2027-08", 21'050}, {"2027-09", 21'700},
                          {"2027-10", 22'950}, {"2027-11", 23'500}, {"2027-12", 23'100}, {"2028-Q1", 21'800},
                          {"2028-Q2", 20'650}, {"2028-Q3", 20'200}, {"2028-Q4", 20'950}, {"2029", 18'400}};
};

TEST_F(FactorHistory, OneMonthQuotedGivesItsPriceInEveryBucket) {
  const auto snapshot = enter_prices(product, kDate, {{"2027-03", 21'500}});
  const auto history = loaded({product}, date("2027-01-01"), kDate);
  EXPECT_EQ(history.computed, 1);
  ASSERT_EQ(history.days.size(), 1u);
  const auto& day = history.days[0];
  EXPECT_EQ(day.product, product);
  EXPECT_EQ(day.business_date, kDate);
  EXPECT_EQ(day.snapshot_id, snapshot);
  // The curve is flat beyond its quotes: 2.15 every day, so in every bucket, near or far.
  for (std::size_t i = 0; i < margin::kBucketCount; ++i) {
    EXPECT_NEAR(day.levels[i], 2.15, 1e-12) << margin::kTenorBuckets[i].label;
  }
  // The row: the snapshot's product and date, the method, the levels as computed.
  run([&](pqxx::transaction_base& tx) {
    const auto row = tx.exec_params1(
        "SELECT product_id, business_date::text, method, cardinality(levels) FROM risk.factor_level "
        "WHERE snapshot_id = $1",
        snapshot);
    EXPECT_EQ(row[0].as<std::int64_t>(), product.value());
    EXPECT_EQ(row[1].as<std::string>(), "2027-01-14");
    EXPECT_EQ(row[2].as<std::string>(), factor_method());
    EXPECT_EQ(row[3].as<std::size_t>(), margin::kBucketCount);
  });
  // The method names the factor version, the buckets and the curves' method.
  EXPECT_EQ(factor_method().rfind("cch-factors/1 ", 0), 0u) << factor_method();
  EXPECT_NE(factor_method().find("prompt[0,7),M1[7,37),"), std::string::npos) << factor_method();
  EXPECT_NE(factor_method().find("Y3[734,1099)"), std::string::npos) << factor_method();
  EXPECT_NE(factor_method().find(pricing::kCurveMethodVersion), std::string::npos) << factor_method();
}

TEST_F(FactorHistory, EachLevelIsTheMeanOfTheForwardCurveOverItsBucket) {
  enter_prices(product, kDate, kShaped);
  const auto history = loaded({product}, kDate, kDate);
  ASSERT_EQ(history.days.size(), 1u);
  const auto expected = expected_levels(kDate, kTick, kShaped);
  for (std::size_t i = 0; i < margin::kBucketCount; ++i) {
    EXPECT_NEAR(history.days[0].levels[i], expected[i], 1e-12) << margin::kTenorBuckets[i].label;
  }
  // A shaped curve: the buckets differ (Q3, the second half of 2027 at 2.03-2.30, is dearer
  // than Y3, 2029 at 1.84).
  EXPECT_GT(history.days[0].levels[7], history.days[0].levels[10] + 0.1);
}

TEST_F(FactorHistory, ASecondLoadComputesNothingAndAnswersTheSameBits) {
  enter_prices(product, kDate, kShaped);
  enter_prices(product, date("2027-01-13"), {{"2027-03", 21'500}, {"2027-Q2", 20'500}});
  const BusinessDate from = date("2026-12-01");
  const auto first = loaded({product}, from, kDate);
  EXPECT_EQ(first.computed, 3);  // the fixture's 31 December, 13 and 14 January
  ASSERT_EQ(first.days.size(), 3u);
  EXPECT_EQ(first.days[0].business_date, date("2026-12-31"));
  EXPECT_EQ(first.days[2].business_date, kDate);

  const auto second = loaded({product}, from, kDate);
  EXPECT_EQ(second.computed, 0);
  ASSERT_EQ(second.days.size(), first.days.size());
  for (std::size_t i = 0; i < first.days.size(); ++i) {
    EXPECT_EQ(second.days[i].snapshot_id, first.days[i].snapshot_id);
    EXPECT_TRUE(same_bits(second.days[i].levels, first.days[i].levels)) << i;
  }
  EXPECT_EQ(factor_history_hash(second.days), factor_history_hash(first.days));
  EXPECT_EQ(scalar("SELECT count(*) FROM risk.factor_level"), 3);
  // A narrower range answers the same stored levels.
  const auto one = loaded({product}, kDate, kDate);
  EXPECT_EQ(one.computed, 0);
  ASSERT_EQ(one.days.size(), 1u);
  EXPECT_TRUE(same_bits(one.days[0].levels, first.days[2].levels));
}

TEST_F(FactorHistory, ACorrectionIsANewSnapshotWithItsOwnLevelsAndTheOldOnesStay) {
  const auto original = enter_prices(product, kDate, kShaped);
  const auto before = loaded({product}, kDate, kDate);
  ASSERT_EQ(before.days.size(), 1u);
  EXPECT_EQ(before.days[0].snapshot_id, original);

  Prices corrected = kShaped;
  corrected[1].second = 22'600;  // March
  const auto correction = enter_prices(product, kDate, corrected, "March corrected");
  ASSERT_NE(correction, original);
  const auto after = loaded({product}, kDate, kDate);
  EXPECT_EQ(after.computed, 1);
  ASSERT_EQ(after.days.size(), 1u);
  EXPECT_EQ(after.days[0].snapshot_id, correction);
  const auto expected = expected_levels(kDate, kTick, corrected);
  for (std::size_t i = 0; i < margin::kBucketCount; ++i) {
    EXPECT_NEAR(after.days[0].levels[i], expected[i], 1e-12) << margin::kTenorBuckets[i].label;
  }
  // M2 is [37, 67) days after 15 January: 21 February to 22 March.
  EXPECT_GT(after.days[0].levels[2], before.days[0].levels[2]);

  // The corrected version's levels are still there, to the bit.
  const auto old = of_snapshots({original});
  ASSERT_EQ(old.size(), 1u);
  EXPECT_EQ(old[0].snapshot_id, original);
  EXPECT_EQ(old[0].business_date, kDate);
  EXPECT_TRUE(same_bits(old[0].levels, before.days[0].levels));
  const auto both = of_snapshots({correction, original, original, 999'999});
  ASSERT_EQ(both.size(), 2u);  // each once, by product, date, snapshot; no row for an unknown id
  EXPECT_EQ(both[0].snapshot_id, original);
  EXPECT_EQ(both[1].snapshot_id, correction);

  // The hash tells them apart and is the same for the same days, read any way, in any order.
  EXPECT_NE(factor_history_hash(before.days), factor_history_hash(after.days));
  EXPECT_EQ(factor_history_hash(old), factor_history_hash(before.days));
  EXPECT_EQ(factor_history_hash(of_snapshots({correction})), factor_history_hash(after.days));
  std::vector<FactorDay> reversed(both.rbegin(), both.rend());
  EXPECT_EQ(factor_history_hash(reversed), factor_history_hash(both));
  // A level one bit away is another history.
  auto nudged = after.days;
  nudged[0].levels[10] = std::nextafter(nudged[0].levels[10], 10.0);
  EXPECT_NE(factor_history_hash(nudged), factor_history_hash(after.days));
  EXPECT_EQ(factor_history_hash({}), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_F(FactorHistory, AProductWithoutSnapshotsInTheRangeHasNoDays) {
  const ProductId other = make_product("h100-sxm-us-west", 8);
  const auto none = loaded({other}, date("2026-01-01"), kDate);
  EXPECT_TRUE(none.days.empty());
  EXPECT_EQ(none.computed, 0);
  // With another product that has some: only its days (products repeated count once).
  enter_prices(product, kDate, kShaped);
  const auto some = loaded({other, product, other}, date("2027-01-01"), kDate);
  ASSERT_EQ(some.days.size(), 1u);
  EXPECT_EQ(some.days[0].product, product);
  // A range before its first snapshot, and an empty range.
  EXPECT_TRUE(loaded({product}, date("2026-01-01"), date("2026-12-30")).days.empty());
  EXPECT_TRUE(loaded({product}, kDate, date("2027-01-13")).days.empty());
  EXPECT_TRUE(loaded({}, date("2026-01-01"), kDate).days.empty());
  // A product that does not exist is refused.
  const auto unknown = load({product, ProductId(999'999)}, date("2026-01-01"), kDate);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().refusal, FactorHistoryRefusal::unknown_product);
  EXPECT_EQ(to_string(unknown.error().refusal), "unknown_product");
  EXPECT_NE(unknown.error().detail.find("999999"), std::string::npos) << unknown.error().detail;
}

TEST_F(FactorHistory, ARefusedCurveRefusesTheLoadNamesTheSnapshotAndStoresNothing) {
  // The second quarter at 2.1100 while its months are each 2.1000: more than half a tick apart
  // (entered without the consistency rule market data entry checks with).
  const auto bad = enter_prices(product, kDate, {{"2027-04", 21'000}, {"2027-05", 21'000}, {"2027-06", 21'000},
                                                 {"2027-Q2", 21'100}});
  const auto refused = load({product}, date("2026-12-01"), kDate);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().refusal, FactorHistoryRefusal::curve_refused);
  const auto& detail = refused.error().detail;
  for (const std::string& named : {std::string("h100-sxm-us-east"), std::string("2027-01-14"),
                                  "snapshot " + std::to_string(bad), std::string("inconsistent_quotes"),
                                  std::string("2027-Q2")}) {
    EXPECT_NE(detail.find(named), std::string::npos) << named << " in: " << detail;
  }
  // Not even the good day of 31 December is stored by the refused load.
  EXPECT_EQ(scalar("SELECT count(*) FROM risk.factor_level"), 0);
}

TEST_F(FactorHistory, TwoCallersComputingTheSameSnapshotsAtOnceBothAnswerTheStoredLevels) {
  enter_prices(product, kDate, kShaped);
  const BusinessDate from = date("2026-12-01");
  const std::vector<ProductId> products{product};
  // The first caller computes and inserts, and does not commit yet.
  pqxx::connection first_connection(fixture.writer_url);
  pqxx::work first_tx(first_connection);
  const auto first = load_factor_history(first_tx, products, from, kDate);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->computed, 2);
  // The second, meanwhile, finds nothing stored, computes the same, and its insert waits for the
  // first's rows.
  auto second = std::async(std::launch::async, [&] {
    pqxx::connection connection(fixture.writer_url);
    pqxx::work tx(connection);
    auto loaded = load_factor_history(tx, products, from, kDate);
    tx.commit();
    return loaded;
  });
  auto watcher = fixture.superuser();
  bool waited = false;
  for (int i = 0; i < 500 && !waited; ++i) {
    pqxx::nontransaction query(watcher);
    waited = query.exec_params1("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                "AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO risk.factor_level%'")[0]
                 .as<int>() == 1;
    if (!waited) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(waited) << "the second caller's insert did not wait for the first's rows";
  first_tx.commit();
  const auto answered = second.get();
  ASSERT_TRUE(answered) << answered.error().detail;
  EXPECT_EQ(answered->computed, 2);  // it computed them, and answers the rows the first stored
  ASSERT_EQ(answered->days.size(), first->days.size());
  for (std::size_t i = 0; i < first->days.size(); ++i) {
    EXPECT_EQ(answered->days[i].snapshot_id, first->days[i].snapshot_id);
    EXPECT_TRUE(same_bits(answered->days[i].levels, first->days[i].levels)) << i;
  }
  EXPECT_EQ(scalar("SELECT count(*) FROM risk.factor_level"), 2);
}

TEST_F(FactorHistory, ALevelRowIsARecordThatAuditorsRead) {
  enter_prices(product, kDate, kShaped);
  ASSERT_EQ(loaded({product}, kDate, kDate).days.size(), 1u);
  // Not even the schema owner changes or removes one.
  for (const char* change : {"UPDATE risk.factor_level SET levels[1] = levels[1] + 1",
                             "DELETE FROM risk.factor_level", "TRUNCATE risk.factor_level"}) {
    EXPECT_THROW(as_superuser(change), pqxx::sql_error) << change;
  }
  // The services may not either (no UPDATE or DELETE granted), and auditors read them.
  {
    pqxx::connection writer(fixture.writer_url);
    pqxx::work tx(writer);
    EXPECT_THROW(tx.exec("UPDATE risk.factor_level SET method = 'x'"), pqxx::sql_error);
  }
  pqxx::connection auditor(fixture.auditor_url);
  pqxx::work tx(auditor);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM risk.factor_level")[0].as<int>(), 1);
}

TEST_F(FactorHistory, LevelsStoredByAnotherMethodAreNotMixedIn) {
  const auto snapshot = enter_prices(product, kDate, kShaped);
  as_superuser("INSERT INTO risk.factor_level (snapshot_id, product_id, business_date, levels, method) VALUES (" +
               std::to_string(snapshot) + ", " + product.to_string() +
               ", '2027-01-14', '{2,2,2,2,2,2,2,2,2,2,2}', 'cch-factors/0 buckets=older')");
  const auto refused = load({product}, kDate, kDate);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().refusal, FactorHistoryRefusal::method_changed);
  EXPECT_NE(refused.error().detail.find("cch-factors/0 buckets=older"), std::string::npos) << refused.error().detail;
  EXPECT_NE(refused.error().detail.find(std::to_string(snapshot)), std::string::npos) << refused.error().detail;
  // What is stored is still answered as stored, for whoever recorded it.
  const auto stored = of_snapshots({snapshot});
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].levels[0], 2.0);
}

// Three months of the synthetic history of two products: every day with settlement prices has its
// levels, in order, computed once and stored in one statement; a sample day's levels are the
// definition's.
TEST_F(FactorHistory, SyntheticHistoryOfTwoProductsIsComputedOnceInOrder) {
  const ProductId b200 = make_product("b200-sxm-us-east", 8);
  market::SyntheticHistoryOptions generate;
  std::vector<market::ProductTerms> products;
  run([&](pqxx::transaction_base& tx) {
    for (const auto& [id, model] : {std::pair{product, "H100"}, std::pair{b200, "B200"}}) {
      const auto found = registry::find_product(tx, id).value();
      generate.products.push_back({found.spec.code, model, found.spec.tick_size_ticks, std::nullopt});
      products.push_back({id, found.spec.code, found.spec.tick_size_ticks, std::nullopt});
    }
  });
  generate.from = date("2026-10-01");
  generate.to = date("2026-12-30");
  const auto history = market::synthetic_history(generate);
  ASSERT_TRUE(history);
  const auto rules = market::market_rules("united_states_settlement", "1M,1Y", BusinessDate::containing(kNow));
  run([&](pqxx::transaction_base& tx) {
    const auto imported = market::import_csv(tx, history->csv, "ops", rules, products, forward_curve_consistency());
    ASSERT_TRUE(imported) << imported.error().error.detail;
  });
  const auto loaded_history = loaded({b200, product}, generate.from, date("2026-12-31"));
  // Every settlement snapshot imported, and the fixture's 31 December of the H100 product.
  const auto days = static_cast<std::int64_t>(history->settlement_snapshots) + 1;
  EXPECT_EQ(loaded_history.computed, days);
  ASSERT_EQ(static_cast<std::int64_t>(loaded_history.days.size()), days);
  EXPECT_TRUE(std::is_sorted(loaded_history.days.begin(), loaded_history.days.end(),
                             [](const FactorDay& left, const FactorDay& right) {
                               return std::tie(left.product, left.business_date) <
                                      std::tie(right.product, right.business_date);
                             }));
  EXPECT_EQ(scalar("SELECT count(*) FROM risk.factor_level"), days);
  // A sample day, worked out from its stored prices.
  const auto& sample = loaded_history.days[loaded_history.days.size() / 2];
  const auto prices = run([&](pqxx::transaction_base& tx) {
    return market::settlement_prices(tx, sample.product, sample.business_date).value();
  });
  Prices quoted;
  for (const auto& price : prices.prices) quoted.emplace_back(price.period.label, price.price.price_ticks);
  const auto expected = expected_levels(sample.business_date, kTick, quoted);
  for (std::size_t i = 0; i < margin::kBucketCount; ++i) {
    EXPECT_NEAR(sample.levels[i], expected[i], 1e-12) << margin::kTenorBuckets[i].label;
  }
  EXPECT_EQ(loaded({b200, product}, generate.from, date("2026-12-31")).computed, 0);
}

}  // namespace
}  // namespace cch::risk
