// cch-api: the public REST API: HTTPS with client certificates or API keys, every route members,
// risk officers, auditors and operators use. All logic lives in libs/api.
#include "cch/api/routes.hpp"
#include "cch/runtime/service.hpp"


int main(int argc, char** argv) {
  return cch::runtime::run_service(
      argc, argv, {.name = "api", .add_routes = [](cch::http::Router& router, cch::runtime::ServiceContext& context) {
                     context.routes_state = cch::api::add_api_routes(
                         router, context, cch::api::api_options_from(context.config),
                         cch::api::http_forward(context.config));
                   }});
}
