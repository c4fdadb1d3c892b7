# -*- Python -*-
import os

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "XFC"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.xfc_obj_root, "test")
# Unit and GPU tests run under ctest, not lit.
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py", "unit", "gpu"]

config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%xfc_src_root", config.xfc_src_root))
config.environment["FILECHECK_OPTS"] = "--enable-var-scope"
# Never let a developer's cache or NVRTC override leak into tests.
config.environment["XFC_CACHE_DIR"] = os.path.join(config.test_exec_root, "cache")

llvm_config.use_default_substitutions()

tool_dirs = [config.xfc_tools_dir, config.llvm_tools_dir]
tools = ["xfc", "xfc-opt", "split-file", "not", "count"]
llvm_config.add_tool_substitutions(tools, tool_dirs)
llvm_config.with_environment("PATH", config.xfc_tools_dir, append_path=True)

# NVRTC is optional at test time: tests that compile to PTX/cubin need it.
import ctypes
for name in ("libnvrtc.so.13", "libnvrtc.so.12", "/usr/local/cuda/lib64/libnvrtc.so"):
    try:
        ctypes.CDLL(name)
        config.available_features.add("nvrtc")
        break
    except OSError:
        pass
