//===- jit_bench.cpp - Time the JIT: cold, disk hit, memory hit ----------===//
//
// xfc-jit-bench ARCH CONFIG_JSON...
// For each config: compiles it with a fresh xfc::Compiler and times it, then
// again with another fresh Compiler (whose kernels come from the in-memory
// kernel cache). Run it twice with the same XFC_CACHE_DIR: in the first
// process the first compile is cold (NVRTC), in the second it is a disk hit.
// Prints one JSON line per compile: config, how the kernels were obtained
// (Compiler::describeLastCompile) and the wall time. Needs no GPU: NVRTC runs
// on the CPU. Not a test: timings go to bench/results/.
//
//===----------------------------------------------------------------------===//

#include "xfc/runtime/Compiler.h"

#include <chrono>
#include <cstdio>
#include <string>

int main(int argc, char **argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: xfc-jit-bench ARCH CONFIG_JSON...\n");
    return 2;
  }
  xfc::Specialization specialization;
  specialization.arch = argv[1];
  int failures = 0;
  for (int i = 2; i < argc; ++i) {
    for (int round = 0; round < 2; ++round) {
      xfc::Compiler compiler;
      auto start = std::chrono::steady_clock::now();
      auto plan = compiler.compileFile(argv[i], specialization);
      double seconds = std::chrono::duration<double>(
                           std::chrono::steady_clock::now() - start)
                           .count();
      if (!plan) {
        std::fprintf(stderr, "%s: %s\n", argv[i],
                     plan.getStatus().getMessage().c_str());
        ++failures;
        break;
      }
      // "symbol: how" per kernel, one a line: joined with "; " for JSON.
      std::string kernels;
      for (char c : compiler.describeLastCompile())
        kernels += c == '\n' ? std::string("; ") : std::string(1, c);
      while (!kernels.empty() &&
             (kernels.back() == ' ' || kernels.back() == ';'))
        kernels.pop_back();
      std::printf("{\"config\": \"%s\", \"kernels\": \"%s\", \"seconds\": "
                  "%.6f}\n",
                  argv[i], kernels.c_str(), seconds);
      std::fflush(stdout);
    }
  }
  return failures ? 1 : 0;
}
