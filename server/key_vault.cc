#include "server/key_vault.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "telemetry/log.h"

namespace sigil::server {
namespace {

// The first byte of every sealed key; a later format takes another value.
constexpr unsigned char kFormatV1 = 1;
constexpr size_t kNonceSize = 12;
constexpr size_t kTagSize = 16;

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

// What the tag covers besides the ciphertext: the format byte and the kid,
// so a sealed key copied into another key's record does not open there.
std::string AssociatedData(absl::string_view kid) {
  return absl::StrCat(
      absl::string_view(reinterpret_cast<const char*>(&kFormatV1), 1), kid);
}

const unsigned char* Bytes(absl::string_view text) {
  return reinterpret_cast<const unsigned char*>(text.data());
}

// A std::string holding key material, wiped when it goes away.
class WipedString {
 public:
  explicit WipedString(size_t size) : text_(size, '\0') {}
  ~WipedString() { OPENSSL_cleanse(text_.data(), text_.size()); }
  std::string& text() { return text_; }

 private:
  std::string text_;
};

}  // namespace

KeyVault::KeyVault(absl::string_view kek) {
  std::memcpy(kek_, kek.data(), kKekSize);
}

KeyVault::~KeyVault() { OPENSSL_cleanse(kek_, sizeof(kek_)); }

absl::StatusOr<std::unique_ptr<KeyVault>> KeyVault::FromKek(
    absl::string_view kek) {
  if (kek.size() != kKekSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("a key-encryption key is exactly ", kKekSize,
                     " bytes, not ", kek.size()));
  }
  return std::unique_ptr<KeyVault>(new KeyVault(kek));
}

absl::StatusOr<std::unique_ptr<KeyVault>> KeyVault::FromFile(
    const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot read key-encryption key ", path, ": ", strerror(errno)));
  }
  // Sizes are checked before reading: a wrong file (a PEM, a hex text) is
  // named without a byte of it being held.
  if (!S_ISREG(st.st_mode) || static_cast<size_t>(st.st_size) != kKekSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("key-encryption key ", path, " must be a file of exactly ",
                     kKekSize, " random bytes (openssl rand -out ", path, " ",
                     kKekSize, "); it has ", st.st_size));
  }
  if ((st.st_mode & S_IROTH) != 0) {
    // A warning, not a refusal: mounted secrets are often 0644 inside a
    // container whose only user is sigild.
    telemetry::Log(telemetry::LogLevel::kWarning,
                   "key-encryption key file is readable by every user; "
                   "chmod 600 it",
                   {{"path", path}});
  }
  std::ifstream in(path, std::ios::binary);
  WipedString kek(kKekSize + 1);
  in.read(kek.text().data(), static_cast<std::streamsize>(kek.text().size()));
  const size_t got = static_cast<size_t>(in.gcount());
  if (in.bad() || (!in.eof() && got != kKekSize)) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read key-encryption key ", path));
  }
  // The file may have changed since stat.
  if (got != kKekSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("key-encryption key ", path, " must be exactly ", kKekSize,
                     " bytes; it has ", got));
  }
  return FromKek(absl::string_view(kek.text().data(), kKekSize));
}

absl::StatusOr<std::string> KeyVault::Seal(absl::string_view kid,
                                           absl::string_view plaintext) const {
  std::string sealed(1 + kNonceSize + plaintext.size() + kTagSize, '\0');
  unsigned char* out = reinterpret_cast<unsigned char*>(sealed.data());
  out[0] = kFormatV1;
  unsigned char* nonce = out + 1;
  unsigned char* body = nonce + kNonceSize;
  // A random nonce per seal: keys are sealed a few times a day, far from
  // the 2^32 seals under one key where random 96-bit nonces risk a repeat.
  if (RAND_bytes(nonce, kNonceSize) != 1) {
    return absl::InternalError("cannot draw a nonce from the CSPRNG");
  }
  const std::string aad = AssociatedData(kid);
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  int total = 0;
  if (ctx == nullptr ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr,
                         nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceSize,
                          nullptr) != 1 ||
      EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, kek_, nonce) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, Bytes(aad),
                        static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), body, &len, Bytes(plaintext),
                        static_cast<int>(plaintext.size())) != 1) {
    return absl::InternalError(absl::StrCat("cannot seal key ", kid));
  }
  total = len;
  if (EVP_EncryptFinal_ex(ctx.get(), body + total, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagSize,
                          body + plaintext.size()) != 1) {
    return absl::InternalError(absl::StrCat("cannot seal key ", kid));
  }
  return sealed;
}

absl::StatusOr<std::string> KeyVault::Open(absl::string_view kid,
                                           absl::string_view sealed) const {
  const std::string name = absl::CHexEscape(kid);
  if (sealed.size() < 1 + kNonceSize + kTagSize) {
    return absl::FailedPreconditionError(absl::StrCat(
        "sealed key ", name, " is truncated (", sealed.size(), " bytes)"));
  }
  if (static_cast<unsigned char>(sealed[0]) != kFormatV1) {
    return absl::FailedPreconditionError(
        absl::StrCat("sealed key ", name, " has unknown format ",
                     static_cast<int>(static_cast<unsigned char>(sealed[0]))));
  }
  const unsigned char* nonce = Bytes(sealed) + 1;
  const unsigned char* body = nonce + kNonceSize;
  const size_t body_size = sealed.size() - 1 - kNonceSize - kTagSize;
  unsigned char tag[kTagSize];
  std::memcpy(tag, body + body_size, kTagSize);
  const std::string aad = AssociatedData(kid);
  WipedString plaintext(body_size);
  unsigned char* out =
      reinterpret_cast<unsigned char*>(plaintext.text().data());
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (ctx == nullptr ||
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr,
                         nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceSize,
                          nullptr) != 1 ||
      EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, kek_, nonce) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, Bytes(aad),
                        static_cast<int>(aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), out, &len, body,
                        static_cast<int>(body_size)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagSize, tag) !=
          1) {
    return absl::InternalError(absl::StrCat("cannot open sealed key ", name));
  }
  const int total = len;
  // Nothing decrypted is returned unless the tag checks: a wrong KEK, a
  // changed byte, or a record of another kid all end here.
  if (EVP_DecryptFinal_ex(ctx.get(), out + total, &len) != 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "sealed key ", name,
        " does not authenticate: a different key-encryption key, an altered "
        "record, or a key sealed for another kid"));
  }
  return std::string(plaintext.text().data(), body_size);
}

}  // namespace sigil::server
