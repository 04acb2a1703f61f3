#include "server/random_id.h"

#include <openssl/rand.h>

#include <cstdlib>

#include "absl/strings/escaping.h"

namespace sigil::server {

std::string RandomId() {
  unsigned char bytes[16];
  // RAND_bytes fails only when the CSPRNG cannot be seeded; continuing with
  // predictable ids would be worse than stopping.
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) std::abort();
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)));
}

}  // namespace sigil::server
