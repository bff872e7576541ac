#pragma once
// Market data from a CSV file (cch-admin market import FILE): the same rules as the API, the
// whole file or nothing.
//
// Format (docs/market-data.md): UTF-8, one header line, then one record per line, fields
// separated by commas; a field may be enclosed in double quotes (then a comma or a doubled quote
// "" may appear in it). The header is exactly
//     record,business_date,subject,key,value,source,publisher,published_at,correction_reason
//   record         ois | settlement | fixing
//   business_date  YYYY-MM-DD
//   subject        SOFR (ois), the product's code (settlement), the index (fixing)
//   key            the tenor (ois: 1W, 3M, 2Y), the period label (settlement: 2027-03, 2027-Q2,
//                  2027-W09, 2027, 2027-03-01), empty (fixing)
//   value          the rate as a decimal fraction with at most 8 decimals (ois: 0.04312500), the
//                  price or index value in USD per GPU-hour with at most 4 decimals
//   source, publisher, published_at (YYYY-MM-DDTHH:MM:SSZ), correction_reason (empty for a
//                  first version)
// The lines with the same (record, business_date, subject) are one snapshot, wherever they are
// in the file; they must agree on source, publisher, published_at and correction_reason. An
// empty line is skipped; so is a line starting with '#'.
//
// All or nothing: a line that breaks a rule refuses the whole file, and the refusal names its
// line number (1 is the header) and the rule (MarketRefusal). Nothing is stored unless every
// snapshot is. Importing the same file twice changes nothing the second time (each snapshot
// repeats its latest version). Bounds: at most kImportBytesMax bytes and kImportLinesMax lines.
//
// Thread safety: the caller's transaction; run it in one transaction so that a refusal leaves
// nothing behind (the caller rolls back).

#include "cch/market/market_data.hpp"

#include <cstddef>
#include <span>
#include <string_view>

namespace cch::market {

inline constexpr std::size_t kImportBytesMax = 256 * 1024 * 1024;
inline constexpr std::size_t kImportLinesMax = 2'000'000;
inline constexpr std::string_view kCsvHeader =
    "record,business_date,subject,key,value,source,publisher,published_at,correction_reason";

struct ImportSummary {
  std::size_t records = 0;             // data lines read
  std::size_t snapshots_created = 0;   // new versions stored
  std::size_t snapshots_repeated = 0;  // the same as their latest version: nothing stored
};

struct ImportError {
  std::size_t line = 0;  // 1-based; the header is line 1
  MarketError error;
};

// `products`: every product (settlement subjects are codes among them; fixings' indices too).
Result<ImportSummary, ImportError> import_csv(pqxx::transaction_base& tx, std::string_view text,
                                              std::string_view entered_by, const MarketRules& rules,
                                              std::span<const ProductTerms> products,
                                              const ConsistencyCheck& check_consistency = {});

// One CSV field as the format writes it: quoted when it holds a comma, a quote or a line break.
std::string csv_field(std::string_view value);

}  // namespace cch::market
