// tests/fuzz/fuzz.hpp — the harnesses' entry points.
//
// Each *_fuzz.cpp defines one function shmconf::fuzz::NAME(data, size) that
// feeds `size` untrusted bytes to one input path of shmconf and checks what
// must hold whatever the bytes are. The fuzz tree (SHMCONF_FUZZ=ON) compiles
// each file into its own libFuzzer binary with SHMCONF_FUZZ_MAIN defined, so
// SHMCONF_FUZZ_ENTRY becomes LLVMFuzzerTestOneInput; the normal trees
// compile them all into fuzz_regression_tests, which replays the seeds and
// the saved crash inputs (regression_test.cpp). docs/FUZZING.md says more.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace shmconf::fuzz {

int segment(const std::uint8_t* data, std::size_t size);
int segment_mutate(const std::uint8_t* data, std::size_t size);
int parse_json(const std::uint8_t* data, std::size_t size);
int parse_yaml(const std::uint8_t* data, std::size_t size);
int parse_toml(const std::uint8_t* data, std::size_t size);
int daemon_config(const std::uint8_t* data, std::size_t size);
int control_request(const std::uint8_t* data, std::size_t size);
int schema(const std::uint8_t* data, std::size_t size);

// A property that must hold for every input: abort() makes libFuzzer save
// the input as a crash and makes the regression test fail.
#define SHMCONF_FUZZ_CHECK(cond)                                                         \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)

}  // namespace shmconf::fuzz

#ifdef SHMCONF_FUZZ_MAIN
#define SHMCONF_FUZZ_ENTRY(fn)                                                        \
  extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) { \
    return fn(data, size);                                                            \
  }
#else
#define SHMCONF_FUZZ_ENTRY(fn)
#endif
