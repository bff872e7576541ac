#pragma once
// Reading the ledger: balances now and as of an instant or business date, accounts with their
// balances in one statement, one account's history page by page, one journal with its postings,
// and the trial balance.
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
#include <span>
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

// An account and its maintained balance as one row shows them (kind and currency as stored).
struct AccountSummary {
  std::int64_t account_id = 0;
  std::optional<MemberId> member;  // empty for house accounts
  std::string kind;
  std::string currency;
  std::int64_t balance_minor = 0;  // 0 for an account that has no posting yet
  std::int64_t posting_count = 0;
};

// The accounts of `accounts` that exist, in no particular order: one prepared statement
// (db::exec_cached) whatever the number of ids, an index scan under a generic plan.
std::vector<AccountSummary> account_summaries(pqxx::transaction_base& tx, std::span<const std::int64_t> accounts);

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

// One journal and its postings in line order. `visible_to`: a member sees the postings to its own
// accounts and to the house's, never another member's; nullopt sees them all.
struct JournalPostingView {
  int line_number = 0;
  AccountId account_id;
  std::optional<MemberId> member;  // the account's; empty for a house account
  std::string account_kind;
  Money amount;
};
struct JournalView {
  JournalId journal_id;
  BusinessDate business_date;
  std::string kind;
  std::string cause_kind;
  std::string cause_reference;
  std::optional<std::string> request_id;
  std::optional<JournalId> reverses_journal_id;
  std::string memo;
  UtcTimestamp created_at;
  int chain_id = 0;
  std::int64_t link_sequence = 0;
  std::vector<JournalPostingView> postings;
};
// nullopt: no such journal. Two statements over rows that never change.
std::optional<JournalView> find_journal(pqxx::transaction_base& tx, JournalId journal,
                                        std::optional<MemberId> visible_to);

// Every posting to one of a member's accounts in the journals dated `business_date`, by journal id
// then line; at most `limit` (the caller asks one more than it shows to know there are more).
struct MemberPostingOfDate {
  JournalId journal_id;
  std::string kind;  // the journal's
  std::string cause_kind;
  std::string cause_reference;
  std::optional<JournalId> reverses_journal_id;
  std::string memo;
  AccountId account_id;
  std::string account_kind;
  Money amount;  // signed as posted: positive debits the account
};
std::vector<MemberPostingOfDate> member_postings_of_date(pqxx::transaction_base& tx, MemberId member,
                                                         BusinessDate business_date, std::size_t limit);
// The journal that reverses `journal`, if one does (at most one may).
std::optional<JournalId> reversal_of(pqxx::transaction_base& tx, JournalId journal);

// Whether a journal posts to one of the member's accounts; nullopt: no such journal (one statement).
std::optional<bool> journal_posts_to_member(pqxx::transaction_base& tx, JournalId journal, MemberId member);

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
