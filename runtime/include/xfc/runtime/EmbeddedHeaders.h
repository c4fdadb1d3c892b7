//===- EmbeddedHeaders.h - Template headers compiled into the binary -*- C++
//-*-===//

#ifndef XFC_RUNTIME_EMBEDDEDHEADERS_H
#define XFC_RUNTIME_EMBEDDEDHEADERS_H

#include <cstddef>

namespace xfc::runtime {

/// A header as NVRTC sees it: the include name and the text.
struct EmbeddedHeader {
  const char *name;
  const char *content;
};

/// All template headers under templates/, by include name ("xfc/xfc.cuh").
const EmbeddedHeader *getEmbeddedHeaders(std::size_t &count);

} // namespace xfc::runtime

#endif // XFC_RUNTIME_EMBEDDEDHEADERS_H
