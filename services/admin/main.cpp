// cch-admin: the operators' command-line tool (migrate, status, config). Logic: libs/admin.
#include "cch/admin/admin.hpp"

int main(int argc, char** argv) { return cch::admin::run_admin(argc, argv); }
