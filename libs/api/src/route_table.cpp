// The one table of public routes and the roles allowed on each (routes.hpp).
#include "cch/api/routes.hpp"

#include <array>

namespace cch::api {
namespace {

using access::Role;
using access::RoleSet;

constexpr RoleSet kEveryone{Role::member, Role::risk_officer, Role::auditor, Role::operator_};
constexpr RoleSet kAnyPrincipal{Role::member, Role::risk_officer, Role::auditor, Role::operator_, Role::venue};
constexpr RoleSet kStaffReaders{Role::risk_officer, Role::auditor, Role::operator_};
constexpr RoleSet kOperator{Role::operator_};
constexpr RoleSet kAuditor{Role::auditor};
constexpr RoleSet kMember{Role::member};
constexpr RoleSet kRiskOfficer{Role::risk_officer};
// Trades, positions and limits: the member itself, risk officers and operators (auditors read the
// ledger and the audit logs only).
constexpr RoleSet kTradingReaders{Role::member, Role::risk_officer, Role::operator_};
// A member's own arrangements (which venues may register its trades): the member, or an operator
// on its behalf.
constexpr RoleSet kMemberOrOperator{Role::member, Role::operator_};
// Curves, marks, margin models and margin runs are built by operators and risk officers.
constexpr RoleSet kRiskOrOperator{Role::risk_officer, Role::operator_};

// The one table of public routes. Order: as the OpenAPI document lists them.
constexpr std::array kRoutes = {
    RouteSpec{"GET", "/healthz", {}, Ownership::none, Executor::observability, 200, "Liveness (no credentials)"},
    RouteSpec{"GET", "/readyz", {}, Ownership::none, Executor::observability, 200, "Readiness (no credentials)"},
    RouteSpec{"GET", "/metrics", kOperator, Ownership::none, Executor::observability, 200, "Prometheus metrics"},
    RouteSpec{"GET", "/v1/me", kAnyPrincipal, Ownership::none, Executor::read, 200, "The calling principal"},
    RouteSpec{"GET", "/v1/members", kStaffReaders, Ownership::none, Executor::read, 200, "List members"},
    RouteSpec{"POST", "/v1/members", kOperator, Ownership::none, Executor::registry, 201, "Register a member"},
    RouteSpec{"GET", "/v1/members/{member_id}", kEveryone, Ownership::member, Executor::read, 200, "One member"},
    RouteSpec{"GET", "/v1/members/{member_id}/accounts", kEveryone, Ownership::member, Executor::read, 200,
              "A member's accounts and balances"},
    RouteSpec{"GET", "/v1/members/{member_id}/collateral", kEveryone, Ownership::member, Executor::read, 200,
              "Collateral held, requested for withdrawal, available"},
    RouteSpec{"POST", "/v1/members/{member_id}/collateral-deposits", kOperator, Ownership::member,
              Executor::settlement, 201, "Record a collateral payment received"},
    RouteSpec{"GET", "/v1/members/{member_id}/collateral-withdrawals", kEveryone, Ownership::member, Executor::read,
              200, "A member's withdrawal requests"},
    RouteSpec{"POST", "/v1/members/{member_id}/collateral-withdrawals", kMember, Ownership::member,
              Executor::settlement, 201, "Request collateral back"},
    RouteSpec{"GET", "/v1/collateral-withdrawals/{withdrawal_id}", kEveryone, Ownership::withdrawal, Executor::read,
              200, "One withdrawal request"},
    RouteSpec{"POST", "/v1/collateral-withdrawals/{withdrawal_id}/approve", kOperator, Ownership::withdrawal,
              Executor::settlement, 200, "Approve and pay a withdrawal"},
    RouteSpec{"POST", "/v1/collateral-withdrawals/{withdrawal_id}/reject", kOperator, Ownership::withdrawal,
              Executor::settlement, 200, "Reject a withdrawal"},
    RouteSpec{"POST", "/v1/collateral-withdrawals/{withdrawal_id}/cancel", kMember, Ownership::withdrawal,
              Executor::settlement, 200, "Cancel one's own withdrawal request"},
    RouteSpec{"GET", "/v1/accounts/{account_id}", kEveryone, Ownership::account, Executor::read, 200,
              "An account and its balance"},
    RouteSpec{"GET", "/v1/accounts/{account_id}/history", RoleSet{Role::member, Role::auditor, Role::operator_},
              Ownership::account, Executor::read, 200, "An account's postings, newest first"},
    RouteSpec{"GET", "/v1/journals/{journal_id}", RoleSet{Role::member, Role::auditor}, Ownership::journal,
              Executor::read, 200, "One journal"},
    RouteSpec{"GET", "/v1/ledger/trial-balance", kAuditor, Ownership::none, Executor::read, 200, "Trial balance"},
    RouteSpec{"GET", "/v1/ledger/verification", kAuditor, Ownership::none, Executor::read, 200,
              "Verify the hash chains"},
    RouteSpec{"GET", "/v1/audit/requests", kAuditor, Ownership::none, Executor::read, 200, "The request audit log"},
    RouteSpec{"GET", "/v1/products", kEveryone, Ownership::none, Executor::read, 200, "List products"},
    RouteSpec{"POST", "/v1/products", kOperator, Ownership::none, Executor::registry, 201, "Create a product"},
    RouteSpec{"GET", "/v1/products/{product_id}", kEveryone, Ownership::none, Executor::read, 200, "One product"},
    RouteSpec{"POST", "/v1/products/{product_id}/trading-status", kOperator, Ownership::none, Executor::registry, 200,
              "Halt, delist or resume a product"},
    RouteSpec{"GET", "/v1/products/{product_id}/series", kEveryone, Ownership::none, Executor::read, 200,
              "The futures series listed today"},
    RouteSpec{"GET", "/v1/products/{product_id}/settlement-prices", kEveryone, Ownership::none, Executor::read, 200,
              "A product's settlement prices (the latest, or of a business date and version)"},
    RouteSpec{"GET", "/v1/market/snapshots", kEveryone, Ownership::none, Executor::read, 200,
              "Market data snapshots, every version, newest first"},
    RouteSpec{"POST", "/v1/market/ois-quotes", kOperator, Ownership::none, Executor::risk, 201,
              "Enter a business date's SOFR OIS quotes"},
    RouteSpec{"GET", "/v1/market/ois-quotes/{business_date}", kEveryone, Ownership::none, Executor::read, 200,
              "A business date's SOFR OIS quotes"},
    RouteSpec{"POST", "/v1/market/settlement-prices", kOperator, Ownership::none, Executor::risk, 201,
              "Enter a product's settlement prices of a business date"},
    RouteSpec{"POST", "/v1/market/index-fixings", kOperator, Ownership::none, Executor::risk, 201,
              "Enter an index's fixing of a date"},
    RouteSpec{"GET", "/v1/market/index-fixings/{index}", kEveryone, Ownership::none, Executor::read, 200,
              "An index's fixings over a range of dates"},
    RouteSpec{"GET", "/v1/curve-sets", kEveryone, Ownership::none, Executor::read, 200,
              "Curve sets, newest first"},
    RouteSpec{"POST", "/v1/curve-sets", kRiskOrOperator, Ownership::none, Executor::risk, 201,
              "Build a business date's curve set"},
    RouteSpec{"GET", "/v1/curve-sets/{curve_set_id}", kEveryone, Ownership::none, Executor::read, 200,
              "A curve set: its inputs, hash and discount curve"},
    RouteSpec{"GET", "/v1/curve-sets/{curve_set_id}/forward-curves/{product_id}", kEveryone, Ownership::none,
              Executor::read, 200, "A product's daily forward curve"},
    RouteSpec{"GET", "/v1/curve-sets/{curve_set_id}/verification", kStaffReaders, Ownership::none, Executor::read, 200,
              "Rebuild a curve set from its recorded inputs and compare"},
    RouteSpec{"POST", "/v1/curve-sets/{curve_set_id}/mark-run", kRiskOrOperator, Ownership::none, Executor::risk, 201,
              "Mark every open leg against a curve set"},
    RouteSpec{"GET", "/v1/curve-sets/{curve_set_id}/mark-run", kStaffReaders, Ownership::none, Executor::read, 200,
              "A curve set's mark run"},
    RouteSpec{"GET", "/v1/members/{member_id}/marks", kTradingReaders, Ownership::member, Executor::read, 200,
              "A member's marks per product"},
    RouteSpec{"GET", "/v1/margin/parameters", kEveryone, Ownership::none, Executor::read, 200,
              "Margin parameter versions, newest first"},
    RouteSpec{"POST", "/v1/margin/parameters", kRiskOfficer, Ownership::none, Executor::risk, 201,
              "Store a version of the margin parameters"},
    RouteSpec{"GET", "/v1/margin/parameters/{version}", kEveryone, Ownership::none, Executor::read, 200,
              "One version of the margin parameters"},
    RouteSpec{"GET", "/v1/margin/models", kEveryone, Ownership::none, Executor::read, 200,
              "Margin models, newest first"},
    RouteSpec{"POST", "/v1/margin/models", kRiskOrOperator, Ownership::none, Executor::risk, 201,
              "Build a business date's margin model"},
    RouteSpec{"GET", "/v1/margin/models/{model_id}", kEveryone, Ownership::none, Executor::read, 200,
              "A margin model: its inputs, products, classes and hash"},
    RouteSpec{"GET", "/v1/margin/models/{model_id}/scenarios", kEveryone, Ownership::none, Executor::read, 200,
              "A margin class's scenario moves, a page of factors (JSON or CSV)"},
    RouteSpec{"GET", "/v1/margin/models/{model_id}/verification", kStaffReaders, Ownership::none, Executor::read,
              200, "Rebuild a margin model from its recorded inputs and compare"},
    RouteSpec{"GET", "/v1/margin/runs", kStaffReaders, Ownership::none, Executor::read, 200,
              "Margin runs, newest first"},
    RouteSpec{"POST", "/v1/margin/runs", kRiskOrOperator, Ownership::none, Executor::risk, 201,
              "Run members' initial margin against a model"},
    RouteSpec{"GET", "/v1/margin/runs/{run_id}", kStaffReaders, Ownership::none, Executor::read, 200,
              "A margin run"},
    RouteSpec{"GET", "/v1/margin/runs/{run_id}/members", kStaffReaders, Ownership::none, Executor::read, 200,
              "Every member's figures in a margin run (JSON or CSV)"},
    RouteSpec{"GET", "/v1/margin/runs/{run_id}/verification", kStaffReaders, Ownership::none, Executor::read, 200,
              "Recompute a margin run's figures and positions and compare"},
    RouteSpec{"GET", "/v1/members/{member_id}/margin", kEveryone, Ownership::member, Executor::read, 200,
              "A member's initial margin: every component and factor line (JSON or CSV)"},
    RouteSpec{"GET", "/v1/members/{member_id}/margin/history", kEveryone, Ownership::member, Executor::read, 200,
              "A member's initial margin per run, newest first"},
    RouteSpec{"POST", "/v1/members/{member_id}/product-authorisations", kOperator, Ownership::member,
              Executor::registry, 201, "Authorise a member to clear a product"},
    RouteSpec{"GET", "/v1/members/{member_id}/limits", kTradingReaders, Ownership::member, Executor::read, 200,
              "A member's credit and position limits and credit used"},
    RouteSpec{"POST", "/v1/members/{member_id}/credit-limit", kRiskOfficer, Ownership::member, Executor::registry,
              200, "Set a member's credit limit"},
    RouteSpec{"POST", "/v1/members/{member_id}/position-limits", kRiskOfficer, Ownership::member, Executor::registry,
              200, "Set a member's position limit for a product"},
    RouteSpec{"GET", "/v1/members/{member_id}/positions", kTradingReaders, Ownership::member, Executor::read, 200,
              "A member's net positions per product and delivery month"},
    RouteSpec{"GET", "/v1/members/{member_id}/venue-authorisations", kTradingReaders, Ownership::member,
              Executor::read, 200, "The venues a member has authorised"},
    RouteSpec{"POST", "/v1/members/{member_id}/venue-authorisations", kMemberOrOperator, Ownership::member,
              Executor::registry, 201, "Authorise a venue to register the member's trades"},
    RouteSpec{"POST", "/v1/members/{member_id}/venue-authorisations/{venue_principal_id}/revoke", kMemberOrOperator,
              Ownership::member, Executor::registry, 200, "Revoke a venue's authorisation"},
    RouteSpec{"GET", "/v1/trades", kTradingReaders, Ownership::none, Executor::read, 200, "List trades"},
    RouteSpec{"POST", "/v1/trades", kMember, Ownership::none, Executor::registry, 201, "Submit a trade"},
    RouteSpec{"GET", "/v1/trades/{trade_id}", kTradingReaders, Ownership::trade, Executor::read, 200,
              "One trade and its history"},
    RouteSpec{"POST", "/v1/trades/{trade_id}/affirm", kMember, Ownership::trade, Executor::registry, 200,
              "Affirm a trade: checks, then clearing"},
    RouteSpec{"POST", "/v1/trades/{trade_id}/reject", kMember, Ownership::trade, Executor::registry, 200,
              "Reject a trade submitted by the other side"},
    RouteSpec{"POST", "/v1/trades/{trade_id}/cancel", kMember, Ownership::trade, Executor::registry, 200,
              "Cancel a pending trade"},
    RouteSpec{"POST", "/v1/venue-batches", RoleSet{Role::venue}, Ownership::none, Executor::registry, 200,
              "Register a venue's batch of trades"},
    RouteSpec{"GET", "/v1/principals", RoleSet{Role::operator_, Role::auditor}, Ownership::none, Executor::read, 200,
              "List principals"},
    RouteSpec{"POST", "/v1/principals", kOperator, Ownership::none, Executor::api_command, 201, "Create a principal"},
    RouteSpec{"POST", "/v1/principals/{principal_id}/api-keys", kOperator, Ownership::none, Executor::api_command, 201,
              "Issue an API key (shown once)"},
    RouteSpec{"POST", "/v1/api-keys/{key_id}/revoke", kOperator, Ownership::none, Executor::api_command, 200,
              "Revoke an API key"},
    RouteSpec{"POST", "/v1/principals/{principal_id}/certificates", kOperator, Ownership::none, Executor::api_command,
              201, "Register a client certificate"},
    RouteSpec{"POST", "/v1/certificates/{fingerprint}/revoke", kOperator, Ownership::none, Executor::api_command, 200,
              "Revoke a client certificate"},
};

}  // namespace

std::span<const RouteSpec> route_table() { return kRoutes; }

}  // namespace cch::api
