#pragma once
// Statements prepared once per connection: exec_cached(tx, sql, args...) runs `sql` as a
// prepared statement named after a hash of its text. libpqxx prepares a statement on a
// connection the first time it runs there, so a hot statement is parsed (and, after a few runs,
// planned) once per pooled connection instead of once per call. Use it for statements whose text
// is fixed (parameters in $n); text built per call would fill the connection with statements.
//
// Thread safety: as the transaction's (one thread).

#include <pqxx/connection_base>
#include <pqxx/result>
#include <pqxx/transaction_base>

#include <cstdio>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

namespace cch::db {

// The statement name for `sql`: "cch_" and 16 hex digits of its hash and its length.
inline std::string statement_name(std::string_view sql) {
  char name[48];
  std::snprintf(name, sizeof name, "cch_%016zx_%zx", std::hash<std::string_view>{}(sql), sql.size());
  return name;
}

template <class... Args>
pqxx::result exec_cached(pqxx::transaction_base& tx, const std::string& sql, Args&&... args) {
  const std::string name = statement_name(sql);
  tx.conn().prepare(name, sql);  // registers once; the same text again changes nothing
  return tx.exec_prepared(name, std::forward<Args>(args)...);
}

}  // namespace cch::db
