// shmconfctl push to a tree (prefix:) etcd source: FILEs merged, one key
// per leaf, written with the deletions in one transaction that fails if
// anything under the prefix changed since the revision validated against.
#include <filesystem>
#include <iostream>
#include <map>
#include <stdexcept>

#include "ctl/push.hpp"
#include "parse/parse.hpp"
#include "sources/sources.hpp"

namespace shmconf::daemon::ctl {
namespace {

// The bytes stored for leaf `v` under the source's value rule.
std::string leaf_text(const EtcdSpec& spec, const Value& v, const std::string& path) {
  switch (spec.values) {
    case EtcdSpec::Values::kJson:
      return to_json(v);
    case EtcdSpec::Values::kString:
      if (v.type != Type::kString) {
        throw std::runtime_error(path + ": values: string holds only strings; this is " +
                                 to_json(v));
      }
      return v.s;
    case EtcdSpec::Values::kScalar:
      break;
  }
  if (v.type == Type::kArray) {
    throw std::runtime_error(path + ": an array needs values: json");
  }
  if (v.type != Type::kString) return to_json(v);
  if (env_scalar(v.s, {}).type != Type::kString) {
    throw std::runtime_error(path + ": the string \"" + v.s + "\" would read back as " +
                             to_json(env_scalar(v.s, {})) +
                             " with values: scalar; use values: json to keep it a string");
  }
  return v.s;
}

void flatten(const EtcdSpec& spec, const Value& v, const std::string& key, const std::string& path,
             std::map<std::string, std::string>& out) {
  if (v.type != Type::kObject) {
    out[key] = leaf_text(spec, v, path);
    return;
  }
  if (v.fields.empty() && !path.empty()) {
    throw std::runtime_error(path + ": an empty mapping has no key to write");
  }
  for (const auto& [name, child] : v.fields) {
    const std::string p = join_path(path, name);
    if (name.find('/') != std::string::npos) {
      throw std::runtime_error(p + ": a name holding '/' cannot be part of an etcd key");
    }
    flatten(spec, child, key + (key.ends_with('/') ? "" : "/") + name, p, out);
  }
}

Value merged_files(const std::vector<std::string>& files) {
  Value merged = Value::object();
  for (std::size_t i = 0; i < files.size(); ++i) {
    merge_into(merged, parse_file(files[i], static_cast<std::uint32_t>(i)));
  }
  return merged;
}

}  // namespace

int push_tree(const ServiceOptions& o, const PushTarget& t, const Args& a) {
  std::vector<std::string> files;
  for (const std::string& f : a.files) {
    std::error_code ec;
    files.push_back(std::filesystem::absolute(f, ec).string());
  }
  if (!push_valid(o, t, files, a)) {
    std::cerr << o.name << ": INVALID; nothing pushed\n";
    return kExitFail;
  }
  std::map<std::string, std::string> leaves;
  try {
    const Value doc = merged_files(files);
    flatten(t.spec, doc, t.spec.key, "", leaves);
    // What the hosts will read back must be what was validated.
    EtcdContent back{"push", 0, {}};
    for (const auto& [k, v] : leaves) back.kvs.push_back({k, v, 1});
    SourceList names;
    if (!(etcd_layer(t.spec, false, back, o.limits, names) == doc)) {
      throw std::runtime_error("the keys would not read back as the files' content");
    }
  } catch (const std::exception& e) {
    std::cerr << "shmconfctl: " << e.what() << "; nothing pushed\n";
    return kExitFail;
  }
  EtcdClient client(t.spec, etcd_password(t.spec, SubstitutionContext::from_process()));
  const std::int64_t at = a.if_revision ? static_cast<std::int64_t>(*a.if_revision) : 0;
  const EtcdRange cur = client.range(t.spec.key, true, at);
  EtcdClient::PrefixTxn txn;
  txn.prefix = t.spec.key;
  txn.since = at != 0 ? at : cur.revision;
  std::size_t changed = 0;
  for (const EtcdKv& kv : cur.kvs) {
    txn.expect.emplace_back(kv.key, kv.mod_revision);
    const auto it = leaves.find(kv.key);
    if (it == leaves.end()) txn.deletes.push_back(kv.key);
    if (it != leaves.end() && it->second != kv.value) ++changed;
    if (it != leaves.end() && it->second == kv.value) leaves.erase(it);
  }
  const std::size_t added = leaves.size() - changed;
  for (auto& [k, v] : leaves) txn.puts.emplace_back(k, std::move(v));
  const std::string summary = "+" + std::to_string(added) + " ~" + std::to_string(changed) + " -" +
                              std::to_string(txn.deletes.size()) + " keys";
  nlohmann::json out = {
      {"namespace", o.name}, {"prefix", t.spec.key}, {"validated_against", txn.since},
      {"added", added},      {"changed", changed},   {"deleted", txn.deletes.size()}};
  if (a.dry_run || (txn.puts.empty() && txn.deletes.empty())) {
    out["pushed"] = false;
    std::cout << (a.json ? out.dump()
                         : o.name + ": valid; " + t.spec.key + " is at revision " +
                               std::to_string(txn.since) + " (" + summary + " to push)")
              << "\n";
    return 0;
  }
  const std::int64_t rev = client.txn(txn);
  if (rev == 0) {
    std::cerr << "shmconfctl: push refused: keys under " << t.spec.key << " changed since revision "
              << txn.since << " (someone else pushed); validate against them and push again\n";
    return kExitFail;
  }
  out["pushed"] = true;
  out["revision"] = rev;
  std::cout << (a.json ? out.dump()
                       : "pushed " + t.spec.key + " (" + summary + ") to " + client.endpoint() +
                             ": revision " + std::to_string(rev))
            << "\n";
  return 0;
}

}  // namespace shmconf::daemon::ctl
