#include "operator_commands.hpp"

#include "exit_status.hpp"
#include "cch/access/api_key.hpp"
#include "cch/api/credentials.hpp"
#include "cch/core/money.hpp"
#include "cch/db/transaction.hpp"
#include "cch/registry/members.hpp"
#include "cch/runtime/service.hpp"
#include "cch/settlement/collateral.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <pqxx/result>

#include <cstdio>
#include <iostream>
#include <memory>

namespace cch::admin {
namespace {

template <class Work>
auto in_transaction(const config::Config& config, Work&& work) {
  db::ConnectionPool pool(runtime::pool_options_from(config, "cch-admin"));
  return db::run_transaction(pool, db::Isolation::read_committed, runtime::retry_policy_from(config),
                             std::forward<Work>(work));
}

}  // namespace

std::optional<std::string> certificate_fingerprint(const std::string& pem_file) {
  const std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(pem_file.c_str(), "r"), &std::fclose);
  if (!file) return std::nullopt;
  const std::unique_ptr<X509, void (*)(X509*)> certificate(PEM_read_X509(file.get(), nullptr, nullptr, nullptr),
                                                           &X509_free);
  if (!certificate) return std::nullopt;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (X509_digest(certificate.get(), EVP_sha256(), digest, &length) != 1) return std::nullopt;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string text;
  for (unsigned int i = 0; i < length; ++i) {
    text += kHex[digest[i] >> 4];
    text += kHex[digest[i] & 0x0f];
  }
  return text;
}

int member_add(const config::Config& config, const std::string& code, const std::string& legal_name) {
  try {
    const auto registered =
        in_transaction(config, [&](pqxx::transaction_base& tx) { return registry::register_member(tx, code, legal_name); });
    if (!registered) {
      if (registered.error() == registry::MemberRefusal::code_taken) {
        return error_line("member " + code + " exists with another legal name", kExitFound);
      }
      return error_line("member code must be 2-63 characters of a-z, 0-9 and '-' (starting with a letter or digit), "
                        "legal name 1-200 characters",
                        kExitUsage);
    }
    std::cout << "member " << code << " id " << registered->member.member_id.value()
              << (registered->created ? " created" : " already existed") << std::endl;
    return 0;
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
  if (options.reference.empty() || options.reference.size() > settlement::kBankReferenceLengthMax) {
    return error_line("--reference must be 1-150 characters (the bank's reference of the payment)", kExitUsage);
  }
  try {
    const auto result = in_transaction(
        config, [&](pqxx::transaction_base& tx) -> std::optional<Result<settlement::DepositRecorded, settlement::CollateralRefusal>> {
          const auto member = registry::find_member_by_code(tx, options.member_code);
          if (!member) return std::nullopt;
          return settlement::record_deposit(tx, {member->member_id, *amount, options.reference, *business_date,
                                                 std::nullopt, config.money("settlement.collateral_movement_max")});
        });
    if (!result) {
      return error_line("no member with code " + options.member_code, kExitFound);
    }
    if (!*result) {
      return error_line("deposit refused: " + std::string(settlement::to_string(result->error())), kExitFound);
    }
    std::cout << "collateral deposit of " << format_amount(*amount) << " USD for " << options.member_code
              << ": journal " << (*result)->journal_id.value() << ((*result)->replayed ? " (already recorded)" : "")
              << std::endl;
    return 0;
  } catch (const std::exception& error) {
    return error_line(error.what(), kExitDatabase);
  }
}

int principal_add(const config::Config& config, const PrincipalOptions& options) {
  std::optional<std::string> fingerprint;
  if (options.certificate_file) {
    fingerprint = certificate_fingerprint(*options.certificate_file);
    if (!fingerprint) return error_line("cannot read a PEM certificate from " + *options.certificate_file, kExitUsage);
  }
  try {
    const auto outcome = in_transaction(config, [&](pqxx::transaction_base& tx) -> std::string {
      std::optional<MemberId> member;
      if (options.member_code) {
        const auto found = registry::find_member_by_code(tx, *options.member_code);
        if (!found) return "unknown_member";
        member = found->member_id;
      }
      const auto created = api::create_principal(tx, options.name, options.role, member, "cch-admin");
      if (!created) return created.error().reason;
      if (fingerprint) {
        const auto registered = api::register_certificate(tx, created->principal.id, *fingerprint, "cch-admin");
        if (!registered) throw std::runtime_error(registered.error().reason);  // rolls back the principal too
      }
      return "principal " + options.name + " id " + created->principal.id.to_string() + " created" +
             (fingerprint ? ", certificate " + *fingerprint + " registered" : std::string());
    });
    if (!outcome.starts_with("principal ")) return error_line("principal refused: " + outcome, kExitFound);
    std::cout << outcome << std::endl;
    return 0;
  } catch (const std::exception& error) {
    return error_line(error.what(), kExitDatabase);
  }
}

int api_key_issue(const config::Config& config, const std::string& principal_name, const std::string& label) {
  try {
    const auto outcome = in_transaction(config, [&](pqxx::transaction_base& tx) -> Result<std::string, std::string> {
      const auto rows = tx.exec_params("SELECT principal_id FROM api.principal WHERE name = $1", principal_name);
      if (rows.empty()) return fail(std::string("unknown_principal"));
      const auto issued =
          api::issue_api_key(tx, access::PrincipalId(rows[0][0].as<std::int64_t>()), label, "cch-admin",
                             static_cast<int>(config.integer("api.api_key_hash_iterations")));
      if (!issued) return fail(issued.error().reason);
      return issued->token;
    });
    if (!outcome) return error_line("api key refused: " + outcome.error(), kExitFound);
    std::cout << *outcome << std::endl;
    return 0;
  } catch (const std::exception& error) {
    return error_line(error.what(), kExitDatabase);
  }
}

int purge_idempotency(const config::Config& config, int hours) {
  try {
    const auto removed = in_transaction(config, [&](pqxx::transaction_base& tx) {
      return tx.exec_params("SELECT api.purge_idempotency(make_interval(hours => $1))", hours)[0][0].as<std::int64_t>();
    });
    std::cout << "purged " << removed << " stored responses older than " << hours << " hours" << std::endl;
    return 0;
  } catch (const std::exception& error) {
    return error_line(error.what(), kExitDatabase);
  }
}

}  // namespace cch::admin
