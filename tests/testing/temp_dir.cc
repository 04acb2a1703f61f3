#include "tests/testing/temp_dir.h"

#include <stdlib.h>
#include <sys/un.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace sigil::testing {

TempDir::TempDir() {
  const char* root = std::getenv("TEST_TMPDIR");
  if (root == nullptr || *root == '\0') root = std::getenv("TMPDIR");
  if (root == nullptr || *root == '\0') root = "/tmp";
  std::string templ = std::string(root) + "/sigil-test-XXXXXX";
  std::vector<char> buffer(templ.begin(), templ.end());
  buffer.push_back('\0');
  if (mkdtemp(buffer.data()) == nullptr) {
    std::perror("mkdtemp");
    std::abort();
  }
  path_ = buffer.data();
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string TempDir::Sub(const std::string& name) const {
  return path_ + "/" + name;
}

SocketDir::SocketDir() {
  // Fixed and short on purpose: neither TEST_TMPDIR nor TMPDIR, which may be
  // arbitrarily long.
  std::string pattern = "/tmp/sigil-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp " << pattern << ": " << std::strerror(errno);
    return;
  }
  path_ = pattern;
}

SocketDir::~SocketDir() {
  if (path_.empty()) return;
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string SocketDir::Address(const std::string& name) const {
  const std::string path = absl::StrCat(path_, "/", name);
  EXPECT_LT(path.size(), sizeof(sockaddr_un{}.sun_path))
      << "too long for a unix socket: " << path;
  return absl::StrCat("unix:", path);
}

}  // namespace sigil::testing
