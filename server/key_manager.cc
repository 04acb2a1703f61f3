#include "server/key_manager.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/random_id.h"
#include "telemetry/log.h"

namespace sigil::server {
namespace {

using Stage = store::KeyRecord::Stage;

// A retired key stays published this long past max_ttl: an Issue that took
// the key just before the rotation signs with it a moment after the
// retirement instant, and verifiers whose clocks lag see its tokens alive a
// little longer.
constexpr absl::Duration kRemovalMargin = absl::Minutes(1);

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

// Failures are UNAVAILABLE: the disk under the data dir failed, as the
// store's own failures are.
absl::Status WritePrivateFile(const std::string& path,
                              const std::string& contents) {
  const std::string dir = path.substr(0, path.rfind('/'));
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::UnavailableError(
        absl::StrCat("cannot create key dir ", dir, ": ", strerror(errno)));
  }
  // O_EXCL: never overwrite an existing key; 0600 from the first byte.
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot create key file ", path, ": ", strerror(errno)));
  }
  size_t written = 0;
  while (written < contents.size()) {
    const ssize_t n =
        write(fd, contents.data() + written, contents.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close(fd);
      return absl::UnavailableError(
          absl::StrCat("cannot write key file ", path, ": ", strerror(errno)));
    }
    written += static_cast<size_t>(n);
  }
  const bool synced = fsync(fd) == 0;
  close(fd);
  if (!synced || !SyncDir(dir)) {
    return absl::UnavailableError(absl::StrCat("cannot sync key file ", path));
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

absl::StatusOr<std::string> Version(const std::vector<KeyInfo>& keys) {
  std::vector<std::string> lines;
  for (const KeyInfo& key : keys) {
    lines.push_back(
        absl::StrCat(key.record.kid, " ", StageName(key.record.stage)));
  }
  std::sort(lines.begin(), lines.end());
  const std::string text = absl::StrJoin(lines, "\n");
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(text.data(), text.size(), digest, &size, EVP_sha256(),
                 nullptr) != 1) {
    return absl::InternalError("cannot hash the key set");
  }
  return absl::BytesToHexString(
             absl::string_view(reinterpret_cast<const char*>(digest), size))
      .substr(0, 16);
}

// Order of ListKeys and the JWKS: the upcoming key, the signing key, then
// retired keys, most recently retired first.
bool ListedBefore(const KeyInfo& a, const KeyInfo& b) {
  auto rank = [](Stage stage) {
    return stage == Stage::kNext ? 0 : stage == Stage::kActive ? 1 : 2;
  };
  if (rank(a.record.stage) != rank(b.record.stage)) {
    return rank(a.record.stage) < rank(b.record.stage);
  }
  return a.record.retired > b.record.retired;
}

// Old records carry no stage: the newest is the active key, unless a staged
// one is; each older one was retired when the next newer key was created.
void DeriveLegacyStages(std::vector<store::KeyRecord*> records,
                        absl::Time now) {
  std::sort(records.begin(), records.end(),
            [](const store::KeyRecord* a, const store::KeyRecord* b) {
              return a->created < b->created;
            });
  const bool has_active = std::any_of(
      records.begin(), records.end(),
      [](const store::KeyRecord* r) { return r->stage == Stage::kActive; });
  for (size_t i = 0; i < records.size(); ++i) {
    store::KeyRecord& record = *records[i];
    if (record.stage != Stage::kUnstaged) continue;
    record.activated = record.created;
    const bool newest = i + 1 == records.size();
    if (newest && !has_active) {
      record.stage = Stage::kActive;
    } else {
      record.stage = Stage::kRetired;
      record.retired = newest ? now : records[i + 1]->created;
    }
  }
}

template <typename Key>
bool HasStage(const std::vector<Key>& keys, Stage stage) {
  return std::any_of(keys.begin(), keys.end(), [stage](const Key& key) {
    return key.record.stage == stage;
  });
}

void DeleteKeyFile(const std::string& data_dir, const std::string& kid) {
  const std::string path = KeyFilePath(data_dir, kid);
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    telemetry::Log(telemetry::LogLevel::kWarning, "cannot delete key file",
                   {{"path", path}, {"error", strerror(errno)}});
  }
}

}  // namespace

absl::string_view StageName(store::KeyRecord::Stage stage) {
  switch (stage) {
    case Stage::kUnstaged:
      return "unstaged";
    case Stage::kNext:
      return "next";
    case Stage::kActive:
      return "active";
    case Stage::kRetired:
      return "retired";
  }
  return "unknown";
}

absl::StatusOr<token::PrivateKey> KeyManager::OpenKey(
    const store::KeyRecord& record) const {
  if (!IsGeneratedKid(record.kid)) {
    return absl::FailedPreconditionError(
        absl::StrCat("key record with malformed kid \"",
                     absl::CHexEscape(record.kid), "\" in ", data_dir_));
  }
  auto alg = token::ParseAlgorithm(record.algorithm);
  if (!alg.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "key ", record.kid, " has unknown algorithm ", record.algorithm));
  }
  if (!record.sealed_private_key.empty()) {
    if (vault_ == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          "key ", record.kid,
          " is sealed in the store; give sigild its key-encryption key "
          "(--kek_file)"));
    }
    // Errors name the kid only: the vault never puts key material in them.
    auto pem = vault_->Open(record.kid, record.sealed_private_key);
    if (!pem.ok()) return pem.status();
    auto key = token::PrivateKey::FromPem(*pem, record.kid, *alg);
    OPENSSL_cleanse(pem->data(), pem->size());
    if (!key.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("sealed key ", record.kid, " holds no usable ",
                       record.algorithm, " private key"));
    }
    return key;
  }
  const std::string path = KeyFilePath(data_dir_, record.kid);
  auto pem = ReadPrivateFile(path);
  if (!pem.ok()) return pem.status();
  auto key = token::PrivateKey::FromPem(*pem, record.kid, *alg);
  if (!key.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("bad key file ", path, ": ", key.status().message()));
  }
  return key;
}

absl::StatusOr<std::unique_ptr<KeyManager>> KeyManager::Load(
    const std::string& data_dir, token::Algorithm alg, absl::Duration max_ttl,
    store::Store* store, const token::Clock* clock,
    std::unique_ptr<const KeyVault> vault) {
  std::unique_ptr<KeyManager> manager(new KeyManager(
      data_dir, alg, max_ttl + kRemovalMargin, store, clock, std::move(vault)));
  absl::MutexLock lock(&manager->mu_);
  // Each ABORTED means another manager wrote the keys in between (replicas
  // starting together): plan again from what it wrote, which usually
  // leaves nothing to write.
  constexpr int kAttempts = 8;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    absl::Status loaded = manager->LoadLocked();
    if (loaded.ok()) return manager;
    if (loaded.code() != absl::StatusCode::kAborted) return loaded;
  }
  return absl::UnavailableError(
      "the stored keys kept changing while this manager loaded them");
}

absl::Status KeyManager::LoadLocked() {
  auto records = store_->ListKeys();
  if (!records.ok()) return records.status();
  version_ = records->version;
  const absl::Time now = clock_->Now();

  std::vector<store::KeyRecord*> by_age;
  bool derived = false;
  for (store::KeyRecord& record : records->keys) {
    by_age.push_back(&record);
    derived |= record.stage == Stage::kUnstaged;
  }
  DeriveLegacyStages(std::move(by_age), now);

  std::vector<Key> keys;
  for (const store::KeyRecord& record : records->keys) {
    auto key = OpenKey(record);
    if (!key.ok()) return key.status();
    keys.push_back(Key{record, *std::move(key)});
  }
  // First start: an active key; always: a next key.
  std::vector<std::string> created;
  const bool has_next = HasStage(keys, Stage::kNext);
  for (Stage stage : {Stage::kActive, Stage::kNext}) {
    if (stage == Stage::kActive ? !keys.empty() : has_next) continue;
    auto key = NewKey(stage, now);
    if (!key.ok()) {
      for (const std::string& kid : created) DeleteKeyFile(data_dir_, kid);
      return key.status();
    }
    created.push_back(key->record.kid);
    keys.push_back(*std::move(key));
  }
  const std::vector<std::string> removed = DropExpired(&keys, now);
  if (created.empty() && removed.empty() && !derived) {
    // Nothing to record: a replica starting beside others writes nothing.
    auto snapshot = Snapshot(keys);
    if (!snapshot.ok()) return snapshot.status();
    keys_ = std::move(keys);
    absl::MutexLock lock(&snapshot_mu_);
    snapshot_ = *std::move(snapshot);
    return absl::OkStatus();
  }
  auto committed = Commit(std::move(keys), created, removed);
  if (!committed.ok()) return committed.status();
  return absl::OkStatus();
}

absl::StatusOr<bool> KeyManager::Reload() {
  absl::MutexLock lock(&mu_);
  return ReloadLocked();
}

absl::StatusOr<bool> KeyManager::ReloadLocked() {
  auto records = store_->ListKeys();
  if (!records.ok()) return records.status();
  if (records->version == version_) return false;
  std::vector<store::KeyRecord*> by_age;
  for (store::KeyRecord& record : records->keys) by_age.push_back(&record);
  DeriveLegacyStages(std::move(by_age), clock_->Now());
  std::vector<Key> keys;
  for (const store::KeyRecord& record : records->keys) {
    // A kid names one key for life: one already open is reused, not
    // opened again.
    auto held = std::find_if(keys_.begin(), keys_.end(), [&](const Key& key) {
      return key.record.kid == record.kid;
    });
    if (held != keys_.end()) {
      keys.push_back(Key{record, held->private_key});
      continue;
    }
    auto key = OpenKey(record);
    if (!key.ok()) return key.status();
    keys.push_back(Key{record, *std::move(key)});
  }
  auto snapshot = Snapshot(keys);
  if (!snapshot.ok()) return snapshot.status();
  keys_ = std::move(keys);
  version_ = records->version;
  telemetry::Log(telemetry::LogLevel::kInfo, "keys reloaded",
                 {{"key_set_version", (*snapshot)->version}});
  absl::MutexLock lock(&snapshot_mu_);
  snapshot_ = *std::move(snapshot);
  return true;
}

std::shared_ptr<const KeySnapshot> KeyManager::Current() const {
  absl::ReaderMutexLock lock(&snapshot_mu_);
  return snapshot_;
}

absl::StatusOr<KeyManager::Key> KeyManager::NewKey(Stage stage,
                                                   absl::Time now) {
  auto key = token::PrivateKey::Generate(alg_, RandomId());
  if (!key.ok()) return key.status();
  // No PEM, no file: an empty key file would only fail the next start.
  absl::StatusOr<std::string> pem = key->ToPem();
  if (!pem.ok()) {
    return absl::Status(pem.status().code(),
                        absl::StrCat("cannot store new key ", key->kid(), ": ",
                                     pem.status().message()));
  }
  store::KeyRecord record{key->kid(), std::string(token::AlgorithmName(alg_)),
                          now, stage};
  if (vault_ != nullptr) {
    auto sealed = vault_->Seal(key->kid(), *pem);
    OPENSSL_cleanse(pem->data(), pem->size());
    if (!sealed.ok()) return sealed.status();
    record.sealed_private_key = *std::move(sealed);
  } else {
    absl::Status written =
        WritePrivateFile(KeyFilePath(data_dir_, key->kid()), *pem);
    OPENSSL_cleanse(pem->data(), pem->size());
    if (!written.ok()) return written;
  }
  if (stage == Stage::kActive) record.activated = now;
  return Key{std::move(record), *std::move(key)};
}

std::vector<std::string> KeyManager::DropExpired(std::vector<Key>* keys,
                                                 absl::Time now) const {
  std::vector<std::string> removed;
  auto expired = [&](const Key& key) {
    return key.record.stage == Stage::kRetired &&
           key.record.retired + retention_ <= now;
  };
  for (const Key& key : *keys) {
    if (expired(key)) removed.push_back(key.record.kid);
  }
  keys->erase(std::remove_if(keys->begin(), keys->end(), expired), keys->end());
  return removed;
}

absl::StatusOr<std::shared_ptr<const KeySnapshot>> KeyManager::Rotate() {
  absl::MutexLock lock(&mu_);
  auto rotated = RotateLocked(clock_->Now());
  if (rotated.status().code() != absl::StatusCode::kAborted) return rotated;
  // Another manager changed the keys first (most likely the same rotation,
  // from a replica): rotating again would skip a key past verifiers that
  // have not yet learned it. Report what is stored.
  auto reloaded = ReloadLocked();
  if (!reloaded.ok()) return reloaded.status();
  telemetry::Log(telemetry::LogLevel::kInfo,
                 "keys changed by another writer; rotation not repeated", {});
  return Current();
}

absl::StatusOr<bool> KeyManager::RotateIfDue(absl::Duration period) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_->Now();
  for (const Key& key : keys_) {
    if (key.record.stage == Stage::kActive &&
        now - key.record.activated < period) {
      return false;
    }
  }
  auto rotated = RotateLocked(now);
  if (rotated.status().code() == absl::StatusCode::kAborted) {
    // Another replica rotated (or removed keys) first; this one learns it.
    auto reloaded = ReloadLocked();
    if (!reloaded.ok()) return reloaded.status();
    return false;
  }
  if (!rotated.ok()) return rotated.status();
  return true;
}

absl::StatusOr<bool> KeyManager::RemoveExpired() {
  absl::MutexLock lock(&mu_);
  std::vector<Key> keys = keys_;
  const std::vector<std::string> removed = DropExpired(&keys, clock_->Now());
  if (removed.empty()) return false;
  auto committed = Commit(std::move(keys), {}, removed);
  if (committed.status().code() == absl::StatusCode::kAborted) {
    auto reloaded = ReloadLocked();
    if (!reloaded.ok()) return reloaded.status();
    return false;
  }
  if (!committed.ok()) return committed.status();
  telemetry::Log(telemetry::LogLevel::kInfo, "keys removed",
                 {{"kids", absl::StrJoin(removed, ",")}});
  return true;
}

absl::StatusOr<std::shared_ptr<const KeySnapshot>> KeyManager::RotateLocked(
    absl::Time now) {
  std::vector<Key> keys = keys_;
  std::string retired;
  std::string active;
  for (Key& held : keys) {
    if (held.record.stage == Stage::kActive) {
      held.record.stage = Stage::kRetired;
      held.record.retired = now;
      retired = held.record.kid;
    } else if (held.record.stage == Stage::kNext) {
      held.record.stage = Stage::kActive;
      held.record.activated = now;
      active = held.record.kid;
    }
  }
  auto next = NewKey(Stage::kNext, now);
  if (!next.ok()) return next.status();
  const std::string next_kid = next->record.kid;
  keys.push_back(*std::move(next));
  const std::vector<std::string> removed = DropExpired(&keys, now);
  auto committed = Commit(std::move(keys), {next_kid}, removed);
  if (!committed.ok()) return committed.status();
  telemetry::LogFields fields = {
      {"active", active}, {"next", next_kid}, {"retired", retired}};
  if (!removed.empty())
    fields.push_back({"removed", absl::StrJoin(removed, ",")});
  telemetry::Log(telemetry::LogLevel::kInfo, "keys rotated", fields);
  return committed;
}

absl::StatusOr<std::shared_ptr<const KeySnapshot>> KeyManager::Snapshot(
    const std::vector<Key>& keys) const {
  const token::PrivateKey* signing = nullptr;
  int next = 0;
  std::vector<KeyInfo> infos;
  for (const Key& key : keys) {
    KeyInfo info{key.record};
    if (key.record.stage == Stage::kActive) {
      if (signing != nullptr) {
        return absl::FailedPreconditionError(
            absl::StrCat("keys ", signing->kid(), " and ", key.record.kid,
                         " in ", data_dir_, " are both recorded active"));
      }
      signing = &key.private_key;
    } else if (key.record.stage == Stage::kNext) {
      ++next;
    } else if (key.record.stage == Stage::kRetired) {
      info.remove_after = key.record.retired + retention_;
    }
    infos.push_back(std::move(info));
  }
  if (signing == nullptr || next != 1) {
    return absl::FailedPreconditionError(
        absl::StrCat("the key records in ", data_dir_,
                     " need exactly one active and one next key"));
  }
  std::sort(infos.begin(), infos.end(), ListedBefore);
  token::KeySet public_keys;
  for (const KeyInfo& info : infos) {
    for (const Key& key : keys) {
      if (key.record.kid != info.record.kid) continue;
      absl::Status added = public_keys.Add(key.private_key.public_key());
      if (!added.ok()) return added;
    }
  }
  auto version = Version(infos);
  if (!version.ok()) return version.status();
  return std::make_shared<const KeySnapshot>(
      KeySnapshot{token::JwtSigner(*signing), std::move(public_keys),
                  *std::move(version), std::move(infos)});
}

absl::StatusOr<std::shared_ptr<const KeySnapshot>> KeyManager::Commit(
    std::vector<Key> keys, const std::vector<std::string>& created,
    const std::vector<std::string>& removed) {
  auto snapshot = Snapshot(keys);
  absl::Status recorded = snapshot.status();
  uint64_t version = version_;
  if (recorded.ok()) {
    std::vector<store::KeyRecord> records;
    for (const Key& key : keys) records.push_back(key.record);
    auto updated = store_->UpdateKeys(records, removed, version_);
    recorded = updated.status();
    if (updated.ok()) version = *updated;
  }
  if (!recorded.ok()) {
    for (const std::string& kid : created) DeleteKeyFile(data_dir_, kid);
    return recorded;
  }
  keys_ = std::move(keys);
  version_ = version;
  {
    absl::MutexLock lock(&snapshot_mu_);
    snapshot_ = *snapshot;
  }
  // After the records are gone: a crash in between leaves an unused file,
  // never a record without its key.
  for (const std::string& kid : removed) DeleteKeyFile(data_dir_, kid);
  return snapshot;
}

}  // namespace sigil::server
