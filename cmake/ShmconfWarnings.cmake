# Project-wide warnings and sanitizers, as INTERFACE targets linked privately.
add_library(shmconf_warnings INTERFACE)
target_compile_options(shmconf_warnings INTERFACE
  -Wall -Wextra -Werror -Wshadow -Wnon-virtual-dtor -Wcast-align
  -Wno-error=deprecated-declarations)

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
