// daemon/src/sources/etcd/layers.hpp — what an etcd source holds, as layers:
// a document key parsed like a file of its format, or a tree of keys
// (<prefix>database/port -> database.port) each value parsed by the
// source's rule (docs/SOURCES.md "etcd").
//
// Provenance names say where and at which revision a value was read:
// "etcd:127.0.0.1:2379/shmconf/app/database/port@42" (endpoint, key,
// mod_revision); a bad value is a ConfigError under that name, so the
// error names the key and its revision. Values are taken literally: a
// "${...}" in etcd is never substituted (a writer of etcd must not be able
// to read the host's files or credentials through the daemon).
//
// Thread-safety: plain functions. Cost: linear in the keys and values.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "sources/etcd/client.hpp"
#include "sources/etcd/spec.hpp"
#include "sources/substitute.hpp"
#include "tree/value.hpp"

namespace shmconf::daemon {

// What one etcd source holds at one store revision.
struct EtcdContent {
  std::string endpoint;  // host:port it was read from
  std::int64_t revision = 0;
  std::vector<EtcdKv> kvs;  // in key order
};

// The content of the etcd source at `index` of a namespace's sources: the
// daemon answers from its watcher's copy; nullptr = read etcd now.
using EtcdProvider = std::function<EtcdContent(std::size_t index, const EtcdSpec& spec)>;

// The password of `spec`, its ${...} reference resolved. Throws ConfigError
// naming the reference, never the secret.
std::string etcd_password(const EtcdSpec& spec, const SubstitutionContext& ctx);

// One range read of the source's key or prefix. Throws EtcdError.
EtcdContent etcd_read_now(const EtcdSpec& spec, const SubstitutionContext& ctx);

// "etcd:<endpoint>/<key>" (the endpoint without its scheme).
std::string etcd_name(const std::string& endpoint, const std::string& key);

// The source's layer: one tree whose values each carry the origin of their
// key's name, appended to `names` from names.size() on. A document key that
// does not exist is a SourceError ("source") unless `optional`; an empty
// tree is an empty layer. Throws ConfigError for a bad value or key.
Value etcd_layer(const EtcdSpec& spec, bool optional, const EtcdContent& content,
                 const Limits& limits, SourceList& names);

}  // namespace shmconf::daemon
