//===- NvrtcTest.cpp - Compiling emitted CUDA with NVRTC ------------------===//
//
// Needs NVRTC (the CUDA toolkit) but no GPU; skipped where NVRTC is missing.
//
//===----------------------------------------------------------------------===//

#include "xfc/runtime/Nvrtc.h"
#include "xfc/runtime/EmbeddedHeaders.h"

#include "gtest/gtest.h"

#include <string>

using namespace xfc::runtime;

namespace {

class NvrtcTest : public ::testing::Test {
protected:
  void SetUp() override {
    xfc::StatusOr<std::string> version = getNvrtcVersion();
    if (!version)
      GTEST_SKIP() << version.getStatus().getMessage();
  }
};

const char *const kSmallKernel = R"(
#include "xfc/attention_params.h"
extern "C" __global__ void fill(const xfc::AttentionParams params) {
  static_cast<float *>(params.o)[threadIdx.x] = params.scaleLog2;
}
)";

TEST(EmbeddedHeaders, HoldEveryTemplateHeader) {
  std::size_t count = 0;
  const EmbeddedHeader *headers = getEmbeddedHeaders(count);
  std::vector<std::string> names;
  for (std::size_t i = 0; i < count; ++i)
    names.push_back(headers[i].name);
  for (const char *expected :
       {"xfc/xfc.cuh", "xfc/attention_params.h", "xfc/flash_fwd_sm80.cuh",
        "xfc/simt_fwd.cuh", "xfc/schedule.cuh"})
    EXPECT_NE(std::find(names.begin(), names.end(), expected), names.end())
        << expected;
}

TEST_F(NvrtcTest, CompilesCubinAndPtxWithEmbeddedHeaders) {
  for (const char *arch : {"sm_80", "sm_90a"}) {
    NvrtcOptions options;
    options.arch = arch;
    options.wantPtx = true;
    options.wantCubin = true;
    xfc::StatusOr<NvrtcOutput> out =
        compileWithNvrtc(kSmallKernel, "small.cu", options);
    ASSERT_TRUE(out.isOk()) << out.getStatus().getMessage();
    EXPECT_GT(out->cubin.size(), 64u);
    // A cubin is an ELF file.
    EXPECT_EQ(std::string(out->cubin.begin(), out->cubin.begin() + 4), "\x7f"
                                                                       "ELF");
    EXPECT_NE(out->ptx.find(".entry fill("), std::string::npos);
    EXPECT_NE(out->ptx.find(std::string(".target ") + arch), std::string::npos);
  }
}

TEST_F(NvrtcTest, FailureCarriesTheNvrtcLog) {
  NvrtcOptions options;
  xfc::StatusOr<NvrtcOutput> out = compileWithNvrtc(
      "extern \"C\" __global__ void broken() { undeclared_name(); }",
      "broken.cu", options);
  ASSERT_FALSE(out.isOk());
  const std::string &message = out.getStatus().getMessage();
  EXPECT_NE(message.find("broken.cu: NVRTC failed to compile for sm_90a"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("undeclared_name"), std::string::npos) << message;
}

TEST(PtxasReport, SpillsAndIgnoredSetmaxnregAreProblems) {
  EXPECT_EQ(findPtxasResourceProblem(
                "ptxas info    : Used 80 registers\n"
                "ptxas         .     0 bytes stack frame, 0 bytes spill "
                "stores, 0 bytes spill loads\n"),
            "");
  EXPECT_EQ(findPtxasResourceProblem(
                "ptxas         .     8 bytes stack frame, 4 bytes spill "
                "stores, 4 bytes spill loads\n"),
            "ptxas reports 4 bytes spill stores (register spills are treated "
            "as errors)");
  EXPECT_EQ(findPtxasResourceProblem("ptxas warning : (C7507) setmaxnreg "
                                     "ignored; unable to determine register "
                                     "count at entry\n"),
            "ptxas warning C7507 (setmaxnreg ignored) is treated as an error");
}

TEST(PtxasReport, WgmmaRemarksAreTheC75LinesOnWgmma) {
  EXPECT_EQ(findPtxasWgmmaRemarks("ptxas info    : Used 128 registers\n"), "");
  // A C75xx remark on something else (here: setmaxnreg) is not one.
  EXPECT_EQ(findPtxasWgmmaRemarks("ptxas warning : (C7507) setmaxnreg "
                                  "ignored; unable to determine register "
                                  "count at entry\n"),
            "");
  const std::string fence = "ptxas info    : (C7519) warpgroup.arrive is "
                            "injected in around line 883 by compiler";
  const std::string serial = "ptxas info    : (C7511) Potential Performance "
                             "Loss: wgmma.mma_async instructions are "
                             "serialized";
  const std::string wait = "ptxas info    : (C7517) warpgroup.wait is "
                           "injected in around line 8641 by compiler";
  EXPECT_EQ(findPtxasWgmmaRemarks("ptxas info    : Compiling entry\n" + fence +
                                  "\nptxas info    : Used 128 registers\n" +
                                  serial + "\n" + wait),
            fence + "\n" + serial + "\n" + wait + "\n");
}

TEST_F(NvrtcTest, FlagsNameTheArchitecture) {
  NvrtcOptions options;
  options.arch = "sm_90a";
  std::vector<std::string> cubinFlags = getNvrtcFlags(options, false);
  std::vector<std::string> ptxFlags = getNvrtcFlags(options, true);
  EXPECT_NE(std::find(cubinFlags.begin(), cubinFlags.end(), "-arch=sm_90a"),
            cubinFlags.end());
  EXPECT_NE(std::find(ptxFlags.begin(), ptxFlags.end(), "-arch=compute_90a"),
            ptxFlags.end());
}

} // namespace
