// daemon/src/sources/etcd/spec.hpp — how an `etcd` source is declared in the
// daemon configuration file (docs/SOURCES.md "etcd"): where the cluster is,
// which keys make the layer and how their values become a tree.
//
// Thread-safety: plain data. Cost: none.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "parse/parse.hpp"

namespace shmconf::daemon {

struct EtcdSpec {
  // Client URLs, tried in order: "http://10.0.0.1:2379", "https://etcd-2:2379".
  std::vector<std::string> endpoints;
  enum class Layout {
    kDocument,  // `key` holds one YAML/JSON/TOML document
    kTree,      // every key under `key` (a prefix) is one value: <prefix>database/port
  };
  Layout layout = Layout::kTree;
  // kDocument: the key; kTree: the prefix, ending in '/' (added if missing).
  std::string key;
  // kDocument: the document's format; nullopt = by the key's suffix.
  std::optional<Format> format;
  // kTree: how a value's bytes become a value.
  enum class Values {
    kScalar,  // a JSON scalar when the whole text is one (8080, true, null), else the string
    kString,  // always the string
    kJson,    // a JSON document (scalar, array or object)
  };
  Values values = Values::kScalar;
  // Authentication (etcd's user/password). `password` is as written: a
  // ${credential:NAME} or ${file:/path} reference, resolved at each connect.
  std::string user;
  std::string password;
  // Client TLS for https:// endpoints; "" = none (the system CAs verify).
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  unsigned debounce_ms = 10;       // quiet time after a watch event before a reload
  unsigned timeout_ms = 2000;      // connect and unary request timeout
  unsigned backoff_min_ms = 200;   // first reconnect delay
  unsigned backoff_max_ms = 1000;  // the cap of the exponential backoff
};

// The layer-independent name of a source: "etcd:<key>" (status, metrics).
inline std::string etcd_label(const EtcdSpec& s) { return "etcd:" + s.key; }

}  // namespace shmconf::daemon
