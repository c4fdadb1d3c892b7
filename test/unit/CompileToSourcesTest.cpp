//===- CompileToSourcesTest.cpp - The in-process compile path -------------===//

#include "xfc/Pipeline/CompileToSources.h"
#include "xfc/Dialect/Xfa/IR/Xfa.h"
#include "xfc/Frontend/VariantRegistry.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"

#include "gtest/gtest.h"

using namespace xfc;

namespace {

// The frontend (no MLIR) keeps its own list of the head dims configs may
// name; it must be the dialect's, which the configuration pass checks.
TEST(HeadDims, FrontendListIsTheDialects) {
  EXPECT_EQ(getKernelHeadDims(),
            llvm::ArrayRef<int64_t>(xfa::kSupportedHeadDims));
}

struct CompileToSourcesTest : public ::testing::Test {
  CompileToSourcesTest() {
    mlir::DialectRegistry registry;
    registerCompilerDialects(registry);
    context.appendDialectRegistry(registry);
  }
  mlir::MLIRContext context;
};

TEST_F(CompileToSourcesTest, BlockSparseConfigGivesSourcesAndManifest) {
  std::string diagnostics;
  llvm::raw_string_ostream os(diagnostics);
  CommandLineOverrides overrides;
  overrides.arch = "sm_80";
  std::optional<CompiledSources> compiled = compileConfigToSources(
      context,
      R"({"name": "blocksparse", "block_size": 32, "head_dim": 64,
          "dtype": "bf16", "layout": [[1, 0], [1, 1]]})",
      "inline.json", overrides, os);
  ASSERT_TRUE(compiled.has_value()) << diagnostics;
  ASSERT_EQ(compiled->kernels.size(), 1u);
  const KernelSource &kernel = compiled->kernels.front();
  EXPECT_EQ(kernel.arch, "sm_80");
  EXPECT_EQ(kernel.symbol.rfind("xfc_attn_", 0), 0u);
  EXPECT_NE(kernel.source.find("xfc::BlockSparseSchedule<Traits, Layout>"),
            std::string::npos);
  EXPECT_NE(compiled->manifestJson.find("\"symbol\": \"" + kernel.symbol),
            std::string::npos);
  EXPECT_NE(
      compiled->manifestJson.find("\"source\": \"" + kernel.symbol + ".cu\""),
      std::string::npos);
  EXPECT_EQ(compiled->manifestJson.find("\"cubin\""), std::string::npos);
  EXPECT_NE(compiled->canonicalConfig.find("\"block_size\": 32"),
            std::string::npos);
}

TEST_F(CompileToSourcesTest, SameConfigSameKernel) {
  std::string ignored;
  llvm::raw_string_ostream os(ignored);
  const char *config = R"({"name": "scaled_dot_product", "causal": true})";
  std::optional<CompiledSources> a =
      compileConfigToSources(context, config, "a.json", {}, os);
  std::optional<CompiledSources> b =
      compileConfigToSources(context, config, "b.json", {}, os);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->kernels.front().symbol, b->kernels.front().symbol);
  EXPECT_EQ(a->kernels.front().source, b->kernels.front().source);
}

TEST_F(CompileToSourcesTest, ErrorsAreSingleLinesWithLocations) {
  std::string diagnostics;
  llvm::raw_string_ostream os(diagnostics);
  std::optional<CompiledSources> compiled = compileConfigToSources(
      context, "{\"name\": \"scaled_dot_product\",\n \"head_dim\": 48}",
      "bad.json", {}, os);
  EXPECT_FALSE(compiled.has_value());
  EXPECT_EQ(diagnostics.rfind("bad.json:2:14: error: head_dim", 0), 0u)
      << diagnostics;
  EXPECT_EQ(diagnostics.back(), '\n');
}

} // namespace
