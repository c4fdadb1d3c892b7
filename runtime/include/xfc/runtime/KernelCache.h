//===- KernelCache.h - Compiled kernels in memory and on disk ---*- C++ -*-===//
//
// NVRTC takes seconds per kernel; the cache makes every compile after the
// first one of a kernel free, within a process (memory) and across processes
// (one file per kernel under $XFC_CACHE_DIR or ~/.cache/xfc). Entries are
// written to a temporary file and renamed into place, and checked against a
// sha256 of their payload when read, so that no process ever loads a torn or
// corrupted kernel. docs/cache.md describes the key, the format and the
// guarantees.
//
//===----------------------------------------------------------------------===//

#ifndef XFC_RUNTIME_KERNELCACHE_H
#define XFC_RUNTIME_KERNELCACHE_H

#include "xfc/runtime/Status.h"

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace xfc::runtime {

/// Everything a compiled kernel depends on. The embedded template headers are
/// added by computeCacheKey itself.
struct CacheKeyParts {
  /// The emitted CUDA translation unit.
  std::string source;
  /// The NVRTC options, in order (getNvrtcFlags).
  std::vector<std::string> flags;
  /// "sm_80", "sm_90a", ...
  std::string arch;
  /// getNvrtcVersion(), e.g. "13.0".
  std::string nvrtcVersion;
  /// The xfc version that emitted the source.
  std::string xfcVersion;
};

/// The cache key of a kernel: 64 lowercase hex digits of a sha256 over every
/// part of `parts` in a fixed order, each with its length, and over the name
/// and text of every embedded template header.
std::string computeCacheKey(const CacheKeyParts &parts);

/// Where getOrCompile found its result.
enum class CacheOutcome {
  /// In this KernelCache's memory, or from a concurrent caller's compile.
  MemoryHit,
  /// In a verified file of the cache directory.
  DiskHit,
  /// From the compile function.
  Compiled,
};

/// One file of the cache directory.
struct CacheEntry {
  /// The key (64 hex digits).
  std::string key;
  /// The entry's file.
  std::string path;
  /// The file's size in bytes (header and payload).
  std::uint64_t size = 0;
  /// Last modification, in seconds since the epoch.
  std::int64_t mtime = 0;
};

/// How a KernelCache is set up.
struct KernelCacheOptions {
  /// The cache directory; "" means $XFC_CACHE_DIR, or $HOME/.cache/xfc where
  /// that is unset or empty.
  std::string directory;
  /// Read and write the directory; false keeps entries in memory only.
  bool useDisk = true;
};

/// Counters of one KernelCache since its construction.
struct KernelCacheStats {
  std::uint64_t memoryHits = 0;
  std::uint64_t diskHits = 0;
  /// Calls of compile functions (successful or not).
  std::uint64_t compiles = 0;
  std::uint64_t failedCompiles = 0;
  /// Files that failed verification (and were recompiled).
  std::uint64_t corruptedEntries = 0;
  /// Entries that could not be written to the directory.
  std::uint64_t diskWriteFailures = 0;
};

/// A thread-safe map from cache keys to compiled kernels (byte payloads),
/// kept in memory and in a directory shared by processes.
class KernelCache {
public:
  using Options = KernelCacheOptions;
  using Stats = KernelCacheStats;
  /// A payload produced by a compile function.
  using CompileFunction = std::function<StatusOr<std::vector<char>>()>;

  explicit KernelCache(Options options = {});
  KernelCache(const KernelCache &) = delete;
  KernelCache &operator=(const KernelCache &) = delete;

  /// The process-wide cache with default options (built on first use).
  static KernelCache &getGlobal();

  /// The payload stored under `key` (as computeCacheKey returns it): from
  /// memory, else from the directory, else from `compile`, which is then
  /// stored in both. Concurrent calls for one key run `compile` once; the
  /// others wait and share its result, a failure included. Failures are not
  /// cached: a later call compiles again. A corrupted file is reported once
  /// per process, removed and recompiled; an unwritable directory is reported
  /// once per process and the cache keeps entries in memory only. `outcome`,
  /// when given, is set on success.
  StatusOr<std::shared_ptr<const std::vector<char>>>
  getOrCompile(const std::string &key, const CompileFunction &compile,
               CacheOutcome *outcome = nullptr);

  /// The counters so far.
  Stats getStats() const;

  /// The entries of the cache directory, by key; empty when the directory
  /// does not exist.
  StatusOr<std::vector<CacheEntry>> listEntries() const;

  /// Removes every entry (and leftover temporary file) from the directory
  /// and forgets the entries in memory. Only files named like xfc's entries
  /// are removed; anything else in the directory is left alone. `removed`,
  /// when given, is set to the number of entries removed.
  Status clear(std::size_t *removed = nullptr);

  /// The cache directory (resolved from the environment when the options
  /// gave none); "" when none could be determined.
  std::string getDirectory() const;

  /// Whether new entries are still written to the directory (false with
  /// useDisk off, without a directory, or after a failed write).
  bool isWritingToDisk() const;

private:
  /// A compile in progress that other callers of the same key wait for.
  struct Pending {
    bool done = false;
    std::shared_ptr<const std::vector<char>> payload;
    Status error;
    std::condition_variable finished;
  };

  StatusOr<std::shared_ptr<const std::vector<char>>>
  loadOrCompile(const std::string &key, const CompileFunction &compile,
                CacheOutcome &outcome);
  void store(const std::string &key, const std::vector<char> &payload);
  void disableWrites(const std::string &reason);

  std::string directory;
  bool readDisk;
  bool writeDisk;

  mutable std::mutex mutex;
  std::unordered_map<std::string, std::shared_ptr<const std::vector<char>>>
      entries;
  std::unordered_map<std::string, std::shared_ptr<Pending>> pending;
  Stats stats;
};

} // namespace xfc::runtime

#endif // XFC_RUNTIME_KERNELCACHE_H
