#ifndef SIGIL_TESTS_TESTING_TEST_PKI_H_
#define SIGIL_TESTS_TESTING_TEST_PKI_H_

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace sigil::testing {

// A certificate and its private key as PEM, both in memory and as files.
struct IssuedCert {
  std::string cert_path;
  std::string key_path;  // mode 0600
  std::string cert_pem;
  std::string key_pem;
};

// The names a client certificate carries. The CN is there to show that it
// is never taken for an identity.
struct ClientNames {
  std::string common_name;
  std::vector<std::string> uris;       // URI SANs, e.g. spiffe://...
  std::vector<std::string> dns_names;  // DNS SANs
};

// A throwaway certificate authority made at test time (EC P-256, valid from
// an hour ago for a day), writing PEM files into a directory the test owns.
// Two TestPki objects are unrelated CAs. Movable; not thread-safe. Errors
// are INTERNAL with OpenSSL's reason, or the errno's status naming a file.
class TestPki {
 public:
  // Makes the CA and writes `dir`/`name`-ca.crt.
  static absl::StatusOr<TestPki> Create(const std::string& dir,
                                        const std::string& name);

  const std::string& ca_cert_path() const { return ca_.cert_path; }
  const std::string& ca_cert_pem() const { return ca_.cert_pem; }

  // A server certificate for localhost, 127.0.0.1 and ::1 (serverAuth):
  // `dir`/`file_name`.crt and .key.
  absl::StatusOr<IssuedCert> IssueServer(const std::string& file_name);

  // A client certificate (clientAuth) with exactly `names`.
  absl::StatusOr<IssuedCert> IssueClient(const std::string& file_name,
                                         const ClientNames& names);

 private:
  struct KeyDeleter {
    void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
  };
  struct CertDeleter {
    void operator()(X509* cert) const { X509_free(cert); }
  };

  TestPki() = default;

  std::string dir_;
  std::unique_ptr<EVP_PKEY, KeyDeleter> ca_key_;
  std::unique_ptr<X509, CertDeleter> ca_cert_;
  IssuedCert ca_;
};

}  // namespace sigil::testing

#endif  // SIGIL_TESTS_TESTING_TEST_PKI_H_
