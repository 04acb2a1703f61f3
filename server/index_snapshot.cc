#include "server/index_snapshot.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "telemetry/log.h"

namespace sigil::server {
namespace {

using token::RevocationIndex;
using token::RevocationScope;

constexpr char kMagic[8] = {'S', 'I', 'G', 'I', 'L', 'I', 'D', 'X'};
constexpr uint32_t kFormatVersion = 1;
constexpr size_t kShards = RevocationIndex::kShards;
constexpr size_t kHashBytes = 32;
// Store ids are 32 hex digits; anything much longer is not ours.
constexpr size_t kMaxStoreIdBytes = 256;
// magic, version, shards, seq, written_at_us, entries, store id length.
constexpr size_t kFixedHeaderBytes = 8 + 4 + 4 + 8 + 8 + 8 + 4;
// offset, length, four counts, SHA-256.
constexpr size_t kSectionRowBytes = 8 + 8 + 4 * 8 + kHashBytes;
constexpr size_t kScopes = 4;
// The smallest entry: scope, two fixed integers, two one-byte lengths.
constexpr size_t kMinEntryBytes = 1 + 8 + 8 + 1 + 1;

using Hash = std::array<unsigned char, kHashBytes>;

Hash Sha256(absl::string_view data) {
  Hash hash{};
  unsigned int size = 0;
  // EVP_Digest fails only on allocation failure; a zero hash then fails
  // the comparison rather than passing it.
  if (EVP_Digest(data.data(), data.size(), hash.data(), &size, EVP_sha256(),
                 nullptr) != 1) {
    hash.fill(0);
  }
  return hash;
}

void PutFixed32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}
void PutFixed64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}
void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}
void PutBytes(std::string* out, absl::string_view bytes) {
  PutVarint(out, bytes.size());
  out->append(bytes.data(), bytes.size());
}

// Micros with the infinities kept: the saturated extremes stand for them.
int64_t TimeToMicros(absl::Time t) {
  if (t == absl::InfiniteFuture()) return std::numeric_limits<int64_t>::max();
  if (t == absl::InfinitePast()) return std::numeric_limits<int64_t>::min();
  return absl::ToUnixMicros(t);
}
absl::Time MicrosToTime(int64_t us) {
  if (us == std::numeric_limits<int64_t>::max()) return absl::InfiniteFuture();
  if (us == std::numeric_limits<int64_t>::min()) return absl::InfinitePast();
  return absl::FromUnixMicros(us);
}

// A bounds-checked cursor over bytes that may be anything.
class Reader {
 public:
  explicit Reader(absl::string_view data) : data_(data) {}
  bool Fixed32(uint32_t* v) {
    if (data_.size() < 4) return false;
    *v = 0;
    for (int i = 0; i < 4; ++i) {
      *v |= static_cast<uint32_t>(static_cast<unsigned char>(data_[i]))
            << (8 * i);
    }
    data_.remove_prefix(4);
    return true;
  }
  bool Fixed64(uint64_t* v) {
    if (data_.size() < 8) return false;
    *v = 0;
    for (int i = 0; i < 8; ++i) {
      *v |= static_cast<uint64_t>(static_cast<unsigned char>(data_[i]))
            << (8 * i);
    }
    data_.remove_prefix(8);
    return true;
  }
  bool Varint(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (data_.empty()) return false;
      const unsigned char byte = static_cast<unsigned char>(data_[0]);
      data_.remove_prefix(1);
      *v |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return true;
    }
    return false;
  }
  bool Bytes(size_t n, absl::string_view* out) {
    if (data_.size() < n) return false;
    *out = data_.substr(0, n);
    data_.remove_prefix(n);
    return true;
  }
  bool LengthPrefixed(absl::string_view* out) {
    uint64_t n = 0;
    return Varint(&n) && n <= data_.size() && Bytes(n, out);
  }
  bool Byte(unsigned char* out) {
    if (data_.empty()) return false;
    *out = static_cast<unsigned char>(data_[0]);
    data_.remove_prefix(1);
    return true;
  }
  bool empty() const { return data_.empty(); }

 private:
  absl::string_view data_;
};

struct Section {
  uint64_t offset = 0;
  uint64_t bytes = 0;
  std::array<uint64_t, kScopes> counts{};
  Hash hash{};
};

absl::Status IoError(absl::string_view what, const std::string& path) {
  return absl::UnavailableError(
      absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

// write(2) until done.
bool WriteAll(int fd, absl::string_view data, off_t offset) {
  while (!data.empty()) {
    const ssize_t n = pwrite(fd, data.data(), data.size(), offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
    offset += n;
  }
  return true;
}

bool ReadAll(int fd, char* out, size_t size, off_t offset) {
  while (size > 0) {
    const ssize_t n = pread(fd, out, size, offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    out += n;
    size -= static_cast<size_t>(n);
    offset += n;
  }
  return true;
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // close(2)'s own result: a write error may surface only here.
  bool Close() {
    const int fd = fd_;
    fd_ = -1;
    return close(fd) == 0;
  }

 private:
  int fd_;
};

std::string DirOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

size_t HeaderBytes(size_t store_id_bytes) {
  return kFixedHeaderBytes + store_id_bytes + kShards * kSectionRowBytes +
         kHashBytes;
}

// Parses one section into `builder`; false with `why` on anything amiss.
bool ParseSection(absl::string_view data, size_t shard, const Section& section,
                  absl::Time now, RevocationIndex::ShardBuilder* builder,
                  std::string* why) {
  if (Sha256(data) != section.hash) {
    *why = absl::StrCat("section ", shard, " checksum mismatch");
    return false;
  }
  uint64_t total = 0;
  for (uint64_t count : section.counts) total += count;
  // Checked before reserving: a count the bytes cannot hold is a lie.
  if (total > data.size() / kMinEntryBytes) {
    *why = absl::StrCat("section ", shard, " counts exceed its bytes");
    return false;
  }
  builder->Reserve(section.counts[0], section.counts[1], section.counts[2],
                   section.counts[3]);
  std::array<uint64_t, kScopes> seen{};
  const int64_t now_us = absl::ToUnixMicros(now);
  Reader in(data);
  while (!in.empty()) {
    unsigned char scope = 0;
    uint64_t not_before = 0;
    uint64_t expires = 0;
    RevocationIndex::EntryView entry;
    if (!in.Byte(&scope) || scope >= kScopes || !in.Fixed64(&not_before) ||
        !in.Fixed64(&expires) || !in.LengthPrefixed(&entry.key)) {
      *why = absl::StrCat("section ", shard, " has a malformed entry");
      return false;
    }
    entry.scope = static_cast<RevocationScope>(scope);
    if (entry.scope == RevocationScope::kSubjectSystem &&
        !in.LengthPrefixed(&entry.system)) {
      *why = absl::StrCat("section ", shard, " has a malformed entry");
      return false;
    }
    ++seen[scope];
    entry.not_before_us = static_cast<int64_t>(not_before);
    const int64_t expires_us = static_cast<int64_t>(expires);
    // Expired entries cover nothing alive: they are not loaded.
    if (expires_us <= now_us) continue;
    entry.expires_at = MicrosToTime(expires_us);
    if (!builder->Add(shard, entry)) {
      *why =
          absl::StrCat("section ", shard, " holds an entry of another shard");
      return false;
    }
  }
  if (seen != section.counts) {
    *why = absl::StrCat("section ", shard, " entry counts differ");
    return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<IndexSnapshotInfo> WriteIndexSnapshot(
    const RevocationIndex& index, absl::string_view store_id, absl::Time now,
    const std::string& path) {
  if (store_id.size() > kMaxStoreIdBytes) {
    return absl::InvalidArgumentError("store id too long for a snapshot");
  }
  // Read before any shard is copied: every revocation up to this seq was
  // applied (under the writer lock) before it could be read, and entries
  // only grow under later applies or leave once expired. So the shards,
  // copied one at a time while logouts go on, hold at least everything up
  // to `seq`; what later events added is applied again by the replay, and
  // applying a revocation twice changes nothing.
  const uint64_t seq = index.last_seq();
  const std::string tmp = path + ".tmp";
  Fd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (fd.get() < 0) return IoError("cannot create", tmp);
  // A failed write leaves no half file behind (the next one would truncate
  // it anyway; this frees the space now).
  struct RemoveOnFailure {
    const std::string& path;
    bool done = false;
    ~RemoveOnFailure() {
      if (!done) unlink(path.c_str());
    }
  } remove_tmp{tmp};

  const size_t header_bytes = HeaderBytes(store_id.size());
  std::array<Section, kShards> sections;
  uint64_t offset = header_bytes;
  uint64_t entries = 0;
  std::string buffer;
  for (size_t shard = 0; shard < kShards; ++shard) {
    buffer.clear();
    Section& section = sections[shard];
    index.ForEachInShard(
        shard, now, [&](const RevocationIndex::EntryView& entry) {
          buffer.push_back(static_cast<char>(entry.scope));
          PutFixed64(&buffer, static_cast<uint64_t>(entry.not_before_us));
          PutFixed64(&buffer,
                     static_cast<uint64_t>(TimeToMicros(entry.expires_at)));
          PutBytes(&buffer, entry.key);
          if (entry.scope == RevocationScope::kSubjectSystem) {
            PutBytes(&buffer, entry.system);
          }
          ++section.counts[static_cast<size_t>(entry.scope)];
        });
    section.offset = offset;
    section.bytes = buffer.size();
    section.hash = Sha256(buffer);
    if (!WriteAll(fd.get(), buffer, static_cast<off_t>(offset))) {
      return IoError("cannot write", tmp);
    }
    offset += buffer.size();
    for (uint64_t count : section.counts) entries += count;
  }

  std::string header;
  header.reserve(header_bytes);
  header.append(kMagic, sizeof(kMagic));
  PutFixed32(&header, kFormatVersion);
  PutFixed32(&header, kShards);
  PutFixed64(&header, seq);
  PutFixed64(&header, static_cast<uint64_t>(absl::ToUnixMicros(now)));
  PutFixed64(&header, entries);
  PutFixed32(&header, static_cast<uint32_t>(store_id.size()));
  header.append(store_id.data(), store_id.size());
  for (const Section& section : sections) {
    PutFixed64(&header, section.offset);
    PutFixed64(&header, section.bytes);
    for (uint64_t count : section.counts) PutFixed64(&header, count);
    header.append(reinterpret_cast<const char*>(section.hash.data()),
                  kHashBytes);
  }
  const Hash header_hash = Sha256(header);
  header.append(reinterpret_cast<const char*>(header_hash.data()), kHashBytes);
  if (!WriteAll(fd.get(), header, 0)) return IoError("cannot write", tmp);
  // Durable before it is named: a rename that reaches the disk before the
  // data would leave a torn file under the trusted name (the checksums
  // would refuse it, but the previous good snapshot would be gone).
  if (fsync(fd.get()) != 0) return IoError("cannot sync", tmp);
  if (!fd.Close()) return IoError("cannot close", tmp);
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    return IoError("cannot rename over", path);
  }
  remove_tmp.done = true;
  const std::string dir = DirOf(path);
  Fd dir_fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() < 0 || fsync(dir_fd.get()) != 0) {
    return IoError("cannot sync directory", dir);
  }
  return IndexSnapshotInfo{seq, entries, offset};
}

absl::StatusOr<IndexSnapshotInfo> ReadIndexSnapshot(const std::string& path,
                                                    absl::string_view store_id,
                                                    uint64_t max_seq,
                                                    absl::Time now, int threads,
                                                    RevocationIndex* index) {
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) {
      return absl::NotFoundError(absl::StrCat("no snapshot at ", path));
    }
    return IoError("cannot open", path);
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return IoError("cannot stat", path);
  const uint64_t file_bytes = static_cast<uint64_t>(st.st_size);
  auto data_loss = [&](absl::string_view why) {
    return absl::DataLossError(absl::StrCat("snapshot ", path, ": ", why));
  };

  std::string fixed(kFixedHeaderBytes, '\0');
  if (file_bytes < kFixedHeaderBytes ||
      !ReadAll(fd.get(), fixed.data(), fixed.size(), 0)) {
    return data_loss("shorter than its header");
  }
  Reader head(fixed);
  absl::string_view magic;
  uint32_t version = 0;
  uint32_t shards = 0;
  uint64_t seq = 0;
  uint64_t written_at_us = 0;
  uint64_t entries = 0;
  uint32_t id_bytes = 0;
  head.Bytes(sizeof(kMagic), &magic);
  head.Fixed32(&version);
  head.Fixed32(&shards);
  head.Fixed64(&seq);
  head.Fixed64(&written_at_us);
  head.Fixed64(&entries);
  head.Fixed32(&id_bytes);
  if (magic != absl::string_view(kMagic, sizeof(kMagic))) {
    return data_loss("not an index snapshot");
  }
  if (version != kFormatVersion || shards != kShards) {
    return data_loss(absl::StrCat("format version ", version, " with ", shards,
                                  " shards, not ", kFormatVersion, " with ",
                                  kShards));
  }
  if (id_bytes > kMaxStoreIdBytes) return data_loss("store id too long");
  const size_t header_bytes = HeaderBytes(id_bytes);
  if (file_bytes < header_bytes) return data_loss("shorter than its header");
  std::string header(header_bytes, '\0');
  if (!ReadAll(fd.get(), header.data(), header.size(), 0)) {
    return IoError("cannot read", path);
  }
  const absl::string_view covered(header.data(), header_bytes - kHashBytes);
  const Hash header_hash = Sha256(covered);
  if (std::memcmp(header_hash.data(), header.data() + covered.size(),
                  kHashBytes) != 0) {
    return data_loss("header checksum mismatch");
  }
  // The header is as written; from here on its fields are checked against
  // the store and the file, never assumed.
  Reader rest(covered.substr(kFixedHeaderBytes));
  absl::string_view id;
  rest.Bytes(id_bytes, &id);
  if (id != store_id) {
    return absl::FailedPreconditionError(absl::StrCat(
        "snapshot ", path, " is of store ", id, ", not ", store_id));
  }
  if (seq > max_seq) {
    return absl::FailedPreconditionError(
        absl::StrCat("snapshot ", path, " covers seq ", seq,
                     ", ahead of the store's last seq ", max_seq));
  }
  std::array<Section, kShards> sections;
  uint64_t expected_offset = header_bytes;
  uint64_t total = 0;
  for (Section& section : sections) {
    absl::string_view hash;
    rest.Fixed64(&section.offset);
    rest.Fixed64(&section.bytes);
    for (uint64_t& count : section.counts) rest.Fixed64(&count);
    rest.Bytes(kHashBytes, &hash);
    std::memcpy(section.hash.data(), hash.data(), kHashBytes);
    if (section.offset != expected_offset ||
        section.bytes > file_bytes - section.offset) {
      return data_loss("section table does not match the file");
    }
    expected_offset += section.bytes;
    for (uint64_t count : section.counts) total += count;
  }
  if (expected_offset != file_bytes) {
    return data_loss(absl::StrCat("file is ", file_bytes, " bytes, sections ",
                                  expected_offset));
  }
  if (total != entries) return data_loss("entry counts differ");

  // Sections are independent: each thread reads, checks and parses every
  // threads-th one into its own shard builder.
  threads = std::clamp(threads, 1, static_cast<int>(kShards));
  std::vector<RevocationIndex::ShardBuilder> builders(kShards);
  std::vector<std::string> failures(static_cast<size_t>(threads));
  auto work = [&](int t) {
    std::string buffer;
    for (size_t shard = static_cast<size_t>(t); shard < kShards;
         shard += static_cast<size_t>(threads)) {
      const Section& section = sections[shard];
      buffer.resize(section.bytes);
      if (!ReadAll(fd.get(), buffer.data(), buffer.size(),
                   static_cast<off_t>(section.offset))) {
        failures[t] = absl::StrCat("cannot read section ", shard);
        return;
      }
      if (!ParseSection(buffer, shard, section, now, &builders[shard],
                        &failures[t])) {
        return;
      }
    }
  };
  std::vector<std::thread> workers;
  for (int t = 1; t < threads; ++t) workers.emplace_back(work, t);
  work(0);
  for (std::thread& worker : workers) worker.join();
  for (const std::string& failure : failures) {
    if (!failure.empty()) return data_loss(failure);
  }
  index->Load(builders, seq);
  return IndexSnapshotInfo{seq, entries, file_bytes};
}

namespace {

// Applies the store's events after the index's seq up to `last_seq`;
// FAILED_PRECONDITION when one is missing: an event dropped as expired and
// one lost look the same, and only the full scan is sure.
absl::StatusOr<uint64_t> Replay(store::Store* store, uint64_t last_seq,
                                RevocationIndex* index) {
  uint64_t at = index->last_seq();
  uint64_t replayed = 0;
  constexpr size_t kBatch = 4096;
  while (at < last_seq) {
    auto events = store->ReadEvents(at, kBatch);
    if (!events.ok()) return events.status();
    if (events->empty() || events->front().seq != at + 1) {
      return absl::FailedPreconditionError(absl::StrCat(
          "event log has a gap after seq ", at, " (last seq ", last_seq, ")"));
    }
    for (size_t i = 1; i < events->size(); ++i) {
      if ((*events)[i].seq != (*events)[i - 1].seq + 1) {
        return absl::FailedPreconditionError(
            absl::StrCat("event log has a gap after seq ", (*events)[i - 1].seq,
                         " (last seq ", last_seq, ")"));
      }
    }
    index->ApplyAll(*events);
    at = events->back().seq;
    replayed += events->size();
  }
  return replayed;
}

absl::Status FullScan(store::Store* store, absl::Time now,
                      RevocationIndex* index) {
  // Applied in chunks: one lock for many, not one each.
  std::vector<token::Revocation> chunk;
  constexpr size_t kChunk = 4096;
  chunk.reserve(kChunk);
  absl::Status loaded =
      store->ForEachRevocation([&](const token::Revocation& r) {
        chunk.push_back(r);
        if (chunk.size() == kChunk) {
          index->ApplyAll(chunk);
          chunk.clear();
        }
      });
  if (!loaded.ok()) return loaded;
  index->ApplyAll(chunk);
  index->Prune(now);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<IndexLoad> LoadIndex(store::Store* store, absl::Time now,
                                    const std::string& snapshot_path,
                                    RevocationIndex* index) {
  const absl::Time start = absl::Now();
  IndexLoad load;
  // Nothing writes the store during start-up, so this is its last seq for
  // the whole load.
  const uint64_t last_seq = store->LastSeq();
  if (!snapshot_path.empty()) {
    const int threads = static_cast<int>(
        std::clamp(std::thread::hardware_concurrency(), 1u, 4u));
    auto read = ReadIndexSnapshot(snapshot_path, store->Id(), last_seq, now,
                                  threads, index);
    if (read.ok()) {
      load.snapshot_seq = read->seq;
      auto replayed = Replay(store, last_seq, index);
      if (replayed.ok()) {
        load.from_snapshot = true;
        load.replayed_events = *replayed;
      } else {
        load.snapshot_refused = std::string(replayed.status().message());
        token::RevocationIndex empty;
        index->Swap(empty);
      }
    } else if (!absl::IsNotFound(read.status())) {
      load.snapshot_refused = std::string(read.status().message());
    }
  }
  if (!load.from_snapshot) {
    absl::Status scanned = FullScan(store, now, index);
    if (!scanned.ok()) return scanned;
  }
  // The scan read the table after last_seq was read, and the replay
  // reached it: every revocation up to it is in the index, even when the
  // latest events have expired and left the table.
  index->RaiseSeq(last_seq);
  load.entries = index->size();
  load.took = absl::Now() - start;
  return load;
}

IndexSnapshotter::IndexSnapshotter(const RevocationIndex* index,
                                   std::string store_id,
                                   const token::Clock* clock, Options options,
                                   uint64_t written_seq)
    : index_(index),
      store_id_(std::move(store_id)),
      clock_(clock),
      options_(std::move(options)),
      written_seq_(written_seq),
      // Without a usable snapshot the first one is due at once: until it
      // exists, a restart scans the whole store.
      written_at_(written_seq == 0 ? absl::InfinitePast() : clock->Now()) {
  thread_ = std::thread([this] { Loop(); });
}

IndexSnapshotter::~IndexSnapshotter() {
  if (!stopping_.HasBeenNotified()) stopping_.Notify();
  if (thread_.joinable()) thread_.join();
}

uint64_t IndexSnapshotter::written_seq() const {
  absl::MutexLock lock(&mu_);
  return written_seq_;
}

absl::Status IndexSnapshotter::WriteNow() {
  // Held across the write: one writer of the path at a time.
  absl::MutexLock lock(&mu_);
  if (index_->last_seq() <= written_seq_) return absl::OkStatus();
  const absl::Time now = clock_->Now();
  auto written = WriteIndexSnapshot(*index_, store_id_, now, options_.path);
  if (!written.ok()) return written.status();
  written_seq_ = written->seq;
  written_at_ = now;
  telemetry::Log(telemetry::LogLevel::kInfo, "index snapshot written",
                 {{"path", options_.path},
                  {"seq", absl::StrCat(written->seq)},
                  {"entries", absl::StrCat(written->entries)},
                  {"bytes", absl::StrCat(written->bytes)}});
  return absl::OkStatus();
}

void IndexSnapshotter::Loop() {
  while (!stopping_.WaitForNotificationWithTimeout(absl::Seconds(1))) {
    bool due = false;
    {
      absl::MutexLock lock(&mu_);
      const uint64_t seq = index_->last_seq();
      due = seq > written_seq_ &&
            ((options_.every_events > 0 &&
              seq - written_seq_ >= options_.every_events) ||
             clock_->Now() - written_at_ >= options_.interval);
    }
    if (!due) continue;
    absl::Status written = WriteNow();
    if (!written.ok()) {
      // The previous snapshot stays; the next round tries again, and a
      // start without one scans the store.
      telemetry::Log(
          telemetry::LogLevel::kError, "index snapshot not written",
          {{"path", options_.path}, {"error", std::string(written.message())}});
    }
  }
}

void IndexSnapshotter::Stop() {
  if (!stopping_.HasBeenNotified()) stopping_.Notify();
  if (thread_.joinable()) thread_.join();
  absl::Status written = WriteNow();
  if (!written.ok()) {
    telemetry::Log(
        telemetry::LogLevel::kError, "index snapshot not written at shutdown",
        {{"path", options_.path}, {"error", std::string(written.message())}});
  }
}

}  // namespace sigil::server
