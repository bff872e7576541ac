#include "margin_commands.hpp"

#include "exit_status.hpp"
#include "cch/core/calendar.hpp"
#include "cch/db/transaction.hpp"
#include "cch/margin_store/models.hpp"
#include "cch/margin_store/runs.hpp"
#include "cch/registry/members.hpp"
#include "cch/risk/margin.hpp"
#include "cch/risk_routes/margin_routes.hpp"
#include "cch/runtime/service.hpp"

#include <iostream>
#include <sstream>
#include <utility>

namespace cch::admin {
namespace {

constexpr const char* kActor = "cch-admin";

// A refusal: the transaction rolls back, the refusal is reported.
struct Refused {
  std::string reason;
  std::string detail;
};

Refused refused(const risk::MarginError& error) { return Refused{std::string(risk::to_string(error.refusal)), error.detail}; }

void print_model(const margin::ModelSummary& model, bool created) {
  std::cout << "margin model " << model.record.model_id << " of " << model.record.business_date.format() << " (version "
            << model.record.version << ", parameter version " << model.record.parameter_version << ", curve set "
            << model.record.curve_set_id << "): " << model.products.size() << " products, " << model.factor_count()
            << " factors, history " << model.record.history_first.format() << ".." << model.record.history_last.format()
            << " (" << model.record.history_dates << " dates), stressed period " << model.stress_first.format() << ".."
            << model.stress_last.format() << "; " << (created ? "built" : "built before") << "\n";
  for (const auto& c : model.classes) {
    std::cout << "  " << margin::to_string(c.margin_class) << ": " << c.filtered_count << " filtered and "
              << c.stressed_count << " stressed scenarios of " << c.mpor_days << " days at " << c.confidence_bp
              << " bp\n";
  }
  std::cout << "  content hash " << model.record.content_hash << std::endl;
}

// Builds (or finds) the date's model in a transaction of its own; answers its id.
std::int64_t build(db::ConnectionPool& pool, const config::Config& config, BusinessDate date,
                   std::optional<std::int32_t> parameter_version) {
  const auto [summary, created] = db::run_transaction(
      pool, db::Isolation::read_committed, runtime::retry_policy_from(config), [&](pqxx::transaction_base& tx) {
        const auto built = risk::build_margin_model(tx, {date, parameter_version, kActor, std::nullopt});
        if (!built) throw refused(built.error());
        return std::pair{margin::model_summary(tx, built->record.model_id).value(), built->created};
      });
  print_model(summary, created);
  return summary.record.model_id;
}

template <class Work>
int guarded(Work&& work) {
  try {
    return work();
  } catch (const Refused& refusal) {
    return error_line(refusal.reason + ": " + refusal.detail, kExitFound);
  } catch (const std::exception& error) {
    return error_line(error.what(), kExitDatabase);
  }
}

}  // namespace

int margin_model(const config::Config& config, const std::string& date_text,
                 std::optional<std::int32_t> parameter_version) {
  const auto date = BusinessDate::parse(date_text);
  if (!date) return error_line("--date: a date YYYY-MM-DD", kExitUsage);
  return guarded([&] {
    db::ConnectionPool pool(runtime::pool_options_from(config, "cch-admin"));
    build(pool, config, *date, parameter_version);
    return 0;
  });
}

int margin_run(const config::Config& config, const std::optional<std::string>& date_text,
               const std::vector<std::int64_t>& member_ids) {
  std::optional<BusinessDate> date;
  if (date_text) {
    const auto parsed = BusinessDate::parse(*date_text);
    if (!parsed) return error_line("--date: a date YYYY-MM-DD", kExitUsage);
    date = *parsed;
  }
  std::optional<std::vector<MemberId>> members;
  if (!member_ids.empty()) {
    members.emplace();
    for (const std::int64_t id : member_ids) {
      const auto member = MemberId::from_value(id);
      if (!member) return error_line("--member: a member id, a positive number", kExitUsage);
      members->push_back(*member);
    }
  }
  const auto calendar = make_calendar(config.text("market.business_calendar")).value();
  return guarded([&] {
    db::ConnectionPool pool(runtime::pool_options_from(config, "cch-admin"));
    std::optional<std::int64_t> model_id;
    if (date) model_id = build(pool, config, *date, std::nullopt);
    const std::string report = db::run_transaction(
        pool, db::Isolation::read_committed, runtime::retry_policy_from(config), [&](pqxx::transaction_base& tx) {
          if (members) {
            for (const MemberId member : *members) {
              if (!registry::find_member(tx, member)) throw Refused{"unknown_member", "no member " + member.to_string()};
            }
          }
          const auto ran = risk::run_margin(tx, {model_id, members, "on_demand", kActor, std::nullopt}, calendar);
          if (!ran) throw refused(ran.error());
          const auto total = margin::run_initial_margin_total(tx, ran->run.run_id);
          std::ostringstream out;
          out << "margin run " << ran->run.run_id << " against model " << ran->run.model_id << " of "
                    << ran->run.business_date.format() << ": " << ran->run.members << " members, " << ran->run.legs
                    << " legs (" << ran->legs_interim << " under the interim rule), total initial margin "
                    << risk::format_cents(total) << " USD\n";
          for (const auto& member : margin::run_members(tx, ran->run.run_id)) {
            out << "  member " << member.result.member.to_string() << ": "
                      << risk::format_cents(member.result.figures.initial_margin_cents) << " USD ("
                      << member.result.legs << " legs)\n";
          }
          return out.str();
        });
    std::cout << report << std::flush;
    return 0;
  });
}

}  // namespace cch::admin
