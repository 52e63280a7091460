// daemon/src/config/daemon_config.cpp — strict reader of shmconfd.yaml.
#include "config/daemon_config.hpp"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "shmconf/client.hpp"
#include "sources/substitute.hpp"

namespace shmconf::daemon {
namespace {

namespace fs = std::filesystem;

// A node with the key path that leads to it, for errors.
struct At {
  const YAML::Node& node;
  std::string path;
};

class Reader {
 public:
  Reader(std::string file, fs::path base) : file_(std::move(file)), base_(std::move(base)) {}

  [[noreturn]] void fail(const YAML::Node& n, const std::string& key, const std::string& msg) {
    const YAML::Mark m = n.Mark();
    const bool known = m.line >= 0 && !n.IsNull();
    throw ConfigError(file_, known ? static_cast<std::uint32_t>(m.line + 1) : 0,
                      known ? static_cast<std::uint32_t>(m.column + 1) : 0, key, msg);
  }

  // Calls `f(key, value)` for each entry of mapping `n`; refuses a key not
  // in `allowed` (a typo must not silently drop a setting).
  void each(const At& at, const std::set<std::string>& allowed,
            const std::function<void(const std::string&, const At&)>& f) {
    if (!at.node.IsMap()) fail(at.node, at.path, "must be a mapping");
    std::set<std::string> seen;
    for (auto it = at.node.begin(); it != at.node.end(); ++it) {
      const std::string key = it->first.Scalar();
      const std::string path = at.path.empty() ? key : at.path + "." + key;
      if (!allowed.empty() && allowed.count(key) == 0) {
        std::string known;
        for (const auto& a : allowed) known += (known.empty() ? "" : ", ") + a;
        fail(it->first, path, "unknown key (expected one of: " + known + ")");
      }
      if (!seen.insert(key).second) fail(it->first, path, "duplicate key");
      const YAML::Node value = it->second;
      f(key, At{value, path});
    }
  }

  std::string str(const At& at) {
    if (!at.node.IsScalar()) fail(at.node, at.path, "must be a string");
    return at.node.Scalar();
  }

  std::string path(const At& at) {
    const std::string s = str(at);
    if (s.empty()) fail(at.node, at.path, "must not be empty");
    fs::path p = (base_ / s).lexically_normal();
    if (p.has_parent_path() && p.filename().empty()) p = p.parent_path();  // "dir/" -> "dir"
    return p.string();
  }

  bool boolean(const At& at) {
    const std::string s = at.node.IsScalar() ? at.node.Scalar() : "";
    if (s == "true") return true;
    if (s == "false") return false;
    fail(at.node, at.path, "must be true or false");
  }

  std::uint64_t number(const At& at, std::uint64_t lo, std::uint64_t hi) {
    const std::string s = at.node.IsScalar() ? at.node.Scalar() : "";
    std::uint64_t v = 0;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc{} || p != s.data() + s.size() || v < lo || v > hi) {
      fail(at.node, at.path,
           "must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
    }
    return v;
  }

  double percent(const At& at) {
    const std::string s = at.node.IsScalar() ? at.node.Scalar() : "";
    double v = -1;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc{} || p != s.data() + s.size() || !(v >= 0 && v <= 100)) {
      fail(at.node, at.path, "must be a number from 0 to 100");
    }
    return v;
  }

  SourceSpec source(const At& at) {
    SourceSpec s;
    bool kind_set = false;
    auto set_kind = [&](SourceSpec::Kind k, const At& v, bool is_path) {
      if (kind_set)
        fail(v.node, v.path, "a source has exactly one of file, dir, environments, env, etcd");
      kind_set = true;
      s.kind = k;
      if (k == SourceSpec::Kind::kEtcd) {
        s.etcd = etcd(v);
      } else if (is_path) {
        s.path = path(v);
      } else {
        s.prefix = str(v);
        if (s.prefix.empty()) fail(v.node, v.path, "must not be empty");
      }
    };
    each(at, {"file", "dir", "environments", "env", "etcd", "optional"},
         [&](const std::string& key, const At& v) {
           if (key == "file") set_kind(SourceSpec::Kind::kFile, v, true);
           if (key == "dir") set_kind(SourceSpec::Kind::kDirectory, v, true);
           if (key == "environments") set_kind(SourceSpec::Kind::kEnvironments, v, true);
           if (key == "env") set_kind(SourceSpec::Kind::kEnvVars, v, false);
           if (key == "etcd") set_kind(SourceSpec::Kind::kEtcd, v, false);
           if (key == "optional") s.optional = boolean(v);
         });
    if (!kind_set) {
      fail(at.node, at.path, "a source needs one of file, dir, environments, env, etcd");
    }
    if (s.kind == SourceSpec::Kind::kFile && !format_for_path(s.path)) {
      fail(at.node, at.path, "a file source must end in .yaml, .yml, .json or .toml");
    }
    return s;
  }

  // An etcd source (docs/SOURCES.md "etcd").
  EtcdSpec etcd(const At& at) {
    EtcdSpec e;
    bool have_key = false;
    each(at,
         {"endpoints", "key", "prefix", "layout", "format", "values", "user", "password", "tls",
          "debounce_ms", "timeout_ms", "backoff_min_ms", "backoff_max_ms"},
         [&](const std::string& key, const At& v) {
           if (key == "endpoints") {
             if (!v.node.IsSequence() || v.node.size() == 0) {
               fail(v.node, v.path, "must be a non-empty list of URLs (http://host:2379)");
             }
             for (std::size_t i = 0; i < v.node.size(); ++i) {
               const At item{v.node[i], v.path + "[" + std::to_string(i) + "]"};
               const std::string url = str(item);
               if (!url.starts_with("http://") && !url.starts_with("https://")) {
                 fail(item.node, item.path, "must start with http:// or https://");
               }
               e.endpoints.push_back(url);
             }
           }
           if (key == "key" || key == "prefix") {
             if (have_key) fail(v.node, v.path, "give one of key (a document) or prefix (a tree)");
             have_key = true;
             e.key = str(v);
             if (e.key.empty()) fail(v.node, v.path, "must not be empty");
             e.layout = key == "key" ? EtcdSpec::Layout::kDocument : EtcdSpec::Layout::kTree;
           }
           if (key == "layout") {
             const std::string l = str(v);
             if (l != "document" && l != "tree") fail(v.node, v.path, "must be document or tree");
           }
           if (key == "format") {
             const auto f = format_for_path("x." + str(v));
             if (!f) fail(v.node, v.path, "must be yaml, json or toml");
             e.format = f;
           }
           if (key == "values") {
             const std::string r = str(v);
             if (r == "scalar")
               e.values = EtcdSpec::Values::kScalar;
             else if (r == "string")
               e.values = EtcdSpec::Values::kString;
             else if (r == "json")
               e.values = EtcdSpec::Values::kJson;
             else
               fail(v.node, v.path, "must be scalar, string or json");
           }
           if (key == "user") e.user = str(v);
           if (key == "password") e.password = str(v);
           if (key == "tls") {
             each(v, {"ca", "cert", "key"}, [&](const std::string& k, const At& t) {
               if (k == "ca") e.ca_file = path(t);
               if (k == "cert") e.cert_file = path(t);
               if (k == "key") e.key_file = path(t);
             });
           }
           if (key == "debounce_ms") e.debounce_ms = static_cast<unsigned>(number(v, 0, 600000));
           if (key == "timeout_ms") e.timeout_ms = static_cast<unsigned>(number(v, 1, 600000));
           if (key == "backoff_min_ms")
             e.backoff_min_ms = static_cast<unsigned>(number(v, 1, 600000));
           if (key == "backoff_max_ms")
             e.backoff_max_ms = static_cast<unsigned>(number(v, 1, 3600000));
         });
    if (e.endpoints.empty()) fail(at.node, at.path, "an etcd source needs endpoints");
    if (!have_key)
      fail(at.node, at.path, "an etcd source needs key (a document) or prefix (a tree)");
    if (const auto l = at.node["layout"]) {
      const bool doc = l.Scalar() == "document";
      if (doc != (e.layout == EtcdSpec::Layout::kDocument)) {
        fail(l, at.path + ".layout",
             doc ? "layout document takes key:, not prefix:"
                 : "layout tree takes prefix:, not key:");
      }
    }
    if (e.layout == EtcdSpec::Layout::kTree && !e.key.ends_with('/')) e.key += '/';
    if (e.layout == EtcdSpec::Layout::kDocument && !e.format && !format_for_path(e.key)) {
      fail(at.node, at.path, "the key does not end in .yaml, .yml, .json or .toml: set format:");
    }
    if (!e.password.empty() && e.password.find("${") == std::string::npos) {
      fail(at.node["password"], at.path + ".password",
           "give the password as ${credential:NAME} or ${file:/path}, not in this file");
    }
    if (e.cert_file.empty() != e.key_file.empty()) {
      fail(at.node, at.path + ".tls", "cert and key go together");
    }
    if (e.backoff_min_ms > e.backoff_max_ms) {
      fail(at.node, at.path, "backoff_min_ms is above backoff_max_ms");
    }
    return e;
  }

  void limits(const At& at, Limits& l) {
    each(at, {"max_file_size", "max_depth", "max_nodes", "max_alias_nodes", "max_key_length"},
         [&](const std::string& key, const At& v) {
           if (key == "max_file_size") l.max_file_size = number(v, 1, 4ull << 30);
           if (key == "max_depth") l.max_depth = static_cast<std::uint32_t>(number(v, 1, 1024));
           if (key == "max_nodes") l.max_nodes = number(v, 1, 1ull << 32);
           if (key == "max_alias_nodes") l.max_alias_nodes = number(v, 0, 1ull << 32);
           if (key == "max_key_length")
             l.max_key_length = static_cast<std::uint32_t>(number(v, 1, 1u << 16));
         });
  }

  // sealing_keys: {ID: "${credential:NAME}" | "${file:/path}" | PATH}. A
  // plain string is a key file's path (relative to this file); a key's text
  // never stands here.
  void sealing_keys(const At& at, std::map<std::string, std::string>& keys) {
    each(at, {}, [&](const std::string& id, const At& v) {
      if (!valid_sealing_key_id(id))
        fail(v.node, v.path, "a key id must match [A-Za-z0-9_.-]{1,64}");
      const std::string ref = str(v);
      if (ref.find("${") != std::string::npos) {
        if (ref.find("${sealed:") != std::string::npos) {
          fail(v.node, v.path, "a sealing key cannot itself be sealed");
        }
        keys[id] = ref;
      } else {
        keys[id] = "${file:" + path(v) + "}";
      }
    });
    if (keys.empty()) fail(at.node, at.path, "must name at least one key");
  }

  NamespaceConfig name_space(const std::string& name, const At& at) {
    NamespaceConfig ns;
    ServiceOptions& o = ns.options;
    o.name = name;
    bool have_sources = false;
    const YAML::Node* mode_node = nullptr;
    std::string mode_path;
    YAML::Node mode_copy;
    each(at,
         {"sources", "environment", "environment_parents", "schema", "plaintext_secrets", "guards",
          "keep", "mode", "group", "state_dir", "limits", "sealing_keys", "reader_registry"},
         [&](const std::string& key, const At& v) {
           if (key == "sources") {
             if (!v.node.IsSequence() || v.node.size() == 0) {
               fail(v.node, v.path, "must be a non-empty list of sources");
             }
             for (std::size_t i = 0; i < v.node.size(); ++i) {
               const YAML::Node item = v.node[i];
               o.sources.push_back(source(At{item, v.path + "[" + std::to_string(i) + "]"}));
             }
             have_sources = true;
           }
           if (key == "environment") o.environment = str(v);
           if (key == "environment_parents") {
             each(v, {}, [&](const std::string& env, const At& parent) {
               o.environment_parents[env] = str(parent);
             });
           }
           if (key == "schema") o.schema = path(v);
           if (key == "plaintext_secrets") {
             const std::string p = str(v);
             if (p == "error") {
               o.plaintext_secrets = SecretPolicy::kError;
             } else if (p == "warn") {
               o.plaintext_secrets = SecretPolicy::kWarn;
             } else if (p == "allow") {
               o.plaintext_secrets = SecretPolicy::kAllow;
             } else {
               fail(v.node, v.path, "must be error, warn or allow");
             }
           }
           if (key == "guards") {
             each(v, {"min_keys", "max_changed_percent", "max_deleted_percent", "allow_empty"},
                  [&](const std::string& g, const At& gv) {
                    if (g == "min_keys") o.guards.min_keys = number(gv, 0, 1ull << 32);
                    if (g == "max_changed_percent") o.guards.max_changed_percent = percent(gv);
                    if (g == "max_deleted_percent") o.guards.max_deleted_percent = percent(gv);
                    if (g == "allow_empty") o.guards.allow_empty = boolean(gv);
                  });
           }
           if (key == "keep") o.keep = static_cast<unsigned>(number(v, 1, 1000));
           if (key == "mode") {
             mode_copy = v.node;
             mode_node = &mode_copy;
             mode_path = v.path;
             const std::string m = str(v);
             if (m == "0644") {
               o.access.mode = 0644;
             } else if (m == "0640") {
               o.access.mode = 0640;
             } else if (m == "0600") {
               o.access.mode = 0600;
             } else {
               fail(v.node, v.path, "must be \"0644\", \"0640\" or \"0600\" (quoted)");
             }
           }
           if (key == "group") ns.group = str(v);
           if (key == "reader_registry") o.reader_registry = boolean(v);
           if (key == "state_dir") o.state_dir = path(v);
           if (key == "limits") limits(v, o.limits);
           if (key == "sealing_keys") sealing_keys(v, o.sealing_keys);
         });
    if (!have_sources) fail(at.node, at.path, "a namespace needs sources");
    if (o.access.mode == 0640 && ns.group.empty() && mode_node) {
      fail(*mode_node, mode_path, "mode 0640 needs a group");
    }
    return ns;
  }

  DaemonConfig daemon(const YAML::Node& root) {
    DaemonConfig c;
    c.path = file_;
    bool have_namespaces = false;
    each(At{root, ""},
         {"prefix", "socket_dir", "state_dir", "audit_log", "admin_group", "watch", "debounce_ms",
          "poll_ms", "write_wait_ms", "log_level", "log_format", "metrics_listen", "namespaces"},
         [&](const std::string& key, const At& v) {
           if (key == "prefix") {
             c.prefix = str(v);
             if (!valid_name(c.prefix)) fail(v.node, v.path, "must match [A-Za-z0-9_-]{1,64}");
           }
           if (key == "socket_dir") c.socket_dir = path(v);
           if (key == "state_dir") c.state_dir = path(v);
           if (key == "audit_log") c.audit_log = path(v);
           if (key == "admin_group") c.admin_group = str(v);
           if (key == "watch") c.watch = boolean(v);
           if (key == "debounce_ms") c.debounce_ms = static_cast<unsigned>(number(v, 0, 600000));
           if (key == "poll_ms") c.poll_ms = static_cast<unsigned>(number(v, 0, 3600000));
           if (key == "write_wait_ms") {
             c.write_wait_ms = static_cast<unsigned>(number(v, 0, 600000));
           }
           if (key == "log_level") {
             c.log_level = str(v);
             static const std::set<std::string> levels = {"trace", "debug", "info",
                                                          "warn",  "error", "critical"};
             if (levels.count(c.log_level) == 0) {
               fail(v.node, v.path, "must be trace, debug, info, warn, error or critical");
             }
           }
           if (key == "log_format") {
             c.log_format = str(v);
             if (c.log_format != "logfmt" && c.log_format != "json") {
               fail(v.node, v.path, "must be logfmt or json");
             }
           }
           if (key == "metrics_listen") c.metrics_listen = str(v);
           if (key == "namespaces") {
             each(v, {}, [&](const std::string& name, const At& ns) {
               if (!valid_name(name)) {
                 fail(ns.node, ns.path, "a namespace name must match [A-Za-z0-9_-]{1,64}");
               }
               c.namespaces.push_back(name_space(name, ns));
             });
             if (c.namespaces.empty()) fail(v.node, v.path, "declares no namespace");
             have_namespaces = true;
           }
         });
    if (!have_namespaces) fail(root, "namespaces", "the file declares no namespaces");
    // A namespace persists in <state_dir>/<namespace> (StateStore adds the
    // name), under the daemon-wide directory unless it names its own.
    for (auto& ns : c.namespaces) {
      if (ns.options.state_dir.empty()) ns.options.state_dir = c.state_dir;
    }
    return c;
  }

 private:
  std::string file_;
  fs::path base_;
};

}  // namespace

DaemonConfig parse_daemon_config(std::string_view text, const std::string& path) {
  const std::string abs = fs::absolute(path).lexically_normal().string();
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    throw ConfigError(abs, static_cast<std::uint32_t>(e.mark.line + 1),
                      static_cast<std::uint32_t>(e.mark.column + 1), "", e.msg);
  }
  if (!root.IsMap()) throw ConfigError(abs, 1, 1, "", "the daemon configuration must be a mapping");
  Reader r(abs, fs::path(abs).parent_path());
  return r.daemon(root);
}

DaemonConfig load_daemon_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path, 0, 0, "", "cannot read the daemon configuration file");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw ConfigError(path, 0, 0, "", "cannot read the daemon configuration file");
  return parse_daemon_config(text.str(), path);
}

}  // namespace shmconf::daemon
