#include "ledger_commands.hpp"

#include "exit_status.hpp"
#include "cch/core/log.hpp"
#include "cch/core/money.hpp"
#include "cch/db/pool.hpp"
#include "cch/ledger/queries.hpp"
#include "cch/ledger/verify.hpp"
#include "cch/runtime/service.hpp"

#include <pqxx/result>
#include <pqxx/transaction>

#include <fstream>
#include <iostream>
#include <sstream>

namespace cch::admin {
namespace {

// Runs `work` in a read-only REPEATABLE READ transaction; database failures become one line.
template <class Work>
int with_snapshot(const config::Config& config, Work work) {
  try {
    db::ConnectionPool pool(runtime::pool_options_from(config, "cch-admin"));
    auto lease = pool.acquire();
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(*lease);
    return work(static_cast<pqxx::transaction_base&>(tx));
  } catch (const std::exception& error) {
    return error_line(error.what(), kExitDatabase);
  }
}

std::string csv_field(std::string_view text) {
  if (text.find_first_of(",\"\n\r") == std::string_view::npos) {
    return std::string(text);
  }
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"') {
      out.push_back('"');
    }
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::string decimal_amount(std::int64_t amount_minor, const std::string& currency_code) {
  const auto currency = Currency::parse(currency_code);
  return currency ? format_amount(Money{amount_minor, *currency}) : std::to_string(amount_minor);
}

}  // namespace

int ledger_verify(const config::Config& config, const VerifyOptions& options) {
  std::map<int, ledger::ChainCheckpoint> from;
  if (options.checkpoint_file) {
    std::ifstream in(*options.checkpoint_file);
    if (!in) {
      return error_line("cannot read checkpoint file " + *options.checkpoint_file, kExitUsage);
    }
    std::stringstream text;
    text << in.rdbuf();
    const auto parsed = ledger::parse_checkpoints(text.str());
    if (!parsed) {
      return error_line("checkpoint file " + *options.checkpoint_file + " is malformed", kExitUsage);
    }
    from = *parsed;
  }
  return with_snapshot(config, [&](pqxx::transaction_base& tx) {
    const ledger::VerifyReport report = ledger::verify_chains(tx, from);
    if (!report.ok()) {
      const ledger::ChainBreak& broken = *report.first_break;
      std::cout << "BROKEN chain " << broken.chain_id << " link " << broken.link_sequence;
      if (broken.journal_id) {
        std::cout << " journal " << *broken.journal_id;
      }
      std::cout << ": " << ledger::to_string(broken.kind) << " (" << broken.detail << ")\n";
      std::cout << "checked " << report.links_checked << " links and " << report.journals_checked
                << " journals before the break" << std::endl;
      return kExitFound;
    }
    if (options.write_checkpoint_file) {
      std::ofstream out(*options.write_checkpoint_file, std::ios::trunc);
      out << ledger::format_checkpoints(report.checkpoints);
      if (!out) {
        return error_line("cannot write checkpoint file " + *options.write_checkpoint_file, kExitUsage);
      }
    }
    std::cout << "ok: " << report.links_checked << " links and " << report.journals_checked << " journals verified in "
              << report.checkpoints.size() << " chains" << std::endl;
    return 0;
  });
}

int ledger_trial_balance(const config::Config& config, const std::optional<std::string>& as_of) {
  std::optional<UtcTimestamp> instant;
  if (as_of) {
    const auto parsed = UtcTimestamp::parse(*as_of);
    if (!parsed) {
      return error_line("--as-of must be an ISO 8601 UTC time such as 2026-11-23T18:00:00Z (" +
                            std::string(to_string(parsed.error())) + ")",
                        kExitUsage);
    }
    instant = *parsed;
  }
  return with_snapshot(config, [&](pqxx::transaction_base& tx) {
    const ledger::TrialBalance balance = ledger::trial_balance(tx, instant);
    std::cout << "trial balance " << (instant ? "as of " + instant->format() : std::string("now")) << "\n";
    for (const auto& [currency, kinds] : balance.by_currency_and_kind) {
      for (const auto& [kind, amount] : kinds) {
        std::cout << "  " << currency << "  " << kind << std::string(kind.size() < 28 ? 28 - kind.size() : 1, ' ')
                  << decimal_amount(amount, currency) << "\n";
      }
      std::cout << "  " << currency << "  total" << std::string(23, ' ')
                << decimal_amount(balance.total_by_currency.at(currency), currency) << "\n";
    }
    std::cout << (balance.balanced() ? "balanced" : "NOT BALANCED") << std::endl;
    return balance.balanced() ? 0 : kExitFound;
  });
}

int ledger_history(const config::Config& config, std::int64_t account_id, const std::optional<std::string>& cursor,
                   std::size_t limit) {
  std::optional<ledger::HistoryCursor> before;
  if (cursor) {
    before = ledger::parse_cursor(*cursor);
    if (!before) {
      return error_line("--cursor must look like <journal_id>.<line_number>", kExitUsage);
    }
  }
  const auto account = AccountId::from_value(account_id);
  if (!account) {
    return error_line("--account must be a positive account id", kExitUsage);
  }
  return with_snapshot(config, [&](pqxx::transaction_base& tx) {
    const ledger::HistoryPage page = ledger::account_history(tx, *account, before, limit);
    std::cout << "journal_id,line,business_date,created_at,kind,cause,amount,currency\n";
    for (const ledger::HistoryEntry& entry : page.entries) {
      std::cout << entry.journal_id.value() << "," << entry.line_number << "," << entry.business_date.format() << ","
                << entry.created_at.format() << "," << entry.journal_kind << ","
                << csv_field(entry.cause_kind + ":" + entry.cause_reference) << "," << format_amount(entry.amount)
                << "," << entry.amount.currency.code() << "\n";
    }
    if (page.next) {
      std::cout << "# next page: --cursor " << ledger::format_cursor(*page.next) << "\n";
    }
    std::cout.flush();
    return 0;
  });
}

int ledger_export(const config::Config& config, const std::string& from, const std::string& to,
                  const std::optional<std::string>& output_file) {
  const auto start = UtcTimestamp::parse(from);
  const auto end = UtcTimestamp::parse(to);
  if (!start || !end) {
    return error_line("--from and --to must be ISO 8601 UTC times such as 2026-11-23T00:00:00Z", kExitUsage);
  }
  std::ofstream file;
  if (output_file) {
    file.open(*output_file, std::ios::trunc);
    if (!file) {
      return error_line("cannot write " + *output_file, kExitUsage);
    }
  }
  std::ostream& out = output_file ? static_cast<std::ostream&>(file) : std::cout;
  return with_snapshot(config, [&](pqxx::transaction_base& tx) {
    out << "journal_id,line_number,business_date,created_at,journal_kind,cause_kind,cause_reference,request_id,"
           "idempotency_key,account_id,currency,amount_minor,amount\n";
    constexpr std::int64_t kRowsPerQuery = 10000;
    std::int64_t after_journal = 0;
    int after_line = 0;
    std::int64_t rows_written = 0;
    for (;;) {
      const auto rows = tx.exec_params(
          "SELECT p.journal_id, p.line_number, j.business_date::text, "
          "       to_char(j.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), j.kind, j.cause_kind, "
          "       j.cause_reference, coalesce(j.request_id, ''), j.idempotency_key, p.account_id, p.currency, "
          "       p.amount_minor "
          "FROM ledger.posting p JOIN ledger.journal j USING (journal_id) "
          "WHERE j.created_at >= (timestamptz 'epoch' + $1::bigint * interval '1 microsecond') "
          "  AND j.created_at < (timestamptz 'epoch' + $2::bigint * interval '1 microsecond') "
          "  AND (p.journal_id, p.line_number) > ($3, $4) "
          "ORDER BY p.journal_id, p.line_number LIMIT $5",
          start->unix_microseconds(), end->unix_microseconds(), after_journal, after_line, kRowsPerQuery);
      for (const auto& row : rows) {
        const std::string currency = row[10].as<std::string>();
        const std::int64_t amount = row[11].as<std::int64_t>();
        out << row[0].as<std::string>() << "," << row[1].as<std::string>() << "," << row[2].as<std::string>() << ","
            << row[3].as<std::string>() << "," << row[4].as<std::string>() << "," << row[5].as<std::string>() << ","
            << csv_field(row[6].as<std::string>()) << "," << csv_field(row[7].as<std::string>()) << ","
            << csv_field(row[8].as<std::string>()) << "," << row[9].as<std::string>() << "," << currency << ","
            << amount << "," << decimal_amount(amount, currency) << "\n";
        after_journal = row[0].as<std::int64_t>();
        after_line = row[1].as<int>();
        ++rows_written;
      }
      if (static_cast<std::int64_t>(rows.size()) < kRowsPerQuery) {
        break;
      }
    }
    out.flush();
    log::flush();
    std::cerr << "exported " << rows_written << " postings" << std::endl;
    return 0;
  });
}

}  // namespace cch::admin
