// The first stages of a reload, as the orchestrator runs them: read and
// merge the sources (sources/, which parses each one with parse/), lay the
// runtime overrides on top, then validate (validate/). Also `explain`, which
// runs the same load with a trace of one key.
#include <chrono>
#include <memory>

#include "core/namespace_service.hpp"
#include "core/overrides.hpp"
#include "parse/parse.hpp"
#include "sources/sealed.hpp"

namespace shmconf::daemon {

Value NamespaceService::load_sources(SourceList* names, std::optional<Value>* templates,
                                     const std::string& trace_key,
                                     std::vector<Value>* trace) const {
  LoadedSources loaded;
  loaded.trace_key = trace_key;
  try {
    daemon::load_sources(opts_, substitution_context(), loaded, etcd_);
  } catch (...) {
    source_status_ = std::move(loaded.status);
    throw;
  }
  source_status_ = std::move(loaded.status);
  SourceList list = std::move(loaded.names);
  Value merged = std::move(loaded.merged);
  if (!overrides_.fields.empty()) {
    const auto idx = static_cast<std::uint32_t>(list.size());
    list.push_back("override");
    Value layer = override_layer(overrides_, idx);
    if (loaded.templates) merge_into(*loaded.templates, layer);
    trace_layer(loaded, layer);
    merge_into(merged, std::move(layer));
  }
  if (trace) *trace = std::move(loaded.trace);
  if (names) *names = std::move(list);
  if (templates) *templates = std::move(loaded.templates);
  return merged;
}

SubstitutionContext NamespaceService::substitution_context() const {
  return sealed::with_sealing_keys(SubstitutionContext::from_process(), opts_.sealing_keys);
}

Explanation NamespaceService::explain(const std::string& key) const {
  Explanation e;
  e.key = key;
  std::optional<Value> templates;
  const Value merged = load_sources(&e.names, &templates, key, &e.layers);
  if (live_) {
    const format::Node* n = live_->view.find(key);
    e.sensitive = n != nullptr && format::node_sensitive(*n);
  }
  // The sources as they are now may seal a value the live version does not.
  if (!e.sensitive && templates) e.sensitive = sealed_paths(*templates).count(key) > 0;
  if (!e.sensitive) {
    std::shared_ptr<const Schema> schema;
    try {
      if (!opts_.schema.empty()) schema = Schema::load(opts_.schema);
    } catch (const std::exception&) {
      // A broken schema: the built-in patterns still apply.
    }
    e.sensitive = SensitiveKeys(schema).collect(merged).count(key) > 0;
  }
  return e;
}

NamespaceService::Candidate NamespaceService::load_checked(bool force, bool secrets_in_build,
                                                           bool hash) const {
  const auto t0 = std::chrono::steady_clock::now();
  Candidate c;
  // The schema first: a broken schema file is its own error, whatever the
  // sources hold.
  if (!opts_.schema.empty()) c.schema = Schema::load(opts_.schema);
  const SensitiveKeys keys(c.schema);
  c.merged = load_sources(&c.names, &c.templates);
  c.load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // Plaintext secrets are judged on the strings as written, before any
  // ${...} substitution: a reference is not a plaintext secret.
  // Without substitution the build walk sees the strings as written and
  // marks the sensitive ones anyway: the check rides on it (publish_tree).
  c.secrets_in_build = secrets_in_build && !c.templates;
  std::vector<ValidationIssue> secrets;
  if (!c.secrets_in_build) {
    secrets = check_plaintext_secrets(c.templates ? *c.templates : c.merged, c.names, keys,
                                      opts_.plaintext_secrets);
  }
  std::vector<ValidationIssue> schema_errors;
  if (c.schema) schema_errors = c.schema->validate(c.merged, c.names);
  throw_if_errors(schema_errors);
  throw_if_errors(check_flags(c.merged, c.names));
  throw_if_errors(secrets);
  for (ValidationIssue& w : secrets) c.warnings.push_back(std::move(w));
  // A candidate identical to the live version publishes nothing, so the
  // guards have nothing to refuse (a version once forced stays quietly live).
  if (!hash) return c;
  c.hash = content_hash(c.merged);
  const bool same_as_live = live_ && c.hash == live_->view.header().content_hash;
  if (!force && !same_as_live) throw_if_errors(check_size_guards(c.merged, opts_.guards));
  c.guards_checked = true;
  return c;
}

}  // namespace shmconf::daemon
