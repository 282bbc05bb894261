/* SPDX-License-Identifier: Apache-2.0 */
/* test-yaml-tree.c: node tree building: marks, styles, scalar typing, aliases, errors. */
#include <stdio.h>

#include "string-util.h"
#include "tests.h"
#include "yaml-tree.h"

static int parse(const char *s, YamlNode **ret, YamlTreeErrors *e) {
        return yaml_tree_parse(s, strlen(s), ret, e);
}

TEST(marks_and_styles) {
        _cleanup_(yaml_node_freep) YamlNode *root = NULL;
        YamlTreeErrors e = {};
        const YamlNode *n, *l;

        ASSERT_OK(parse("a: 1\nb:\n  - 'x'\n  - \"2\"\n  - 2.5\nc: {d: TRUE, e: ~, f: }\n"
                        "g: -12\nh: 1e3\ni: null\nj: |\n  text\n",
                        &root, &e));
        ASSERT_EQ(e.n_items, 0u);
        ASSERT_EQ(root->type, YAML_TREE_MAPPING);
        ASSERT_FALSE(root->flow);
        ASSERT_EQ(root->n_pairs, 7u);
        ASSERT_EQ(root->line, 1u);
        ASSERT_EQ(root->column, 1u);

        n = yaml_node_get(root, "a");
        ASSERT_EQ(n->kind, YAML_SCALAR_INTEGER);
        ASSERT_EQ(n->line, 1u);
        ASSERT_EQ(n->column, 4u);
        ASSERT_FALSE(n->quoted);

        l = yaml_node_get(root, "b");
        ASSERT_EQ(l->type, YAML_TREE_SEQUENCE);
        ASSERT_EQ(l->n_items, 3u);
        ASSERT_EQ(l->line, 3u);
        ASSERT_EQ(l->column, 3u);
        ASSERT_STREQ(l->items[0]->text, "x");
        ASSERT_TRUE(l->items[0]->quoted);
        ASSERT_EQ(l->items[0]->kind, YAML_SCALAR_STRING);
        ASSERT_EQ(l->items[1]->kind, YAML_SCALAR_STRING);
        ASSERT_EQ(l->items[2]->kind, YAML_SCALAR_FLOAT);
        ASSERT_EQ(l->items[2]->line, 5u);
        ASSERT_EQ(l->items[2]->column, 5u);

        n = yaml_node_get(root, "c");
        ASSERT_TRUE(n->flow);
        ASSERT_EQ(yaml_node_get(n, "d")->kind, YAML_SCALAR_BOOLEAN);
        ASSERT_TRUE(yaml_node_is_null(yaml_node_get(n, "e")));
        ASSERT_TRUE(yaml_node_is_null(yaml_node_get(n, "f")));
        ASSERT_EQ(yaml_node_get(root, "g")->kind, YAML_SCALAR_INTEGER);
        ASSERT_EQ(yaml_node_get(root, "h")->kind, YAML_SCALAR_FLOAT);
        ASSERT_TRUE(yaml_node_is_null(yaml_node_get(root, "i")));
        n = yaml_node_get(root, "j");
        ASSERT_STREQ(n->text, "text\n");
        ASSERT_EQ(n->kind, YAML_SCALAR_STRING);
        ASSERT_NULL(yaml_node_get(root, "zz"));
        ASSERT_EQ(yaml_node_get_key(root, "g")->line, 7u);
        yaml_tree_errors_done(&e);
}

TEST(scalar_kinds) {
        ASSERT_EQ(yaml_scalar_kind_from_plain("0"), YAML_SCALAR_INTEGER);
        ASSERT_EQ(yaml_scalar_kind_from_plain("-7"), YAML_SCALAR_INTEGER);
        ASSERT_EQ(yaml_scalar_kind_from_plain("0755"), YAML_SCALAR_INTEGER);
        ASSERT_EQ(yaml_scalar_kind_from_plain("1.5"), YAML_SCALAR_FLOAT);
        ASSERT_EQ(yaml_scalar_kind_from_plain("2.0e-3"), YAML_SCALAR_FLOAT);
        ASSERT_EQ(yaml_scalar_kind_from_plain("False"), YAML_SCALAR_BOOLEAN);
        ASSERT_EQ(yaml_scalar_kind_from_plain("NULL"), YAML_SCALAR_NULL);
        ASSERT_EQ(yaml_scalar_kind_from_plain(""), YAML_SCALAR_NULL);
        ASSERT_EQ(yaml_scalar_kind_from_plain("~"), YAML_SCALAR_NULL);
        /* YAML 1.1 would type these; we do not. */
        ASSERT_EQ(yaml_scalar_kind_from_plain("yes"), YAML_SCALAR_STRING);
        ASSERT_EQ(yaml_scalar_kind_from_plain("0x1F"), YAML_SCALAR_STRING);
        ASSERT_EQ(yaml_scalar_kind_from_plain("0o755"), YAML_SCALAR_STRING);
        ASSERT_EQ(yaml_scalar_kind_from_plain(".5"), YAML_SCALAR_STRING);
        ASSERT_EQ(yaml_scalar_kind_from_plain("1."), YAML_SCALAR_STRING);
        ASSERT_EQ(yaml_scalar_kind_from_plain("30s"), YAML_SCALAR_STRING);
        ASSERT_EQ(yaml_scalar_kind_from_plain("-"), YAML_SCALAR_STRING);
        ASSERT_EQ(yaml_scalar_kind_from_plain("1e"), YAML_SCALAR_STRING);
        ASSERT_EQ(yaml_scalar_kind_from_plain(".inf"), YAML_SCALAR_STRING);
}

TEST(str_tag) {
        _cleanup_(yaml_node_freep) YamlNode *root = NULL;
        YamlTreeErrors e = {};

        ASSERT_OK(parse("a: !!str 80\n", &root, &e));
        ASSERT_EQ(yaml_node_get(root, "a")->kind, YAML_SCALAR_STRING);
        ASSERT_EQ(e.n_items, 0u);
}

TEST(aliases) {
        _cleanup_(yaml_node_freep) YamlNode *root = NULL;
        YamlTreeErrors e = {};
        const YamlNode *a, *b;

        ASSERT_OK(
                parse("base: &b\n  x: 1\n  y: [1, 2]\nother: *b\nlist: [&s str, *s]\n", &root, &e));
        ASSERT_EQ(e.n_items, 0u);
        a = yaml_node_get(root, "base");
        b = yaml_node_get(root, "other");
        ASSERT_TRUE(a != b);
        ASSERT_EQ(b->type, YAML_TREE_MAPPING);
        ASSERT_EQ(b->n_pairs, 2u);
        /* The copy sits at the alias; its inside keeps the anchored marks. */
        ASSERT_EQ(b->line, 4u);
        ASSERT_EQ(b->column, 8u);
        ASSERT_EQ(yaml_node_get(b, "x")->line, 2u);
        ASSERT_EQ(yaml_node_get(b, "y")->n_items, 2u);
        ASSERT_STREQ(yaml_node_get(root, "list")->items[1]->text, "str");
}

TEST(merge_key_is_a_normal_key) {
        _cleanup_(yaml_node_freep) YamlNode *root = NULL;
        YamlTreeErrors e = {};

        ASSERT_OK(parse("a: &a {x: 1}\nb:\n  <<: *a\n", &root, &e));
        ASSERT_NOT_NULL(yaml_node_get(yaml_node_get(root, "b"), "<<"));
        ASSERT_NULL(yaml_node_get(yaml_node_get(root, "b"), "x"));
}

TEST(alias_bomb) {
        _cleanup_(yaml_node_freep) YamlNode *root = NULL;
        YamlTreeErrors e = {};
        const char *bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                           "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                           "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                           "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                           "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                           "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n";

        ASSERT_ERROR(parse(bomb, &root, &e), EINVAL);
        ASSERT_NULL(root);
        ASSERT_EQ(e.n_items, 1u);
        ASSERT_EQ(e.items[0].line, 5u);
        ASSERT_TRUE(strstr(e.items[0].message, "100000") != NULL);
        ASSERT_TRUE(startswith(e.items[0].path, "e["));
        yaml_tree_errors_done(&e);
}

TEST(unknown_alias) {
        _cleanup_(yaml_node_freep) YamlNode *root = NULL;
        YamlTreeErrors e = {};

        ASSERT_ERROR(parse("a: 1\nb: *nope\n", &root, &e), EINVAL);
        ASSERT_EQ(e.n_items, 1u);
        ASSERT_EQ(e.items[0].line, 2u);
        ASSERT_EQ(e.items[0].column, 4u);
        ASSERT_STREQ(e.items[0].path, "b");
        ASSERT_STREQ(e.items[0].message, "unknown alias '*nope'");
        yaml_tree_errors_done(&e);
}

TEST(duplicates) {
        _cleanup_(yaml_node_freep) YamlNode *root = NULL;
        YamlTreeErrors e = {};

        ASSERT_OK(
                parse("a: 1\nb:\n  x: 1\n  y: 2\n  x: 3\na: 4\nc: [ {k: 1, k: 2} ]\n", &root, &e));
        ASSERT_EQ(e.n_items, 3u);
        ASSERT_EQ(e.items[0].line, 5u);
        ASSERT_EQ(e.items[0].column, 3u);
        ASSERT_STREQ(e.items[0].path, "b.x");
        ASSERT_STREQ(e.items[0].message, "duplicate key 'x', first defined at line 3");
        ASSERT_EQ(e.items[1].line, 7u);
        ASSERT_EQ(e.items[1].column, 13u);
        ASSERT_STREQ(e.items[1].path, "c[0].k");
        ASSERT_EQ(e.items[2].line, 6u);
        ASSERT_STREQ(e.items[2].path, "a");
        ASSERT_STREQ(e.items[2].message, "duplicate key 'a', first defined at line 1");
        /* The first definition is kept. */
        ASSERT_STREQ(yaml_node_get(root, "a")->text, "1");
        ASSERT_EQ(root->n_pairs, 3u);
        ASSERT_STREQ(yaml_node_get(yaml_node_get(root, "b"), "x")->text, "1");
        yaml_tree_errors_done(&e);
}

TEST(complex_key) {
        _cleanup_(yaml_node_freep) YamlNode *root = NULL;
        YamlTreeErrors e = {};

        ASSERT_OK(parse("? [a]\n: 1\nb: 2\n", &root, &e));
        ASSERT_EQ(e.n_items, 1u);
        ASSERT_STREQ(e.items[0].message, "expected a string as key, found a sequence");
        ASSERT_EQ(root->n_pairs, 1u);
        yaml_tree_errors_done(&e);
}

TEST(documents) {
        _cleanup_(yaml_node_freep) YamlNode *root = NULL;
        YamlTreeErrors e = {};

        ASSERT_ERROR(parse("", &root, &e), EINVAL);
        ASSERT_STREQ(e.items[0].message, "empty document");
        ASSERT_EQ(e.items[0].line, 0u);
        yaml_tree_errors_done(&e);

        ASSERT_ERROR(parse("# only a comment\n", &root, &e), EINVAL);
        ASSERT_STREQ(e.items[0].message, "empty document");
        yaml_tree_errors_done(&e);

        ASSERT_ERROR(parse("a: 1\n---\nb: 2\n", &root, &e), EINVAL);
        ASSERT_EQ(e.n_items, 1u);
        ASSERT_EQ(e.items[0].line, 2u);
        ASSERT_EQ(e.items[0].column, 1u);
        ASSERT_TRUE(strstr(e.items[0].message, "second document") != NULL);
        ASSERT_NULL(root);
        yaml_tree_errors_done(&e);

        /* An explicit start and end of the one document are fine. */
        ASSERT_OK(parse("---\na: 1\n...\n", &root, &e));
        ASSERT_EQ(e.n_items, 0u);
}

TEST(syntax_errors) {
        _cleanup_(yaml_node_freep) YamlNode *root = NULL;
        YamlTreeErrors e = {};

        ASSERT_ERROR(parse("a:\n  b: 1\n c: [\n", &root, &e), EINVAL);
        ASSERT_EQ(e.n_items, 1u);
        ASSERT_GT(e.items[0].line, 0u);
        ASSERT_NOT_NULL(e.items[0].message);
        yaml_tree_errors_done(&e);

        ASSERT_ERROR(parse("a: b: c\n", &root, &e), EINVAL);
        ASSERT_EQ(e.items[0].line, 1u);
        ASSERT_EQ(e.items[0].column, 5u);
        ASSERT_STREQ(e.items[0].message, "mapping values are not allowed in this context");
        yaml_tree_errors_done(&e);

        /* The path of the deepest known position. */
        ASSERT_ERROR(parse("x:\n  y:\n    - 1\n    - [2\n", &root, &e), EINVAL);
        ASSERT_STREQ(e.items[0].path, "x.y[1][1]");
        yaml_tree_errors_done(&e);

        ASSERT_ERROR(parse("a: \"\xff\"\n", &root, &e), EINVAL);
        ASSERT_EQ(e.items[0].line, 1u);
        ASSERT_EQ(e.items[0].column, 5u);
        yaml_tree_errors_done(&e);
}

TEST(nul_and_size) {
        _cleanup_(yaml_node_freep) YamlNode *root = NULL;
        YamlTreeErrors e = {};
        _cleanup_free_ char *big = NULL;

        ASSERT_ERROR(yaml_tree_parse("a: 1\nb: x\0y\n", 12, &root, &e), EINVAL);
        ASSERT_STREQ(e.items[0].message, "NUL byte in input");
        ASSERT_EQ(e.items[0].line, 2u);
        ASSERT_EQ(e.items[0].column, 5u);
        yaml_tree_errors_done(&e);

        ASSERT_OK(parse("a: \"x\\0y\"\n", &root, &e));
        ASSERT_EQ(e.n_items, 1u);
        ASSERT_STREQ(e.items[0].message, "NUL character in a string");
        yaml_tree_errors_done(&e);
        root = yaml_node_free(root);

        big = malloc(YAML_TREE_MAX_SIZE + 1);
        ASSERT_NOT_NULL(big);
        memset(big, ' ', YAML_TREE_MAX_SIZE + 1);
        ASSERT_ERROR(yaml_tree_parse(big, YAML_TREE_MAX_SIZE + 1, &root, &e), EINVAL);
        ASSERT_STREQ(e.items[0].message, "document is larger than 16 MiB");
        yaml_tree_errors_done(&e);
}

TEST(nesting) {
        _cleanup_(yaml_node_freep) YamlNode *root = NULL;
        _cleanup_free_ char *s = NULL;
        YamlTreeErrors e = {};
        size_t n = YAML_TREE_MAX_DEPTH + 10;

        s = malloc(2 * n + 1);
        ASSERT_NOT_NULL(s);
        memset(s, '[', n);
        memset(s + n, ']', n);
        s[2 * n] = '\0';
        ASSERT_ERROR(parse(s, &root, &e), EINVAL);
        ASSERT_TRUE(strstr(e.items[0].message, "nesting deeper") != NULL);
        yaml_tree_errors_done(&e);

        s[YAML_TREE_MAX_DEPTH] = '\0';
        memset(s, '[', YAML_TREE_MAX_DEPTH / 2);
        memset(s + YAML_TREE_MAX_DEPTH / 2, ']', YAML_TREE_MAX_DEPTH / 2);
        ASSERT_OK(parse(s, &root, &e));
        ASSERT_EQ(e.n_items, 0u);
}
