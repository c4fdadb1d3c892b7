//===- OutputDirectory.h - All-or-nothing writes into a directory -*- C++
//-*-===//

#ifndef XFC_TOOLS_XFC_OUTPUTDIRECTORY_H
#define XFC_TOOLS_XFC_OUTPUTDIRECTORY_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <string>
#include <vector>

namespace xfc {

/// Collects files in memory and writes them into a directory only when all
/// of them are ready: first into a hidden staging directory inside it, then
/// each renamed into place (atomic per file on one filesystem). A failure
/// before commit leaves the directory as it was.
class OutputDirectory {
public:
  explicit OutputDirectory(llvm::StringRef path) : path(path.str()) {}

  /// Adds a file (a name without directories) to be written.
  void add(llvm::StringRef name, std::string contents);

  /// Writes every added file; returns the paths written, in order.
  llvm::Expected<std::vector<std::string>> commit();

private:
  std::string path;
  std::vector<std::pair<std::string, std::string>> files;
};

} // namespace xfc

#endif // XFC_TOOLS_XFC_OUTPUTDIRECTORY_H
