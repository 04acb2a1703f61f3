#ifndef SIGIL_TESTS_TESTING_TEMP_DIR_H_
#define SIGIL_TESTS_TESTING_TEMP_DIR_H_

#include <string>

namespace sigil::testing {

// A fresh directory under the test's temp root, removed with everything in
// it when the object goes away. Aborts the test binary if it cannot be
// created: no test can run without it.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + name.
  std::string Sub(const std::string& name) const;

 private:
  std::string path_;
};

// A fresh directory for the Unix sockets of one test, straight under /tmp
// and removed with everything in it when the object goes away. A socket's
// path must fit sockaddr_un's sun_path (107 bytes and a NUL), which the test
// temp dir cannot promise: Bazel's TEST_TMPDIR lies deep in its output tree.
// So sockets never go there, whatever its length.
class SocketDir {
 public:
  SocketDir();
  ~SocketDir();
  SocketDir(const SocketDir&) = delete;
  SocketDir& operator=(const SocketDir&) = delete;

  const std::string& path() const { return path_; }

  // The gRPC address of socket `name` in this directory: "unix:" + path() +
  // "/" + name. Fails the test when that path would not fit sun_path.
  std::string Address(const std::string& name) const;

 private:
  std::string path_;
};

}  // namespace sigil::testing

#endif  // SIGIL_TESTS_TESTING_TEMP_DIR_H_
