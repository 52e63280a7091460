# Project-wide warnings and sanitizers, as INTERFACE targets linked privately.
add_library(shmconf_warnings INTERFACE)
target_compile_options(shmconf_warnings INTERFACE
  -Wall -Wextra -Werror -Wshadow -Wnon-virtual-dtor -Wcast-align
  -Wno-error=deprecated-declarations)
# GCC 12 at -O3 (the Release tree) reports a false -Wrestrict inside
# libstdc++ for `"[" + std::to_string(i)` (operator+(const char*, string&&));
# fixed in GCC 13. Keep the warning, not as an error, so Release builds.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  target_compile_options(shmconf_warnings INTERFACE -Wno-error=restrict)
endif()

add_library(shmconf_sanitize INTERFACE)
if(SHMCONF_SANITIZE)
  target_compile_options(shmconf_sanitize INTERFACE
    -fsanitize=${SHMCONF_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(shmconf_sanitize INTERFACE -fsanitize=${SHMCONF_SANITIZE})
endif()
if(SHMCONF_SANITIZE MATCHES "thread")
  # GCC 12+ warns (-Wtsan) that TSan does not model atomic_thread_fence. The
  # seqlock's fences only order accesses that are themselves atomic, which
  # TSan never reports as races, so keep the warning but not as an error.
  include(CheckCXXCompilerFlag)
  check_cxx_compiler_flag(-Wtsan SHMCONF_HAVE_WTSAN)
  if(SHMCONF_HAVE_WTSAN)
    target_compile_options(shmconf_sanitize INTERFACE -Wno-error=tsan)
  endif()
endif()
