#include "tests/testing/test_pki.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace sigil::testing {
namespace {

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
template <typename T, void (*Free)(T*)>
using Owned = std::unique_ptr<T, Deleter<T, Free>>;

using OwnedBio = Owned<BIO, BIO_free_all>;
using OwnedBignum = Owned<BIGNUM, BN_free>;
using OwnedExtension = Owned<X509_EXTENSION, X509_EXTENSION_free>;
using OwnedGeneralName = Owned<GENERAL_NAME, GENERAL_NAME_free>;
using OwnedGeneralNames = Owned<GENERAL_NAMES, GENERAL_NAMES_free>;
using OwnedIa5String = Owned<ASN1_IA5STRING, ASN1_IA5STRING_free>;
using OwnedKey = Owned<EVP_PKEY, EVP_PKEY_free>;
using OwnedName = Owned<X509_NAME, X509_NAME_free>;
using OwnedOctetString = Owned<ASN1_OCTET_STRING, ASN1_OCTET_STRING_free>;
using OwnedX509 = Owned<X509, X509_free>;

// INTERNAL with `what` and every reason in OpenSSL's error queue.
absl::Status OpenSslError(absl::string_view what) {
  std::string reasons;
  while (const unsigned long code = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof(buffer));
    absl::StrAppend(&reasons, reasons.empty() ? "" : "; ", buffer);
  }
  return absl::InternalError(absl::StrCat(what, ": ", reasons));
}

absl::Status WriteFile(const std::string& path, const std::string& contents,
                       mode_t mode) {
  const int fd =
      open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
  size_t written = 0;
  while (written < contents.size()) {
    const ssize_t n =
        write(fd, contents.data() + written, contents.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = n < 0 ? errno : EIO;
      close(fd);
      return absl::ErrnoToStatus(error, absl::StrCat("write ", path));
    }
    written += static_cast<size_t>(n);
  }
  if (close(fd) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("close ", path));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> BioContents(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  if (size <= 0) return OpenSslError("BIO_get_mem_data");
  return std::string(data, static_cast<size_t>(size));
}

absl::StatusOr<std::string> CertPem(X509* cert) {
  OwnedBio bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509(bio.get(), cert) != 1) {
    return OpenSslError("PEM_write_bio_X509");
  }
  return BioContents(bio.get());
}

absl::StatusOr<std::string> KeyPem(EVP_PKEY* key) {
  OwnedBio bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr,
                               nullptr) != 1) {
    return OpenSslError("PEM_write_bio_PrivateKey");
  }
  return BioContents(bio.get());
}

absl::StatusOr<OwnedKey> NewKey() {
  OwnedKey key(EVP_EC_gen("P-256"));
  if (key == nullptr) return OpenSslError("EVP_EC_gen");
  return key;
}

// A subject alternative name to add: GEN_DNS, GEN_URI or GEN_IPADD (text
// form of an IPv4 or IPv6 address).
struct AltName {
  int type;
  std::string value;
};

absl::Status AddAltNames(X509* cert, const std::vector<AltName>& alt_names) {
  OwnedGeneralNames names(sk_GENERAL_NAME_new_null());
  if (names == nullptr) return OpenSslError("sk_GENERAL_NAME_new_null");
  for (const AltName& alt : alt_names) {
    OwnedGeneralName name(GENERAL_NAME_new());
    if (name == nullptr) return OpenSslError("GENERAL_NAME_new");
    if (alt.type == GEN_IPADD) {
      unsigned char address[16];
      int size = 4;
      if (inet_pton(AF_INET, alt.value.c_str(), address) != 1) {
        size = 16;
        if (inet_pton(AF_INET6, alt.value.c_str(), address) != 1) {
          return absl::InvalidArgumentError(
              absl::StrCat("not an IP address: ", alt.value));
        }
      }
      OwnedOctetString octets(ASN1_OCTET_STRING_new());
      if (octets == nullptr ||
          ASN1_OCTET_STRING_set(octets.get(), address, size) != 1) {
        return OpenSslError("ASN1_OCTET_STRING_set");
      }
      GENERAL_NAME_set0_value(name.get(), GEN_IPADD, octets.release());
    } else {
      OwnedIa5String text(ASN1_IA5STRING_new());
      if (text == nullptr ||
          ASN1_STRING_set(text.get(), alt.value.data(),
                          static_cast<int>(alt.value.size())) != 1) {
        return OpenSslError("ASN1_STRING_set");
      }
      GENERAL_NAME_set0_value(name.get(), alt.type, text.release());
    }
    if (sk_GENERAL_NAME_push(names.get(), name.get()) == 0) {
      return OpenSslError("sk_GENERAL_NAME_push");
    }
    name.release();  // now owned by `names`
  }
  if (X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0,
                        X509V3_ADD_DEFAULT) != 1) {
    return OpenSslError("X509_add1_ext_i2d subjectAltName");
  }
  return absl::OkStatus();
}

// A certificate for `key` named `common_name` (none when empty), signed by
// `issuer_key` on behalf of `issuer` (self-signed when null), with the
// extensions given in OpenSSL's configuration syntax.
absl::StatusOr<OwnedX509> NewCert(
    EVP_PKEY* key, const std::string& common_name, X509* issuer,
    EVP_PKEY* issuer_key,
    const std::vector<std::pair<int, std::string>>& extensions,
    const std::vector<AltName>& alt_names) {
  OwnedX509 cert(X509_new());
  if (cert == nullptr) return OpenSslError("X509_new");
  OwnedBignum serial(BN_new());
  if (X509_set_version(cert.get(), X509_VERSION_3) != 1 || serial == nullptr ||
      BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) ==
          nullptr ||
      X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600) == nullptr ||
      X509_set_pubkey(cert.get(), key) != 1) {
    return OpenSslError("filling in the certificate");
  }
  OwnedName name(X509_NAME_new());
  if (name == nullptr) return OpenSslError("X509_NAME_new");
  if (!common_name.empty() &&
      X509_NAME_add_entry_by_txt(
          name.get(), "CN", MBSTRING_UTF8,
          reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
          0) != 1) {
    return OpenSslError("X509_NAME_add_entry_by_txt");
  }
  if (X509_set_subject_name(cert.get(), name.get()) != 1 ||
      X509_set_issuer_name(cert.get(), issuer != nullptr
                                           ? X509_get_subject_name(issuer)
                                           : name.get()) != 1) {
    return OpenSslError("X509_set_issuer_name");
  }
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, issuer != nullptr ? issuer : cert.get(), cert.get(),
                 nullptr, nullptr, 0);
  for (const auto& [nid, value] : extensions) {
    OwnedExtension extension(
        X509V3_EXT_conf_nid(nullptr, &context, nid, value.c_str()));
    if (extension == nullptr ||
        X509_add_ext(cert.get(), extension.get(), -1) != 1) {
      return OpenSslError(absl::StrCat("extension ", OBJ_nid2sn(nid)));
    }
  }
  if (!alt_names.empty()) {
    if (absl::Status status = AddAltNames(cert.get(), alt_names);
        !status.ok()) {
      return status;
    }
  }
  if (X509_sign(cert.get(), issuer_key, EVP_sha256()) <= 0) {
    return OpenSslError("X509_sign");
  }
  return cert;
}

// Writes `cert` and `key` as `dir`/`file_name`.crt and .key.
absl::StatusOr<IssuedCert> Save(const std::string& dir,
                                const std::string& file_name, X509* cert,
                                EVP_PKEY* key) {
  IssuedCert issued;
  issued.cert_path = absl::StrCat(dir, "/", file_name, ".crt");
  issued.key_path = absl::StrCat(dir, "/", file_name, ".key");
  auto cert_pem = CertPem(cert);
  if (!cert_pem.ok()) return cert_pem.status();
  issued.cert_pem = *std::move(cert_pem);
  if (absl::Status status = WriteFile(issued.cert_path, issued.cert_pem, 0644);
      !status.ok()) {
    return status;
  }
  auto key_pem = KeyPem(key);
  if (!key_pem.ok()) return key_pem.status();
  issued.key_pem = *std::move(key_pem);
  if (absl::Status status = WriteFile(issued.key_path, issued.key_pem, 0600);
      !status.ok()) {
    return status;
  }
  return issued;
}

}  // namespace

absl::StatusOr<TestPki> TestPki::Create(const std::string& dir,
                                        const std::string& name) {
  TestPki pki;
  pki.dir_ = dir;
  auto key = NewKey();
  if (!key.ok()) return key.status();
  auto cert =
      NewCert(key->get(), absl::StrCat(name, " test CA"), nullptr, key->get(),
              {{NID_basic_constraints, "critical,CA:TRUE"},
               {NID_key_usage, "critical,keyCertSign,cRLSign"},
               {NID_subject_key_identifier, "hash"}},
              {});
  if (!cert.ok()) return cert.status();
  // Only the certificate is written: nothing outside the test signs with
  // this CA.
  auto pem = CertPem(cert->get());
  if (!pem.ok()) return pem.status();
  pki.ca_.cert_path = absl::StrCat(dir, "/", name, "-ca.crt");
  pki.ca_.cert_pem = *std::move(pem);
  if (absl::Status status =
          WriteFile(pki.ca_.cert_path, pki.ca_.cert_pem, 0644);
      !status.ok()) {
    return status;
  }
  pki.ca_key_.reset(key->release());
  pki.ca_cert_.reset(cert->release());
  return pki;
}

absl::StatusOr<IssuedCert> TestPki::IssueServer(const std::string& file_name) {
  auto key = NewKey();
  if (!key.ok()) return key.status();
  auto cert = NewCert(
      key->get(), "localhost", ca_cert_.get(), ca_key_.get(),
      {{NID_basic_constraints, "critical,CA:FALSE"},
       {NID_key_usage, "critical,digitalSignature"},
       {NID_ext_key_usage, "serverAuth"},
       {NID_subject_key_identifier, "hash"},
       {NID_authority_key_identifier, "keyid:always"}},
      {{GEN_DNS, "localhost"}, {GEN_IPADD, "127.0.0.1"}, {GEN_IPADD, "::1"}});
  if (!cert.ok()) return cert.status();
  return Save(dir_, file_name, cert->get(), key->get());
}

absl::StatusOr<IssuedCert> TestPki::IssueClient(const std::string& file_name,
                                                const ClientNames& names) {
  auto key = NewKey();
  if (!key.ok()) return key.status();
  std::vector<AltName> alt_names;
  for (const std::string& uri : names.uris) alt_names.push_back({GEN_URI, uri});
  for (const std::string& dns : names.dns_names) {
    alt_names.push_back({GEN_DNS, dns});
  }
  auto cert =
      NewCert(key->get(), names.common_name, ca_cert_.get(), ca_key_.get(),
              {{NID_basic_constraints, "critical,CA:FALSE"},
               {NID_key_usage, "critical,digitalSignature"},
               {NID_ext_key_usage, "clientAuth"},
               {NID_subject_key_identifier, "hash"},
               {NID_authority_key_identifier, "keyid:always"}},
              alt_names);
  if (!cert.ok()) return cert.status();
  return Save(dir_, file_name, cert->get(), key->get());
}

}  // namespace sigil::testing
