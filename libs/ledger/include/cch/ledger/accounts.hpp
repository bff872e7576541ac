#pragma once
// Ledger accounts: one per (member, kind, currency) or per (house kind, currency), opened once.
// Who owns an account never changes once it is opened.
//
// Thread safety: functions take the caller's transaction.

#include "cch/core/ids.hpp"
#include "cch/core/money.hpp"
#include "cch/ledger/journal.hpp"

#include <pqxx/transaction_base>

#include <optional>
#include <vector>

namespace cch::ledger {

// Opens the account if it does not exist and returns its id either way. A member kind needs a
// member; a house kind must not have one (assertion: the caller picks the kind).
AccountId open_member_account(pqxx::transaction_base& tx, MemberId member, AccountKind kind, const Currency& currency);
AccountId open_house_account(pqxx::transaction_base& tx, AccountKind kind, const Currency& currency);

struct Account {
  AccountId account_id;
  std::optional<MemberId> member;  // empty for house accounts
  AccountKind kind = AccountKind::collateral;
  Currency currency = Currency::usd();
};

std::optional<Account> find_account(pqxx::transaction_base& tx, AccountId account);

// A member's accounts, in id order (one statement).
std::vector<AccountId> member_account_ids(pqxx::transaction_base& tx, MemberId member);

// Who owns an account: nullopt when there is no such account; `member` empty for the house's.
struct AccountOwner {
  std::optional<MemberId> member;
};
std::optional<AccountOwner> account_owner(pqxx::transaction_base& tx, AccountId account);

}  // namespace cch::ledger
