"""Fail when installing ferlib changed a package that Colab preinstalls, or added a second OpenCV.

usage: python unchanged.py requirements.txt before.txt after.txt  (the two from `pip freeze`)
"""

import re
import sys


def versions(freeze_file: str) -> dict[str, str]:
    found = {}
    for line in open(freeze_file):
        match = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)", line.strip())
        if match:
            found[match[1].lower().replace("_", "-")] = match[2]
    return found


def main(requirements: str, before_file: str, after_file: str) -> int:
    before, after = versions(before_file), versions(after_file)
    pinned = versions(requirements)
    problems = [f"{name}: {before.get(name)} became {after.get(name)}" for name in before if after.get(name) != before[name]]
    problems += [f"{name}: pinned {version}, installed {after.get(name)}" for name, version in pinned.items()
                 if after.get(name) != version]
    added = sorted(set(after) - set(before))
    problems += [f"{name} {after[name]} was added beside the preinstalled OpenCV" for name in added if name.startswith("opencv")]
    for problem in problems:
        print("changed by installing ferlib:", problem, file=sys.stderr)
    print(f"installing ferlib added {', '.join(f'{n}=={after[n]}' for n in added) or 'nothing'}; "
          f"{len(before)} preinstalled packages unchanged" if not problems else "")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
