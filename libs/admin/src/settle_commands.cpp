#include "settle_commands.hpp"

#include <iostream>
#include <sstream>

#include "cch/core/money.hpp"
#include "cch/db/pool.hpp"
#include "cch/db/transaction.hpp"
#include "cch/runtime/service.hpp"
#include "cch/settlement/runs.hpp"
#include "exit_status.hpp"

namespace cch::admin {

namespace {

std::string usd(std::int64_t cents) { return format_amount(Money{cents, Currency::usd()}); }

}  // namespace

int settle(const config::Config& config, const std::string& date_text) {
  const auto date = BusinessDate::parse(date_text);
  if (!date) return error_line("--date: a date YYYY-MM-DD", kExitUsage);
  const auto calendar = make_calendar(config.text("market.business_calendar")).value();
  try {
    db::ConnectionPool pool(runtime::pool_options_from(config, "cch-admin"));
    const auto settled = settlement::settle(
        pool, {*date, calendar, UtcTimestamp::now(), "cch-admin", std::nullopt, {},
               static_cast<std::int32_t>(config.integer("settlement.buy_in_penalty_bps")),
               config.integer("settlement.delivery_fee_ticks_per_gpu_hour")});
    if (!settled) {
      return error_line(std::string(settlement::to_string(settled.error().refusal)) + ": " + settled.error().detail,
                        kExitFound);
    }
    const auto& run = settled->run;
    std::ostringstream out;
    out << "settlement run " << run.run_id << " of " << run.business_date.format() << " (attempt " << run.attempt
        << "): " << settlement::to_string(run.state)
        << (settled->created ? "" : settled->resumed ? ", resumed" : ", settled before: nothing posted")
        << "; curve set " << run.curve_set_id;
    if (run.previous_run_id) out << ", previous run " << *run.previous_run_id;
    out << ", interest " << run.interest_days << " days at " << run.interest_rate_e8 << "e-8\n";
    for (const auto& step : run.steps) {
      out << "  step " << settlement::to_string(step.step) << ": "
          << (step.finished_at.unix_microseconds() - step.started_at.unix_microseconds()) / 1000 << " ms "
          << step.counts << "\n";
    }
    db::run_transaction(pool, db::Isolation::repeatable_read, runtime::retry_policy_from(config),
                        [&](pqxx::transaction_base& tx) {
                          for (const auto& member : settlement::member_variation_margin(tx, run.run_id, std::nullopt)) {
                            out << "  member " << member.member.to_string() << ": variation margin "
                                << usd(member.vm_minor) << ", interest " << usd(member.pai_minor) << ", total "
                                << usd(member.total_minor) << " USD";
                            if (member.journal) out << " (journal " << member.journal->to_string() << ")";
                            out << "\n";
                          }
                        });
    std::cout << out.str() << std::flush;
    return 0;
  } catch (const std::exception& error) {
    return error_line(error.what(), kExitDatabase);
  }
}

}  // namespace cch::admin
