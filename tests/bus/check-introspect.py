#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Compares a D-Bus interface contract (dbus/*.xml) with introspection XML a daemon generated.

    check-introspect.py docs CONTRACT.xml
        every <interface>, <method>, <signal> and <property> has an XML comment right before it
        that starts with "Name:", and every named method/signal argument appears as "@arg:"
    check-introspect.py compare CONTRACT.xml GENERATED.xml
        the interface of CONTRACT is in GENERATED with the same members, argument types, names
        and directions in the same order, property types and access, and annotations (comments,
        whitespace and member order do not matter)

Exits 0 when all is well, 1 with one line per problem on stdout."""

import sys
import xml.etree.ElementTree as ET


def parse(path):
    parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))
    try:
        with open(path, "rb") as f:
            return ET.parse(f, parser=parser).getroot()
    except ET.ParseError as e:
        raise ET.ParseError(f"{path}: {e}") from None


def annotations(el):
    return tuple(sorted((a.get("name"), a.get("value")) for a in el.findall("annotation")))


def normalize(interface):
    """{(kind, name): description} for every member of an <interface> element."""
    members = {("interface-annotations", ""): annotations(interface)}
    for el in interface:
        if el.tag == "method":
            args = tuple((a.get("type"), a.get("name"), a.get("direction", "in"))
                         for a in el.findall("arg"))
            members[("method", el.get("name"))] = (args, annotations(el))
        elif el.tag == "signal":
            args = tuple((a.get("type"), a.get("name")) for a in el.findall("arg"))
            members[("signal", el.get("name"))] = (args, annotations(el))
        elif el.tag == "property":
            members[("property", el.get("name"))] = (el.get("type"), el.get("access"),
                                                     annotations(el))
    return members


def interfaces(root):
    return {i.get("name"): i for i in root.iter("interface")}


def check_docs(path):
    problems = []
    root = parse(path)
    found = interfaces(root)
    if len(found) != 1:
        problems.append(f"{path}: expected exactly one <interface>, found {len(found)}")

    def walk(parent):
        previous = None
        for el in parent:
            if el.tag in ("interface", "method", "signal", "property"):
                name = el.get("name")
                what = f"<{el.tag} name=\"{name}\">"
                if previous is None or previous.tag is not ET.Comment:
                    problems.append(f"{path}: {what} has no doc comment right before it")
                else:
                    text = previous.text.strip()
                    if not text.startswith(name + ":"):
                        problems.append(f"{path}: the doc comment of {what} does not start "
                                        f"with '{name}:'")
                    if el.tag in ("method", "signal"):
                        for arg in el.findall("arg"):
                            if arg.get("name") and f"@{arg.get('name')}:" not in text:
                                problems.append(f"{path}: argument '{arg.get('name')}' of "
                                                f"{what} is not documented as "
                                                f"'@{arg.get('name')}:'")
                            if not arg.get("name"):
                                problems.append(f"{path}: an argument of {what} has no name")
                if el.tag == "interface":
                    walk(el)
            previous = el
    walk(root)
    return problems


def describe(key, value):
    kind, name = key
    return f"{kind} {name}: {value!r}"


def compare(contract_path, generated_path):
    problems = []
    contract = interfaces(parse(contract_path))
    generated = interfaces(parse(generated_path))
    for name, iface in contract.items():
        if name not in generated:
            problems.append(f"{generated_path}: interface {name} is missing")
            continue
        want, have = normalize(iface), normalize(generated[name])
        for key in sorted(set(want) | set(have)):
            if key not in have:
                problems.append(f"only in the contract: {describe(key, want[key])}")
            elif key not in want:
                problems.append(f"only in the daemon: {describe(key, have[key])}")
            elif want[key] != have[key]:
                problems.append(f"differs: contract {describe(key, want[key])}, "
                                f"daemon {describe(key, have[key])}")
    return problems


def main(argv):
    try:
        if len(argv) == 3 and argv[1] == "docs":
            problems = check_docs(argv[2])
        elif len(argv) == 4 and argv[1] == "compare":
            problems = compare(argv[2], argv[3])
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except (OSError, ET.ParseError) as e:
        problems = [f"{e}"]
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
