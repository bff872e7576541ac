#include "cch/market/csv_import.hpp"

#include "cch/core/decimal.hpp"

#include <cctype>
#include <map>
#include <tuple>

namespace cch::market {
namespace {

constexpr std::size_t kFields = 9;

ImportError at(std::size_t line, MarketRefusal refusal, std::string detail) {
  return {line, MarketError{refusal, "line " + std::to_string(line) + ": " + std::move(detail)}};
}

// Splits one line into fields (RFC 4180 quoting); none when a quote is unbalanced.
std::optional<std::vector<std::string>> split(std::string_view line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < line.size() && line[i + 1] == '"') {
          fields.back() += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        fields.back() += c;
      }
    } else if (c == '"' && fields.back().empty()) {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  if (quoted) return std::nullopt;
  return fields;
}

bool has_control_character(std::string_view text) {
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) return true;
  }
  return false;
}

// Whether `detail` names `key` as a whole word ("2027" is not named by "2027-01").
bool names_key(std::string_view detail, std::string_view key) {
  if (key.empty()) return false;
  const auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-'; };
  for (auto at = detail.find(key); at != std::string_view::npos; at = detail.find(key, at + 1)) {
    const bool starts = at == 0 || !word(detail[at - 1]);
    const bool ends = at + key.size() == detail.size() || !word(detail[at + key.size()]);
    if (starts && ends) return true;
  }
  return false;
}

struct Line {
  std::size_t number = 0;
  std::string key;
  std::string value;
};

struct Group {
  DataKind kind = DataKind::ois;
  BusinessDate date;
  std::string subject;
  Provenance provenance;
  std::size_t first_line = 0;
  std::vector<Line> lines;
};

using GroupKey = std::tuple<int, std::int64_t, std::string>;

}  // namespace

std::string csv_field(std::string_view value) {
  if (value.find_first_of(",\"\n\r") == std::string_view::npos) return std::string(value);
  std::string quoted = "\"";
  for (const char c : value) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

Result<ImportSummary, ImportError> import_csv(pqxx::transaction_base& tx, std::string_view text,
                                              std::string_view entered_by, const MarketRules& rules,
                                              std::span<const ProductTerms> products,
                                              const ConsistencyCheck& check_consistency) {
  if (text.size() > kImportBytesMax) {
    return fail(at(1, MarketRefusal::malformed_line, "the file is larger than " + std::to_string(kImportBytesMax) + " bytes"));
  }
  std::map<std::string, const ProductTerms*> by_code;
  for (const auto& product : products) by_code.emplace(product.code, &product);

  std::map<GroupKey, Group> groups;
  std::vector<GroupKey> order;  // snapshots in the order of their first line
  ImportSummary summary;
  std::size_t number = 0;
  std::size_t position = 0;
  while (position < text.size()) {
    auto end = text.find('\n', position);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(position, end - position);
    position = end + 1;
    ++number;
    if (number > kImportLinesMax) {
      return fail(at(number, MarketRefusal::malformed_line, "more than " + std::to_string(kImportLinesMax) + " lines"));
    }
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (number == 1) {
      if (line != kCsvHeader) {
        return fail(at(1, MarketRefusal::malformed_line, "the header must be " + std::string(kCsvHeader)));
      }
      continue;
    }
    if (line.empty() || line.front() == '#') continue;
    const auto fields = split(line);
    if (!fields || fields->size() != kFields) {
      return fail(at(number, MarketRefusal::malformed_line,
                     "a record has " + std::to_string(kFields) + " fields (an unbalanced quote, or a missing comma?)"));
    }
    for (const auto& field : *fields) {
      if (has_control_character(field)) {
        return fail(at(number, MarketRefusal::malformed_line, "a field holds a control character"));
      }
    }
    const auto& f = *fields;
    const auto kind = parse_data_kind(f[0]);
    if (!kind) return fail(at(number, MarketRefusal::malformed_line, "record must be ois, settlement or fixing"));
    const auto date = BusinessDate::parse(f[1]);
    if (!date) return fail(at(number, MarketRefusal::malformed_line, "business_date must be a date YYYY-MM-DD"));
    const auto published_at = UtcTimestamp::parse(f[7]);
    if (!published_at) {
      return fail(at(number, MarketRefusal::malformed_line, "published_at must be a UTC time YYYY-MM-DDTHH:MM:SSZ"));
    }
    if (f[5].empty() || f[5].size() > kProvenanceTextMax || f[6].empty() || f[6].size() > kProvenanceTextMax ||
        f[8].size() > kCorrectionReasonMax) {
      return fail(at(number, MarketRefusal::malformed_line,
                     "source and publisher are 1-64 characters, a correction reason at most 500"));
    }
    Provenance provenance{f[5], f[6], *published_at, std::string(entered_by), std::nullopt, std::nullopt};
    if (!f[8].empty()) provenance.correction_reason = f[8];
    ++summary.records;

    const GroupKey key{static_cast<int>(*kind), date->days_since_epoch(), f[2]};
    auto found = groups.find(key);
    if (found == groups.end()) {
      found = groups.emplace(key, Group{*kind, *date, f[2], provenance, number, {}}).first;
      order.push_back(key);
    } else if (const Group& group = found->second; group.provenance.source != provenance.source || group.provenance.publisher != provenance.publisher ||
               group.provenance.published_at != provenance.published_at ||
               group.provenance.correction_reason != provenance.correction_reason) {
      return fail(at(number, MarketRefusal::inconsistent_provenance,
                     "this line's source, publisher, published_at or correction_reason differs from line " +
                         std::to_string(group.first_line) + "'s, of the same snapshot"));
    }
    found->second.lines.push_back({number, f[3], f[4]});
  }
  if (number == 0) return fail(at(1, MarketRefusal::malformed_line, "the file is empty"));

  for (const auto& key : order) {
    const Group& group = groups.at(key);
    Result<Stored, MarketError> stored = fail(MarketError{});
    if (group.kind == DataKind::ois) {
      if (group.subject != kOisCurve) {
        return fail(at(group.first_line, MarketRefusal::malformed_line, "the OIS subject is " + std::string(kOisCurve)));
      }
      std::vector<OisQuote> quotes;
      for (const auto& line : group.lines) {
        const auto tenor = parse_tenor(line.key);
        if (!tenor) {
          return fail(at(line.number, line.key.empty() ? MarketRefusal::missing_tenor : MarketRefusal::invalid_tenor,
                         line.key.empty() ? "an OIS quote needs its tenor" : "not a tenor: " + line.key));
        }
        const auto rate = parse_scaled_decimal(line.value, kRateScale);
        if (!rate) {
          return fail(at(line.number, MarketRefusal::invalid_rate,
                         "the rate is a decimal fraction with at most 8 decimals: " + line.value));
        }
        quotes.push_back({*tenor, *rate});
      }
      stored = store_ois_quotes(tx, group.date, std::move(quotes), group.provenance, rules);
    } else if (group.kind == DataKind::settlement) {
      const auto product = by_code.find(group.subject);
      if (product == by_code.end()) {
        return fail(at(group.first_line, MarketRefusal::unknown_product, "no product has the code " + group.subject));
      }
      std::vector<PeriodPrice> prices;
      for (const auto& line : group.lines) {
        const auto period = parse_period_label(line.key);
        if (!period) return fail(at(line.number, MarketRefusal::unknown_period, "no period is called " + line.key));
        const auto price = PricePerGpuHour::parse(line.value);
        if (!price) {
          return fail(at(line.number, MarketRefusal::invalid_price,
                         "the price is a decimal in USD per GPU-hour with at most 4 decimals: " + line.value));
        }
        prices.push_back({*period, *price});
      }
      stored = store_settlement_prices(tx, *product->second, group.date, std::move(prices), group.provenance, rules,
                                       check_consistency);
    } else {
      if (group.lines.size() != 1) {
        return fail(at(group.lines[1].number, MarketRefusal::malformed_line,
                       "an index has one fixing per date (line " + std::to_string(group.first_line) + " has it)"));
      }
      const auto value = PricePerGpuHour::parse(group.lines[0].value);
      if (!value) {
        return fail(at(group.first_line, MarketRefusal::invalid_price,
                       "the value is a decimal in USD per GPU-hour with at most 4 decimals"));
      }
      stored = store_index_fixing(tx, group.subject, group.date, *value, group.provenance, rules, products);
    }
    if (!stored) {
      // Name the line of the quote the refusal is about when the detail names its key.
      std::size_t line_number = group.first_line;
      for (const auto& line : group.lines) {
        if (names_key(stored.error().detail, line.key)) {
          line_number = line.number;
          break;
        }
      }
      return fail(ImportError{line_number, MarketError{stored.error().refusal,
                                                       "line " + std::to_string(line_number) + ": " +
                                                           stored.error().detail}});
    }
    if (stored->created) {
      ++summary.snapshots_created;
    } else {
      ++summary.snapshots_repeated;
    }
  }
  return summary;
}

}  // namespace cch::market
