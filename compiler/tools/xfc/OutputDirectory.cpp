//===- OutputDirectory.cpp - All-or-nothing writes into a directory -------===//

#include "OutputDirectory.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

using namespace llvm;

namespace xfc {

void OutputDirectory::add(StringRef name, std::string contents) {
  files.emplace_back(name.str(), std::move(contents));
}

static Error errorFor(const Twine &what, std::error_code ec) {
  return createStringError(ec, "%s: %s", what.str().c_str(),
                           ec.message().c_str());
}

Expected<std::vector<std::string>> OutputDirectory::commit() {
  if (std::error_code ec = sys::fs::create_directories(path))
    return errorFor("cannot create output directory '" + path + "'", ec);

  // createUniqueDirectory puts relative names under the system temporary
  // directory: stage inside the output directory by its absolute path.
  SmallString<256> absolute(path);
  if (std::error_code ec = sys::fs::make_absolute(absolute))
    return errorFor("cannot resolve output directory '" + path + "'", ec);
  SmallString<256> staging;
  if (std::error_code ec =
          sys::fs::createUniqueDirectory(absolute + "/.xfc-staging", staging))
    return errorFor("cannot write into output directory '" + path + "'", ec);

  auto removeStaging = [&] { (void)sys::fs::remove_directories(staging); };
  for (const auto &[name, contents] : files) {
    SmallString<256> file(staging);
    sys::path::append(file, name);
    std::error_code ec;
    raw_fd_ostream os(file, ec, sys::fs::OF_None);
    if (!ec) {
      os << contents;
      os.close();
      ec = os.error();
    }
    if (ec) {
      removeStaging();
      return errorFor("cannot write '" + std::string(file) + "'", ec);
    }
  }

  std::vector<std::string> written;
  for (const auto &[name, contents] : files) {
    SmallString<256> from(staging), to(path);
    sys::path::append(from, name);
    sys::path::append(to, name);
    if (std::error_code ec = sys::fs::rename(from, to)) {
      removeStaging();
      return errorFor("cannot move '" + name + "' into '" + path + "'", ec);
    }
    written.push_back(std::string(to));
  }
  removeStaging();
  return written;
}

} // namespace xfc
