#ifndef SIGIL_SERVER_KEY_MANAGER_H_
#define SIGIL_SERVER_KEY_MANAGER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/key_vault.h"
#include "server/store/store.h"
#include "token/algorithm.h"
#include "token/clock.h"
#include "token/jwt.h"
#include "token/key.h"
#include "token/key_set.h"

namespace sigil::server {

// "next", "active", "retired" or "unstaged": the stage as logs and tests
// name it.
absl::string_view StageName(store::KeyRecord::Stage stage);

// A key and its stage, as ListKeys reports it.
struct KeyInfo {
  store::KeyRecord record;
  // For a retired key, when it leaves the key set; InfinitePast otherwise.
  absl::Time remove_after = absl::InfinitePast();
};

// The keys at one moment. Immutable: whoever holds one signs and verifies
// with a consistent (signer, key set) pair however rotations interleave.
struct KeySnapshot {
  token::JwtSigner signer;    // the active key
  token::KeySet public_keys;  // next, active and retired keys
  // Names the published set: 16 hex digits of a SHA-256 over its kids and
  // stages, so it changes with every rotation and removal and stays the
  // same across restarts.
  std::string version;
  std::vector<KeyInfo> keys;  // next, active, then retired newest first
};

// The authority's signing keys through their stages: next (published, not
// yet signing, so verifiers learn it before its first token) -> active
// (signs; exactly one) -> retired (published until every token it signed
// has expired: retired + max_ttl + a margin) -> removed (record and key
// file deleted). The store records each key's stage and instants. With a
// KeyVault (a key-encryption key), new private keys are sealed into their
// records and no file is written, so replicas sharing the store share the
// keys; without one, and for records from before (no sealed key), private
// keys are PKCS#8 PEM files of mode 0600 under data_dir/keys.
//
// Several managers may share one store (replicas): every change writes
// over the key set's version it read (Store::UpdateKeys), so of two
// changes made at once one is recorded and the other is ABORTED, after
// which its manager reloads the keys as stored. Reload() picks up what
// other managers recorded.
//
// Thread-safe. Current() takes a shared lock only to copy a shared_ptr, so
// signing and verifying never wait for a rotation; changes (Rotate,
// RotateIfDue, RemoveExpired, Reload) are serialized and publish a new
// snapshot only once the store has recorded them. A failed change leaves
// the keys as they were.
class KeyManager {
 public:
  // Loads the keys recorded in `store`. On first start it creates an
  // active and a next key of `alg`; without a next key (a store from
  // before stages) it stages one. Records without a stage are read as the
  // active key if newest, else retired at the next newer key's creation.
  // Retired keys already past their removal are dropped. `alg` is the
  // algorithm of keys generated from now on: changing it takes effect with
  // the key staged at the next rotation, which signs from the one after.
  // With `vault`, new keys are sealed under it and sealed records opened
  // with it. Managers starting together on one empty store agree on one
  // key set: the one whose write lands first; the others load it.
  // Errors name the file or kid: FAILED_PRECONDITION for a missing,
  // unreadable or malformed key file, a sealed key without a vault or that
  // does not open under it, or stored stages other than one active and at
  // most one next key;
  // UNAVAILABLE when the store fails. `store` and `clock` are not owned and
  // must outlive the manager.
  static absl::StatusOr<std::unique_ptr<KeyManager>> Load(
      const std::string& data_dir, token::Algorithm alg, absl::Duration max_ttl,
      store::Store* store, const token::Clock* clock,
      std::unique_ptr<const KeyVault> vault = nullptr);

  std::shared_ptr<const KeySnapshot> Current() const;

  // Promotes the next key to active, retires the active key, stages a new
  // next key and removes expired retired keys. Returns the new keys. When
  // another manager changed the keys since this one last read them (a
  // replica rotated at the same moment), nothing is written: the keys are
  // reloaded and returned as now stored.
  absl::StatusOr<std::shared_ptr<const KeySnapshot>> Rotate();
  // Rotate, if the active key has been active for `period` or longer.
  // Returns whether it rotated: false too when another manager changed the
  // keys first (they are then reloaded).
  absl::StatusOr<bool> RotateIfDue(absl::Duration period);
  // Removes retired keys past their removal time. Returns whether any was
  // (false when another manager changed the keys first; reloaded).
  absl::StatusOr<bool> RemoveExpired();
  // Reads the keys from the store and, if their version changed since this
  // manager last read or wrote them, publishes them. Returns whether it
  // did. On error (store, a key that does not open) the keys stay as they
  // were.
  absl::StatusOr<bool> Reload();

 private:
  struct Key {
    store::KeyRecord record;
    token::PrivateKey private_key;
  };

  KeyManager(std::string data_dir, token::Algorithm alg,
             absl::Duration retention, store::Store* store,
             const token::Clock* clock, std::unique_ptr<const KeyVault> vault)
      : data_dir_(std::move(data_dir)),
        alg_(alg),
        retention_(retention),
        store_(store),
        clock_(clock),
        vault_(std::move(vault)) {}

  // The private key of `record`: opened from its sealed form or read from
  // its file.
  absl::StatusOr<token::PrivateKey> OpenKey(
      const store::KeyRecord& record) const;
  // First start, or a start after stages or expiry changed the records:
  // plans and commits over the version read; ABORTED when another manager
  // wrote first.
  absl::Status LoadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<bool> ReloadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // A fresh key of alg_ in `stage`, created (and if active, activated)
  // `now`, sealed into its record or its file written. Fails, writing no
  // file, when the key cannot be generated, encoded or sealed.
  absl::StatusOr<Key> NewKey(store::KeyRecord::Stage stage, absl::Time now);
  // Takes retired keys past their removal out of `keys`; returns their kids.
  std::vector<std::string> DropExpired(std::vector<Key>* keys,
                                       absl::Time now) const;
  absl::StatusOr<std::shared_ptr<const KeySnapshot>> RotateLocked(
      absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Records `keys` as the whole key set over version_, deleting the
  // records of `removed`, then publishes it and deletes the removed key
  // files. On failure (ABORTED: the keys changed since version_) the files
  // of `created` are deleted and nothing changes.
  absl::StatusOr<std::shared_ptr<const KeySnapshot>> Commit(
      std::vector<Key> keys, const std::vector<std::string>& created,
      const std::vector<std::string>& removed)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::shared_ptr<const KeySnapshot>> Snapshot(
      const std::vector<Key>& keys) const;

  const std::string data_dir_;
  const token::Algorithm alg_;
  // How long a retired key stays published.
  const absl::Duration retention_;
  store::Store* const store_;
  const token::Clock* const clock_;
  const std::unique_ptr<const KeyVault> vault_;  // null: key files

  absl::Mutex mu_;
  std::vector<Key> keys_ ABSL_GUARDED_BY(mu_);
  // The store's key set version keys_ was read at or written as.
  uint64_t version_ ABSL_GUARDED_BY(mu_) = 0;
  mutable absl::Mutex snapshot_mu_ ABSL_ACQUIRED_AFTER(mu_);
  std::shared_ptr<const KeySnapshot> snapshot_ ABSL_GUARDED_BY(snapshot_mu_);
};

}  // namespace sigil::server

#endif  // SIGIL_SERVER_KEY_MANAGER_H_
