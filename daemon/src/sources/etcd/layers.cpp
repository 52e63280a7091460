#include "sources/etcd/layers.hpp"

#include "parse/parse.hpp"
#include "parse/parse_internal.hpp"
#include "sources/sources.hpp"

namespace shmconf::daemon {
namespace {

[[noreturn]] void bad_value(const std::string& where, const std::string& key_path,
                            const std::string& message) {
  throw SourceError("parse", ConfigError(where, 0, 0, key_path, message));
}

// `text` as a value by the tree's rule.
Value tree_value(const EtcdSpec& spec, const std::string& text, const std::string& where,
                 const std::string& key_path, Origin origin, const Limits& limits) {
  if (!detail::valid_utf8(text)) bad_value(where, key_path, "the value is not valid UTF-8");
  switch (spec.values) {
    case EtcdSpec::Values::kString:
      return Value::string(text, origin);
    case EtcdSpec::Values::kScalar:
      return env_scalar(text, origin);
    case EtcdSpec::Values::kJson:
      break;
  }
  // A JSON document of any shape: parsed as the value of a one-key object,
  // so the file parser's rules and limits apply.
  Value wrapped;
  try {
    wrapped = parse_text("{\"v\":" + text + "\n}", Format::kJson, where, origin.source, limits);
  } catch (const ConfigError& e) {
    const std::uint32_t col = e.line() == 1 && e.column() > 5 ? e.column() - 5 : e.column();
    throw SourceError("parse", ConfigError(where, e.line(), col, key_path, e.message()));
  }
  return std::move(wrapped.fields.begin()->second);
}

Value document_layer(const EtcdSpec& spec, bool optional, const EtcdContent& c,
                     const Limits& limits, SourceList& names) {
  if (c.kvs.empty()) {
    if (optional) return Value::object();
    throw SourceError("source", ConfigError(etcd_name(c.endpoint, spec.key), 0, 0, {},
                                            "the key does not exist (at revision " +
                                                std::to_string(c.revision) + ")"));
  }
  const EtcdKv& kv = c.kvs.front();
  const std::string where = etcd_name(c.endpoint, kv.key) + "@" + std::to_string(kv.mod_revision);
  const auto format = spec.format ? spec.format : format_for_path(kv.key);
  if (!format) {
    throw SourceError("source", ConfigError(where, 0, 0, {},
                                            "no format: the key does not end in .yaml, .yml, "
                                            ".json or .toml; set format:"));
  }
  if (kv.value.size() > limits.max_file_size) {
    throw SourceError("limit", ConfigError(where, 0, 0, {},
                                           "value of " + std::to_string(kv.value.size()) +
                                               " bytes is over the limit of " +
                                               std::to_string(limits.max_file_size)));
  }
  const auto idx = static_cast<std::uint32_t>(names.size());
  names.push_back(where);
  try {
    return parse_text(kv.value, *format, where, idx, limits);
  } catch (const ConfigError& e) {
    const bool limit =
        e.message().find("limit") != std::string::npos || e.message().starts_with("nesting deeper");
    throw SourceError(limit ? "limit" : "parse", e);
  }
}

// "<prefix>database/port" -> {"database", "port"}; empty on a bad name.
std::vector<std::string> tree_path(const std::string& rest) {
  std::vector<std::string> parts;
  std::size_t at = 0;
  for (;;) {
    const auto slash = rest.find('/', at);
    std::string part = rest.substr(at, slash == std::string::npos ? std::string::npos : slash - at);
    if (part.empty() || part.find_first_of(".[]") != std::string::npos ||
        !detail::valid_utf8(part)) {
      return {};
    }
    parts.push_back(std::move(part));
    if (slash == std::string::npos) return parts;
    at = slash + 1;
  }
}

Value tree_layer(const EtcdSpec& spec, const EtcdContent& c, const Limits& limits,
                 SourceList& names) {
  Value root = Value::object();
  const std::uint32_t max_parts = std::min(limits.max_depth, format::kMaxDepth) - 1;
  for (const EtcdKv& kv : c.kvs) {
    const std::string where = etcd_name(c.endpoint, kv.key) + "@" + std::to_string(kv.mod_revision);
    const auto parts = tree_path(kv.key.substr(spec.key.size()));
    if (parts.empty()) {
      bad_value(where, {},
                "the key does not name a configuration key (an empty part, '.', '[', ']' or "
                "bytes that are not UTF-8 after the prefix)");
    }
    std::string key_path;
    for (const auto& p : parts) key_path = join_path(key_path, p);
    if (parts.size() > max_parts) bad_value(where, key_path, "nested deeper than the depth limit");
    const auto idx = static_cast<std::uint32_t>(names.size());
    names.push_back(where);
    const Origin origin{idx, 0, 0};
    Value* cur = &root;
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
      auto it = cur->fields.find(parts[i]);
      if (it == cur->fields.end()) {
        it = cur->fields.emplace(parts[i], Value::object(origin)).first;
      } else if (it->second.type != Type::kObject) {
        bad_value(where, key_path, "a parent of this key holds a value of its own");
      }
      cur = &it->second;
    }
    if (cur->fields.count(parts.back()) != 0) {
      bad_value(where, key_path, "this key also has keys below it");
    }
    cur->fields.emplace(parts.back(), tree_value(spec, kv.value, where, key_path, origin, limits));
  }
  return root;
}

}  // namespace

std::string etcd_name(const std::string& endpoint, const std::string& key) {
  return "etcd:" + endpoint + (key.starts_with('/') ? "" : "/") + key;
}

std::string etcd_password(const EtcdSpec& spec, const SubstitutionContext& ctx) {
  if (spec.password.empty()) return {};
  SubstitutionSite site;
  site.file = etcd_label(spec);
  site.key_path = "password";
  return expand(spec.password, ctx, site);
}

EtcdContent etcd_read_now(const EtcdSpec& spec, const SubstitutionContext& ctx) {
  EtcdClient client(spec, etcd_password(spec, ctx));
  EtcdRange r = client.range(spec.key, spec.layout == EtcdSpec::Layout::kTree);
  return EtcdContent{std::move(r.endpoint), r.revision, std::move(r.kvs)};
}

Value etcd_layer(const EtcdSpec& spec, bool optional, const EtcdContent& content,
                 const Limits& limits, SourceList& names) {
  if (spec.layout == EtcdSpec::Layout::kDocument) {
    return document_layer(spec, optional, content, limits, names);
  }
  return tree_layer(spec, content, limits, names);
}

}  // namespace shmconf::daemon
