#pragma once
// A savepoint inside the caller's transaction: the work after it can be undone, with the row
// locks it took, while the work before it stays.
//
//   db::Savepoint attempt(tx, "write_first");
//   try { work(attempt.tx()); attempt.release(); }
//   catch (const pqxx::unique_violation&) { attempt.roll_back(); }
//   ... tx goes on ...
//
// While it is open, the work goes through attempt.tx() (the caller's transaction refuses
// statements until it ends). roll_back() is also how a failed statement inside it is cleared, so
// that the caller's transaction goes on. Ended by neither (an exception passed through), it rolls
// back as it is destroyed.
//
// Rows written inside a savepoint carry its own transaction id (xmin), not the transaction's:
// the ledger's triggers know a journal as the transaction's own by the latter, so journals are
// posted after the savepoint is released, never inside it.
//
// A thin wrapper of libpqxx's subtransaction: a statement that fails on a plain transaction
// closes it on the client side for good, which a SAVEPOINT sent by hand cannot undo.

#include <pqxx/subtransaction>
#include <pqxx/transaction_base>

#include <string_view>

namespace cch::db {

class Savepoint {
 public:
  // Precondition: tx is a database transaction (what run_transaction gives) with no savepoint of
  // this class open; name is a plain SQL identifier.
  Savepoint(pqxx::transaction_base& tx, std::string_view name);

  [[nodiscard]] pqxx::transaction_base& tx() { return sub_; }
  void release();    // keeps the work: RELEASE SAVEPOINT
  void roll_back();  // undoes it: ROLLBACK TO SAVEPOINT, then RELEASE SAVEPOINT

 private:
  pqxx::transaction_base& parent_;
  pqxx::subtransaction sub_;
};

}  // namespace cch::db
