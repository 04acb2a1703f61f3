#include "server/store/data_dir.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace sigil::server::store {

absl::Status CreateDataDir(const std::string& data_dir) {
  if (mkdir(data_dir.c_str(), 0700) == 0) return absl::OkStatus();
  const int error = errno;
  if (error == ENOENT) {
    return absl::UnavailableError(absl::StrCat(
        "cannot create data dir ", data_dir, ": parent directory is missing"));
  }
  if (error != EEXIST) {
    return absl::UnavailableError(absl::StrCat(
        "cannot create data dir ", data_dir, ": ", std::strerror(error)));
  }
  struct stat info;
  if (stat(data_dir.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
    return absl::UnavailableError(
        absl::StrCat("data dir ", data_dir, " is not a directory"));
  }
  return absl::OkStatus();
}

}  // namespace sigil::server::store
