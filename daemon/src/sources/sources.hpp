// daemon/src/sources/sources.hpp — a namespace's SourceSpecs read into
// layers and merged: files, conf.d directories, environment overlay chains
// and environment variables (docs/SOURCES.md).
//
// Each file and each environment variable is its own entry of the
// SourceList ("file:/abs/path", "env:APP_DB__HOST"), so provenance and
// errors name exactly what set a value. String values of file layers are
// expanded (sources/substitute.hpp) before the layer merges; environment
// variable values are taken literally.
//
// Thread-safety: the functions keep no state; the environment is read at
// each call (the caller's process environment). Cost: every file is read
// and parsed at each load; a directory costs one readdir.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/options.hpp"
#include "sources/etcd/layers.hpp"
#include "sources/substitute.hpp"
#include "tree/value.hpp"

namespace shmconf::daemon {

// Health of one SourceSpec at the last reload attempt.
struct SourceStatus {
  std::string name;  // "file:/etc/app/base.yaml", "dir:/etc/app/conf.d", "env:APP_", ...
  bool ok = true;
  std::string error;  // the ConfigError's text when !ok
  // etcd sources: the store revision and endpoint the reload read; 0 = none.
  std::int64_t revision = 0;
  std::string endpoint;
};

// A ConfigError that says which stage failed, for ReloadOutcome::error_kind:
// "source" (missing, unreadable), "parse", "limit", "substitution".
class SourceError : public ConfigError {
 public:
  SourceError(std::string kind, const ConfigError& e)
      : ConfigError(e.file(), e.line(), e.column(), e.key_path(), e.message()),
        kind_(std::move(kind)) {}
  const std::string& kind() const { return kind_; }

 private:
  std::string kind_;
};

// What one load produced.
struct LoadedSources {
  Value merged = Value::object();
  // The same tree with every substituted string as written ("${VAR}"); set
  // only when some surviving layer held a reference. What the state
  // directory persists instead of resolved secrets.
  std::optional<Value> templates;
  SourceList names;
  std::vector<SourceStatus> status;  // one per SourceSpec, in order
  // When not empty: every layer that holds this key path is recorded in
  // `trace`, lowest priority first, with the value it set (after
  // substitution; a null is a deletion). For `explain`.
  std::string trace_key;
  std::vector<Value> trace;
};

// Records `layer`'s value at out.trace_key, if any, in out.trace.
void trace_layer(LoadedSources& out, const Value& layer);

// Reads, substitutes and merges every source of `opts` in priority order.
// All sources are read even after one fails, so `out.status` describes each;
// then the first failure is thrown as a SourceError. `out` is filled as far
// as the load got.
// etcd sources are read through `etcd` (the daemon's watchers), or from
// etcd at once when it is empty.
void load_sources(const ServiceOptions& opts, const SubstitutionContext& ctx, LoadedSources& out,
                  const EtcdProvider& etcd = {});

// The environment chain of `opts`, base-most first: "production" with
// parents {production: staging} gives {"staging", "production"}. Empty when
// no environment is set. Throws ConfigError on a cycle.
std::vector<std::string> environment_chain(const ServiceOptions& opts);

// What the file watcher watches is core/options.hpp watch_paths(): an
// environments source is watched as a directory, so any environment file
// appearing, changing or vanishing triggers a reload.

// The config files of a directory source, sorted bytewise: names that
// FileWatcher::is_config_name() accepts, not starting with '.', that are
// (or are symlinks to) regular files. Throws ConfigError when the directory
// cannot be read.
std::vector<std::string> directory_files(const std::string& dir);

// An environment variable's value as a Value: a JSON number, true, false or
// null when the whole text is one, else the literal string.
Value env_scalar(const std::string& text, Origin origin);

// The key path an environment variable sets: "APP_DATABASE__HOST" with
// prefix "APP_" gives "database.host"; nullopt when the name does not start
// with the prefix or would make an invalid key (empty part, '.', '[', ']').
std::optional<std::vector<std::string>> env_key(const std::string& name, const std::string& prefix);

}  // namespace shmconf::daemon
