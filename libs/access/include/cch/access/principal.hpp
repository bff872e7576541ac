#pragma once
// Principals: who is calling. A principal has one role; a member principal belongs to exactly
// one clearing member and acts only on that member's objects.
//
//   member        a clearing member's system (or a venue acting for it)
//   risk_officer  reads all margin and limits; sets limits
//   auditor       reads the ledger and the audit logs; changes nothing
//   operator      manages members, credentials, collateral movements, products, settlement runs
//
// The api service authenticates a request, then forwards commands to the owning service with the
// principal in four headers (forwarded_principal_headers). An internal service trusts those
// headers only because it cannot be reached except through the api (docs/architecture.md,
// "Internal services"); parse_forwarded_principal checks they are complete and well formed.
//
// Thread safety: plain values and pure functions.

#include "cch/core/ids.hpp"
#include "cch/core/result.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cch::access {

// venue: a trading venue (auction, broker) that registers batches of trades its members agreed.
enum class Role : std::uint8_t { member, risk_officer, auditor, operator_, venue };
std::span<const Role> all_roles();
std::string_view to_string(Role role);
std::optional<Role> parse_role(std::string_view text);

// A set of roles as a bit mask, for route tables.
class RoleSet {
 public:
  constexpr RoleSet() = default;
  constexpr RoleSet(std::initializer_list<Role> roles) {
    for (const Role role : roles) bits_ |= bit(role);
  }
  [[nodiscard]] constexpr bool contains(Role role) const { return (bits_ & bit(role)) != 0; }
  [[nodiscard]] constexpr bool empty() const { return bits_ == 0; }
  friend constexpr bool operator==(RoleSet, RoleSet) = default;

 private:
  static constexpr std::uint8_t bit(Role role) { return static_cast<std::uint8_t>(1U << static_cast<unsigned>(role)); }
  std::uint8_t bits_ = 0;
};

// How the principal proved who it is.
enum class Credential : std::uint8_t { client_certificate, api_key };
std::string_view to_string(Credential credential);

struct PrincipalIdTag;
using PrincipalId = Id<PrincipalIdTag>;

struct Principal {
  PrincipalId id;
  std::string name;  // unique, [a-z0-9][a-z0-9._-]{1,62}
  Role role = Role::auditor;
  std::optional<MemberId> member;  // set exactly when role is member
  Credential credential = Credential::client_certificate;

  // True when this principal may act on objects of `owner`: staff on every member's, a member
  // principal on its own member's only.
  [[nodiscard]] bool may_access_member(MemberId owner) const;
};

// Whether text is a valid principal name.
bool is_valid_principal_name(std::string_view text);

// Header names of a forwarded principal.
inline constexpr std::string_view kPrincipalIdHeader = "X-Cch-Principal-Id";
inline constexpr std::string_view kPrincipalNameHeader = "X-Cch-Principal";
inline constexpr std::string_view kPrincipalRoleHeader = "X-Cch-Role";
inline constexpr std::string_view kPrincipalMemberHeader = "X-Cch-Member-Id";
inline constexpr std::string_view kPrincipalCredentialHeader = "X-Cch-Credential";

std::vector<std::pair<std::string, std::string>> forwarded_principal_headers(const Principal& principal);

enum class ForwardedPrincipalError { missing_header, malformed_header, inconsistent_member };
std::string_view to_string(ForwardedPrincipalError error);

// Reads the headers back; `header(name)` answers the first header with that name, if any.
template <class HeaderLookup>
Result<Principal, ForwardedPrincipalError> parse_forwarded_principal(const HeaderLookup& header);

Result<Principal, ForwardedPrincipalError> parse_forwarded_principal_values(
    std::optional<std::string_view> id, std::optional<std::string_view> name, std::optional<std::string_view> role,
    std::optional<std::string_view> member, std::optional<std::string_view> credential);

template <class HeaderLookup>
Result<Principal, ForwardedPrincipalError> parse_forwarded_principal(const HeaderLookup& header) {
  return parse_forwarded_principal_values(header(kPrincipalIdHeader), header(kPrincipalNameHeader),
                                          header(kPrincipalRoleHeader), header(kPrincipalMemberHeader),
                                          header(kPrincipalCredentialHeader));
}

}  // namespace cch::access
