//===- dropout.cuh - Counter-based dropout mask ---------------------------===//
//
// The keep decision of element (b, h, i, j) is a pure function of
// (dropoutSeed, dropoutOffset, b, h, i, j): the same seed gives the same mask
// whatever the tile sizes, and no state is carried between launches. The
// hash is three rounds of a 32-bit avalanche mixer (not Philox): cheap enough
// to evaluate per element next to exp2.
//
//===----------------------------------------------------------------------===//

#ifndef XFC_DROPOUT_CUH
#define XFC_DROPOUT_CUH

#include "xfc/attention_params.h"
#include "xfc/types.cuh"

#if defined(__CUDACC__)

namespace xfc {

/// A 32-bit bijective avalanche mixer.
XFC_DEVICE unsigned mixBits(unsigned x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

class Dropout {
public:
  /// Keys the generator with the launch's seed and offset and the (b, h)
  /// of the CTA.
  XFC_DEVICE Dropout(const AttentionParams &params, int batch, int head) {
    unsigned long long seed = params.dropoutSeed, offset = params.dropoutOffset;
    unsigned k = mixBits(static_cast<unsigned>(seed) ^ 0x9e3779b9u);
    k = mixBits(k ^ static_cast<unsigned>(seed >> 32));
    k = mixBits(k + static_cast<unsigned>(offset));
    k = mixBits(k ^ static_cast<unsigned>(offset >> 32));
    k = mixBits(k + static_cast<unsigned>(batch) * 0x85ebca6bu);
    key = mixBits(k + static_cast<unsigned>(head) * 0xc2b2ae35u);
    float p = params.dropoutP;
    // keep iff hash >= threshold, i.e. with probability 1 - p.
    float t = p * 4294967296.0f;
    threshold = p <= 0.0f            ? 0u
                : t >= 4294967295.0f ? 0xffffffffu
                                     : static_cast<unsigned>(t);
    keepScale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  }

  /// The part of the hash shared by a query row.
  XFC_DEVICE unsigned rowKey(int i) const {
    return mixBits(key ^ (static_cast<unsigned>(i) * 0x27d4eb2fu));
  }

  XFC_DEVICE bool keep(unsigned rowKeyValue, int j) const {
    unsigned h = mixBits(rowKeyValue + static_cast<unsigned>(j) * 0x165667b1u);
    return h >= threshold;
  }

  /// Multiplier of kept probabilities, 1 / (1 - p) (0 when p >= 1).
  XFC_DEVICE float scale() const { return keepScale; }

private:
  unsigned key, threshold;
  float keepScale;
};

} // namespace xfc

#endif // defined(__CUDACC__)

#endif // XFC_DROPOUT_CUH
