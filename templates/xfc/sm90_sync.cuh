//===- sm90_sync.cuh - mbarrier, named-barrier and wgmma helpers (sm_90) --===//
//
// Inline-PTX wrappers of the Hopper forward kernel: mbarriers (init, arrive,
// parity wait, cp.async and TMA completion), TMA tensor loads, named barriers,
// the wgmma fence / commit / wait, shared-memory matrix descriptors, proxy
// fences and setmaxnreg.
//
//===----------------------------------------------------------------------===//

#ifndef XFC_SM90_SYNC_CUH
#define XFC_SM90_SYNC_CUH

#include "xfc/types.cuh"

#if defined(__CUDACC__)

namespace xfc {
namespace sm90 {

XFC_DEVICE void mbarInit(unsigned bar, unsigned count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar),
               "r"(count)
               : "memory");
}

XFC_DEVICE void mbarArrive(unsigned bar) {
  asm volatile("{\n.reg .b64 state;\n"
               "mbarrier.arrive.shared::cta.b64 state, [%0];\n}\n" ::"r"(bar)
               : "memory");
}

/// Arrives on `bar` once every cp.async this thread issued so far has
/// landed; the barrier's expected count includes this arrival (noinc).
XFC_DEVICE void cpAsyncArriveNoinc(unsigned bar) {
  asm volatile(
      "cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];\n" ::"r"(bar)
      : "memory");
}

/// Arrives on `bar` and raises the bytes its current phase waits for by
/// `bytes` (the TMA copies that complete on it count them down).
XFC_DEVICE void mbarArriveExpectTx(unsigned bar, unsigned bytes) {
  asm volatile(
      "mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar),
      "r"(bytes)
      : "memory");
}

/// Copies the box at coordinates (c0, c1, c2, c3) of the tensor map at
/// `map` (a generic address of a __grid_constant__ parameter) into shared
/// memory at `dst`, completing `bytes` of `bar`'s transaction count. Rows
/// outside the tensor are zero-filled.
XFC_DEVICE void tmaLoad4d(unsigned dst, const void *map, int c0, int c1, int c2,
                          int c3, unsigned bar) {
  asm volatile(
      "cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::"
      "complete_tx::bytes [%0], [%1, {%2, %3, %4, %5}], [%6];\n" ::"r"(dst),
      "l"(map), "r"(c0), "r"(c1), "r"(c2), "r"(c3), "r"(bar)
      : "memory");
}

/// Stores the box at coordinates (c0..c3) of `map` from shared memory at
/// `src` (laid out as a load of the same box puts it), in the thread's
/// current bulk async-group.
XFC_DEVICE void tmaStore4d(const void *map, int c0, int c1, int c2, int c3,
                           unsigned src) {
  asm volatile("cp.async.bulk.tensor.4d.global.shared::cta.tile.bulk_group "
               "[%0, {%1, %2, %3, %4}], [%5];\n" ::"l"(map),
               "r"(c0), "r"(c1), "r"(c2), "r"(c3), "r"(src)
               : "memory");
}
XFC_DEVICE void bulkCommit() {
  asm volatile("cp.async.bulk.commit_group;\n" ::: "memory");
}
/// Waits until the thread's bulk stores have read their shared memory.
XFC_DEVICE void bulkWaitRead() {
  asm volatile("cp.async.bulk.wait_group.read 0;\n" ::: "memory");
}
/// Waits until the thread's bulk stores are complete.
XFC_DEVICE void bulkWait() {
  asm volatile("cp.async.bulk.wait_group 0;\n" ::: "memory");
}

/// Starts fetching a tensor map into the TMA unit's descriptor cache.
XFC_DEVICE void prefetchTensorMap(const void *map) {
  asm volatile("prefetch.tensormap [%0];\n" ::"l"(map) : "memory");
}

/// Blocks until the phase of `bar` with the given parity has completed.
XFC_DEVICE void mbarWait(unsigned bar, unsigned parity) {
  // Labels are local to the braces: every inlined copy gets its own.
  asm volatile("{\n.reg .pred done;\n"
               "XFC_WAIT:\n"
               "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
               "@!done bra XFC_WAIT;\n}\n" ::"r"(bar),
               "r"(parity)
               : "memory");
}

XFC_DEVICE void namedBarSync(int id, int threads) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

XFC_DEVICE void namedBarArrive(int id, int threads) {
  asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

/// Orders this thread's generic-proxy shared-memory accesses (ordinary and
/// cp.async stores it has observed) before later async-proxy ones (wgmma).
XFC_DEVICE void fenceProxyAsync() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

XFC_DEVICE void wgmmaFence() {
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}
XFC_DEVICE void wgmmaCommit() {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
template <int Pending> XFC_DEVICE void wgmmaWait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(Pending) : "memory");
}

/// Keeps the compiler from moving accesses of `r` across a wgmma
/// fence/commit/wait (the hardware owns the register in between).
XFC_DEVICE void fenceReg(float &r) { asm volatile("" : "+f"(r)::"memory"); }
XFC_DEVICE void fenceReg(unsigned &r) { asm volatile("" : "+r"(r)::"memory"); }
template <typename T, int N> XFC_DEVICE void fenceRegs(T (&r)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i)
    fenceReg(r[i]);
}
template <int M, int N> XFC_DEVICE void fenceRegs(unsigned (&r)[M][N]) {
#pragma unroll
  for (int i = 0; i < M; ++i)
    fenceRegs(r[i]);
}

template <int Regs> XFC_DEVICE void setMaxRegsDec() {
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(Regs));
}
template <int Regs> XFC_DEVICE void setMaxRegsInc() {
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(Regs));
}

/// Shared-memory matrix descriptor of a 128-byte-swizzled operand: start
/// address, leading and stride byte offsets (bytes, multiples of 16), layout
/// type 1 (128B swizzle) in bits 62-63. The swizzle atoms (8 rows of 128
/// bytes) must be 1024-byte aligned in shared memory.
XFC_DEVICE unsigned long long sw128Desc(unsigned addr, unsigned lbo,
                                        unsigned sbo) {
  return static_cast<unsigned long long>((addr & 0x3ffff) >> 4) |
         (static_cast<unsigned long long>(lbo >> 4) << 16) |
         (static_cast<unsigned long long>(sbo >> 4) << 32) | (1ull << 62);
}

} // namespace sm90
} // namespace xfc

#endif // defined(__CUDACC__)

#endif // XFC_SM90_SYNC_CUH
