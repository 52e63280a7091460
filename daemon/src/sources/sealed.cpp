#include "sources/sealed.hpp"

#include <sodium.h>

#include <filesystem>
#include <memory>
#include <stdexcept>

#include "tree/value.hpp"

namespace shmconf::daemon::sealed {
namespace {

static_assert(kKeyBytes == crypto_box_PUBLICKEYBYTES && kKeyBytes == crypto_box_SECRETKEYBYTES);
static_assert(kOverheadBytes == crypto_box_SEALBYTES);

void init() {
  if (sodium_init() < 0) throw std::runtime_error("libsodium cannot initialise");
}

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}
unsigned char* bytes(std::string& s) { return reinterpret_cast<unsigned char*>(s.data()); }

void wipe(std::string& s) {
  if (!s.empty()) sodium_memzero(s.data(), s.size());
}

// The private keys one reload has loaded, by key id; wiped when the last
// copy of the reload's context goes.
struct KeyCache {
  std::map<std::string, std::string> keys;  // id -> reference or path, as configured
  SubstitutionContext base;
  std::map<std::string, std::string, std::less<>> loaded;  // id -> raw private key
  ~KeyCache() {
    for (auto& [id, key] : loaded) wipe(key);
  }

  const std::string& key(std::string_view id) {
    if (auto it = loaded.find(id); it != loaded.end()) return it->second;
    const auto conf = keys.find(std::string(id));
    if (conf == keys.end()) {
      std::string known;
      for (const auto& [k, ref] : keys) known += (known.empty() ? "" : ", ") + k;
      throw std::runtime_error("no sealing key '" + std::string(id) +
                               "' is configured for this namespace (sealing_keys: " + known + ")");
    }
    const std::string label = "sealing key '" + conf->first + "' (" + conf->second + ")";
    std::string text;
    try {
      text = expand(conf->second, base, SubstitutionSite{"", 0, 0, "sealing_keys." + conf->first});
    } catch (const ConfigError& e) {  // its message opens with the reference
      throw std::runtime_error("sealing key '" + conf->first + "': " + e.message());
    }
    std::string why;
    auto raw = parse_key(text, &why);
    wipe(text);
    if (!raw) throw std::runtime_error(label + ": " + why);
    return loaded.emplace(conf->first, std::move(*raw)).first->second;
  }
};

}  // namespace

KeyPair::~KeyPair() { wipe(private_key); }

KeyPair generate() {
  init();
  KeyPair k;
  k.public_key.resize(kKeyBytes);
  k.private_key.resize(kKeyBytes);
  crypto_box_keypair(bytes(k.public_key), bytes(k.private_key));
  return k;
}

std::string public_key_of(std::string_view private_key) {
  init();
  if (private_key.size() != kKeyBytes) throw std::invalid_argument("a private key is 32 bytes");
  std::string pk(kKeyBytes, '\0');
  if (crypto_scalarmult_base(bytes(pk), bytes(private_key)) != 0) {
    throw std::runtime_error("cannot derive the public key");
  }
  return pk;
}

std::string seal(std::string_view plaintext, std::string_view public_key) {
  init();
  if (public_key.size() != kKeyBytes) throw std::invalid_argument("a public key is 32 bytes");
  std::string out(plaintext.size() + kOverheadBytes, '\0');
  if (crypto_box_seal(bytes(out), bytes(plaintext), plaintext.size(), bytes(public_key)) != 0) {
    throw std::runtime_error("crypto_box_seal failed");
  }
  return out;
}

std::optional<std::string> open(std::string_view ciphertext, std::string_view private_key) {
  init();
  if (ciphertext.size() < kOverheadBytes || private_key.size() != kKeyBytes) return std::nullopt;
  const std::string pk = public_key_of(private_key);
  std::string out(ciphertext.size() - kOverheadBytes, '\0');
  if (crypto_box_seal_open(bytes(out), bytes(ciphertext), ciphertext.size(), bytes(pk),
                           bytes(private_key)) != 0) {
    return std::nullopt;
  }
  return out;
}

std::string to_base64(std::string_view raw) {
  init();
  constexpr int kVariant = sodium_base64_VARIANT_ORIGINAL;
  std::string out(sodium_base64_ENCODED_LEN(raw.size(), kVariant), '\0');
  sodium_bin2base64(out.data(), out.size(), bytes(raw), raw.size(), kVariant);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

std::optional<std::string> from_base64(std::string_view text) {
  init();
  std::string out(text.size() / 4 * 3 + 3, '\0');
  std::size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(bytes(out), out.size(), text.data(), text.size(), nullptr, &len, &end,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != text.data() + text.size()) {
    return std::nullopt;
  }
  out.resize(len);
  return out;
}

std::optional<std::string> parse_key(std::string_view text, std::string* why) {
  if (text.ends_with('\n')) text.remove_suffix(1);
  if (text.ends_with('\r')) text.remove_suffix(1);
  std::optional<std::string> raw = from_base64(text);
  std::optional<std::string> key;
  if (raw && raw->size() == kKeyBytes) key.emplace(raw->data(), raw->size());
  if (raw) wipe(*raw);
  if (!key)
    *why = "not a key: expected one line of base64 holding 32 bytes (shmconfctl seal-keygen)";
  return key;
}

bool valid_key_id(std::string_view id) { return valid_sealing_key_id(id); }

std::pair<std::string, std::string> parse_sealing_key_flag(std::string_view flag) {
  const std::size_t eq = flag.find('=');
  const std::string id(flag.substr(0, eq));
  if (eq == std::string_view::npos || !valid_key_id(id) || eq + 1 == flag.size()) {
    throw std::invalid_argument(
        "--sealing-key takes ID=${credential:NAME} or ID=PATH, with ID in "
        "[A-Za-z0-9_.-]{1,64}");
  }
  const std::string ref(flag.substr(eq + 1));
  if (ref.find("${sealed:") != std::string::npos) {
    throw std::invalid_argument("--sealing-key " + id + ": a sealing key cannot itself be sealed");
  }
  if (ref.find("${") != std::string::npos) return {id, ref};
  return {id, "${file:" + std::filesystem::absolute(ref).lexically_normal().string() + "}"};
}

std::string reference(std::string_view key_id, std::string_view ciphertext) {
  return "${sealed:" + std::string(key_id) + ":" + to_base64(ciphertext) + "}";
}

SubstitutionContext with_sealing_keys(SubstitutionContext base,
                                      const std::map<std::string, std::string>& keys) {
  if (keys.empty()) {
    base.unseal = nullptr;
    return base;
  }
  auto cache = std::make_shared<KeyCache>();
  cache->keys = keys;
  cache->base = base;
  cache->base.unseal = nullptr;  // a key is never itself sealed
  base.unseal = [cache](std::string_view id, std::string_view b64) {
    const std::string& key = cache->key(id);
    auto raw = from_base64(b64);
    if (!raw) throw std::runtime_error("the ciphertext is not valid base64");
    if (raw->size() < kOverheadBytes) {
      throw std::runtime_error("the ciphertext is too short to be a sealed box (" +
                               std::to_string(raw->size()) + " bytes)");
    }
    auto plain = open(*raw, key);
    if (!plain) {
      throw std::runtime_error("cannot be opened with sealing key '" + std::string(id) +
                               "': sealed to another key, or altered");
    }
    return std::move(*plain);
  };
  return base;
}

}  // namespace shmconf::daemon::sealed
