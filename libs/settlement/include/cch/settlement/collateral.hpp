#pragma once
// Cash collateral: deposits an operator records when the settlement bank reports a payment in,
// and withdrawals a member requests and an operator approves (the payment out) or rejects.
//
// Ledger effects (docs/ledger.md for signs: a member's collateral account is credited, i.e.
// negative, by what the clearinghouse owes the member back):
//   deposit   settlement_bank +amount, member collateral -amount   (journal collateral_deposit)
//   withdrawal paid: member collateral +amount, settlement_bank -amount (collateral_withdrawal)
//
// Rules, each refusal a stable reason (to_string):
//   - amounts are positive with at most the currency's decimals; USD only for now;
//   - a deposit or a withdrawal is at most the request's movement_max, the setting
//     settlement.collateral_movement_max, itself at most kAmountMinorMax (amount_too_large);
//   - no movement may take an account of the ledger beyond the largest balance
//     (ledger::kBalanceMinorMax, 10^15 cents): the house's settlement bank holds every member's
//     collateral, so deposits that would take it beyond are refused (balance_limit_exceeded) until
//     money is paid out. Every sum here (held - pending - committed) therefore fits in int64;
//   - a deposit's bank reference (1-150 bytes) identifies the payment: recording it twice posts
//     one journal (the second answer is a replay); the same reference with another member or
//     amount is refused (bank_reference_reused);
//   - a member may request at most its available collateral: the collateral it holds minus the
//     withdrawals already requested and not yet decided and minus its initial margin (the
//     registry's margin check's figure, docs/margin.md) (insufficient_collateral). The check and
//     the request are serialised per member (the member row is locked), so concurrent requests
//     never jointly exceed it. Approval checks again against the collateral then held.
//   - a member's request is idempotent by its idempotency key (the api's Idempotency-Key): the
//     same key answers the first request.
//   - only a requested withdrawal may be approved, rejected or cancelled, and only once; only the
//     member itself cancels, only staff approve or reject.
//   - members that are not active cannot request withdrawals (member_not_active); deposits are
//     accepted from any registered member (money in is never refused for status).
//
// Thread safety: functions take the caller's transaction.

#include "cch/core/ids.hpp"
#include "cch/core/money.hpp"
#include "cch/core/result.hpp"
#include "cch/core/time.hpp"
#include "cch/registry/trades.hpp"

#include <pqxx/transaction_base>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cch::settlement {

enum class CollateralRefusal {
  unknown_member,
  member_not_active,
  invalid_amount,
  invalid_bank_reference,
  bank_reference_reused,
  insufficient_collateral,
  withdrawal_not_found,
  withdrawal_already_decided,
  invalid_note,
  amount_too_large,        // more than the movement_max of the request
  balance_limit_exceeded,  // the journal would take a ledger account beyond ledger::kBalanceMinorMax
};
std::string_view to_string(CollateralRefusal refusal);

inline constexpr std::size_t kBankReferenceLengthMax = 150;
inline constexpr std::size_t kDecisionNoteLengthMax = 500;

struct DepositRequest {
  MemberId member;
  Money amount;
  std::string bank_reference;
  BusinessDate business_date;
  std::optional<RequestId> request_id;
  Money movement_max;  // settlement.collateral_movement_max; at most kAmountMinorMax
};

struct DepositRecorded {
  JournalId journal_id;
  bool replayed = false;
  Money collateral_held;  // after the deposit
};

Result<DepositRecorded, CollateralRefusal> record_deposit(pqxx::transaction_base& tx, const DepositRequest& request);

struct Withdrawal {
  std::int64_t withdrawal_id = 0;
  MemberId member;
  Money amount;
  std::string status;  // requested, paid, rejected, cancelled
  UtcTimestamp requested_at;
  std::string requested_by;
  std::optional<UtcTimestamp> decided_at;
  std::optional<std::string> decided_by;
  std::optional<std::string> decision_note;
  std::optional<JournalId> journal_id;
};

struct WithdrawalRequest {
  MemberId member;
  Money amount;
  std::string requested_by;     // principal name
  std::string idempotency_key;  // 1-200 visible ASCII characters
  RequestId request_id;
  Money movement_max;  // settlement.collateral_movement_max; at most kAmountMinorMax
  // When given, the member's margin state is brought under the latest margin model before the
  // check (registry::current_margin_used): the check is against the margin the latest model asks,
  // not the one the member's last trade was priced with.
  const registry::RegistrationPolicy* margin_policy = nullptr;
};

Result<Withdrawal, CollateralRefusal> request_withdrawal(pqxx::transaction_base& tx, const WithdrawalRequest& request);

struct Decision {
  std::int64_t withdrawal_id = 0;
  std::string decided_by;
  std::optional<std::string> note;  // required to reject
  BusinessDate business_date;       // of the payment journal (approve)
  std::optional<RequestId> request_id;
};

Result<Withdrawal, CollateralRefusal> approve_withdrawal(pqxx::transaction_base& tx, const Decision& decision);
Result<Withdrawal, CollateralRefusal> reject_withdrawal(pqxx::transaction_base& tx, const Decision& decision);
// `member` is the caller's member: another member's withdrawal is withdrawal_not_found.
Result<Withdrawal, CollateralRefusal> cancel_withdrawal(pqxx::transaction_base& tx, const Decision& decision,
                                                        MemberId member);

std::optional<Withdrawal> find_withdrawal(pqxx::transaction_base& tx, std::int64_t withdrawal_id);
// The member that requested a withdrawal (it never changes); nullopt: no such withdrawal.
std::optional<MemberId> withdrawal_owner(pqxx::transaction_base& tx, std::int64_t withdrawal_id);
// A member's withdrawals, newest first, strictly before `before` (an id), at most `limit` (1..1000).
std::vector<Withdrawal> list_withdrawals(pqxx::transaction_base& tx, MemberId member, std::optional<std::int64_t> before,
                                         std::size_t limit);

// Collateral the member holds (its collateral account's credit balance) and what it may still
// withdraw (held minus requested withdrawals).
// available = held - pending_withdrawals - committed, where committed is the member's initial
// margin as the registry's margin check last computed it (cch.member_margin_state: its open
// positions under the latest margin model it was priced with, docs/margin.md): collateral that
// covers the initial margin cannot be withdrawn.
struct CollateralPosition {
  Money held;
  Money pending_withdrawals;
  Money committed;
  Money available;
};
CollateralPosition collateral_position(pqxx::transaction_base& tx, MemberId member, const Currency& currency);

}  // namespace cch::settlement
