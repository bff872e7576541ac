#include "cch/access/principal.hpp"

#include <array>
#include <cassert>

namespace cch::access {
namespace {

constexpr std::array<Role, 5> kRoles = {Role::member, Role::risk_officer, Role::auditor, Role::operator_,
                                        Role::venue};

}  // namespace

std::span<const Role> all_roles() { return kRoles; }

std::string_view to_string(Role role) {
  switch (role) {
    case Role::member: return "member";
    case Role::risk_officer: return "risk_officer";
    case Role::auditor: return "auditor";
    case Role::operator_: return "operator";
    case Role::venue: return "venue";
  }
  assert(false && "unknown role");
  return "unknown";
}

std::optional<Role> parse_role(std::string_view text) {
  for (const Role role : kRoles) {
    if (to_string(role) == text) return role;
  }
  return std::nullopt;
}

std::string_view to_string(Credential credential) {
  return credential == Credential::client_certificate ? "client_certificate" : "api_key";
}

bool Principal::may_access_member(MemberId owner) const {
  if (role == Role::venue) return false;  // a venue submits trades; it reads no member's objects
  if (role != Role::member) return true;
  return member.has_value() && *member == owner;
}

bool is_valid_principal_name(std::string_view text) {
  if (text.size() < 2 || text.size() > 63) return false;
  const auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(text.front())) return false;
  for (const char c : text) {
    if (!alnum(c) && c != '.' && c != '_' && c != '-') return false;
  }
  return true;
}

std::vector<std::pair<std::string, std::string>> forwarded_principal_headers(const Principal& principal) {
  std::vector<std::pair<std::string, std::string>> headers;
  headers.emplace_back(kPrincipalIdHeader, principal.id.to_string());
  headers.emplace_back(kPrincipalNameHeader, principal.name);
  headers.emplace_back(kPrincipalRoleHeader, std::string(to_string(principal.role)));
  headers.emplace_back(kPrincipalMemberHeader, principal.member ? principal.member->to_string() : std::string("-"));
  headers.emplace_back(kPrincipalCredentialHeader, std::string(to_string(principal.credential)));
  return headers;
}

std::string_view to_string(ForwardedPrincipalError error) {
  switch (error) {
    case ForwardedPrincipalError::missing_header: return "missing_principal_header";
    case ForwardedPrincipalError::malformed_header: return "malformed_principal_header";
    case ForwardedPrincipalError::inconsistent_member: return "inconsistent_principal_member";
  }
  return "unknown";
}

Result<Principal, ForwardedPrincipalError> parse_forwarded_principal_values(
    std::optional<std::string_view> id, std::optional<std::string_view> name, std::optional<std::string_view> role,
    std::optional<std::string_view> member, std::optional<std::string_view> credential) {
  if (!id || !name || !role || !member || !credential) return fail(ForwardedPrincipalError::missing_header);
  const auto parsed_id = PrincipalId::parse(*id);
  const auto parsed_role = parse_role(*role);
  if (!parsed_id || !parsed_role || !is_valid_principal_name(*name)) {
    return fail(ForwardedPrincipalError::malformed_header);
  }
  Credential parsed_credential{};
  if (*credential == "client_certificate") {
    parsed_credential = Credential::client_certificate;
  } else if (*credential == "api_key") {
    parsed_credential = Credential::api_key;
  } else {
    return fail(ForwardedPrincipalError::malformed_header);
  }
  std::optional<MemberId> parsed_member;
  if (*member != "-") {
    const auto value = MemberId::parse(*member);
    if (!value) return fail(ForwardedPrincipalError::malformed_header);
    parsed_member = *value;
  }
  if ((*parsed_role == Role::member) != parsed_member.has_value()) {
    return fail(ForwardedPrincipalError::inconsistent_member);
  }
  return Principal{*parsed_id, std::string(*name), *parsed_role, parsed_member, parsed_credential};
}

}  // namespace cch::access
