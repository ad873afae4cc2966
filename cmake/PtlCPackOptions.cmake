# SPDX-License-Identifier: MIT
# CPACK_PROJECT_CONFIG_FILE (see PtlPackaging.cmake): read by cpack for each generator.
# Debian packages install to /usr with the multiarch libdir; a tree configured for
# another prefix (the default /usr/local gives a plain lib/) would package the wrong paths.
if(CPACK_GENERATOR STREQUAL "DEB" AND NOT CPACK_PTL_INSTALL_PREFIX STREQUAL "/usr")
  message(FATAL_ERROR
    "Debian packages need a build tree configured with -DCMAKE_INSTALL_PREFIX=/usr "
    "(this one has ${CPACK_PTL_INSTALL_PREFIX}, libdir ${CPACK_PTL_INSTALL_LIBDIR})")
endif()

# Each package's description starts with its own synopsis; without this, CPack 3.25
# puts the project's summary in front of it as a second, shared synopsis.
if(CPACK_GENERATOR STREQUAL "DEB")
  unset(CPACK_PACKAGE_DESCRIPTION_SUMMARY)
endif()
