// Market data against a real PostgreSQL: every refusal stores nothing, versions and corrections,
// the latest settlement prices, and the CSV import's all-or-nothing with line numbers.
#include "cch/market/csv_import.hpp"
#include "cch/market/market_data.hpp"
#include "cch/market/synthetic_history.hpp"

#include "cch/db/transaction.hpp"
#include "ledger_fixture.hpp"

#include <gtest/gtest.h>
#include <pqxx/transaction>

namespace cch::market {
namespace {

BusinessDate date(std::string_view text) { return BusinessDate::parse(text).value(); }
DeliveryPeriod period(std::string_view label) { return parse_period_label(label).value(); }

class MarketData : public ::testing::Test {
 protected:
  void SetUp() override {
    // A product row of the registry's table (this library only reads its code and tick).
    pqxx::connection connection = fixture.superuser();
    pqxx::work tx(connection);
    const auto id = tx.exec(
        "INSERT INTO cch.product (code, gpu_model, form_factor, min_interconnect, region, node_block_gpus, settlement, "
        "cash_index, tick_size_ticks, delivery_profile, trading_status, listing_horizon_days, position_limit_gpu_hours, "
        "fee_ticks_per_gpu_hour, created_by) VALUES ('h100-test', 'H100', 'sxm', 'infiniband-400g', 'us-east', 8, "
        "'cash', 'GPUIDX-H100', 50, 'baseload_24x7', 'active', 365, 1000000, 25, 'test') RETURNING product_id")[0][0]
                        .as<std::int64_t>();
    tx.commit();
    h100 = ProductTerms{ProductId(id), "h100-test", 50, std::string("GPUIDX-H100")};
  }

  template <class Work>
  auto run(Work&& work) {
    return db::run_transaction(*fixture.pool, db::Isolation::read_committed, {}, std::forward<Work>(work));
  }

  std::int64_t count(const std::string& table) {
    pqxx::connection connection = fixture.superuser();
    pqxx::work tx(connection);
    return tx.exec("SELECT count(*) FROM " + table)[0][0].as<std::int64_t>();
  }

  std::int64_t rows() {
    return count("market.snapshot") + count("market.ois_quote") + count("market.settlement_price") +
           count("market.index_fixing") + count("market.latest_settlement");
  }

  Result<Stored, MarketError> prices(BusinessDate on, std::vector<PeriodPrice> list,
                                     std::optional<std::string> reason = std::nullopt) {
    Provenance provenance = kProvenance;
    provenance.correction_reason = std::move(reason);
    return run([&](pqxx::transaction_base& tx) { return store_settlement_prices(tx, h100, on, list, provenance, rules); });
  }

  Result<Stored, MarketError> ois(BusinessDate on, std::vector<std::pair<std::string, std::int64_t>> quotes,
                                  std::optional<std::string> reason = std::nullopt) {
    std::vector<OisQuote> list;
    for (const auto& [tenor, rate] : quotes) list.push_back({parse_tenor(tenor).value(), rate});
    Provenance provenance = kProvenance;
    provenance.correction_reason = std::move(reason);
    return run([&](pqxx::transaction_base& tx) { return store_ois_quotes(tx, on, list, provenance, rules); });
  }

  ledger::testing::LedgerFixture fixture;
  ProductTerms h100{ProductId(1), "", 1, std::nullopt};
  // Today is Thursday 3 December 2026; the curve needs 1M and 1Y at least.
  const MarketRules rules = market_rules("united_states_settlement", "1M,1Y", date("2026-12-03"));
  const Provenance kProvenance{"cch price committee", "cch market operations",
                               UtcTimestamp::parse("2026-12-02T17:00:00Z").value(), "ops", std::string("req-1"),
                               std::nullopt};
  const std::vector<std::pair<std::string, std::int64_t>> kCurve = {{"1M", 4'300'000}, {"3M", 4'250'000},
                                                                    {"1Y", 4'100'000}};
};

TEST_F(MarketData, EachRefusalNamesItsRuleAndStoresNothing) {
  struct Case {
    std::string name;
    std::function<Result<Stored, MarketError>()> attempt;
    MarketRefusal expected;
  };
  const BusinessDate wednesday = date("2026-12-02");
  const std::vector<Case> cases = {
      {"a Saturday", [&] { return prices(date("2026-11-28"), {{period("2027-01"), PricePerGpuHour{21'000}}}); },
       MarketRefusal::not_a_business_date},
      {"Thanksgiving", [&] { return prices(date("2026-11-26"), {{period("2027-01"), PricePerGpuHour{21'000}}}); },
       MarketRefusal::not_a_business_date},
      {"tomorrow", [&] { return prices(date("2026-12-04"), {{period("2027-01"), PricePerGpuHour{21'000}}}); },
       MarketRefusal::business_date_in_future},
      {"a zero price", [&] { return prices(wednesday, {{period("2027-01"), PricePerGpuHour{0}}}); },
       MarketRefusal::non_positive_price},
      {"a negative price", [&] { return prices(wednesday, {{period("2027-01"), PricePerGpuHour{-50}}}); },
       MarketRefusal::non_positive_price},
      {"off the tick", [&] { return prices(wednesday, {{period("2027-01"), PricePerGpuHour{21'010}}}); },
       MarketRefusal::price_off_tick},
      {"beyond the largest price", [&] { return prices(wednesday, {{period("2027-01"), PricePerGpuHour{10'000'050}}}); },
       MarketRefusal::invalid_price},
      {"a period in progress", [&] { return prices(wednesday, {{period("2026-12"), PricePerGpuHour{21'000}}}); },
       MarketRefusal::period_started},
      {"a period twice",
       [&] {
         return prices(wednesday, {{period("2027-01"), PricePerGpuHour{21'000}}, {period("2027-01"), PricePerGpuHour{21'050}}});
       },
       MarketRefusal::duplicate_period},
      {"a missing tenor", [&] { return ois(wednesday, {{"1M", 4'300'000}, {"3M", 4'250'000}}); },
       MarketRefusal::missing_tenor},
      {"a tenor twice", [&] { return ois(wednesday, {{"1M", 4'300'000}, {"1M", 4'200'000}, {"1Y", 4'100'000}}); },
       MarketRefusal::duplicate_tenor},
      {"12M and 1Y", [&] { return ois(wednesday, {{"1M", 4'300'000}, {"12M", 4'200'000}, {"1Y", 4'100'000}}); },
       MarketRefusal::duplicate_tenor},
      {"a rate beyond 100 %", [&] { return ois(wednesday, {{"1M", 100'000'001}, {"1Y", 4'100'000}}); },
       MarketRefusal::invalid_rate},
      {"an OIS quote on Good Friday 2026",
       [&] { return ois(date("2026-04-03"), {{"1M", 4'300'000}, {"1Y", 4'100'000}}); }, MarketRefusal::not_a_business_date},
      {"a correction of nothing",
       [&] { return prices(wednesday, {{period("2027-01"), PricePerGpuHour{21'000}}}, "fat finger"); },
       MarketRefusal::nothing_to_correct},
      {"an unknown index",
       [&] {
         return run([&](pqxx::transaction_base& tx) {
           return store_index_fixing(tx, "GPUIDX-B300", wednesday, PricePerGpuHour{30'000}, kProvenance, rules,
                                     std::span<const ProductTerms>(&h100, 1));
         });
       },
       MarketRefusal::unknown_index},
      {"a fixing off the index's tick",
       [&] {
         return run([&](pqxx::transaction_base& tx) {
           return store_index_fixing(tx, "GPUIDX-H100", wednesday, PricePerGpuHour{20'001}, kProvenance, rules,
                                     std::span<const ProductTerms>(&h100, 1));
         });
       },
       MarketRefusal::price_off_tick},
  };
  for (const auto& test : cases) {
    SCOPED_TRACE(test.name);
    const auto outcome = test.attempt();
    ASSERT_FALSE(outcome);
    EXPECT_EQ(to_string(outcome.error().refusal), to_string(test.expected)) << outcome.error().detail;
    EXPECT_FALSE(outcome.error().detail.empty());
  }
  EXPECT_EQ(rows(), 0);
}

TEST_F(MarketData, TheSameDataAgainIsTheSameVersionAndACorrectionIsTheNextWithItsReason) {
  const BusinessDate monday = date("2026-11-30");
  const auto first = prices(monday, {{period("2027-01"), PricePerGpuHour{21'000}}, {period("2027-Q1"), PricePerGpuHour{20'500}}});
  ASSERT_TRUE(first) << first.error().detail;
  EXPECT_TRUE(first->created);
  EXPECT_EQ(first->snapshot.version, 1);
  EXPECT_EQ(first->snapshot.subject, "h100-test");
  EXPECT_EQ(first->snapshot.provenance.request_id, "req-1");

  // The same prices in another order: the same snapshot, nothing stored.
  const auto again = prices(monday, {{period("2027-Q1"), PricePerGpuHour{20'500}}, {period("2027-01"), PricePerGpuHour{21'000}}});
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->snapshot.snapshot_id, first->snapshot.snapshot_id);

  // Other prices without a reason: refused; with one: version 2.
  const auto silent = prices(monday, {{period("2027-01"), PricePerGpuHour{21'050}}});
  ASSERT_FALSE(silent);
  EXPECT_EQ(silent.error().refusal, MarketRefusal::market_data_exists);
  const auto corrected = prices(monday, {{period("2027-01"), PricePerGpuHour{21'050}}}, "January was mistyped");
  ASSERT_TRUE(corrected) << corrected.error().detail;
  EXPECT_EQ(corrected->snapshot.version, 2);
  EXPECT_EQ(corrected->snapshot.provenance.correction_reason, "January was mistyped");

  // Reads name the version they answer; the first version is still there as it was.
  run([&](pqxx::transaction_base& tx) {
    const auto latest = settlement_prices(tx, h100.product, monday);
    ASSERT_TRUE(latest);
    EXPECT_EQ(latest->snapshot.version, 2);
    ASSERT_EQ(latest->prices.size(), 1u);
    EXPECT_EQ(latest->prices[0].price.price_ticks, 21'050);
    const auto original = settlement_prices(tx, h100.product, monday, 1);
    ASSERT_TRUE(original);
    ASSERT_EQ(original->prices.size(), 2u);
    EXPECT_EQ(original->prices[0].period.label, "2027-01");  // by first day, the shorter period first
    EXPECT_EQ(original->prices[1].period.label, "2027-Q1");
    EXPECT_EQ(original->snapshot.content_hash, first->snapshot.content_hash);
    EXPECT_NE(original->snapshot.content_hash, latest->snapshot.content_hash);
  });

  // Nothing is edited or removed, even by the schema's owner.
  pqxx::connection connection = fixture.superuser();
  pqxx::work tx(connection);
  EXPECT_THROW(tx.exec("UPDATE market.settlement_price SET price_ticks = 1"), pqxx::sql_error);
}

TEST_F(MarketData, TheLatestSettlementPricesOnlyMoveForward) {
  ASSERT_TRUE(prices(date("2026-12-01"), {{period("2027-01"), PricePerGpuHour{21'000}}}));
  ASSERT_TRUE(prices(date("2026-11-30"), {{period("2027-01"), PricePerGpuHour{20'000}}}));  // an older date, entered late
  run([&](pqxx::transaction_base& tx) { EXPECT_EQ(latest_settlement_date(tx, h100.product), date("2026-12-01")); });
  ASSERT_TRUE(prices(date("2026-12-01"), {{period("2027-01"), PricePerGpuHour{21'500}}}, "corrected"));
  run([&](pqxx::transaction_base& tx) {
    const auto rows = tx.exec(latest_settlement_prices_sql(1).replace(
        latest_settlement_prices_sql(1).find("$1"), 2, "ARRAY[" + h100.product.to_string() + "]"));
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0][1].as<std::int64_t>(), 31);  // days
    EXPECT_EQ(rows[0][2].as<std::string>(), "2027-01-01");
    EXPECT_EQ(rows[0][3].as<std::int64_t>(), 21'500);  // the correction of the latest date
  });
}

TEST_F(MarketData, OisQuotesAndFixingsAreVersionedToo) {
  const BusinessDate tuesday = date("2026-12-01");
  ASSERT_TRUE(ois(tuesday, kCurve));
  const auto corrected = ois(tuesday, {{"1M", 4'310'000}, {"3M", 4'250'000}, {"1Y", 4'100'000}}, "1M republished");
  ASSERT_TRUE(corrected);
  EXPECT_EQ(corrected->snapshot.version, 2);
  run([&](pqxx::transaction_base& tx) {
    const auto quotes = ois_quotes(tx, tuesday);
    ASSERT_TRUE(quotes);
    EXPECT_EQ(quotes->snapshot.version, 2);
    ASSERT_EQ(quotes->quotes.size(), 3u);
    EXPECT_EQ(quotes->quotes[0].tenor.text(), "1M");
    EXPECT_EQ(quotes->quotes[0].rate_e8, 4'310'000);
    EXPECT_EQ(ois_quotes(tx, tuesday, 1)->quotes[0].rate_e8, 4'300'000);
    // A fixing of a Sunday: indices are published every day.
    const auto fixing = store_index_fixing(tx, "GPUIDX-H100", date("2026-11-29"), PricePerGpuHour{20'850}, kProvenance,
                                           rules, std::span<const ProductTerms>(&h100, 1));
    ASSERT_TRUE(fixing) << fixing.error().detail;
    const auto read = index_fixings(tx, "GPUIDX-H100", date("2026-11-01"), date("2026-11-30"));
    ASSERT_EQ(read.size(), 1u);
    EXPECT_EQ(read[0].value.price_ticks, 20'850);
  });
}

TEST_F(MarketData, ACsvFileIsImportedWholeOrNotAtAllAndARefusalNamesTheLine) {
  const std::string header = std::string(kCsvHeader) + "\n";
  const std::string good =
      header +
      "ois,2026-12-01,SOFR,1M,0.04300000,FRB NY,ops,2026-12-01T17:00:00Z,\n"
      "ois,2026-12-01,SOFR,1Y,0.04100000,FRB NY,ops,2026-12-01T17:00:00Z,\n"
      "settlement,2026-12-01,h100-test,2027-01,2.1000,cch,ops,2026-12-01T18:00:00Z,\n"
      "# a comment line\n"
      "settlement,2026-12-01,h100-test,2027-Q1,2.0500,cch,ops,2026-12-01T18:00:00Z,\n"
      "fixing,2026-11-30,GPUIDX-H100,,2.0850,\"Index Co, Inc.\",ops,2026-11-30T20:00:00Z,\n";
  const auto import = [&](const std::string& text) {
    return run([&](pqxx::transaction_base& tx) {
      auto outcome = import_csv(tx, text, "ops", rules, std::span<const ProductTerms>(&h100, 1));
      if (!outcome) throw std::runtime_error(outcome.error().error.detail);  // roll back, as cch-admin does
      return *outcome;
    });
  };
  const auto refused = [&](const std::string& text) -> std::string {
    try {
      (void)import(text);
      return "imported";
    } catch (const std::runtime_error& error) {
      return error.what();
    }
  };
  // One bad line anywhere refuses the whole file and names its line.
  const std::string bad_tick = good + "settlement,2026-12-01,h100-test,2027-02,2.1010,cch,ops,2026-12-01T18:00:00Z,\n";
  EXPECT_EQ(refused(bad_tick).rfind("line 8: ", 0), 0u) << refused(bad_tick);
  EXPECT_NE(refused(bad_tick).find("tick"), std::string::npos);
  // The line of the quote a refusal names, even when another label is a prefix of it.
  const std::string year_first = header +
                                 "settlement,2026-12-01,h100-test,2027,2.1000,cch,ops,2026-12-01T18:00:00Z,\n"
                                 "settlement,2026-12-01,h100-test,2027-01,2.1010,cch,ops,2026-12-01T18:00:00Z,\n";
  EXPECT_EQ(refused(year_first).rfind("line 3: ", 0), 0u) << refused(year_first);
  const std::string no_period = good + "settlement,2026-12-01,h100-test,2027-13,2.1000,cch,ops,2026-12-01T18:00:00Z,\n";
  EXPECT_EQ(refused(no_period).rfind("line 8: no period", 0), 0u) << refused(no_period);
  const std::string weekend = header + "settlement,2026-11-28,h100-test,2027-01,2.1000,cch,ops,2026-12-01T18:00:00Z,\n";
  EXPECT_EQ(refused(weekend).rfind("line 2: ", 0), 0u);
  const std::string no_tenor = good + "ois,2026-12-02,SOFR,,0.04300000,FRB NY,ops,2026-12-02T17:00:00Z,\n";
  EXPECT_EQ(refused(no_tenor).rfind("line 8: an OIS quote needs its tenor", 0), 0u) << refused(no_tenor);
  const std::string zero = good + "fixing,2026-11-29,GPUIDX-H100,,0.0000,Index Co,ops,2026-11-29T20:00:00Z,\n";
  EXPECT_EQ(refused(zero).rfind("line 8: ", 0), 0u) << refused(zero);
  const std::string mixed = good + "ois,2026-12-01,SOFR,3M,0.04250000,FRB NY,someone else,2026-12-01T17:00:00Z,\n";
  EXPECT_EQ(refused(mixed).rfind("line 8: ", 0), 0u) << refused(mixed);
  EXPECT_NE(refused(header + "ois,2026-12-01,SOFR,1M\n").find("line 2"), std::string::npos);
  EXPECT_NE(refused("record,date\n").find("line 1"), std::string::npos);
  EXPECT_EQ(rows(), 0);

  // The good file: three snapshots; again: nothing new.
  const auto first = import(good);
  EXPECT_EQ(first.records, 5u);
  EXPECT_EQ(first.snapshots_created, 3u);
  const auto second = import(good);
  EXPECT_EQ(second.snapshots_created, 0u);
  EXPECT_EQ(second.snapshots_repeated, 3u);
  EXPECT_EQ(count("market.snapshot"), 3);
  run([&](pqxx::transaction_base& tx) {
    EXPECT_EQ(index_fixing(tx, "GPUIDX-H100", date("2026-11-30"))->snapshot.provenance.source, "Index Co, Inc.");
  });
}

TEST_F(MarketData, TheSyntheticHistoryPassesEveryRuleOfTheImport) {
  SyntheticHistoryOptions generate;
  generate.products = {{"h100-test", "H100", 50, std::string("GPUIDX-H100")}};
  generate.from = date("2026-09-01");
  generate.to = date("2026-11-30");
  const auto history = synthetic_history(generate);
  ASSERT_TRUE(history);
  const auto summary = run([&](pqxx::transaction_base& tx) {
    auto outcome = import_csv(tx, history->csv, "ops", rules, std::span<const ProductTerms>(&h100, 1));
    EXPECT_TRUE(outcome) << outcome.error().error.detail;
    return outcome ? *outcome : ImportSummary{};
  });
  EXPECT_EQ(summary.snapshots_created, history->settlement_snapshots + history->ois_snapshots + history->fixings);
  run([&](pqxx::transaction_base& tx) { EXPECT_EQ(latest_settlement_date(tx, h100.product), date("2026-11-30")); });
}

}  // namespace
}  // namespace cch::market
