#include "cch/pricing/curve_set.hpp"

#include "cch/core/sha256.hpp"

#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace {

using cch::pricing::CurveRefusal;
using cch::pricing::OisQuote;
using cch::pricing::PeriodQuote;
using cch::pricing::ProductQuotes;

cch::BusinessDate date(int year, int month, int day) {
  return cch::BusinessDate::from_year_month_day(year, month, day).value();
}

const cch::BusinessDate kAsOf = date(2026, 12, 1);

const std::vector<OisQuote> kOis{{"1M", 0.0430}, {"6M", 0.0418}, {"1Y", 0.0402}, {"2Y", 0.0378}};

std::vector<ProductQuotes> products(std::int64_t january_of_product_3_ticks) {
  return {
      ProductQuotes{cch::ProductId(7),
                    50,
                    date(2027, 12, 31),
                    {PeriodQuote{"2027-01", date(2027, 1, 1), date(2027, 2, 1), 21000},
                     PeriodQuote{"2027-02", date(2027, 2, 1), date(2027, 3, 1), 22500}}},
      ProductQuotes{cch::ProductId(3),
                    1,
                    date(2027, 6, 30),
                    {PeriodQuote{"2027-01", date(2027, 1, 1), date(2027, 2, 1), january_of_product_3_ticks},
                     PeriodQuote{"2027-Q1", date(2027, 1, 1), date(2027, 4, 1), 31000}}},
  };
}

const std::vector<std::string> kInputs{"ois:SOFR:2026-12-01:v1", "quotes:product:7:2026-12-01:v1",
                                       "quotes:product:3:2026-12-01:v2"};

}  // namespace

TEST(CurveSet, SameInputsGiveTheSameHashAndOneTickChangesIt) {
  const auto first = cch::pricing::build_curve_set(kAsOf, kOis, products(30000), kInputs);
  const auto second = cch::pricing::build_curve_set(kAsOf, kOis, products(30000), kInputs);
  ASSERT_TRUE(first.has_value() && second.has_value()) << (first ? "" : first.error().detail);
  EXPECT_EQ(*first, *second);
  const std::string hash = cch::pricing::content_hash(*first);
  EXPECT_EQ(hash.size(), 64u);
  EXPECT_EQ(hash, cch::pricing::content_hash(*second));

  EXPECT_EQ(first->as_of, kAsOf);
  EXPECT_EQ(first->method_version, cch::pricing::kCurveMethodVersion);
  EXPECT_EQ(first->inputs, kInputs);
  ASSERT_EQ(first->forwards.size(), 2u);
  EXPECT_EQ(first->forwards.begin()->first, cch::ProductId(3));  // keyed by id, not by input order
  EXPECT_EQ(first->forwards.at(cch::ProductId(7)).first_day(), date(2026, 12, 2));
  EXPECT_EQ(first->forwards.at(cch::ProductId(3)).last_day(), date(2027, 6, 30));

  const auto one_tick = cch::pricing::build_curve_set(kAsOf, kOis, products(30001), kInputs);
  ASSERT_TRUE(one_tick.has_value());
  EXPECT_NE(cch::pricing::content_hash(*one_tick), hash);

  std::vector<OisQuote> ois = kOis;
  ois[2].rate += 1e-6;  // one hundredth of a basis point
  const auto other_rate = cch::pricing::build_curve_set(kAsOf, ois, products(30000), kInputs);
  ASSERT_TRUE(other_rate.has_value());
  EXPECT_NE(cch::pricing::content_hash(*other_rate), hash);

  std::vector<std::string> inputs = kInputs;
  inputs.back() = "quotes:product:3:2026-12-01:v3";
  const auto other_input = cch::pricing::build_curve_set(kAsOf, kOis, products(30000), inputs);
  ASSERT_TRUE(other_input.has_value());
  EXPECT_NE(cch::pricing::content_hash(*other_input), hash);
}

// The serialisation, line by line, of a small set made by hand (header of curve_set.hpp).
// 1.0 is 0x3ff0000000000000; 0.5 is 0x3fe0000000000000; 2.25 is 0x4002000000000000.
TEST(CurveSet, CanonicalSerialisationIsAsDocumented) {
  std::map<cch::ProductId, cch::pricing::ForwardCurve> forwards;
  forwards.emplace(cch::ProductId(9), cch::pricing::ForwardCurve(date(2026, 12, 2), {2.25, 1.0}));
  forwards.emplace(cch::ProductId(2), cch::pricing::ForwardCurve(date(2026, 12, 2), {0.5}));
  const cch::pricing::CurveSet set{kAsOf,
                                   cch::pricing::DiscountCurve({{kAsOf, 1.0}, {date(2027, 12, 1), 0.5}}),
                                   std::move(forwards),
                                   {"ois:SOFR:2026-12-01:v1", "two\nlines"},
                                   "m/1"};
  EXPECT_EQ(cch::pricing::canonical_serialisation(set),
            "cch-curve-set/1\n"
            "as_of=2026-12-01\n"
            "method=3:m/1\n"
            "discount_nodes=2\n"
            "node=2026-12-01 3ff0000000000000\n"
            "node=2027-12-01 3fe0000000000000\n"
            "forward_curves=2\n"
            "forward=2 first_day=2026-12-02 days=1\n"
            "3fe0000000000000\n"
            "forward=9 first_day=2026-12-02 days=2\n"
            "4002000000000000\n"
            "3ff0000000000000\n"
            "inputs=2\n"
            "input=22:ois:SOFR:2026-12-01:v1\n"
            "input=9:two\nlines\n");
  EXPECT_EQ(cch::pricing::content_hash(set), cch::sha256_hex(cch::pricing::canonical_serialisation(set)));
}

TEST(CurveSet, RefusalsNameTheProduct) {
  // Product 3's January at 3.5000 with its quarter at 3.1000 and tick 1: independent (March and
  // February are not quoted), so accepted; a third quote making Q1 dependent and inconsistent:
  std::vector<ProductQuotes> specs = products(35000);
  specs[1].quotes.push_back(PeriodQuote{"2027-02", date(2027, 2, 1), date(2027, 3, 1), 30000});
  specs[1].quotes.push_back(PeriodQuote{"2027-03", date(2027, 3, 1), date(2027, 4, 1), 30000});
  const auto inconsistent = cch::pricing::build_curve_set(kAsOf, kOis, specs, kInputs);
  ASSERT_FALSE(inconsistent.has_value());
  EXPECT_EQ(inconsistent.error().reason, CurveRefusal::inconsistent_quotes);
  EXPECT_EQ(inconsistent.error().product_id, cch::ProductId(3));
  EXPECT_EQ(inconsistent.error().detail.rfind("product 3: quote '2027-Q1' at 3.1000", 0), 0u)
      << inconsistent.error().detail;

  std::vector<ProductQuotes> twice = products(30000);
  twice.push_back(twice.front());
  const auto duplicate = cch::pricing::build_curve_set(kAsOf, kOis, twice, kInputs);
  ASSERT_FALSE(duplicate.has_value());
  EXPECT_EQ(duplicate.error().reason, CurveRefusal::duplicate_product);
  EXPECT_EQ(duplicate.error().product_id, cch::ProductId(7));

  const auto no_ois = cch::pricing::build_curve_set(kAsOf, {}, products(30000), kInputs);
  ASSERT_FALSE(no_ois.has_value());
  EXPECT_EQ(no_ois.error().reason, CurveRefusal::no_quotes);
  EXPECT_FALSE(no_ois.error().product_id.has_value());
}
