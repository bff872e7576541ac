#include "cch/registry/members.hpp"

#include <pqxx/result>

#include <algorithm>

#include "cch/db/row.hpp"

namespace cch::registry {
namespace {

constexpr std::string_view kMemberColumns =
    "member_id, code, legal_name, status, (extract(epoch FROM created_at) * 1000000)::bigint";

Member member_from(const pqxx::row& row) {
  return Member{MemberId(row[0].as<std::int64_t>()), row[1].as<std::string>(), row[2].as<std::string>(),
                row[3].as<std::string>(), db::timestamp_of(row[4])};
}

std::optional<Member> first_member(const pqxx::result& result) {
  if (result.empty()) return std::nullopt;
  return member_from(result[0]);
}

}  // namespace

std::string_view to_string(MemberRefusal refusal) {
  switch (refusal) {
    case MemberRefusal::invalid_code: return "invalid_member_code";
    case MemberRefusal::invalid_legal_name: return "invalid_legal_name";
    case MemberRefusal::code_taken: return "member_code_taken";
  }
  return "unknown";
}

bool is_valid_member_code(std::string_view code) {
  if (code.size() < 2 || code.size() > 63) return false;
  const auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  return alnum(code.front()) && std::all_of(code.begin(), code.end(), [&](char c) { return alnum(c) || c == '-'; });
}

Result<Registered, MemberRefusal> register_member(pqxx::transaction_base& tx, std::string_view code,
                                                  std::string_view legal_name) {
  if (!is_valid_member_code(code)) return fail(MemberRefusal::invalid_code);
  if (legal_name.empty() || legal_name.size() > kLegalNameLengthMax) return fail(MemberRefusal::invalid_legal_name);
  const auto inserted = tx.exec_params("INSERT INTO cch.member (code, legal_name) VALUES ($1, $2) "
                                       "ON CONFLICT (code) DO NOTHING RETURNING " +
                                           std::string(kMemberColumns),
                                       std::string(code), std::string(legal_name));
  if (!inserted.empty()) return Registered{member_from(inserted[0]), true};
  auto existing = find_member_by_code(tx, code);
  if (!existing || existing->legal_name != legal_name) return fail(MemberRefusal::code_taken);
  return Registered{std::move(*existing), false};
}

std::optional<Member> find_member(pqxx::transaction_base& tx, MemberId member) {
  return first_member(tx.exec_params(
      "SELECT " + std::string(kMemberColumns) + " FROM cch.member WHERE member_id = $1", member.value()));
}

std::optional<Member> find_member_by_code(pqxx::transaction_base& tx, std::string_view code) {
  return first_member(
      tx.exec_params("SELECT " + std::string(kMemberColumns) + " FROM cch.member WHERE code = $1", std::string(code)));
}

std::vector<Member> list_members(pqxx::transaction_base& tx, std::optional<MemberId> after, std::size_t limit) {
  const auto clamped = static_cast<std::int64_t>(std::clamp<std::size_t>(limit, 1, 1000));
  const auto rows = tx.exec_params("SELECT " + std::string(kMemberColumns) +
                                       " FROM cch.member WHERE member_id > $1 ORDER BY member_id LIMIT $2",
                                   after ? after->value() : std::int64_t{0}, clamped);
  std::vector<Member> members;
  members.reserve(rows.size());
  for (const auto& row : rows) members.push_back(member_from(row));
  return members;
}

}  // namespace cch::registry
