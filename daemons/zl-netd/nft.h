/* SPDX-License-Identifier: Apache-2.0 */
/* nft.h: zl-netd's own nftables table, `inet zlayer`: egress masquerade and forward accepts. */
#pragma once

#include "netlink-ops.h"

#define NFT_ZLAYER_FAMILY "inet"
#define NFT_ZLAYER_TABLE "zlayer"

/* The rule set as nft syntax, one transaction that replaces the table whole (creating it when
 * missing): applying it twice gives the same table, and no moment sees it half made. */
int nft_zlayer_ruleset(const NetdFirewallConfig *c, char **ret);

/* Replaces (or creates) table inet zlayer in the current network namespace. On failure
 * *reterr_message, when reterr_message is not NULL, gets what nftables said, if anything. */
int nft_zlayer_apply(const NetdFirewallConfig *c, char **reterr_message);
/* Deletes table inet zlayer if it exists; a missing table is success. */
int nft_zlayer_remove(char **reterr_message);
/* 1 if table inet zlayer exists, 0 if not. */
int nft_zlayer_exists(void);
/* Runs nft commands, for the checks above and for tests; ret_output (may be NULL) gets what
 * the commands printed (as JSON when json is true). */
int nft_run(const char *commands, bool json, char **ret_output, char **reterr_message);
