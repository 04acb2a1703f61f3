#include "server/random_id.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "absl/strings/escaping.h"

namespace sigil::server {
namespace {

// Bytes drawn but not yet handed out, one pool a thread, so no lock.
class RandomPool {
 public:
  ~RandomPool() { OPENSSL_cleanse(bytes_, sizeof(bytes_)); }

  void Take(unsigned char* out, size_t size) {
    while (size > 0) {
      if (next_ == sizeof(bytes_)) Refill();
      const size_t n = std::min(size, sizeof(bytes_) - next_);
      std::memcpy(out, bytes_ + next_, n);
      OPENSSL_cleanse(bytes_ + next_, n);
      next_ += n;
      out += n;
      size -= n;
    }
  }

 private:
  void Refill() {
    if (RAND_bytes(bytes_, sizeof(bytes_)) != 1) std::abort();
    next_ = 0;
  }

  unsigned char bytes_[4096];
  size_t next_ = sizeof(bytes_);
};

}  // namespace

void RandomBytes(unsigned char* out, size_t size) {
  thread_local RandomPool pool;
  pool.Take(out, size);
}

std::string RandomId() {
  unsigned char bytes[16];
  RandomBytes(bytes, sizeof(bytes));
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)));
}

}  // namespace sigil::server
