// daemon/src/sources/substitute.hpp — ${...} references in string values,
// expanded per source layer after parsing and before merging, so an error
// names the file:line:col and key path of the string that holds it.
//
// Forms (docs/SOURCES.md):
//   ${VAR}                 the daemon's environment variable VAR
//   ${VAR:-default}        VAR, or `default` when VAR is unset or empty
//   ${VAR:default}         the same (both spellings are accepted)
//   ${file:/abs/path}      the file's content, one trailing newline stripped
//   ${credential:NAME}     $CREDENTIALS_DIRECTORY/NAME (systemd LoadCredential=)
//   $${                    a literal "${"
// Expansion is one pass: text a reference produces is never expanded again.
// An unset variable without a default, an unreadable or oversized file or
// credential, an invalid name and an unterminated "${" are ConfigErrors.
// Error messages quote the reference, never what it resolved to.
//
// Thread-safety: none needed; a context is read-only during expansion.
// Cost: one scan of every string; strings without '$' are not copied.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tree/value.hpp"

namespace shmconf::daemon {

struct SubstitutionContext {
  // Looks a variable up; nullopt when unset. Defaults to ::getenv at the
  // moment of expansion (the daemon's own environment).
  std::function<std::optional<std::string>(const std::string&)> getenv;
  // Directory of ${credential:NAME}; nullopt = $CREDENTIALS_DIRECTORY.
  std::optional<std::string> credentials_dir;
  std::size_t max_file_size = 1u << 20;  // ${file:} and ${credential:} contents, bytes

  // The context of the daemon's own process environment.
  static SubstitutionContext from_process();
};

// Where the string being expanded lives, for error messages.
struct SubstitutionSite {
  std::string file;  // as ConfigError names it ("/etc/app/base.yaml")
  std::uint32_t line = 0;
  std::uint32_t column = 0;
  std::string key_path;
};

// True when `text` holds "${" or "$${", i.e. expand() may change it.
bool has_reference(std::string_view text);

// Expands every reference in `text`. Throws ConfigError at `site`.
std::string expand(std::string_view text, const SubstitutionContext& ctx,
                   const SubstitutionSite& site);

// Expands every string value of `tree` (one parsed layer named `file`) in
// place. Returns the number of strings that held a reference.
std::size_t substitute_tree(Value& tree, const std::string& file, const SubstitutionContext& ctx);

// Key paths ("db.password", "servers[1].token") at which the two trees,
// identical in shape, hold different strings: where `resolved` holds the
// expansion of what `templates` holds. Sorted.
std::vector<std::string> substituted_paths(const Value& resolved, const Value& templates);

}  // namespace shmconf::daemon
