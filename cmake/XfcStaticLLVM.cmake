# Debian builds LLVM with LLVM_LINK_LLVM_DYLIB=ON, so every exported MLIR
# library links libLLVM.so. Binaries that must run on a machine without LLVM
# (the GPU machine) need the static component libraries instead: rewrite the
# imported targets' link interfaces, replacing the dylib by the components MLIR
# needs and dropping z3, which nothing of ours uses.

set(_xfc_llvm_static_components LLVMSupport LLVMDemangle)

# Imported targets are visible in the directory that called find_package.
get_directory_property(_xfc_all_imported IMPORTED_TARGETS)
foreach(_target IN LISTS _xfc_all_imported)
  get_target_property(_libs ${_target} INTERFACE_LINK_LIBRARIES)
  if(NOT _libs)
    continue()
  endif()
  set(_new_libs "")
  foreach(_lib IN LISTS _libs)
    if(_lib STREQUAL "LLVM")
      list(APPEND _new_libs ${_xfc_llvm_static_components})
    elseif(_lib MATCHES "z3")
      # not needed by anything we link
    else()
      list(APPEND _new_libs ${_lib})
    endif()
  endforeach()
  set_target_properties(${_target} PROPERTIES INTERFACE_LINK_LIBRARIES "${_new_libs}")
endforeach()
set(CMAKE_EXE_LINKER_FLAGS
    "${CMAKE_EXE_LINKER_FLAGS} -static-libstdc++ -static-libgcc -Wl,--as-needed")
