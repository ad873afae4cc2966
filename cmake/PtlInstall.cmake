# SPDX-License-Identifier: MIT
# Installs the library, its headers, the CMake package and the pkg-config file.
include(CMakePackageConfigHelpers)

install(TARGETS pocketflow_throttled
  EXPORT pocketflow_throttled-targets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT dev
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY include/pocketflow_throttled DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev)

set(PTL_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/pocketflow_throttled)
install(EXPORT pocketflow_throttled-targets
  NAMESPACE pocketflow_throttled::
  DESTINATION ${PTL_CMAKE_DIR} COMPONENT dev)
configure_package_config_file(cmake/pocketflow_throttledConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/pocketflow_throttledConfig.cmake
  INSTALL_DESTINATION ${PTL_CMAKE_DIR})
write_basic_package_version_file(
  ${CMAKE_CURRENT_BINARY_DIR}/pocketflow_throttledConfigVersion.cmake
  COMPATIBILITY SameMajorVersion)
install(FILES
  ${CMAKE_CURRENT_BINARY_DIR}/pocketflow_throttledConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/pocketflow_throttledConfigVersion.cmake
  DESTINATION ${PTL_CMAKE_DIR} COMPONENT dev)

# The .pc file finds the prefix relative to itself, so an installed tree can be moved
# (or installed with --prefix somewhere else than configured) and still work.
file(RELATIVE_PATH PTL_PC_TO_PREFIX "${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig" "${CMAKE_INSTALL_PREFIX}")
string(REGEX REPLACE "/$" "" PTL_PC_TO_PREFIX "${PTL_PC_TO_PREFIX}")
configure_file(pkgconfig/pocketflow_throttled.pc.in
  ${CMAKE_CURRENT_BINARY_DIR}/pocketflow_throttled.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/pocketflow_throttled.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT dev)
