#include "cch/settlement/statements.hpp"

#include <algorithm>

#include "cch/ledger/accounts.hpp"
#include "cch/registry/members.hpp"

namespace cch::settlement {
namespace {

// The member's USD account of a kind, if it has one.
std::optional<AccountId> member_account(pqxx::transaction_base& tx, MemberId member, ledger::AccountKind kind) {
  for (const AccountId id : ledger::member_account_ids(tx, member)) {
    const auto account = ledger::find_account(tx, id);
    if (account && account->kind == kind && account->currency == Currency::usd()) return id;
  }
  return std::nullopt;
}

// A credit-normal account's balance at the end of a date (what the clearinghouse owes the member).
std::int64_t owed_at(pqxx::transaction_base& tx, std::optional<AccountId> account, BusinessDate date) {
  if (!account) return 0;
  const auto balance = ledger::balance_as_of(tx, *account, date);
  return balance ? -balance->amount_minor : 0;
}

}  // namespace

std::optional<MemberStatement> member_statement(pqxx::transaction_base& tx, MemberId member,
                                                BusinessDate business_date) {
  if (!registry::find_member(tx, member)) return std::nullopt;
  MemberStatement statement;
  statement.member = member;
  statement.business_date = business_date;
  for (auto& run : runs_of_date(tx, business_date)) {
    StatementRun entry;
    entry.products = product_variation_margin(tx, run.run_id, member);
    auto vm = member_variation_margin(tx, run.run_id, member);
    if (!vm.empty()) entry.variation_margin = vm.front();
    entry.deliveries = trade_deliveries(tx, run.run_id, member);
    auto deliveries = member_deliveries(tx, run.run_id, member);
    if (!deliveries.empty()) entry.delivery_total = deliveries.front();
    if (run.state == RunState::reversed) {
      if (entry.variation_margin && entry.variation_margin->journal) {
        entry.variation_margin_reversal = ledger::reversal_of(tx, *entry.variation_margin->journal);
      }
      if (entry.delivery_total && entry.delivery_total->journal) {
        entry.delivery_reversal = ledger::reversal_of(tx, *entry.delivery_total->journal);
      }
    }
    entry.run = std::move(run);
    statement.runs.push_back(std::move(entry));
  }
  statement.postings = ledger::member_postings_of_date(tx, member, business_date, kStatementPostingsMax + 1);
  if (statement.postings.size() > kStatementPostingsMax) {
    statement.postings.erase(statement.postings.begin() + static_cast<std::ptrdiff_t>(kStatementPostingsMax),
                             statement.postings.end());
    statement.postings_truncated = true;
  }
  for (const auto& posting : statement.postings) {
    if (posting.kind == "clearing_fee") statement.clearing_fees_minor += posting.amount.amount_minor;
  }
  const auto collateral = member_account(tx, member, ledger::AccountKind::collateral);
  statement.opening_collateral_minor = owed_at(tx, collateral, business_date.add_days(-1).value());
  statement.closing_collateral_minor = owed_at(tx, collateral, business_date);
  statement.frozen_delivery_minor =
      owed_at(tx, member_account(tx, member, ledger::AccountKind::delivery_settlement), business_date);
  statement.initial_margin = margin::member_margin_of_date(tx, member, business_date);
  for (auto& call : list_margin_calls(tx, member, std::nullopt, std::nullopt, 1000)) {
    if (call.business_date == business_date) statement.margin_calls.push_back(std::move(call));
  }
  std::reverse(statement.margin_calls.begin(), statement.margin_calls.end());
  return statement;
}

std::vector<StatementSummary> member_statement_summaries(pqxx::transaction_base& tx, BusinessDate business_date,
                                                         std::optional<MemberId> after, std::size_t limit) {
  std::vector<StatementSummary> out;
  for (const auto& member : registry::list_members(tx, after, limit)) {
    const auto statement = member_statement(tx, member.member_id, business_date);
    if (!statement) continue;
    StatementSummary summary;
    summary.member = member.member_id;
    for (const auto& run : statement->runs) {
      if (run.run.state == RunState::reversed) continue;
      summary.live_run_id = run.run.run_id;
      if (run.variation_margin) {
        summary.variation_margin_minor = run.variation_margin->vm_minor;
        summary.price_alignment_interest_minor = run.variation_margin->pai_minor;
      }
      if (run.delivery_total) {
        summary.deliveries_minor = run.delivery_total->total_minor;
        summary.escrow_minor = run.delivery_total->escrow_minor;
      }
    }
    summary.clearing_fees_minor = statement->clearing_fees_minor;
    summary.closing_collateral_minor = statement->closing_collateral_minor;
    if (statement->initial_margin) summary.initial_margin_minor = statement->initial_margin->initial_margin_cents;
    for (const auto& call : statement->margin_calls) summary.called_minor += call.amount.amount_minor;
    out.push_back(summary);
  }
  return out;
}

}  // namespace cch::settlement
