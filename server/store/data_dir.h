#ifndef SIGIL_SERVER_STORE_DATA_DIR_H_
#define SIGIL_SERVER_STORE_DATA_DIR_H_

#include <string>

#include "absl/status/status.h"

namespace sigil::server::store {

// Creates `data_dir` with mode 0700 unless it exists as a directory.
// UNAVAILABLE naming the path when its parent is missing, it is not a
// directory, or it cannot be created.
absl::Status CreateDataDir(const std::string& data_dir);

}  // namespace sigil::server::store

#endif  // SIGIL_SERVER_STORE_DATA_DIR_H_
