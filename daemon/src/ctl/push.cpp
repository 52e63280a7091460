// shmconfctl push: validate a file offline as the namespace's etcd source,
// then write it to etcd in one transaction that compares the key's
// mod_revision with the one it validated against (docs/CLI.md "push").
#include "ctl/push.hpp"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "core/offline.hpp"

namespace shmconf::daemon::ctl {
namespace {

using Target = PushTarget;

// The namespace's etcd source that --key names (or its only one).
std::optional<Target> find_target(const ServiceOptions& o, const Args& a) {
  std::vector<Target> all;
  std::string keys;
  for (std::size_t i = 0; i < o.sources.size(); ++i) {
    if (o.sources[i].kind != SourceSpec::Kind::kEtcd) continue;
    keys += (keys.empty() ? "" : ", ") + o.sources[i].etcd.key;
    if (a.push_key.empty() || o.sources[i].etcd.key == a.push_key) {
      all.push_back({i, o.sources[i].etcd});
    }
  }
  if (all.size() == 1) return all.front();
  if (keys.empty()) {
    std::cerr << "shmconfctl: namespace " << o.name << " has no etcd source\n";
  } else if (all.empty()) {
    std::cerr << "shmconfctl: namespace " << o.name << " has no etcd source with key " << a.push_key
              << " (its etcd keys: " << keys << ")\n";
  } else {
    std::cerr << "shmconfctl: namespace " << o.name
              << " has several etcd sources; choose one with --key (" << keys << ")\n";
  }
  return std::nullopt;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  if (!in) throw std::runtime_error("cannot read " + path);
  return ss.str();
}

int push_document(const ServiceOptions& o, const Target& t, const Args& a) {
  if (a.files.size() != 1) {
    std::cerr << "shmconfctl: push to a document key takes one FILE\n";
    return kExitUsage;
  }
  std::error_code ec;
  const std::string file = std::filesystem::absolute(a.files.front(), ec).string();
  const auto key_format = t.spec.format ? t.spec.format : format_for_path(t.spec.key);
  if (format_for_path(file) != key_format) {
    std::cerr << "shmconfctl: " << file << " is not in the format of " << t.spec.key
              << " (give a file with the key's extension)\n";
    return kExitUsage;
  }
  const std::string bytes = read_all(file);
  EtcdClient client(t.spec, etcd_password(t.spec, SubstitutionContext::from_process()));
  const EtcdRange now = client.range(t.spec.key, false);
  const std::int64_t mod = now.kvs.empty() ? 0 : now.kvs.front().mod_revision;
  // The revision the push is validated against: --if-revision (what an
  // earlier --dry-run printed), else what etcd holds now.
  const std::int64_t expected = a.if_revision ? static_cast<std::int64_t>(*a.if_revision) : mod;
  if (!push_valid(o, t, {file}, a)) {
    std::cerr << o.name << ": INVALID; nothing pushed\n";
    return kExitFail;
  }
  nlohmann::json out = {
      {"namespace", o.name}, {"key", t.spec.key}, {"validated_against", expected}};
  if (a.dry_run) {
    out["pushed"] = false;
    std::cout << (a.json ? out.dump()
                         : o.name + ": valid; " + t.spec.key + " is at mod_revision " +
                               std::to_string(expected) + " (push --if-revision " +
                               std::to_string(expected) + ")")
              << "\n";
    return 0;
  }
  const std::int64_t rev = client.put_if(t.spec.key, bytes, expected);
  if (rev == 0) {
    const EtcdRange after = client.range(t.spec.key, false);
    const std::int64_t is = after.kvs.empty() ? 0 : after.kvs.front().mod_revision;
    std::cerr << "shmconfctl: push refused: " << t.spec.key << " changed since mod_revision "
              << expected << " (it is at " << is
              << " now: someone else pushed); validate against it and push again\n";
    return kExitFail;
  }
  out["pushed"] = true;
  out["revision"] = rev;
  std::cout << (a.json ? out.dump()
                       : "pushed " + t.spec.key + " to " + client.endpoint() + ": revision " +
                             std::to_string(rev))
            << "\n";
  return 0;
}

}  // namespace

bool push_valid(ServiceOptions o, const PushTarget& t, const std::vector<std::string>& files,
                const Args& a) {
  std::vector<SourceSpec> sources(o.sources.begin(), o.sources.begin() + t.index);
  for (const std::string& f : files) sources.push_back(file_source(f));
  sources.insert(sources.end(), o.sources.begin() + t.index + 1, o.sources.end());
  o.sources = std::move(sources);
  const ValidationReport report = validate_offline(o);
  if (!a.json) {
    for (const auto& e : report.errors) std::cerr << o.name << ": " << e.text() << "\n";
    for (const auto& w : report.warnings) std::cerr << o.name << ": warning: " << w.text() << "\n";
  }
  return report.valid;
}

int cmd_push(const Args& a) {
  if (a.config.empty()) {
    std::cerr << "shmconfctl: push needs --config FILE (the daemon configuration)\n";
    return kExitUsage;
  }
  try {
    const DaemonConfig config = load_daemon_config(a.config);
    const auto ns = std::find_if(config.namespaces.begin(), config.namespaces.end(),
                                 [&](const auto& n) { return n.options.name == a.name; });
    if (ns == config.namespaces.end()) {
      std::cerr << "shmconfctl: " << a.config << " has no namespace " << a.name << "\n";
      return kExitUsage;
    }
    auto target = find_target(ns->options, a);
    if (!target) return kExitUsage;
    if (!a.etcd_user.empty()) target->spec.user = a.etcd_user;
    if (!a.etcd_password_file.empty()) {
      std::error_code ec;
      target->spec.password =
          "${file:" + std::filesystem::absolute(a.etcd_password_file, ec).string() + "}";
    }
    if (target->spec.layout == EtcdSpec::Layout::kTree) return push_tree(ns->options, *target, a);
    return push_document(ns->options, *target, a);
  } catch (const EtcdError& e) {
    std::cerr << "shmconfctl: etcd: " << e.what() << "\n";
    return kExitUnreachable;
  } catch (const std::exception& e) {
    std::cerr << "shmconfctl: " << e.what() << "\n";
    return kExitFail;
  }
}

}  // namespace shmconf::daemon::ctl
