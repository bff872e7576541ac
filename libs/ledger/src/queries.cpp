#include "cch/ledger/queries.hpp"

#include <pqxx/result>

#include "cch/db/array.hpp"
#include "cch/db/prepared.hpp"
#include "cch/db/row.hpp"

#include <algorithm>
#include <cassert>
#include <charconv>

namespace cch::ledger {
namespace {

Currency currency_from(const std::string& code) {
  const auto currency = Currency::parse(code);
  assert(currency && "the ledger holds a currency this build does not know");
  return currency ? *currency : Currency::usd();
}

std::optional<Money> sum_for(const pqxx::result& rows) {
  if (rows.empty()) {
    return std::nullopt;
  }
  return Money{rows[0][0].as<std::int64_t>(), currency_from(rows[0][1].as<std::string>())};
}

}  // namespace

std::optional<AccountBalance> balance(pqxx::transaction_base& tx, AccountId account) {
  const auto rows = tx.exec_params(
      "SELECT balance_minor, currency, version FROM ledger.account_balance WHERE account_id = $1", account.value());
  if (rows.empty()) {
    return std::nullopt;
  }
  return AccountBalance{account, Money{rows[0][0].as<std::int64_t>(), currency_from(rows[0][1].as<std::string>())},
                        rows[0][2].as<std::int64_t>()};
}

std::optional<Money> balance_as_of(pqxx::transaction_base& tx, AccountId account, UtcTimestamp as_of) {
  return sum_for(tx.exec_params(
      "SELECT coalesce((SELECT sum(p.amount_minor) FROM ledger.posting p JOIN ledger.journal j USING (journal_id) "
      "                 WHERE p.account_id = a.account_id "
      "                   AND j.created_at <= (timestamptz 'epoch' + $2::bigint * interval '1 microsecond')), 0)::bigint, a.currency "
      "FROM ledger.account a WHERE a.account_id = $1",
      account.value(), as_of.unix_microseconds()));
}

std::optional<Money> balance_as_of(pqxx::transaction_base& tx, AccountId account, BusinessDate business_date) {
  return sum_for(tx.exec_params(
      "SELECT coalesce((SELECT sum(p.amount_minor) FROM ledger.posting p JOIN ledger.journal j USING (journal_id) "
      "                 WHERE p.account_id = a.account_id AND j.business_date <= $2::date), 0)::bigint, a.currency "
      "FROM ledger.account a WHERE a.account_id = $1",
      account.value(), business_date.format()));
}

HistoryPage account_history(pqxx::transaction_base& tx, AccountId account, std::optional<HistoryCursor> before,
                            std::size_t page_size) {
  const std::size_t limit = std::clamp<std::size_t>(page_size, 1, kHistoryPageSizeMax);
  const HistoryCursor from = before.value_or(HistoryCursor{INT64_MAX, 0});
  // One more row than asked tells whether another page exists.
  const auto rows = tx.exec_params(
      // The page is cut from the account's index first and only then joined to its journals, so
      // the planner cannot choose to walk the journal table from one end (it did, on 5M rows).
      "SELECT p.journal_id, p.line_number, j.business_date::text, j.kind, j.cause_kind, j.cause_reference, "
      "       j.request_id, p.amount_minor, p.currency, (extract(epoch FROM j.created_at) * 1000000)::bigint "
      "FROM (SELECT journal_id, line_number, amount_minor, currency FROM ledger.posting "
      "      WHERE account_id = $1 AND (journal_id, line_number) < ($2, $3) "
      "      ORDER BY journal_id DESC, line_number DESC LIMIT $4) p "
      "JOIN ledger.journal j USING (journal_id) "
      "ORDER BY p.journal_id DESC, p.line_number DESC",
      account.value(), from.journal_id, before ? from.line_number : 32767, static_cast<std::int64_t>(limit + 1));
  HistoryPage page;
  for (const auto& row : rows) {
    if (page.entries.size() == limit) {
      const HistoryEntry& last = page.entries.back();
      page.next = HistoryCursor{last.journal_id.value(), last.line_number};
      break;
    }
    HistoryEntry entry{JournalId(row[0].as<std::int64_t>()),
                       row[1].as<int>(),
                       BusinessDate::parse(row[2].as<std::string>()).value(),
                       row[3].as<std::string>(),
                       row[4].as<std::string>(),
                       row[5].as<std::string>(),
                       row[6].is_null() ? std::nullopt : std::optional(row[6].as<std::string>()),
                       Money{row[7].as<std::int64_t>(), currency_from(row[8].as<std::string>())},
                       UtcTimestamp(row[9].as<std::int64_t>())};
    page.entries.push_back(std::move(entry));
  }
  return page;
}

namespace {

// account_summaries' select list and the index of each column in it.
constexpr std::string_view kAccountSummaryColumns =
    "a.account_id, a.member_id, a.kind, a.currency, COALESCE(b.balance_minor, 0), COALESCE(b.version, 0) ";
enum AccountSummaryColumn : int { account_id_column, member_column, kind_column, currency_column, balance_column,
                                  posting_count_column };

// find_journal's two select lists and the index of each column in them.
constexpr std::string_view kJournalColumns =
    "journal_id, business_date::text, kind, cause_kind, cause_reference, request_id, reverses_journal_id, "
    "memo, (extract(epoch FROM created_at) * 1000000)::bigint, chain_id, link_sequence ";
enum JournalColumn : int { journal_id_column, business_date_column, journal_kind_column, cause_kind_column,
                           cause_reference_column, request_id_column, reverses_column, memo_column,
                           created_at_column, chain_column, link_sequence_column };
constexpr std::string_view kJournalPostingColumns =
    "p.line_number, p.account_id, a.member_id, a.kind, p.currency, p.amount_minor ";
enum JournalPostingColumn : int { line_number_column, posting_account_column, posting_member_column,
                                  account_kind_column, posting_currency_column, amount_column };

using db::optional_id;

std::optional<std::string> optional_text(const pqxx::field& field) { return db::optional_of<std::string>(field); }

}  // namespace

std::vector<AccountSummary> account_summaries(pqxx::transaction_base& tx, std::span<const std::int64_t> accounts) {
  static const std::string statement = "SELECT " + std::string(kAccountSummaryColumns) +
                                       "FROM ledger.account a LEFT JOIN ledger.account_balance b USING (account_id) "
                                       "WHERE a.account_id = ANY ($1::bigint[])";
  const auto rows = db::exec_cached(tx, statement, db::integer_array(accounts));
  std::vector<AccountSummary> found;
  found.reserve(rows.size());
  for (const auto& row : rows) {
    found.push_back(AccountSummary{.account_id = row[account_id_column].as<std::int64_t>(),
                                   .member = optional_id<MemberId>(row[member_column]),
                                   .kind = row[kind_column].as<std::string>(),
                                   .currency = row[currency_column].as<std::string>(),
                                   .balance_minor = row[balance_column].as<std::int64_t>(),
                                   .posting_count = row[posting_count_column].as<std::int64_t>()});
  }
  return found;
}

std::optional<JournalView> find_journal(pqxx::transaction_base& tx, JournalId journal,
                                        std::optional<MemberId> visible_to) {
  const auto header = tx.exec_params(
      "SELECT " + std::string(kJournalColumns) + "FROM ledger.journal WHERE journal_id = $1", journal.value());
  if (header.empty()) return std::nullopt;
  const auto& row = header[0];
  JournalView view{.journal_id = JournalId(row[journal_id_column].as<std::int64_t>()),
                   .business_date = BusinessDate::parse(row[business_date_column].as<std::string>()).value(),
                   .kind = row[journal_kind_column].as<std::string>(),
                   .cause_kind = row[cause_kind_column].as<std::string>(),
                   .cause_reference = row[cause_reference_column].as<std::string>(),
                   .request_id = optional_text(row[request_id_column]),
                   .reverses_journal_id = optional_id<JournalId>(row[reverses_column]),
                   .memo = row[memo_column].as<std::string>(),
                   .created_at = db::timestamp_of(row[created_at_column]),
                   .chain_id = row[chain_column].as<int>(),
                   .link_sequence = row[link_sequence_column].as<std::int64_t>(),
                   .postings = {}};
  for (const auto& posting : tx.exec_params(
           "SELECT " + std::string(kJournalPostingColumns) +
               "FROM ledger.posting p JOIN ledger.account a USING (account_id) "
               "WHERE p.journal_id = $1 AND ($2::bigint IS NULL OR a.member_id IS NULL OR a.member_id = $2) "
               "ORDER BY p.line_number",
           journal.value(), visible_to ? std::optional<std::int64_t>(visible_to->value()) : std::nullopt)) {
    view.postings.push_back(JournalPostingView{
        .line_number = posting[line_number_column].as<int>(),
        .account_id = AccountId(posting[posting_account_column].as<std::int64_t>()),
        .member = optional_id<MemberId>(posting[posting_member_column]),
        .account_kind = posting[account_kind_column].as<std::string>(),
        .amount = Money{posting[amount_column].as<std::int64_t>(),
                        currency_from(posting[posting_currency_column].as<std::string>())}});
  }
  return view;
}

std::optional<bool> journal_posts_to_member(pqxx::transaction_base& tx, JournalId journal, MemberId member) {
  const auto rows = tx.exec_params(
      "SELECT EXISTS (SELECT 1 FROM ledger.journal WHERE journal_id = $1) AS journal_exists, "
      "EXISTS (SELECT 1 FROM ledger.posting p JOIN ledger.account a USING (account_id) "
      "        WHERE p.journal_id = $1 AND a.member_id = $2) AS posts_to_member",
      journal.value(), member.value());
  if (!rows[0]["journal_exists"].as<bool>()) return std::nullopt;
  return rows[0]["posts_to_member"].as<bool>();
}

std::string format_cursor(const HistoryCursor& cursor) {
  return std::to_string(cursor.journal_id) + "." + std::to_string(cursor.line_number);
}

std::optional<HistoryCursor> parse_cursor(std::string_view text) {
  const auto dot = text.find('.');
  if (dot == std::string_view::npos || text.size() > 40) {
    return std::nullopt;
  }
  HistoryCursor cursor;
  const auto first = std::from_chars(text.data(), text.data() + dot, cursor.journal_id);
  const auto second = std::from_chars(text.data() + dot + 1, text.data() + text.size(), cursor.line_number);
  if (first.ec != std::errc{} || first.ptr != text.data() + dot || second.ec != std::errc{} ||
      second.ptr != text.data() + text.size() || cursor.journal_id <= 0 || cursor.line_number <= 0) {
    return std::nullopt;
  }
  return cursor;
}

bool TrialBalance::balanced() const {
  return std::all_of(total_by_currency.begin(), total_by_currency.end(),
                     [](const auto& entry) { return entry.second == 0; });
}

TrialBalance trial_balance(pqxx::transaction_base& tx, std::optional<UtcTimestamp> as_of) {
  const pqxx::result rows =
      as_of ? tx.exec_params(
                  "SELECT a.currency, a.kind, sum(p.amount_minor)::bigint "
                  "FROM ledger.posting p JOIN ledger.journal j USING (journal_id) JOIN ledger.account a USING (account_id) "
                  "WHERE j.created_at <= (timestamptz 'epoch' + $1::bigint * interval '1 microsecond') GROUP BY a.currency, a.kind",
                  as_of->unix_microseconds())
            : tx.exec("SELECT b.currency, a.kind, sum(b.balance_minor)::bigint "
                      "FROM ledger.account_balance b JOIN ledger.account a USING (account_id) GROUP BY b.currency, a.kind");
  TrialBalance result;
  for (const auto& row : rows) {
    const std::string currency = row[0].as<std::string>();
    const std::int64_t amount = row[2].as<std::int64_t>();
    result.by_currency_and_kind[currency][row[1].as<std::string>()] = amount;
    result.total_by_currency[currency] += amount;
  }
  return result;
}

std::vector<AccountId> accounts_out_of_balance(pqxx::transaction_base& tx) {
  std::vector<AccountId> accounts;
  for (const auto& row : tx.exec(
           "SELECT b.account_id FROM ledger.account_balance b "
           "LEFT JOIN (SELECT account_id, sum(amount_minor) AS total, count(*) AS n FROM ledger.posting GROUP BY account_id) s "
           "  USING (account_id) "
           "WHERE b.balance_minor <> coalesce(s.total, 0) OR b.version <> coalesce(s.n, 0) ORDER BY b.account_id")) {
    accounts.emplace_back(row[0].as<std::int64_t>());
  }
  return accounts;
}

std::vector<MemberPostingOfDate> member_postings_of_date(pqxx::transaction_base& tx, MemberId member,
                                                         BusinessDate business_date, std::size_t limit) {
  std::vector<MemberPostingOfDate> out;
  for (const auto& row : tx.exec_params(
           "SELECT j.journal_id, j.kind, j.cause_kind, j.cause_reference, j.reverses_journal_id, j.memo, "
           "p.account_id, a.kind, p.amount_minor, p.currency FROM ledger.account a "
           "JOIN ledger.posting p USING (account_id) JOIN ledger.journal j USING (journal_id) "
           "WHERE a.member_id = $1 AND j.business_date = $2::date ORDER BY j.journal_id, p.line_number LIMIT $3",
           member.value(), business_date.format(), static_cast<std::int64_t>(limit))) {
    MemberPostingOfDate posting{JournalId(row[0].as<std::int64_t>()),
                                row[1].as<std::string>(),
                                row[2].as<std::string>(),
                                row[3].as<std::string>(),
                                std::nullopt,
                                row[5].as<std::string>(),
                                AccountId(row[6].as<std::int64_t>()),
                                row[7].as<std::string>(),
                                Money{row[8].as<std::int64_t>(), Currency::parse(row[9].as<std::string>()).value()}};
    if (!row[4].is_null()) posting.reverses_journal_id = JournalId(row[4].as<std::int64_t>());
    out.push_back(std::move(posting));
  }
  return out;
}

std::optional<JournalId> reversal_of(pqxx::transaction_base& tx, JournalId journal) {
  const auto rows =
      tx.exec_params("SELECT journal_id FROM ledger.journal WHERE reverses_journal_id = $1", journal.value());
  if (rows.empty()) return std::nullopt;
  return JournalId(rows[0][0].as<std::int64_t>());
}

}  // namespace cch::ledger
