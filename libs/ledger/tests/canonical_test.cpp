#include "cch/ledger/canonical.hpp"

#include <gtest/gtest.h>

namespace {

cch::ledger::StoredJournal sample() {
  cch::ledger::StoredJournal journal;
  journal.idempotency_key = "fee:trade-7";
  journal.business_date = "2026-11-23";
  journal.kind = "clearing_fee";
  journal.cause_kind = "trade";
  journal.cause_reference = "7";
  journal.memo = "";
  journal.postings = {{1, 10, "USD", 125}, {2, 3, "USD", -125}};
  return journal;
}

}  // namespace

TEST(CanonicalEncoding, ContentEncodingIsLengthPrefixedAndStable) {
  EXPECT_EQ(cch::ledger::content_encoding(sample()),
            "cch-journal-v1;11:fee:trade-7;10:2026-11-23;12:clearing_fee;5:trade;1:7;0:;0:;1:2;"
            "1:1;2:10;3:USD;3:125;1:2;1:3;3:USD;4:-125;");
}

TEST(CanonicalEncoding, ContentExcludesIdTimeAndRequestButLinkIncludesThem) {
  auto a = sample();
  auto b = sample();
  b.journal_id = 99;
  b.created_at_unix_microseconds = 123456;
  b.request_id = "req-1";
  EXPECT_EQ(cch::ledger::content_hash(a), cch::ledger::content_hash(b));
  const auto previous = cch::ledger::genesis_hash(1);
  const cch::ledger::LinkJournal first{1, 100, std::nullopt, cch::ledger::content_hash(a)};
  cch::ledger::LinkJournal moved = first;
  moved.created_at_unix_microseconds = 101;
  EXPECT_NE(cch::ledger::link_hash(1, 1, previous, {first}), cch::ledger::link_hash(1, 1, previous, {moved}));
  cch::ledger::LinkJournal requested = first;
  requested.request_id = "r";
  EXPECT_NE(cch::ledger::link_hash(1, 1, previous, {first}), cch::ledger::link_hash(1, 1, previous, {requested}));
}

TEST(CanonicalEncoding, FieldsCannotRunIntoEachOther) {
  auto a = sample();
  auto b = sample();
  a.cause_kind = "trade";
  a.cause_reference = "17";
  b.cause_kind = "trade1";
  b.cause_reference = "7";
  EXPECT_NE(cch::ledger::content_hash(a), cch::ledger::content_hash(b));
}

TEST(CanonicalEncoding, GenesisHashMatchesTheMigrationsDefinition) {
  // sql/migrations/0003_ledger.sql seeds chain heads with sha256('cch ledger chain ' || id).
  EXPECT_EQ(cch::to_hex(cch::ledger::genesis_hash(1)), cch::sha256_hex("cch ledger chain 1"));
}
