/* SPDX-License-Identifier: Apache-2.0 */
/* process-setup.h: the container init's last steps: kernel settings, identity, the executable. */
#pragma once

#include "oci-config.h"

/* All three run inside the container's init, after the root file system is set up: in the
 * container root and all its namespaces, still root with full capabilities. On failure they
 * return -errno and, when ret_error is not NULL, store a new message that starts with the
 * config path it is about ("process.cwd: '/x': No such file or directory"); *ret_error must
 * be NULL or an allocated string, which is then replaced. */

/* Applies hostname, domainname, linux.sysctl (under /proc/sys; a name is split at '.' unless
 * its first separator is '/', as sysctl(8) does; only sysctls of a namespace the config lists,
 * as runc allows: net.* with a network namespace, the IPC ones with an ipc namespace, else
 * -EPERM), process.oomScoreAdj and process.rlimits.
 * Everything that can be checked is checked before anything is changed: an rlimit above the
 * current hard limit is -EPERM, a sysctl that does not exist -ENOENT, both with nothing
 * applied. Lowering oomScoreAdj below the current value needs CAP_SYS_RESOURCE (-EACCES). */
int process_setup_kernel(const OciConfig *c, char **ret_error);

/* Finds process.args[0] as execvpe() would: a name containing '/' is used as it is (relative
 * to the current directory), any other is searched in the PATH of process.env (or
 * "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"; an empty element means the
 * current directory). The file must exist, be a regular file and pass access(X_OK) for the
 * calling process, so call this after process_setup_identity() for checks done as the
 * container's user and against its cwd. Errors: -ENOENT ("...: 'nosuch': not found in $PATH
 * (/usr/bin:/bin)"), -EACCES (not executable, not a regular file), -EISDIR, -ENAMETOOLONG,
 * and -ENOENT/-ENOTDIR/-ELOOP for a path with a '/'. *ret_path is a new string. */
int process_find_executable(const OciProcess *p, char **ret_path, char **ret_error);

/* Becomes the configured identity, in this order: PR_SET_NO_NEW_PRIVS if asked; drops every
 * capability not in the bounding set; PR_SET_KEEPCAPS; setgroups() (skipped when the list is
 * empty and the user namespace denies setgroups); setresgid(); setresuid(); capset() of the
 * effective, permitted and inheritable sets; clears the ambient set and raises each configured
 * ambient capability; umask (0022 when unset); chdir(cwd). Capabilities above the running
 * kernel's last one are ignored. The sets are checked first (-EINVAL: effective or ambient not
 * in permitted, ambient or inheritable outside what the kernel allows), so a bad config changes
 * nothing. Does not load seccomp: the caller orders that. Without process.capabilities every
 * set is empty. */
int process_setup_identity(const OciProcess *p, char **ret_error);
