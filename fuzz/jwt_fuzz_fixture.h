#ifndef SIGIL_FUZZ_JWT_FUZZ_FIXTURE_H_
#define SIGIL_FUZZ_JWT_FUZZ_FIXTURE_H_

#include <cstdint>

// What jwt_fuzzer verifies against and seeds.cc builds its claims for, so
// that seeded tokens pass every check and the fuzzer mutates from there.

namespace sigil::fuzz {

constexpr int64_t kNow = 1'700'000'000;
constexpr char kIssuer[] = "https://sigil.example";
constexpr char kAudience[] = "system-a";
constexpr char kEs256Kid[] = "es256";
constexpr char kEdDsaKid[] = "eddsa";

// jwt_fuzzer's first input byte: even for a raw token; odd for
// "header \0 claims" signed by the fuzzer with its ES256 key, or with its
// EdDSA key when kSignWithEdDsa is also set.
constexpr uint8_t kRawToken = 0;
constexpr uint8_t kSignHere = 1;
constexpr uint8_t kSignWithEdDsa = 2;

}  // namespace sigil::fuzz

#endif  // SIGIL_FUZZ_JWT_FUZZ_FIXTURE_H_
