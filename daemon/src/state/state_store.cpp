#include "state/state_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

namespace shmconf::daemon {
namespace {

[[noreturn]] void fail(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

void fsync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail("open(" + dir + ")");
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

void write_file_atomic(const std::string& path, std::string_view data, unsigned mode) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) fail("open(" + tmp + ")");
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      throw std::system_error(e, std::generic_category(), "write(" + tmp + ")");
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const int e = errno;
    ::close(fd);
    throw std::system_error(e, std::generic_category(), "fsync(" + tmp + ")");
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail("rename(" + tmp + ")");
  fsync_dir(std::filesystem::path(path).parent_path().string());
}

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return std::move(ss).str();
}

StateStore::StateStore(const std::string& state_dir, const std::string& ns) {
  if (state_dir.empty()) return;
  dir_ = state_dir + "/" + ns;
  std::filesystem::create_directories(dir_ + "/versions");
  ::chmod(dir_.c_str(), 0700);
}

nlohmann::json StateStore::load() const {
  if (!enabled()) return nlohmann::json::object();
  auto text = read_file(dir_ + "/state.json");
  if (!text) return nlohmann::json::object();
  return nlohmann::json::parse(*text);
}

void StateStore::save(const nlohmann::json& state) const {
  if (!enabled()) return;
  write_file_atomic(dir_ + "/state.json", state.dump(1) + "\n");
}

std::string StateStore::segment_path(std::uint64_t version) const {
  return dir_ + "/versions/" + std::to_string(version) + ".seg";
}

void StateStore::save_segment(std::uint64_t version, std::span<const std::byte> bytes) const {
  if (!enabled()) return;
  write_file_atomic(segment_path(version),
                    {reinterpret_cast<const char*>(bytes.data()), bytes.size()});
}

std::optional<std::string> StateStore::load_segment(std::uint64_t version) const {
  if (!enabled()) return std::nullopt;
  return read_file(segment_path(version));
}

std::string StateStore::template_path(std::uint64_t version) const {
  return dir_ + "/versions/" + std::to_string(version) + ".tmpl.seg";
}

void StateStore::save_template_segment(std::uint64_t version,
                                       std::span<const std::byte> bytes) const {
  if (!enabled()) return;
  write_file_atomic(template_path(version),
                    {reinterpret_cast<const char*>(bytes.data()), bytes.size()});
  ::unlink(pending_path(version).c_str());
}

std::optional<std::string> StateStore::load_template_segment(std::uint64_t version) const {
  if (!enabled()) return std::nullopt;
  return read_file(template_path(version));
}

bool StateStore::has_segment(std::uint64_t version) const {
  std::error_code ec;
  return enabled() && (std::filesystem::exists(segment_path(version), ec) ||
                       std::filesystem::exists(template_path(version), ec));
}

void StateStore::remove_segment(std::uint64_t version) const {
  if (!enabled()) return;
  std::error_code ec;
  std::filesystem::remove(segment_path(version), ec);
  std::filesystem::remove(template_path(version), ec);
  std::filesystem::remove(pending_path(version), ec);
}

std::string StateStore::pending_path(std::uint64_t version) const {
  return dir_ + "/versions/" + std::to_string(version) + ".tmpl.pending";
}

void StateStore::mark_template_pending(std::uint64_t version) const {
  if (!enabled()) return;
  const std::string path = pending_path(version);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) fail("open(" + path + ")");
  ::close(fd);
}

bool StateStore::template_pending(std::uint64_t version) const {
  std::error_code ec;
  return enabled() && std::filesystem::exists(pending_path(version), ec);
}

}  // namespace shmconf::daemon
