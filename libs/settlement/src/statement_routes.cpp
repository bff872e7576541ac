// The JSON and CSV forms of members' statements (routes.hpp), which the api's reads serve.
#include "cch/settlement/routes.hpp"

#include "cch/core/money.hpp"

namespace cch::settlement {
namespace {

std::string usd(std::int64_t cents) { return format_amount(Money{cents, Currency::usd()}); }
nlohmann::json optional_journal(const std::optional<JournalId>& journal) {
  return journal ? nlohmann::json(journal->to_string()) : nlohmann::json(nullptr);
}
std::string journal_text(const std::optional<JournalId>& journal) { return journal ? journal->to_string() : ""; }

}  // namespace

nlohmann::json member_statement_json(const MemberStatement& statement) {
  nlohmann::json runs = nlohmann::json::array();
  for (const auto& entry : statement.runs) {
    nlohmann::json run = settlement_run_json(entry.run);
    run.erase("steps");
    nlohmann::json products = nlohmann::json::array();
    for (const auto& product : entry.products) products.push_back(product_variation_margin_json(product));
    nlohmann::json trades = nlohmann::json::array();
    for (const auto& delivery : entry.deliveries) {
      nlohmann::json trade = trade_delivery_json(delivery);
      trade["member_amount"] = usd(member_amount(delivery, statement.member));
      trades.push_back(std::move(trade));
    }
    runs.push_back(
        {{"run", std::move(run)},
         {"positions", std::move(products)},
         {"variation_margin", entry.variation_margin ? member_variation_margin_json(*entry.variation_margin)
                                                     : nlohmann::json(nullptr)},
         {"variation_margin_reversal_journal_id", optional_journal(entry.variation_margin_reversal)},
         {"deliveries", std::move(trades)},
         {"deliveries_total",
          entry.delivery_total ? nlohmann::json{{"trades", entry.delivery_total->trades},
                                                {"total", usd(entry.delivery_total->total_minor)},
                                                {"escrow", usd(entry.delivery_total->escrow_minor)},
                                                {"fees", usd(entry.delivery_total->fees_minor)},
                                                {"journal_id", optional_journal(entry.delivery_total->journal)}}
                               : nlohmann::json(nullptr)},
         {"deliveries_reversal_journal_id", optional_journal(entry.delivery_reversal)}});
  }
  nlohmann::json postings = nlohmann::json::array();
  for (const auto& posting : statement.postings) {
    postings.push_back({{"journal_id", posting.journal_id.to_string()},
                        {"kind", posting.kind},
                        {"cause_kind", posting.cause_kind},
                        {"cause_reference", posting.cause_reference},
                        {"reverses_journal_id", optional_journal(posting.reverses_journal_id)},
                        {"memo", posting.memo},
                        {"account_id", posting.account_id.to_string()},
                        {"account_kind", posting.account_kind},
                        {"amount", usd(-posting.amount.amount_minor)}});
  }
  nlohmann::json calls = nlohmann::json::array();
  for (const auto& call : statement.margin_calls) calls.push_back(margin_call_json(call));
  return {{"member_id", statement.member.to_string()},
          {"business_date", statement.business_date.format()},
          {"currency", "USD"},
          {"runs", std::move(runs)},
          {"postings", std::move(postings)},
          {"postings_truncated", statement.postings_truncated},
          {"clearing_fees", usd(-statement.clearing_fees_minor)},
          {"opening_collateral", usd(statement.opening_collateral_minor)},
          {"closing_collateral", usd(statement.closing_collateral_minor)},
          {"frozen_delivery", usd(statement.frozen_delivery_minor)},
          {"initial_margin",
           statement.initial_margin
               ? nlohmann::json{{"margin_run_id", std::to_string(statement.initial_margin->run_id)},
                                {"amount", usd(statement.initial_margin->initial_margin_cents)}}
               : nlohmann::json(nullptr)},
          {"margin_calls", std::move(calls)}};
}

std::string member_statement_csv(const MemberStatement& statement) {
  std::string csv = "member_id,business_date,section,run_id,run_state,reference,item,amount,currency,journal_id\n";
  const std::string head = statement.member.to_string() + "," + statement.business_date.format() + ",";
  const auto line = [&](const std::string& section, const std::string& run, const std::string& state,
                        const std::string& reference, const std::string& item, std::int64_t amount,
                        const std::string& journal) {
    csv += head + section + "," + run + "," + state + "," + reference + "," + item + "," + usd(amount) + ",USD," +
           journal + "\n";
  };
  line("collateral", "", "", "", "opening", statement.opening_collateral_minor, "");
  for (const auto& entry : statement.runs) {
    const std::string run = std::to_string(entry.run.run_id);
    const std::string state(to_string(entry.run.state));
    for (const auto& product : entry.products) {
      line("position", run, state, product.product.to_string() + ":" + product.kind, "mark", product.pv_minor, "");
      line("position", run, state, product.product.to_string() + ":" + product.kind, "variation_margin",
           product.vm_minor, "");
    }
    if (entry.variation_margin) {
      const auto& vm = *entry.variation_margin;
      line("variation_margin", run, state, "", "variation_margin", vm.vm_minor, journal_text(vm.journal));
      line("variation_margin", run, state, "", "price_alignment_interest", vm.pai_minor, journal_text(vm.journal));
      if (entry.variation_margin_reversal) {
        line("reversal", run, state, "", "variation_margin", -vm.total_minor, entry.variation_margin_reversal->to_string());
      }
    }
    for (const auto& delivery : entry.deliveries) {
      const std::string trade = delivery.trade.to_string();
      line("delivery", run, state, trade, delivery.settlement + "_settlement", member_amount(delivery, statement.member),
           journal_text(entry.delivery_total ? entry.delivery_total->journal : std::nullopt));
      if (delivery.shortfall_gpu_hours > 0) {
        line("delivery", run, state, trade, "shortfall_gpu_hours_" + std::to_string(delivery.shortfall_gpu_hours),
             statement.member == delivery.buyer ? delivery.buy_in_minor : -delivery.buy_in_minor, "");
      }
      if (delivery.escrow_minor > 0 && statement.member == delivery.buyer) {
        line("delivery", run, state, trade, "escrow_frozen", delivery.escrow_minor, "");
      }
    }
    if (entry.delivery_reversal && entry.delivery_total) {
      line("reversal", run, state, "", "deliveries", -entry.delivery_total->total_minor,
           entry.delivery_reversal->to_string());
    }
  }
  for (const auto& posting : statement.postings) {
    line("posting", "", "", posting.account_kind, posting.kind + ":" + posting.cause_kind + ":" + posting.cause_reference,
         -posting.amount.amount_minor, posting.journal_id.to_string());
  }
  line("collateral", "", "", "", "closing", statement.closing_collateral_minor, "");
  line("collateral", "", "", "", "frozen_delivery", statement.frozen_delivery_minor, "");
  if (statement.initial_margin) {
    line("margin", std::to_string(statement.initial_margin->run_id), "", "", "initial_margin",
         statement.initial_margin->initial_margin_cents, "");
  }
  for (const auto& call : statement.margin_calls) {
    line("margin_call", std::to_string(call.run_id), "", std::to_string(call.call_id),
         std::string(to_string(call.state)), call.amount.amount_minor, "");
  }
  return csv;
}

nlohmann::json statement_summary_json(const StatementSummary& summary) {
  return {{"member_id", summary.member.to_string()},
          {"live_run_id", summary.live_run_id ? nlohmann::json(std::to_string(*summary.live_run_id))
                                              : nlohmann::json(nullptr)},
          {"variation_margin", usd(summary.variation_margin_minor)},
          {"price_alignment_interest", usd(summary.price_alignment_interest_minor)},
          {"deliveries", usd(summary.deliveries_minor)},
          {"escrow", usd(summary.escrow_minor)},
          {"clearing_fees", usd(-summary.clearing_fees_minor)},
          {"closing_collateral", usd(summary.closing_collateral_minor)},
          {"initial_margin", summary.initial_margin_minor ? nlohmann::json(usd(*summary.initial_margin_minor))
                                                          : nlohmann::json(nullptr)},
          {"called", usd(summary.called_minor)},
          {"currency", "USD"}};
}

std::string statement_summaries_csv(std::span<const StatementSummary> summaries, BusinessDate business_date) {
  std::string csv = "business_date,member_id,live_run_id,variation_margin,price_alignment_interest,deliveries,escrow,"
                    "clearing_fees,closing_collateral,initial_margin,called,currency\n";
  for (const auto& s : summaries) {
    csv += business_date.format() + "," + s.member.to_string() + "," +
           (s.live_run_id ? std::to_string(*s.live_run_id) : "") + "," + usd(s.variation_margin_minor) + "," +
           usd(s.price_alignment_interest_minor) + "," + usd(s.deliveries_minor) + "," + usd(s.escrow_minor) + "," +
           usd(-s.clearing_fees_minor) + "," + usd(s.closing_collateral_minor) + "," +
           (s.initial_margin_minor ? usd(*s.initial_margin_minor) : "") + "," + usd(s.called_minor) + ",USD\n";
  }
  return csv;
}

}  // namespace cch::settlement
