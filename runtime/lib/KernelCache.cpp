//===- KernelCache.cpp - Compiled kernels in memory and on disk -----------===//
//
// An entry is one file, <dir>/<key[0:2]>/<key>.xfck: a 128-byte header
// (magic, format version, header size, payload size, sha256 of the payload,
// the key) followed by the payload. Writers fill a temporary file next to it
// and rename it into place, so readers see an old file or a new one, never a
// torn one; readers verify the header and the checksum anyway, which also
// catches disk corruption and files truncated by a crash.
//
//===----------------------------------------------------------------------===//

#include "xfc/runtime/KernelCache.h"
#include "xfc/runtime/EmbeddedHeaders.h"
#include "xfc/runtime/Sha256.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

namespace xfc::runtime {
namespace {

//===----------------------------------------------------------------------===//
// Keys
//===----------------------------------------------------------------------===//

/// Appends `value` as 8 little-endian bytes.
void appendU64(std::string &out, std::uint64_t value) {
  for (int i = 0; i < 8; ++i)
    out.push_back(char(value >> (8 * i)));
}

/// Feeds one length-prefixed string to `hash`.
void hashPart(Sha256 &hash, std::string_view part) {
  std::string length;
  appendU64(length, part.size());
  hash.update(length);
  hash.update(part);
}

/// The sha256 of the embedded headers' names and texts; they are fixed for
/// the life of the process, so it is computed once.
const std::string &getHeadersDigest() {
  static const std::string digest = [] {
    std::size_t count = 0;
    const EmbeddedHeader *headers = getEmbeddedHeaders(count);
    Sha256 hash;
    std::string countBytes;
    appendU64(countBytes, count);
    hash.update(countBytes);
    for (std::size_t i = 0; i < count; ++i) {
      hashPart(hash, headers[i].name);
      hashPart(hash, headers[i].content);
    }
    return hash.getHexDigest();
  }();
  return digest;
}

bool isHexDigit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/// Keys are computeCacheKey results: they name files, so nothing else is
/// accepted.
bool isValidKey(std::string_view key) {
  return key.size() == 64 && std::all_of(key.begin(), key.end(), isHexDigit);
}

//===----------------------------------------------------------------------===//
// Files
//===----------------------------------------------------------------------===//

constexpr char kMagic[8] = {'X', 'F', 'C', 'K', 'C', 'A', 'C', 'H'};
constexpr std::uint32_t kFormatVersion = 1;
constexpr std::size_t kHeaderSize = 128;
constexpr const char *kEntrySuffix = ".xfck";
constexpr const char *kTempSuffix = ".tmp";

std::string getErrnoMessage(int error) { return std::strerror(error); }

std::string getSubdirectory(const std::string &directory,
                            const std::string &key) {
  return directory + "/" + key.substr(0, 2);
}

std::string getEntryPath(const std::string &directory, const std::string &key) {
  return getSubdirectory(directory, key) + "/" + key + kEntrySuffix;
}

bool endsWith(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() &&
         text.substr(text.size() - suffix.size()) == suffix;
}

/// The key of an entry file named `name` in the subdirectory `prefix`, or ""
/// when the name is not one of an entry.
std::string getEntryKey(std::string_view name, std::string_view prefix) {
  if (!endsWith(name, kEntrySuffix))
    return "";
  std::string_view key =
      name.substr(0, name.size() - std::strlen(kEntrySuffix));
  if (!isValidKey(key) || key.substr(0, 2) != prefix)
    return "";
  return std::string(key);
}

/// Whether `name` in the subdirectory `prefix` is a temporary file of a
/// writer: ".<key>.<pid>.<n>.tmp".
bool isTempFileName(std::string_view name, std::string_view prefix) {
  if (name.size() < 66 || name[0] != '.' || name[65] != '.' ||
      !endsWith(name, kTempSuffix))
    return false;
  std::string_view key = name.substr(1, 64);
  return isValidKey(key) && key.substr(0, 2) == prefix;
}

void putU32(char *out, std::uint32_t value) {
  for (int i = 0; i < 4; ++i)
    out[i] = char(value >> (8 * i));
}

void putU64(char *out, std::uint64_t value) {
  for (int i = 0; i < 8; ++i)
    out[i] = char(value >> (8 * i));
}

std::uint64_t getU64(const char *in, int bytes) {
  std::uint64_t value = 0;
  for (int i = bytes - 1; i >= 0; --i)
    value = value << 8 | std::uint8_t(in[i]);
  return value;
}

/// Writes all of `data`; false with errno set on failure.
bool writeAll(int fd, const char *data, std::size_t size) {
  while (size > 0) {
    ssize_t written = ::write(fd, data, size);
    if (written < 0 && errno == EINTR)
      continue;
    if (written <= 0) {
      if (written == 0)
        errno = EIO;
      return false;
    }
    data += written;
    size -= std::size_t(written);
  }
  return true;
}

/// Reads `fd` to its end; false with errno set on failure.
bool readAll(int fd, std::vector<char> &out) {
  struct stat info;
  if (::fstat(fd, &info) == 0 && info.st_size > 0)
    out.reserve(std::size_t(info.st_size));
  char chunk[1 << 16];
  while (true) {
    ssize_t got = ::read(fd, chunk, sizeof(chunk));
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0)
      return false;
    if (got == 0)
      return true;
    out.insert(out.end(), chunk, chunk + got);
  }
}

/// Creates `path` and its missing parents; on failure, says which and why.
bool makeDirectories(const std::string &path, std::string &error) {
  std::size_t at = 0;
  while (at != std::string::npos) {
    at = path.find('/', at + 1);
    std::string prefix = path.substr(0, at);
    if (prefix.empty() || ::mkdir(prefix.c_str(), 0777) == 0)
      continue;
    int mkdirError = errno;
    struct stat info;
    if (mkdirError == EEXIST && ::stat(prefix.c_str(), &info) == 0 &&
        S_ISDIR(info.st_mode))
      continue;
    if (mkdirError == EEXIST)
      error = prefix + " exists and is not a directory";
    else
      error = "cannot create " + prefix + ": " + getErrnoMessage(mkdirError);
    return false;
  }
  return true;
}

enum class ReadResult { Missing, Valid, Corrupted };

/// Reads and verifies the entry of `key` at `path`. An unreadable file counts
/// as missing (it is recompiled, and writing the new entry replaces it).
ReadResult readEntry(const std::string &path, const std::string &key,
                     std::vector<char> &payload, std::string &why,
                     struct stat &identity) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return ReadResult::Missing;
  std::vector<char> file;
  bool readOk = readAll(fd, file) && ::fstat(fd, &identity) == 0;
  ::close(fd);
  if (!readOk)
    return ReadResult::Missing;

  if (file.size() < kHeaderSize) {
    why = "truncated: " + std::to_string(file.size()) +
          " bytes, shorter than the " + std::to_string(kHeaderSize) +
          "-byte header";
    return ReadResult::Corrupted;
  }
  const char *header = file.data();
  if (std::memcmp(header, kMagic, sizeof(kMagic)) != 0) {
    why = "bad magic";
    return ReadResult::Corrupted;
  }
  std::uint64_t version = getU64(header + 8, 4);
  if (version != kFormatVersion) {
    why = "format version " + std::to_string(version) + ", expected " +
          std::to_string(kFormatVersion);
    return ReadResult::Corrupted;
  }
  if (getU64(header + 12, 4) != kHeaderSize) {
    why = "header size " + std::to_string(getU64(header + 12, 4)) +
          ", expected " + std::to_string(kHeaderSize);
    return ReadResult::Corrupted;
  }
  if (std::string_view(header + 56, 64) != key) {
    why = "header names another key";
    return ReadResult::Corrupted;
  }
  std::uint64_t payloadSize = getU64(header + 16, 8);
  std::uint64_t present = file.size() - kHeaderSize;
  if (present < payloadSize) {
    why = "truncated: " + std::to_string(present) + " of " +
          std::to_string(payloadSize) + " payload bytes";
    return ReadResult::Corrupted;
  }
  if (present > payloadSize) {
    why = std::to_string(present - payloadSize) +
          " unexpected bytes after the payload";
    return ReadResult::Corrupted;
  }
  Sha256 hash;
  hash.update(file.data() + kHeaderSize, payloadSize);
  Sha256::Digest digest = hash.getDigest();
  if (std::memcmp(digest.data(), header + 24, digest.size()) != 0) {
    why = "payload checksum mismatch";
    return ReadResult::Corrupted;
  }
  payload.assign(file.begin() + kHeaderSize, file.end());
  return ReadResult::Valid;
}

/// Removes `path` if it is still the file described by `identity` (another
/// process may have replaced it with a good entry meanwhile).
void removeIfSame(const std::string &path, const struct stat &identity) {
  struct stat current;
  if (::stat(path.c_str(), &current) == 0 &&
      current.st_dev == identity.st_dev && current.st_ino == identity.st_ino)
    ::unlink(path.c_str());
}

/// Writes the entry of `key` into `directory` through a temporary file and
/// a rename; on failure, says what failed and why.
bool writeEntry(const std::string &directory, const std::string &key,
                const std::vector<char> &payload, std::string &error) {
  static std::atomic<unsigned> counter{0};
  char header[kHeaderSize] = {};
  std::memcpy(header, kMagic, sizeof(kMagic));
  putU32(header + 8, kFormatVersion);
  putU32(header + 12, kHeaderSize);
  putU64(header + 16, payload.size());
  Sha256 hash;
  hash.update(payload.data(), payload.size());
  Sha256::Digest digest = hash.getDigest();
  std::memcpy(header + 24, digest.data(), digest.size());
  std::memcpy(header + 56, key.data(), 64);

  std::string subdirectory = getSubdirectory(directory, key);
  std::string path = getEntryPath(directory, key);
  // A concurrent clear() may remove the subdirectory between its creation and
  // our writes: start over once when a path vanishes.
  for (int attempt = 0;; ++attempt) {
    if (!makeDirectories(subdirectory, error))
      return false;
    std::string temp = subdirectory + "/." + key + "." +
                       std::to_string(::getpid()) + "." +
                       std::to_string(counter++) + kTempSuffix;
    int fd =
        ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) {
      int openError = errno;
      if ((openError == ENOENT || openError == EEXIST) && attempt < 3)
        continue;
      error = "cannot create " + temp + ": " + getErrnoMessage(openError);
      return false;
    }
    bool written = writeAll(fd, header, sizeof(header)) &&
                   writeAll(fd, payload.data(), payload.size());
    int writeError = errno;
    if (::close(fd) != 0 && written) {
      written = false;
      writeError = errno;
    }
    if (!written) {
      ::unlink(temp.c_str());
      error = "cannot write " + temp + ": " + getErrnoMessage(writeError);
      return false;
    }
    if (::rename(temp.c_str(), path.c_str()) != 0) {
      int renameError = errno;
      ::unlink(temp.c_str());
      if (renameError == ENOENT && attempt < 3)
        continue;
      error = "cannot rename " + temp + " to " + path + ": " +
              getErrnoMessage(renameError);
      return false;
    }
    return true;
  }
}

//===----------------------------------------------------------------------===//
// Warnings
//===----------------------------------------------------------------------===//

/// Prints `message` on stderr unless `topic` was already warned about in this
/// process.
void warnOnce(const std::string &topic, const std::string &message) {
  static std::mutex warnedMutex;
  static std::set<std::string> *warned = new std::set<std::string>();
  {
    std::lock_guard<std::mutex> lock(warnedMutex);
    if (!warned->insert(topic).second)
      return;
  }
  std::string line = "xfc: warning: " + message + "\n";
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
}

std::string getDefaultDirectory() {
  if (const char *dir = std::getenv("XFC_CACHE_DIR"); dir && *dir)
    return dir;
  const char *home = std::getenv("HOME");
  if (!home || !*home) {
    struct passwd *entry = ::getpwuid(::getuid());
    home = entry ? entry->pw_dir : nullptr;
  }
  if (!home || !*home)
    return "";
  std::string path = home;
  if (path.back() != '/')
    path += '/';
  return path + ".cache/xfc";
}

} // namespace

//===----------------------------------------------------------------------===//
// Public API
//===----------------------------------------------------------------------===//

std::string computeCacheKey(const CacheKeyParts &parts) {
  Sha256 hash;
  hashPart(hash, "xfc kernel cache key v1");
  hashPart(hash, parts.source);
  std::string flagCount;
  appendU64(flagCount, parts.flags.size());
  hash.update(flagCount);
  for (const std::string &flag : parts.flags)
    hashPart(hash, flag);
  hashPart(hash, parts.arch);
  hashPart(hash, parts.nvrtcVersion);
  hashPart(hash, parts.xfcVersion);
  hashPart(hash, getHeadersDigest());
  return hash.getHexDigest();
}

KernelCache::KernelCache(Options options)
    : directory(options.directory.empty() ? getDefaultDirectory()
                                          : options.directory) {
  while (directory.size() > 1 && directory.back() == '/')
    directory.pop_back();
  readDisk = options.useDisk && !directory.empty();
  writeDisk = readDisk;
  if (options.useDisk && directory.empty())
    warnOnce("no-directory",
             "cannot determine the kernel cache directory (neither "
             "XFC_CACHE_DIR nor HOME is set); caching in memory only");
}

KernelCache &KernelCache::getGlobal() {
  // Never destroyed: kernels may be looked up from other static destructors.
  static KernelCache *global = new KernelCache();
  return *global;
}

StatusOr<std::shared_ptr<const std::vector<char>>>
KernelCache::getOrCompile(const std::string &key,
                          const CompileFunction &compile,
                          CacheOutcome *outcome) {
  if (!isValidKey(key))
    return Status::error("kernel cache: key '" + key +
                         "' is not 64 lowercase hex digits (use "
                         "computeCacheKey)");
  std::shared_ptr<Pending> mine;
  {
    std::unique_lock<std::mutex> lock(mutex);
    auto found = entries.find(key);
    if (found != entries.end()) {
      ++stats.memoryHits;
      if (outcome)
        *outcome = CacheOutcome::MemoryHit;
      return found->second;
    }
    auto inFlight = pending.find(key);
    if (inFlight != pending.end()) {
      std::shared_ptr<Pending> other = inFlight->second;
      other->finished.wait(lock, [&] { return other->done; });
      if (!other->payload)
        return other->error;
      ++stats.memoryHits;
      if (outcome)
        *outcome = CacheOutcome::MemoryHit;
      return other->payload;
    }
    mine = std::make_shared<Pending>();
    pending.emplace(key, mine);
  }

  CacheOutcome how = CacheOutcome::Compiled;
  StatusOr<std::shared_ptr<const std::vector<char>>> result =
      loadOrCompile(key, compile, how);
  {
    std::lock_guard<std::mutex> lock(mutex);
    pending.erase(key);
    mine->done = true;
    if (result) {
      entries[key] = *result;
      mine->payload = *result;
    } else {
      mine->error = result.getStatus();
    }
  }
  mine->finished.notify_all();
  if (!result)
    return result;
  // Waiters already have the payload; the file is for other processes.
  if (how == CacheOutcome::Compiled)
    store(key, **result);
  if (outcome)
    *outcome = how;
  return result;
}

StatusOr<std::shared_ptr<const std::vector<char>>>
KernelCache::loadOrCompile(const std::string &key,
                           const CompileFunction &compile,
                           CacheOutcome &outcome) {
  if (readDisk) {
    std::string path = getEntryPath(directory, key);
    std::vector<char> payload;
    std::string why;
    struct stat identity;
    switch (readEntry(path, key, payload, why, identity)) {
    case ReadResult::Valid: {
      std::lock_guard<std::mutex> lock(mutex);
      ++stats.diskHits;
      outcome = CacheOutcome::DiskHit;
      return std::make_shared<const std::vector<char>>(std::move(payload));
    }
    case ReadResult::Corrupted: {
      {
        std::lock_guard<std::mutex> lock(mutex);
        ++stats.corruptedEntries;
      }
      warnOnce("corrupted:" + path, "cache entry " + path + " is corrupted (" +
                                        why + "); recompiling");
      removeIfSame(path, identity);
      break;
    }
    case ReadResult::Missing:
      break;
    }
  }

  StatusOr<std::vector<char>> compiled = compile();
  {
    std::lock_guard<std::mutex> lock(mutex);
    ++stats.compiles;
    if (!compiled)
      ++stats.failedCompiles;
  }
  if (!compiled)
    return compiled.getStatus();
  outcome = CacheOutcome::Compiled;
  return std::make_shared<const std::vector<char>>(std::move(*compiled));
}

void KernelCache::store(const std::string &key,
                        const std::vector<char> &payload) {
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (!writeDisk)
      return;
  }
  std::string error;
  if (writeEntry(directory, key, payload, error))
    return;
  disableWrites(error);
}

void KernelCache::disableWrites(const std::string &reason) {
  {
    std::lock_guard<std::mutex> lock(mutex);
    ++stats.diskWriteFailures;
    writeDisk = false;
  }
  warnOnce("unwritable:" + directory, "cannot write kernel cache directory " +
                                          directory + " (" + reason +
                                          "); caching in memory only");
}

KernelCache::Stats KernelCache::getStats() const {
  std::lock_guard<std::mutex> lock(mutex);
  return stats;
}

std::string KernelCache::getDirectory() const { return directory; }

bool KernelCache::isWritingToDisk() const {
  std::lock_guard<std::mutex> lock(mutex);
  return writeDisk;
}

namespace {

/// Calls `visit(subdirectory, prefix, name)` for every file in the
/// two-hex-digit subdirectories (`prefix`) of `directory`; a missing
/// directory has none.
template <typename Visit>
Status forEachCacheFile(const std::string &directory, Visit visit) {
  DIR *root = ::opendir(directory.c_str());
  if (!root) {
    if (errno == ENOENT)
      return Status::ok();
    return Status::error("cannot read kernel cache directory " + directory +
                         ": " + getErrnoMessage(errno));
  }
  std::vector<std::string> subdirectories;
  while (struct dirent *item = ::readdir(root)) {
    std::string_view name = item->d_name;
    if (name.size() == 2 && isHexDigit(name[0]) && isHexDigit(name[1]))
      subdirectories.emplace_back(name);
  }
  ::closedir(root);
  std::sort(subdirectories.begin(), subdirectories.end());
  for (const std::string &prefix : subdirectories) {
    std::string subdirectory = directory + "/" + prefix;
    DIR *sub = ::opendir(subdirectory.c_str());
    if (!sub) {
      if (errno == ENOENT || errno == ENOTDIR)
        continue;
      return Status::error("cannot read kernel cache directory " +
                           subdirectory + ": " + getErrnoMessage(errno));
    }
    std::vector<std::string> names;
    while (struct dirent *item = ::readdir(sub))
      names.emplace_back(item->d_name);
    ::closedir(sub);
    std::sort(names.begin(), names.end());
    for (const std::string &name : names)
      visit(subdirectory, prefix, name);
  }
  return Status::ok();
}

} // namespace

StatusOr<std::vector<CacheEntry>> KernelCache::listEntries() const {
  std::vector<CacheEntry> list;
  if (directory.empty())
    return list;
  Status status = forEachCacheFile(
      directory, [&](const std::string &subdirectory, const std::string &prefix,
                     const std::string &name) {
        std::string key = getEntryKey(name, prefix);
        if (key.empty())
          return;
        CacheEntry entry;
        entry.path = subdirectory + "/" + name;
        struct stat info;
        if (::lstat(entry.path.c_str(), &info) != 0 || !S_ISREG(info.st_mode))
          return;
        entry.key = key;
        entry.size = std::uint64_t(info.st_size);
        entry.mtime = std::int64_t(info.st_mtime);
        list.push_back(std::move(entry));
      });
  if (!status)
    return status;
  return list;
}

Status KernelCache::clear(std::size_t *removed) {
  {
    std::lock_guard<std::mutex> lock(mutex);
    entries.clear();
  }
  std::size_t count = 0;
  if (removed)
    *removed = 0;
  if (directory.empty())
    return Status::ok();
  std::string firstError;
  std::set<std::string> touched;
  Status status = forEachCacheFile(
      directory, [&](const std::string &subdirectory, const std::string &prefix,
                     const std::string &name) {
        bool isEntry = !getEntryKey(name, prefix).empty();
        if (!isEntry && !isTempFileName(name, prefix))
          return;
        std::string path = subdirectory + "/" + name;
        struct stat info;
        if (::lstat(path.c_str(), &info) != 0 || !S_ISREG(info.st_mode))
          return;
        touched.insert(subdirectory);
        if (::unlink(path.c_str()) == 0) {
          count += isEntry;
        } else if (errno != ENOENT && firstError.empty()) {
          firstError = "cannot remove " + path + ": " + getErrnoMessage(errno);
        }
      });
  // Subdirectories left empty go too; rmdir keeps any that are not.
  for (const std::string &subdirectory : touched)
    ::rmdir(subdirectory.c_str());
  if (removed)
    *removed = count;
  if (!status)
    return status;
  if (!firstError.empty())
    return Status::error(firstError);
  return Status::ok();
}

} // namespace xfc::runtime
