#ifndef SIGIL_SERVER_RANDOM_ID_H_
#define SIGIL_SERVER_RANDOM_ID_H_

#include <cstddef>
#include <string>

namespace sigil::server {

// `size` bytes from OpenSSL's CSPRNG. Each thread draws them a few
// kilobytes at a time and hands each byte out once, wiping it as it goes:
// an Issue needs four secrets, and each RAND_bytes call costs a system call
// (the DRBG's fork check) that is dear next to the bytes themselves.
// Aborts when the CSPRNG cannot be seeded: continuing with predictable ids
// or tokens would be worse than stopping. Thread-safe.
void RandomBytes(unsigned char* out, size_t size);

// 128 random bits as 32 lowercase hex digits: token ids, session ids and
// key ids, unguessable and safe in file names.
std::string RandomId();

}  // namespace sigil::server

#endif  // SIGIL_SERVER_RANDOM_ID_H_
