# SPDX-License-Identifier: MIT
# Debian packages with CPack (ADR 0011). In a tree configured with
# -DCMAKE_INSTALL_PREFIX=/usr (GNUInstallDirs then gives the multiarch libdir,
# lib/<triplet>), `cpack -G DEB` makes, from the install components:
#
#   libpocketflow-throttled0     runtime   libpocketflow_throttled.so.0 and .so.0.1.0
#   libpocketflow-throttled-dev  dev       headers, the .so link, pkg-config, CMake package
#   pocketflow-throttled-tools   tools + examples: ptlctl and ptl-demo
#
# Dependencies on system libraries come from dpkg-shlibdeps; the runtime package carries a
# shlibs file (">=" its version) and the ldconfig trigger; -dev and -tools depend on the
# runtime package of exactly their version. scripts/check-deb.sh builds, inspects,
# installs and uses them.

if(NOT PROJECT_IS_TOP_LEVEL)
  return()  # a project that embeds this one packages itself
endif()

set(PTL_DEB_MAINTAINER
    "pocketflow-throttled maintainers <maintainers@users.noreply.r-seed-b813cb2e.example>"
    CACHE STRING "Maintainer field of the Debian packages")
set(PTL_DEB_RELEASE "1" CACHE STRING "Debian revision of the packages (the part after the '-')")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME pocketflow-throttled)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${PTL_DEB_MAINTAINER}")
set(CPACK_PACKAGING_INSTALL_PREFIX "${CMAKE_INSTALL_PREFIX}")
set(CPACK_STRIP_FILES ON)  # as dh_strip; the ABI baseline is made from the unstripped build

# Checked when cpack runs, not at configure time (most trees are never packaged); only
# CPACK_* variables reach cpack.
set(CPACK_PTL_INSTALL_PREFIX "${CMAKE_INSTALL_PREFIX}")
set(CPACK_PTL_INSTALL_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
set(CPACK_PROJECT_CONFIG_FILE ${CMAKE_CURRENT_LIST_DIR}/PtlCPackOptions.cmake)

# ---- components: runtime and dev get a package each, tools and examples share one -----
include(CPackComponent)
set(CPACK_COMPONENTS_ALL runtime dev)
if(PTL_BUILD_TOOLS)
  list(APPEND CPACK_COMPONENTS_ALL tools)
endif()
if(PTL_BUILD_EXAMPLES AND EXISTS ${PROJECT_SOURCE_DIR}/examples/CMakeLists.txt)
  list(APPEND CPACK_COMPONENTS_ALL examples)
endif()
cpack_add_component(runtime DISPLAY_NAME "Shared library" REQUIRED)
cpack_add_component(dev DISPLAY_NAME "Development files" DEPENDS runtime)
cpack_add_component_group(cli DISPLAY_NAME "Command-line tools")
cpack_add_component(tools DISPLAY_NAME "ptlctl" GROUP cli DEPENDS runtime)
cpack_add_component(examples DISPLAY_NAME "ptl-demo" GROUP cli DEPENDS runtime)
set(CPACK_COMPONENT_CLI_DEPENDS runtime)  # a group package depends on what its members do
set(CPACK_COMPONENTS_GROUPING ONE_PER_GROUP)

# ---- Debian metadata -------------------------------------------------------------------
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # NAME_VERSION-RELEASE_ARCH.deb
set(CPACK_DEBIAN_PACKAGE_RELEASE "${PTL_DEB_RELEASE}")
set(CPACK_DEBIAN_PACKAGE_SOURCE pocketflow-throttled)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
set(CPACK_DEBIAN_ENABLE_COMPONENT_DEPENDS ON)  # "(= VERSION-RELEASE)" on the runtime package
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# ptlctl and ptl-demo need libpocketflow_throttled.so.0, which is in no installed package
# yet: dpkg-shlibdeps finds it here, and the exact dependency comes from the component's.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS ${PROJECT_BINARY_DIR}/capi)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# CPACK_DEBIAN_PACKAGE_ARCHITECTURE is left unset: CPack takes `dpkg --print-architecture`.

set(_ptl_long_description
    "pocketflow-throttled lets threads, processes and hosts share one API quota.
A named limiter enforces at most N calls in flight and at most M calls (or
cost units, such as LLM tokens) in any sliding window, for the threads of one
process (local:), the processes of one host (shm://) or a fleet of hosts
(redis://). Throttled batch executors, with retries and an adaptive mode that
backs off on HTTP 429, sit on top.")

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME libpocketflow-throttled${PROJECT_VERSION_MAJOR})
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION "share one API quota between threads, processes and hosts
${_ptl_long_description}
.
This package contains the shared library.")
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)  # only the runtime package has a library
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
# The ldconfig trigger (cmake/debian/triggers), as debhelper makes it; lintian's error
# lacks-ldconfig-trigger otherwise. CPack also writes a postinst and postrm that run
# ldconfig unless the package brings its own: redundant, harmless, a lintian warning
# (maintscript-calls-ldconfig); scripts of ours that do nothing would get another one
# (maintainer-script-empty).
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_EXTRA ${CMAKE_CURRENT_LIST_DIR}/debian/triggers)

set(CPACK_DEBIAN_DEV_PACKAGE_NAME libpocketflow-throttled-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_SHLIBDEPS OFF)  # no binaries, only the .so link
set(CPACK_DEBIAN_DEV_PACKAGE_SUGGESTS "libboost-dev (>= 1.74), pkgconf | pkg-config, cmake")
set(CPACK_DEBIAN_DEV_DESCRIPTION "share one API quota - development files
${_ptl_long_description}
.
This package contains the C header (ptl.h), the header-only C++20 layer
(ptl.hpp; ptl_asio.hpp and ptl_flow_asio.hpp need libboost-dev), the pkg-config file and the
CMake package (find_package(pocketflow_throttled)).")

set(CPACK_DEBIAN_CLI_PACKAGE_NAME pocketflow-throttled-tools)
set(CPACK_DEBIAN_CLI_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_CLI_DESCRIPTION "share one API quota - command-line tools
${_ptl_long_description}
.
This package contains ptlctl, which lists, inspects, watches, registers and
removes the limiters of any registry (local:, shm://, redis://), and ptl-demo,
which plays two services sharing one quota, in one process or in several
through shm:// or redis://, and checks from the outside that the quota was
never exceeded.")

# ---- the license, where Debian policy puts it: /usr/share/doc/<package>/copyright ------
# (DEP-5; the MIT text of LICENSE), once per binary package.
set(_ptl_copyright ${CMAKE_CURRENT_LIST_DIR}/debian/copyright)
install(FILES ${_ptl_copyright}
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/${CPACK_DEBIAN_RUNTIME_PACKAGE_NAME}
        COMPONENT runtime)
install(FILES ${_ptl_copyright}
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/${CPACK_DEBIAN_DEV_PACKAGE_NAME}
        COMPONENT dev)
# The tools' package holds two components; one of them brings its copyright.
if(PTL_BUILD_TOOLS)
  set(_ptl_cli_doc_component tools)
elseif("examples" IN_LIST CPACK_COMPONENTS_ALL)
  set(_ptl_cli_doc_component examples)
endif()
if(DEFINED _ptl_cli_doc_component)
  install(FILES ${_ptl_copyright}
          DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/${CPACK_DEBIAN_CLI_PACKAGE_NAME}
          COMPONENT ${_ptl_cli_doc_component})
endif()

include(CPack)
