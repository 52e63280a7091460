#include "shmconf/result.hpp"

namespace shmconf {

const char* to_string(Errc e) noexcept {
  switch (e) {
    case Errc::kOk:
      return "success";
    case Errc::kNotFound:
      return "key not found";
    case Errc::kWrongType:
      return "value has another type";
    case Errc::kNoSnapshot:
      return "nothing published in this namespace yet";
    case Errc::kNoNamespace:
      return "no such namespace (is shmconfd running with this --name and prefix?)";
    case Errc::kPermission:
      return "shared-memory object has the wrong owner or is writable by others";
    case Errc::kCorrupt:
      return "shared-memory object failed validation";
    case Errc::kVersion:
      return "format version or layout signature mismatch";
    case Errc::kBusy:
      return "control block stayed mid-update";
    case Errc::kTimeout:
      return "timed out";
    case Errc::kRange:
      return "buffer too small";
    case Errc::kInvalid:
      return "invalid argument";
    case Errc::kSystem:
      return "operating-system call failed";
    case Errc::kNoMemory:
      return "out of memory";
  }
  return "unknown error";
}

}  // namespace shmconf
