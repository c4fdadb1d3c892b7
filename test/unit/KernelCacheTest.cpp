//===- KernelCacheTest.cpp - The kernel cache in memory and on disk -------===//
//
// Needs no NVRTC: compile functions here return synthetic payloads and count
// their calls.
//
//===----------------------------------------------------------------------===//

#include "xfc/runtime/KernelCache.h"
#include "xfc/runtime/Sha256.h"

#include "gtest/gtest.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace xfc;
using namespace xfc::runtime;

namespace {

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

/// A fresh directory, removed with everything in it at the end of the test.
class TempDir {
public:
  TempDir() {
    std::string pattern = ::testing::TempDir() + "xfc-cache-test-XXXXXX";
    char *made = ::mkdtemp(pattern.data());
    EXPECT_NE(made, nullptr) << "mkdtemp " << pattern;
    path = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    // Make chmod-ed subdirectories removable again.
    std::filesystem::permissions(path + "/locked",
                                 std::filesystem::perms::owner_all, ignored);
    std::filesystem::remove_all(path, ignored);
  }
  std::string path;
};

CacheKeyParts getBaseParts() {
  CacheKeyParts parts;
  parts.source = "extern \"C\" __global__ void k() {}\n";
  parts.flags = {"--std=c++17", "-arch=sm_90a", "-default-device"};
  parts.arch = "sm_90a";
  parts.nvrtcVersion = "13.0";
  parts.xfcVersion = "0.1.0";
  return parts;
}

std::string keyOf(const std::string &name) { return sha256Hex(name); }

/// `size` bytes that depend on `key` only.
std::vector<char> makePayload(const std::string &key, std::size_t size) {
  std::uint64_t state = 0x9e3779b97f4a7c15ull;
  for (char c : key)
    state = (state ^ std::uint8_t(c)) * 0x100000001b3ull;
  std::vector<char> payload(size);
  for (std::size_t i = 0; i < size; ++i) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    payload[i] = char(state);
  }
  return payload;
}

/// A compile function that counts its calls and returns makePayload(key).
KernelCache::CompileFunction countingCompile(const std::string &key,
                                             std::atomic<int> &calls,
                                             std::size_t size = 1000) {
  return [&calls, key, size]() -> StatusOr<std::vector<char>> {
    ++calls;
    return makePayload(key, size);
  };
}

std::string getEntryPath(const std::string &dir, const std::string &key) {
  return dir + "/" + key.substr(0, 2) + "/" + key + ".xfck";
}

bool exists(const std::string &path) {
  struct stat info;
  return ::stat(path.c_str(), &info) == 0;
}

std::string readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void writeFile(const std::string &path, const std::string &contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
}

std::size_t countOccurrences(const std::string &text,
                             const std::string &needle) {
  std::size_t count = 0;
  for (std::size_t at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + 1))
    ++count;
  return count;
}

KernelCache::Options onDisk(const std::string &dir) {
  KernelCache::Options options;
  options.directory = dir;
  return options;
}

//===----------------------------------------------------------------------===//
// Keys
//===----------------------------------------------------------------------===//

TEST(CacheKey, IsStableHexSha256) {
  std::string key = computeCacheKey(getBaseParts());
  EXPECT_EQ(key, computeCacheKey(getBaseParts()));
  ASSERT_EQ(key.size(), 64u);
  EXPECT_EQ(key.find_first_not_of("0123456789abcdef"), std::string::npos);
}

TEST(CacheKey, EveryPartChangesTheKey) {
  std::string base = computeCacheKey(getBaseParts());
  std::vector<std::pair<std::string, CacheKeyParts>> variants;
  auto add = [&](const std::string &what, auto change) {
    CacheKeyParts parts = getBaseParts();
    change(parts);
    variants.emplace_back(what, parts);
  };
  add("source", [](CacheKeyParts &p) { p.source += " "; });
  add("empty source", [](CacheKeyParts &p) { p.source.clear(); });
  add("flag text", [](CacheKeyParts &p) { p.flags[1] = "-arch=sm_80"; });
  add("flag order",
      [](CacheKeyParts &p) { std::swap(p.flags[0], p.flags[2]); });
  add("extra flag", [](CacheKeyParts &p) { p.flags.push_back("-G"); });
  add("extra empty flag", [](CacheKeyParts &p) { p.flags.push_back(""); });
  add("no flags", [](CacheKeyParts &p) { p.flags.clear(); });
  add("arch", [](CacheKeyParts &p) { p.arch = "sm_80"; });
  add("nvrtc version", [](CacheKeyParts &p) { p.nvrtcVersion = "12.8"; });
  add("xfc version", [](CacheKeyParts &p) { p.xfcVersion = "0.1.1"; });
  // Moving text across part boundaries must not collide.
  add("flags merged", [](CacheKeyParts &p) {
    p.flags = {"--std=c++17-arch=sm_90a", "-default-device"};
  });
  add("arch moved into version", [](CacheKeyParts &p) {
    p.arch = "sm_90";
    p.nvrtcVersion = "a13.0";
  });
  add("source moved into flags", [](CacheKeyParts &p) {
    p.flags.insert(p.flags.begin(), p.source);
    p.source.clear();
  });
  std::set<std::string> seen = {base};
  for (const auto &[what, parts] : variants) {
    std::string key = computeCacheKey(parts);
    EXPECT_NE(key, base) << what;
    EXPECT_TRUE(seen.insert(key).second) << what << " collides";
  }
}

//===----------------------------------------------------------------------===//
// Memory and disk
//===----------------------------------------------------------------------===//

TEST(KernelCache, MemoryHit) {
  KernelCache::Options options;
  options.useDisk = false;
  KernelCache cache(options);
  std::string key = keyOf("memory");
  std::atomic<int> calls{0};
  CacheOutcome outcome;
  auto first = cache.getOrCompile(key, countingCompile(key, calls), &outcome);
  ASSERT_TRUE(first) << first.getStatus().getMessage();
  EXPECT_EQ(outcome, CacheOutcome::Compiled);
  auto second = cache.getOrCompile(key, countingCompile(key, calls), &outcome);
  ASSERT_TRUE(second);
  EXPECT_EQ(outcome, CacheOutcome::MemoryHit);
  EXPECT_EQ(first->get(), second->get());
  EXPECT_EQ(**second, makePayload(key, 1000));
  EXPECT_EQ(calls, 1);
  KernelCache::Stats stats = cache.getStats();
  EXPECT_EQ(stats.compiles, 1u);
  EXPECT_EQ(stats.memoryHits, 1u);
  EXPECT_EQ(stats.diskHits, 0u);
}

TEST(KernelCache, DiskHitInAFreshCache) {
  TempDir dir;
  std::string key = keyOf("disk");
  std::atomic<int> calls{0};
  {
    KernelCache cache(onDisk(dir.path));
    EXPECT_EQ(cache.getDirectory(), dir.path);
    EXPECT_TRUE(cache.isWritingToDisk());
    ASSERT_TRUE(cache.getOrCompile(key, countingCompile(key, calls)));
  }
  EXPECT_TRUE(exists(getEntryPath(dir.path, key)));
  KernelCache fresh(onDisk(dir.path));
  CacheOutcome outcome;
  auto payload = fresh.getOrCompile(key, countingCompile(key, calls), &outcome);
  ASSERT_TRUE(payload);
  EXPECT_EQ(outcome, CacheOutcome::DiskHit);
  EXPECT_EQ(**payload, makePayload(key, 1000));
  EXPECT_EQ(calls, 1);
  // Then from memory.
  ASSERT_TRUE(fresh.getOrCompile(key, countingCompile(key, calls), &outcome));
  EXPECT_EQ(outcome, CacheOutcome::MemoryHit);
  KernelCache::Stats stats = fresh.getStats();
  EXPECT_EQ(stats.diskHits, 1u);
  EXPECT_EQ(stats.memoryHits, 1u);
  EXPECT_EQ(stats.compiles, 0u);
}

TEST(KernelCache, EmptyPayloadRoundTrips) {
  TempDir dir;
  std::string key = keyOf("empty");
  std::atomic<int> calls{0};
  ASSERT_TRUE(KernelCache(onDisk(dir.path))
                  .getOrCompile(key, countingCompile(key, calls, 0)));
  CacheOutcome outcome;
  auto payload = KernelCache(onDisk(dir.path))
                     .getOrCompile(key, countingCompile(key, calls), &outcome);
  ASSERT_TRUE(payload);
  EXPECT_EQ(outcome, CacheOutcome::DiskHit);
  EXPECT_TRUE((*payload)->empty());
}

TEST(KernelCache, DirectoryFromEnvironment) {
  TempDir dir;
  const char *oldDir = std::getenv("XFC_CACHE_DIR");
  const char *oldHome = std::getenv("HOME");
  std::string savedDir = oldDir ? oldDir : "",
              savedHome = oldHome ? oldHome : "";
  ::setenv("XFC_CACHE_DIR", (dir.path + "/from-env").c_str(), 1);
  EXPECT_EQ(KernelCache().getDirectory(), dir.path + "/from-env");
  ::setenv("XFC_CACHE_DIR", "", 1);
  ::setenv("HOME", dir.path.c_str(), 1);
  EXPECT_EQ(KernelCache().getDirectory(), dir.path + "/.cache/xfc");
  if (oldDir)
    ::setenv("XFC_CACHE_DIR", savedDir.c_str(), 1);
  else
    ::unsetenv("XFC_CACHE_DIR");
  if (oldHome)
    ::setenv("HOME", savedHome.c_str(), 1);
  else
    ::unsetenv("HOME");
}

TEST(KernelCache, RejectsKeysThatAreNotHashes) {
  KernelCache cache(onDisk("/nonexistent"));
  std::atomic<int> calls{0};
  for (std::string key :
       std::vector<std::string>{"", "../../etc/passwd", std::string(64, 'A'),
                                std::string(63, 'a')}) {
    auto result = cache.getOrCompile(key, countingCompile(key, calls));
    ASSERT_FALSE(result) << key;
    EXPECT_NE(result.getStatus().getMessage().find("computeCacheKey"),
              std::string::npos);
  }
  EXPECT_EQ(calls, 0);
}

//===----------------------------------------------------------------------===//
// Concurrency within a process
//===----------------------------------------------------------------------===//

TEST(KernelCache, SixteenThreadsCompileOnce) {
  TempDir dir;
  KernelCache cache(onDisk(dir.path));
  std::string key = keyOf("threads");
  std::atomic<int> calls{0};
  std::atomic<int> ready{0};
  auto slowCompile = [&]() -> StatusOr<std::vector<char>> {
    ++calls;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    return makePayload(key, 4096);
  };
  std::vector<std::shared_ptr<const std::vector<char>>> results(16);
  std::vector<int> failures(16, 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < 16; ++i)
    threads.emplace_back([&, i] {
      ++ready;
      while (ready < 16)
        std::this_thread::yield();
      auto result = cache.getOrCompile(key, slowCompile);
      if (result)
        results[i] = *result;
      else
        failures[i] = 1;
    });
  for (std::thread &thread : threads)
    thread.join();
  EXPECT_EQ(calls, 1);
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(failures[i], 0);
    ASSERT_TRUE(results[i]);
    EXPECT_EQ(results[i].get(), results[0].get()) << "thread " << i;
  }
  EXPECT_EQ(*results[0], makePayload(key, 4096));
  KernelCache::Stats stats = cache.getStats();
  EXPECT_EQ(stats.compiles, 1u);
  EXPECT_EQ(stats.memoryHits, 15u);
}

TEST(KernelCache, FailedCompileIsNotCached) {
  TempDir dir;
  KernelCache cache(onDisk(dir.path));
  std::string key = keyOf("fails");
  int calls = 0;
  bool fail = true;
  auto compile = [&]() -> StatusOr<std::vector<char>> {
    ++calls;
    if (fail)
      return Status::error("k.cu: NVRTC failed: no such template");
    return makePayload(key, 100);
  };
  auto first = cache.getOrCompile(key, compile);
  ASSERT_FALSE(first);
  EXPECT_EQ(first.getStatus().getMessage(),
            "k.cu: NVRTC failed: no such template");
  EXPECT_FALSE(exists(getEntryPath(dir.path, key)));
  ASSERT_FALSE(cache.getOrCompile(key, compile));
  EXPECT_EQ(calls, 2);
  fail = false;
  CacheOutcome outcome;
  auto third = cache.getOrCompile(key, compile, &outcome);
  ASSERT_TRUE(third);
  EXPECT_EQ(outcome, CacheOutcome::Compiled);
  EXPECT_EQ(calls, 3);
  EXPECT_TRUE(exists(getEntryPath(dir.path, key)));
  KernelCache::Stats stats = cache.getStats();
  EXPECT_EQ(stats.compiles, 3u);
  EXPECT_EQ(stats.failedCompiles, 2u);
}

TEST(KernelCache, ConcurrentWaitersShareAFailureThenRetry) {
  KernelCache::Options options;
  options.useDisk = false;
  KernelCache cache(options);
  std::string key = keyOf("shared failure");
  std::atomic<int> calls{0};
  auto failing = [&]() -> StatusOr<std::vector<char>> {
    ++calls;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    return Status::error("boom");
  };
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] {
      auto result = cache.getOrCompile(key, failing);
      if (!result && result.getStatus().getMessage() == "boom")
        ++failures;
    });
  for (std::thread &thread : threads)
    thread.join();
  EXPECT_EQ(failures, 8);
  EXPECT_GE(calls, 1);
  int before = calls;
  std::atomic<int> goodCalls{0};
  ASSERT_TRUE(cache.getOrCompile(key, countingCompile(key, goodCalls)));
  EXPECT_EQ(goodCalls, 1);
  EXPECT_EQ(calls, before);
}

//===----------------------------------------------------------------------===//
// Corrupted entries
//===----------------------------------------------------------------------===//

struct Corruption {
  const char *name;
  std::function<void(std::string &)> apply;
  const char *why;
};

TEST(KernelCache, CorruptedEntriesAreDetectedWarnedOnceAndRewritten) {
  std::vector<Corruption> corruptions = {
      {"payload byte flipped", [](std::string &f) { f[500] ^= 0x20; },
       "payload checksum mismatch"},
      {"checksum byte flipped", [](std::string &f) { f[30] ^= 1; },
       "payload checksum mismatch"},
      {"truncated payload", [](std::string &f) { f.resize(f.size() - 10); },
       "truncated: 990 of 1000 payload bytes"},
      {"truncated header", [](std::string &f) { f.resize(40); },
       "truncated: 40 bytes, shorter than the 128-byte header"},
      {"empty file", [](std::string &f) { f.clear(); }, "truncated: 0 bytes"},
      {"wrong magic", [](std::string &f) { f[0] = 'Y'; }, "bad magic"},
      {"future format", [](std::string &f) { f[8] = 2; },
       "format version 2, expected 1"},
      {"trailing bytes", [](std::string &f) { f += "xyz"; },
       "3 unexpected bytes after the payload"},
      {"another key's entry", [](std::string &f) { f[56] ^= 1; },
       "header names another key"},
  };
  TempDir dir;
  for (const Corruption &corruption : corruptions) {
    SCOPED_TRACE(corruption.name);
    std::string key = keyOf(std::string("corrupt ") + corruption.name);
    std::string path = getEntryPath(dir.path, key);
    std::atomic<int> calls{0};
    ASSERT_TRUE(KernelCache(onDisk(dir.path))
                    .getOrCompile(key, countingCompile(key, calls)));
    std::string good = readFile(path);
    ASSERT_EQ(good.size(), 128u + 1000u);
    std::string bad = good;
    corruption.apply(bad);
    writeFile(path, bad);

    KernelCache cache(onDisk(dir.path));
    CacheOutcome outcome;
    ::testing::internal::CaptureStderr();
    auto payload =
        cache.getOrCompile(key, countingCompile(key, calls), &outcome);
    std::string warnings = ::testing::internal::GetCapturedStderr();
    ASSERT_TRUE(payload);
    EXPECT_EQ(outcome, CacheOutcome::Compiled);
    EXPECT_EQ(**payload, makePayload(key, 1000));
    EXPECT_EQ(calls, 2);
    EXPECT_EQ(warnings.rfind("xfc: warning: cache entry " + path +
                                 " is corrupted (" + corruption.why,
                             0),
              0u)
        << warnings;
    EXPECT_NE(warnings.find("); recompiling\n"), std::string::npos) << warnings;
    EXPECT_EQ(cache.getStats().corruptedEntries, 1u);
    // Rewritten: byte-identical to the first write, and a disk hit again.
    EXPECT_EQ(readFile(path), good);
    ASSERT_TRUE(KernelCache(onDisk(dir.path))
                    .getOrCompile(key, countingCompile(key, calls), &outcome));
    EXPECT_EQ(outcome, CacheOutcome::DiskHit);

    // The same entry corrupted again: recompiled, but not warned twice.
    writeFile(path, bad);
    KernelCache again(onDisk(dir.path));
    ::testing::internal::CaptureStderr();
    ASSERT_TRUE(again.getOrCompile(key, countingCompile(key, calls), &outcome));
    EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
    EXPECT_EQ(outcome, CacheOutcome::Compiled);
    EXPECT_EQ(again.getStats().corruptedEntries, 1u);
    EXPECT_EQ(readFile(path), good);
  }
}

//===----------------------------------------------------------------------===//
// Unwritable directories
//===----------------------------------------------------------------------===//

/// Checks that `dir` makes `cache` fall back to memory with one warning.
void expectMemoryFallback(const std::string &dir) {
  KernelCache cache(onDisk(dir));
  std::atomic<int> calls{0};
  std::string key1 = keyOf(dir + "1"), key2 = keyOf(dir + "2");
  ::testing::internal::CaptureStderr();
  auto first = cache.getOrCompile(key1, countingCompile(key1, calls));
  auto second = cache.getOrCompile(key2, countingCompile(key2, calls));
  CacheOutcome outcome;
  auto again = cache.getOrCompile(key1, countingCompile(key1, calls), &outcome);
  std::string warnings = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(first);
  ASSERT_TRUE(second);
  ASSERT_TRUE(again);
  EXPECT_EQ(outcome, CacheOutcome::MemoryHit);
  EXPECT_EQ(**again, makePayload(key1, 1000));
  EXPECT_EQ(calls, 2);
  EXPECT_FALSE(cache.isWritingToDisk());
  EXPECT_EQ(countOccurrences(warnings, "xfc: warning:"), 1u) << warnings;
  EXPECT_EQ(warnings.rfind("xfc: warning: cannot write kernel cache "
                           "directory " +
                               dir + " (",
                           0),
            0u)
      << warnings;
  EXPECT_NE(warnings.find("); caching in memory only\n"), std::string::npos)
      << warnings;
  EXPECT_EQ(cache.getStats().diskWriteFailures, 1u);

  // A second cache on the same directory in this process stays quiet.
  KernelCache other(onDisk(dir));
  ::testing::internal::CaptureStderr();
  ASSERT_TRUE(other.getOrCompile(key1, countingCompile(key1, calls)));
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
}

TEST(KernelCache, DirectoryUnderARegularFileFallsBackToMemory) {
  TempDir dir;
  writeFile(dir.path + "/file", "not a directory");
  expectMemoryFallback(dir.path + "/file/cache");
  expectMemoryFallback(dir.path + "/file");
}

TEST(KernelCache, ReadOnlyDirectoryFallsBackToMemory) {
  if (::geteuid() == 0)
    GTEST_SKIP() << "root ignores directory permissions";
  TempDir dir;
  std::string locked = dir.path + "/locked";
  ASSERT_EQ(::mkdir(locked.c_str(), 0500), 0);
  expectMemoryFallback(locked);
  expectMemoryFallback(locked + "/cache");
}

//===----------------------------------------------------------------------===//
// Listing and clearing
//===----------------------------------------------------------------------===//

TEST(KernelCache, ListEntries) {
  TempDir dir;
  KernelCache cache(onDisk(dir.path + "/cache"));
  auto none = cache.listEntries();
  ASSERT_TRUE(none) << none.getStatus().getMessage();
  EXPECT_TRUE(none->empty());

  std::vector<std::string> keys;
  std::atomic<int> calls{0};
  for (int i = 0; i < 5; ++i) {
    keys.push_back(keyOf("list " + std::to_string(i)));
    ASSERT_TRUE(cache.getOrCompile(
        keys.back(), countingCompile(keys.back(), calls, 10 * i)));
  }
  auto entries = cache.listEntries();
  ASSERT_TRUE(entries);
  ASSERT_EQ(entries->size(), 5u);
  std::int64_t now = std::time(nullptr);
  for (const CacheEntry &entry : *entries) {
    auto at = std::find(keys.begin(), keys.end(), entry.key);
    ASSERT_NE(at, keys.end());
    std::size_t i = at - keys.begin();
    EXPECT_EQ(entry.path, getEntryPath(dir.path + "/cache", entry.key));
    EXPECT_EQ(entry.size, 128u + 10 * i);
    EXPECT_LE(std::abs(entry.mtime - now), 60);
  }
  EXPECT_TRUE(std::is_sorted(
      entries->begin(), entries->end(),
      [](const CacheEntry &a, const CacheEntry &b) { return a.key < b.key; }));
}

TEST(KernelCache, ClearRemovesOnlyCacheFiles) {
  TempDir dir;
  std::string root = dir.path + "/cache";
  KernelCache cache(onDisk(root));
  std::atomic<int> calls{0};
  std::vector<std::string> keys;
  for (int i = 0; i < 3; ++i) {
    keys.push_back(keyOf("clear " + std::to_string(i)));
    ASSERT_TRUE(
        cache.getOrCompile(keys.back(), countingCompile(keys.back(), calls)));
  }
  std::string prefix = keys[0].substr(0, 2);
  std::string other = std::string(prefix == "00" ? "11" : "00");
  // Files a user (or another tool) might keep there.
  std::vector<std::string> foreign = {
      root + "/README",
      root + "/" + prefix + "/notes.txt",
      root + "/" + prefix + "/" + keys[0] + ".cubin",
      root + "/" + prefix + "/" + keys[0] + ".xfck.bak",
      // An entry name in the wrong subdirectory.
      root + "/" + other + "/" + keys[0] + ".xfck",
      // An entry name in a subdirectory that is not two hex digits.
      root + "/zz/" + keys[0] + ".xfck",
      root + "/sub/dir/file",
  };
  for (const std::string &path : foreign) {
    std::filesystem::create_directories(
        std::filesystem::path(path).parent_path());
    writeFile(path, "keep me");
  }
  // A writer's leftover temporary file is xfc's and goes.
  std::string temp = root + "/" + prefix + "/." + keys[0] + ".4242.7.tmp";
  writeFile(temp, "partial");

  std::size_t removed = 99;
  Status status = cache.clear(&removed);
  ASSERT_TRUE(status) << status.getMessage();
  EXPECT_EQ(removed, 3u);
  for (const std::string &key : keys)
    EXPECT_FALSE(exists(getEntryPath(root, key)));
  EXPECT_FALSE(exists(temp));
  for (const std::string &path : foreign)
    EXPECT_EQ(readFile(path), "keep me") << path;
  auto entries = cache.listEntries();
  ASSERT_TRUE(entries);
  EXPECT_TRUE(entries->empty());
  // Memory is forgotten too.
  CacheOutcome outcome;
  ASSERT_TRUE(
      cache.getOrCompile(keys[1], countingCompile(keys[1], calls), &outcome));
  EXPECT_EQ(outcome, CacheOutcome::Compiled);
  // A missing directory is an empty cache.
  KernelCache missing(onDisk(dir.path + "/never"));
  EXPECT_TRUE(missing.clear(&removed));
  EXPECT_EQ(removed, 0u);
  EXPECT_FALSE(exists(dir.path + "/never"));
}

//===----------------------------------------------------------------------===//
// Several processes on one directory
//===----------------------------------------------------------------------===//

constexpr int kProcesses = 8;
constexpr int kKeys = 4;
constexpr int kRounds = 12;

std::size_t getPayloadSize(int key) { return (1 << 20) + key * 300007; }

/// One child: rounds of fresh caches over all keys, removing some entries
/// first so that writers keep replacing files under the readers. Returns an
/// exit code (no gtest in the child).
int runChild(const std::string &dir, int child,
             const std::vector<std::string> &keys) {
  for (int round = 0; round < kRounds; ++round) {
    KernelCache cache(onDisk(dir));
    for (int k = 0; k < kKeys; ++k) {
      if ((round + child + k) % 3 == 0)
        ::unlink(getEntryPath(dir, keys[k]).c_str());
      std::atomic<int> calls{0};
      auto payload = cache.getOrCompile(
          keys[k], countingCompile(keys[k], calls, getPayloadSize(k)));
      if (!payload)
        return 2;
      if (**payload != makePayload(keys[k], getPayloadSize(k)))
        return 3;
    }
    KernelCache::Stats stats = cache.getStats();
    if (stats.corruptedEntries || stats.diskWriteFailures)
      return 4;
  }
  return 0;
}

TEST(KernelCache, ManyProcessesNeverSeeATornEntry) {
  TempDir dir;
  std::vector<std::string> keys;
  std::vector<std::vector<char>> expected;
  for (int k = 0; k < kKeys; ++k) {
    keys.push_back(keyOf("process " + std::to_string(k)));
    expected.push_back(makePayload(keys.back(), getPayloadSize(k)));
  }
  std::fflush(nullptr);
  std::vector<pid_t> children;
  for (int child = 0; child < kProcesses; ++child) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0) << "fork failed";
    if (pid == 0)
      ::_exit(runChild(dir.path, child, keys));
    children.push_back(pid);
  }

  // Read every entry over and over while the children write.
  std::size_t reads = 0, diskHits = 0;
  std::vector<int> statuses(kProcesses, -1);
  std::size_t running = kProcesses;
  while (running > 0) {
    for (int k = 0; k < kKeys; ++k) {
      KernelCache reader(onDisk(dir.path));
      std::atomic<int> calls{0};
      CacheOutcome outcome;
      auto payload = reader.getOrCompile(
          keys[k], countingCompile(keys[k], calls, getPayloadSize(k)),
          &outcome);
      ASSERT_TRUE(payload) << payload.getStatus().getMessage();
      ASSERT_EQ(**payload, expected[k]) << "wrong payload for key " << k;
      ASSERT_EQ(reader.getStats().corruptedEntries, 0u)
          << "a reader saw a torn or corrupted entry";
      ++reads;
      diskHits += outcome == CacheOutcome::DiskHit;
    }
    for (int i = 0; i < kProcesses; ++i) {
      if (statuses[i] != -1)
        continue;
      int status = 0;
      if (::waitpid(children[i], &status, WNOHANG) == children[i]) {
        statuses[i] = status;
        --running;
      }
    }
  }
  for (int i = 0; i < kProcesses; ++i) {
    EXPECT_TRUE(WIFEXITED(statuses[i])) << "child " << i;
    EXPECT_EQ(WEXITSTATUS(statuses[i]), 0)
        << "child " << i
        << " failed (2: error, 3: wrong payload, 4: corrupted or unwritten)";
  }
  EXPECT_GT(reads, 0u);
  EXPECT_GT(diskHits, 0u);
  // Whatever is left is complete and no temporary file remains.
  KernelCache after(onDisk(dir.path));
  auto entries = after.listEntries();
  ASSERT_TRUE(entries);
  EXPECT_LE(entries->size(), std::size_t(kKeys));
  for (const auto &item :
       std::filesystem::recursive_directory_iterator(dir.path))
    EXPECT_EQ(item.path().filename().string().find(".tmp"), std::string::npos)
        << item.path();
  printf("[ info ] %zu reads (%zu from disk) beside %d writer processes\n",
         reads, diskHits, kProcesses);
}

//===----------------------------------------------------------------------===//
// Timing (informational)
//===----------------------------------------------------------------------===//

TEST(KernelCache, HitTimes) {
  TempDir dir;
  for (std::size_t size : {std::size_t(40) << 10, std::size_t(1) << 20}) {
    std::string key = keyOf("timing " + std::to_string(size));
    std::atomic<int> calls{0};
    KernelCache writer(onDisk(dir.path));
    ASSERT_TRUE(writer.getOrCompile(key, countingCompile(key, calls, size)));
    using Clock = std::chrono::steady_clock;
    constexpr int kRepeats = 50;
    Clock::duration disk{}, memory{};
    for (int i = 0; i < kRepeats; ++i) {
      KernelCache cache(onDisk(dir.path));
      CacheOutcome outcome;
      Clock::time_point start = Clock::now();
      ASSERT_TRUE(
          cache.getOrCompile(key, countingCompile(key, calls, size), &outcome));
      Clock::time_point middle = Clock::now();
      ASSERT_TRUE(cache.getOrCompile(key, countingCompile(key, calls, size)));
      Clock::time_point end = Clock::now();
      ASSERT_EQ(outcome, CacheOutcome::DiskHit);
      disk += middle - start;
      memory += end - middle;
    }
    EXPECT_EQ(calls, 1);
    auto us = [](Clock::duration d) {
      return std::chrono::duration<double, std::micro>(d).count() / kRepeats;
    };
    printf("[ info ] %zu-byte payload: disk hit %.1f us, memory hit %.2f us\n",
           size, us(disk), us(memory));
  }
}

} // namespace
