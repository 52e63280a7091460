// daemon/src/sources/sealed.hpp — sealed secrets: values encrypted to a
// namespace's public key so that the text can live in git, and opened by
// the daemon during substitution (docs/SECRETS.md).
//
// Cryptography is libsodium's sealed box (crypto_box_seal: an ephemeral
// X25519 key, XSalsa20-Poly1305): anyone with the public key can seal,
// only the holder of the private key can open, and any change to the
// ciphertext makes opening fail. The reference is
//
//   ${sealed:<key-id>:<base64 ciphertext>}
//
// with <key-id> in [A-Za-z0-9_.-]{1,64} naming one entry of the
// namespace's `sealing_keys`, and the ciphertext in standard base64 with
// padding (RFC 4648 section 4). Key files hold one line: the 32-byte key in
// the same base64.
//
// Only the daemon library and shmconfctl link libsodium; libshmconf never
// does. Thread-safety: the functions keep no state; an unsealer made by
// with_sealing_keys() caches the keys it loaded and is used by one reload.
// Cost: one X25519 operation per sealed reference, one key file read per key
// id per reload.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "sources/substitute.hpp"

namespace shmconf::daemon::sealed {

inline constexpr std::size_t kKeyBytes = 32;       // crypto_box_{PUBLIC,SECRET}KEYBYTES
inline constexpr std::size_t kOverheadBytes = 48;  // crypto_box_SEALBYTES
inline constexpr std::string_view kDefaultKeyId = "default";

// Raw key bytes, kKeyBytes each. The destructor wipes the private key.
struct KeyPair {
  std::string public_key;
  std::string private_key;
  KeyPair() = default;
  KeyPair(const KeyPair&) = delete;
  KeyPair& operator=(const KeyPair&) = delete;
  KeyPair(KeyPair&&) = default;
  ~KeyPair();
};

// A new X25519 key pair (crypto_box_keypair). Throws std::runtime_error
// when libsodium cannot initialise.
KeyPair generate();

// The public key of a private key (crypto_scalarmult_base).
std::string public_key_of(std::string_view private_key);

// `plaintext` sealed to `public_key` (raw bytes); the raw ciphertext,
// plaintext.size() + kOverheadBytes bytes.
std::string seal(std::string_view plaintext, std::string_view public_key);

// Opens `ciphertext` with `private_key`; nullopt when it was sealed to
// another key or altered.
std::optional<std::string> open(std::string_view ciphertext, std::string_view private_key);

// Standard base64 with padding, and back (nullopt on any other character,
// bad padding or trailing bytes; surrounding whitespace is not accepted).
std::string to_base64(std::string_view bytes);
std::optional<std::string> from_base64(std::string_view text);

// A key file's text (one base64 line, one trailing newline allowed) as
// kKeyBytes raw bytes; nullopt and `why` otherwise.
std::optional<std::string> parse_key(std::string_view text, std::string* why);

bool valid_key_id(std::string_view id);

// "${sealed:<key_id>:<base64 ciphertext>}".
std::string reference(std::string_view key_id, std::string_view ciphertext);

// A command line's `--sealing-key ID=REF`: the id and the reference to the
// key file's text. REF holding "${" is a reference as written; anything
// else is a key file's path, made absolute ("${file:/abs/path}"). Throws
// std::invalid_argument naming what is wrong.
std::pair<std::string, std::string> parse_sealing_key_flag(std::string_view flag);

// `base` with SubstitutionContext::unseal set: ${sealed:ID:...} opens with
// the private key `keys[ID]` names, a reference (`${credential:NAME}`,
// `${file:/path}`, `${VAR}`) expanded with `base`. Keys are loaded at first
// use and cached in the returned context (copies share the cache), so a
// context is meant for one reload. With no keys, ${sealed:...} is refused.
SubstitutionContext with_sealing_keys(SubstitutionContext base,
                                      const std::map<std::string, std::string>& keys);

}  // namespace shmconf::daemon::sealed
