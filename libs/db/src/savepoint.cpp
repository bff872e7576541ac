#include "cch/db/savepoint.hpp"

#include <pqxx/dbtransaction>

#include <cassert>
#include <string>

namespace cch::db {
namespace {

pqxx::dbtransaction& database_transaction(pqxx::transaction_base& tx) {
  auto* database = dynamic_cast<pqxx::dbtransaction*>(&tx);
  assert(database != nullptr && "a savepoint lives in a database transaction");
  return *database;
}

}  // namespace

Savepoint::Savepoint(pqxx::transaction_base& tx, std::string_view name)
    : parent_(tx), sub_(database_transaction(tx), std::string(name)) {
  // libpqxx 6 sends the SAVEPOINT lazily, before the first plain statement only: a prepared one
  // first would run outside it, and abort() would then have nothing to roll back to.
  sub_.exec("SELECT 1");
}

void Savepoint::release() { sub_.commit(); }

void Savepoint::roll_back() {
  sub_.abort();
  // ROLLBACK TO keeps the savepoint, so what follows would still run inside it (with a
  // transaction id of its own); released, it runs in the transaction itself.
  parent_.exec0("RELEASE SAVEPOINT " + parent_.quote_name(sub_.name()));
}

}  // namespace cch::db
