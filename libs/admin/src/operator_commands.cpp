#include "operator_commands.hpp"

#include "exit_status.hpp"
#include "cch/core/money.hpp"
#include "cch/db/transaction.hpp"
#include "cch/ledger/accounts.hpp"
#include "cch/ledger/post.hpp"
#include "cch/runtime/service.hpp"

#include <pqxx/result>

#include <iostream>

namespace cch::admin {

int member_add(const config::Config& config, const std::string& code, const std::string& legal_name) {
  try {
    db::ConnectionPool pool(runtime::pool_options_from(config, "cch-admin"));
    const auto [member_id, created] = db::run_transaction(
        pool, db::Isolation::read_committed, runtime::retry_policy_from(config), [&](pqxx::transaction_base& tx) {
          const auto inserted = tx.exec_params(
              "INSERT INTO cch.member (code, legal_name) VALUES ($1, $2) ON CONFLICT (code) DO NOTHING "
              "RETURNING member_id",
              code, legal_name);
          if (!inserted.empty()) {
            return std::pair{inserted[0][0].as<std::int64_t>(), true};
          }
          const auto existing =
              tx.exec_params("SELECT member_id, legal_name FROM cch.member WHERE code = $1", code)[0];
          if (existing[1].as<std::string>() != legal_name) {
            throw std::invalid_argument("member " + code + " exists with another legal name");
          }
          return std::pair{existing[0].as<std::int64_t>(), false};
        });
    std::cout << "member " << code << " id " << member_id << (created ? " created" : " already existed") << std::endl;
    return 0;
  } catch (const std::invalid_argument& refusal) {
    return error_line(refusal.what(), kExitFound);
  } catch (const pqxx::check_violation&) {
    return error_line("member code must be 2-63 characters of a-z, 0-9 and '-' (starting with a letter or digit), "
                      "legal name 1-200 characters",
                      kExitUsage);
  } catch (const std::exception& error) {
    return error_line(error.what(), kExitDatabase);
  }
}

int collateral_deposit(const config::Config& config, const DepositOptions& options) {
  const auto amount = parse_money(options.amount, Currency::usd());
  if (!amount || amount->amount_minor <= 0) {
    return error_line("--amount must be a positive USD amount with at most 2 decimals, e.g. 1000000.00", kExitUsage);
  }
  const auto business_date = options.business_date ? BusinessDate::parse(*options.business_date)
                                                   : Result<BusinessDate, TimeError>(BusinessDate::containing(UtcTimestamp::now()));
  if (!business_date) {
    return error_line("--business-date must be YYYY-MM-DD", kExitUsage);
  }
  if (options.reference.empty() || options.reference.size() > 150) {
    return error_line("--reference must be 1-150 characters (the bank's reference of the payment)", kExitUsage);
  }
  try {
    db::ConnectionPool pool(runtime::pool_options_from(config, "cch-admin"));
    const auto result = db::run_transaction(
        pool, db::Isolation::read_committed, runtime::retry_policy_from(config),
        [&](pqxx::transaction_base& tx) -> std::optional<ledger::PostResult> {
          const auto member = tx.exec_params("SELECT member_id FROM cch.member WHERE code = $1", options.member_code);
          if (member.empty()) {
            return std::nullopt;
          }
          const MemberId member_id(member[0][0].as<std::int64_t>());
          ledger::JournalDraft draft;
          draft.idempotency_key = "collateral-deposit:" + options.reference;
          draft.business_date = *business_date;
          draft.kind = ledger::JournalKind::collateral_deposit;
          draft.cause = ledger::Cause{ledger::CauseKind::collateral_movement, options.reference};
          draft.postings = {
              {ledger::open_house_account(tx, ledger::AccountKind::settlement_bank, Currency::usd()), *amount},
              {ledger::open_member_account(tx, member_id, ledger::AccountKind::collateral, Currency::usd()),
               Money{-amount->amount_minor, Currency::usd()}}};
          return ledger::post(tx, draft);
        });
    if (!result) {
      return error_line("no member with code " + options.member_code, kExitFound);
    }
    if (!*result) {
      return error_line(std::string("deposit refused: ") + std::string(ledger::to_string(result->error())), kExitFound);
    }
    std::cout << "collateral deposit of " << format_amount(*amount) << " USD for " << options.member_code
              << ": journal " << (*result)->journal_id.value() << ((*result)->replayed ? " (already recorded)" : "")
              << std::endl;
    return 0;
  } catch (const std::exception& error) {
    return error_line(error.what(), kExitDatabase);
  }
}

}  // namespace cch::admin
