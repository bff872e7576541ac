#include "cch/core/ids.hpp"

#include <cstdint>
#include <limits>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace {

constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();

}  // namespace

TEST(Ids, ParsePositiveDecimalIds) {
  EXPECT_EQ(cch::TradeId::parse("1").value(), cch::TradeId(1));
  EXPECT_EQ(cch::TradeId::parse("42").value().value(), 42);
  EXPECT_EQ(cch::TradeId::parse("9223372036854775807").value().value(), kInt64Max);
}

TEST(Ids, RefuseEverythingButOneSpellingOfAPositiveInt64) {
  const std::string one_megabyte_of_nines(1U << 20U, '9');
  const std::vector<std::pair<std::string, cch::IdError>> cases = {
      {"", cch::IdError::empty},
      {"0", cch::IdError::not_positive},
      {"00", cch::IdError::leading_zero},
      {"007", cch::IdError::leading_zero},
      {"-5", cch::IdError::malformed},
      {"+5", cch::IdError::malformed},
      {"-0", cch::IdError::malformed},
      {" 5", cch::IdError::malformed},
      {"5 ", cch::IdError::malformed},
      {"1.0", cch::IdError::malformed},
      {"1e3", cch::IdError::malformed},
      {"0x1F", cch::IdError::malformed},
      {"abc", cch::IdError::malformed},
      {"\xd9\xa3", cch::IdError::malformed},  // ARABIC-INDIC DIGIT THREE
      {std::string("5\0", 2), cch::IdError::malformed},
      {"9223372036854775808", cch::IdError::out_of_range},
      {"18446744073709551616", cch::IdError::out_of_range},
      {"99999999999999999999", cch::IdError::out_of_range},
      {one_megabyte_of_nines, cch::IdError::out_of_range},
      {one_megabyte_of_nines + "x", cch::IdError::malformed},
  };
  for (const auto& [text, expected_error] : cases) {
    const auto parsed = cch::MemberId::parse(text);
    ASSERT_FALSE(parsed.has_value()) << "'" << text.substr(0, 40) << "'";
    EXPECT_EQ(parsed.error(), expected_error)
        << "'" << text.substr(0, 40) << "' refused as " << cch::to_string(parsed.error());
  }
}

TEST(Ids, FromValueRefusesZeroAndNegatives) {
  EXPECT_EQ(cch::AccountId::from_value(7).value(), cch::AccountId(7));
  EXPECT_EQ(cch::AccountId::from_value(kInt64Max).value().value(), kInt64Max);
  EXPECT_EQ(cch::AccountId::from_value(0).error(), cch::IdError::not_positive);
  EXPECT_EQ(cch::AccountId::from_value(-1).error(), cch::IdError::not_positive);
  EXPECT_EQ(cch::AccountId::from_value(std::numeric_limits<std::int64_t>::min()).error(), cch::IdError::not_positive);
}

TEST(Ids, KindsAreDistinctTypesWithExplicitConstruction) {
  static_assert(!std::is_convertible_v<cch::MemberId, cch::TradeId>);
  static_assert(!std::is_constructible_v<cch::TradeId, cch::MemberId>);
  static_assert(!std::is_convertible_v<std::int64_t, cch::MemberId>);
  static_assert(std::is_constructible_v<cch::MemberId, std::int64_t>);
  static_assert(!std::is_default_constructible_v<cch::JournalId>);
  static_assert(std::is_trivially_copyable_v<cch::JournalId>);
  static_assert(sizeof(cch::SettlementRunId) == sizeof(std::int64_t));
  static_assert(!std::is_same_v<cch::ProductId, cch::SeriesId>);
  SUCCEED();
}

TEST(Ids, CompareHashAndPrint) {
  EXPECT_LT(cch::JournalId(1), cch::JournalId(2));
  EXPECT_EQ(cch::JournalId(2), cch::JournalId(2));
  EXPECT_NE(cch::JournalId(2), cch::JournalId(3));
  EXPECT_EQ(std::hash<cch::JournalId>{}(cch::JournalId(9)), std::hash<cch::JournalId>{}(cch::JournalId(9)));

  std::unordered_map<cch::TradeId, std::string> trades;
  trades.emplace(cch::TradeId(10), "ten");
  trades.emplace(cch::TradeId(20), "twenty");
  EXPECT_EQ(trades.at(cch::TradeId(20)), "twenty");
  EXPECT_EQ(trades.count(cch::TradeId(30)), 0U);

  EXPECT_EQ(cch::JournalId(123).to_string(), "123");
  std::ostringstream stream;
  stream << cch::SettlementRunId(5);
  EXPECT_EQ(stream.str(), "5");
}

TEST(Ids, ReasonCodesAreStableSnakeCase) {
  EXPECT_EQ(cch::to_string(cch::IdError::empty), "empty");
  EXPECT_EQ(cch::to_string(cch::IdError::malformed), "malformed");
  EXPECT_EQ(cch::to_string(cch::IdError::leading_zero), "leading_zero");
  EXPECT_EQ(cch::to_string(cch::IdError::not_positive), "not_positive");
  EXPECT_EQ(cch::to_string(cch::IdError::out_of_range), "out_of_range");
  EXPECT_EQ(cch::to_string(cch::RequestIdError::empty), "empty");
  EXPECT_EQ(cch::to_string(cch::RequestIdError::too_long), "too_long");
  EXPECT_EQ(cch::to_string(cch::RequestIdError::invalid_character), "invalid_character");
}

TEST(Ids, RequestIdAcceptsOneToSixtyFourSafeCharacters) {
  EXPECT_EQ(cch::RequestId::parse("req-1").value().value(), "req-1");
  EXPECT_EQ(cch::RequestId::parse("A.b_c-9").value().value(), "A.b_c-9");
  EXPECT_EQ(cch::RequestId::parse("x").value().value(), "x");
  const std::string longest(64, 'k');
  EXPECT_EQ(cch::RequestId::parse(longest).value().value(), longest);

  const std::vector<std::pair<std::string, cch::RequestIdError>> cases = {
      {"", cch::RequestIdError::empty},
      {std::string(65, 'k'), cch::RequestIdError::too_long},
      {std::string(1U << 20U, 'k'), cch::RequestIdError::too_long},
      {"a b", cch::RequestIdError::invalid_character},
      {"a/b", cch::RequestIdError::invalid_character},
      {"a\nb", cch::RequestIdError::invalid_character},
      {"caf\xc3\xa9", cch::RequestIdError::invalid_character},
      {"a\"b", cch::RequestIdError::invalid_character},
      {"a:b", cch::RequestIdError::invalid_character},
      {std::string("a\0", 2), cch::RequestIdError::invalid_character},
  };
  for (const auto& [text, expected_error] : cases) {
    const auto parsed = cch::RequestId::parse(text);
    ASSERT_FALSE(parsed.has_value()) << "'" << text.substr(0, 40) << "'";
    EXPECT_EQ(parsed.error(), expected_error) << "'" << text.substr(0, 40) << "'";
  }
}

TEST(Ids, GeneratedRequestIdsAreRandomHexAndValid) {
  std::set<std::string> seen;
  for (int index = 0; index < 1000; ++index) {
    const cch::RequestId request_id = cch::RequestId::generate();
    const std::string& text = request_id.value();
    ASSERT_EQ(text.size(), 32U);
    for (const char c : text) {
      ASSERT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << text;
    }
    EXPECT_EQ(cch::RequestId::parse(text).value(), request_id);
    seen.insert(text);
  }
  EXPECT_EQ(seen.size(), 1000U);  // 128 random bits: a collision here means a broken source
  // Every one of the 32 digits varies: each takes at least 12 of its 16 values over 1,000 ids (a
  // uniform digit falls short of that with a probability below 1e-100).
  for (std::size_t position = 0; position < 32; ++position) {
    std::set<char> values;
    for (const std::string& text : seen) values.insert(text[position]);
    EXPECT_GE(values.size(), 12U) << "digit " << position;
  }
}

TEST(Ids, GenerateIsSafeFromManyThreads) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 250;
  std::vector<std::vector<cch::RequestId>> generated(kThreads);
  std::vector<std::thread> threads;
  for (int thread_index = 0; thread_index < kThreads; ++thread_index) {
    threads.emplace_back([&generated, thread_index] {
      for (int index = 0; index < kPerThread; ++index) {
        generated[static_cast<std::size_t>(thread_index)].push_back(cch::RequestId::generate());
      }
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  std::unordered_set<cch::RequestId> all;
  for (const auto& batch : generated) {
    all.insert(batch.begin(), batch.end());
  }
  EXPECT_EQ(all.size(), static_cast<std::size_t>(kThreads * kPerThread));
}
