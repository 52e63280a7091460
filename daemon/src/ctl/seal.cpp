// shmconfctl seal-keygen and seal: sealed secrets (docs/SECRETS.md). Local
// files and libsodium only; no daemon, no shared memory.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>

#include "ctl/common.hpp"
#include "parse/parse_internal.hpp"
#include "sources/sealed.hpp"

namespace shmconf::daemon::ctl {
namespace {

// Writes `text` to a new file of mode `mode`; refuses an existing one when
// `exclusive`. Returns "" or why it failed.
std::string write_file(const std::string& path, const std::string& text, mode_t mode,
                       bool exclusive) {
  const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (exclusive ? O_EXCL : O_TRUNC);
  const int fd = ::open(path.c_str(), flags, mode);
  if (fd < 0) {
    return errno == EEXIST ? "exists; refusing to overwrite a key (remove it first)"
                           : std::strerror(errno);
  }
  std::string why;
  if (::fchmod(fd, mode) != 0) why = std::strerror(errno);
  std::size_t done = 0;
  while (why.empty() && done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) why = std::strerror(errno);
    if (n > 0) done += static_cast<std::size_t>(n);
  }
  if (why.empty() && ::fsync(fd) != 0) why = std::strerror(errno);
  if (::close(fd) != 0 && why.empty()) why = std::strerror(errno);
  return why;
}

std::string strip_one_newline(std::string s) {
  if (s.ends_with('\n')) s.pop_back();
  if (s.ends_with('\r')) s.pop_back();
  return s;
}

// The public key of --public-key FILE or --public-key-base64, else "" with
// the error printed.
std::string public_key(const Args& a) {
  std::string text = a.public_key_b64;
  std::string where = "--public-key-base64";
  if (!a.public_key_file.empty()) {
    std::ifstream in(a.public_key_file, std::ios::binary);
    if (!in) {
      std::cerr << "shmconfctl: " << a.public_key_file << ": cannot read the public key\n";
      return "";
    }
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    where = a.public_key_file;
  }
  std::string why;
  auto key = sealed::parse_key(text, &why);
  if (!key) {
    std::cerr << "shmconfctl: " << where << ": " << why << "\n";
    return "";
  }
  return *key;
}

}  // namespace

int cmd_seal_keygen(const Args& a) {
  sealed::KeyPair k = sealed::generate();
  std::string secret = sealed::to_base64(k.private_key) + "\n";
  const std::string why = write_file(a.seal_out, secret, 0600, /*exclusive=*/true);
  std::memset(secret.data(), 0, secret.size());
  if (!why.empty()) {
    std::cerr << "shmconfctl: " << a.seal_out << ": " << why << "\n";
    return kExitFail;
  }
  const std::string pub = sealed::to_base64(k.public_key);
  if (!a.seal_public_out.empty()) {
    const std::string w = write_file(a.seal_public_out, pub + "\n", 0644, /*exclusive=*/false);
    if (!w.empty()) {
      std::cerr << "shmconfctl: " << a.seal_public_out << ": " << w << "\n";
      return kExitFail;
    }
  }
  std::cout << pub << "\n";
  return 0;
}

int cmd_seal(const Args& a) {
  if (a.public_key_file.empty() == a.public_key_b64.empty()) {
    std::cerr << "shmconfctl: seal needs one of --public-key FILE or --public-key-base64 KEY\n";
    return kExitUsage;
  }
  if (a.seal_stdin == !a.value.empty()) {
    std::cerr << "shmconfctl: seal takes VALUE or --stdin (preferred: keeps the secret out of "
                 "the shell history and the process list)\n";
    return kExitUsage;
  }
  if (!sealed::valid_key_id(a.key_id)) {
    std::cerr << "shmconfctl: --key-id must match [A-Za-z0-9_.-]{1,64}\n";
    return kExitUsage;
  }
  const std::string pk = public_key(a);
  if (pk.empty()) return kExitFail;
  std::string plain = a.value;
  if (a.seal_stdin) {
    std::ostringstream in;
    in << std::cin.rdbuf();
    plain = strip_one_newline(in.str());
  }
  if (!detail::valid_utf8(plain)) {
    std::cerr << "shmconfctl: the value is not valid UTF-8 (configuration strings must be)\n";
    return kExitFail;
  }
  std::cout << sealed::reference(a.key_id, sealed::seal(plain, pk)) << "\n";
  if (!plain.empty()) std::memset(plain.data(), 0, plain.size());
  return 0;
}

}  // namespace shmconf::daemon::ctl
