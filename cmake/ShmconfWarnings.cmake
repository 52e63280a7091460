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
