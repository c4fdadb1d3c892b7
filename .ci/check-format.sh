#!/usr/bin/env bash
# Fails, listing the files, when a C++ or CUDA source is not clang-format
# clean (LLVM style, .clang-format).
set -euo pipefail
cd "$(dirname "$0")/.."
format=${CLANG_FORMAT:-clang-format}
bad=0
while IFS= read -r file; do
  if ! "$format" --style=file "$file" | cmp -s - "$file"; then
    echo "not clang-format clean: $file"
    bad=1
  fi
done < <(git ls-files '*.cpp' '*.h' '*.cuh' 2>/dev/null || find . -name '*.cpp' -o -name '*.h' -o -name '*.cuh')
exit $bad
