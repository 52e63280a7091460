// The declared shape of feature flags (docs/FLAGS.md), checked before
// publish so every client evaluates a well-formed flag:
//
//   flags.NAME: {enabled: bool (required), percent: number 0..100,
//                allow: [string...], deny: [string...]}, NAME at most
//                kMaxFlagName (128) bytes
//
// Anything else under `flags` is an error at the value at fault
// ("file:line:col: flags.beta.percent: ..."), kind "flags".
#include "shmconf/flags.hpp"

#include <cmath>
#include <string>

#include "validate/validate.hpp"
#include "validate/validate_internal.hpp"

namespace shmconf::daemon {

namespace {

using validate_internal::issue_at;

constexpr const char* kKind = "flags";

void check_list(const Value& v, const SourceList& names, const std::string& path,
                std::vector<ValidationIssue>* out) {
  if (v.type != Type::kArray) {
    out->push_back(issue_at(kKind, v, names, path, "must be a list of subject ids (strings)"));
    return;
  }
  for (std::size_t i = 0; i < v.items.size(); ++i) {
    if (v.items[i].type != Type::kString) {
      out->push_back(issue_at(kKind, v.items[i], names, path + "[" + std::to_string(i) + "]",
                              "a subject id must be a string"));
    }
  }
}

void check_percent(const Value& v, const SourceList& names, const std::string& path,
                   std::vector<ValidationIssue>* out) {
  double p = 0;
  if (v.type == Type::kInt) {
    p = static_cast<double>(v.i);
  } else if (v.type == Type::kDouble) {
    p = v.d;
  } else {
    out->push_back(issue_at(kKind, v, names, path, "percent must be a number from 0 to 100"));
    return;
  }
  if (!(p >= 0.0 && p <= 100.0)) {
    out->push_back(issue_at(kKind, v, names, path, "percent must be from 0 to 100"));
  }
}

void check_flag(const std::string& name, const Value& flag, const SourceList& names,
                std::vector<ValidationIssue>* out) {
  const std::string path = "flags." + name;
  if (name.size() > kMaxFlagName) {
    out->push_back(issue_at(kKind, flag, names, path,
                            "a flag name is at most " + std::to_string(kMaxFlagName) + " bytes"));
    return;
  }
  if (flag.type != Type::kObject) {
    out->push_back(issue_at(kKind, flag, names, path,
                            "a flag must be a mapping {enabled, percent, allow, deny}"));
    return;
  }
  if (flag.fields.find("enabled") == flag.fields.end()) {
    out->push_back(issue_at(kKind, flag, names, path, "a flag needs 'enabled: true|false'"));
  }
  for (const auto& [field, v] : flag.fields) {
    const std::string at = path + "." + field;
    if (field == "enabled") {
      if (v.type != Type::kBool) out->push_back(issue_at(kKind, v, names, at, "must be a bool"));
    } else if (field == "percent") {
      check_percent(v, names, at, out);
    } else if (field == "allow" || field == "deny") {
      check_list(v, names, at, out);
    } else {
      out->push_back(issue_at(
          kKind, v, names, at,
          "unknown flag field '" + field + "' (a flag has enabled, percent, allow, deny)"));
    }
  }
}

}  // namespace

std::vector<ValidationIssue> check_flags(const Value& root, const SourceList& names) {
  std::vector<ValidationIssue> out;
  if (root.type != Type::kObject) return out;
  const auto it = root.fields.find("flags");
  if (it == root.fields.end()) return out;
  if (it->second.type != Type::kObject) {
    out.push_back(issue_at(kKind, it->second, names, "flags",
                           "'flags' must be a mapping from flag name to flag"));
    return out;
  }
  for (const auto& [name, flag] : it->second.fields) check_flag(name, flag, names, &out);
  return out;
}

}  // namespace shmconf::daemon
