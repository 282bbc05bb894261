/* SPDX-License-Identifier: Apache-2.0 */
/* cron-internal.h: the cleanup helper for ZlCron, for users inside ZLayer. */
#pragma once

#include "macro.h"
#include "zlayer/spec.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(ZlCron *, zl_cron_free);
