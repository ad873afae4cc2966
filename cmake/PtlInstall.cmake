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
# (or installed with --prefix somewhere else than configured) and still work. An install
# into /usr (the Debian packages) names /usr instead, as distributions' .pc files do:
# pkg-config then drops -I/usr/include and -L of the multiarch libdir, its own system
# folders, and prints just -lpocketflow_throttled. Which one is chosen at install time,
# by the prefix installed into (cmake --install --prefix, or DESTDIR with prefix /usr
# as dh_auto_install does for the Debian packages).
file(RELATIVE_PATH _ptl_pc_to_prefix "${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig"
     "${CMAKE_INSTALL_PREFIX}")
string(REGEX REPLACE "/$" "" _ptl_pc_to_prefix "${_ptl_pc_to_prefix}")
set(PTL_PC_PREFIX "\${pcfiledir}/${_ptl_pc_to_prefix}")
configure_file(pkgconfig/pocketflow_throttled.pc.in
  ${CMAKE_CURRENT_BINARY_DIR}/pocketflow_throttled.pc @ONLY)
set(PTL_PC_PREFIX "/usr")
configure_file(pkgconfig/pocketflow_throttled.pc.in
  ${CMAKE_CURRENT_BINARY_DIR}/pc-system/pocketflow_throttled.pc @ONLY)
install(CODE "
  set(_ptl_pc \"${CMAKE_CURRENT_BINARY_DIR}/pocketflow_throttled.pc\")
  if(CMAKE_INSTALL_PREFIX STREQUAL \"/usr\")
    set(_ptl_pc \"${CMAKE_CURRENT_BINARY_DIR}/pc-system/pocketflow_throttled.pc\")
  endif()
  file(INSTALL DESTINATION \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/pkgconfig\"
       TYPE FILE FILES \"\${_ptl_pc}\")"
  COMPONENT dev)
