"""The documentation holds together: its links and section references resolve,
and the commands README.md gives for the everyday tasks parse.

Three kinds of reference are checked:
- markdown links `[x](path)` and `[x](path#anchor)` in README.md, docs/*.md,
  ops/README.md, properties/README.md and workloads/README.md, relative to the
  file that holds them;
- section references in any source file, script or document, written with the
  path from the repository's root: `docs/kernel-tier.md "The custody ledger"`
  (a comma may follow the path, and single quotes may stand for double ones)
  or `docs/kernel-tier.md#the-custody-ledger`; `README "Title"` without a
  directory is the README at the root.  A comment may break the title over
  two lines;
- bare mentions of a document under docs/ (`docs/fuzzing.md`): it must exist.

An anchor or a title matches a heading by GitHub's anchor rule.
"""
import functools
import os
import pathlib
import re
import shlex
import subprocess

import pytest

from conftest import AQCHECK, REQUIRE_KERNEL, ROOT

README = ROOT / "README.md"
README_MAX_LINES = 320
EVERYDAY_TASKS = "Everyday tasks"
EVERYDAY_TASK_TITLES = ["Run one workload", "Run every workload on 7.3", "Fuzz overnight", "Gate a release",
                        "Rerun a failure", "Test a kernel built from source", "Add a workload", "Add a check",
                        "Add a mutant"]

# Directories that hold no source: build trees, reports, caches.
SKIPPED_DIRS = {".git", "build", "out", "node_modules", "__pycache__", ".pytest_cache"}
SOURCE_SUFFIXES = {".md", ".c", ".h", ".cpp", ".hpp", ".py", ".sh", ".txt", ".json", ".yml", ".yaml", ".mjs",
                   ".cmake", ".job", ".patch", ".supp"}
SOURCE_NAMES = {"CMakeLists.txt", "run", "init"}


def markdown_files(root):
    files = [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    files += [root / d / "README.md" for d in ("ops", "properties", "workloads")]
    return [f for f in files if f.exists()]


def source_files(root):
    for dirpath, dirnames, filenames in os.walk(root):
        # build-*: a build tree beside the presets' build/.
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS and not d.startswith("build"))
        for name in sorted(filenames):
            path = pathlib.Path(dirpath, name)
            if path.suffix in SOURCE_SUFFIXES or name in SOURCE_NAMES:
                yield path


def github_anchor(heading):
    """GitHub's anchor for a heading: lower case, punctuation other than '-'
    and '_' dropped, each space a '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def without_code_blocks(text):
    """The lines outside fenced code blocks, as (line number, line)."""
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            yield number, line


@functools.lru_cache(maxsize=None)
def anchors(path):
    """Every anchor of a markdown file's headings, duplicates numbered as
    GitHub numbers them (-1, -2, ...)."""
    seen = {}
    out = set()
    for _, line in without_code_blocks(pathlib.Path(path).read_text()):
        m = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        anchor = github_anchor(m.group(1))
        n = seen.get(anchor, 0)
        seen[anchor] = n + 1
        out.add(anchor if n == 0 else f"{anchor}-{n}")
    return frozenset(out)


def resolve(target_file, anchor):
    """Why target_file#anchor does not resolve, or None."""
    if not target_file.exists():
        return "no such file"
    if anchor is not None and target_file.suffix == ".md" and anchor not in anchors(target_file):
        return f"no heading with anchor #{anchor}"
    return None


LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
INLINE_CODE = re.compile(r"`[^`]*`")


def broken_links(md_file, root):
    """Relative links of one markdown file that do not resolve, as
    'file:line: [target]: why'."""
    problems = []
    for number, line in without_code_blocks(md_file.read_text()):
        for m in LINK.finditer(INLINE_CODE.sub("", line)):
            target = m.group(1)
            if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                continue
            path, _, anchor = target.partition("#")
            target_file = (md_file.parent / path).resolve() if path else md_file
            why = resolve(target_file, anchor if "#" in target else None)
            if why:
                problems.append(f"{md_file.relative_to(root)}:{number}: [{target}]: {why}")
    return problems


# A document's path from the repository's root: a directory, then the file.
# Not preceded by a path character, so "../docs/x.md" (a relative link) is
# not taken for "docs/x.md".
DOC_PATH = r"(?<![\w./-])((?:[A-Za-z_][\w-]*/)+[\w.-]+\.md)"
SECTION_BY_TITLE = re.compile(DOC_PATH + r",?\s+(?:\"([^\"\n]+)\"|'([^'\n]+)')")
SECTION_BY_ANCHOR = re.compile(DOC_PATH + r"#([\w-]+)")
# `README "Title"` or `README.md, "Title"` with no directory: the README at
# the root.
SECTION_OF_README = re.compile(r"(?<![\w./-])README(?:\.md)?[,:]?\s+(?:\"([^\"\n]+)\"|'([^'\n]+)')")
DOC_MENTION = re.compile(r"(?<![\w./-])(docs/[\w.-]+\.md)")
# A line break inside a comment: the next line's comment marker goes too, so
# that a title broken over two comment lines reads as one.
COMMENT_BREAK = re.compile(r"[ \t]*\n[ \t]*(?:\*(?!/)|//+|#+(?=\s))?[ \t]*")


def flatten_comments(text):
    """text with each line break, and the comment marker that opens the next
    line, made one space; and for each character of the result, the number
    of the line it came from."""
    flat, line_of = [], []
    pos, line = 0, 1
    for m in COMMENT_BREAK.finditer(text):
        flat.append(text[pos:m.start()] + " ")
        line_of.extend([line] * (m.start() - pos + 1))
        line += 1
        pos = m.end()
    flat.append(text[pos:])
    line_of.extend([line] * (len(text) - pos))
    return "".join(flat), line_of


def broken_section_refs(path, root):
    """Section references and docs/ mentions of one file that do not
    resolve, as 'file:line: reference: why'."""
    text = path.read_text(errors="replace")
    if path.suffix == ".md":
        # Markdown links are broken_links' business.
        text = LINK.sub(lambda m: " " * len(m.group(0)), text)
    flat, line_of = flatten_comments(text)
    rel = path.relative_to(root)
    problems = []
    for m in SECTION_BY_TITLE.finditer(flat):
        title = m.group(2) or m.group(3)
        why = resolve(root / m.group(1), github_anchor(title))
        if why:
            problems.append(f"{rel}:{line_of[m.start()]}: {m.group(1)} \"{title}\": {why}")
    for m in SECTION_BY_ANCHOR.finditer(flat):
        why = resolve(root / m.group(1), m.group(2))
        if why:
            problems.append(f"{rel}:{line_of[m.start()]}: {m.group(1)}#{m.group(2)}: {why}")
    for m in SECTION_OF_README.finditer(flat):
        title = m.group(1) or m.group(2)
        why = resolve(root / "README.md", github_anchor(title))
        if why:
            problems.append(f"{rel}:{line_of[m.start()]}: README.md \"{title}\": {why}")
    for m in DOC_MENTION.finditer(flat):
        if not (root / m.group(1)).exists():
            problems.append(f"{rel}:{line_of[m.start()]}: {m.group(1)}: no such file")
    return sorted(set(problems), key=lambda p: (int(p.split(":")[1]), p))


def section(text, title, level=2):
    """The body of the heading `title` at `level`, up to the next heading of
    that level or higher."""
    lines = text.splitlines()
    marker = "#" * level + " "
    start = next((i for i, l in enumerate(lines) if l == marker + title), None)
    assert start is not None, f"README.md has no heading '{marker}{title}'"
    end = next((i for i in range(start + 1, len(lines))
                if re.match(r"#{1,%d} " % level, lines[i])), len(lines))
    return "\n".join(lines[start + 1:end])


def code_block_commands(text):
    """The commands of a text's shell code blocks (```sh, ```bash): one per
    line, continuation lines joined, comments dropped, each as its words."""
    commands, in_shell_block, current = [], None, ""
    for line in text.splitlines():
        fence = re.match(r"\s*```(\w*)", line)
        if fence:
            in_shell_block = None if in_shell_block is not None else fence.group(1) in ("sh", "bash")
            continue
        if not in_shell_block:
            continue
        continued = line.rstrip().endswith("\\")
        current += line.rstrip().rstrip("\\") + " " if continued else line
        if not continued:
            words = shlex.split(current, comments=True)
            if words:
                commands.append(words)
            current = ""
    return commands


# Subcommands that have subcommands of their own: `aqcheck report merge`.
NESTED_SUBCOMMANDS = {"report"}


def aqcheck_invocations(words):
    """Each `aqcheck` run in a shell command's words (commands joined by &&,
    || or ; are taken apart) as (subcommand, options, guest subcommand,
    guest options); the subcommand is a tuple (`("report", "merge")`).
    Brackets that mark an option as optional in a synopsis are dropped."""
    out = []
    command = []
    for w in [*words, "&&"]:
        if w not in ("&&", "||", ";", "|"):
            command.append(w.strip("[]"))
            continue
        i = next((k for k, c in enumerate(command) if pathlib.PurePath(c).name == "aqcheck"), None)
        if i is not None and i + 1 < len(command):
            sub, rest = (command[i + 1],), command[i + 2:]
            if sub[0] in NESTED_SUBCOMMANDS and rest and not rest[0].startswith("-"):
                sub, rest = sub + (rest[0],), rest[1:]
            own, guest = (rest[:rest.index("--")], rest[rest.index("--") + 1:]) if "--" in rest else (rest, [])
            guest_sub, guest_opts = ((guest[0],), guest[1:]) if guest else (None, [])
            out.append((sub, own, guest_sub, guest_opts))
        command = []
    return out


def long_options(args):
    """The long options among a command's words.  A word with a space in it
    is a quoted value (`--stress '--cpu 4'`), not an option."""
    return [a.split("=", 1)[0] for a in args if re.fullmatch(r"--[\w-]+(=.*)?", a)]


def repo_paths(words, root):
    """Words that name a file of the source tree: scripts (ci/*.sh, .ci/run,
    ...) and other files under a directory the repository has.  Build and
    report paths (build/, out/) are made by the commands, not shipped."""
    shipped_dirs = {p.name for p in root.iterdir() if p.is_dir() and p.name not in SKIPPED_DIRS}
    for w in words:
        w = w.split("=", 1)[-1]
        first = w.split("/", 1)[0]
        if "/" in w and first in shipped_dirs and not w.startswith(("build/", "out/")):
            yield w


@functools.lru_cache(maxsize=None)
def help_options(*subcommand):
    """The options `aqcheck SUBCOMMAND --help` lists, each line's long name."""
    proc = subprocess.run([str(AQCHECK), *subcommand, "--help"], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"aqcheck {' '.join(subcommand)} --help: exit {proc.returncode}\n{proc.stderr}"
    return frozenset(re.findall(r"^\s+(?:-\w,)?(--[\w-]+)", proc.stdout, re.M))


def require_aqcheck():
    if AQCHECK.exists():
        return
    reason = f"no aqcheck binary at {AQCHECK} (build it: cmake --preset default && cmake --build --preset default)"
    if REQUIRE_KERNEL:
        pytest.fail(f"README's commands cannot be checked and AQCHECK_REQUIRE_KERNEL=1: {reason}")
    pytest.skip(f"README COMMANDS NOT CHECKED: {reason}")


# --- the checks -----------------------------------------------------------

def test_every_relative_link_resolves():
    problems = [p for f in markdown_files(ROOT) for p in broken_links(f, ROOT)]
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_every_section_reference_resolves():
    # This file's own examples of broken references are the negative test's.
    here = pathlib.Path(__file__).resolve()
    problems = [p for f in source_files(ROOT) if f.resolve() != here for p in broken_section_refs(f, ROOT)]
    assert not problems, "references to no section:\n" + "\n".join(problems)


def test_readme_is_short():
    lines = len(README.read_text().splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines (at most {README_MAX_LINES}): move detail to docs/"


def test_each_everyday_task_is_one_command():
    tasks = section(README.read_text(), EVERYDAY_TASKS)
    titles = re.findall(r"^### (.+)$", tasks, re.M)
    assert titles == EVERYDAY_TASK_TITLES, titles
    for title in titles:
        commands = code_block_commands(section(tasks, title, level=3))
        assert len(commands) == 1, f"'{title}' shows {len(commands)} commands, not one: {commands}"


def test_scripts_and_files_in_shell_blocks_exist():
    missing = [f"{md.relative_to(ROOT)}: {w}" for md in markdown_files(ROOT)
               for words in code_block_commands(md.read_text()) for w in repo_paths(words, ROOT)
               if not (ROOT / w).exists()]
    assert not missing, "shell blocks name files that do not exist:\n" + "\n".join(missing)


def options_not_in_help(runs):
    problems = []
    for sub, own, guest_sub, guest_opts in runs:
        name = " ".join(sub)
        for option in long_options(own):
            if option not in help_options(*sub):
                problems.append(f"aqcheck {name}: {option} is not in `aqcheck {name} --help`")
        if guest_sub:
            for option in long_options(guest_opts):
                if option not in help_options(*guest_sub):
                    problems.append(f"aqcheck {name} -- {guest_sub[0]}: {option} is not in "
                                    f"`aqcheck {guest_sub[0]} --help`")
    return problems


def test_everyday_aqcheck_commands_parse():
    require_aqcheck()
    tasks = section(README.read_text(), EVERYDAY_TASKS)
    runs = [run for words in code_block_commands(tasks) for run in aqcheck_invocations(words)]
    assert len(runs) >= 5, f"README's everyday tasks show too few aqcheck commands: {runs}"
    problems = options_not_in_help(runs)
    assert not problems, "\n".join(problems)


def test_aqcheck_commands_in_the_docs_parse():
    require_aqcheck()
    problems = []
    for md in markdown_files(ROOT):
        runs = [run for words in code_block_commands(md.read_text()) for run in aqcheck_invocations(words)]
        problems += [f"{md.relative_to(ROOT)}: {p}" for p in options_not_in_help(runs)]
    assert not problems, "\n".join(problems)


# --- the checker can fail --------------------------------------------------

def test_the_checker_reports_exactly_the_broken_references(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "target.md").write_text("# Target\n\n## The real section\n\ntext\n")
    page = docs / "page.md"
    page.write_text("\n".join([
        "# Page",
        "",
        "[fine](target.md#the-real-section) and [fine too](target.md) and [here](#page)",
        "[broken link](missing.md)",
        "[broken anchor](target.md#no-such-section)",
        "```",
        "[in a code block](ignored.md)",
        "```",
        'Also docs/target.md "The real section", and docs/target.md, "No such section".',
        "And docs/target.md#the-real-section and docs/gone.md.",
        "",
    ]))
    source = tmp_path / "source.cpp"
    (tmp_path / "README.md").write_text("# Project\n\n## Running\n")
    source.write_text('// See docs/target.md "The real\n// section", and docs/target.md "A section\n// nobody wrote".\n'
                      '# README "Running" holds; README.md, "Old section" went to docs/.\n')

    assert broken_links(page, tmp_path) == [
        "docs/page.md:4: [missing.md]: no such file",
        "docs/page.md:5: [target.md#no-such-section]: no heading with anchor #no-such-section",
    ]
    assert broken_section_refs(page, tmp_path) == [
        'docs/page.md:9: docs/target.md "No such section": no heading with anchor #no-such-section',
        'docs/page.md:10: docs/gone.md: no such file',
    ]
    assert broken_section_refs(source, tmp_path) == [
        'source.cpp:2: docs/target.md "A section nobody wrote": no heading with anchor #a-section-nobody-wrote',
        'source.cpp:4: README.md "Old section": no heading with anchor #old-section',
    ]


def test_the_command_check_reports_unknown_options():
    require_aqcheck()
    runs = aqcheck_invocations(shlex.split(
        "aqcheck vm --kernel 7.2 --no-such-vm-option -- run --workload cpu-baseline --no-such-run-option"))
    assert options_not_in_help(runs) == [
        "aqcheck vm: --no-such-vm-option is not in `aqcheck vm --help`",
        "aqcheck vm -- run: --no-such-run-option is not in `aqcheck run --help`",
    ]


def test_github_anchor_rule():
    assert github_anchor("The audit's interrupt-time deadlock") == "the-audits-interrupt-time-deadlock"
    assert github_anchor("`run`'s options") == "runs-options"
    assert github_anchor("mainline scx_qmap's lists") == "mainline-scx_qmaps-lists"
    assert github_anchor("What is checked, and what cannot be") == "what-is-checked-and-what-cannot-be"


def test_commands_are_taken_apart():
    words = shlex.split("build/default/harness/aqcheck vm --kernel 7.2 -- run --workload x --seed=3")
    assert aqcheck_invocations(words) == [(("vm",), ["--kernel", "7.2"], ("run",), ["--workload", "x", "--seed=3"])]
    words = shlex.split("aqcheck report merge --out d a/gate.json && aqcheck vm [--cpus 2] -- fuzz --budget 1h")
    assert aqcheck_invocations(words) == [(("report", "merge"), ["--out", "d", "a/gate.json"], None, []),
                                          (("vm",), ["--cpus", "2"], ("fuzz",), ["--budget", "1h"])]
    assert long_options(["--workload", "x", "--seed=3", "--stress", "--cpu 4 --fork 2"]) == [
        "--workload", "--seed", "--stress"]
    assert aqcheck_invocations(shlex.split("cmake --build x && ctest -R y")) == []
