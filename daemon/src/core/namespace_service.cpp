#include "core/namespace_service.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "ops/log.hpp"
#include "publish/render.hpp"
#include "sources/templates.hpp"

namespace shmconf::daemon {
namespace {

constexpr std::size_t kMaxEvents = 200;
constexpr std::size_t kSummaryKeys = 10;

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

const char* change_name(format::Change c) {
  switch (c) {
    case format::Change::kAdded:
      return "added";
    case format::Change::kRemoved:
      return "removed";
    case format::Change::kChanged:
      return "changed";
  }
  return "?";
}

nlohmann::json summarize(const std::vector<KeyChange>& changes) {
  nlohmann::json s = {{"added", 0}, {"removed", 0}, {"changed", 0}};
  auto keys = nlohmann::json::array();
  for (const KeyChange& c : changes) {
    s[change_name(c.kind)] = s[change_name(c.kind)].get<int>() + 1;
    if (keys.size() < kSummaryKeys) keys.push_back(c.key);
  }
  s["keys"] = keys;
  return s;
}

nlohmann::json summarize(const SegmentView& v) {
  std::vector<KeyChange> changes;
  for (const auto& c : v.changed()) {
    changes.push_back(
        {std::string(v.str(c.key_off, c.key_len)), static_cast<format::Change>(c.kind)});
  }
  return summarize(changes);
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    const std::size_t dot = path.find('.', start);
    parts.push_back(path.substr(start, dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts;
}

}  // namespace

std::uint64_t wall_clock_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

void set_path(Value& root, const std::string& path, Value v) {
  Value* cur = &root;
  const auto parts = split_path(path);
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].empty() || parts[i].find_first_of("[]") != std::string::npos) {
      throw ConfigError("", 0, 0, path, "override keys are dotted object paths");
    }
    if (cur->type != Type::kObject) *cur = Value::object();
    if (i + 1 == parts.size()) {
      cur->fields[parts[i]] = std::move(v);
      return;
    }
    cur = &cur->fields[parts[i]];
  }
}

bool erase_path(Value& root, const std::string& path) {
  Value* cur = &root;
  const auto parts = split_path(path);
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    auto it = cur->fields.find(parts[i]);
    if (it == cur->fields.end() || it->second.type != Type::kObject) return false;
    cur = &it->second;
  }
  return cur->fields.erase(parts.back()) > 0;
}

nlohmann::json ReloadOutcome::to_json() const {
  nlohmann::json j = {{"ok", ok},           {"published", published},
                      {"version", version}, {"from_version", from_version},
                      {"message", message}, {"duration_ms", duration_ms}};
  if (!ok) j["error"] = error;
  if (!ok && !error_kind.empty()) j["code"] = error_kind;
  if (!warnings.empty()) j["warnings"] = warnings;
  auto keys = nlohmann::json::array();
  for (const KeyChange& c : changes)
    keys.push_back({{"key", c.key}, {"change", change_name(c.kind)}});
  j["changes"] = keys;
  return j;
}

NamespaceService::NamespaceService(ServiceOptions options)
    : opts_(std::move(options)), store_(opts_.state_dir, opts_.name) {}

NamespaceService::~NamespaceService() { (void)flush_state(); }

void NamespaceService::start() {
  publisher_ = std::make_unique<Publisher>(opts_.prefix, opts_.name, opts_.access);
  nlohmann::json state;
  try {
    state = store_.load();
  } catch (const std::exception& e) {
    spdlog::error("state directory {}: state.json unreadable, starting without history: {}",
                  store_.dir(), e.what());
    state = nlohmann::json::object();
  }
  if (state.contains("overrides") && state["overrides"].is_object()) {
    // Overrides are stored as canonical JSON text and parsed like a source.
    overrides_ = parse_text(state["overrides"].dump(), Format::kJson, "state.json overrides",
                            format::kNoSource, opts_.limits);
  }
  next_version_ = std::max<std::uint64_t>(1, state.value("next_version", std::uint64_t{1}));
  last_source_hash_ = state.value("last_source_hash", std::uint64_t{0});
  rolled_back_ = state.value("rolled_back", false);
  if (state.contains("events")) {
    for (const auto& e : state["events"]) events_.push_back(e);
  }

  adopt_from_shm();
  if (live_ && publisher_->adopted()) {
    // The control block is newer than a state.json that a daemon killed
    // between a flip and its state write left behind. Every publish takes a
    // number above max_version, so a live version below it was made live by
    // a rollback; a live version the state did not know was published.
    if (live_->version() < publisher_->max_version()) {
      rolled_back_ = true;
    } else if (live_->version() != state.value("live_version", std::uint64_t{0})) {
      rolled_back_ = false;
    }
  }
  restore_from_state(state);
  // A daemon killed between a flip and its state write left a version in
  // shared memory that the state directory lacks: flush_state() below saves
  // it, or after a reboot an older version would be restored as the last
  // good one. Never its resolved bytes when its strings were substituted.
  for (Retained& r : retained_) {
    if (r.persisted || !store_.enabled()) continue;
    if (store_.has_segment(r.version)) {
      r.persisted = true;
    } else if (store_.template_pending(r.version) || !r.substituted.empty()) {
      spdlog::warn(
          "state directory {}: version {} holds substituted strings and its template was not "
          "saved before the daemon stopped; it is served but not persisted (after a reboot an "
          "earlier version is restored)",
          store_.dir(), r.version);
      r.persisted = true;  // nothing that may be written
    }
  }
  for (const Retained& r : retained_) next_version_ = std::max(next_version_, r.version + 1);
  if (publisher_) next_version_ = std::max(next_version_, publisher_->max_version() + 1);

  // Orphans: segments of ours that are neither retained nor live (a daemon
  // that died between creating a segment and flipping to it).
  for (std::uint64_t id : publisher_->list_segments()) {
    const bool known = std::any_of(retained_.begin(), retained_.end(),
                                   [&](const Retained& r) { return r.segment->id == id; });
    if (!known) {
      spdlog::info("removing orphan segment {} of namespace {}", id, opts_.name);
      publisher_->unlink(id);
    }
  }
  state_dirty_ = true;
  (void)flush_state();
}

void NamespaceService::adopt_from_shm() {
  const detail::Record rec = publisher_->live();
  for (std::uint64_t id : publisher_->list_segments()) {
    std::string why;
    auto seg = publisher_->adopt(id, &why);
    if (!seg) {
      spdlog::warn("segment {} of namespace {} is unusable ({}); removing it", id, opts_.name, why);
      publisher_->unlink(id);
      continue;
    }
    // A segment newer than every version ever made live was never flipped
    // to: an orphan. (After a rollback the newer retained ones stay.) With
    // no record (nothing published yet, or torn by a daemon that died
    // mid-flip) max_version still bounds what readers can have seen; only a
    // block written before that field existed, with a torn record, gives no
    // bound, and then everything is kept.
    const std::uint64_t newest = std::max(rec.version, publisher_->max_version());
    const bool bounded = newest != 0 || publisher_->generation() == 0;
    if (bounded && seg->version() > newest && id != rec.segment_id) continue;
    if (find(seg->version()) != nullptr) continue;
    Retained r;
    r.version = seg->version();
    r.time_ns = seg->view.header().publish_time_ns;
    r.trigger = std::string(seg->view.trigger());
    r.content_hash = seg->view.header().content_hash;
    r.summary = summarize(seg->view);
    r.segment = seg;
    if (id == rec.segment_id) live_ = seg;
    retain(std::move(r));
  }
  if (live_) {
    ops::log_info("adopted", {{"namespace", opts_.name},
                              {"version", live_->version()},
                              {"content_hash", hex64(live_->view.header().content_hash)},
                              {"generation", publisher_->generation()},
                              {"retained", retained_.size()},
                              {"trigger", "startup"}});
  }
}

void NamespaceService::restore_from_state(const nlohmann::json& state) {
  if (!state.contains("versions")) return;
  for (const auto& v : state["versions"]) {
    const std::uint64_t version = v.value("version", std::uint64_t{0});
    if (version == 0) continue;
    if (const Retained* have = find(version)) {
      // Adopted from shared memory; keep the richer metadata from disk.
      const_cast<Retained*>(have)->trigger = v.value("trigger", have->trigger);
      const_cast<Retained*>(have)->substituted = v.value("substituted", std::vector<std::string>());
      continue;
    }
    const auto substituted = v.value("substituted", std::vector<std::string>());
    auto bytes =
        substituted.empty() ? store_.load_segment(version) : store_.load_template_segment(version);
    if (!bytes) continue;
    try {
      Retained r;
      if (!substituted.empty()) {
        // Resolve the references again; the template text never reaches
        // shared memory. A reference that no longer resolves skips this
        // version, and an earlier one is restored instead.
        const SegmentView* previous = retained_.empty() ? nullptr : &retained_.back().segment->view;
        const auto resolved = resolve_template_segment(*bytes, substituted, previous,
                                                       SubstitutionContext::from_process());
        r.segment = publisher_->create(std::span(resolved.data(), resolved.size()));
        r.substituted = substituted;
      } else {
        r.segment = publisher_->create(
            std::span(reinterpret_cast<const std::byte*>(bytes->data()), bytes->size()));
      }
      if (r.segment->version() != version) throw std::runtime_error("version mismatch");
      r.version = version;
      r.time_ns = v.value("time_ns", std::uint64_t{0});
      r.trigger = v.value("trigger", std::string());
      r.content_hash = r.segment->view.header().content_hash;
      r.summary = v.value("summary", nlohmann::json::object());
      r.persisted = true;  // read from the state directory
      retain(std::move(r));
    } catch (const std::exception& e) {
      spdlog::warn("state: version {} not restored: {}", version, e.what());
    }
  }
  if (!live_ && !retained_.empty()) {
    // After a reboot (empty /dev/shm) or with a control block whose record
    // is gone: serve the last good version before reading any source.
    const std::uint64_t want = state.value("live_version", std::uint64_t{0});
    const Retained* r = find(want);
    if (r == nullptr) r = &retained_.back();
    const auto t0 = std::chrono::steady_clock::now();
    publisher_->flip(*r->segment);
    live_ = r->segment;
    ops::log_info("restored", {{"namespace", opts_.name},
                               {"version", r->version},
                               {"content_hash", hex64(r->content_hash)},
                               {"trigger", "startup"},
                               {"state_dir", store_.dir()},
                               {"duration_ms", ms_since(t0)}});
    record_event({{"event", "restore"}, {"version", r->version}, {"time_ns", wall_clock_ns()}});
  }
}

const NamespaceService::Retained* NamespaceService::find(std::uint64_t version) const {
  for (const Retained& r : retained_) {
    if (r.version == version) return &r;
  }
  return nullptr;
}

void NamespaceService::retain(Retained r) {
  retained_.push_back(std::move(r));
  std::sort(retained_.begin(), retained_.end(),
            [](const Retained& a, const Retained& b) { return a.version < b.version; });
  // Keep the live one plus `keep` others, dropping the oldest first.
  while (retained_.size() > opts_.keep + 1u) {
    auto victim = retained_.begin();
    if (live_ && victim->segment == live_) ++victim;
    publisher_->unlink(victim->segment->id);
    dropped_.push_back(victim->version);  // its files go at the next flush_state()
    retained_.erase(victim);
  }
}

void NamespaceService::record_event(nlohmann::json event) {
  events_.push_back(std::move(event));
  while (events_.size() > kMaxEvents) events_.pop_front();
}

std::optional<double> NamespaceService::flush_state() noexcept {
  if (!state_dirty_ && dropped_.empty()) return std::nullopt;
  const auto t0 = std::chrono::steady_clock::now();
  try {
    if (store_.enabled()) {
      for (std::uint64_t v : dropped_) store_.remove_segment(v);
      for (Retained& r : retained_) {
        if (!r.persisted) save_version(r);
      }
      write_state();
    }
    for (Retained& r : retained_) r.persisted = true;
  } catch (const std::exception& e) {
    spdlog::error("state directory {}: {}", store_.dir(), e.what());
  } catch (...) {
    spdlog::error("state directory {}: unknown error", store_.dir());
  }
  dropped_.clear();
  state_dirty_ = false;
  return ms_since(t0) / 1000.0;
}

void NamespaceService::save_version(Retained& r) {
  try {
    if (r.pending_template) {
      // The snapshot as written (references unresolved), never these bytes.
      const Retained::PendingTemplate& t = *r.pending_template;
      BuildInput in;
      in.root = &t.tree;
      in.sources = &t.names;
      in.version = r.version;
      in.publish_time_ns = r.time_ns;
      in.content_hash = r.content_hash;
      in.trigger = r.trigger;
      in.previous = t.previous ? &t.previous->view : nullptr;
      in.sensitive = &t.sensitive;
      store_.save_template_segment(r.version, build_segment(in));
    } else if (r.substituted.empty()) {
      store_.save_segment(r.version, std::span(static_cast<const std::byte*>(r.segment->map.data()),
                                               r.segment->size()));
    }
  } catch (const std::exception& e) {
    spdlog::error("state directory {}: cannot save version {}: {}", store_.dir(), r.version,
                  e.what());
  }
  r.pending_template.reset();
  r.persisted = true;
}

void NamespaceService::write_state() {
  nlohmann::json versions = nlohmann::json::array();
  for (const Retained& r : retained_) {
    versions.push_back({{"version", r.version},
                        {"time_ns", r.time_ns},
                        {"trigger", r.trigger},
                        {"content_hash", r.content_hash},
                        {"summary", r.summary}});
    if (!r.substituted.empty()) versions.back()["substituted"] = r.substituted;
  }
  nlohmann::json state = {{"format", 1},
                          {"namespace", opts_.name},
                          {"next_version", next_version_},
                          {"live_version", live_version()},
                          {"last_source_hash", last_source_hash_},
                          {"rolled_back", rolled_back_},
                          {"overrides", nlohmann::json::parse(to_json(overrides_))},
                          {"versions", versions},
                          {"events", nlohmann::json(events_)}};
  try {
    store_.save(state);
  } catch (const std::exception& e) {
    // The publish already happened; losing state.json loses history, not
    // the live config. Say so loudly.
    spdlog::error("state directory {}: cannot save state: {}", store_.dir(), e.what());
  }
}

Value NamespaceService::load_sources(SourceList* names, std::optional<Value>* templates,
                                     const std::string& trace_key,
                                     std::vector<Value>* trace) const {
  LoadedSources loaded;
  loaded.trace_key = trace_key;
  try {
    daemon::load_sources(opts_, SubstitutionContext::from_process(), loaded);
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
    // Re-tag the override layer's origins with its source index.
    Value layer = overrides_;
    std::vector<Value*> stack{&layer};
    while (!stack.empty()) {
      Value* v = stack.back();
      stack.pop_back();
      v->origin = Origin{idx, 0, 0};
      for (auto& [k, c] : v->fields) stack.push_back(&c);
      for (auto& c : v->items) stack.push_back(&c);
    }
    if (loaded.templates) merge_into(*loaded.templates, layer);
    trace_layer(loaded, layer);
    merge_into(merged, std::move(layer));
  }
  if (trace) *trace = std::move(loaded.trace);
  if (names) *names = std::move(list);
  if (templates) *templates = std::move(loaded.templates);
  return merged;
}

nlohmann::json NamespaceService::explain(const std::string& key, bool show_secrets) const {
  SourceList names;
  std::vector<Value> trace;
  const Value merged = load_sources(&names, nullptr, key, &trace);
  bool sensitive = false;
  if (live_) {
    const auto* slot = live_->view.find(key);
    sensitive = slot && (live_->view.node(slot->node).flags & format::kNodeSensitive) != 0;
  }
  if (!sensitive) {
    std::shared_ptr<const Schema> schema;
    try {
      if (!opts_.schema.empty()) schema = Schema::load(opts_.schema);
    } catch (const std::exception&) {
      // A broken schema: the built-in patterns still apply.
    }
    sensitive = SensitiveKeys(schema).collect(merged).count(key) > 0;
  }
  auto layers = nlohmann::json::array();
  for (const Value& v : trace) {
    nlohmann::json l;
    l["source"] = v.origin.source < names.size() ? names[v.origin.source] : "?";
    if (v.origin.line != 0) {
      l["line"] = v.origin.line;
      l["column"] = v.origin.column;
    }
    if (v.type == Type::kNull) {
      l["deleted"] = true;
    } else {
      l["value"] = sensitive && !show_secrets ? nlohmann::json(kRedactedValue)
                                              : nlohmann::json::parse(to_json(v));
    }
    layers.push_back(std::move(l));
  }
  return {{"key", key}, {"sensitive", sensitive}, {"layers", std::move(layers)}};
}

NamespaceService::Candidate NamespaceService::load_checked(bool force) const {
  const auto t0 = std::chrono::steady_clock::now();
  Candidate c;
  // The schema first: a broken schema file is its own error, whatever the
  // sources hold.
  if (!opts_.schema.empty()) c.schema = Schema::load(opts_.schema);
  const SensitiveKeys keys(c.schema);
  c.merged = load_sources(&c.names, &c.templates);
  c.load_seconds = ms_since(t0) / 1000.0;
  // Plaintext secrets are judged on the strings as written, before any
  // ${...} substitution: a reference is not a plaintext secret.
  std::vector<ValidationIssue> secrets = check_plaintext_secrets(
      c.templates ? *c.templates : c.merged, c.names, keys, opts_.plaintext_secrets);
  std::vector<ValidationIssue> schema_errors;
  if (c.schema) schema_errors = c.schema->validate(c.merged, c.names);
  throw_if_errors(schema_errors);
  throw_if_errors(secrets);
  for (ValidationIssue& w : secrets) c.warnings.push_back(std::move(w));
  // A candidate identical to the live version publishes nothing, so the
  // guards have nothing to refuse (a version once forced stays quietly live).
  const bool same_as_live = live_ && content_hash(c.merged) == live_->view.header().content_hash;
  if (!force && !same_as_live) throw_if_errors(check_size_guards(c.merged, opts_.guards));
  return c;
}

ReloadOutcome NamespaceService::reload(const std::string& trigger, bool force) {
  const auto t0 = std::chrono::steady_clock::now();
  ReloadOutcome out;
  out.from_version = live_version();
  std::vector<std::string> warnings;
  // Load and validate; publish_tree adds its own stages.
  std::vector<std::pair<std::string, double>> stages;
  std::uint64_t attempted_hash = 0;
  force_ = force;
  try {
    Candidate cand = load_checked(force);
    stages = {{"load", cand.load_seconds}, {"validate", ms_since(t0) / 1000.0 - cand.load_seconds}};
    sensitive_ = SensitiveKeys(cand.schema);
    for (const ValidationIssue& w : cand.warnings) {
      warnings.push_back(w.text());
      ops::log_warn("reload warning",
                    {{"namespace", opts_.name}, {"kind", w.kind}, {"warning", w.text()}});
    }
    const SourceList& names = cand.names;
    const Value& merged = cand.merged;
    templates_ = std::move(cand.templates);
    const std::uint64_t hash = content_hash(merged);
    attempted_hash = hash;
    if (live_ && hash == live_->view.header().content_hash) {
      out.ok = true;
      out.message =
          "unchanged: content identical to live version " + std::to_string(live_version());
      last_source_hash_ = hash;
    } else if (live_ && rolled_back_ && hash == last_source_hash_) {
      out.ok = true;
      out.message = "sources unchanged since the rollback to version " +
                    std::to_string(live_version()) + "; the rollback stays";
    } else {
      out = publish_tree(merged, names, trigger, hash);
    }
  } catch (const ValidationFailure& e) {
    out.ok = false;
    out.error = e.what();
    out.error_kind = e.kind();
  } catch (const SourceError& e) {
    out.ok = false;
    out.error = e.what();
    out.error_kind = e.kind();
  } catch (const ConfigError& e) {
    out.ok = false;
    out.error = e.what();
  } catch (const std::exception& e) {
    out.ok = false;
    out.error = e.what();
  }
  force_ = false;
  templates_.reset();
  out.warnings = std::move(warnings);
  out.version = live_version();
  out.duration_ms = ms_since(t0);
  out.source_hash = attempted_hash;
  stages.insert(stages.end(), out.stages.begin(), out.stages.end());
  stages.emplace_back("total", out.duration_ms / 1000.0);
  out.stages = std::move(stages);
  if (!out.ok) {
    ++reloads_failed_;
    ++rejections_by_kind_[out.error_kind.empty() ? "other" : out.error_kind];
    out.message = "rejected; live version " + std::to_string(live_version()) + " unchanged";
    ops::log_error("reload rejected",
                   {{"namespace", opts_.name},
                    {"trigger", trigger},
                    {"version", live_version()},
                    {"content_hash", live_ ? hex64(live_->view.header().content_hash) : ""},
                    {"source_hash", attempted_hash != 0 ? hex64(attempted_hash) : ""},
                    {"kind", out.error_kind.empty() ? "other" : out.error_kind},
                    {"error", out.error},
                    {"duration_ms", out.duration_ms}});
    record_event({{"event", "rejected"},
                  {"trigger", trigger},
                  {"version", live_version()},
                  {"error", out.error},
                  {"time_ns", wall_clock_ns()}});
    state_dirty_ = true;
  } else {
    ++reloads_ok_;
    ops::log_info(out.published ? "reload published" : "reload unchanged",
                  {{"namespace", opts_.name},
                   {"trigger", trigger},
                   {"version", live_version()},
                   {"from_version", out.from_version},
                   {"content_hash", live_ ? hex64(live_->view.header().content_hash) : ""},
                   {"changed_keys", out.changes.size()},
                   {"duration_ms", out.duration_ms}});
  }
  last_reload_ = {{"ok", out.ok},
                  {"trigger", trigger},
                  {"time_ns", wall_clock_ns()},
                  {"version", out.version},
                  {"published", out.published},
                  {"message", out.message},
                  {"error", out.ok ? nlohmann::json(nullptr) : nlohmann::json(out.error)},
                  {"error_kind", out.ok ? nlohmann::json(nullptr) : nlohmann::json(out.error_kind)},
                  {"warnings", out.warnings},
                  {"duration_ms", out.duration_ms}};
  return out;
}

ReloadOutcome NamespaceService::publish_tree(const Value& root, const SourceList& names,
                                             const std::string& trigger,
                                             std::uint64_t source_hash) {
  const auto t_build = std::chrono::steady_clock::now();
  ReloadOutcome out;
  out.from_version = live_version();
  BuildInput in;
  in.root = &root;
  in.sources = &names;
  in.version = next_version_;
  in.publish_time_ns = wall_clock_ns();
  in.content_hash = content_hash(root);
  in.trigger = trigger;
  in.previous = live_ ? &live_->view : nullptr;
  const std::set<std::string> sensitive = sensitive_.collect(root);
  in.sensitive = &sensitive;
  SnapshotBuilder builder(in);
  if (!force_ && live_) {
    throw_if_errors(
        check_change_guard(builder.changes().size(), count_leaves(live_->view), opts_.guards));
  }
  Retained r;
  r.segment = publisher_->create(builder);
  r.version = in.version;
  r.time_ns = in.publish_time_ns;
  r.trigger = trigger;
  r.content_hash = in.content_hash;
  // The version number is spent before the flip: flip() raises the control
  // block's max_version before it touches the record, and start() numbers
  // above max_version, so a restarted daemon never reuses it.
  ++next_version_;
  // A version holding substituted strings may reach the disk only as its
  // template, which flush_state() builds after the reply. An empty marker
  // (no fsync) tells start() not to save the resolved bytes of a version a
  // killed daemon left in shared memory unsaved.
  if (templates_ && store_.enabled()) {
    try {
      store_.mark_template_pending(r.version);
    } catch (const std::exception& e) {
      spdlog::error("state directory {}: {}", store_.dir(), e.what());
    }
  }
  const std::shared_ptr<Segment> was = live_;
  const auto t_flip = std::chrono::steady_clock::now();
  out.stages.emplace_back("build", std::chrono::duration<double>(t_flip - t_build).count());
  publisher_->flip(*r.segment);
  out.stages.emplace_back("publish", ms_since(t_flip) / 1000.0);
  // Clients see the new version from here on; what follows is bookkeeping
  // for the reply and the history. The state directory is written by
  // flush_state(), after the reply.
  live_ = r.segment;
  last_source_hash_ = source_hash;
  rolled_back_ = false;
  r.summary = summarize(builder.changes());
  if (templates_) {
    r.substituted = substituted_paths(root, *templates_);
    if (!r.substituted.empty() && store_.enabled()) {
      r.pending_template = std::make_shared<Retained::PendingTemplate>(
          Retained::PendingTemplate{std::move(*templates_), names, sensitive, was});
    }
  }
  record_event({{"event", "publish"},
                {"trigger", trigger},
                {"version", r.version},
                {"from", out.from_version},
                {"time_ns", r.time_ns},
                {"summary", r.summary}});
  retain(std::move(r));
  state_dirty_ = true;
  out.ok = true;
  out.published = true;
  out.version = live_version();
  out.changes = builder.changes();
  out.message = "published version " + std::to_string(out.version);
  return out;
}

ReloadOutcome NamespaceService::rollback(std::optional<unsigned> steps,
                                         std::optional<std::uint64_t> to_version,
                                         const std::string& who) {
  const auto t0 = std::chrono::steady_clock::now();
  ReloadOutcome out;
  out.from_version = live_version();
  const Retained* target = nullptr;
  if (to_version) {
    target = find(*to_version);
    if (target == nullptr)
      out.error = "version " + std::to_string(*to_version) + " is not retained";
  } else {
    const unsigned n = steps.value_or(1);
    auto it = std::find_if(retained_.begin(), retained_.end(),
                           [&](const Retained& r) { return r.segment == live_; });
    const auto pos = static_cast<std::size_t>(it - retained_.begin());
    if (it == retained_.end() || n == 0 || pos < n) {
      out.error = "cannot roll back " + std::to_string(n) +
                  " step(s): " + std::to_string(it == retained_.end() ? 0 : pos) +
                  " earlier version(s) retained";
    } else {
      target = &retained_[pos - n];
    }
  }
  if (target == nullptr) {
    out.version = live_version();
    out.message = "rollback refused";
    out.duration_ms = ms_since(t0);
    ops::log_warn("rollback refused", {{"namespace", opts_.name},
                                       {"trigger", "rollback"},
                                       {"by", who},
                                       {"version", live_version()},
                                       {"error", out.error},
                                       {"duration_ms", out.duration_ms}});
    return out;
  }
  out = make_live(*target, "rollback", who, true, t0);
  ++rollbacks_;
  ops::log_info("rollback", {{"namespace", opts_.name},
                             {"trigger", "rollback"},
                             {"by", who},
                             {"from_version", out.from_version},
                             {"version", out.version},
                             {"content_hash", hex64(target->content_hash)},
                             {"duration_ms", out.duration_ms}});
  return out;
}

ReloadOutcome NamespaceService::make_live(const Retained& r, const std::string& trigger,
                                          const std::string& who, bool rollback,
                                          std::chrono::steady_clock::time_point t0) {
  ReloadOutcome out;
  out.from_version = live_version();
  // No parse, no copy: the retained segment is already checked and mapped.
  // Flip first: the diff is O(keys) (80 ms for 350k keys in bench/) and only
  // feeds the reply and the audit log, so clients do not wait for it.
  const std::shared_ptr<Segment> was = live_;
  publisher_->flip(*r.segment);
  // What clients wait for ends here; the diff below is for the reply, and
  // the state directory follows the reply (flush_state()).
  out.duration_ms = ms_since(t0);
  live_ = r.segment;
  if (was && was != r.segment) {
    for (const SegmentChange& c : diff_segments(was->view, r.segment->view)) {
      out.changes.push_back({std::string(c.key), c.kind});
    }
  }
  rolled_back_ = rollback;
  record_event({{"event", trigger},
                {"by", who},
                {"from", out.from_version},
                {"version", r.version},
                {"time_ns", wall_clock_ns()}});
  state_dirty_ = true;  // state.json follows the reply (flush_state())
  out.ok = true;
  out.published = true;
  out.version = r.version;
  out.message = "version " + std::to_string(r.version) + " is live";
  return out;
}

ReloadOutcome NamespaceService::set_override(const std::string& key, const Value& value,
                                             const std::string& who) {
  Value saved = overrides_;
  try {
    set_path(overrides_, key, value);
  } catch (const std::exception& e) {
    ReloadOutcome out;
    out.error = e.what();
    out.from_version = out.version = live_version();  // unchanged: audited as such
    return out;
  }
  ReloadOutcome out = reload("override set " + key + " by " + who);
  if (!out.ok) overrides_ = std::move(saved);  // a rejected override is not kept
  state_dirty_ = true;
  return out;
}

ReloadOutcome NamespaceService::unset_override(const std::string& key, const std::string& who) {
  Value saved = overrides_;
  if (!erase_path(overrides_, key)) {
    ReloadOutcome out;
    out.error = "no override for " + key;
    out.from_version = out.version = live_version();  // unchanged: audited as such
    return out;
  }
  ReloadOutcome out = reload("override unset " + key + " by " + who);
  if (!out.ok) overrides_ = std::move(saved);
  state_dirty_ = true;
  return out;
}

nlohmann::json NamespaceService::status(bool show_secrets) const {
  nlohmann::json j;
  j["namespace"] = opts_.name;
  j["prefix"] = opts_.prefix;
  j["live_version"] = live_version();
  j["generation"] = publisher_ ? publisher_->generation() : 0;
  if (live_) {
    const auto& h = live_->view.header();
    j["content_hash"] = hex64(h.content_hash);
    j["segment_id"] = live_->id;
    j["segment_bytes"] = h.segment_size;
    j["keys"] = h.node_count - 1;
    j["publish_time_ns"] = h.publish_time_ns;
  }
  j["rolled_back"] = rolled_back_;
  j["retained"] = retained_.size();
  auto sources = nlohmann::json::array();
  for (const SourceSpec& spec : opts_.sources) {
    sources.push_back(spec.kind == SourceSpec::Kind::kEnvVars ? "env:" + spec.prefix : spec.path);
  }
  j["sources"] = std::move(sources);
  // Health of each source at the last reload attempt (same order as
  // "sources"; empty before the first).
  auto health = nlohmann::json::array();
  for (const SourceStatus& h : source_status_) {
    health.push_back({{"name", h.name}, {"ok", h.ok}, {"error", h.error}});
  }
  j["source_health"] = std::move(health);
  j["state_dir"] = store_.dir();
  j["last_reload"] = last_reload_.is_null() ? nlohmann::json(nullptr) : last_reload_;
  j["reloads_ok"] = reloads_ok_;
  j["reloads_failed"] = reloads_failed_;
  j["rollbacks"] = rollbacks_;
  j["uptime_s"] =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  j["overrides"] =
      show_secrets ? nlohmann::json::parse(to_json(overrides_)) : sensitive_.redact(overrides_);
  j["rejections_by_kind"] = rejections_by_kind_;
  return j;
}

nlohmann::json NamespaceService::history() const {
  nlohmann::json versions = nlohmann::json::array();
  for (auto it = retained_.rbegin(); it != retained_.rend(); ++it) {
    versions.push_back({{"version", it->version},
                        {"live", it->segment == live_},
                        {"time_ns", it->time_ns},
                        {"trigger", it->trigger},
                        {"content_hash", hex64(it->content_hash)},
                        {"summary", it->summary}});
  }
  return {{"versions", versions}, {"events", nlohmann::json(events_)}};
}

nlohmann::json NamespaceService::diff(std::uint64_t a, std::uint64_t b, bool show_secrets) const {
  const Retained* ra = find(a);
  const Retained* rb = find(b);
  if (ra == nullptr || rb == nullptr) {
    throw std::runtime_error("version " + std::to_string(ra == nullptr ? a : b) +
                             " is not retained");
  }
  nlohmann::json changes = nlohmann::json::array();
  for (const SegmentChange& c : diff_segments(ra->segment->view, rb->segment->view)) {
    nlohmann::json e = {{"key", std::string(c.key)}, {"change", change_name(c.kind)}};
    const RenderOptions ro{show_secrets};
    if (c.from_node) e["old"] = node_to_json(ra->segment->view, *c.from_node, ro);
    if (c.to_node) e["new"] = node_to_json(rb->segment->view, *c.to_node, ro);
    changes.push_back(std::move(e));
  }
  return {{"from", a}, {"to", b}, {"changes", changes}};
}

}  // namespace shmconf::daemon
