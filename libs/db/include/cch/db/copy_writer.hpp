#pragma once
// CopyWriter: rows written by COPY ... FROM STDIN as text the writer formats itself, sent to the
// server a buffer of many rows at a time. For bulk writes whose columns need no escaping
// (integers, and text known to hold no tab, newline, carriage return or backslash, checked): the
// settlement run's million marks. pqxx::stream_to converts and escapes each field through strings
// of its own and hands libpq one line at a time; on a million rows of seven columns that was about
// a second of the client's time, competing with the server for the same cores.
//
// Contract: rows are whole (end_row after a row's fields); complete() sends what is buffered and
// ends the COPY (the table's constraints are checked by the server as the rows arrive, and any
// error is thrown by complete() or a later flush). Destroyed without complete(), the COPY is
// abandoned and the transaction is no longer usable (abort it).
//
// Thread safety: one writer per transaction, used by one thread.
#include <pqxx/transaction_base>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace cch::db {

class CopyWriter {
 public:
  CopyWriter(pqxx::transaction_base& tx, const std::string& table, const std::vector<std::string>& columns);
  ~CopyWriter();
  CopyWriter(const CopyWriter&) = delete;
  CopyWriter& operator=(const CopyWriter&) = delete;

  CopyWriter& integer(std::int64_t value);
  // Precondition (checked): no tab, newline, carriage return or backslash.
  CopyWriter& text(std::string_view value);
  void end_row();
  void complete();

 private:
  void separate();
  void flush();

  class Stream;
  std::unique_ptr<Stream> stream_;
  std::string buffer_;
  bool row_started_ = false;
};

}  // namespace cch::db
