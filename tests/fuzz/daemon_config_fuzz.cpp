// tests/fuzz/daemon_config_fuzz.cpp — the daemon configuration file
// (shmconfd.yaml, config/daemon_config.hpp): anything but a ConfigError is a
// finding, since shmconfd must refuse a bad file with file:line:col.
#include <string>
#include <string_view>

#include "config/daemon_config.hpp"
#include "fuzz.hpp"
#include "tree/value.hpp"

namespace shmconf::fuzz {

int daemon_config(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const daemon::DaemonConfig c =
        daemon::parse_daemon_config(text, "/nonexistent-shmconf-fuzz/shmconfd.yaml");
    SHMCONF_FUZZ_CHECK(!c.namespaces.empty());
  } catch (const daemon::ConfigError& e) {
    SHMCONF_FUZZ_CHECK(e.what()[0] != '\0');
  }
  return 0;
}

}  // namespace shmconf::fuzz

SHMCONF_FUZZ_ENTRY(shmconf::fuzz::daemon_config)
