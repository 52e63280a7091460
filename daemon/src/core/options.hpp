// daemon/src/core/options.hpp — what one namespace is made of: its sources in
// priority order, how they are validated, where its versions persist, and
// who may read its shared-memory objects. Filled from the command line or
// from the daemon configuration file (config/daemon_config.hpp).
//
// Thread-safety: plain data.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "parse/parse.hpp"
#include "publish/shm.hpp"
#include "sources/etcd/spec.hpp"

namespace shmconf::daemon {

// One layer of configuration. Layers merge in list order: a later layer
// wins; mappings deep-merge, arrays and scalars replace, null deletes.
struct SourceSpec {
  enum class Kind {
    kFile,          // path: one .yaml/.yml/.json/.toml file
    kDirectory,     // path: *.yaml, *.yml, *.json, *.toml inside, in lexical order
    kEnvironments,  // path: a directory holding <environment>.yaml files;
                    // applies the namespace's environment chain, base-most first
    kEnvVars,       // prefix: PREFIX_A__B=x sets a.b (JSON scalar when it parses)
    kEtcd,          // etcd: a document key or a tree of keys (sources/etcd/spec.hpp)
  };
  Kind kind = Kind::kFile;
  std::string path;       // absolute (kFile, kDirectory, kEnvironments)
  std::string prefix;     // kEnvVars, e.g. "APP_"
  bool optional = false;  // a missing file, directory or etcd document key is an empty layer
  EtcdSpec etcd;          // kEtcd
};

// What a plaintext secret (a sensitive key holding a literal, not a
// ${...} reference) does to a reload.
enum class SecretPolicy { kError, kWarn, kAllow };

// Data-safety checks against a bad push, evaluated against the live version.
struct Guards {
  std::size_t min_keys = 0;                   // leaf keys; 0 = no minimum
  std::optional<double> max_changed_percent;  // of the live version's leaf keys
  // Most of the live version's leaf keys one reload may remove, in percent; on by default
  // because a truncated or half-written file shows up as keys gone. 100 = off.
  double max_deleted_percent = 50;
  bool allow_empty = false;  // an empty root mapping is refused unless set
};

struct ServiceOptions {
  std::string name;                 // namespace
  std::string prefix;               // shm object prefix (resolved)
  std::vector<SourceSpec> sources;  // priority order (later wins)
  // Environment overlays (SourceSpec::Kind::kEnvironments): the namespace's
  // environment and each environment's parent ("production" -> "staging").
  // The chain of "production" with {production: staging} is staging, then
  // production; an environment without a parent entry ends the chain.
  std::string environment;
  std::map<std::string, std::string> environment_parents;
  std::string schema;  // JSON Schema (draft 7) file; "" = none
  SecretPolicy plaintext_secrets = SecretPolicy::kError;
  // Private keys that open ${sealed:ID:...} values (docs/SECRETS.md): key id
  // -> a reference to the key file's text (${credential:NAME}, ${file:/path},
  // ${VAR}), expanded at each reload that needs it. Several ids at once
  // during a key rotation.
  std::map<std::string, std::string> sealing_keys;
  Guards guards;
  std::string state_dir;  // "" = nothing persists
  unsigned keep = 8;      // earlier versions retained beside the live one
  ShmAccess access;
  Limits limits;
  // The reader registry (publish/registry.hpp): created beside the control
  // block, mode registry_mode(access.mode); false: none, and clients record
  // nothing.
  bool reader_registry = true;
};

// A file source at `path` (absolute), the command line's --source FILE.
inline SourceSpec file_source(std::string path) {
  SourceSpec s;
  s.kind = SourceSpec::Kind::kFile;
  s.path = std::move(path);
  return s;
}

// How status and the metrics name a source: its path, or "env:PREFIX".
inline std::string source_label(const SourceSpec& s) {
  if (s.kind == SourceSpec::Kind::kEtcd) return etcd_label(s.etcd);
  return s.kind == SourceSpec::Kind::kEnvVars ? "env:" + s.prefix : s.path;
}

// What the file watcher watches for these options: files, directories and
// environment directories (a directory source reports any change of a
// config file inside it); environment variables are read at each reload,
// etcd sources have their own watch (sources/etcd/watcher.hpp).
inline std::vector<std::string> watch_paths(const ServiceOptions& o) {
  std::vector<std::string> paths;
  for (const SourceSpec& s : o.sources) {
    if (s.kind != SourceSpec::Kind::kEnvVars && s.kind != SourceSpec::Kind::kEtcd) {
      paths.push_back(s.path);
    }
  }
  return paths;
}

}  // namespace shmconf::daemon
