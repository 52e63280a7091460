// shmconfctl's offline verbs: render, validate, schema-doc. They run the
// daemon's own parse, merge and check code on files; no daemon, no shared
// memory, nothing published.
#include "core/offline.hpp"

#include <filesystem>
#include <iostream>
#include <string>

#include "ctl/common.hpp"
#include "parse/parse.hpp"
#include "sources/sealed.hpp"
#include "validate/validate.hpp"

namespace shmconf::daemon::ctl {
namespace {

Value load_files(const std::vector<std::string>& files) {
  Value merged = Value::object();
  for (std::size_t i = 0; i < files.size(); ++i) {
    merge_into(merged, parse_file(files[i], static_cast<std::uint32_t>(i)));
  }
  return merged;
}

// A source per FILE argument: a file, a conf.d directory, or (with --env
// E, a directory holding E.yaml, .yml, .json or .toml) an environment
// overlay directory.
SourceSpec source_for(const std::string& f, const std::string& environment) {
  std::error_code ec;
  const std::string abs = std::filesystem::absolute(f, ec).string();
  SourceSpec spec = file_source(ec ? f : abs);
  if (std::filesystem::is_directory(spec.path, ec)) {
    spec.kind = SourceSpec::Kind::kDirectory;
    for (const char* ext : {".yaml", ".yml", ".json", ".toml"}) {
      if (!environment.empty() &&
          std::filesystem::is_regular_file(spec.path + "/" + environment + ext, ec)) {
        spec.kind = SourceSpec::Kind::kEnvironments;
      }
    }
  }
  return spec;
}

// Each namespace of the daemon configuration, exactly as shmconfd would
// load it; --env and --schema, when given, replace the file's.
int validate_config(const Args& a) {
  if (!a.files.empty()) {
    std::cerr << "shmconfctl: validate takes FILE... or --config, not both\n";
    return kExitUsage;
  }
  DaemonConfig config;
  (void)each_namespace(a, &config);
  const bool as_json = a.json || a.out_format == "json";
  bool valid = true;
  nlohmann::json reports = nlohmann::json::array();
  for (const auto& ns : config.namespaces) {
    if (!a.name.empty() && ns.options.name != a.name) continue;
    ServiceOptions o = ns.options;
    if (!a.environment.empty()) o.environment = a.environment;
    if (!a.schema_path.empty()) o.schema = a.schema_path;
    const ValidationReport report = validate_offline(o);
    valid = valid && report.valid;
    if (as_json) {
      nlohmann::json j = report.to_json();
      j["namespace"] = o.name;
      reports.push_back(std::move(j));
      continue;
    }
    for (const auto& e : report.errors) std::cerr << o.name << ": " << e.text() << "\n";
    for (const auto& w : report.warnings) std::cerr << o.name << ": warning: " << w.text() << "\n";
    std::cout << o.name << ": " << (report.valid ? "valid" : "INVALID") << "\n";
  }
  if (as_json)
    std::cout << nlohmann::json{{"valid", valid}, {"namespaces", reports}}.dump() << "\n";
  return valid ? 0 : kExitFail;
}

int validate_files(const Args& a) {
  if (a.files.empty()) {
    std::cerr << "shmconfctl: validate needs FILE... or --config FILE\n";
    return kExitUsage;
  }
  ServiceOptions o;
  o.name = "validate";
  for (const std::string& f : a.files) o.sources.push_back(source_for(f, a.environment));
  o.schema = a.schema_path;
  o.environment = a.environment;
  o.plaintext_secrets = a.secrets_policy == "allow"  ? SecretPolicy::kAllow
                        : a.secrets_policy == "warn" ? SecretPolicy::kWarn
                                                     : SecretPolicy::kError;
  o.guards.allow_empty = true;  // an empty file is valid offline; guards are the daemon's
  try {
    for (const std::string& k : a.sealing_keys)
      o.sealing_keys.insert(sealed::parse_sealing_key_flag(k));
  } catch (const std::invalid_argument& e) {
    std::cerr << "shmconfctl: " << e.what() << "\n";
    return kExitUsage;
  }
  const ValidationReport report = validate_offline(o);
  if (a.json || a.out_format == "json") {
    std::cout << report.to_json().dump() << "\n";
  } else {
    for (const auto& e : report.errors) std::cerr << e.text() << "\n";
    for (const auto& w : report.warnings) std::cerr << "warning: " << w.text() << "\n";
  }
  return report.valid ? 0 : kExitFail;
}

}  // namespace

int cmd_render(const Args& a) {
  try {
    Value merged = load_files(a.files);
    const nlohmann::json out =
        a.show_secrets ? nlohmann::json::parse(to_json(merged)) : SensitiveKeys().redact(merged);
    std::cout << out.dump(2) << "\n";
    return 0;
  } catch (const ConfigError& e) {
    std::cerr << e.what() << "\n";
    return kExitFail;
  }
}

int cmd_validate(const Args& a) {
  return a.config.empty() ? validate_files(a) : validate_config(a);
}

int cmd_schema_doc(const Args& a) {
  try {
    std::cout << schema_markdown(*Schema::load(a.schema_path));
    return 0;
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return kExitFail;
  }
}

}  // namespace shmconf::daemon::ctl
