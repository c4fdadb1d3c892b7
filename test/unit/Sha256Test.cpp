//===- Sha256Test.cpp - SHA-256 against the FIPS 180-4 examples -----------===//

#include "xfc/runtime/Sha256.h"

#include "gtest/gtest.h"

#include <string>

using namespace xfc::runtime;

namespace {

// FIPS 180-4 examples (NIST's SHA256.pdf and SHA2_Additional.pdf).
const char *const kEmpty =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const char *const kAbc =
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
const char *const kMessage448 =
    "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
const char *const kDigest448 =
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
const char *const kMessage896 =
    "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
    "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
const char *const kDigest896 =
    "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1";
const char *const kMillionA =
    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";

TEST(Sha256, FipsExamples) {
  EXPECT_EQ(sha256Hex(""), kEmpty);
  EXPECT_EQ(sha256Hex("abc"), kAbc);
  EXPECT_EQ(std::string(kMessage448).size(), 448u / 8);
  EXPECT_EQ(sha256Hex(kMessage448), kDigest448);
  EXPECT_EQ(std::string(kMessage896).size(), 896u / 8);
  EXPECT_EQ(sha256Hex(kMessage896), kDigest896);
  EXPECT_EQ(sha256Hex(std::string(1000000, 'a')), kMillionA);
}

TEST(Sha256, MillionAInUnevenPieces) {
  Sha256 hash;
  std::string piece(997, 'a');
  std::size_t left = 1000000;
  for (std::size_t step = 1; left > 0; step = step % 200 + 1) {
    std::size_t size = std::min({step, left, piece.size()});
    hash.update(piece.data(), size);
    left -= size;
  }
  EXPECT_EQ(hash.getHexDigest(), kMillionA);
}

TEST(Sha256, EverySplitOfA896BitMessage) {
  std::string message = kMessage896;
  for (std::size_t split = 0; split <= message.size(); ++split) {
    Sha256 hash;
    hash.update(std::string_view(message).substr(0, split));
    hash.update(std::string_view(message).substr(split));
    EXPECT_EQ(hash.getHexDigest(), kDigest896) << "split at " << split;
  }
}

TEST(Sha256, DigestDoesNotEndTheMessage) {
  Sha256 hash;
  hash.update("ab");
  EXPECT_EQ(hash.getHexDigest(), sha256Hex("ab"));
  hash.update("c");
  EXPECT_EQ(hash.getHexDigest(), kAbc);
  EXPECT_EQ(toHex(hash.getDigest()), kAbc);
}

TEST(Sha256, PaddingBoundaries) {
  // Lengths around the 55/56/64-byte padding edges must all differ and be
  // stable under byte-at-a-time updates.
  for (std::size_t length : {55u, 56u, 57u, 63u, 64u, 65u, 119u, 120u}) {
    std::string message(length, 'x');
    Sha256 bytewise;
    for (char c : message)
      bytewise.update(&c, 1);
    EXPECT_EQ(bytewise.getHexDigest(), sha256Hex(message)) << length;
  }
  // Known values (coreutils sha256sum).
  EXPECT_EQ(sha256Hex(std::string(55, 'a')),
            "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
  EXPECT_EQ(sha256Hex(std::string(64, 'a')),
            "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
}

} // namespace
