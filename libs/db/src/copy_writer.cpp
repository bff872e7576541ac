#include "cch/db/copy_writer.hpp"

#include <charconv>

#include "cch/core/check.hpp"

// pqxx 6.4 sends a caller's own COPY text only through tablewriter::write_raw_line (stream_to's
// is private); tablewriter is marked deprecated in favour of stream_to, which cannot. It stays in
// libpqxx 6.4 as a supported class; its use is confined to this file.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#include <pqxx/tablewriter>

namespace cch::db {

namespace {
// Sent when the buffer passes this size: a few thousand rows a message.
constexpr std::size_t kFlushBytes = 256 * 1024;
}  // namespace

class CopyWriter::Stream {
 public:
  Stream(pqxx::transaction_base& tx, const std::string& table, const std::vector<std::string>& columns)
      : writer(tx, table, columns.begin(), columns.end()) {}
  pqxx::tablewriter writer;
};

CopyWriter::CopyWriter(pqxx::transaction_base& tx, const std::string& table, const std::vector<std::string>& columns)
    : stream_(std::make_unique<Stream>(tx, table, columns)) {
  buffer_.reserve(kFlushBytes + 4096);
}

CopyWriter::~CopyWriter() = default;

void CopyWriter::separate() {
  if (row_started_) buffer_.push_back('\t');
  row_started_ = true;
}

CopyWriter& CopyWriter::integer(std::int64_t value) {
  separate();
  char digits[24];
  const auto [end, error] = std::to_chars(digits, digits + sizeof digits, value);
  CCH_CHECK(error == std::errc(), "an integer fits its digits");
  buffer_.append(digits, end);
  return *this;
}

CopyWriter& CopyWriter::text(std::string_view value) {
  CCH_CHECK(value.find_first_of("\t\n\r\\") == std::string_view::npos, "COPY text written unescaped needs none");
  separate();
  buffer_.append(value);
  return *this;
}

void CopyWriter::end_row() {
  CCH_CHECK(row_started_, "a COPY row has fields");
  buffer_.push_back('\n');
  row_started_ = false;
  if (buffer_.size() >= kFlushBytes) flush();
}

void CopyWriter::flush() {
  if (buffer_.empty()) return;
  // write_raw_line adds the line's end to what it is given: the buffer's last one is dropped.
  buffer_.pop_back();
  stream_->writer.write_raw_line(buffer_);
  buffer_.clear();
}

void CopyWriter::complete() {
  CCH_CHECK(!row_started_, "a COPY ends after a whole row");
  flush();
  stream_->writer.complete();
}

}  // namespace cch::db

#pragma GCC diagnostic pop
