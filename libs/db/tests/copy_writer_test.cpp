// CopyWriter (cch/db/copy_writer.hpp) against a real database: rows of many buffers arrive whole
// and in order, and a row the table refuses fails the COPY.
#include "cch/db/copy_writer.hpp"

#include "cch/testing/scratch_database.hpp"

#include <pqxx/connection>
#include <pqxx/transaction>

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

namespace {

TEST(CopyWriter, WritesEveryRowAcrossManyBuffersWithExtremeIntegers) {
  cch::testing::ScratchDatabase database;
  pqxx::connection connection(database.url());
  {
    pqxx::work tx(connection);
    tx.exec("CREATE TABLE t (id bigint PRIMARY KEY, side text NOT NULL CHECK (side IN ('buy', 'sell')), v bigint)");
    tx.commit();
  }
  constexpr std::int64_t kRows = 100'000;  // several buffers of 256 KiB
  {
    pqxx::work tx(connection);
    cch::db::CopyWriter out(tx, "t", {"id", "side", "v"});
    for (std::int64_t i = 1; i <= kRows; ++i) {
      const std::int64_t v = i == 1 ? std::numeric_limits<std::int64_t>::min()
                             : i == 2 ? std::numeric_limits<std::int64_t>::max()
                                      : (i % 2 == 0 ? i * 7 : -i * 7);
      out.integer(i).text(i % 2 == 0 ? "buy" : "sell").integer(v).end_row();
    }
    out.complete();
    tx.commit();
  }
  pqxx::work tx(connection);
  const auto row = tx.exec1(
      "SELECT count(*), count(*) FILTER (WHERE side = CASE WHEN id % 2 = 0 THEN 'buy' ELSE 'sell' END), "
      "min(v)::text, max(v)::text, sum(v) FILTER (WHERE id > 2)::text FROM t");
  EXPECT_EQ(row[0].as<std::int64_t>(), kRows);
  EXPECT_EQ(row[1].as<std::int64_t>(), kRows);
  EXPECT_EQ(row[2].as<std::string>(), "-9223372036854775808");
  EXPECT_EQ(row[3].as<std::string>(), "9223372036854775807");
  // sum over 3..100000 of (even ? 7i : -7i) = 7 x (sum of evens 4..100000 - sum of odds 3..99999)
  EXPECT_EQ(row[4].as<std::string>(), std::to_string(7 * 49'999));
}

TEST(CopyWriter, ARowTheTableRefusesFailsTheCopy) {
  cch::testing::ScratchDatabase database;
  pqxx::connection connection(database.url());
  {
    pqxx::work tx(connection);
    tx.exec("CREATE TABLE t (id bigint PRIMARY KEY, side text NOT NULL CHECK (side IN ('buy', 'sell')))");
    tx.commit();
  }
  pqxx::work tx(connection);
  cch::db::CopyWriter out(tx, "t", {"id", "side"});
  out.integer(1).text("buy").end_row();
  out.integer(2).text("hold").end_row();
  EXPECT_THROW(out.complete(), pqxx::sql_error);
}

}  // namespace
