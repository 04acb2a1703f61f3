#include "server/key_manager.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "server/random_id.h"

namespace sigil::server {
namespace {

// Kids are generated here as hex; anything else read back from the store
// must not become part of a file path.
bool IsGeneratedKid(absl::string_view kid) {
  return !kid.empty() && kid.size() <= 64 &&
         std::all_of(kid.begin(), kid.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::string KeyFilePath(const std::string& data_dir, const std::string& kid) {
  return absl::StrCat(data_dir, "/keys/", kid, ".pem");
}

// Makes a new directory entry durable: without it a power loss could keep
// the (synced) key record but lose the file it names.
bool SyncDir(const std::string& dir) {
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return false;
  const bool synced = fsync(fd) == 0;
  close(fd);
  return synced;
}

absl::Status WritePrivateFile(const std::string& path,
                              const std::string& contents) {
  const std::string dir = path.substr(0, path.rfind('/'));
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create key dir ", dir, ": ", strerror(errno)));
  }
  // O_EXCL: never overwrite an existing key; 0600 from the first byte.
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create key file ", path, ": ", strerror(errno)));
  }
  size_t written = 0;
  while (written < contents.size()) {
    const ssize_t n =
        write(fd, contents.data() + written, contents.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close(fd);
      return absl::FailedPreconditionError(
          absl::StrCat("cannot write key file ", path, ": ", strerror(errno)));
    }
    written += static_cast<size_t>(n);
  }
  const bool synced = fsync(fd) == 0;
  close(fd);
  if (!synced || !SyncDir(dir)) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot sync key file ", path));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadPrivateFile(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read key file ", path, ": ", strerror(errno)));
  }
  if ((st.st_mode & 077) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "key file ", path, " is readable by others; chmod 600 it"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read key file ", path, ": ", strerror(errno)));
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

absl::StatusOr<token::PrivateKey> LoadKey(const std::string& data_dir,
                                          const store::KeyRecord& record) {
  if (!IsGeneratedKid(record.kid)) {
    return absl::FailedPreconditionError(
        absl::StrCat("key record with malformed kid \"",
                     absl::CHexEscape(record.kid), "\" in ", data_dir));
  }
  auto alg = token::ParseAlgorithm(record.algorithm);
  if (!alg.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "key ", record.kid, " has unknown algorithm ", record.algorithm));
  }
  const std::string path = KeyFilePath(data_dir, record.kid);
  auto pem = ReadPrivateFile(path);
  if (!pem.ok()) return pem.status();
  auto key = token::PrivateKey::FromPem(*pem, record.kid, *alg);
  if (!key.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("bad key file ", path, ": ", key.status().message()));
  }
  return key;
}

}  // namespace

absl::StatusOr<std::unique_ptr<KeyManager>> KeyManager::Load(
    const std::string& data_dir, token::Algorithm alg, store::Store* store,
    const token::Clock* clock) {
  auto records = store->ListKeys();
  if (!records.ok()) return records.status();

  token::KeySet public_keys;
  const store::KeyRecord* newest = nullptr;
  std::optional<token::PrivateKey> signing;
  for (const store::KeyRecord& record : *records) {
    auto key = LoadKey(data_dir, record);
    if (!key.ok()) return key.status();
    absl::Status added = public_keys.Add(key->public_key());
    if (!added.ok()) return added;
    if (newest == nullptr || record.created > newest->created) {
      newest = &record;
      signing = *std::move(key);
    }
  }

  if (!signing.has_value()) {
    auto key = token::PrivateKey::Generate(alg, RandomId());
    if (!key.ok()) return key.status();
    absl::Status written =
        WritePrivateFile(KeyFilePath(data_dir, key->kid()), key->ToPem());
    if (!written.ok()) return written;
    absl::Status recorded = store->PutKey(store::KeyRecord{
        key->kid(), std::string(token::AlgorithmName(alg)), clock->Now()});
    if (!recorded.ok()) return recorded;
    absl::Status added = public_keys.Add(key->public_key());
    if (!added.ok()) return added;
    signing = *std::move(key);
  }
  return std::unique_ptr<KeyManager>(new KeyManager(
      token::JwtSigner(*std::move(signing)), std::move(public_keys)));
}

}  // namespace sigil::server
