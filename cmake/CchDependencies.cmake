# Third-party dependencies, all from Debian 12 packages (deploy/local/packages.txt).

find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(OpenSSL 3 REQUIRED)
find_package(Boost 1.74 REQUIRED)
find_package(spdlog REQUIRED)
find_package(nlohmann_json 3.11 REQUIRED)
find_package(CLI11 REQUIRED)
pkg_check_modules(PQXX REQUIRED IMPORTED_TARGET libpqxx)
pkg_check_modules(TOMLPP REQUIRED IMPORTED_TARGET tomlplusplus)

# QuantLib ships neither a CMake package nor a pkg-config file on Debian 12.
find_library(QUANTLIB_LIBRARY NAMES QuantLib REQUIRED)
find_path(QUANTLIB_INCLUDE_DIR ql/version.hpp REQUIRED)
add_library(cch_quantlib INTERFACE)
target_link_libraries(cch_quantlib INTERFACE ${QUANTLIB_LIBRARY})
target_include_directories(cch_quantlib SYSTEM INTERFACE ${QUANTLIB_INCLUDE_DIR})

if(CCH_BUILD_TESTS)
  find_package(GTest REQUIRED)
  # Google Benchmark, for the in-memory benchmarks of tests/bench (libbenchmark-dev).
  find_package(benchmark REQUIRED)
endif()
