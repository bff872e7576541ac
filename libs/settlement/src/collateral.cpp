#include "cch/settlement/collateral.hpp"
#include "cch/settlement/margin_calls.hpp"

#include "cch/ledger/accounts.hpp"
#include "cch/ledger/journal.hpp"
#include "cch/ledger/post.hpp"
#include "cch/ledger/queries.hpp"

#include <pqxx/result>

#include "cch/db/row.hpp"

#include <algorithm>
#include <cassert>
#include <stdexcept>

namespace cch::settlement {
namespace {

// A withdrawal row's select list, and the index of each column in it (withdrawal_from reads by these).
constexpr std::string_view kWithdrawalColumns =
    "withdrawal_id, member_id, amount_minor, currency, status, "
    "(extract(epoch FROM requested_at) * 1000000)::bigint, requested_by, "
    "(extract(epoch FROM decided_at) * 1000000)::bigint, decided_by, decision_note, journal_id";
enum WithdrawalColumn : int {
  withdrawal_id_column,
  member_column,
  amount_column,
  currency_column,
  status_column,
  requested_at_column,
  requested_by_column,
  decided_at_column,
  decided_by_column,
  decision_note_column,
  journal_column,
};

Withdrawal withdrawal_from(const pqxx::row& row) {
  return Withdrawal{
      .withdrawal_id = row[withdrawal_id_column].as<std::int64_t>(),
      .member = MemberId(row[member_column].as<std::int64_t>()),
      .amount = Money{row[amount_column].as<std::int64_t>(),
                      Currency::parse(row[currency_column].as<std::string>()).value()},
      .status = row[status_column].as<std::string>(),
      .requested_at = db::timestamp_of(row[requested_at_column]),
      .requested_by = row[requested_by_column].as<std::string>(),
      .decided_at = db::optional_timestamp_of(row[decided_at_column]),
      .decided_by = db::optional_of<std::string>(row[decided_by_column]),
      .decision_note = db::optional_of<std::string>(row[decision_note_column]),
      .journal_id = db::optional_id<JournalId>(row[journal_column]),
  };
}

bool valid_amount(const Money& amount) { return amount.amount_minor > 0 && amount.currency == Currency::usd(); }

// Within the largest movement. Precondition: a valid amount, and a maximum of its currency of at
// most kAmountMinorMax (a setting's range).
bool within_movement_max(const Money& amount, const Money& movement_max) {
  assert(movement_max.currency == amount.currency && movement_max.amount_minor <= kAmountMinorMax &&
         "collateral: the largest movement is an amount of the movement's currency within kAmountMinorMax");
  return amount <= movement_max;
}

// The refusal of a movement's journal the ledger did not post. The draft is built here from
// checked parts, so what is left is a balance it would take beyond the largest; anything else
// is a bug.
CollateralRefusal refusal_of(ledger::PostRefusal refusal) {
  if (refusal == ledger::PostRefusal::balance_limit_exceeded) return CollateralRefusal::balance_limit_exceeded;
  throw std::logic_error("collateral journal refused: " + std::string(ledger::to_string(refusal)));
}

// Locks the member's row so that this member's collateral checks run one at a time; answers its
// status, or nullopt for an unknown member.
std::optional<std::string> lock_member(pqxx::transaction_base& tx, MemberId member) {
  const auto rows =
      tx.exec_params("SELECT status FROM cch.member WHERE member_id = $1 FOR NO KEY UPDATE", member.value());
  if (rows.empty()) return std::nullopt;
  return rows[0][0].as<std::string>();
}

std::optional<Withdrawal> lock_withdrawal(pqxx::transaction_base& tx, std::int64_t withdrawal_id) {
  const auto rows = tx.exec_params("SELECT " + std::string(kWithdrawalColumns) +
                                       " FROM cch.collateral_withdrawal WHERE withdrawal_id = $1 FOR UPDATE",
                                   withdrawal_id);
  if (rows.empty()) return std::nullopt;
  return withdrawal_from(rows[0]);
}

Withdrawal decide(pqxx::transaction_base& tx, const Decision& decision, std::string_view status,
                  std::optional<JournalId> journal) {
  const auto rows = tx.exec_params(
      "UPDATE cch.collateral_withdrawal SET status = $2, decided_at = clock_timestamp(), decided_by = $3, "
      "decision_note = $4, journal_id = $5 WHERE withdrawal_id = $1 RETURNING " +
          std::string(kWithdrawalColumns),
      decision.withdrawal_id, std::string(status), decision.decided_by, decision.note,
      journal ? std::optional<std::int64_t>(journal->value()) : std::nullopt);
  return withdrawal_from(rows[0]);
}

}  // namespace

std::string_view to_string(CollateralRefusal refusal) {
  switch (refusal) {
    case CollateralRefusal::unknown_member: return "unknown_member";
    case CollateralRefusal::member_not_active: return "member_not_active";
    case CollateralRefusal::invalid_amount: return "invalid_amount";
    case CollateralRefusal::invalid_bank_reference: return "invalid_bank_reference";
    case CollateralRefusal::bank_reference_reused: return "bank_reference_reused";
    case CollateralRefusal::insufficient_collateral: return "insufficient_collateral";
    case CollateralRefusal::withdrawal_not_found: return "withdrawal_not_found";
    case CollateralRefusal::withdrawal_already_decided: return "withdrawal_already_decided";
    case CollateralRefusal::invalid_note: return "invalid_note";
    case CollateralRefusal::amount_too_large: return "amount_too_large";
    case CollateralRefusal::balance_limit_exceeded: return "balance_limit_exceeded";
  }
  return "unknown";
}

CollateralPosition collateral_position(pqxx::transaction_base& tx, MemberId member, const Currency& currency) {
  const auto row = tx.exec_params(
      "SELECT COALESCE((SELECT -b.balance_minor FROM ledger.account a JOIN ledger.account_balance b USING (account_id) "
      "                 WHERE a.owner_kind = 'member' AND a.member_id = $1 AND a.kind = 'collateral' "
      "                   AND a.currency = $2), 0), "
      "       COALESCE((SELECT sum(amount_minor) FROM cch.collateral_withdrawal "
      "                 WHERE member_id = $1 AND currency = $2 AND status = 'requested'), 0)::bigint, "
      "       COALESCE((SELECT initial_margin_cents FROM cch.member_margin_state WHERE member_id = $1 AND $2 = 'USD'), 0)",
      member.value(), std::string(currency.code()))[0];
  const std::int64_t held = row[0].as<std::int64_t>();
  const std::int64_t pending = row[1].as<std::int64_t>();
  const std::int64_t committed = row[2].as<std::int64_t>();
  return CollateralPosition{Money{held, currency}, Money{pending, currency}, Money{committed, currency},
                            Money{held - pending - committed, currency}};
}

Result<DepositRecorded, CollateralRefusal> record_deposit(pqxx::transaction_base& tx, const DepositRequest& request) {
  if (!valid_amount(request.amount)) return fail(CollateralRefusal::invalid_amount);
  if (!within_movement_max(request.amount, request.movement_max)) return fail(CollateralRefusal::amount_too_large);
  if (request.bank_reference.empty() || request.bank_reference.size() > kBankReferenceLengthMax) {
    return fail(CollateralRefusal::invalid_bank_reference);
  }
  if (!lock_member(tx, request.member)) return fail(CollateralRefusal::unknown_member);
  const AccountId collateral =
      ledger::open_member_account(tx, request.member, ledger::AccountKind::collateral, request.amount.currency);
  const std::string key = "collateral-deposit:" + request.bank_reference;

  // A reference recorded before (on any business date) is the same payment when it credited this
  // member's collateral with this amount; anything else reuses a reference.
  const auto earlier = tx.exec_params(
      "SELECT j.journal_id, bool_or(p.account_id = $2 AND p.amount_minor = $3) "
      "FROM ledger.journal j JOIN ledger.posting p USING (journal_id) WHERE j.idempotency_key = $1 "
      "GROUP BY j.journal_id",
      key, collateral.value(), -request.amount.amount_minor);
  if (!earlier.empty()) {
    if (!earlier[0][1].as<bool>()) return fail(CollateralRefusal::bank_reference_reused);
    return DepositRecorded{JournalId(earlier[0][0].as<std::int64_t>()), true,
                           collateral_position(tx, request.member, request.amount.currency).held};
  }

  ledger::JournalDraft draft;
  draft.idempotency_key = key;
  draft.business_date = request.business_date;
  draft.kind = ledger::JournalKind::collateral_deposit;
  draft.cause = ledger::Cause{ledger::CauseKind::collateral_movement, request.bank_reference};
  draft.request_id = request.request_id;
  draft.postings = {
      {ledger::open_house_account(tx, ledger::AccountKind::settlement_bank, request.amount.currency), request.amount},
      {collateral, Money{-request.amount.amount_minor, request.amount.currency}}};
  const auto posted = ledger::post(tx, draft);
  if (!posted) {
    // A concurrent writer of the same reference with other content.
    if (posted.error() == ledger::PostRefusal::idempotency_key_reused) return fail(CollateralRefusal::bank_reference_reused);
    // The house's settlement bank (or the member's collateral) would go beyond the largest balance.
    return fail(refusal_of(posted.error()));
  }
  // Balances move at commit; what the member holds afterwards is the balance plus this deposit
  // (both within kBalanceMinorMax: the sum fits).
  const CollateralPosition before = collateral_position(tx, request.member, request.amount.currency);
  const std::int64_t held_after = before.held.amount_minor + (posted->replayed ? 0 : request.amount.amount_minor);
  // A margin call the deposit covers is met by it, in its transaction.
  if (!posted->replayed && request.amount.currency == Currency::usd()) {
    meet_margin_call(tx, request.member, held_after - before.pending_withdrawals.amount_minor,
                     "deposit " + request.bank_reference, UtcTimestamp::now());
  }
  return DepositRecorded{posted->journal_id, posted->replayed, Money{held_after, request.amount.currency}};
}

Result<Withdrawal, CollateralRefusal> request_withdrawal(pqxx::transaction_base& tx, const WithdrawalRequest& request) {
  if (!valid_amount(request.amount)) return fail(CollateralRefusal::invalid_amount);
  if (!within_movement_max(request.amount, request.movement_max)) return fail(CollateralRefusal::amount_too_large);
  const auto status = lock_member(tx, request.member);
  if (!status) return fail(CollateralRefusal::unknown_member);
  const auto earlier = tx.exec_params("SELECT " + std::string(kWithdrawalColumns) +
                                          " FROM cch.collateral_withdrawal WHERE member_id = $1 AND idempotency_key = $2",
                                      request.member.value(), request.idempotency_key);
  if (!earlier.empty()) return withdrawal_from(earlier[0]);
  if (*status != "active") return fail(CollateralRefusal::member_not_active);
  if (request.margin_policy != nullptr) {
    (void)registry::current_margin_used(tx, *request.margin_policy, request.member, UtcTimestamp::now());
  }
  if (collateral_position(tx, request.member, request.amount.currency).available.amount_minor <
      request.amount.amount_minor) {
    return fail(CollateralRefusal::insufficient_collateral);
  }
  const auto rows = tx.exec_params(
      "INSERT INTO cch.collateral_withdrawal (member_id, amount_minor, currency, requested_by, request_id, "
      "idempotency_key) VALUES ($1, $2, $3, $4, $5, $6) RETURNING " +
          std::string(kWithdrawalColumns),
      request.member.value(), request.amount.amount_minor, std::string(request.amount.currency.code()), request.requested_by,
      request.request_id.value(), request.idempotency_key);
  return withdrawal_from(rows[0]);
}

Result<Withdrawal, CollateralRefusal> approve_withdrawal(pqxx::transaction_base& tx, const Decision& decision) {
  auto found = find_withdrawal(tx, decision.withdrawal_id);
  if (!found) return fail(CollateralRefusal::withdrawal_not_found);
  // Member first, then the withdrawal: the same order as request_withdrawal, so no deadlock.
  lock_member(tx, found->member);
  const auto withdrawal = lock_withdrawal(tx, decision.withdrawal_id);
  if (withdrawal->status != "requested") return fail(CollateralRefusal::withdrawal_already_decided);
  // This request is among the pending ones, so the held amount must cover it and the others
  // requested before: available (held - pending) must not be negative.
  if (collateral_position(tx, withdrawal->member, withdrawal->amount.currency).available.amount_minor < 0) {
    return fail(CollateralRefusal::insufficient_collateral);
  }
  ledger::JournalDraft draft;
  draft.idempotency_key = "collateral-withdrawal:" + std::to_string(withdrawal->withdrawal_id);
  draft.business_date = decision.business_date;
  draft.kind = ledger::JournalKind::collateral_withdrawal;
  draft.cause = ledger::Cause{ledger::CauseKind::collateral_movement,
                              "withdrawal:" + std::to_string(withdrawal->withdrawal_id)};
  draft.request_id = decision.request_id;
  draft.memo = decision.note.value_or("");
  draft.postings = {
      {ledger::open_member_account(tx, withdrawal->member, ledger::AccountKind::collateral, withdrawal->amount.currency),
       withdrawal->amount},
      {ledger::open_house_account(tx, ledger::AccountKind::settlement_bank, withdrawal->amount.currency),
       Money{-withdrawal->amount.amount_minor, withdrawal->amount.currency}}};
  const auto posted = ledger::post(tx, draft);
  if (!posted) return fail(refusal_of(posted.error()));
  return decide(tx, decision, "paid", posted->journal_id);
}

Result<Withdrawal, CollateralRefusal> reject_withdrawal(pqxx::transaction_base& tx, const Decision& decision) {
  if (!decision.note || decision.note->empty() || decision.note->size() > kDecisionNoteLengthMax) {
    return fail(CollateralRefusal::invalid_note);
  }
  const auto withdrawal = lock_withdrawal(tx, decision.withdrawal_id);
  if (!withdrawal) return fail(CollateralRefusal::withdrawal_not_found);
  if (withdrawal->status != "requested") return fail(CollateralRefusal::withdrawal_already_decided);
  return decide(tx, decision, "rejected", std::nullopt);
}

Result<Withdrawal, CollateralRefusal> cancel_withdrawal(pqxx::transaction_base& tx, const Decision& decision,
                                                        MemberId member) {
  const auto withdrawal = lock_withdrawal(tx, decision.withdrawal_id);
  if (!withdrawal || withdrawal->member != member) return fail(CollateralRefusal::withdrawal_not_found);
  if (withdrawal->status != "requested") return fail(CollateralRefusal::withdrawal_already_decided);
  return decide(tx, decision, "cancelled", std::nullopt);
}

std::optional<Withdrawal> find_withdrawal(pqxx::transaction_base& tx, std::int64_t withdrawal_id) {
  const auto rows = tx.exec_params(
      "SELECT " + std::string(kWithdrawalColumns) + " FROM cch.collateral_withdrawal WHERE withdrawal_id = $1",
      withdrawal_id);
  if (rows.empty()) return std::nullopt;
  return withdrawal_from(rows[0]);
}

std::optional<MemberId> withdrawal_owner(pqxx::transaction_base& tx, std::int64_t withdrawal_id) {
  const auto rows =
      tx.exec_params("SELECT member_id FROM cch.collateral_withdrawal WHERE withdrawal_id = $1", withdrawal_id);
  if (rows.empty()) return std::nullopt;
  return MemberId(rows[0]["member_id"].as<std::int64_t>());
}

std::vector<Withdrawal> list_withdrawals(pqxx::transaction_base& tx, MemberId member, std::optional<std::int64_t> before,
                                         std::size_t limit) {
  const auto clamped = static_cast<std::int64_t>(std::clamp<std::size_t>(limit, 1, 1000));
  const auto rows = tx.exec_params("SELECT " + std::string(kWithdrawalColumns) +
                                       " FROM cch.collateral_withdrawal WHERE member_id = $1 AND withdrawal_id < $2 "
                                       "ORDER BY withdrawal_id DESC LIMIT $3",
                                   member.value(), before.value_or(INT64_MAX), clamped);
  std::vector<Withdrawal> list;
  list.reserve(rows.size());
  for (const auto& row : rows) list.push_back(withdrawal_from(row));
  return list;
}

}  // namespace cch::settlement
