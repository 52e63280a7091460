// tests/fuzz/parse_json_fuzz.cpp — JSON configuration files: parse, substitute,
// merge, build, read back (parse_common.hpp).
#include "fuzz.hpp"
#include "parse_common.hpp"

namespace shmconf::fuzz {

int parse_json(const std::uint8_t* data, std::size_t size) {
  return fuzz_parse(daemon::Format::kJson, data, size);
}

}  // namespace shmconf::fuzz

SHMCONF_FUZZ_ENTRY(shmconf::fuzz::parse_json)
