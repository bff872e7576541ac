#include "cch/ledger/accounts.hpp"

#include <pqxx/result>

#include "cch/db/prepared.hpp"

#include <cassert>

namespace cch::ledger {

AccountId open_member_account(pqxx::transaction_base& tx, MemberId member, AccountKind kind, const Currency& currency) {
  assert(is_member_kind(kind) && "a member account needs a member kind");
  const std::string currency_code(currency.code());
  // Nearly always it exists: one prepared statement.
  const auto existing = db::exec_cached(tx, "SELECT account_id FROM ledger.account WHERE owner_kind = 'member' "
                                            "AND member_id = $1 AND kind = $2 AND currency = $3",
                                        member.value(), std::string(to_string(kind)), currency_code);
  if (!existing.empty()) return AccountId(existing[0][0].as<std::int64_t>());
  const auto inserted = tx.exec_params(
      "INSERT INTO ledger.account (owner_kind, member_id, kind, currency) VALUES ('member', $1, $2, $3) "
      "ON CONFLICT (member_id, kind, currency) WHERE owner_kind = 'member' DO NOTHING RETURNING account_id",
      member.value(), std::string(to_string(kind)), currency_code);
  if (!inserted.empty()) {
    return AccountId(inserted[0][0].as<std::int64_t>());
  }
  return AccountId(tx.exec_params("SELECT account_id FROM ledger.account WHERE owner_kind = 'member' AND member_id = $1 "
                                  "AND kind = $2 AND currency = $3",
                                  member.value(), std::string(to_string(kind)), currency_code)[0][0]
                       .as<std::int64_t>());
}

AccountId open_house_account(pqxx::transaction_base& tx, AccountKind kind, const Currency& currency) {
  assert(!is_member_kind(kind) && "a house account needs a house kind");
  const std::string currency_code(currency.code());
  const auto existing = db::exec_cached(tx, "SELECT account_id FROM ledger.account WHERE owner_kind = 'house' "
                                            "AND kind = $1 AND currency = $2",
                                        std::string(to_string(kind)), currency_code);
  if (!existing.empty()) return AccountId(existing[0][0].as<std::int64_t>());
  const auto inserted = tx.exec_params(
      "INSERT INTO ledger.account (owner_kind, kind, currency) VALUES ('house', $1, $2) "
      "ON CONFLICT (kind, currency) WHERE owner_kind = 'house' DO NOTHING RETURNING account_id",
      std::string(to_string(kind)), currency_code);
  if (!inserted.empty()) {
    return AccountId(inserted[0][0].as<std::int64_t>());
  }
  return AccountId(tx.exec_params("SELECT account_id FROM ledger.account WHERE owner_kind = 'house' AND kind = $1 "
                                  "AND currency = $2",
                                  std::string(to_string(kind)), currency_code)[0][0]
                       .as<std::int64_t>());
}

std::optional<Account> find_account(pqxx::transaction_base& tx, AccountId account) {
  const auto rows = tx.exec_params("SELECT member_id, kind, currency FROM ledger.account WHERE account_id = $1",
                                   account.value());
  if (rows.empty()) {
    return std::nullopt;
  }
  Account found{account, std::nullopt, AccountKind::collateral, Currency::usd()};
  if (!rows[0][0].is_null()) {
    found.member = MemberId(rows[0][0].as<std::int64_t>());
  }
  found.kind = parse_account_kind(rows[0][1].as<std::string>()).value_or(AccountKind::collateral);
  const auto currency = Currency::parse(rows[0][2].as<std::string>());
  assert(currency && "the ledger holds a currency this build does not know");
  found.currency = *currency;
  return found;
}

std::vector<AccountId> member_account_ids(pqxx::transaction_base& tx, MemberId member) {
  std::vector<AccountId> accounts;
  for (const auto& row : tx.exec_params(
           "SELECT account_id FROM ledger.account WHERE owner_kind = 'member' AND member_id = $1 ORDER BY account_id",
           member.value())) {
    accounts.emplace_back(row["account_id"].as<std::int64_t>());
  }
  return accounts;
}

std::optional<AccountOwner> account_owner(pqxx::transaction_base& tx, AccountId account) {
  const auto rows = tx.exec_params("SELECT member_id FROM ledger.account WHERE account_id = $1", account.value());
  if (rows.empty()) return std::nullopt;
  const auto member = rows[0]["member_id"];
  return AccountOwner{member.is_null() ? std::nullopt : std::optional<MemberId>(MemberId(member.as<std::int64_t>()))};
}

}  // namespace cch::ledger
