// KeyVault with real OpenSSL: sealing round trips, and a sealed key fails
// to open under another kid, with a changed byte or under another KEK,
// each with an error that holds no key material.

#include "server/key_vault.h"

#include <sys/stat.h>

#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "token/algorithm.h"
#include "token/key.h"

namespace sigil::server {
namespace {

using ::sigil::testing::IsOk;
using ::sigil::testing::IsOkAndHolds;
using ::sigil::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

// Two distinct KEKs, fixed so failures are reproducible; real deployments
// draw theirs from `openssl rand`.
const std::string kKek(32, '\x5a');
const std::string kOtherKek(32, '\xa5');

// A real private key's PEM: what the key manager seals.
std::string PrivatePem() {
  auto key = token::PrivateKey::Generate(token::Algorithm::kES256, "k1");
  EXPECT_THAT(key, IsOk());
  auto pem = key->ToPem();
  EXPECT_THAT(pem, IsOk());
  return pem.ok() ? *pem : "";
}

std::unique_ptr<KeyVault> Vault(const std::string& kek) {
  auto vault = KeyVault::FromKek(kek);
  EXPECT_THAT(vault, IsOk());
  return vault.ok() ? *std::move(vault) : nullptr;
}

// No part of the secret in `message`: neither the plaintext's body nor the
// KEK, raw or in hex.
void ExpectNoSecretIn(absl::string_view message, const std::string& plaintext,
                      const std::string& kek) {
  // A line of the PEM body: base64 of the key itself.
  const std::string body_line = plaintext.substr(plaintext.find('\n') + 1, 40);
  EXPECT_THAT(std::string(message), Not(HasSubstr(body_line)));
  EXPECT_THAT(std::string(message), Not(HasSubstr(kek.substr(0, 8))));
  EXPECT_THAT(std::string(message),
              Not(HasSubstr(absl::BytesToHexString(kek).substr(0, 16))));
}

TEST(KeyVaultTest, SealedKeyOpensToWhatWasSealed) {
  auto vault = Vault(kKek);
  ASSERT_NE(vault, nullptr);
  const std::string pem = PrivatePem();
  auto sealed = vault->Seal("0a1b", pem);
  ASSERT_THAT(sealed, IsOk());
  EXPECT_THAT(*sealed, Not(HasSubstr(pem.substr(30, 40))));
  EXPECT_THAT(vault->Open("0a1b", *sealed), IsOkAndHolds(pem));
}

TEST(KeyVaultTest, EachSealDrawsAFreshNonce) {
  auto vault = Vault(kKek);
  ASSERT_NE(vault, nullptr);
  auto first = vault->Seal("0a1b", "same plaintext");
  auto second = vault->Seal("0a1b", "same plaintext");
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT(second, IsOk());
  EXPECT_NE(*first, *second);
}

TEST(KeyVaultTest, KeySealedForAnotherKidDoesNotOpen) {
  auto vault = Vault(kKek);
  ASSERT_NE(vault, nullptr);
  const std::string pem = PrivatePem();
  auto sealed = vault->Seal("0a1b", pem);
  ASSERT_THAT(sealed, IsOk());
  auto opened = vault->Open("0c0d", *sealed);
  EXPECT_THAT(opened, StatusIs(absl::StatusCode::kFailedPrecondition,
                               HasSubstr("does not authenticate")));
  EXPECT_THAT(opened.status().message(), HasSubstr("0c0d"));
  ExpectNoSecretIn(opened.status().message(), pem, kKek);
}

TEST(KeyVaultTest, AnyFlippedByteFailsToOpen) {
  auto vault = Vault(kKek);
  ASSERT_NE(vault, nullptr);
  const std::string pem = PrivatePem();
  auto sealed = vault->Seal("0a1b", pem);
  ASSERT_THAT(sealed, IsOk());
  // The version byte, nonce, ciphertext and tag: every position.
  for (size_t i = 0; i < sealed->size(); ++i) {
    std::string altered = *sealed;
    altered[i] = static_cast<char>(altered[i] ^ 0x01);
    auto opened = vault->Open("0a1b", altered);
    EXPECT_THAT(opened, StatusIs(absl::StatusCode::kFailedPrecondition))
        << "byte " << i << " of " << sealed->size();
    ExpectNoSecretIn(opened.status().message(), pem, kKek);
  }
}

TEST(KeyVaultTest, TruncatedSealedKeyFailsToOpen) {
  auto vault = Vault(kKek);
  ASSERT_NE(vault, nullptr);
  auto sealed = vault->Seal("0a1b", "plaintext");
  ASSERT_THAT(sealed, IsOk());
  for (size_t size : {size_t{0}, size_t{1}, size_t{28}, sealed->size() - 1}) {
    EXPECT_THAT(vault->Open("0a1b", sealed->substr(0, size)),
                StatusIs(absl::StatusCode::kFailedPrecondition))
        << "first " << size << " bytes";
  }
}

TEST(KeyVaultTest, AnotherKekDoesNotOpen) {
  auto vault = Vault(kKek);
  auto other = Vault(kOtherKek);
  ASSERT_NE(vault, nullptr);
  ASSERT_NE(other, nullptr);
  const std::string pem = PrivatePem();
  auto sealed = vault->Seal("0a1b", pem);
  ASSERT_THAT(sealed, IsOk());
  auto opened = other->Open("0a1b", *sealed);
  EXPECT_THAT(opened, StatusIs(absl::StatusCode::kFailedPrecondition,
                               HasSubstr("key-encryption key")));
  ExpectNoSecretIn(opened.status().message(), pem, kKek);
  ExpectNoSecretIn(opened.status().message(), pem, kOtherKek);
}

class KekFileTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& contents,
                    mode_t mode = 0600) {
    const std::string path = dir_.Sub(name);
    std::ofstream(path, std::ios::binary) << contents;
    chmod(path.c_str(), mode);
    return path;
  }

  sigil::testing::TempDir dir_;
};

TEST_F(KekFileTest, FileOf32BytesIsTheKek) {
  auto from_file = KeyVault::FromFile(Write("kek", kKek));
  ASSERT_THAT(from_file, IsOk());
  auto sealed = Vault(kKek)->Seal("0a1b", "plaintext");
  ASSERT_THAT(sealed, IsOk());
  EXPECT_THAT((*from_file)->Open("0a1b", *sealed),
              IsOkAndHolds(std::string("plaintext")));
}

TEST_F(KekFileTest, FileOfAnyOtherSizeIsRefused) {
  for (size_t size : {0, 16, 31, 33, 64}) {
    const std::string path =
        Write(absl::StrCat("kek", size), std::string(size, '\x5a'));
    auto vault = KeyVault::FromFile(path);
    EXPECT_THAT(vault, StatusIs(absl::StatusCode::kInvalidArgument,
                                HasSubstr("exactly 32")))
        << size << " bytes";
    EXPECT_THAT(vault.status().message(), HasSubstr(path));
  }
}

TEST_F(KekFileTest, MissingFileIsRefused) {
  EXPECT_THAT(KeyVault::FromFile(dir_.Sub("absent")),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

// Readable by every user is a warning in the log, not a refusal.
TEST_F(KekFileTest, WorldReadableFileIsAccepted) {
  EXPECT_THAT(KeyVault::FromFile(Write("kek", kKek, 0644)), IsOk());
}

TEST(KeyVaultTest, KekOfAnotherSizeIsRefused) {
  EXPECT_THAT(KeyVault::FromKek(std::string(31, 'k')),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(KeyVault::FromKek(std::string(33, 'k')),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace sigil::server
