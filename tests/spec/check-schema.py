#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# check-schema.py: checks docs/zlayer-spec.schema.json against the spec corpus and the examples.
#
# Valid cases and examples must pass the schema; invalid cases must fail it, except the ones in
# schema-exceptions.txt (rules JSON Schema cannot express). A case that PyYAML itself cannot load
# (syntax errors, a second document) counts as rejected, as an editor would flag it too.
#
# The schema describes what yaml.safe_load returns, which follows YAML 1.1 and so differs from
# ZLayer's own scalar typing in a few places:
#  - a plain 0755 loads as the integer 493 (octal) and 1777 as 1777, so an integer file mode can
#    only be range-checked, not checked for octal digits (mode: 8 passes);
#  - yes/no/on/off load as booleans, which ZLayer reads as strings;
#  - 1000:1000 unquoted loads as a base-60 integer;
#  - merge keys (<<) are applied and duplicate keys silently keep the last value;
#  - the document's style is lost, so a bare integer duration is accepted everywhere (it is
#    valid as milliseconds in JSON documents only).
import argparse
import json
import os
import sys

import jsonschema
import yaml


def load_exceptions(path):
    exceptions = {}
    with open(path, encoding='utf-8') as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith('#'):
                continue
            name, _, reason = line.partition(' ')
            if not reason.strip():
                sys.exit(f'{path}:{lineno}: exception {name!r} gives no reason')
            exceptions[name] = reason.strip()
    return exceptions


def first_error(validator, doc):
    """Returns a short description of the best error, or None if doc is valid."""
    error = jsonschema.exceptions.best_match(validator.iter_errors(doc))
    if error is None:
        return None
    where = '.'.join(str(p) for p in error.absolute_path) or '-'
    return f'{where}: {error.message[:160]}'


def check_file(validator, path):
    """Returns (verdict, detail): verdict is 'valid', 'invalid' or 'unloadable'."""
    with open(path, encoding='utf-8', errors='surrogateescape') as f:
        text = f.read()
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        return 'unloadable', str(e).replace('\n', ' ')[:160]
    error = first_error(validator, doc)
    return ('invalid', error) if error else ('valid', None)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    here = os.path.dirname(os.path.abspath(__file__))
    top = os.path.dirname(os.path.dirname(here))
    parser.add_argument('--schema', default=os.path.join(top, 'docs', 'zlayer-spec.schema.json'))
    parser.add_argument('--corpus', default=here)
    parser.add_argument('--examples', default=os.path.join(top, 'examples'))
    parser.add_argument('-v', '--verbose', action='store_true')
    args = parser.parse_args()

    with open(args.schema, encoding='utf-8') as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    exceptions = load_exceptions(os.path.join(args.corpus, 'schema-exceptions.txt'))

    failures = []
    counts = {'valid': 0, 'invalid': 0, 'examples': 0, 'excepted': 0}

    for kind in ('valid', 'invalid'):
        base = os.path.join(args.corpus, kind)
        for name in sorted(os.listdir(base)):
            path = os.path.join(base, name, 'input.yaml')
            if not os.path.isfile(path):
                continue
            counts[kind] += 1
            verdict, detail = check_file(validator, path)
            if kind == 'valid':
                if verdict != 'valid':
                    failures.append(f'valid/{name}: rejected: {detail}')
                if name in exceptions:
                    failures.append(f'valid/{name}: listed in schema-exceptions.txt')
            elif name in exceptions:
                counts['excepted'] += 1
                if verdict != 'valid':
                    failures.append(f'invalid/{name}: listed as an exception but the schema '
                                    f'rejects it ({detail}): remove it from the list')
            elif verdict == 'valid':
                failures.append(f'invalid/{name}: accepted by the schema')
            elif args.verbose:
                print(f'invalid/{name}: {verdict}: {detail}')

    for name in sorted(exceptions):
        if not os.path.isdir(os.path.join(args.corpus, 'invalid', name)):
            failures.append(f'schema-exceptions.txt names {name!r}, which is not an invalid case')

    # Every spec under examples/, also in an example's own directory (examples/hello/).
    if os.path.isdir(args.examples):
        names = []
        for root, dirs, files in os.walk(args.examples):
            dirs.sort()
            for f in files:
                if f.endswith('.yaml'):
                    names.append(os.path.relpath(os.path.join(root, f), args.examples))
        for name in sorted(names):
            counts['examples'] += 1
            verdict, detail = check_file(validator, os.path.join(args.examples, name))
            if verdict != 'valid':
                failures.append(f'examples/{name}: rejected: {detail}')

    for f in failures:
        print(f'FAIL {f}')
    print(f'schema: {counts["valid"]} valid cases, {counts["invalid"]} invalid cases '
          f'({counts["excepted"]} listed as exceptions), {counts["examples"]} examples: '
          f'{len(failures)} mismatches')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
