// The OpenAPI document and the server agree: the operations under `paths:` in docs/openapi.yaml
// are exactly the routes of route_table() (which the router serves, see route_matrix_test).
// The document keeps a fixed layout so that this reading stays simple: each path at two
// spaces of indentation, each method at four.
#include "cch/api/routes.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <string>

namespace cch::api {
namespace {

std::set<std::string> document_operations(const std::string& file) {
  std::ifstream in(file);
  EXPECT_TRUE(in.good()) << "cannot read " << file;
  const std::regex path_line(R"(^  (/[^\s:]*):\s*$)");
  const std::regex method_line(R"(^    (get|put|post|delete|patch|head|options):\s*$)");
  std::set<std::string> operations;
  bool in_paths = false;
  std::string path;
  std::string line;
  std::smatch match;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] != ' ' && line[0] != '#') {
      in_paths = line.rfind("paths:", 0) == 0;
      continue;
    }
    if (!in_paths) continue;
    if (std::regex_match(line, match, path_line)) {
      path = match[1];
    } else if (std::regex_match(line, match, method_line)) {
      std::string method = match[1];
      for (char& c : method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      operations.insert(method + " " + path);
    }
  }
  return operations;
}

TEST(OpenApiDocument, DescribesExactlyTheRoutesTheServerServes) {
  std::set<std::string> served;
  for (const RouteSpec& route : route_table()) served.insert(std::string(route.method) + " " + std::string(route.pattern));
  const auto documented = document_operations(CCH_OPENAPI_FILE);
  for (const auto& operation : served) EXPECT_TRUE(documented.count(operation)) << "not documented: " << operation;
  for (const auto& operation : documented) EXPECT_TRUE(served.count(operation)) << "not served: " << operation;
}

}  // namespace
}  // namespace cch::api
