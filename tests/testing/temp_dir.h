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

}  // namespace sigil::testing

#endif  // SIGIL_TESTS_TESTING_TEMP_DIR_H_
