/* SPDX-License-Identifier: Apache-2.0 */
/* nft.c: the `inet zlayer` table through libnftables, replaced atomically, removed cleanly. */
#include <nftables/libnftables.h>
#include <stdio.h>

#include "log.h"
#include "nft.h"
#include "string-util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct nft_ctx *, nft_ctx_free);

/* Bridge names go into rule text inside quotes: keep them to what an interface name is. */
static bool ifname_is_safe(const char *s) {
        if (isempty(s) || strlen(s) >= 16)
                return false;
        for (const char *p = s; *p; p++)
                if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-",
                            *p))
                        return false;
        return true;
}

int nft_zlayer_ruleset(const NetdFirewallConfig *c, char **ret) {
        _cleanup_free_ char *s = NULL;
        char buf[IP_PREFIX_STRING_MAX];
        int r;

        if (!c || !ifname_is_safe(c->bridge))
                return -EINVAL;
        if (c->cluster4.family != AF_INET && c->cluster6.family != AF_INET6)
                return -EINVAL;

        /* "add" then "delete" then the definition: one batch that works whether or not the
         * table exists, and replaces it atomically when it does. */
        r = strextendf(&s, "add table " NFT_ZLAYER_FAMILY " " NFT_ZLAYER_TABLE "\n"
                           "delete table " NFT_ZLAYER_FAMILY " " NFT_ZLAYER_TABLE "\n"
                           "table " NFT_ZLAYER_FAMILY " " NFT_ZLAYER_TABLE " {\n"
                           "\tchain postrouting {\n"
                           "\t\ttype nat hook postrouting priority srcnat; policy accept;\n");
        if (r < 0)
                return r;
        /* Only traffic leaving the cluster is masqueraded: between nodes (the overlay) source
         * addresses stay the containers' own. */
        if (c->cluster4.family == AF_INET) {
                ip_prefix_to_string(&c->cluster4, buf);
                r = strextendf(&s, "\t\tip saddr %s ip daddr != %s oifname != \"%s\" masquerade\n",
                               buf, buf, c->bridge);
                if (r < 0)
                        return r;
        }
        if (c->cluster6.family == AF_INET6) {
                ip_prefix_to_string(&c->cluster6, buf);
                r = strextendf(&s,
                               "\t\tip6 saddr %s ip6 daddr != %s oifname != \"%s\" masquerade\n",
                               buf, buf, c->bridge);
                if (r < 0)
                        return r;
        }
        /* Forwarding: whatever the containers send, and replies to it. Other tables' forward
         * chains still get their say: an accept here cannot override a drop there. */
        r = strextendf(&s,
                       "\t}\n"
                       "\tchain forward {\n"
                       "\t\ttype filter hook forward priority filter; policy accept;\n"
                       "\t\tiifname \"%s\" accept\n"
                       "\t\toifname \"%s\" ct state established,related accept\n"
                       "\t}\n"
                       "}\n",
                       c->bridge, c->bridge);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(s);
        return 0;
}

int nft_run(const char *commands, bool json, char **ret_output, char **reterr_message) {
        _cleanup_(nft_ctx_freep) struct nft_ctx *ctx = NULL;
        const char *out, *err;
        int r;

        ctx = nft_ctx_new(NFT_CTX_DEFAULT);
        if (!ctx)
                return -ENOMEM;
        if (nft_ctx_buffer_output(ctx) < 0 || nft_ctx_buffer_error(ctx) < 0)
                return -ENOMEM;
        if (json)
                nft_ctx_output_set_flags(ctx, NFT_CTX_OUTPUT_JSON);

        r = nft_run_cmd_from_buffer(ctx, commands);
        err = nft_ctx_get_error_buffer(ctx);
        if (r != 0) {
                /* libnftables says only that it failed; the reason is in its text. */
                log_debug("nftables failed: %s", strempty(err));
                if (reterr_message && !isempty(err)) {
                        _cleanup_free_ char *m = strdup(err);
                        if (m)
                                *reterr_message = TAKE_PTR(m);
                }
                if (err && strstr(err, "Operation not permitted"))
                        return -EPERM;
                if (err && strstr(err, "No such file or directory"))
                        return -ENOENT;
                return -EPROTO;
        }

        if (ret_output) {
                out = nft_ctx_get_output_buffer(ctx);
                *ret_output = strdup(strempty(out));
                if (!*ret_output)
                        return -ENOMEM;
        }
        return 0;
}

int nft_zlayer_apply(const NetdFirewallConfig *c, char **reterr_message) {
        _cleanup_free_ char *ruleset = NULL;
        int r;

        r = nft_zlayer_ruleset(c, &ruleset);
        if (r < 0)
                return r;
        return nft_run(ruleset, false, NULL, reterr_message);
}

int nft_zlayer_remove(char **reterr_message) {
        return nft_run("add table " NFT_ZLAYER_FAMILY " " NFT_ZLAYER_TABLE "\n"
                       "delete table " NFT_ZLAYER_FAMILY " " NFT_ZLAYER_TABLE "\n",
                       false, NULL, reterr_message);
}

int nft_zlayer_exists(void) {
        _cleanup_free_ char *out = NULL;
        int r;

        r = nft_run("list table " NFT_ZLAYER_FAMILY " " NFT_ZLAYER_TABLE, false, &out, NULL);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        return 1;
}
