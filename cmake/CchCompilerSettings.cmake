# Compiler settings shared by every target: high warnings, optional -Werror and sanitizers,
# and ccache when the machine has it.

find_program(CCH_CCACHE ccache)
if(CCH_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${CCH_CCACHE})
endif()

add_library(cch_warnings INTERFACE)
target_compile_options(cch_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion -Wshadow -Wnon-virtual-dtor
  -Wold-style-cast -Wcast-align -Wunused -Woverloaded-virtual
  -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough -Wmissing-declarations)
if(CCH_WERROR)
  target_compile_options(cch_warnings INTERFACE -Werror)
endif()

if(CCH_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
