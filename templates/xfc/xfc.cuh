//===- xfc.cuh - Umbrella header of the xfc kernel templates --------------===//
//
// The one header an emitted translation unit includes. It needs nothing but
// `-I<templates>`: no system or CUDA header, so NVRTC compiles it as is.
// Host code may include it too and sees only the plain-C++ parts (params,
// element types, shared-memory formulas); the kernels sit behind
// `__CUDACC__`.
//
//===----------------------------------------------------------------------===//

#ifndef XFC_XFC_CUH
#define XFC_XFC_CUH

#include "xfc/attention_params.h"
#include "xfc/types.cuh"

#include "xfc/conv_ops.cuh"
#include "xfc/dropout.cuh"
#include "xfc/favor_ops.cuh"
#include "xfc/flash_fwd_sm80.cuh"
#include "xfc/flash_fwd_sm90.cuh"
#include "xfc/graph_ops.cuh"
#include "xfc/lambda_ops.cuh"
#include "xfc/nystrom_ops.cuh"
#include "xfc/schedule.cuh"
#include "xfc/simt_fwd.cuh"

namespace xfc {

/// Dynamic shared memory of attentionForward for the given traits: the
/// number the compiler must put in Traits::SharedBytes.
template <typename Traits>
XFC_HOST_DEVICE constexpr int attentionSharedBytes() {
  if constexpr (usesWgmmaPath<Traits>())
    return wgmmaSharedBytes(Traits::BlockM, Traits::BlockN, Traits::NumStages,
                            Traits::HeadDim);
  else if constexpr (isHalfElement<typename Traits::Element>)
    return flashSharedBytes(Traits::BlockM, Traits::BlockN, Traits::NumStages,
                            Traits::HeadDim);
  else
    return simtSharedBytes(Traits::BlockM, Traits::BlockN, Traits::NumStages,
                           Traits::HeadDim);
}

#if defined(__CUDACC__)

/// Attention forward for one (query tile, head, batch) CTA: grid =
/// (ceil(qLen / BlockM), heads, batch), NumWarps * 32 threads,
/// Traits::SharedBytes of dynamic shared memory. f16/bf16 run the
/// warp-specialized wgmma kernel (sm_90a) when NumWarps == 4 * (BlockM / 64
/// + 1) and the mma.sync flash kernel otherwise, float the SIMT kernel;
/// Schedule is DenseSchedule<Traits> or
/// BlockSparseSchedule<Traits, Layout>.
template <typename Traits, typename Schedule>
XFC_DEVICE void attentionForward(const AttentionParams &params) {
  using Element = typename Traits::Element;
  static_assert(isHalfElement<Element> || IsSame<Element, float>::value,
                "Element must be xfc::f16, xfc::bf16 or float");
  if constexpr (usesWgmmaPath<Traits>())
    flashForwardSm90<Traits, Schedule>(params);
  else if constexpr (isHalfElement<Element>)
    flashForwardSm80<Traits, Schedule>(params);
  else
    simtForward<Traits, Schedule>(params);
}

#endif // defined(__CUDACC__)

} // namespace xfc

#endif // XFC_XFC_CUH
