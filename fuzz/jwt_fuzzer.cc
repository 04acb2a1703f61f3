// JwtVerifier end to end against a fixed key set (ES256 and EdDSA keys
// generated once at start-up). The first input byte picks the mode (see
// jwt_fuzz_fixture.h): the rest is either the token, as a caller would send
// it, or "header JSON \0 claims JSON" signed here, so that the claim checks
// behind the signature are reached too.
// Every outcome must be a verdict: OK with claims that satisfy the checks,
// or a VerdictError whose code is its reason's.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/algorithm/container.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "fuzz/jwt_fuzz_fixture.h"
#include "token/base64url.h"
#include "token/clock.h"
#include "token/jws.h"
#include "token/jwt.h"
#include "token/key.h"
#include "token/key_set.h"
#include "token/reason.h"

namespace sigil::token {
namespace {

using fuzz::kAudience;
using fuzz::kIssuer;

struct Fixture {
  PrivateKey es256;
  PrivateKey eddsa;
  KeySet keys;
  FakeClock clock{absl::FromUnixSeconds(fuzz::kNow)};
};

const Fixture& GetFixture() {
  static const Fixture* fixture = [] {
    auto* f = new Fixture{
        *PrivateKey::Generate(Algorithm::kES256, fuzz::kEs256Kid),
        *PrivateKey::Generate(Algorithm::kEdDSA, fuzz::kEdDsaKid), KeySet()};
    if (!f->keys.Add(f->es256.public_key()).ok() ||
        !f->keys.Add(f->eddsa.public_key()).ok()) {
      std::abort();
    }
    return f;
  }();
  return *fixture;
}

void CheckVerdict(const absl::Status& status) {
  const Reason reason = ReasonOf(status);
  if (reason == Reason::kValid || status.code() != CodeOf(reason)) {
    std::abort();
  }
}

void CheckToken(absl::string_view token) {
  const Fixture& f = GetFixture();
  JwtVerifierOptions options;
  options.issuer = kIssuer;
  options.clock = &f.clock;
  const JwtVerifier verifier(options);

  absl::StatusOr<VerifiedJwt> verified =
      verifier.Verify(token, f.keys, kAudience);
  if (verified.ok()) {
    const JwtClaims& claims = verified->claims();
    if (claims.issuer != kIssuer || claims.subject.empty() ||
        claims.token_id.empty() || claims.session_id.empty() ||
        !absl::c_linear_search(claims.audience, kAudience) ||
        claims.expires_at <= f.clock.Now() ||
        f.keys.Find(verified->kid()) == nullptr) {
      std::abort();
    }
  } else {
    CheckVerdict(verified.status());
  }
  absl::StatusOr<VerifiedJwt> any_audience =
      verifier.VerifyIgnoringAudience(token, f.keys);
  // Skipping the audience can only turn WRONG_AUDIENCE into OK.
  if (verified.ok() && !any_audience.ok()) std::abort();
  if (!any_audience.ok()) {
    CheckVerdict(any_audience.status());
    if (ReasonOf(any_audience.status()) != ReasonOf(verified.status())) {
      std::abort();
    }
  }
  // The JWS layer alone, as the external vectors use it.
  absl::StatusOr<std::string> payload =
      VerifyJwsCompact(token, f.es256.public_key());
  if (!payload.ok()) CheckVerdict(payload.status());
}

std::string SignedToken(absl::string_view header, absl::string_view claims,
                        const PrivateKey& key) {
  const std::string input =
      absl::StrCat(Base64UrlEncode(header), ".", Base64UrlEncode(claims));
  absl::StatusOr<std::string> signature = key.Sign(input);
  if (!signature.ok()) std::abort();
  return absl::StrCat(input, ".", Base64UrlEncode(*signature));
}

}  // namespace
}  // namespace sigil::token

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using sigil::token::GetFixture;
  if (size == 0) return 0;
  const absl::string_view rest(reinterpret_cast<const char*>(data) + 1,
                               size - 1);
  if ((data[0] & sigil::fuzz::kSignHere) == 0) {
    sigil::token::CheckToken(rest);
    return 0;
  }
  const size_t nul = rest.find('\0');
  if (nul == absl::string_view::npos) return 0;
  const sigil::token::PrivateKey& key = data[0] & sigil::fuzz::kSignWithEdDsa
                                            ? GetFixture().eddsa
                                            : GetFixture().es256;
  sigil::token::CheckToken(sigil::token::SignedToken(
      rest.substr(0, nul), rest.substr(nul + 1), key));
  return 0;
}
