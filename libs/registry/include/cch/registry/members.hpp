#pragma once
// Clearing members: registration and lookup. The registry service owns member records; the api
// forwards operators' commands here and reads members straight from PostgreSQL.
//
// A member is registered once by its code (2-63 of a-z, 0-9, '-', starting with a letter or
// digit) with its legal name (1-200 bytes). Registering the same code with the same legal name
// again answers the existing member (created = false): a retried command is harmless. The same
// code with another legal name is refused (code_taken).
//
// Thread safety: functions take the caller's transaction.

#include "cch/core/ids.hpp"
#include "cch/core/result.hpp"
#include "cch/core/time.hpp"

#include <pqxx/transaction_base>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cch::registry {

struct Member {
  MemberId member_id;
  std::string code;
  std::string legal_name;
  std::string status;  // active, suspended, closed
  UtcTimestamp created_at;
};

enum class MemberRefusal { invalid_code, invalid_legal_name, code_taken };
std::string_view to_string(MemberRefusal refusal);

bool is_valid_member_code(std::string_view code);
inline constexpr std::size_t kLegalNameLengthMax = 200;

struct Registered {
  Member member;
  bool created = false;
};

Result<Registered, MemberRefusal> register_member(pqxx::transaction_base& tx, std::string_view code,
                                                  std::string_view legal_name);

std::optional<Member> find_member(pqxx::transaction_base& tx, MemberId member);
std::optional<Member> find_member_by_code(pqxx::transaction_base& tx, std::string_view code);

// Members in id order, strictly after `after`, at most `limit` (clamped to 1..1000).
std::vector<Member> list_members(pqxx::transaction_base& tx, std::optional<MemberId> after, std::size_t limit);

}  // namespace cch::registry
