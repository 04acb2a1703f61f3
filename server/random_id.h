#ifndef SIGIL_SERVER_RANDOM_ID_H_
#define SIGIL_SERVER_RANDOM_ID_H_

#include <string>

namespace sigil::server {

// 128 bits from OpenSSL's CSPRNG as 32 lowercase hex digits: token ids,
// session ids and key ids, unguessable and safe in file names.
std::string RandomId();

}  // namespace sigil::server

#endif  // SIGIL_SERVER_RANDOM_ID_H_
