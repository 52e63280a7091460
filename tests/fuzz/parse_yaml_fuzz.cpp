// tests/fuzz/parse_yaml_fuzz.cpp — YAML configuration files: parse, substitute,
// merge, build, read back (parse_common.hpp).
#include "fuzz.hpp"
#include "parse_common.hpp"

namespace shmconf::fuzz {

int parse_yaml(const std::uint8_t* data, std::size_t size) {
  return fuzz_parse(daemon::Format::kYaml, data, size);
}

}  // namespace shmconf::fuzz

SHMCONF_FUZZ_ENTRY(shmconf::fuzz::parse_yaml)
