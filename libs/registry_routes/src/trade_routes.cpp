// The registry's internal routes for products, limits and trades.
#include "cch/registry_routes/routes.hpp"

#include "cch/audit/command_answer.hpp"

#include "cch/core/log.hpp"
#include "cch/db/transaction.hpp"
#include "cch/http/json_input.hpp"
#include "cch/runtime/internal.hpp"

#include <algorithm>
#include <array>

namespace cch::registry {
namespace {

using access::Role;

http::Response not_found() { return http::problem(404, "not_found", "Not found", "no such object"); }

http::Response forbidden(std::string_view detail) { return http::problem(403, "forbidden", "Forbidden", detail); }

http::Response catalog_refusal(const CatalogError& error) {
  switch (error.refusal) {
    case CatalogRefusal::unknown_product:
    case CatalogRefusal::unknown_member:
    case CatalogRefusal::venue_authorisation_absent: return not_found();
    case CatalogRefusal::product_code_taken:
      return http::problem(409, error.reason, "Product code taken", "a product with this code has another definition");
    default: break;
  }
  return http::problem(422, error.reason, "Invalid request", "the request breaks the rule " + error.reason);
}

unsigned status_of(TradeRefusal refusal) {
  switch (refusal) {
    case TradeRefusal::trade_not_found: return 404;
    case TradeRefusal::reference_reused:
    case TradeRefusal::trade_not_pending:
    case TradeRefusal::trade_expired: return 409;
    default: return 422;
  }
}

http::Response trade_refusal(const TradeError& error) {
  const auto reason = to_string(error.refusal);
  if (error.refusal == TradeRefusal::trade_not_found) return not_found();
  return http::problem(status_of(error.refusal), reason, "Trade refused", error.detail);
}

std::optional<PricePerGpuHour> price_field(http::BodyReader& body, std::string_view field) {
  const auto text = body.decimal_text(field);
  if (!text) return std::nullopt;
  const auto parsed = PricePerGpuHour::parse(*text);
  if (!parsed || parsed->price_ticks < 0) {
    body.refuse(field, "must be a non-negative decimal in USD per GPU-hour with at most 4 decimals, e.g. \"2.1450\"");
    return std::nullopt;
  }
  return *parsed;
}

using http::BodyReader;

// A trade's terms and reference from a body (a member's submission) or a batch element.
struct ReadTrade {
  TradeTerms terms;
  std::string reference;
};

// A trade object: a member's request body, or an element of a venue's batch.
Result<BodyReader, http::Response> open_trade(nlohmann::json object) {
  return BodyReader::of(std::move(object),
                        {"product_id", "series", "buyer_member_id", "seller_member_id", "delivery_start",
                         "delivery_end", "gpus", "price", "reference"},
                        {"trade_id", "state", "submitter_member_id", "gpu_hours", "notional", "submitted_at",
                         "expires_at", "decided_at", "last_refusal", "clearing_fee", "fee_journal_id", "counterparty_reference",
                         "submitter_reference", "registered_by_venue"});
}

Result<ReadTrade, http::Response> read_trade(http::BodyReader& body, UtcTimestamp now) {
  const auto product = body.id("product_id");
  const auto series = body.text("series", 10, /*required=*/false);
  const auto buyer = body.id("buyer_member_id");
  const auto seller = body.id("seller_member_id");
  const auto start = body.timestamp("delivery_start", /*required=*/!series);
  const auto end = body.timestamp("delivery_end", /*required=*/!series);
  if (series && (body.json().contains("delivery_start") || body.json().contains("delivery_end"))) {
    body.refuse("delivery_start", "a series trade's window is its series' period: give series or a window");
  }
  const auto gpus = body.integer("gpus", 1, kTradeGpusMax);
  const auto price = price_field(body, "price");
  const auto reference = body.text("reference", kTradeReferenceLengthMax);
  if (body.failed()) return fail(body.failure());
  return ReadTrade{TradeTerms{.product = ProductId(*product),
                              .series_label = series,
                              .buyer = MemberId(*buyer),
                              .seller = MemberId(*seller),
                              .delivery_start = start.value_or(now),
                              .delivery_end = end.value_or(now),
                              .gpus = *gpus,
                              .price = *price},
                   *reference};
}

// Runs a registry command as the forwarded principal, who must have one of `roles`.
template <class Handler>
http::Response command(const http::Request& request, std::initializer_list<Role> roles, Handler&& handler) {
  const auto caller = runtime::internal_caller(request);
  if (!caller) return caller.error();
  if (std::find(roles.begin(), roles.end(), caller->principal.role) == roles.end()) {
    return forbidden("this principal's role may not do this");
  }
  return handler(*caller);
}

TradeActor actor_of(const runtime::InternalCaller& caller) {
  return TradeActor{*caller.principal.member, caller.principal.name, caller.request_id};
}

http::Response create_product_command(runtime::ServiceContext& context, const http::Request& request) {
  return command(request, {Role::operator_}, [&](const runtime::InternalCaller& caller) {
    auto body = http::BodyReader::open(
        request,
        {"code", "gpu_model", "form_factor", "min_interconnect", "region", "node_block_gpus", "settlement",
         "cash_index", "tick_size", "delivery_profile", "listing_horizon_days", "position_limit_gpu_hours",
         "clearing_fee_per_gpu_hour"},
        {"product_id", "trading_status", "created_at", "price_unit", "currency"});
    if (!body) return body.error();
    NewProduct product;
    product.created_by = caller.principal.name;
    ProductSpec& spec = product.spec;
    spec.code = body->text("code", 63).value_or("");
    spec.gpu_model = body->text("gpu_model", 32).value_or("");
    spec.form_factor = body->text("form_factor", 16).value_or("");
    spec.min_interconnect = body->text("min_interconnect", 32).value_or("");
    spec.region = body->text("region", 32).value_or("");
    spec.node_block_gpus = static_cast<int>(body->integer("node_block_gpus", 1, 72).value_or(0));
    const auto settlement = body->text("settlement", 16);
    if (settlement) {
      const auto parsed = parse_settlement_type(*settlement);
      if (!parsed) body->refuse("settlement", "must be physical or cash");
      spec.settlement = parsed.value_or(SettlementType::physical);
    }
    spec.cash_index = body->text("cash_index", 64, /*required=*/false);
    if (const auto tick = price_field(*body, "tick_size")) spec.tick_size_ticks = tick->price_ticks;
    if (const auto profile = body->text("delivery_profile", 32, /*required=*/false)) {
      const auto parsed = parse_delivery_profile(*profile);
      if (!parsed) body->refuse("delivery_profile", "must be baseload_24x7");
    }
    spec.listing_horizon_days = static_cast<int>(body->integer("listing_horizon_days", 1, kListingHorizonDaysMax).value_or(0));
    product.position_limit_gpu_hours =
        body->integer("position_limit_gpu_hours", 1, kPositionLimitGpuHoursMax).value_or(0);
    if (const auto fee = price_field(*body, "clearing_fee_per_gpu_hour")) product.fee_per_gpu_hour = *fee;
    if (body->failed()) return body->failure();
    return runtime::answer_command(context, request, caller, [&](pqxx::transaction_base& tx) {
      const auto created = create_product(tx, product);
      if (!created) return catalog_refusal(created.error());
      http::Response response = http::json_response(created->created ? 201 : 200, product_json(created->product));
      response.headers.emplace_back("Location", "/v1/products/" + created->product.product_id.to_string());
      return response;
    });
  });
}

http::Response set_trading_status_command(runtime::ServiceContext& context, const http::Request& request) {
  return command(request, {Role::operator_}, [&](const runtime::InternalCaller& caller) {
    const auto id = request.path_id("product_id");
    if (!id) return not_found();
    auto body = http::BodyReader::open(request, {"trading_status"}, {"product_id"});
    if (!body) return body.error();
    const auto text = body->text("trading_status", 16);
    const auto status = text ? parse_trading_status(*text) : std::nullopt;
    if (text && !status) body->refuse("trading_status", "must be active, halted or delisted");
    if (body->failed()) return body->failure();
    return runtime::answer_command(context, request, caller, [&](pqxx::transaction_base& tx) {
      const auto changed = set_trading_status(tx, ProductId(*id), *status);
      if (!changed) return catalog_refusal(changed.error());
      return http::json_response(200, product_json(*changed));
    });
  });
}

http::Response authorise_member_command(runtime::ServiceContext& context, const http::Request& request) {
  return command(request, {Role::operator_}, [&](const runtime::InternalCaller& caller) {
    const auto member = request.path_id("member_id");
    if (!member) return not_found();
    auto body = http::BodyReader::open(request, {"product_id"}, {"member_id", "authorised_at"});
    if (!body) return body.error();
    const auto product = body->id("product_id");
    if (body->failed()) return body->failure();
    return runtime::answer_command(context, request, caller, [&](pqxx::transaction_base& tx) {
      const auto authorised = authorise_member(tx, MemberId(*member), ProductId(*product), caller.principal.name);
      if (!authorised) return catalog_refusal(authorised.error());
      return http::json_response(*authorised ? 201 : 200,
                                 {{"member_id", MemberId(*member).to_string()},
                                  {"product_id", ProductId(*product).to_string()},
                                  {"authorised", true}});
    });
  });
}

// A member acts only for itself (the api checked; checked again here); staff for any member.
bool acts_for(const runtime::InternalCaller& caller, std::int64_t member) {
  return !caller.principal.member || caller.principal.member->value() == member;
}

// A member authorises a venue to register its trades (or an operator does, on the member's
// behalf).
http::Response authorise_venue_command(runtime::ServiceContext& context, const http::Request& request) {
  return command(request, {Role::member, Role::operator_}, [&](const runtime::InternalCaller& caller) {
    const auto member = request.path_id("member_id");
    if (!member || !acts_for(caller, *member)) return not_found();
    auto body = http::BodyReader::open(request, {"venue_principal_id"},
                                       {"member_id", "venue", "status", "authorised_at", "authorised_by",
                                        "revoked_at", "revoked_by"});
    if (!body) return body.error();
    const auto venue = body->id("venue_principal_id");
    if (body->failed()) return body->failure();
    return runtime::answer_command(context, request, caller, [&](pqxx::transaction_base& tx) {
      const auto authorised = authorise_venue(tx, MemberId(*member), *venue, caller.principal.name);
      if (!authorised) return catalog_refusal(authorised.error());
      return http::json_response(authorised->changed ? 201 : 200,
                                 venue_authorisation_json(authorised->authorisation));
    });
  });
}

http::Response revoke_venue_command(runtime::ServiceContext& context, const http::Request& request) {
  return command(request, {Role::member, Role::operator_}, [&](const runtime::InternalCaller& caller) {
    const auto member = request.path_id("member_id");
    const auto venue = request.path_id("venue_principal_id");
    if (!member || !venue || !acts_for(caller, *member)) return not_found();
    if (auto body = http::BodyReader::open(request, {}, {}, true); !body) return body.error();  // nothing to set
    return runtime::answer_command(context, request, caller, [&](pqxx::transaction_base& tx) {
      const auto revoked = revoke_venue(tx, MemberId(*member), *venue, caller.principal.name);
      if (!revoked) return catalog_refusal(revoked.error());
      return http::json_response(200, venue_authorisation_json(revoked->authorisation));
    });
  });
}

http::Response set_credit_limit_command(runtime::ServiceContext& context, const http::Request& request) {
  return command(request, {Role::risk_officer}, [&](const runtime::InternalCaller& caller) {
    const auto member = request.path_id("member_id");
    if (!member) return not_found();
    auto body = http::BodyReader::open(request, {"credit_limit", "currency"}, {"member_id", "position_limits"});
    if (!body) return body.error();
    const auto amount_text = body->decimal_text("credit_limit");
    const auto currency_text = body->text("currency", 3);
    std::optional<Money> limit;
    if (amount_text && currency_text) {
      const auto currency = Currency::parse(*currency_text);
      std::optional<Money> amount;
      if (currency) {
        if (auto parsed = parse_money(*amount_text, *currency)) amount = *parsed;
      }
      if (!currency) {
        body->refuse("currency", "must be a currency cch settles in (USD)");
      } else if (!amount || amount->amount_minor < 0) {
        body->refuse("credit_limit", "must be a non-negative decimal with at most 2 decimals, e.g. \"1000000.00\"");
      } else {
        limit = *amount;
      }
    }
    if (body->failed()) return body->failure();
    return runtime::answer_command(context, request, caller, [&](pqxx::transaction_base& tx) {
      const auto limits = set_credit_limit(tx, MemberId(*member), *limit, caller.principal.name);
      if (!limits) return catalog_refusal(limits.error());
      return http::json_response(200, limits_json(*limits));
    });
  });
}

http::Response set_position_limit_command(runtime::ServiceContext& context, const http::Request& request) {
  return command(request, {Role::risk_officer}, [&](const runtime::InternalCaller& caller) {
    const auto member = request.path_id("member_id");
    if (!member) return not_found();
    auto body = http::BodyReader::open(request, {"product_id", "max_gpu_hours"}, {"member_id"});
    if (!body) return body.error();
    const auto product = body->id("product_id");
    const auto max = body->integer("max_gpu_hours", 1, kPositionLimitGpuHoursMax);
    if (body->failed()) return body->failure();
    return runtime::answer_command(context, request, caller, [&](pqxx::transaction_base& tx) {
      const auto limits = set_position_limit(tx, MemberId(*member), ProductId(*product), *max, caller.principal.name);
      if (!limits) return catalog_refusal(limits.error());
      return http::json_response(200, limits_json(*limits));
    });
  });
}

http::Response submit_trade_command(runtime::ServiceContext& context, const RegistryState& state,
                                    const http::Request& request) {
  return command(request, {Role::member}, [&](const runtime::InternalCaller& caller) {
    auto parsed = http::parse_json_body(request);
    if (!parsed) return parsed.error();
    auto body = open_trade(std::move(*parsed));
    if (!body) return body.error();
    const UtcTimestamp now = UtcTimestamp::now();
    auto read = read_trade(*body, now);
    if (!read) return read.error();
    const TradeTerms& terms = read->terms;
    const std::string& reference = read->reference;
    bool cleared = false;  // the committed attempt's: a submission matching its counterparty's clears
    http::Response answer = runtime::answer_command(context, request, caller, [&](pqxx::transaction_base& tx) {
      const auto submitted = submit_trade(tx, state.policy, actor_of(caller), terms, reference, now);
      cleared = submitted && submitted->trade.state == TradeState::cleared;
      if (!submitted) return trade_refusal(submitted.error());
      http::Response response = http::json_response(submitted->created ? 201 : 200,
                                                    trade_json(submitted->trade, caller.principal.member));
      response.headers.emplace_back("Location", "/v1/trades/" + submitted->trade.trade_id.to_string());
      return response;
    });
    if (cleared) state.events_committed();
    return answer;
  });
}

// An affirmation through group commit: queued, decided with the others that arrived with it; its
// answer is recorded with the decision when the api forwarded it under a key.
http::Response grouped_affirmation(const RegistryState& state, const http::Request& request,
                                   const runtime::InternalCaller& caller, TradeId trade) {
  const Affirmation affirmation{actor_of(caller), trade};
  auto command = audit::forwarded_command(request, caller.principal);
  const bool recorded = command.has_value();
  auto queued = state.affirmations->submit(affirmation, std::move(command));
  const auto unavailable = [](std::string_view reason, std::string_view detail) {
    http::Response response = http::problem(503, reason, "Service unavailable", detail);
    response.headers.emplace_back("Retry-After", "1");
    return response;
  };
  if (!queued) return unavailable("affirmation_queue_full", "too many affirmations are waiting; retry shortly");
  if (queued->wait_for(state.affirmation_wait) != std::future_status::ready) {
    return unavailable("affirmation_outcome_unknown",
                       "the affirmation is still being decided; read the trade to learn its outcome");
  }
  Result<Trade, TradeError> outcome = fail(TradeError{});
  try {
    outcome = queued->get();  // rethrows an environmental failure, as a transaction would
  } catch (const audit::ReservationLost&) {
    return audit::key_in_progress();
  }
  if (outcome && outcome->state == TradeState::cleared) state.events_committed();
  http::Response response = affirmation_answer(affirmation, outcome);
  if (recorded && response.status < 500) {
    response.headers.emplace_back(std::string(audit::kAnswerRecordedHeader), "true");
  }
  return response;
}

http::Response trade_action_command(runtime::ServiceContext& context, const RegistryState& state,
                                    const http::Request& request, TradeAction action) {
  return command(request, {Role::member}, [&](const runtime::InternalCaller& caller) {
    const auto id = request.path_id("trade_id");
    if (!id) return not_found();
    const bool with_reason = action != TradeAction::affirm;
    auto body = with_reason ? http::BodyReader::open(request, {"reason"}, {"state", "trade_id"}, true)
                            : http::BodyReader::open(request, {}, {"state", "trade_id"}, true);
    if (!body) return body.error();
    const auto reason = with_reason ? body->text("reason", 500, /*required=*/false) : std::nullopt;
    if (body->failed()) return body->failure();
    if (action == TradeAction::affirm && state.affirmations) {
      return grouped_affirmation(state, request, caller, TradeId(*id));
    }
    const UtcTimestamp now = UtcTimestamp::now();
    bool cleared = false;  // the committed attempt's
    http::Response answer = runtime::answer_command(context, request, caller, [&](pqxx::transaction_base& tx) {
      const auto outcome = [&]() -> Result<Trade, TradeError> {
        switch (action) {
          case TradeAction::affirm: return affirm_trade(tx, state.policy, actor_of(caller), TradeId(*id), now);
          case TradeAction::reject: return reject_trade(tx, actor_of(caller), TradeId(*id), reason.value_or(""), now);
          case TradeAction::cancel: return cancel_trade(tx, actor_of(caller), TradeId(*id), reason.value_or(""), now);
          case TradeAction::expire: break;
        }
        return fail(TradeError{TradeRefusal::only_system_expires, "members do not expire trades"});
      }();
      cleared = outcome && outcome->state == TradeState::cleared;
      if (!outcome) return trade_refusal(outcome.error());
      return http::json_response(200, trade_json(*outcome, caller.principal.member));
    });
    if (cleared) state.events_committed();
    return answer;
  });
}


// Venue batches by the way they were decided (VenueBatchPath), counted once per request.
struct VenueBatchCounters {
  http::Counter& written_first;
  http::Counter& checked_first;
};

// A venue batch's answer: one result per element, in order (refused as malformed, or decided).
http::Response venue_batch_answer(const nlohmann::json& trades, const std::vector<std::optional<nlohmann::json>>& refusals,
                                  const std::vector<VenueOutcome>& outcomes, std::size_t& cleared) {
  nlohmann::json results = nlohmann::json::array();
  cleared = 0;
  std::size_t next = 0;
  for (std::size_t i = 0; i < trades.size(); ++i) {
    nlohmann::json result = {{"index", i}};
    if (refusals[i]) {
      result["status"] = "refused";
      result.update(*refusals[i]);
    } else {
      const VenueOutcome& outcome = outcomes[next++];
      if (outcome.trade) {
        ++cleared;
        result["status"] = "cleared";
        result["replayed"] = outcome.replayed;
        result["trade"] = trade_json(*outcome.trade, std::nullopt);
      } else {
        result["status"] = "refused";
        result["reason"] = std::string(to_string(outcome.trade.error().refusal));
        result["detail"] = outcome.trade.error().detail;
      }
    }
    results.push_back(std::move(result));
  }
  return http::json_response(200, {{"cleared", cleared}, {"refused", trades.size() - cleared}, {"results", std::move(results)}});
}

http::Response venue_batch_command(runtime::ServiceContext& context, const RegistryState& state,
                                   const VenueBatchCounters& counters, const http::Request& request) {
  return command(request, {Role::venue}, [&](const runtime::InternalCaller& caller) {
    auto body = http::BodyReader::open(request, {"trades"}, {"results", "cleared", "refused"});
    if (!body) return body.error();
    const auto* trades = body->json().contains("trades") ? &body->json()["trades"] : nullptr;
    if (trades == nullptr || !trades->is_array() || trades->empty() || trades->size() > kVenueBatchTradesMax) {
      return http::field_problem("invalid_field", "trades",
                                 "must be an array of 1 to " + std::to_string(kVenueBatchTradesMax) + " trades");
    }
    const UtcTimestamp now = UtcTimestamp::now();
    // Elements that are not well-formed are refused on their own; the others go to the registry.
    std::vector<std::optional<nlohmann::json>> refusals(trades->size());
    std::vector<VenueTrade> wanted;
    std::vector<std::size_t> positions;
    for (std::size_t i = 0; i < trades->size(); ++i) {
      auto element = open_trade((*trades)[i]);
      auto read = element ? read_trade(*element, now) : Result<ReadTrade, http::Response>(fail(element.error()));
      if (!read) {
        const auto problem = nlohmann::json::parse(read.error().body, nullptr, false);
        refusals[i] = nlohmann::json{{"reason", problem.value("reason", "invalid_field")},
                                     {"detail", problem.value("detail", "")},
                                     {"field", problem.value("field", "")}};
        continue;
      }
      wanted.push_back(VenueTrade{std::move(read->terms), std::move(read->reference)});
      positions.push_back(i);
    }
    const VenueActor venue{caller.principal.id.value(), caller.principal.name, caller.request_id};
    VenueBatchPath path = VenueBatchPath::checked_first;
    std::size_t cleared = 0;
    http::Response response = runtime::answer_command(context, request, caller, [&](pqxx::transaction_base& tx) {
      // the committed attempt's path and answer
      const auto outcomes = register_venue_batch(tx, state.policy, venue, wanted, now, &path);
      return venue_batch_answer(*trades, refusals, outcomes, cleared);
    });
    if (cleared > 0) state.events_committed();
    const bool written_first = path == VenueBatchPath::written_first;
    (written_first ? counters.written_first : counters.checked_first).increment();
    log::debug("venue_batch", {{"trades", trades->size()},
                               {"cleared", cleared},
                               {"path", written_first ? "written_first" : "checked_first"}});
    return response;
  });
}

}  // namespace

http::Response affirmation_answer(const Affirmation& affirmation, const Result<Trade, TradeError>& outcome) {
  if (!outcome) return trade_refusal(outcome.error());
  return http::json_response(200, trade_json(*outcome, affirmation.actor.member));
}

void add_trade_routes(http::Router& router, runtime::ServiceContext& context,
                      const std::shared_ptr<const RegistryState>& state) {
  const std::string prefix(runtime::kInternalPrefix);
  router.add("POST", prefix + "/v1/products",
             [&context](const http::Request& request) { return create_product_command(context, request); });
  router.add("POST", prefix + "/v1/products/{product_id}/trading-status",
             [&context](const http::Request& request) { return set_trading_status_command(context, request); });
  router.add("POST", prefix + "/v1/members/{member_id}/product-authorisations",
             [&context](const http::Request& request) { return authorise_member_command(context, request); });
  router.add("POST", prefix + "/v1/members/{member_id}/venue-authorisations",
             [&context](const http::Request& request) { return authorise_venue_command(context, request); });
  router.add("POST", prefix + "/v1/members/{member_id}/venue-authorisations/{venue_principal_id}/revoke",
             [&context](const http::Request& request) { return revoke_venue_command(context, request); });
  router.add("POST", prefix + "/v1/members/{member_id}/credit-limit",
             [&context](const http::Request& request) { return set_credit_limit_command(context, request); });
  router.add("POST", prefix + "/v1/members/{member_id}/position-limits",
             [&context](const http::Request& request) { return set_position_limit_command(context, request); });
  const VenueBatchCounters counters{
      context.metrics.counter("cch_registry_venue_batches_written_first_total",
                              "Venue batches written before the members' locks were taken (every trade new and passing)."),
      context.metrics.counter("cch_registry_venue_batches_checked_first_total",
                              "Venue batches decided with the members locked first (a refusal, or a reference used before).")};
  router.add("POST", prefix + "/v1/venue-batches", [&context, state, counters](const http::Request& request) {
    return venue_batch_command(context, *state, counters, request);
  });
  router.add("POST", prefix + "/v1/trades", [&context, state](const http::Request& request) {
    return submit_trade_command(context, *state, request);
  });
  for (const auto& [name, action] : std::array{std::pair{"affirm", TradeAction::affirm},
                                               std::pair{"reject", TradeAction::reject},
                                               std::pair{"cancel", TradeAction::cancel}}) {
    router.add("POST", prefix + "/v1/trades/{trade_id}/" + name,
               [&context, state, action = action](const http::Request& request) {
                 return trade_action_command(context, *state, request, action);
               });
  }
}

}  // namespace cch::registry
