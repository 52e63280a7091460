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
//   ${sealed:ID:BASE64}    a sealed secret opened with the namespace's sealing
//                          key ID (sources/sealed.hpp, through `unseal`)
//   $${                    a literal "${"
// Expansion is one pass: text a reference produces is never expanded again.
// An unset variable without a default, an unreadable or oversized file or
// credential, an invalid name and an unterminated "${" are ConfigErrors.
// Error messages quote the reference, never what it resolved to (a sealed
// reference is quoted shortened: its ciphertext can be long).
//
// Thread-safety: none needed; a context is read-only during expansion.
// Cost: one scan of every string; strings without '$' are not copied.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <set>
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
  // Opens ${sealed:ID:BASE64}: the plaintext, or std::runtime_error with a
  // message that quotes no secret. Unset = no sealing keys configured, and
  // every sealed reference is an error. Set by sealed::with_sealing_keys().
  std::function<std::string(std::string_view id, std::string_view base64)> unseal;

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

// True when `text` holds a ${sealed:...} reference (not "$${sealed:").
bool has_sealed_reference(std::string_view text);

// A sealing key id: [A-Za-z0-9_.-]{1,64}.
bool valid_sealing_key_id(std::string_view id);

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

// Key paths of the strings of `templates` (a tree as written) that hold a
// ${sealed:...} reference: values that are sensitive whatever their name.
std::set<std::string> sealed_paths(const Value& templates);

}  // namespace shmconf::daemon
