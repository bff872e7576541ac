#pragma once
// Reading the ledger: balances now and as of an instant or business date, one account's history
// page by page, and the trial balance.
//
// "As of an instant" counts the journals written at or before it (journal.created_at); "as of a
// business date" counts the journals of that business date and earlier.
//
// Thread safety: functions take the caller's transaction. Use a REPEATABLE READ or read-only
// transaction for several reads that must agree.

#include "cch/core/ids.hpp"
#include "cch/core/money.hpp"
#include "cch/core/time.hpp"
#include "cch/ledger/journal.hpp"

#include <pqxx/transaction_base>

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cch::ledger {

struct AccountBalance {
  AccountId account_id;
  Money balance;
  std::int64_t version = 0;  // the number of postings the account has received
};

// The maintained balance (account_balance); nullopt for an unknown account.
std::optional<AccountBalance> balance(pqxx::transaction_base& tx, AccountId account);
std::optional<Money> balance_as_of(pqxx::transaction_base& tx, AccountId account, UtcTimestamp as_of);
std::optional<Money> balance_as_of(pqxx::transaction_base& tx, AccountId account, BusinessDate business_date);

struct HistoryEntry {
  JournalId journal_id;
  int line_number = 0;
  BusinessDate business_date;
  std::string journal_kind;
  std::string cause_kind;
  std::string cause_reference;
  std::optional<std::string> request_id;
  Money amount;
  UtcTimestamp created_at;
};

// Keyset position: entries strictly older than (journal_id, line_number).
struct HistoryCursor {
  std::int64_t journal_id = 0;
  int line_number = 0;
};

struct HistoryPage {
  std::vector<HistoryEntry> entries;     // newest first
  std::optional<HistoryCursor> next;     // set when older entries remain
};

inline constexpr std::size_t kHistoryPageSizeMax = 1000;

// One page of an account's postings, newest first. page_size is clamped to 1..kHistoryPageSizeMax.
HistoryPage account_history(pqxx::transaction_base& tx, AccountId account, std::optional<HistoryCursor> before,
                            std::size_t page_size);

// Cursor text for APIs: "<journal_id>.<line_number>"; parse refuses anything else.
std::string format_cursor(const HistoryCursor& cursor);
std::optional<HistoryCursor> parse_cursor(std::string_view text);

struct TrialBalance {
  // currency -> account kind -> sum of balances (minor units)
  std::map<std::string, std::map<std::string, std::int64_t>> by_currency_and_kind;
  std::map<std::string, std::int64_t> total_by_currency;  // zero in a sound ledger
  [[nodiscard]] bool balanced() const;
};

// Now (from maintained balances) or as of an instant (from postings).
TrialBalance trial_balance(pqxx::transaction_base& tx, std::optional<UtcTimestamp> as_of = std::nullopt);

// Accounts whose maintained balance or version differs from the sum or count of their postings
// (an auditor's consistency check; empty in a sound ledger).
std::vector<AccountId> accounts_out_of_balance(pqxx::transaction_base& tx);

}  // namespace cch::ledger
