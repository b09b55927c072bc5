# Helpers shared by every folder: warnings for project code, sanitizers, library layout.

if(EDGEFED_SANITIZE)
  # Applied to everything we compile, so sanitized objects never mix with plain ones.
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

if(EDGEFED_BUILD_FUZZERS)
  # Coverage instrumentation for every library the fuzz targets reach (clang only).
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

# Project code is warning-clean; third-party headers come in as SYSTEM includes.
function(edgefed_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Werror)
endfunction()

# edgefed_library(<name> SOURCES ...): a static library `edgefed_<name>` with alias
# `edgefed::<name>`, public headers under <folder>/include, exported for find_package.
function(edgefed_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES" ${ARGN})
  set(target edgefed_${name})
  add_library(${target} STATIC ${ARG_SOURCES})
  add_library(edgefed::${name} ALIAS ${target})
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${name})
  target_include_directories(${target} PUBLIC
    $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_include_directories(${target} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_compile_features(${target} PUBLIC cxx_std_20)
  edgefed_warnings(${target})
  install(TARGETS ${target} EXPORT edgefedTargets
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(DIRECTORY include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
endfunction()
