#include "sources/sources.hpp"

#include <dirent.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>

#include "parse/parse.hpp"
#include "watch/file_watcher.hpp"

extern char** environ;

namespace shmconf::daemon {
namespace {

constexpr const char* kEnvExtensions[] = {".yaml", ".yml", ".json", ".toml"};

// Which stage a parse_file() error belongs to.
std::string classify(const ConfigError& e) {
  const std::string& m = e.message();
  for (const char* s : {"cannot open", "cannot stat", "cannot read", "not a regular file",
                        "unknown file extension"}) {
    if (m.starts_with(s)) return "source";
  }
  if (m.find("limit") != std::string::npos || m.starts_with("nesting deeper")) return "limit";
  return "parse";
}

[[noreturn]] void source_error(const std::string& file, const std::string& message) {
  throw SourceError("source", ConfigError(file, 0, 0, {}, message));
}

std::string spec_name(const SourceSpec& spec) {
  switch (spec.kind) {
    case SourceSpec::Kind::kFile:
      return "file:" + spec.path;
    case SourceSpec::Kind::kDirectory:
      return "dir:" + spec.path;
    case SourceSpec::Kind::kEnvironments:
      return "environments:" + spec.path;
    case SourceSpec::Kind::kEnvVars:
      return "env:" + spec.prefix;
    case SourceSpec::Kind::kEtcd:
      return etcd_label(spec.etcd);
  }
  return spec.path;
}

bool tree_has_reference(const Value& v) {
  switch (v.type) {
    case Type::kString:
      return has_reference(v.s);
    case Type::kObject:
      return std::any_of(v.fields.begin(), v.fields.end(),
                         [](const auto& kv) { return tree_has_reference(kv.second); });
    case Type::kArray:
      return std::any_of(v.items.begin(), v.items.end(), tree_has_reference);
    default:
      return false;
  }
}

// Substitutes one parsed layer and merges it into both trees. `facts` lets
// a large file skip the walks for references and nulls.
void merge_layer(LoadedSources& out, Value layer, const std::string& file,
                 const SubstitutionContext& ctx, const TextFacts& facts = {}) {
  if (facts.may_have_dollar && tree_has_reference(layer)) {
    Value as_written = layer;
    try {
      substitute_tree(layer, file, ctx);
    } catch (const ConfigError& e) {
      throw SourceError("substitution", e);
    }
    if (!out.templates) out.templates = out.merged;
    merge_into(*out.templates, std::move(as_written));
  } else if (out.templates) {
    merge_into(*out.templates, layer);
  }
  trace_layer(out, layer);
  merge_into(out.merged, std::move(layer), facts.may_have_null);
}

void load_file(const std::string& path, const ServiceOptions& opts, const SubstitutionContext& ctx,
               LoadedSources& out) {
  const auto idx = static_cast<std::uint32_t>(out.names.size());
  out.names.push_back("file:" + path);
  Value layer;
  TextFacts facts;
  try {
    layer = parse_file(path, idx, opts.limits, &facts);
  } catch (const SourceError&) {
    throw;
  } catch (const ConfigError& e) {
    throw SourceError(classify(e), e);
  }
  merge_layer(out, std::move(layer), path, ctx, facts);
}

// 1 directory, 0 missing, -1 something else (error in `why`).
int probe_dir(const std::string& path, std::string* why) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return 0;
    *why = std::string("cannot stat: ") + std::strerror(errno);
    return -1;
  }
  if (!S_ISDIR(st.st_mode)) {
    *why = "not a directory";
    return -1;
  }
  return 1;
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// False when an optional directory is missing (an empty layer); a SourceError
// when a required one is missing, or any is unusable.
bool usable_dir(const SourceSpec& spec) {
  std::string why;
  const int d = probe_dir(spec.path, &why);
  if (d == 0) {
    if (spec.optional) return false;
    source_error(spec.path, "directory does not exist");
  }
  if (d < 0) source_error(spec.path, why);
  return true;
}

void load_directory(const SourceSpec& spec, const ServiceOptions& opts,
                    const SubstitutionContext& ctx, LoadedSources& out) {
  if (!usable_dir(spec)) return;
  std::vector<std::string> files;
  try {
    files = directory_files(spec.path);
  } catch (const ConfigError& e) {
    throw SourceError("source", e);
  }
  for (const auto& name : files) load_file(spec.path + "/" + name, opts, ctx, out);
}

void load_environments(const SourceSpec& spec, const ServiceOptions& opts,
                       const SubstitutionContext& ctx, LoadedSources& out) {
  std::vector<std::string> chain;
  try {
    chain = environment_chain(opts);
  } catch (const ConfigError& e) {
    throw SourceError("source", e);
  }
  if (chain.empty()) return;  // no environment set: this source contributes nothing
  if (!usable_dir(spec)) return;
  for (const std::string& env : chain) {
    std::vector<std::string> found;
    for (const char* ext : kEnvExtensions) {
      const std::string p = spec.path + "/" + env + ext;
      if (exists(p)) found.push_back(p);
    }
    if (found.empty()) {
      source_error(spec.path, "environment '" + env + "': no " + env + ".yaml, " + env + ".yml, " +
                                  env + ".json or " + env + ".toml here");
    }
    if (found.size() > 1) {
      source_error(spec.path, "environment '" + env + "': more than one file (" + found[0] + ", " +
                                  found[1] + "); keep one");
    }
    load_file(found.front(), opts, ctx, out);
  }
}

void load_env_vars(const SourceSpec& spec, const ServiceOptions& opts, LoadedSources& out) {
  if (spec.prefix.empty()) {
    source_error("env:", "an environment variable source needs a prefix (e.g. APP_)");
  }
  std::vector<std::pair<std::string, std::string>> vars;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view s(*e);
    if (!s.starts_with(spec.prefix)) continue;
    const auto eq = s.find('=');
    if (eq == std::string_view::npos) continue;
    vars.emplace_back(std::string(s.substr(0, eq)), std::string(s.substr(eq + 1)));
  }
  std::sort(vars.begin(), vars.end());
  const std::uint32_t max_parts = std::min(opts.limits.max_depth, format::kMaxDepth) - 1;
  for (const auto& [name, text] : vars) {
    auto key = env_key(name, spec.prefix);
    if (!key) {
      spdlog::warn(
          "environment variable {} ignored: it does not map to a key (empty part, '.', "
          "'[' or ']')",
          name);
      continue;
    }
    if (key->size() > max_parts) {
      spdlog::warn("environment variable {} ignored: nested deeper than the depth limit", name);
      continue;
    }
    const auto idx = static_cast<std::uint32_t>(out.names.size());
    out.names.push_back("env:" + name);
    const Origin origin{idx, 0, 0};
    Value layer = Value::object(origin);
    Value* cur = &layer;
    for (std::size_t i = 0; i + 1 < key->size(); ++i) {
      Value& next = cur->fields[(*key)[i]];
      next = Value::object(origin);
      cur = &next;
    }
    cur->fields[key->back()] = env_scalar(text, origin);
    if (out.templates) merge_into(*out.templates, layer);
    trace_layer(out, layer);
    merge_into(out.merged, std::move(layer));
  }
}

// The etcd source at `index`: one layer, each value named by its key and
// revision. Values are literal (no substitution).
void load_etcd(const SourceSpec& spec, std::size_t index, const ServiceOptions& opts,
               const SubstitutionContext& ctx, const EtcdProvider& etcd, LoadedSources& out,
               SourceStatus& st) {
  EtcdContent content;
  try {
    content = etcd ? etcd(index, spec.etcd) : etcd_read_now(spec.etcd, ctx);
  } catch (const EtcdError& e) {
    source_error(etcd_label(spec.etcd), e.what());
  }
  st.revision = content.revision;
  st.endpoint = content.endpoint;
  Value layer = etcd_layer(spec.etcd, spec.optional, content, opts.limits, out.names);
  // The store revision the layer was read at, in the snapshot's sources.
  out.names.push_back(etcd_name(content.endpoint, spec.etcd.key) +
                      "?revision=" + std::to_string(content.revision));
  if (out.templates) merge_into(*out.templates, layer);
  trace_layer(out, layer);
  merge_into(out.merged, std::move(layer));
}

}  // namespace

std::vector<std::string> directory_files(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    throw ConfigError(dir, 0, 0, {}, std::string("cannot read directory: ") + std::strerror(errno));
  }
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(d)) {
    const std::string_view name(e->d_name);
    // Dotfiles cover Kubernetes' "..data" and "..2024_..." entries and
    // editors' temporaries; the visible names are symlinks through ..data.
    if (name.starts_with('.') || !FileWatcher::is_config_name(name)) continue;
    struct stat st {};
    const std::string p = dir + "/" + std::string(name);
    if (::stat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;  // dirs, dangling links
    names.emplace_back(name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::string> environment_chain(const ServiceOptions& opts) {
  std::vector<std::string> chain;
  if (opts.environment.empty()) return chain;
  std::set<std::string> seen;
  for (std::string env = opts.environment;;) {
    if (env.empty() || env.find('/') != std::string::npos || env.starts_with('.')) {
      throw ConfigError({}, 0, 0, {},
                        "environment name '" + env + "' is empty, holds '/' or starts with '.'");
    }
    if (!seen.insert(env).second) {
      std::string cycle;
      for (const auto& e : chain) cycle += e + " -> ";
      throw ConfigError({}, 0, 0, {}, "environment parents form a cycle: " + cycle + env);
    }
    chain.push_back(env);
    auto it = opts.environment_parents.find(env);
    if (it == opts.environment_parents.end()) break;
    env = it->second;
  }
  std::reverse(chain.begin(), chain.end());
  return chain;
}

Value env_scalar(const std::string& text, Origin origin) {
  const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  if (!text.empty() && !is_space(text.front()) && !is_space(text.back())) {
    const auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_boolean()) return Value::boolean(j.get<bool>(), origin);
    if (j.is_null()) return Value::null(origin);
    if (j.is_number_unsigned()) {
      const auto u = j.get<std::uint64_t>();
      if (u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        return Value::integer(static_cast<std::int64_t>(u), origin);
      }
    } else if (j.is_number_integer()) {
      return Value::integer(j.get<std::int64_t>(), origin);
    } else if (j.is_number_float()) {
      const double d = j.get<double>();
      if (std::isfinite(d)) return Value::real(d, origin);
    }
  }
  return Value::string(text, origin);
}

std::optional<std::vector<std::string>> env_key(const std::string& name,
                                                const std::string& prefix) {
  if (!name.starts_with(prefix) || name.size() == prefix.size()) return std::nullopt;
  std::vector<std::string> parts;
  std::string_view rest = std::string_view(name).substr(prefix.size());
  for (;;) {
    const auto sep = rest.find("__");
    std::string part(rest.substr(0, sep));
    if (part.empty() || part.find_first_of(".[]") != std::string::npos) return std::nullopt;
    for (char& c : part) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    parts.push_back(std::move(part));
    if (sep == std::string_view::npos) break;
    rest.remove_prefix(sep + 2);
  }
  return parts;
}

void trace_layer(LoadedSources& out, const Value& layer) {
  if (out.trace_key.empty()) return;
  if (const Value* v = find_path(layer, out.trace_key)) out.trace.push_back(*v);
}

void load_sources(const ServiceOptions& opts, const SubstitutionContext& ctx, LoadedSources& out,
                  const EtcdProvider& etcd) {
  std::optional<SourceError> first;
  for (std::size_t i = 0; i < opts.sources.size(); ++i) {
    const SourceSpec& spec = opts.sources[i];
    SourceStatus st;
    st.name = spec_name(spec);
    try {
      switch (spec.kind) {
        case SourceSpec::Kind::kFile:
          if (spec.optional && !exists(spec.path)) break;
          load_file(spec.path, opts, ctx, out);
          break;
        case SourceSpec::Kind::kDirectory:
          load_directory(spec, opts, ctx, out);
          break;
        case SourceSpec::Kind::kEnvironments:
          load_environments(spec, opts, ctx, out);
          break;
        case SourceSpec::Kind::kEnvVars:
          load_env_vars(spec, opts, out);
          break;
        case SourceSpec::Kind::kEtcd:
          load_etcd(spec, i, opts, ctx, etcd, out, st);
          break;
      }
    } catch (const SourceError& e) {
      st.ok = false;
      st.error = e.what();
      if (!first) first = e;
    } catch (const ConfigError& e) {
      st.ok = false;
      st.error = e.what();
      if (!first) first = SourceError("source", e);
    }
    out.status.push_back(std::move(st));
  }
  if (first) throw *first;
}

}  // namespace shmconf::daemon
