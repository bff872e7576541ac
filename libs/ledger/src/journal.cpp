#include "cch/ledger/journal.hpp"

#include "cch/core/decimal.hpp"

#include <algorithm>
#include <array>
#include <map>

namespace cch::ledger {
namespace {

template <class Enum, std::size_t N>
std::optional<Enum> parse_from(const std::array<Enum, N>& values, std::string_view text) {
  for (const Enum value : values) {
    if (to_string(value) == text) {
      return value;
    }
  }
  return std::nullopt;
}

constexpr std::array kAccountKinds = {
    AccountKind::collateral,       AccountKind::variation_margin,  AccountKind::fees,
    AccountKind::delivery_settlement, AccountKind::default_fund,   AccountKind::settlement_bank,
    AccountKind::fee_income,       AccountKind::variation_margin_clearing, AccountKind::delivery_clearing,
    AccountKind::default_fund_pool, AccountKind::house_capital,
};

constexpr std::array kJournalKinds = {
    JournalKind::collateral_deposit, JournalKind::collateral_withdrawal,     JournalKind::clearing_fee,
    JournalKind::variation_margin,   JournalKind::delivery_settlement,       JournalKind::default_fund_contribution,
    JournalKind::reversal,           JournalKind::adjustment,
};

constexpr std::array kCauseKinds = {CauseKind::trade,       CauseKind::settlement_run, CauseKind::collateral_movement,
                                    CauseKind::api_request, CauseKind::journal,        CauseKind::operator_action};

}  // namespace

std::span<const AccountKind> all_account_kinds() { return kAccountKinds; }
std::span<const JournalKind> all_journal_kinds() { return kJournalKinds; }

std::string_view to_string(AccountKind kind) {
  switch (kind) {
    case AccountKind::collateral: return "collateral";
    case AccountKind::variation_margin: return "variation_margin";
    case AccountKind::fees: return "fees";
    case AccountKind::delivery_settlement: return "delivery_settlement";
    case AccountKind::default_fund: return "default_fund";
    case AccountKind::settlement_bank: return "settlement_bank";
    case AccountKind::fee_income: return "fee_income";
    case AccountKind::variation_margin_clearing: return "variation_margin_clearing";
    case AccountKind::delivery_clearing: return "delivery_clearing";
    case AccountKind::default_fund_pool: return "default_fund_pool";
    case AccountKind::house_capital: return "house_capital";
  }
  return "unknown";
}

std::optional<AccountKind> parse_account_kind(std::string_view text) { return parse_from(kAccountKinds, text); }

bool is_member_kind(AccountKind kind) {
  switch (kind) {
    case AccountKind::collateral:
    case AccountKind::variation_margin:
    case AccountKind::fees:
    case AccountKind::delivery_settlement:
    case AccountKind::default_fund: return true;
    default: return false;
  }
}

std::string_view to_string(JournalKind kind) {
  switch (kind) {
    case JournalKind::collateral_deposit: return "collateral_deposit";
    case JournalKind::collateral_withdrawal: return "collateral_withdrawal";
    case JournalKind::clearing_fee: return "clearing_fee";
    case JournalKind::variation_margin: return "variation_margin";
    case JournalKind::delivery_settlement: return "delivery_settlement";
    case JournalKind::default_fund_contribution: return "default_fund_contribution";
    case JournalKind::reversal: return "reversal";
    case JournalKind::adjustment: return "adjustment";
  }
  return "unknown";
}

std::optional<JournalKind> parse_journal_kind(std::string_view text) { return parse_from(kJournalKinds, text); }

std::string_view to_string(CauseKind kind) {
  switch (kind) {
    case CauseKind::trade: return "trade";
    case CauseKind::settlement_run: return "settlement_run";
    case CauseKind::collateral_movement: return "collateral_movement";
    case CauseKind::api_request: return "api_request";
    case CauseKind::journal: return "journal";
    case CauseKind::operator_action: return "operator";
  }
  return "unknown";
}

std::optional<CauseKind> parse_cause_kind(std::string_view text) { return parse_from(kCauseKinds, text); }

std::string_view to_string(PostRefusal refusal) {
  switch (refusal) {
    case PostRefusal::invalid_idempotency_key: return "invalid_idempotency_key";
    case PostRefusal::invalid_cause_reference: return "invalid_cause_reference";
    case PostRefusal::memo_too_long: return "memo_too_long";
    case PostRefusal::too_few_postings: return "too_few_postings";
    case PostRefusal::too_many_postings: return "too_many_postings";
    case PostRefusal::zero_amount: return "zero_amount";
    case PostRefusal::amount_too_large: return "amount_too_large";
    case PostRefusal::unbalanced: return "unbalanced";
    case PostRefusal::reversal_inconsistent: return "reversal_inconsistent";
    case PostRefusal::unknown_account: return "unknown_account";
    case PostRefusal::currency_mismatch: return "currency_mismatch";
    case PostRefusal::reversal_target_missing: return "reversal_target_missing";
    case PostRefusal::reversal_not_exact: return "reversal_not_exact";
    case PostRefusal::already_reversed: return "already_reversed";
    case PostRefusal::balance_limit_exceeded: return "balance_limit_exceeded";
    case PostRefusal::idempotency_key_reused: return "idempotency_key_reused";
    case PostRefusal::batch_too_large: return "batch_too_large";
  }
  return "unknown";
}

std::optional<PostRefusal> check_draft(const JournalDraft& draft) {
  if (draft.idempotency_key.empty() || draft.idempotency_key.size() > kIdempotencyKeyLengthMax) {
    return PostRefusal::invalid_idempotency_key;
  }
  if (draft.cause.reference.empty() || draft.cause.reference.size() > kCauseReferenceLengthMax) {
    return PostRefusal::invalid_cause_reference;
  }
  if (draft.memo.size() > kMemoLengthMax) {
    return PostRefusal::memo_too_long;
  }
  if (draft.postings.size() < 2) {
    return PostRefusal::too_few_postings;
  }
  if (draft.postings.size() > kPostingsPerJournalMax) {
    return PostRefusal::too_many_postings;
  }
  for (const PostingLine& line : draft.postings) {
    if (line.amount.amount_minor == 0) {
      return PostRefusal::zero_amount;
    }
  }
  // Sums per currency in 128 bits (each amount is bounded first, but they would not overflow for
  // up to kPostingsPerJournalMax int64 amounts either).
  std::map<std::string, Int128, std::less<>> sums;
  for (const PostingLine& line : draft.postings) {
    if (line.amount.amount_minor > kAmountMinorMax || line.amount.amount_minor < -kAmountMinorMax) {
      return PostRefusal::amount_too_large;
    }
    sums[std::string(line.amount.currency.code())] += line.amount.amount_minor;
  }
  if (std::any_of(sums.begin(), sums.end(), [](const auto& entry) { return entry.second != 0; })) {
    return PostRefusal::unbalanced;
  }
  const bool is_reversal = draft.kind == JournalKind::reversal;
  if (is_reversal != draft.reverses.has_value() || is_reversal != (draft.cause.kind == CauseKind::journal)) {
    return PostRefusal::reversal_inconsistent;
  }
  return std::nullopt;
}

}  // namespace cch::ledger
