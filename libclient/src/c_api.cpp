// The C ABI: the only extern "C" file. Thin wrappers over the C++ API.
#include <cstddef>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "client_impl.hpp"
#include "shmconf/client.hpp"
#include "shmconf/shmconf.h"

struct shmconf_client {
  shmconf::Client client;
};
struct shmconf_snapshot {
  shmconf::Snapshot snap;
};
struct shmconf_subscription {
  shmconf::Client::Subscription sub;
};

namespace {

int code(shmconf::Errc e) noexcept { return static_cast<int>(e); }

static_assert(static_cast<int>(shmconf::Errc::kNotFound) == SHMCONF_E_NOT_FOUND);
static_assert(static_cast<int>(shmconf::Errc::kWrongType) == SHMCONF_E_WRONG_TYPE);
static_assert(static_cast<int>(shmconf::Errc::kNoSnapshot) == SHMCONF_E_NO_SNAPSHOT);
static_assert(static_cast<int>(shmconf::Errc::kNoNamespace) == SHMCONF_E_NO_NAMESPACE);
static_assert(static_cast<int>(shmconf::Errc::kPermission) == SHMCONF_E_PERMISSION);
static_assert(static_cast<int>(shmconf::Errc::kCorrupt) == SHMCONF_E_CORRUPT);
static_assert(static_cast<int>(shmconf::Errc::kVersion) == SHMCONF_E_VERSION);
static_assert(static_cast<int>(shmconf::Errc::kBusy) == SHMCONF_E_BUSY);
static_assert(static_cast<int>(shmconf::Errc::kTimeout) == SHMCONF_E_TIMEOUT);
static_assert(static_cast<int>(shmconf::Errc::kRange) == SHMCONF_E_RANGE);
static_assert(static_cast<int>(shmconf::Errc::kInvalid) == SHMCONF_E_INVALID);
static_assert(static_cast<int>(shmconf::Errc::kSystem) == SHMCONF_E_SYSTEM);
static_assert(static_cast<int>(shmconf::Errc::kNoMemory) == SHMCONF_E_NOMEM);
static_assert(static_cast<int>(shmconf::Type::kObject) == SHMCONF_TYPE_OBJECT);
static_assert(static_cast<int>(shmconf::format::Change::kAdded) == SHMCONF_CHANGE_ADDED);
static_assert(static_cast<int>(shmconf::format::Change::kRemoved) == SHMCONF_CHANGE_REMOVED);
static_assert(static_cast<int>(shmconf::format::Change::kChanged) == SHMCONF_CHANGE_CHANGED);

}  // namespace

extern "C" {

int shmconf_open_prefix(const char* name, const char* prefix, shmconf_client** out) {
  if (name == nullptr || out == nullptr) return SHMCONF_E_INVALID;
  shmconf::ClientOptions opts;
  if (prefix != nullptr) opts.prefix = prefix;
  auto r = shmconf::Client::try_open(name, opts);
  if (!r) return code(r.error());
  auto* c = new (std::nothrow) shmconf_client{std::move(*r)};
  if (c == nullptr) return SHMCONF_E_NOMEM;
  *out = c;
  return 0;
}

int shmconf_open_with(const char* name, const shmconf_open_options* opts, shmconf_client** out) {
  if (name == nullptr || out == nullptr) return SHMCONF_E_INVALID;
  shmconf::ClientOptions o;
  if (opts != nullptr) {
    // Fields past the caller's size are left at their defaults; bytes past
    // ours must be zero (copy_struct_from_user's rule, for the same reason).
    const std::size_t size = opts->size;
    if (size < sizeof(std::size_t)) return SHMCONF_E_INVALID;
    const auto* bytes = reinterpret_cast<const unsigned char*>(opts);
    for (std::size_t i = sizeof(shmconf_open_options); i < size; ++i) {
      if (bytes[i] != 0) return SHMCONF_E_INVALID;
    }
    auto has = [size](std::size_t offset, std::size_t len) { return size >= offset + len; };
    if (has(offsetof(shmconf_open_options, prefix), sizeof opts->prefix) && opts->prefix) {
      o.prefix = opts->prefix;
    }
    if (has(offsetof(shmconf_open_options, expected_owner), sizeof opts->expected_owner) &&
        opts->check_owner != 0) {
      o.expected_owner = static_cast<uid_t>(opts->expected_owner);
    }
    if (has(offsetof(shmconf_open_options, no_reader_registry), sizeof opts->no_reader_registry) &&
        opts->no_reader_registry != 0) {
      o.register_reader = false;
    }
  }
  auto r = shmconf::Client::try_open(name, o);
  if (!r) return code(r.error());
  auto* c = new (std::nothrow) shmconf_client{std::move(*r)};
  if (c == nullptr) return SHMCONF_E_NOMEM;
  *out = c;
  return 0;
}

int shmconf_open(const char* name, shmconf_client** out) {
  return shmconf_open_prefix(name, nullptr, out);
}

void shmconf_close(shmconf_client* c) { delete c; }

uint64_t shmconf_version(shmconf_client* c) { return c ? c->client.version() : 0; }

uint64_t shmconf_generation(const shmconf_client* c) { return c ? c->client.generation() : 0; }

int shmconf_snapshot_acquire(shmconf_client* c, shmconf_snapshot** out) {
  if (c == nullptr || out == nullptr) return SHMCONF_E_INVALID;
  shmconf::Snapshot snap = c->client.snapshot();
  if (snap.empty()) return SHMCONF_E_NO_SNAPSHOT;
  auto* s = new (std::nothrow) shmconf_snapshot{std::move(snap)};
  if (s == nullptr) return SHMCONF_E_NOMEM;
  *out = s;
  return 0;
}

void shmconf_snapshot_release(shmconf_snapshot* s) { delete s; }

uint64_t shmconf_snapshot_version(const shmconf_snapshot* s) { return s ? s->snap.version() : 0; }

int shmconf_get_type(const shmconf_snapshot* s, const char* key, int* out) {
  if (s == nullptr || key == nullptr || out == nullptr) return SHMCONF_E_INVALID;
  auto r = s->snap.get(key);
  if (!r) return code(r.error());
  *out = static_cast<int>(r->type());
  return 0;
}

int shmconf_get_int64(const shmconf_snapshot* s, const char* key, int64_t* out) {
  if (s == nullptr || key == nullptr || out == nullptr) return SHMCONF_E_INVALID;
  auto r = s->snap.get_int(key);
  if (!r) return code(r.error());
  *out = *r;
  return 0;
}

int shmconf_get_double(const shmconf_snapshot* s, const char* key, double* out) {
  if (s == nullptr || key == nullptr || out == nullptr) return SHMCONF_E_INVALID;
  auto r = s->snap.get_double(key);
  if (!r) return code(r.error());
  *out = *r;
  return 0;
}

int shmconf_get_bool(const shmconf_snapshot* s, const char* key, int* out) {
  if (s == nullptr || key == nullptr || out == nullptr) return SHMCONF_E_INVALID;
  auto r = s->snap.get_bool(key);
  if (!r) return code(r.error());
  *out = *r ? 1 : 0;
  return 0;
}

int shmconf_get_string(const shmconf_snapshot* s, const char* key, char* buf, size_t cap,
                       size_t* len) {
  if (s == nullptr || key == nullptr || (buf == nullptr && cap != 0)) return SHMCONF_E_INVALID;
  auto r = s->snap.get_string(key);
  if (!r) return code(r.error());
  if (cap < r->size() + 1) {
    if (len != nullptr) *len = r->size();
    return SHMCONF_E_RANGE;
  }
  std::memcpy(buf, r->data(), r->size());
  buf[r->size()] = '\0';
  if (len != nullptr) *len = r->size();
  return 0;
}

int shmconf_get_value(const shmconf_snapshot* s, const char* key, size_t key_len,
                      shmconf_value* out) {
  if (s == nullptr || (key == nullptr && key_len != 0) || out == nullptr) {
    return SHMCONF_E_INVALID;
  }
  auto r = s->snap.get(std::string_view(key, key_len));
  if (!r) return code(r.error());
  shmconf_value v{};
  v.type = static_cast<int>(r->type());
  switch (r->type()) {
    case shmconf::Type::kBool:
      v.boolean = *r->as_bool() ? 1 : 0;
      break;
    case shmconf::Type::kInt:
      v.integer = *r->as_int();
      break;
    case shmconf::Type::kDouble:
      v.real = *r->as_double();
      break;
    case shmconf::Type::kString: {
      const std::string_view str = *r->as_string();
      v.str = str.data();
      v.len = str.size();
      break;
    }
    case shmconf::Type::kArray:
    case shmconf::Type::kObject:
      v.len = r->size();
      break;
    case shmconf::Type::kNull:
      break;
  }
  *out = v;
  return 0;
}

int shmconf_flag(const shmconf_snapshot* s, const char* name, const char* subject,
                 size_t subject_len, int* on) {
  if (s == nullptr || name == nullptr || (subject == nullptr && subject_len != 0) ||
      on == nullptr) {
    return SHMCONF_E_INVALID;
  }
  auto r = s->snap.flag(name, std::string_view(subject ? subject : "", subject_len));
  if (!r) return code(r.error());
  *on = *r ? 1 : 0;
  return 0;
}

uint32_t shmconf_flag_bucket(const char* name, size_t name_len, const char* subject,
                             size_t subject_len) {
  return shmconf::flag_bucket(std::string_view(name ? name : "", name ? name_len : 0),
                              std::string_view(subject ? subject : "", subject ? subject_len : 0));
}

int shmconf_snapshot_list(const shmconf_snapshot* s, const char* section, shmconf_key_fn fn,
                          void* ctx) {
  if (s == nullptr || fn == nullptr) return SHMCONF_E_INVALID;
  auto r = s->snap.get(section ? section : "");
  if (!r) return code(r.error());
  if (r->type() != shmconf::Type::kObject && r->type() != shmconf::Type::kArray) {
    return SHMCONF_E_WRONG_TYPE;
  }
  // Full paths are assembled from names (FORMAT.md "Key paths") into one
  // buffer on the stack: listing allocates nothing.
  char key[shmconf::format::kMaxKeyLength + 1];
  for (shmconf::Value child : r->children()) {
    const std::size_t len = child.key_to(key, sizeof key - 1);
    if (len > sizeof key - 1) return SHMCONF_E_CORRUPT;
    key[len] = '\0';
    if (int rc = fn(key, len, static_cast<int>(child.type()), ctx); rc != 0) return rc;
  }
  return 0;
}

int shmconf_wait_for_change(shmconf_client* c, uint64_t known_version, int timeout_ms) {
  if (c == nullptr) return SHMCONF_E_INVALID;
  auto r = c->client.wait_for_change(known_version, std::chrono::milliseconds(timeout_ms));
  return r ? 0 : code(r.error());
}

int shmconf_subscribe(shmconf_client* c, const char* prefix, shmconf_changes_fn fn, void* ctx,
                      shmconf_subscription** out) {
  if (c == nullptr || fn == nullptr || out == nullptr) return SHMCONF_E_INVALID;
  try {
    shmconf::Client::Subscription sub = c->client.subscribe(
        prefix ? prefix : "",
        [fn, ctx](const shmconf::Snapshot& old_snap, const shmconf::Snapshot& new_snap,
                  const std::vector<shmconf::Client::Change>& changes) {
          // Copies share the pins: the C handles live on this frame.
          const shmconf_snapshot old_h{old_snap};
          const shmconf_snapshot new_h{new_snap};
          std::vector<std::string> keys;
          std::vector<shmconf_change> list;
          keys.reserve(changes.size());
          list.reserve(changes.size());
          for (const auto& ch : changes) {
            // The C++ key views are not NUL-terminated; the C ones are.
            keys.emplace_back(ch.key);
            list.push_back({keys.back().c_str(), keys.back().size(), static_cast<int>(ch.kind)});
          }
          fn(old_snap.empty() ? nullptr : &old_h, &new_h, list.data(), list.size(), ctx);
        });
    auto* handle = new (std::nothrow) shmconf_subscription{std::move(sub)};
    if (handle == nullptr) return SHMCONF_E_NOMEM;  // `sub` stops its thread
    *out = handle;
    return 0;
  } catch (const std::bad_alloc&) {
    return SHMCONF_E_NOMEM;
  } catch (...) {
    return SHMCONF_E_SYSTEM;  // std::thread could not start
  }
}

void shmconf_subscription_stop(shmconf_subscription* sub) { delete sub; }

const char* shmconf_strerror(int err) {
  return shmconf::to_string(static_cast<shmconf::Errc>(err));
}

}  // extern "C"
