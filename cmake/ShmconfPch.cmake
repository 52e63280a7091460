# Precompiled headers for the heavy third-party headers most translation
# units include (nlohmann/json, spdlog, GoogleTest): a third of the compile
# time of a test file is parsing them. Off with -DSHMCONF_PCH=OFF (e.g. for
# a compiler cache that does not handle precompiled headers).
#
# Only headers whose meaning does not depend on a macro a source file sets
# before including them: xxhash.h (XXH_INLINE_ALL) and valijson
# (VALIJSON_USE_EXCEPTIONS) stay out.
option(SHMCONF_PCH "Precompile the heavy third-party headers" ON)

set(SHMCONF_PCH_COMMON <algorithm> <chrono> <cstdint> <functional> <map> <memory> <optional>
                       <string> <string_view> <vector> <nlohmann/json.hpp>)

# shmconf_pch(TARGET input|daemon|test): input = no spdlog (the fuzz
# harnesses' libraries); daemon adds spdlog; test adds GoogleTest too. The
# fuzz tree (clang) builds without.
function(shmconf_pch target kind)
  if(NOT SHMCONF_PCH OR SHMCONF_FUZZ)
    return()
  endif()
  set(headers ${SHMCONF_PCH_COMMON})
  if(NOT kind STREQUAL "input")
    list(APPEND headers <spdlog/spdlog.h>)
  endif()
  if(kind STREQUAL "test")
    list(APPEND headers <gtest/gtest.h>)
  endif()
  target_precompile_headers(${target} PRIVATE ${headers})
endfunction()
