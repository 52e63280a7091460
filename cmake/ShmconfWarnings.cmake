# Project-wide warnings and sanitizers, as INTERFACE targets linked privately.
#
# SHMCONF_WERROR makes every warning an error. It is a developer option:
# scripts/build (and so CI) turns it on; a plain configure, a packager's or a
# distribution's build with another compiler leaves it off, so a new warning
# in a newer compiler never breaks someone else's build.
option(SHMCONF_WERROR "Treat compiler warnings as errors (developer and CI builds)" OFF)

add_library(shmconf_warnings INTERFACE)
target_compile_options(shmconf_warnings INTERFACE
  -Wall -Wextra -Wshadow $<$<COMPILE_LANGUAGE:CXX>:-Wnon-virtual-dtor> -Wcast-align)
if(SHMCONF_WERROR)
  target_compile_options(shmconf_warnings INTERFACE
    -Werror -Wno-error=deprecated-declarations)
endif()
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 12)
  # GCC 12 and later raise a false -Wrestrict (an overlapping memcpy of
  # 2^63 bytes) inside libstdc++'s std::string concatenation once it is
  # inlined at -O3, i.e. in every Release build:
  # https://gcc.gnu.org/bugzilla/show_bug.cgi?id=105329. What the warning
  # would catch in our own code, an overlapping memcpy, AddressSanitizer
  # reports at run time in the sanitizer tree (memcpy-param-overlap).
  target_compile_options(shmconf_warnings INTERFACE -Wno-restrict)
  # The same inlining of std::string's operator+ also raises a false
  # -Warray-bounds ("forming offset [32, 46] is out of the bounds [0, 32]",
  # https://gcc.gnu.org/bugzilla/show_bug.cgi?id=105651) and, at -O3 with
  # precompiled headers, a false -Wstringop-overflow (a memcpy "bound between
  # 2^63 and 2^64") depending on what else the translation unit holds. They
  # stay warnings; ASan catches real out-of-bounds accesses at run time.
  if(SHMCONF_WERROR)
    target_compile_options(shmconf_warnings INTERFACE -Wno-error=array-bounds
      -Wno-error=stringop-overflow)
  endif()
endif()

add_library(shmconf_sanitize INTERFACE)
if(SHMCONF_SANITIZE)
  target_compile_options(shmconf_sanitize INTERFACE
    -fsanitize=${SHMCONF_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(shmconf_sanitize INTERFACE -fsanitize=${SHMCONF_SANITIZE})
endif()
if(SHMCONF_SANITIZE MATCHES "undefined")
  # The vptr check reads the object through a pipe() to learn whether it is
  # mapped; with every descriptor in use (the EMFILE fault tests) that fails
  # and it reports a valid object as "invalid vptr". Recoverable, it still
  # halts under the suite's UBSAN_OPTIONS (halt_on_error=1); only those tests'
  # daemons run with halt_on_error=0, where nothing else is recoverable.
  target_compile_options(shmconf_sanitize INTERFACE -fsanitize-recover=vptr)
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
