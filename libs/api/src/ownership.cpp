// Object ownership for member principals: who owns what a path names, asked of the library that
// owns the object (ledger, settlement, registry) and remembered, since it never changes.
#include "request_pipeline.hpp"

#include "cch/ledger/accounts.hpp"
#include "cch/ledger/queries.hpp"
#include "cch/registry/trades.hpp"
#include "cch/settlement/collateral.hpp"
#include "cch/settlement/margin_calls.hpp"

#include <mutex>

namespace cch::api {
namespace {

// Whether a member principal owns the object the path names. nullopt: the object does not exist.
// Each owning library answers who owns its object.
std::optional<bool> read_member_owns(pqxx::transaction_base& tx, Ownership ownership, const http::Request& request,
                                     MemberId member) {
  const auto id_of = [&](std::string_view name) { return request.path_id(name); };
  switch (ownership) {
    case Ownership::none: return true;
    case Ownership::member: {
      const auto id = id_of("member_id");
      if (!id) return std::nullopt;
      return *id == member.value();
    }
    case Ownership::account: {
      const auto id = id_of("account_id");
      if (!id) return std::nullopt;
      const auto owner = ledger::account_owner(tx, AccountId(*id));
      if (!owner) return std::nullopt;
      return owner->member == member;
    }
    case Ownership::withdrawal: {
      const auto id = id_of("withdrawal_id");
      if (!id) return std::nullopt;
      const auto owner = settlement::withdrawal_owner(tx, *id);
      if (!owner) return std::nullopt;
      return *owner == member;
    }
    case Ownership::trade: {
      const auto id = id_of("trade_id");
      if (!id) return std::nullopt;
      const auto parties = registry::trade_parties(tx, TradeId(*id));
      if (!parties) return std::nullopt;
      return parties->buyer == member || parties->seller == member;
    }
    case Ownership::journal: {
      const auto id = id_of("journal_id");
      if (!id) return std::nullopt;
      return ledger::journal_posts_to_member(tx, JournalId(*id), member);
    }
    case Ownership::margin_call: {
      const auto id = id_of("call_id");
      if (!id) return std::nullopt;
      const auto call = settlement::find_margin_call(tx, *id);
      if (!call) return std::nullopt;
      return call->member == member;
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<bool> member_owns(Api& api, pqxx::transaction_base& tx, Ownership ownership,
                                const http::Request& request, MemberId member) {
  if (ownership == Ownership::none || ownership == Ownership::member) {
    return read_member_owns(tx, ownership, request, member);  // no database needed
  }
  const std::string_view name = ownership == Ownership::account       ? "account_id"
                                : ownership == Ownership::withdrawal  ? "withdrawal_id"
                                : ownership == Ownership::trade       ? "trade_id"
                                : ownership == Ownership::margin_call ? "call_id"
                                                                      : "journal_id";
  const std::string key = std::string(name) + ":" + std::string(request.path_param(name).value_or("")) + ":" +
                          member.to_string();
  if (const auto known = api.ownership.find(key)) return known;
  const auto owns = read_member_owns(tx, ownership, request, member);
  if (owns) api.ownership.remember(key, *owns);  // a missing object may yet be created: not remembered
  return owns;
}

std::optional<bool> OwnershipCache::find(const std::string& key) const {
  const std::lock_guard lock(mutex_);
  const auto found = owns_.find(key);
  if (found == owns_.end()) return std::nullopt;
  return found->second;
}

void OwnershipCache::remember(const std::string& key, bool owns) {
  const std::lock_guard lock(mutex_);
  if (owns_.size() >= kEntriesMax) owns_.clear();
  owns_.emplace(key, owns);
}

}  // namespace cch::api
