# Debian package (cpack -G DEB; scripts/package runs it): one package,
# "shmconf", holding the daemon, the CLI, the client library and headers,
# the CMake package and shmconf.pc, the Python binding (when built), the systemd units, sysusers.d and
# tmpfiles.d files, the example environment file and the docs.
#
# Configure with -DCMAKE_INSTALL_PREFIX=/usr so the units, the .pc file and
# the docs name the paths the package installs to.
set(CPACK_PACKAGE_NAME shmconf)
set(CPACK_PACKAGE_VENDOR "shmconf")
set(CPACK_PACKAGE_CONTACT "shmconf maintainers <shmconf@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Shared-memory configuration cache")
set(CPACK_PACKAGE_DESCRIPTION
    "shmconfd reads configuration, validates it and publishes it as immutable, versioned \
snapshots in POSIX shared memory; libshmconf reads them lock-free; shmconfctl is the \
operator's tool.")
# Debug information stays in the build tree.
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
# Shared-library dependencies computed by dpkg-shlibdeps; the maintainer
# scripts need systemd's sysusers and tmpfiles, which every Debian with
# systemd has.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "systemd | systemd-standalone-sysusers")
# etcd sources (docs/FLEET.md) talk to a cluster elsewhere; etcdctl helps operators.
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "etcd-client")
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
# The Python binding (/usr/lib/python3/dist-packages/shmconf) is built for
# one Python minor version; the rest of the package does not need Python.
if(SHMCONF_BUILD_PYTHON)
  math(EXPR next_minor "${Python3_VERSION_MINOR} + 1")
  set(CPACK_DEBIAN_PACKAGE_SUGGESTS
      "python3 (>= ${Python3_VERSION_MAJOR}.${Python3_VERSION_MINOR}), python3 (<< ${Python3_VERSION_MAJOR}.${next_minor})")
endif()
# conffiles: what the package installs under /etc is the operator's to edit.
set(SHMCONF_DEB_CONFFILES ${CMAKE_CURRENT_BINARY_DIR}/debian/conffiles)
file(WRITE ${SHMCONF_DEB_CONFFILES}
     "${CMAKE_INSTALL_FULL_SYSCONFDIR}/shmconf/shmconfd.env.example\n"
     "${CMAKE_INSTALL_FULL_SYSCONFDIR}/shmconf/shmconfd.yaml.example\n")
foreach(kind SYSUSERSDIR TMPFILESDIR)
  if(IS_ABSOLUTE "${SHMCONF_${kind}}")
    set(SHMCONF_${kind}_FULL "${SHMCONF_${kind}}")
  else()
    set(SHMCONF_${kind}_FULL "${CMAKE_INSTALL_PREFIX}/${SHMCONF_${kind}}")
  endif()
endforeach()
foreach(script postinst prerm postrm)
  configure_file(${CMAKE_CURRENT_SOURCE_DIR}/cmake/debian/${script}
                 ${CMAKE_CURRENT_BINARY_DIR}/debian/${script} @ONLY
                 FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
                                  WORLD_READ WORLD_EXECUTE)
endforeach()
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_CURRENT_BINARY_DIR}/debian/postinst ${CMAKE_CURRENT_BINARY_DIR}/debian/prerm
    ${CMAKE_CURRENT_BINARY_DIR}/debian/postrm ${SHMCONF_DEB_CONFFILES})
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_GENERATOR DEB)
include(CPack)
