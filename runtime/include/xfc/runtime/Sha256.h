//===- Sha256.h - SHA-256 message digests -----------------------*- C++ -*-===//
//
// A small SHA-256 (FIPS 180-4) for cache keys and payload checksums, so that
// the runtime needs no crypto library and no LLVM.
//
//===----------------------------------------------------------------------===//

#ifndef XFC_RUNTIME_SHA256_H
#define XFC_RUNTIME_SHA256_H

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace xfc::runtime {

/// An incremental SHA-256: update() any number of times, then read the digest.
/// Reading the digest does not end the computation: more data may follow and
/// the digest is then that of everything so far.
class Sha256 {
public:
  /// The 32-byte digest.
  using Digest = std::array<std::uint8_t, 32>;

  Sha256();

  /// Appends `size` bytes at `data` to the message.
  void update(const void *data, std::size_t size);
  /// Appends the bytes of `text` to the message.
  void update(std::string_view text) { update(text.data(), text.size()); }

  /// The digest of the message so far.
  Digest getDigest() const;
  /// The digest of the message so far as 64 lowercase hex digits.
  std::string getHexDigest() const;

private:
  void processBlock(const std::uint8_t *block);

  std::array<std::uint32_t, 8> state;
  std::array<std::uint8_t, 64> buffer;
  std::size_t bufferSize = 0;
  std::uint64_t messageBytes = 0;
};

/// The SHA-256 of `data` as 64 lowercase hex digits.
std::string sha256Hex(std::string_view data);

/// `digest` as lowercase hex digits.
std::string toHex(const Sha256::Digest &digest);

} // namespace xfc::runtime

#endif // XFC_RUNTIME_SHA256_H
