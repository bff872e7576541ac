// The api's reads: straight from PostgreSQL, each in one statement or one repeatable-read
// transaction (ReadRoute::snapshot); an account's balance in a statement shared with concurrent
// requests (Api::accounts).
#include "api_impl.hpp"
#include "list_reads.hpp"
#include "margin_reads.hpp"
#include "settlement_reads.hpp"

#include "cch/api/credentials.hpp"
#include "cch/http/json_input.hpp"
#include "cch/ledger/accounts.hpp"
#include "cch/ledger/queries.hpp"
#include "cch/ledger/verify.hpp"
#include "cch/registry/catalog.hpp"
#include "cch/registry/members.hpp"
#include "cch/registry/products.hpp"
#include "cch/registry/trades.hpp"
#include "cch/registry_routes/json.hpp"
#include "cch/risk_routes/curve_routes.hpp"
#include "cch/risk_routes/market_routes.hpp"
#include "cch/settlement/collateral.hpp"
#include "cch/settlement/routes.hpp"

#include "cch/core/decimal.hpp"
#include "cch/market/market_data.hpp"

#include <pqxx/nontransaction>
#include <pqxx/result>

#include <map>
#include <unordered_map>

namespace cch::api {
namespace {

template <class IdType>
std::optional<IdType> path_id(const http::Request& request, std::string_view name) {
  const auto id = request.path_id(name);
  return id ? std::optional<IdType>(IdType(*id)) : std::nullopt;
}

// One page of an id-ordered list read with limit + 1 rows: the items (at most limit) and the
// cursor of the next page when there is one.
template <class Item, class IdOf, class ToJson>
nlohmann::json id_page(const std::vector<Item>& rows, std::size_t limit, IdOf id_of, ToJson to_json) {
  nlohmann::json items = nlohmann::json::array();
  for (std::size_t i = 0; i < rows.size() && i < limit; ++i) items.push_back(to_json(rows[i]));
  std::optional<std::string> next;
  if (rows.size() > limit) next = id_of(rows[limit - 1]).to_string();
  return page(std::move(items), next);
}

nlohmann::json principal_json(const access::Principal& principal) {
  return {{"principal_id", principal.id.to_string()},
          {"name", principal.name},
          {"role", std::string(access::to_string(principal.role))},
          {"member_id", principal.member ? nlohmann::json(principal.member->to_string()) : nlohmann::json(nullptr)}};
}

http::Response me(Api&, pqxx::transaction_base&, const http::Request& request, const access::Principal& principal) {
  QueryReader query(request, {});
  if (query.failed()) return query.failure();
  nlohmann::json json = principal_json(principal);
  json["credential"] = std::string(access::to_string(principal.credential));
  return http::json_response(200, json);
}

http::Response list_members(Api&, pqxx::transaction_base& tx, const http::Request& request,
                            const access::Principal&) {
  QueryReader query(request, {"limit", "cursor"});
  const std::size_t limit = query.limit();
  const auto cursor = query.id_cursor();
  if (query.failed()) return query.failure();
  const auto members =
      registry::list_members(tx, cursor ? std::optional<MemberId>(MemberId(*cursor)) : std::nullopt, limit + 1);
  return http::json_response(200, id_page(members, limit, [](const registry::Member& m) { return m.member_id; },
                                          registry::member_json));
}

http::Response get_member(Api&, pqxx::transaction_base& tx, const http::Request& request, const access::Principal&) {
  QueryReader query(request, {});
  if (query.failed()) return query.failure();
  const auto id = path_id<MemberId>(request, "member_id");
  const auto member = id ? registry::find_member(tx, *id) : std::nullopt;
  if (!member) return not_found();
  return http::json_response(200, registry::member_json(*member));
}

nlohmann::json account_json(pqxx::transaction_base& tx, const ledger::Account& account) {
  const auto balance = ledger::balance(tx, account.account_id);
  return {{"account_id", account.account_id.to_string()},
          {"member_id", account.member ? nlohmann::json(account.member->to_string()) : nlohmann::json(nullptr)},
          {"kind", std::string(ledger::to_string(account.kind))},
          {"currency", std::string(account.currency.code())},
          {"balance", format_amount(balance ? balance->balance : Money{0, account.currency})},
          {"posting_count", balance ? balance->version : 0}};
}

http::Response member_accounts(Api&, pqxx::transaction_base& tx, const http::Request& request,
                               const access::Principal&) {
  QueryReader query(request, {});
  if (query.failed()) return query.failure();
  const auto id = path_id<MemberId>(request, "member_id");
  if (!id || !registry::find_member(tx, *id)) return not_found();
  nlohmann::json items = nlohmann::json::array();
  for (const AccountId account_id : ledger::member_account_ids(tx, *id)) {
    const auto account = ledger::find_account(tx, account_id);
    items.push_back(account_json(tx, *account));
  }
  return http::json_response(200, {{"items", std::move(items)}, {"next_cursor", nullptr}});
}

http::Response member_collateral(Api&, pqxx::transaction_base& tx, const http::Request& request,
                                 const access::Principal&) {
  QueryReader query(request, {});
  if (query.failed()) return query.failure();
  const auto id = path_id<MemberId>(request, "member_id");
  if (!id || !registry::find_member(tx, *id)) return not_found();
  const auto position = settlement::collateral_position(tx, *id, Currency::usd());
  return http::json_response(200, {{"member_id", id->to_string()},
                                   {"currency", "USD"},
                                   {"held", format_amount(position.held)},
                                   {"pending_withdrawals", format_amount(position.pending_withdrawals)},
                                   {"committed_to_trades", format_amount(position.committed)},
                                   {"available", format_amount(position.available)}});
}

http::Response member_withdrawals(Api&, pqxx::transaction_base& tx, const http::Request& request,
                                  const access::Principal&) {
  QueryReader query(request, {"limit", "cursor"});
  const std::size_t limit = query.limit();
  const auto before = query.id_cursor();
  if (query.failed()) return query.failure();
  const auto id = path_id<MemberId>(request, "member_id");
  if (!id || !registry::find_member(tx, *id)) return not_found();
  const auto list = settlement::list_withdrawals(tx, *id, before, limit + 1);
  nlohmann::json items = nlohmann::json::array();
  for (std::size_t i = 0; i < list.size() && i < limit; ++i) items.push_back(settlement::withdrawal_json(list[i]));
  std::optional<std::string> next;
  if (list.size() > limit) next = std::to_string(list[limit - 1].withdrawal_id);
  return http::json_response(200, page(std::move(items), next));
}

http::Response get_withdrawal(Api&, pqxx::transaction_base& tx, const http::Request& request,
                              const access::Principal&) {
  QueryReader query(request, {});
  if (query.failed()) return query.failure();
  const auto id = request.path_id("withdrawal_id");
  const auto withdrawal = id ? settlement::find_withdrawal(tx, *id) : std::nullopt;
  if (!withdrawal) return not_found();
  return http::json_response(200, settlement::withdrawal_json(*withdrawal));
}

}  // namespace

// The statement takes an array of ids. PostgreSQL's custom plan for a short array always looks
// cheaper than its generic plan (costed for an array of unknown length), so with the default
// plan_cache_mode it would plan the statement afresh on every run (measured under load: a seventh
// of the machine). Its connections therefore use the generic plan, an index scan whatever the
// array's length; no other statement runs on them.
db::PoolOptions account_read_pool_options(const db::PoolOptions& service_pool) {
  db::PoolOptions options = service_pool;
  options.size = kAccountReadLimits.in_flight_max;
  options.application_name = service_pool.application_name + "_account_reads";
  options.on_connect = [then = service_pool.on_connect](pqxx::connection& connection) {
    if (then) then(connection);
    pqxx::nontransaction(connection).exec0("SET plan_cache_mode = force_generic_plan");
  };
  return options;
}

AccountReads::Fetch account_fetch(db::ConnectionPool& pool, http::Metrics& metrics) {
  http::Counter& statements = metrics.counter("cch_api_account_read_statements_total",
                                              "Statements that read accounts for GET /v1/accounts/{id}.");
  http::Counter& reads = metrics.counter("cch_api_account_reads_total",
                                         "Account reads those statements carried (several requests share one).");
  return [&pool, &statements, &reads](std::span<const std::int64_t> ids) {
    statements.increment();
    reads.increment(ids.size());
    auto lease = pool.acquire();
    pqxx::nontransaction tx(*lease);
    std::unordered_map<std::int64_t, AccountRow> found;
    for (auto& account : ledger::account_summaries(tx, ids)) {
      const std::int64_t id = account.account_id;
      found.emplace(id, std::move(account));
    }
    std::vector<std::optional<AccountRow>> values;
    values.reserve(ids.size());
    for (const std::int64_t id : ids) {
      const auto row = found.find(id);
      values.push_back(row == found.end() ? std::nullopt : std::optional<AccountRow>(row->second));
    }
    return values;
  };
}

namespace {

// The hottest response is written directly, not through a JSON tree: the same compact bytes,
// keys in the same (sorted) order. Only the kind is free text, so only it is escaped.
http::Response account_response(AccountId id, const AccountRow& row) {
  const Currency currency = Currency::parse(row.currency).value();
  http::Response response;
  response.status = 200;
  response.content_type = "application/json";
  std::string& body = response.body;
  body.reserve(192);
  body += R"({"account_id":")";
  body += id.to_string();
  body += R"(","balance":")";
  body += format_amount(Money{row.balance_minor, currency});
  body += R"(","currency":")";
  body += currency.code();
  body += R"(","kind":)";
  body += nlohmann::json(row.kind).dump();
  body += R"(,"member_id":)";
  body += row.member ? '"' + row.member->to_string() + '"' : std::string("null");
  body += R"(,"posting_count":)";
  body += std::to_string(row.posting_count);
  body += '}';
  return response;
}

// The hottest read: concurrent requests share one statement (Api::accounts). The row is read
// before the query is checked: who owns the account decides first (another member's is 404).
void get_account(Api& api, const http::Request& request, CombinedReadDone done) {
  const auto id = path_id<AccountId>(request, "account_id");
  if (!id) {
    done({false, std::nullopt, not_found()}, nullptr);
    return;
  }
  api.accounts.get_async(id->value(), [&request, id = *id, done = std::move(done)](
                                           std::optional<AccountRow> row, std::exception_ptr error) {
    if (error) {
      done({}, error);
      return;
    }
    if (!row) {
      done({false, std::nullopt, not_found()}, nullptr);
      return;
    }
    QueryReader query(request, {});
    done({true, row->member, query.failed() ? query.failure() : account_response(id, *row)}, nullptr);
  });
}

http::Response account_history(Api&, pqxx::transaction_base& tx, const http::Request& request,
                               const access::Principal&) {
  QueryReader query(request, {"limit", "cursor"});
  const std::size_t limit = query.limit();
  std::optional<ledger::HistoryCursor> before;
  if (const auto cursor = query.text("cursor")) {
    before = ledger::parse_cursor(*cursor);
    if (!before) query.refuse("cursor", "is not a cursor this API gave out");
  }
  if (query.failed()) return query.failure();
  const auto id = path_id<AccountId>(request, "account_id");
  const auto account = id ? ledger::find_account(tx, *id) : std::nullopt;
  if (!account) return not_found();
  const auto history = ledger::account_history(tx, *id, before, limit);
  nlohmann::json items = nlohmann::json::array();
  for (const auto& entry : history.entries) {
    items.push_back({{"journal_id", entry.journal_id.to_string()},
                     {"line_number", entry.line_number},
                     {"business_date", entry.business_date.format()},
                     {"journal_kind", entry.journal_kind},
                     {"cause_kind", entry.cause_kind},
                     {"cause_reference", entry.cause_reference},
                     {"request_id", entry.request_id ? nlohmann::json(*entry.request_id) : nlohmann::json(nullptr)},
                     {"amount", format_amount(entry.amount)},
                     {"currency", std::string(entry.amount.currency.code())},
                     {"created_at", entry.created_at.format()}});
  }
  std::optional<std::string> next;
  if (history.next) next = ledger::format_cursor(*history.next);
  return http::json_response(200, page(std::move(items), next));
}

http::Response get_journal(Api&, pqxx::transaction_base& tx, const http::Request& request,
                           const access::Principal& principal) {
  QueryReader query(request, {});
  if (query.failed()) return query.failure();
  const auto id = path_id<JournalId>(request, "journal_id");
  if (!id) return not_found();
  // A member sees its own postings and the clearinghouse's, never another member's.
  const auto journal = ledger::find_journal(tx, *id, principal.member);
  if (!journal) return not_found();
  nlohmann::json lines = nlohmann::json::array();
  for (const auto& posting : journal->postings) {
    lines.push_back({{"line_number", posting.line_number},
                     {"account_id", posting.account_id.to_string()},
                     {"member_id", posting.member ? nlohmann::json(posting.member->to_string()) : nlohmann::json(nullptr)},
                     {"account_kind", posting.account_kind},
                     {"amount", format_amount(posting.amount)},
                     {"currency", std::string(posting.amount.currency.code())}});
  }
  return http::json_response(
      200, {{"journal_id", journal->journal_id.to_string()},
            {"business_date", journal->business_date.format()},
            {"kind", journal->kind},
            {"cause", {{"kind", journal->cause_kind}, {"reference", journal->cause_reference}}},
            {"request_id", journal->request_id ? nlohmann::json(*journal->request_id) : nlohmann::json(nullptr)},
            {"reverses_journal_id", journal->reverses_journal_id
                                        ? nlohmann::json(journal->reverses_journal_id->to_string())
                                        : nlohmann::json(nullptr)},
            {"memo", journal->memo},
            {"created_at", journal->created_at.format()},
            {"chain", {{"chain_id", journal->chain_id}, {"link_sequence", std::to_string(journal->link_sequence)}}},
            {"postings", std::move(lines)}});
}

http::Response trial_balance(Api&, pqxx::transaction_base& tx, const http::Request& request,
                             const access::Principal&) {
  QueryReader query(request, {"as_of"});
  std::optional<UtcTimestamp> as_of;
  if (const auto text = query.text("as_of")) {
    const auto parsed = UtcTimestamp::parse(*text);
    if (parsed) {
      as_of = *parsed;
    } else {
      query.refuse("as_of", "must be an ISO 8601 UTC time, e.g. 2026-11-22T17:00:00Z");
    }
  }
  if (query.failed()) return query.failure();
  const auto balance = ledger::trial_balance(tx, as_of);
  nlohmann::json currencies = nlohmann::json::array();
  for (const auto& [currency_code, kinds] : balance.by_currency_and_kind) {
    const Currency currency = Currency::parse(currency_code).value();
    nlohmann::json by_kind = nlohmann::json::object();
    for (const auto& [kind, sum] : kinds) by_kind[kind] = format_amount(Money{sum, currency});
    currencies.push_back({{"currency", currency_code},
                          {"by_account_kind", std::move(by_kind)},
                          {"total", format_amount(Money{balance.total_by_currency.at(currency_code), currency})}});
  }
  return http::json_response(200, {{"as_of", as_of ? nlohmann::json(as_of->format()) : nlohmann::json(nullptr)},
                                   {"balanced", balance.balanced()},
                                   {"currencies", std::move(currencies)}});
}

http::Response verification(Api&, pqxx::transaction_base& tx, const http::Request& request,
                            const access::Principal&) {
  QueryReader query(request, {});
  if (query.failed()) return query.failure();
  const auto report = ledger::verify_chains(tx);
  nlohmann::json first_break = nullptr;
  if (report.first_break) {
    const auto& broken = *report.first_break;
    first_break = {{"kind", std::string(ledger::to_string(broken.kind))},
                   {"chain_id", broken.chain_id},
                   {"link_sequence", std::to_string(broken.link_sequence)},
                   {"journal_id", broken.journal_id ? nlohmann::json(std::to_string(*broken.journal_id)) : nlohmann::json(nullptr)},
                   {"detail", broken.detail}};
  }
  const auto out_of_balance = ledger::accounts_out_of_balance(tx);
  nlohmann::json accounts = nlohmann::json::array();
  for (const auto& account : out_of_balance) accounts.push_back(account.to_string());
  return http::json_response(200, {{"ok", report.ok() && out_of_balance.empty()},
                                   {"links_checked", report.links_checked},
                                   {"journals_checked", report.journals_checked},
                                   {"first_break", std::move(first_break)},
                                   {"accounts_out_of_balance", std::move(accounts)},
                                   {"checkpoints", ledger::format_checkpoints(report.checkpoints)}});
}

http::Response audit_requests(Api&, pqxx::transaction_base& tx, const http::Request& request,
                              const access::Principal&) {
  QueryReader query(request, {"limit", "cursor", "principal", "request_id"});
  const std::size_t limit = query.limit();
  const std::int64_t before = query.id_cursor().value_or(INT64_MAX);
  const auto principal_name = query.text("principal");
  const auto request_id = query.text("request_id");
  if (query.failed()) return query.failure();
  const auto rows = tx.exec_params(
      "SELECT request_log_id, (extract(epoch FROM received_at) * 1000000)::bigint, request_id, principal_name, role, "
      "credential, method, route, path, status, reason, remote_address, duration_us FROM api.request_log "
      "WHERE request_log_id < $1 AND ($2::text IS NULL OR principal_name = $2) AND ($3::text IS NULL OR request_id = $3) "
      "ORDER BY request_log_id DESC LIMIT $4",
      before, principal_name, request_id, static_cast<std::int64_t>(limit + 1));
  nlohmann::json items = nlohmann::json::array();
  const auto optional_text = [](const pqxx::field& field) {
    return field.is_null() ? nlohmann::json(nullptr) : nlohmann::json(field.as<std::string>());
  };
  for (std::size_t i = 0; i < rows.size() && i < limit; ++i) {
    const auto& row = rows[static_cast<pqxx::result::size_type>(i)];
    items.push_back({{"request_log_id", row[0].as<std::string>()},
                     {"received_at", UtcTimestamp::from_unix_microseconds(row[1].as<std::int64_t>()).value().format()},
                     {"request_id", row[2].as<std::string>()},
                     {"principal", optional_text(row[3])},
                     {"role", optional_text(row[4])},
                     {"credential", row[5].as<std::string>()},
                     {"method", row[6].as<std::string>()},
                     {"route", row[7].as<std::string>()},
                     {"path", row[8].as<std::string>()},
                     {"status", row[9].as<int>()},
                     {"reason", optional_text(row[10])},
                     {"remote_address", row[11].as<std::string>()},
                     {"duration_us", row[12].as<std::int64_t>()}});
  }
  std::optional<std::string> next;
  if (rows.size() > limit) next = rows[static_cast<pqxx::result::size_type>(limit - 1)][0].as<std::string>();
  return http::json_response(200, page(std::move(items), next));
}

http::Response principals(Api&, pqxx::transaction_base& tx, const http::Request& request, const access::Principal&) {
  QueryReader query(request, {"limit", "cursor"});
  const std::size_t limit = query.limit();
  const auto cursor = query.id_cursor();
  if (query.failed()) return query.failure();
  const auto list = list_principals(
      tx, cursor ? std::optional<access::PrincipalId>(access::PrincipalId(*cursor)) : std::nullopt, limit + 1);
  nlohmann::json items = nlohmann::json::array();
  for (std::size_t i = 0; i < list.size() && i < limit; ++i) {
    nlohmann::json json = principal_json(list[i].principal);
    json["status"] = list[i].status;
    json["created_at"] = list[i].created_at.format();
    json["created_by"] = list[i].created_by;
    items.push_back(std::move(json));
  }
  std::optional<std::string> next;
  if (list.size() > limit) next = list[limit - 1].principal.id.to_string();
  return http::json_response(200, page(std::move(items), next));
}

// ---- products, limits, trades and positions ------------------------------------------------

std::optional<MemberId> viewer_of(const access::Principal& principal) {
  return principal.role == access::Role::member ? principal.member : std::nullopt;
}

http::Response list_products(Api&, pqxx::transaction_base& tx, const http::Request& request,
                             const access::Principal&) {
  QueryReader query(request, {"limit", "cursor"});
  const std::size_t limit = query.limit();
  const auto cursor = query.id_cursor();
  if (query.failed()) return query.failure();
  const auto products =
      registry::list_products(tx, cursor ? std::optional<ProductId>(ProductId(*cursor)) : std::nullopt, limit + 1);
  return http::json_response(200, id_page(products, limit, [](const registry::Product& p) { return p.product_id; },
                                          registry::product_json));
}

http::Response get_product(Api&, pqxx::transaction_base& tx, const http::Request& request, const access::Principal&) {
  QueryReader query(request, {});
  if (query.failed()) return query.failure();
  const auto id = path_id<ProductId>(request, "product_id");
  const auto product = id ? registry::find_product(tx, *id) : std::nullopt;
  if (!product) return not_found();
  return http::json_response(200, registry::product_json(*product));
}

// The series listed today: every standard period that starts after today and within the
// product's listing horizon (products.hpp), optionally of one kind.
http::Response product_series(Api&, pqxx::transaction_base& tx, const http::Request& request,
                              const access::Principal&) {
  QueryReader query(request, {"kind"});
  const auto kind_text = query.text("kind");
  std::optional<registry::PeriodKind> kind;
  if (kind_text) {
    kind = registry::parse_period_kind(*kind_text);
    if (!kind) query.refuse("kind", "must be day, week, month, quarter or year");
  }
  if (query.failed()) return query.failure();
  const auto id = path_id<ProductId>(request, "product_id");
  const auto product = id ? registry::find_product(tx, *id) : std::nullopt;
  if (!product) return not_found();
  const BusinessDate today = BusinessDate::containing(UtcTimestamp::now());
  std::vector<registry::PeriodKind> kinds;
  if (kind) {
    kinds.push_back(*kind);
  } else {
    const auto all = registry::all_period_kinds();
    kinds.assign(all.begin(), all.end());
  }
  nlohmann::json items = nlohmann::json::array();
  for (const auto& period : registry::listed_periods(kinds, today, product->spec.listing_horizon_days)) {
    items.push_back({{"series", period.label},
                     {"kind", std::string(to_string(period.kind))},
                     {"delivery_start", period.start().format()},
                     {"delivery_end", period.end().format()},
                     {"hours", period.hours()}});
  }
  return http::json_response(200, {{"product_id", product->product_id.to_string()},
                                   {"as_of", today.format()},
                                   {"items", std::move(items)}});
}

http::Response member_limits(Api&, pqxx::transaction_base& tx, const http::Request& request,
                             const access::Principal&) {
  QueryReader query(request, {});
  if (query.failed()) return query.failure();
  const auto id = path_id<MemberId>(request, "member_id");
  const auto limits = id ? registry::member_limits(tx, *id) : std::nullopt;
  if (!limits) return not_found();
  nlohmann::json json = registry::limits_json(*limits);
  const auto used = registry::margin_used(tx, *id);
  json["credit_used"] = format_amount(used.initial_margin);
  json["credit_rule"] = used.model_id ? "initial_margin" : "interim";
  json["margin_model_id"] = used.model_id ? nlohmann::json(std::to_string(*used.model_id)) : nlohmann::json(nullptr);
  return http::json_response(200, json);
}

// A member's list that takes no query parameters: {"member_id", "items": items_of(member)}, or
// 404 when there is no such member.
template <class ItemsOf>
http::Response member_list(pqxx::transaction_base& tx, const http::Request& request, ItemsOf&& items_of) {
  QueryReader query(request, {});
  if (query.failed()) return query.failure();
  const auto id = path_id<MemberId>(request, "member_id");
  if (!id || !registry::find_member(tx, *id)) return not_found();
  nlohmann::json items = items_of(*id);
  return http::json_response(200, {{"member_id", id->to_string()}, {"items", std::move(items)}});
}

http::Response member_positions(Api&, pqxx::transaction_base& tx, const http::Request& request,
                                const access::Principal&) {
  return member_list(tx, request, [&](MemberId member) {
    nlohmann::json items = nlohmann::json::array();
    for (const auto& position : registry::member_positions(tx, member)) items.push_back(registry::position_json(position));
    return items;
  });
}

// The venues a member has authorised to register its trades, live and revoked (at most 1000).
http::Response member_venue_authorisations(Api&, pqxx::transaction_base& tx, const http::Request& request,
                                           const access::Principal&) {
  return member_list(tx, request, [&](MemberId member) {
    nlohmann::json items = nlohmann::json::array();
    for (const auto& authorisation : registry::venue_authorisations(tx, member)) {
      items.push_back(registry::venue_authorisation_json(authorisation));
    }
    return items;
  });
}

// Trades in id order. A member sees the trades it is a party to; staff see all and may filter
// by member. Filters: state, product_id, member_id (staff).
http::Response list_trades(Api&, pqxx::transaction_base& tx, const http::Request& request,
                           const access::Principal& principal) {
  QueryReader query(request, {"limit", "cursor", "state", "product_id", "member_id"});
  const std::size_t limit = query.limit();
  const auto cursor = query.id_cursor();
  const auto state = query.text("state");
  if (state && !registry::parse_trade_state(*state)) {
    query.refuse("state", "must be pending_affirmation, cleared, rejected, cancelled or expired");
  }
  std::optional<std::int64_t> product;
  if (const auto text = query.text("product_id")) {
    if (const auto parsed = parse_id_value(*text)) {
      product = *parsed;
    } else {
      query.refuse("product_id", "must be an id");
    }
  }
  std::optional<std::int64_t> member;
  if (const auto text = query.text("member_id")) {
    if (const auto parsed = parse_id_value(*text)) {
      member = *parsed;
    } else {
      query.refuse("member_id", "must be an id");
    }
  }
  if (query.failed()) return query.failure();
  const auto viewer = viewer_of(principal);
  if (viewer) {
    if (member && *member != viewer->value()) {
      return http::json_response(200, page(nlohmann::json::array(), std::nullopt));  // nothing of others
    }
    member = viewer->value();
  }
  registry::TradeFilter filter;
  if (member) filter.member = MemberId(*member);
  if (state) filter.state = registry::parse_trade_state(*state);
  if (product) filter.product = ProductId(*product);
  const auto trades =
      registry::list_trades(tx, filter, cursor ? std::optional<TradeId>(TradeId(*cursor)) : std::nullopt, limit + 1);
  return http::json_response(
      200, id_page(trades, limit, [](const registry::Trade& t) { return t.trade_id; },
                   [&](const registry::Trade& t) { return registry::trade_json(t, viewer); }));
}

http::Response get_trade(Api&, pqxx::transaction_base& tx, const http::Request& request,
                         const access::Principal& principal) {
  QueryReader query(request, {});
  if (query.failed()) return query.failure();
  const auto id = path_id<TradeId>(request, "trade_id");
  const auto trade = id ? registry::find_trade(tx, *id) : std::nullopt;
  if (!trade) return not_found();
  const auto viewer = viewer_of(principal);
  nlohmann::json json = registry::trade_json(*trade, viewer);
  nlohmann::json events = nlohmann::json::array();
  for (const auto& event : registry::trade_events(tx, *id)) {
    // A member sees its own reasons; a refusal's reason may describe the other member's state.
    const bool own = !viewer || (event.actor_member && *event.actor_member == *viewer && event.action != "refuse");
    events.push_back({{"sequence", event.sequence},
                      {"at", event.at.format()},
                      {"action", event.action},
                      {"actor_member_id", event.actor_member ? nlohmann::json(event.actor_member->to_string())
                                                             : nlohmann::json(nullptr)},
                      {"actor", viewer ? nlohmann::json(nullptr) : nlohmann::json(event.actor)},
                      {"from_state", event.from_state ? nlohmann::json(*event.from_state) : nlohmann::json(nullptr)},
                      {"to_state", event.to_state},
                      {"reason", own && event.reason ? nlohmann::json(*event.reason) : nlohmann::json(nullptr)},
                      {"request_id", viewer ? nlohmann::json(nullptr)
                                            : (event.request_id ? nlohmann::json(*event.request_id)
                                                                : nlohmann::json(nullptr))}});
  }
  json["events"] = std::move(events);
  return http::json_response(200, json);
}

}  // namespace

QueryReader::QueryReader(const http::Request& request, std::initializer_list<std::string_view> accepted)
    : request_(request) {
  for (const auto& [name, value] : request.query_params) {
    bool known = false;
    for (const auto accepted_name : accepted) known = known || name == accepted_name;
    int seen = 0;
    for (const auto& other : request.query_params) seen += other.first == name ? 1 : 0;
    if (!known) {
      failure_ = http::problem(400, "unknown_parameter", "Unknown query parameter", name + " is not a parameter here");
      return;
    }
    if (seen > 1) {
      failure_ = http::problem(400, "invalid_parameter", "Invalid query parameter", name + " is given more than once");
      return;
    }
  }
}

std::size_t QueryReader::limit(std::size_t maximum) {
  const auto text = request_.query_param("limit");
  if (!text) return std::min(kPageSizeDefault, maximum);
  const auto value = parse_id_value(*text);
  if (!value || *value > static_cast<std::int64_t>(maximum)) {
    refuse("limit", "must be a whole number from 1 to " + std::to_string(maximum));
    return std::min(kPageSizeDefault, maximum);
  }
  return static_cast<std::size_t>(*value);
}

std::optional<std::int64_t> QueryReader::id_cursor() {
  const auto text = request_.query_param("cursor");
  if (!text) return std::nullopt;
  const auto value = parse_id_value(*text);
  if (!value) {
    refuse("cursor", "is not a cursor this API gave out");
    return std::nullopt;
  }
  return *value;
}

std::optional<std::string> QueryReader::text(std::string_view name) {
  const auto value = request_.query_param(name);
  if (!value) return std::nullopt;
  if (value->empty() || value->size() > 200) {
    refuse(name, "must be 1 to 200 characters");
    return std::nullopt;
  }
  if (http::has_control_character(*value)) {
    if (!failure_) {
      failure_ = http::problem(400, "invalid_text", "Invalid query parameter",
                               std::string(name) + ": must not contain control characters (U+0000 to U+001F, U+007F)");
    }
    return std::nullopt;
  }
  return std::string(*value);
}

void QueryReader::refuse(std::string_view name, std::string_view detail) {
  if (!failure_) {
    failure_ = http::problem(400, "invalid_parameter", "Invalid query parameter",
                             std::string(name) + ": " + std::string(detail));
  }
}


namespace {

// ---- market data ----------------------------------------------------------------------------

std::optional<int> version_param(QueryReader& query) {
  const auto text = query.text("version");
  if (!text) return std::nullopt;
  const auto parsed = parse_scaled_decimal(*text, 0);
  if (!parsed || *parsed < 1 || *parsed > market::kVersionsMax) {
    query.refuse("version", "must be a version number, 1 or more");
    return std::nullopt;
  }
  return static_cast<int>(*parsed);
}

std::optional<BusinessDate> path_date(const http::Request& request) {
  const auto text = request.path_param("business_date");
  if (!text) return std::nullopt;
  const auto parsed = BusinessDate::parse(*text);
  return parsed ? std::optional<BusinessDate>(*parsed) : std::nullopt;
}

// Every version of every snapshot, newest first; filters kind, subject, from, to.
http::Response market_snapshots(Api&, pqxx::transaction_base& tx, const http::Request& request,
                                const access::Principal&) {
  QueryReader query(request, {"limit", "cursor", "kind", "subject", "from", "to"});
  const std::size_t limit = query.limit();
  market::SnapshotFilter filter;
  filter.before = query.id_cursor();
  if (const auto kind = query.text("kind")) {
    filter.kind = market::parse_data_kind(*kind);
    if (!filter.kind) query.refuse("kind", "must be ois, settlement or fixing");
  }
  filter.subject = query.text("subject");
  filter.from = date_param(query, "from");
  filter.to = date_param(query, "to");
  if (query.failed()) return query.failure();
  const auto list = market::list_snapshots(tx, filter, limit + 1);
  nlohmann::json items = nlohmann::json::array();
  for (std::size_t i = 0; i < list.size() && i < limit; ++i) items.push_back(risk::snapshot_json(list[i]));
  std::optional<std::string> next;
  if (list.size() > limit) next = std::to_string(list[limit - 1].snapshot_id);
  return http::json_response(200, page(std::move(items), next));
}

http::Response ois_quotes(Api&, pqxx::transaction_base& tx, const http::Request& request, const access::Principal&) {
  QueryReader query(request, {"version"});
  const auto version = version_param(query);
  if (query.failed()) return query.failure();
  const auto date = path_date(request);
  const auto quotes = date ? market::ois_quotes(tx, *date, version) : std::nullopt;
  if (!quotes) return not_found();
  return http::json_response(200, risk::ois_quotes_json(*quotes));
}

// A product's settlement prices of a business date (the given version, or the latest), or without
// business_date its latest: the reference prices of registration's fat-finger band.
http::Response product_settlement_prices(Api&, pqxx::transaction_base& tx, const http::Request& request,
                                         const access::Principal&) {
  QueryReader query(request, {"business_date", "version"});
  auto date = date_param(query, "business_date");
  const auto version = version_param(query);
  if (version && !date) query.refuse("version", "needs a business_date");
  if (query.failed()) return query.failure();
  const auto id = path_id<ProductId>(request, "product_id");
  if (!id || !registry::find_product(tx, *id)) return not_found();
  if (!date) {
    date = market::latest_settlement_date(tx, *id);
    if (!date) return not_found();
  }
  const auto prices = market::settlement_prices(tx, *id, *date, version);
  if (!prices) return not_found();
  return http::json_response(200, risk::settlement_prices_json(*prices));
}

http::Response index_fixings(Api&, pqxx::transaction_base& tx, const http::Request& request, const access::Principal&) {
  QueryReader query(request, {"from", "to"});
  const auto from = date_param(query, "from");
  const auto to = date_param(query, "to");
  if (query.failed()) return query.failure();
  const auto index = request.path_param("index");
  if (!index) return not_found();
  const BusinessDate today = BusinessDate::containing(UtcTimestamp::now());
  const BusinessDate last = to.value_or(today);
  const BusinessDate first = from.value_or(last.add_days(-30).value());
  if (days_between(first, last) > 366 || last < first) {
    return http::problem(400, "invalid_parameter", "Invalid query parameter",
                         "from and to: at most 366 days apart, from not after to");
  }
  nlohmann::json items = nlohmann::json::array();
  for (const auto& fixing : market::index_fixings(tx, *index, first, last)) {
    items.push_back(risk::index_fixing_json(fixing));
  }
  return http::json_response(200, {{"index", std::string(*index)}, {"from", first.format()}, {"to", last.format()},
                                   {"items", std::move(items)}});
}

// ---- curve sets and marks ------------------------------------------------------------------

std::optional<risk::CurveSetRecord> path_curve_set(pqxx::transaction_base& tx, const http::Request& request) {
  const auto id = request.path_id("curve_set_id");
  return id ? risk::find_curve_set(tx, *id) : std::nullopt;
}

http::Response curve_sets(Api&, pqxx::transaction_base& tx, const http::Request& request, const access::Principal&) {
  QueryReader query(request, {"limit", "cursor", "business_date"});
  const std::size_t limit = query.limit(risk::kCurveSetPageMax);
  const auto cursor = query.id_cursor();
  const auto date = date_param(query, "business_date");
  if (query.failed()) return query.failure();
  const auto list = risk::list_curve_sets(tx, date, cursor, limit + 1);
  nlohmann::json items = nlohmann::json::array();
  for (std::size_t i = 0; i < list.size() && i < limit; ++i) items.push_back(risk::curve_set_json(list[i]));
  std::optional<std::string> next;
  if (list.size() > limit) next = std::to_string(list[limit - 1].curve_set_id);
  return http::json_response(200, page(std::move(items), next));
}

http::Response get_curve_set(Api&, pqxx::transaction_base& tx, const http::Request& request, const access::Principal&) {
  QueryReader query(request, {});
  if (query.failed()) return query.failure();
  const auto record = path_curve_set(tx, request);
  if (!record) return not_found();
  return http::json_response(200, risk::curve_set_detail_json(*record, *risk::load_curves(tx, record->curve_set_id)));
}

http::Response forward_curve(Api&, pqxx::transaction_base& tx, const http::Request& request, const access::Principal&) {
  QueryReader query(request, {"from", "to"});
  const auto from = date_param(query, "from");
  const auto to = date_param(query, "to");
  if (query.failed()) return query.failure();
  const auto record = path_curve_set(tx, request);
  const auto product = request.path_id("product_id");
  if (!record || !product) return not_found();
  const auto curves = risk::load_curves(tx, record->curve_set_id);
  const auto curve = curves->forwards.find(ProductId(*product));
  if (curve == curves->forwards.end()) return not_found();
  return http::json_response(200, risk::forward_curve_json(*record, ProductId(*product), curve->second,
                                                           from.value_or(curve->second.first_day()),
                                                           to.value_or(curve->second.last_day())));
}

http::Response curve_set_verification(Api&, pqxx::transaction_base& tx, const http::Request& request,
                                      const access::Principal&) {
  QueryReader query(request, {});
  if (query.failed()) return query.failure();
  const auto id = request.path_id("curve_set_id");
  if (!id) return not_found();
  const auto verified = risk::verify_curve_set(tx, *id);
  if (!verified) return risk::curve_set_refusal(verified.error());
  return http::json_response(200, risk::verification_json(*verified));
}

http::Response mark_run(Api&, pqxx::transaction_base& tx, const http::Request& request, const access::Principal&) {
  QueryReader query(request, {});
  if (query.failed()) return query.failure();
  const auto id = request.path_id("curve_set_id");
  const auto run = id ? risk::find_mark_run(tx, *id) : std::nullopt;
  if (!run) return not_found();
  return http::json_response(200, risk::mark_run_json(*run));
}

// A member's marks per product in a curve set (default: the latest business date marked).
http::Response member_marks(Api&, pqxx::transaction_base& tx, const http::Request& request, const access::Principal&) {
  QueryReader query(request, {"curve_set_id"});
  std::optional<std::int64_t> curve_set_id;
  if (const auto text = query.text("curve_set_id")) {
    if (const auto parsed = parse_id_value(*text)) {
      curve_set_id = *parsed;
    } else {
      query.refuse("curve_set_id", "must be an id");
    }
  }
  if (query.failed()) return query.failure();
  const auto member = path_id<MemberId>(request, "member_id");
  if (!member || !registry::find_member(tx, *member)) return not_found();
  if (!curve_set_id) {
    const auto latest = risk::latest_mark_run(tx);
    if (!latest) return not_found();
    curve_set_id = latest->curve_set_id;
  }
  const auto record = risk::find_curve_set(tx, *curve_set_id);
  if (!record || !risk::find_mark_run(tx, *curve_set_id)) return not_found();
  return http::json_response(200, risk::member_marks_json(*record, *member, risk::member_marks(tx, *curve_set_id, *member)));
}

}  // namespace

ReadRoute read_route(std::string_view method, std::string_view pattern) {
  static const std::map<std::string, ReadRoute, std::less<>> handlers = {
      {"GET /v1/me", {me, false}},
      {"GET /v1/members", {list_members, false}},
      {"GET /v1/members/{member_id}", {get_member, false}},
      {"GET /v1/members/{member_id}/accounts", {member_accounts, true}},
      {"GET /v1/members/{member_id}/collateral", {member_collateral, true}},
      {"GET /v1/members/{member_id}/collateral-withdrawals", {member_withdrawals, false}},
      {"GET /v1/collateral-withdrawals/{withdrawal_id}", {get_withdrawal, false}},
      {"GET /v1/accounts/{account_id}", {nullptr, false, get_account}},
      {"GET /v1/accounts/{account_id}/history", {account_history, false}},  // postings never change
      {"GET /v1/journals/{journal_id}", {get_journal, false}},              // journals never change
      {"GET /v1/ledger/trial-balance", {trial_balance, true, nullptr, true}},
      {"GET /v1/ledger/verification", {verification, true, nullptr, true}},
      {"GET /v1/audit/requests", {audit_requests, false, nullptr, true}},
      {"GET /v1/principals", {principals, false}},
      {"GET /v1/products", {list_products, false}},
      {"GET /v1/products/{product_id}", {get_product, false}},
      {"GET /v1/products/{product_id}/series", {product_series, false}},
      {"GET /v1/products/{product_id}/settlement-prices", {product_settlement_prices, true}},
      {"GET /v1/products/{product_id}/settlement-price-fallbacks", {product_price_fallbacks, true}},
      {"GET /v1/market/snapshots", {market_snapshots, false}},
      {"GET /v1/market/ois-quotes/{business_date}", {ois_quotes, true}},
      {"GET /v1/market/index-fixings/{index}", {index_fixings, false}},
      {"GET /v1/curve-sets", {curve_sets, false}},
      {"GET /v1/curve-sets/{curve_set_id}", {get_curve_set, true}},
      {"GET /v1/curve-sets/{curve_set_id}/forward-curves/{product_id}", {forward_curve, true}},
      {"GET /v1/curve-sets/{curve_set_id}/verification", {curve_set_verification, true}},
      {"GET /v1/curve-sets/{curve_set_id}/mark-run", {mark_run, false}},
      {"GET /v1/members/{member_id}/marks", {member_marks, true}},
      {"GET /v1/margin/parameters", {margin_parameters, false}},
      {"GET /v1/margin/parameters/{version}", {margin_parameter_version, false}},  // versions never change
      {"GET /v1/margin/models", {margin_models, false}},
      {"GET /v1/margin/models/{model_id}", {margin_model, true}},
      {"GET /v1/margin/models/{model_id}/scenarios", {margin_model_scenarios, true}},
      {"GET /v1/margin/models/{model_id}/verification", {margin_model_verification, true}},
      {"GET /v1/margin/runs", {margin_runs, false}},
      {"GET /v1/margin/runs/{run_id}", {margin_run, true}},
      {"GET /v1/margin/runs/{run_id}/members", {margin_run_members, true}},
      {"GET /v1/margin/runs/{run_id}/verification", {margin_run_verification, true}},
      {"GET /v1/margin/runs/{run_id}/stress", {margin_run_stress, true}},
      {"GET /v1/margin/backtests", {margin_backtests, false}},
      {"GET /v1/margin/backtests/{backtest_id}", {margin_backtest, true}},
      {"GET /v1/margin/report", {margin_report, true}},
      {"GET /v1/members/{member_id}/margin", {member_margin, true}},
      {"GET /v1/members/{member_id}/margin/history", {member_margin_history, false}},
      {"GET /v1/members/{member_id}/margin/backtest", {member_margin_backtest, true}},
      {"GET /v1/members/{member_id}/margin-calls", {member_margin_calls, false}},
      {"GET /v1/margin-calls", {margin_calls, false}},
      {"GET /v1/margin-calls/{call_id}", {margin_call, false}},
      {"GET /v1/settlement/runs", {settlement_runs, true}},
      {"GET /v1/settlement/runs/{run_id}", {settlement_run, true}},
      {"GET /v1/settlement/runs/{run_id}/members", {settlement_run_members, true}},
      {"GET /v1/settlement/runs/{run_id}/deliveries", {settlement_run_deliveries, true}},
      {"GET /v1/settlement/statements/{business_date}", {statement_summaries, true}},
      {"GET /v1/members/{member_id}/statements/{business_date}", {member_statement, true}},
      {"GET /v1/trades/{trade_id}/deliveries", {trade_deliveries, true}},
      {"GET /v1/members/{member_id}/variation-margin", {member_variation_margin, false}},
      {"GET /v1/members/{member_id}/variation-margin/{run_id}", {member_run_variation_margin, true}},
      {"GET /v1/members/{member_id}/limits", {member_limits, true}},
      {"GET /v1/members/{member_id}/positions", {member_positions, false}},
      {"GET /v1/members/{member_id}/venue-authorisations", {member_venue_authorisations, false}},
      {"GET /v1/trades", {list_trades, true}},
      {"GET /v1/trades/{trade_id}", {get_trade, true}},
  };
  const auto found = handlers.find(std::string(method) + " " + std::string(pattern));
  return found == handlers.end() ? ReadRoute{} : found->second;
}

}  // namespace cch::api
