# qamw::dispatch — an optional compiled companion of the header-only library: the kernels instantiated once per
# instruction set, each in its own translation unit with its own -m flags, chosen at run time (include/qamw/dispatch.hpp).
set(qamw_dispatch_sources ${CMAKE_CURRENT_LIST_DIR}/../src/dispatch.cpp)
include(GNUInstallDirs)
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
  set(qamw_isa_flags_sse2 -msse2)
  set(qamw_isa_flags_avx2 -mavx2 -mfma)
  set(qamw_isa_flags_avx512 -mavx2 -mfma -mavx512f -mavx512cd -mavx512dq -mavx512bw -mavx512vl)
  set(qamw_isas sse2 avx2 avx512)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64|ARM64)$")
  set(qamw_isa_flags_neon "")
  set(qamw_isas neon)
else()
  set(qamw_isas "")
endif()
foreach(isa IN LISTS qamw_isas)
  set(src ${CMAKE_CURRENT_LIST_DIR}/../src/isa_${isa}.cpp)
  list(APPEND qamw_dispatch_sources ${src})
  set_source_files_properties(${src} PROPERTIES COMPILE_OPTIONS "${qamw_isa_flags_${isa}}")
endforeach()

add_library(qamw_dispatch STATIC ${qamw_dispatch_sources})
add_library(qamw::dispatch ALIAS qamw_dispatch)
set_target_properties(qamw_dispatch PROPERTIES EXPORT_NAME dispatch POSITION_INDEPENDENT_CODE ON)
target_link_libraries(qamw_dispatch PUBLIC qamw)
target_compile_definitions(qamw_dispatch PUBLIC QAMW_DISPATCH=1)
# No floating-point contraction: kernels must give the bits their scalar references give.
target_compile_options(qamw_dispatch PRIVATE $<$<CXX_COMPILER_ID:GNU,Clang,AppleClang>:-ffp-contract=off>)

# qamw::c — the C interface (include/qamw/qamw.h) over the engine API, on the dispatched kernels.
add_library(qamw_c STATIC ${CMAKE_CURRENT_LIST_DIR}/../src/capi.cpp)
add_library(qamw::c ALIAS qamw_c)
set_target_properties(qamw_c PROPERTIES EXPORT_NAME c POSITION_INDEPENDENT_CODE ON)
target_link_libraries(qamw_c PUBLIC qamw_dispatch)
