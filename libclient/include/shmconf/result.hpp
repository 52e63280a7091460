// shmconf/result.hpp — error codes and Result<T>, the return type of every
// getter.
//
// The read path never throws: getters return Result<T>, which holds a value
// or an Errc. Errc values equal the C ABI's SHMCONF_E_* codes one for one.
// Result::value() throws shmconf::Error when there is no value; that is the
// caller's choice (as with std::optional::value), never the library's.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace shmconf {

// One-for-one with SHMCONF_E_* in <shmconf/shmconf.h>; a reserved negative
// band so the codes never collide with -errno values.
enum class Errc : int {
  kOk = 0,
  kNotFound = -30101,     // no such key in the snapshot
  kWrongType = -30102,    // the key holds another type
  kNoSnapshot = -30103,   // the namespace exists, nothing is published yet
  kNoNamespace = -30104,  // no control block for this namespace
  kPermission = -30105,   // owner or mode of a shared-memory object refused
  kCorrupt = -30106,      // a segment or control block failed validation
  kVersion = -30107,      // format version or layout signature mismatch
  kBusy = -30108,         // the control block stayed mid-update (writer died?)
  kTimeout = -30109,      // wait_for_change timed out
  kRange = -30110,        // caller's buffer too small
  kInvalid = -30111,      // invalid argument
  kSystem = -30112,       // an operating-system call failed (see errno)
  kNoMemory = -30113,     // allocation failed on the slow path
};

// Static, never-null description of an error code.
const char* to_string(Errc e) noexcept;

// Thrown only by Result::value() on an empty result and by Client::open().
class Error : public std::runtime_error {
 public:
  Error(Errc code, const std::string& what) : std::runtime_error(what), code_(code) {}
  explicit Error(Errc code) : Error(code, to_string(code)) {}
  Errc code() const noexcept { return code_; }

 private:
  Errc code_;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) noexcept(std::is_nothrow_move_constructible_v<T>)  // NOLINT: implicit
      : value_(std::move(value)) {}
  Result(Errc error) noexcept : error_(error) {}  // NOLINT: implicit

  bool has_value() const noexcept { return value_.has_value(); }
  explicit operator bool() const noexcept { return has_value(); }
  Errc error() const noexcept { return error_; }

  // Unchecked access: the caller has tested has_value().
  const T& operator*() const& noexcept { return *value_; }
  T& operator*() & noexcept { return *value_; }
  const T* operator->() const noexcept { return &*value_; }

  // Checked access: throws shmconf::Error when there is no value.
  const T& value() const& {
    if (!value_) throw Error(error_);
    return *value_;
  }
  T&& value() && {
    if (!value_) throw Error(error_);
    return std::move(*value_);
  }
  T value_or(T fallback) const& noexcept(std::is_nothrow_copy_constructible_v<T>) {
    return value_ ? *value_ : fallback;
  }

 private:
  std::optional<T> value_;
  Errc error_ = Errc::kOk;
};

}  // namespace shmconf
